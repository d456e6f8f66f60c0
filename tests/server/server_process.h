// Runs the real clip-server binary for end-to-end tests: ports 0, the
// printed "listening" line parsed for the bound ports, stdout read through a
// pipe, stderr (the access log) to a temporary file. Fails fast if the child
// dies. The destructor kills and reaps the child if it is still running
// (support/child_process.h).
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "support/child_process.h"

namespace clipserve::server::testing {

class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> extra_args)
      : child_(Args(std::move(extra_args))) {}

  // Reads stdout until a line starting with `prefix` (returned), the child
  // exits, or the timeout passes (both throw, with the child's stderr).
  std::string WaitForLine(const std::string& prefix, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    return child_.WaitForLine(prefix, timeout);
  }

  // Parses the listening line into ports.
  void WaitListening() {
    const std::string line = WaitForLine("clip-server: listening");
    auto port_of = [&](const std::string& name) {
      std::smatch m;
      if (std::regex_search(line, m, std::regex(" " + name + "=[^ ]*:([0-9]+)"))) return std::stoi(m[1].str());
      return -1;
    };
    rest_port = port_of("rest");
    http_port = port_of("http");
    grpc_port = port_of("grpc");
    metrics_port = port_of("metrics");
  }

  // Polls GET path on `port` until it answers `status` (fails fast on exit).
  void WaitForStatus(int port, const std::string& path, int status,
                     std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1, 0);
    while (std::chrono::steady_clock::now() < deadline) {
      if (!Alive()) throw std::runtime_error("clip-server died:\n" + Stderr());
      auto res = c.Get(path);
      if (res && res->status == status) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    throw std::runtime_error("timed out waiting for " + path + " -> " + std::to_string(status) + ":\n" + Stderr());
  }

  bool Alive() { return child_.Alive(); }
  void Signal(int sig) { child_.Signal(sig); }
  pid_t pid() const { return child_.pid(); }
  // Waits for exit; returns the exit code (or 128 + signal), nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout) { return child_.WaitExit(timeout); }
  std::string Stderr() const { return child_.Stderr(); }

  int rest_port = -1;
  int http_port = -1;
  int grpc_port = -1;  // -1: no gRPC listener
  int metrics_port = -1;

 private:
  static std::vector<std::string> Args(std::vector<std::string> extra_args) {
    const std::string binary = std::string(CLIPSERVE_BINARY_DIR) + "/apps/clip-server/clip-server";
    std::vector<std::string> args = {binary, "--rest-port", "0", "--http-port", "0", "--metrics-port", "0",
                                     "--host", "127.0.0.1"};
    // gRPC on an ephemeral port too, unless the test picks it (CLI11 refuses a flag given twice).
    if (std::find(extra_args.begin(), extra_args.end(), "--grpc-port") == extra_args.end()) {
      args.insert(args.end(), {"--grpc-port", "0"});
    }
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    return args;
  }

  clipserve::testing::ChildProcess child_;
};

}  // namespace clipserve::server::testing
