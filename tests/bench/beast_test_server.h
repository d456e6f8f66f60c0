// A small in-process HTTP/1.1 server on Beast for the client tests:
// 127.0.0.1, ephemeral port, blocking, one thread per connection (simple
// over fast). Routes by path:
//   /ok/<id>        200, body <id>
//   /status/<code>  that status, body {"error":"status <code>"}
//   /close/<id>     200, body <id>, Connection: close, then closes
//   /drop           closes without answering
//   /quiet-close/<id>  200, body <id>, no Connection: close, then closes
//                   (a keep-alive idle timeout of zero)
//   /sleep/<ms>     200 "slept" after <ms> milliseconds
//   /hold/<k>/<id>  200, body <id>, but only after reading k-1 more requests
//                   (pipelined behind it): all k answers go out in one write,
//                   so they reach the client in one segment.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace clipserve::bench::testing {

class BeastTestServer {
 public:
  BeastTestServer();
  ~BeastTestServer();
  BeastTestServer(const BeastTestServer&) = delete;
  BeastTestServer& operator=(const BeastTestServer&) = delete;

  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  int requests() const { return requests_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);
  bool SleepFor(int ms);  // false when stopping

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0}, requests_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace clipserve::bench::testing
