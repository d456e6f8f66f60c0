// The `loopback` subcommand's server: a trivial HTTP/1.1 endpoint on Beast,
// fast enough that the runner, not the server, is what gets measured. One
// io_context per thread, each with its own SO_REUSEPORT acceptor on the same
// port (the kernel spreads connections), responses serialised once.
#pragma once

#include <chrono>

namespace clipserve::bench::app {

struct TrivialServerOptions {
  int threads = 1;
  std::chrono::milliseconds delay{0};  // every answer waits this long (a timer, no thread blocked)
};

// Binds 127.0.0.1 on an ephemeral port, writes the port (an int) to
// `port_fd`, closes it, then serves until the process is killed.
[[noreturn]] void ServeTrivial(int port_fd, const TrivialServerOptions& options);

}  // namespace clipserve::bench::app
