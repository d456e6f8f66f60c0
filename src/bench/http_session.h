// One keep-alive HTTP connection to a server (cpp-httplib hidden behind a
// pimpl). Each load-generating thread owns one session, created before any
// timing starts. Not thread-safe: one thread per session.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "bench/request.h"
#include "common/status.h"

namespace clipserve::bench {

struct Endpoint {
  std::string scheme = "http";
  std::string host;
  int port = 0;
  std::string base_path;  // prefix before every path, usually empty
};

// Parses "http://host:port[/prefix]". https is refused (not built in).
StatusOr<Endpoint> ParseUrl(const std::string& url);

struct SendResult {
  FailureKind failure = FailureKind::kNone;
  HttpResponse response;  // status is 0 when nothing arrived
  std::string detail;     // human-readable reason on failure
};

class HttpSession {
 public:
  HttpSession(const Endpoint& endpoint, std::chrono::milliseconds timeout);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // POSTs the prepared request. A non-2xx status is a kHttpStatus failure
  // (the body is kept: it carries the server's error message).
  SendResult Post(const PreparedRequest& request);
  SendResult Get(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipserve::bench
