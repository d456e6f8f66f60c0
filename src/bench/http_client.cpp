#include "bench/http_client.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <deque>
#include <thread>
#include <vector>

#include "bench/asio_executor.h"
#include "bench/http_connection.h"

namespace clipserve::bench {

namespace asio = boost::asio;

namespace {

// One I/O thread: its io_context, the connections that live on it, and a
// sweep timer that enforces their request timeouts. One sweep per thread
// instead of a timer per request keeps the hot path free of timer
// arming/cancelling (timerfd syscalls); the price is timeouts that fire up
// to one sweep interval late.
struct IoThread {
  explicit IoThread(std::chrono::milliseconds sweep_interval) : sweep_every(sweep_interval) {}

  void Start() {
    ArmSweep();
    thread = std::thread([this] { ioc.run(); });
  }
  void Stop() {
    work.reset();
    ioc.stop();
    if (thread.joinable()) thread.join();
  }
  void ArmSweep() {
    sweep.expires_after(sweep_every);
    sweep.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const SteadyTime now = std::chrono::steady_clock::now();
      for (detail::Connection* c : connections) {
        if (c->outstanding() > 0) c->CheckDeadline(now);
      }
      ArmSweep();
    });
  }

  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  std::chrono::milliseconds sweep_every;
  asio::steady_timer sweep{ioc};
  std::vector<detail::Connection*> connections;  // touched on this thread only
  std::thread thread;
};

}  // namespace

struct HttpClient::Impl {
  Impl(const Endpoint& ep, HttpClientOptions opt)
      : endpoint(ep), options(opt), target(std::make_shared<const detail::Target>(detail::Resolve(ep))) {
    const auto sweep = std::clamp(opt.timeout / 10, std::chrono::milliseconds(1), std::chrono::milliseconds(50));
    for (int i = 0; i < std::max(opt.io_threads, 1); ++i) threads.push_back(std::make_unique<IoThread>(sweep));
    for (auto& t : threads) t->Start();
    executor = std::make_unique<detail::AsioExecutor>(threads[0]->ioc);
  }
  ~Impl() {
    for (auto& t : threads) t->Stop();
    connections.clear();  // sockets closed while their io_contexts still exist
  }

  struct Slot {
    std::unique_ptr<detail::Connection> connection;
    IoThread* thread;
  };

  Endpoint endpoint;
  HttpClientOptions options;
  std::shared_ptr<const detail::Target> target;
  std::vector<std::unique_ptr<IoThread>> threads;
  std::vector<Slot> connections;  // grown by Open only
  std::deque<WireRequest> owned;  // Open's warm-up requests
  std::unique_ptr<detail::AsioExecutor> executor;
};

HttpClient::HttpClient(const Endpoint& endpoint, HttpClientOptions options)
    : impl_(std::make_unique<Impl>(endpoint, options)) {}
HttpClient::~HttpClient() = default;

int HttpClient::Open(int count, const std::string& warm_path) {
  if (count <= 0) return 0;
  // Owned by the client: a write can outlive its answer (an early reply).
  const WireRequest& warm = impl_->owned.emplace_back(SerializeGet(impl_->endpoint, warm_path));
  DoneLatch latch;
  std::atomic<int> left{count}, answered{0};
  for (int k = 0; k < count; ++k) {
    IoThread* t = impl_->threads[impl_->connections.size() % impl_->threads.size()].get();
    auto conn = std::make_unique<detail::Connection>(t->ioc.get_executor(), impl_->target, impl_->options.timeout);
    detail::Connection* c = conn.get();
    impl_->connections.push_back({std::move(conn), t});
    asio::post(t->ioc, [&, t, c] {
      t->connections.push_back(c);
      c->Exchange(warm, [&](SendResult&& r) {
        if (r.response.status > 0) answered.fetch_add(1);
        if (left.fetch_sub(1) == 1) latch.Signal();
      });
    });
  }
  latch.Wait();
  return answered.load();
}

int HttpClient::connections() const { return static_cast<int>(impl_->connections.size()); }

void HttpClient::Send(int connection, const WireRequest& request, Done done) {
  const Impl::Slot& s = impl_->connections[static_cast<std::size_t>(connection)];
  // Inline when already on the connection's thread (a completion sending
  // the next request); queued to that thread otherwise.
  asio::dispatch(s.thread->ioc, [c = s.connection.get(), &request, done = std::move(done)]() mutable {
    c->Exchange(request, std::move(done));
  });
}

std::int64_t HttpClient::connects() const {
  std::int64_t n = 0;
  for (const auto& s : impl_->connections) n += s.connection->connects();
  return n;
}

LoopExecutor& HttpClient::executor() { return *impl_->executor; }
const Endpoint& HttpClient::endpoint() const { return impl_->endpoint; }

}  // namespace clipserve::bench
