#include "server/api_common.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>

namespace clipserve::server {

std::string ServerTimingHeader(const service::EmbedOutcome& outcome) {
  const auto& r = outcome.result;
  const double compute_ms = static_cast<double>(r.compute_input_us + r.compute_infer_us + r.compute_output_us) / 1000.0;
  char buf[160];
  std::snprintf(buf, sizeof buf, "queue;dur=%.3f, preprocess;dur=%.3f, compute;dur=%.3f",
                static_cast<double>(r.queue_us) / 1000.0, static_cast<double>(outcome.preprocess_us) / 1000.0,
                compute_ms);
  return buf;
}

HttpHandler Counted(metrics::CounterFamily* counter, std::string api, std::string route, HttpHandler handler) {
  if (counter == nullptr) return handler;
  return [counter, api = std::move(api), route = std::move(route), handler = std::move(handler)](
             const HttpRequest& req, HttpResponse& res) {
    // Count even when the handler throws (the HTTP layer turns that into 500).
    struct Count {
      metrics::CounterFamily* c;
      const std::string& api;
      const std::string& route;
      const HttpResponse& res;
      bool threw = true;
      ~Count() { c->Increment({api, route, std::to_string(threw ? 500 : res.status)}); }
    } count{counter, api, route, res};
    handler(req, res);
    count.threw = false;
  };
}

AsyncHttpHandler CountedAsync(metrics::CounterFamily* counter, std::string api, std::string route,
                              AsyncHttpHandler handler) {
  if (counter == nullptr) return handler;
  return [counter, api = std::move(api), route = std::move(route), handler = std::move(handler)](
             const HttpRequest& req, HttpResponder respond) {
    handler(req, HttpResponder::Wrap(std::move(respond), [counter, &api, &route](const HttpResponse& res) {
              counter->Increment({api, route, std::to_string(res.status)});
            }));
  };
}

bool WantsOctetStream(const HttpRequest& request) {
  return request.header("Accept").find("application/octet-stream") != std::string::npos;
}

std::string HideInternalError(std::string_view api, std::string_view detail) {
  static std::atomic<unsigned long long> next{1};
  char id[40];
  std::snprintf(id, sizeof id, "%x-%llu", static_cast<unsigned>(getpid()), next.fetch_add(1));
  const long long ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string line = "{\"ts_ms\":" + std::to_string(ts_ms) + ",\"api\":" + JsonQuote(api) +
                           ",\"error_id\":" + JsonQuote(id) + ",\"internal_error\":" + JsonQuote(detail) + "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  return std::string("internal error (id ") + id + "): see the server log";
}

}  // namespace clipserve::server
