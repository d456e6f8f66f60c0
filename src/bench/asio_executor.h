// A LoopExecutor on an Asio io_context: timers for the asynchronous load
// loops. Private to the runner's transports (it exposes Asio types).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>

#include "bench/load.h"

namespace clipserve::bench::detail {

class AsioExecutor final : public LoopExecutor {
 public:
  explicit AsioExecutor(boost::asio::io_context& ioc) : ioc_(ioc) {}
  const Clock& clock() const override { return RealClock::Instance(); }
  void RunAt(SteadyTime t, std::function<void()> fn) override {
    auto timer = std::make_shared<boost::asio::steady_timer>(ioc_, t);
    timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
      if (!ec) fn();
    });
  }
  void Wait(DoneLatch& latch) override { latch.Wait(); }

 private:
  boost::asio::io_context& ioc_;
};

}  // namespace clipserve::bench::detail
