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
#include "common/subprocess.h"

namespace clipserve::bench {

class ServerProcess {
 public:
  // fork + exec (common/subprocess.h); `exec_time` is taken just before
  // fork. stdout/stderr of the child go to `log_path` when non-empty
  // (appended), else are inherited.
  static StatusOr<std::unique_ptr<ServerProcess>> Start(const std::string& command, const std::string& log_path);
  ~ServerProcess();  // Stop()s if still running

  pid_t pid() const { return process_.pid(); }
  SteadyTime exec_time() const { return process_.spawn_time(); }
  // False once the child exited (reaps it). `exit_description` says how.
  bool Alive();
  const std::string& exit_description() const { return exit_description_; }
  // SIGTERM to the group, wait up to `grace`, then SIGKILL. Idempotent.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(10000));

 private:
  explicit ServerProcess(Subprocess process) : process_(std::move(process)) {}
  Subprocess process_;
  std::string exit_description_;
};

}  // namespace clipserve::bench
