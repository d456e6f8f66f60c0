// Ctrl-C / SIGTERM handling for the runner. The first signal asks the run to
// stop: load loops stop sending, remaining phases are skipped, launched
// servers are stopped normally and the JSON is still written. A second
// signal sends SIGTERM to every launched server's process group and ends the
// runner at once. Only async-signal-safe work happens in the handler.
#pragma once

#include <sys/types.h>

namespace clipserve::bench {

void InstallInterruptHandlers();  // idempotent
bool Interrupted();

// Process groups of servers the runner launched and has not yet stopped.
void RegisterLaunchedGroup(pid_t pgid);
void UnregisterLaunchedGroup(pid_t pgid);

}  // namespace clipserve::bench
