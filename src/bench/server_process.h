// A server the runner launches itself (--server-cmd), to measure a real cold
// start. The command runs through /bin/sh -c in its own process group, so
// Stop() reaches every process it spawned. Owned by one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace clipserve::bench {

class ServerProcess {
 public:
  // fork + exec; `exec_time` is taken just before fork. stdout/stderr of the
  // child go to `log_path` when non-empty (appended), else are inherited.
  static StatusOr<std::unique_ptr<ServerProcess>> Start(const std::string& command, const std::string& log_path);
  ~ServerProcess();  // Stop()s if still running

  pid_t pid() const { return pid_; }
  SteadyTime exec_time() const { return exec_time_; }
  // False once the child exited (reaps it). `exit_description` says how.
  bool Alive();
  const std::string& exit_description() const { return exit_description_; }
  // SIGTERM to the group, wait up to `grace`, then SIGKILL. Idempotent.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(10000));

 private:
  ServerProcess(pid_t pid, SteadyTime t) : pid_(pid), exec_time_(t) {}
  pid_t pid_;
  SteadyTime exec_time_;
  bool exited_ = false;
  std::string exit_description_;
};

}  // namespace clipserve::bench
