// Child processes: fork + execv with stdout/stderr redirected, a signal, a
// wait with a timeout, and a reap in the destructor. The one spawning
// primitive of the project: the benchmark runner's --server-cmd
// (bench/server_process.h) and the test harnesses (tests/support) use it.
//
// Thread safety: one Subprocess is used by one thread at a time. Spawn
// itself may be called from many threads: every descriptor it opens is
// close-on-exec, so one child never holds another child's pipe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace clipserve {

// Where one output stream of the child goes.
struct ChildOutput {
  enum class Kind { kInherit, kPipe, kFile, kDevNull };
  Kind kind = Kind::kInherit;
  std::string path;     // kFile
  bool append = false;  // kFile: O_APPEND, else truncated

  static ChildOutput Inherit() { return {}; }
  static ChildOutput Pipe() { return {Kind::kPipe, {}, false}; }
  static ChildOutput DevNull() { return {Kind::kDevNull, {}, false}; }
  static ChildOutput File(std::string path, bool append = false) {
    return {Kind::kFile, std::move(path), append};
  }
};

struct SpawnOptions {
  // argv[0] is the program's path (execv: no PATH search; use
  // {"/bin/sh", "-c", command} for a shell command).
  std::vector<std::string> argv;
  ChildOutput stdout_to;
  ChildOutput stderr_to;
  // Both streams into stdout's destination (2>&1); stderr_to is ignored.
  bool stderr_to_stdout = false;
  // setpgid(0, 0): the child leads a new process group and Signal() reaches
  // every process it spawns (a shell's children included).
  bool own_process_group = false;
};

class Subprocess {
 public:
  // Forks and execs. Signals are blocked across fork and every caught
  // signal is reset to its default in the child before exec, so the
  // parent's handlers never run in the child. InvalidArgument for an empty
  // argv; Unavailable when a file, pipe, fork or exec fails (the exec error
  // is reported here, not as an exit status).
  static StatusOr<Subprocess> Spawn(const SpawnOptions& options);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  // SIGKILL (to the group with own_process_group) and reap when still
  // running; closes the pipes.
  ~Subprocess();

  pid_t pid() const { return pid_; }
  // steady_clock just before fork.
  SteadyTime spawn_time() const { return spawn_time_; }
  // Read ends of the pipes (ChildOutput::Pipe()), owned here; -1 otherwise.
  int stdout_fd() const { return stdout_fd_; }
  int stderr_fd() const { return stderr_fd_; }

  // Reaps without blocking; false once the child has exited. Also false
  // (with no wait_status) when the child was reaped by someone else.
  bool Alive();
  // waitpid's status once reaped here (decode with DescribeWaitStatus /
  // ExitCodeOf); nullopt while running or when reaped elsewhere.
  std::optional<int> wait_status() const { return wait_status_; }

  // kill(2) to the child, or to its process group with own_process_group
  // (which may still hold processes after the leader exited). A no-op for a
  // reaped child without its own group: its pid may belong to another
  // process by now.
  void Signal(int sig);

  // Waits up to `timeout` for the child to exit (polling every few ms);
  // true once it has been reaped.
  bool Wait(std::chrono::milliseconds timeout);
  // Waits as long as it takes.
  void Wait();

 private:
  Subprocess() = default;
  void MarkExited(pid_t waited, int status);
  void Release();  // kill + reap if running, close pipes

  pid_t pid_ = -1;
  bool own_group_ = false;
  bool exited_ = false;
  std::optional<int> wait_status_;
  SteadyTime spawn_time_{};
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
};

// "exited with status 3", "killed by signal 9".
std::string DescribeWaitStatus(int status);
// The exit status, or 128 + the signal number (as shells report it).
int ExitCodeOf(int status);

}  // namespace clipserve
