// Runs the real clip-server binary for end-to-end tests: ports 0, the
// printed "listening" line parsed for the bound ports, stdout read through a
// pipe, stderr (the access log) to a temporary file. Fails fast if the child
// dies. The destructor kills and reaps the child if it is still running.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace clipserve::server::testing {

class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> extra_args) {
    const std::string binary = std::string(CLIPSERVE_BINARY_DIR) + "/apps/clip-server/clip-server";
    std::vector<std::string> args = {binary, "--rest-port", "0", "--http-port", "0", "--metrics-port", "0",
                                     "--host", "127.0.0.1"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());

    char tmpl[] = "/tmp/clip-server-stderr-XXXXXX";
    const int err_fd = mkstemp(tmpl);
    if (err_fd < 0) throw std::runtime_error("mkstemp failed");
    stderr_path_ = tmpl;
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      dup2(err_fd, STDERR_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    close(err_fd);
    stdout_fd_ = out[0];
  }

  ~ServerProcess() {
    if (pid_ > 0 && !exit_status_) {
      kill(pid_, SIGKILL);
      int st = 0;
      waitpid(pid_, &st, 0);
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
    if (!stderr_path_.empty()) unlink(stderr_path_.c_str());
  }

  // Reads stdout until a line starting with `prefix` (returned), the child
  // exits, or the timeout passes (both throw, with the child's stderr).
  std::string WaitForLine(const std::string& prefix, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      for (size_t nl; (nl = buffer_.find('\n')) != std::string::npos;) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        lines_.push_back(line);
        if (line.rfind(prefix, 0) == 0) return line;
      }
      if (!Alive()) throw std::runtime_error("clip-server exited before printing '" + prefix + "':\n" + Stderr());
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw std::runtime_error("timed out waiting for '" + prefix + "':\n" + Stderr());
      pollfd p{stdout_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100))) > 0) {
        char buf[4096];
        const ssize_t n = read(stdout_fd_, buf, sizeof buf);
        if (n > 0) buffer_.append(buf, static_cast<size_t>(n));
      }
    }
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

  bool Alive() {
    if (exit_status_) return false;
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exit_status_ = st;
      return false;
    }
    return true;
  }

  void Signal(int sig) { kill(pid_, sig); }
  pid_t pid() const { return pid_; }

  // Waits for exit; returns the exit code (or 128 + signal), nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (Alive()) {
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const int st = *exit_status_;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

  std::string Stderr() const {
    std::ifstream in(stderr_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  int rest_port = -1;
  int http_port = -1;
  int metrics_port = -1;

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string stderr_path_;
  std::string buffer_;
  std::vector<std::string> lines_;
  std::optional<int> exit_status_;
};

}  // namespace clipserve::server::testing
