// The runner's HTTP/1.1 client side, on Boost.Beast/Asio (no Beast type
// leaks from here): URL parsing, requests serialised once before timing,
// and HttpSession, one blocking keep-alive connection for the sequential
// phases and one-off GETs. The asynchronous client for the loaded phases is
// HttpClient (http_client.h); both share one connection implementation.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/request.h"
#include "common/clock.h"
#include "common/status.h"

namespace clipserve::bench {

struct Endpoint {
  std::string scheme = "http";
  std::string host;
  int port = 0;
  std::string base_path;  // prefix before every path, usually empty
  // Sent with every request to this endpoint (e.g. Authorization).
  std::vector<std::pair<std::string, std::string>> headers;
};

// Parses "http://host:port[/prefix]". https is refused (not built in).
StatusOr<Endpoint> ParseUrl(const std::string& url);

struct SendResult {
  FailureKind failure = FailureKind::kNone;
  HttpResponse response;  // status is 0 when nothing arrived
  std::string detail;     // human-readable reason on failure
  // When the response was completely read (or the failure was seen), taken
  // on the I/O thread before any validation.
  SteadyTime response_time{};
};

// A request as it goes on the wire: the head (request line and headers,
// serialised by Beast, with Host, Content-Type and Content-Length) and the
// body, which stays where it is. `body` views the PreparedRequest it was
// made from: that must outlive the WireRequest.
struct WireRequest {
  std::string head;
  std::string_view body;
};
WireRequest SerializePost(const Endpoint& endpoint, const PreparedRequest& request);
WireRequest SerializeGet(const Endpoint& endpoint, const std::string& path);

class HttpSession {
 public:
  // Connects lazily (first request); `timeout` bounds connect + write + read
  // of each request.
  HttpSession(const Endpoint& endpoint, std::chrono::milliseconds timeout);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // POSTs the prepared request. A non-2xx status is a kHttpStatus failure
  // (the body is kept: it carries the server's error message).
  SendResult Post(const PreparedRequest& request);
  SendResult Get(const std::string& path);
  // Sends an already serialised request (no per-call serialisation).
  SendResult Send(const WireRequest& request);

  // TCP connections this session has opened (a server that closes, or a
  // failure, makes the next request reconnect).
  std::int64_t connects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipserve::bench
