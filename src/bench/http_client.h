// The runner's asynchronous HTTP/1.1 client for the loaded phases, on
// Boost.Beast/Asio (no Beast type leaks from here). A fixed number of I/O
// threads, each running its own io_context, drive any number of keep-alive
// connections; connection k lives on thread k % io_threads for its whole life,
// so its completions always run there, in order.
//
// Connections are opened (and answered once) by Open(), before any timing
// starts. A connection the server closes (Connection: close, a failure) is
// reopened by its next request; connects() counts every TCP connection, so a
// phase can report the reopenings that happened while it was timed.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "bench/http_session.h"
#include "bench/load.h"

namespace clipserve::bench {

struct HttpClientOptions {
  int io_threads = 1;
  std::chrono::milliseconds timeout{60000};  // per request: connect + write + read
};

class HttpClient {
 public:
  HttpClient(const Endpoint& endpoint, HttpClientOptions options);
  // Stops the I/O threads; callbacks of requests still in flight never run.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Adds `count` connections and opens them all at once: TCP connect plus
  // one GET of `warm_path` on each (so the server has accepted and served
  // it), waiting for every one. Returns how many got an HTTP answer. Must not
  // run while requests are being sent.
  int Open(int count, const std::string& warm_path);
  int connections() const;

  using Done = std::function<void(SendResult&&)>;
  // Sends `request` on connection `connection` (0 <= connection <
  // connections()); callable from any thread. `done` runs exactly once, on
  // the connection's I/O thread, never inline; `request` must stay valid
  // until then. A second request on a busy connection is pipelined behind
  // the first and answered in order.
  void Send(int connection, const WireRequest& request, Done done);

  // TCP connections opened so far over all connections (first opens and
  // reopens); readable from any thread.
  std::int64_t connects() const;

  // Timers on I/O thread 0, for RunAsyncClosedLoop / RunAsyncOpenLoop.
  LoopExecutor& executor();
  const Endpoint& endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipserve::bench
