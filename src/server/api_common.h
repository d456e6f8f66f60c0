// Pieces both personalities share: request counting, Server-Timing, and the
// helpers that turn an embedding result into headers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

// JsonQuote (common/json_string.h) writes every hand-made JSON string of the
// server; nlohmann bodies are dumped with error_handler_t::replace to the
// same effect. The default dump throws on invalid UTF-8, and one such path
// killed the server.
#include "common/json_string.h"
#include "metrics/registry.h"
#include "server/http_server.h"
#include "service/model_service.h"

namespace clipserve::server {

// "queue;dur=0.012, preprocess;dur=1.5, compute;dur=20.1" (milliseconds,
// W3C Server-Timing). compute = input gather + engine + output scatter.
std::string ServerTimingHeader(const service::EmbedOutcome& outcome);

// Wraps a handler so each response increments
// clipserve_http_requests_total{api, route, code} (route is the pattern's
// short name, never the raw URL, so cardinality stays bounded). `counter`
// may be null (then the handler is returned unchanged).
HttpHandler Counted(metrics::CounterFamily* counter, std::string api, std::string route, HttpHandler handler);
// The same for an asynchronous handler: counted when it answers (a handler
// that throws is counted by the 500 its responder then sends).
AsyncHttpHandler CountedAsync(metrics::CounterFamily* counter, std::string api, std::string route,
                              AsyncHttpHandler handler);

// Whether the Accept header asks for raw float32 (application/octet-stream).
bool WantsOctetStream(const HttpRequest& request);

// The client-facing message of a 500: "internal error (id 3f1a-42): see the
// server log". The detail (exception text, engine message: library words,
// paths) is written to stderr as one JSON line with the same id, never sent.
std::string HideInternalError(std::string_view api, std::string_view detail);

}  // namespace clipserve::server
