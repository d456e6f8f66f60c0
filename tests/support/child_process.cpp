#include "support/child_process.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace clipserve::testing {
namespace {

std::string MakeStderrFile(bool keep) {
  if (!keep) return {};
  char tmpl[] = "/tmp/clipserve-child-stderr-XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  close(fd);
  return tmpl;
}

Subprocess SpawnOrThrow(std::vector<std::string> argv, const ChildOptions& options,
                        const std::string& stderr_path) {
  SpawnOptions spawn;
  spawn.argv = std::move(argv);
  spawn.stdout_to = options.pipe_stdout ? ChildOutput::Pipe() : ChildOutput::DevNull();
  spawn.stderr_to = options.keep_stderr ? ChildOutput::File(stderr_path) : ChildOutput::DevNull();
  auto p = Subprocess::Spawn(spawn);
  if (!p.ok()) throw std::runtime_error(p.status().message());
  return std::move(*p);
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv, ChildOptions options)
    : name_(argv.empty() ? std::string() : argv[0].substr(argv[0].rfind('/') + 1)),
      stderr_file_{MakeStderrFile(options.keep_stderr)},
      process_(SpawnOrThrow(std::move(argv), options, stderr_file_.path)) {}

ChildProcess::TempFile::~TempFile() {
  if (!path.empty()) unlink(path.c_str());
}

std::string ChildProcess::WaitForLine(const std::string& prefix, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    for (size_t nl; (nl = buffer_.find('\n')) != std::string::npos;) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      lines_.push_back(line);
      if (line.rfind(prefix, 0) == 0) return line;
    }
    if (!Alive()) throw std::runtime_error(name_ + " exited before printing '" + prefix + "':\n" + Stderr());
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("timed out waiting for '" + prefix + "':\n" + Stderr());
    pollfd p{process_.stdout_fd(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100))) > 0) {
      char buf[4096];
      const ssize_t n = read(process_.stdout_fd(), buf, sizeof buf);
      if (n > 0) buffer_.append(buf, static_cast<size_t>(n));
    }
  }
}

std::optional<int> ChildProcess::WaitExit(std::chrono::milliseconds timeout) {
  if (!process_.Wait(timeout)) return std::nullopt;
  return process_.wait_status() ? ExitCodeOf(*process_.wait_status()) : -1;
}

int ChildProcess::WaitExit() {
  process_.Wait();
  return process_.wait_status() ? ExitCodeOf(*process_.wait_status()) : -1;
}

std::string ChildProcess::Stderr() const {
  if (stderr_file_.path.empty()) return {};
  std::ifstream in(stderr_file_.path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace clipserve::testing
