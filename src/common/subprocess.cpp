#include "common/subprocess.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

namespace clipserve {
namespace {

// A descriptor closed when it goes out of scope, unless released.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

Status ErrnoError(const std::string& what) { return UnavailableError(what + ": " + std::strerror(errno)); }

// One output stream: the descriptor the child gets, and for a pipe the read
// end the parent keeps. All close-on-exec: dup2 onto 1 or 2 clears the flag
// on the copy the child keeps.
struct Stream {
  Fd child;
  Fd parent;
};

Status OpenStream(const ChildOutput& out, Stream& s) {
  switch (out.kind) {
    case ChildOutput::Kind::kInherit:
      return {};
    case ChildOutput::Kind::kDevNull:
      s.child.Reset(open("/dev/null", O_WRONLY | O_CLOEXEC));
      return s.child.get() >= 0 ? Status() : ErrnoError("cannot open /dev/null");
    case ChildOutput::Kind::kFile:
      s.child.Reset(
          open(out.path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (out.append ? O_APPEND : O_TRUNC), 0644));
      return s.child.get() >= 0 ? Status() : ErrnoError("cannot open '" + out.path + "'");
    case ChildOutput::Kind::kPipe: {
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe failed");
      s.parent.Reset(fds[0]);
      s.child.Reset(fds[1]);
      return {};
    }
  }
  return {};
}

// In the child, between fork and exec: async-signal-safe calls only.
void MoveTo(int fd, int target) {
  if (fd < 0) return;
  if (fd == target) fcntl(fd, F_SETFD, 0);  // dup2 onto itself would keep close-on-exec
  else dup2(fd, target);
}

}  // namespace

StatusOr<Subprocess> Subprocess::Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return InvalidArgumentError("spawn: empty argv");
  Stream out, err;
  RETURN_IF_ERROR(OpenStream(options.stdout_to, out));
  if (!options.stderr_to_stdout) RETURN_IF_ERROR(OpenStream(options.stderr_to, err));
  // The child reports a failed exec through this pipe; a successful exec
  // closes it (close-on-exec), which the parent reads as EOF.
  int exec_fds[2];
  if (pipe2(exec_fds, O_CLOEXEC) != 0) return ErrnoError("pipe failed");
  Fd exec_read(exec_fds[0]), exec_write(exec_fds[1]);
  // Built before fork: the child of a threaded parent must not allocate.
  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  // With every signal blocked across fork, none can reach one of the
  // parent's handlers in the child before they are reset below.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  Subprocess p;
  p.own_group_ = options.own_process_group;
  p.spawn_time_ = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return ErrnoError("fork failed");
  }
  if (pid == 0) {
    for (int sig = 1; sig < NSIG; ++sig) {
      struct sigaction sa;
      if (sigaction(sig, nullptr, &sa) != 0) continue;
      if ((sa.sa_flags & SA_SIGINFO) != 0 || (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)) {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, nullptr);
      }
    }
    if (options.own_process_group) setpgid(0, 0);
    MoveTo(out.child.get(), STDOUT_FILENO);
    if (options.stderr_to_stdout) dup2(STDOUT_FILENO, STDERR_FILENO);
    else MoveTo(err.child.get(), STDERR_FILENO);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    execv(argv[0], argv.data());
    const int e = errno;
    [[maybe_unused]] const ssize_t n = write(exec_write.get(), &e, sizeof e);
    _exit(127);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  p.pid_ = pid;
  if (options.own_process_group) setpgid(pid, pid);  // also here: no race with an early Signal()
  exec_write.Reset();
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(exec_read.get(), &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    p.Wait();  // the child has _exit()ed
    return UnavailableError("cannot execute '" + options.argv[0] + "': " + std::strerror(exec_errno));
  }
  p.stdout_fd_ = out.parent.Release();
  p.stderr_fd_ = err.parent.Release();
  return p;
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      own_group_(other.own_group_),
      exited_(other.exited_),
      wait_status_(other.wait_status_),
      spawn_time_(other.spawn_time_),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      stderr_fd_(std::exchange(other.stderr_fd_, -1)) {}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    Release();
    pid_ = std::exchange(other.pid_, -1);
    own_group_ = other.own_group_;
    exited_ = other.exited_;
    wait_status_ = other.wait_status_;
    spawn_time_ = other.spawn_time_;
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    stderr_fd_ = std::exchange(other.stderr_fd_, -1);
  }
  return *this;
}

Subprocess::~Subprocess() { Release(); }

void Subprocess::Release() {
  if (pid_ > 0 && !exited_) {
    Signal(SIGKILL);
    Wait();
  }
  for (int* fd : {&stdout_fd_, &stderr_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void Subprocess::MarkExited(pid_t waited, int status) {
  exited_ = true;
  if (waited == pid_) wait_status_ = status;
}

bool Subprocess::Alive() {
  if (pid_ <= 0 || exited_) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return true;
  MarkExited(r, status);  // r < 0: ECHILD, reaped elsewhere
  return false;
}

void Subprocess::Signal(int sig) {
  if (pid_ <= 0) return;
  if (own_group_) kill(-pid_, sig);
  else if (!exited_) kill(pid_, sig);
}

bool Subprocess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Alive()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    const std::chrono::steady_clock::duration left = deadline - now;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(5), left));
  }
  return true;
}

void Subprocess::Wait() {
  while (pid_ > 0 && !exited_) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, 0);
    if (r < 0 && errno == EINTR) continue;
    MarkExited(r, status);
  }
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped";
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace clipserve
