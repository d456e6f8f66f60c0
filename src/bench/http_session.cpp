#include "bench/http_session.h"

#include <httplib.h>

#include <charconv>

namespace clipserve::bench {

const char* FailureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kNone: return "none";
    case FailureKind::kHttpStatus: return "http_status";
    case FailureKind::kTimeout: return "timeout";
    case FailureKind::kConnection: return "connection";
    case FailureKind::kBadResponse: return "bad_response";
  }
  return "unknown";
}

std::string FailureKey(FailureKind kind, int http_status) {
  if (kind == FailureKind::kHttpStatus) return "http_" + std::to_string(http_status);
  return FailureKindName(kind);
}

StatusOr<Endpoint> ParseUrl(const std::string& url) {
  Endpoint e;
  std::string rest = url;
  const auto scheme_end = rest.find("://");
  if (scheme_end != std::string::npos) {
    e.scheme = rest.substr(0, scheme_end);
    rest = rest.substr(scheme_end + 3);
  }
  if (e.scheme != "http") return InvalidArgumentError("unsupported URL scheme in '" + url + "' (only http)");
  const auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) e.base_path = rest.substr(slash);
  while (!e.base_path.empty() && e.base_path.back() == '/') e.base_path.pop_back();
  const auto colon = hostport.rfind(':');
  e.port = 80;
  if (colon != std::string::npos && hostport.find(']') == std::string::npos) {
    const std::string p = hostport.substr(colon + 1);
    int port = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || ptr != p.data() + p.size() || port <= 0 || port > 65535) {
      return InvalidArgumentError("bad port in URL '" + url + "'");
    }
    e.port = port;
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return InvalidArgumentError("no host in URL '" + url + "'");
  e.host = hostport;
  return e;
}

struct HttpSession::Impl {
  Impl(const Endpoint& ep, std::chrono::milliseconds timeout)
      : endpoint(ep), client(ep.host, ep.port), timeout_ms(timeout) {
    client.set_keep_alive(true);
    // Without TCP_NODELAY a POST written as header + body can stall on
    // Nagle + delayed ACK (40 ms on Linux) and poison every percentile.
    client.set_tcp_nodelay(true);
    const auto sec = timeout.count() / 1000;
    const auto usec = (timeout.count() % 1000) * 1000;
    client.set_connection_timeout(sec, usec);
    client.set_read_timeout(sec, usec);
    client.set_write_timeout(sec, usec);
  }

  SendResult Finish(httplib::Result& res, std::chrono::steady_clock::time_point start) {
    SendResult out;
    if (!res) {
      const auto err = res.error();
      const auto elapsed = std::chrono::steady_clock::now() - start;
      // httplib reports a read timeout as Error::Read; the elapsed time tells them apart.
      if (err == httplib::Error::ConnectionTimeout || elapsed >= timeout_ms) {
        out.failure = FailureKind::kTimeout;
      } else {
        out.failure = FailureKind::kConnection;
      }
      out.detail = httplib::to_string(err);
      return out;
    }
    out.response.status = res->status;
    out.response.content_type = res->get_header_value("Content-Type");
    if (res->has_header("Inference-Header-Content-Length")) {
      const std::string v = res->get_header_value("Inference-Header-Content-Length");
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec == std::errc() && p == v.data() + v.size()) out.response.inference_header_length = n;
    }
    out.response.body = std::move(res->body);
    if (res->status < 200 || res->status >= 300) {
      out.failure = FailureKind::kHttpStatus;
      out.detail = "HTTP " + std::to_string(res->status) + ": " + out.response.body.substr(0, 200);
    }
    return out;
  }

  Endpoint endpoint;
  httplib::Client client;
  std::chrono::milliseconds timeout_ms;
};

HttpSession::HttpSession(const Endpoint& endpoint, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(endpoint, timeout)) {}
HttpSession::~HttpSession() = default;

SendResult HttpSession::Post(const PreparedRequest& request) {
  httplib::Headers headers;
  for (const auto& [k, v] : request.headers) headers.emplace(k, v);
  const auto start = std::chrono::steady_clock::now();
  auto res = impl_->client.Post(impl_->endpoint.base_path + request.path, headers, request.body.data(),
                                request.body.size(), request.content_type);
  return impl_->Finish(res, start);
}

SendResult HttpSession::Get(const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  auto res = impl_->client.Get(impl_->endpoint.base_path + path);
  return impl_->Finish(res, start);
}

}  // namespace clipserve::bench
