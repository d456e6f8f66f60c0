#include "server/api_common.h"

#include <cstdio>

namespace clipserve::server {

std::string ServerTimingHeader(const EmbedOutcome& outcome) {
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

bool WantsOctetStream(const HttpRequest& request) {
  return request.header("Accept").find("application/octet-stream") != std::string::npos;
}

std::string JsonQuote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace clipserve::server
