// Wire-level building blocks shared by the protocols and the load loops:
// a request serialised before timing starts, the outcome of sending it, and
// the embeddings a response carries. No HTTP library types leak from here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace clipserve::bench {

// A fully serialised request: the load loops only copy pointers to it.
struct PreparedRequest {
  // HTTP: "GET" or "POST". gRPC: always a unary call of `path`
  // ("/inference.GRPCInferenceService/ModelInfer"), `body` its serialised
  // request message.
  std::string method = "POST";
  std::string path;                                          // e.g. /embed/base64
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
  int images = 0;                                            // images carried
};

// Why a request did not count as a success.
enum class FailureKind {
  kNone = 0,
  kHttpStatus,   // a response arrived with a non-2xx status
  kTimeout,      // connect/read/write exceeded --timeout
  kConnection,   // refused, reset, closed mid-response
  kBadResponse,  // 2xx but the body is not what the protocol promises
  kRpcStatus,    // a gRPC call ended with a status other than OK (code in `status`)
};
const char* FailureKindName(FailureKind kind);
// gRPC status code -> its canonical name ("UNAVAILABLE").
const char* GrpcCodeName(int code);

// What came back (body only when `ok`, or when the caller asked for it).
// Over gRPC: `status` is the call's status code (0 = OK), `body` the
// serialised response message (or the error message).
struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
  std::optional<std::size_t> inference_header_length;  // KServe binary extension header
};

struct Embeddings {
  std::int64_t rows = 0;
  std::int64_t dim = 0;
  std::vector<float> values;  // rows * dim, row-major
};

// Error key for counting: "http_503", "grpc_RESOURCE_EXHAUSTED", "timeout",
// "connection", "bad_response".
std::string FailureKey(FailureKind kind, int http_status);

}  // namespace clipserve::bench
