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

bool WantsOctetStream(const HttpRequest& request) {
  return request.header("Accept").find("application/octet-stream") != std::string::npos;
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i] (RFC 3629: no
// overlongs, no surrogates, at most U+10FFFF), 0 when it is not valid.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, lo = 0xA0;
  else if (c >= 0xE1 && c <= 0xEC) n = 3;
  else if (c == 0xED) n = 3, hi = 0x9F;
  else if (c >= 0xEE && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else if (c == 0xF4) n = 4, hi = 0x8F;
  else return 0;
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

std::string JsonQuote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      const size_t n = Utf8Length(s, i);
      if (n == 0) {
        out += "\ufffd";  // U+FFFD, as UTF-8
      } else {
        out.append(s.substr(i, n));
        i += n - 1;
      }
      continue;
    }
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
