// Internal to src/bench/http_*.cpp: one client-side HTTP/1.1 connection on
// Asio + Beast, shared by the blocking HttpSession and the asynchronous
// HttpClient. Beast parses every response; nothing here parses HTTP by hand.
//
// Threads: a Connection lives on one executor (an io_context run by one
// thread); every member function is called on that thread, and every
// completion runs there.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/http_session.h"

namespace clipserve::bench::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Where connections go: the resolved addresses (tried in order), or why
// there are none.
struct Target {
  std::vector<tcp::endpoint> addresses;
  std::string name;   // "host:port", for messages
  std::string error;  // resolution failure; every request then fails with it
};
Target Resolve(const Endpoint& endpoint);

using ExchangeDone = std::function<void(SendResult&&)>;

class Connection {
 public:
  Connection(asio::any_io_executor executor, std::shared_ptr<const Target> target,
             std::chrono::milliseconds timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Queues one request. It is written as soon as the connection is open,
  // behind earlier ones (pipelining); responses are matched in order. A
  // closed connection (never opened, closed by the server, or after a
  // failure) is reopened first. `done` runs exactly once, later, on this
  // connection's executor, never inline. `request` must stay valid until then.
  void Exchange(const WireRequest& request, ExchangeDone done);

  // Fails every outstanding request with kTimeout and closes the socket when
  // the oldest one was queued more than `timeout` before `now`.
  void CheckDeadline(SteadyTime now);

  std::size_t outstanding() const { return queue_.size(); }
  // TCP connections opened so far; readable from any thread.
  std::int64_t connects() const { return connects_.load(std::memory_order_relaxed); }

 private:
  struct Link;  // one TCP connection: socket, read buffer, response parser
  struct Pending {
    const WireRequest* request;
    ExchangeDone done;
    SteadyTime deadline;
  };

  void Connect();
  void OnConnect(const std::shared_ptr<Link>& link, const boost::system::error_code& ec);
  void PumpWrite();
  void PumpRead();
  void OnWrite(const std::shared_ptr<Link>& link, const boost::system::error_code& ec);
  void OnRead(const std::shared_ptr<Link>& link, const boost::system::error_code& ec);
  // Closes the current link (its pending operations then complete as stale).
  void CloseLink();
  // Closes, then fails every queued request.
  void Fail(FailureKind kind, const std::string& detail);
  std::vector<Pending> TakeFront(std::size_t n);
  void Deliver(std::vector<Pending>& failed, FailureKind kind, const std::string& detail);
  bool PeerClosedWhileIdle();

  asio::any_io_executor executor_;
  std::shared_ptr<const Target> target_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<Link> link_;   // null while closed
  bool open_ = false;            // link_ connected (false while connecting)
  std::deque<Pending> queue_;    // outstanding, oldest first
  std::size_t written_ = 0;      // queue_[0, written_) are on the wire
  bool writing_ = false;         // queue_[written_] is being written
  bool reading_ = false;         // a response read is in progress
  SteadyTime idle_since_{};
  std::atomic<std::int64_t> connects_{0};
};

}  // namespace clipserve::bench::detail
