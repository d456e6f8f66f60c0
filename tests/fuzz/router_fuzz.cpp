// Request targets: DecodePath (percent-decoding, limits) and Router::Match
// over a route table shaped like the server's (literal and `{}` segments).
#include <cstdlib>
#include <iterator>

#include "fuzz_support.h"
#include "server/router.h"

using namespace clipserve;

namespace {

struct Route {
  const char* method;
  const char* pattern;
  int params;
};

constexpr Route kRoutes[] = {
    {"GET", "/health", 0},
    {"GET", "/model-info", 0},
    {"POST", "/embed/base64", 0},
    {"POST", "/embed/batch", 0},
    {"GET", "/v2/health/live", 0},
    {"GET", "/v2", 0},
    {"GET", "/v2/models/{}", 1},
    {"GET", "/v2/models/{}/versions/{}", 2},
    {"GET", "/v2/models/{}/config", 1},
    {"POST", "/v2/models/{}/infer", 1},
    {"POST", "/v2/models/{}/versions/{}/infer", 2},
};

const server::Router& TheRouter() {
  static const server::Router router = [] {
    server::Router r;
    for (int i = 0; i < static_cast<int>(std::size(kRoutes)); ++i) {
      if (!r.Add(kRoutes[i].method, kRoutes[i].pattern, i).ok()) std::abort();
    }
    return r;
  }();
  return router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view target = fuzz::AsText(data, size);
  server::PathLimits limits;
  limits.max_segment_bytes = 64;
  limits.max_segments = 8;
  auto path = server::DecodePath(target, limits);
  if (!path.ok()) {
    FUZZ_CHECK(path.status().code() == StatusCode::kInvalidArgument ||
               path.status().code() == StatusCode::kOutOfRange);
    return 0;
  }
  FUZZ_CHECK(path->segments.size() <= limits.max_segments);
  for (const std::string& segment : path->segments) {
    FUZZ_CHECK(segment.size() <= limits.max_segment_bytes);
    FUZZ_CHECK(segment.find('\0') == std::string::npos);
  }
  for (const char* method : {"GET", "POST"}) {
    const server::RouteMatch m = TheRouter().Match(method, path->segments);
    if (m.kind != server::RouteMatch::Kind::kFound) continue;
    FUZZ_CHECK(m.route_index >= 0 && m.route_index < static_cast<int>(std::size(kRoutes)));
    FUZZ_CHECK(static_cast<int>(m.params.size()) == kRoutes[m.route_index].params);
    FUZZ_CHECK(std::string_view(kRoutes[m.route_index].method) == method);
  }
  return 0;
}
