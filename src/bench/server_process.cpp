#include "bench/server_process.h"

#include <signal.h>

#include "bench/interrupt.h"

namespace clipserve::bench {

StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(const std::string& command,
                                                               const std::string& log_path) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", command};
  if (!log_path.empty()) options.stdout_to = ChildOutput::File(log_path, /*append=*/true);
  options.stderr_to_stdout = !log_path.empty();
  options.own_process_group = true;
  // Subprocess resets our interrupt handler (which only sets a flag) to the
  // default in the child, so a stop that arrives before exec still stops it.
  auto process = Subprocess::Spawn(options);
  if (!process.ok()) return process.status().WithPrefix("--server-cmd");
  InstallInterruptHandlers();
  RegisterLaunchedGroup(process->pid());
  return std::unique_ptr<ServerProcess>(new ServerProcess(std::move(*process)));
}

ServerProcess::~ServerProcess() { Stop(std::chrono::milliseconds(3000)); }

bool ServerProcess::Alive() {
  if (process_.Alive()) return true;
  if (exit_description_.empty()) {
    const auto status = process_.wait_status();
    exit_description_ = status ? DescribeWaitStatus(*status) : "no longer a child process";
  }
  return false;
}

void ServerProcess::Stop(std::chrono::milliseconds grace) {
  UnregisterLaunchedGroup(pid());
  if (!Alive()) {
    process_.Signal(SIGKILL);  // stragglers the shell left in the group, if any
    return;
  }
  process_.Signal(SIGTERM);
  if (process_.Wait(grace)) {
    Alive();  // records how it exited
    process_.Signal(SIGKILL);
    return;
  }
  process_.Signal(SIGKILL);
  process_.Wait();
  exit_description_ = "killed after " + std::to_string(grace.count()) + " ms grace";
}

}  // namespace clipserve::bench
