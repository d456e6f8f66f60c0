#include "bench/http_session.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <charconv>
#include <iterator>

#include "bench/http_connection.h"

namespace clipserve::bench {

const char* GrpcCodeName(int code) {
  static constexpr const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                           "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                           "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  return code >= 0 && code < static_cast<int>(std::size(kNames)) ? kNames[code] : "UNKNOWN_CODE";
}

const char* FailureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kNone: return "none";
    case FailureKind::kHttpStatus: return "http_status";
    case FailureKind::kTimeout: return "timeout";
    case FailureKind::kConnection: return "connection";
    case FailureKind::kBadResponse: return "bad_response";
    case FailureKind::kRpcStatus: return "grpc_status";
  }
  return "unknown";
}

std::string FailureKey(FailureKind kind, int http_status) {
  if (kind == FailureKind::kHttpStatus) return "http_" + std::to_string(http_status);
  if (kind == FailureKind::kRpcStatus) return std::string("grpc_") + GrpcCodeName(http_status);
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

// One connection on a private io_context, run on the caller's thread for
// the length of each request: blocking to the caller, the same Beast
// connection code as the asynchronous client underneath.
struct HttpSession::Impl {
  Impl(const Endpoint& ep, std::chrono::milliseconds t)
      : endpoint(ep),
        connection(ioc.get_executor(), std::make_shared<const detail::Target>(detail::Resolve(ep)), t),
        timer(ioc),
        timeout(t) {}

  SendResult Send(const WireRequest& request) {
    SendResult result;
    connection.Exchange(request, [&](SendResult&& r) {
      result = std::move(r);
      timer.cancel();
    });
    timer.expires_after(timeout + std::chrono::milliseconds(1));
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) connection.CheckDeadline(std::chrono::steady_clock::now());
    });
    ioc.restart();
    ioc.run();
    return result;
  }

  Endpoint endpoint;
  boost::asio::io_context ioc{1};
  detail::Connection connection;
  boost::asio::steady_timer timer;
  std::chrono::milliseconds timeout;
};

HttpSession::HttpSession(const Endpoint& endpoint, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(endpoint, timeout)) {}
HttpSession::~HttpSession() = default;

SendResult HttpSession::Send(const WireRequest& request) { return impl_->Send(request); }

SendResult HttpSession::Post(const PreparedRequest& request) {
  const WireRequest wire = SerializePost(impl_->endpoint, request);
  return impl_->Send(wire);
}

SendResult HttpSession::Get(const std::string& path) {
  const WireRequest wire = SerializeGet(impl_->endpoint, path);
  return impl_->Send(wire);
}

std::int64_t HttpSession::connects() const { return impl_->connection.connects(); }

}  // namespace clipserve::bench
