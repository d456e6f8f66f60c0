// A program under test, run as a child process (common/subprocess.h): the
// one harness the end-to-end tests use to start clip-server and
// benchmark_backends. stdout is read through a pipe, line by line; stderr is
// kept in a temporary file for failure messages. Failures to start or to
// print throw std::runtime_error with the child's stderr, so a test fails
// fast when the child dies. The destructor kills (SIGKILL) and reaps a child
// still running and removes the stderr file. Owned by one thread at a time.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/subprocess.h"

namespace clipserve::testing {

struct ChildOptions {
  bool pipe_stdout = true;  // false: /dev/null
  bool keep_stderr = true;  // false: /dev/null (Stderr() is then empty)
};

class ChildProcess {
 public:
  // argv[0] is the program's path. Throws when it cannot be started.
  explicit ChildProcess(std::vector<std::string> argv, ChildOptions options = {});
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads stdout until a line starting with `prefix` (returned), the child
  // exits, or the timeout passes (both throw, with the child's stderr).
  std::string WaitForLine(const std::string& prefix,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Every complete stdout line read so far, in order.
  const std::vector<std::string>& lines() const { return lines_; }

  pid_t pid() const { return process_.pid(); }
  bool Alive() { return process_.Alive(); }
  void Signal(int sig) { process_.Signal(sig); }
  // The exit code (or 128 + signal) once it exits; nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  int WaitExit();  // as long as it takes

  // The child's stderr so far.
  std::string Stderr() const;

 private:
  // Removes the file; declared before process_, so the child is reaped first.
  struct TempFile {
    std::string path;
    ~TempFile();
  };
  std::string name_;  // argv[0]'s file name, for messages
  TempFile stderr_file_;
  Subprocess process_;
  std::string buffer_;
  std::vector<std::string> lines_;
};

}  // namespace clipserve::testing
