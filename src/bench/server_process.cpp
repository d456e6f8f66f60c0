#include "bench/server_process.h"

#include "bench/interrupt.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace clipserve::bench {
StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(const std::string& command,
                                                               const std::string& log_path) {
  int log_fd = -1;
  if (!log_path.empty()) {
    log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return UnavailableError("cannot open server log '" + log_path + "': " + std::strerror(errno));
  }
  // Block the signals our interrupt handler catches across fork: the child
  // must not run the runner's handler (which only sets a flag) if a stop
  // arrives before exec; it resets them to default and then unblocks.
  sigset_t block, old;
  sigemptyset(&block);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&block, sig);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  const SteadyTime t = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (log_fd >= 0) close(log_fd);
    return UnavailableError(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    setpgid(0, 0);
    if (log_fd >= 0) {
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
    }
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  setpgid(pid, pid);  // also from the parent: no race with an early Stop()
  if (log_fd >= 0) close(log_fd);
  InstallInterruptHandlers();
  RegisterLaunchedGroup(pid);
  return std::unique_ptr<ServerProcess>(new ServerProcess(pid, t));
}

ServerProcess::~ServerProcess() { Stop(std::chrono::milliseconds(3000)); }

bool ServerProcess::Alive() {
  if (exited_) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  exited_ = true;
  if (r == pid_) {
    if (WIFEXITED(status)) exit_description_ = "exited with status " + std::to_string(WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) exit_description_ = "killed by signal " + std::to_string(WTERMSIG(status));
  } else {
    exit_description_ = "no longer a child process";
  }
  return false;
}

void ServerProcess::Stop(std::chrono::milliseconds grace) {
  UnregisterLaunchedGroup(pid_);
  if (!Alive()) {
    kill(-pid_, SIGKILL);  // stragglers the shell left in the group, if any
    return;
  }
  kill(-pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Alive()) {
      kill(-pid_, SIGKILL);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  exited_ = true;
  exit_description_ = "killed after " + std::to_string(grace.count()) + " ms grace";
}

}  // namespace clipserve::bench
