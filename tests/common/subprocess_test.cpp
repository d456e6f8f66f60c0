#include "common/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace clipserve {
namespace {

using std::chrono::milliseconds;

Subprocess Shell(const std::string& script, SpawnOptions options = {}) {
  options.argv = {"/bin/sh", "-c", script};
  auto p = Subprocess::Spawn(options);
  EXPECT_TRUE(p.ok()) << p.status().message();
  return std::move(*p);
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[256];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid()))).string();
}

// Dead: no such process, or a zombie its new parent has not reaped yet.
bool Gone(pid_t pid) {
  if (kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  return paren == std::string::npos || (paren + 2 < text.size() && text[paren + 2] == 'Z');
}

std::string FileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Subprocess, PipesStdoutAndReportsTheExitStatus) {
  SpawnOptions o;
  o.stdout_to = ChildOutput::Pipe();
  Subprocess p = Shell("echo hello; exit 3", o);
  ASSERT_GE(p.stdout_fd(), 0);
  EXPECT_EQ(p.stderr_fd(), -1);
  EXPECT_EQ(ReadAll(p.stdout_fd()), "hello\n");
  ASSERT_TRUE(p.Wait(milliseconds(10000)));
  EXPECT_FALSE(p.Alive());
  ASSERT_TRUE(p.wait_status().has_value());
  EXPECT_EQ(ExitCodeOf(*p.wait_status()), 3);
  EXPECT_EQ(DescribeWaitStatus(*p.wait_status()), "exited with status 3");
}

TEST(Subprocess, SeparatePipesOrStderrIntoStdout) {
  SpawnOptions o;
  o.stdout_to = ChildOutput::Pipe();
  o.stderr_to = ChildOutput::Pipe();
  Subprocess p = Shell("echo out; echo err >&2", o);
  EXPECT_EQ(ReadAll(p.stdout_fd()), "out\n");
  EXPECT_EQ(ReadAll(p.stderr_fd()), "err\n");
  p.Wait();

  SpawnOptions both;
  both.stdout_to = ChildOutput::Pipe();
  both.stderr_to_stdout = true;
  Subprocess q = Shell("echo out; echo err >&2", both);
  EXPECT_EQ(ReadAll(q.stdout_fd()), "out\nerr\n");
  q.Wait();
  EXPECT_EQ(ExitCodeOf(*q.wait_status()), 0);
}

TEST(Subprocess, WritesToFilesTruncatedOrAppended) {
  const std::string path = TempPath("subprocess-file");
  SpawnOptions o;
  o.stdout_to = ChildOutput::File(path);
  o.stderr_to = ChildOutput::DevNull();
  Shell("echo one; echo hidden >&2", o).Wait();
  EXPECT_EQ(FileText(path), "one\n");
  Shell("echo two", o).Wait();
  EXPECT_EQ(FileText(path), "two\n");  // truncated
  o.stdout_to = ChildOutput::File(path, /*append=*/true);
  Shell("echo three", o).Wait();
  EXPECT_EQ(FileText(path), "two\nthree\n");
  std::filesystem::remove(path);

  o.argv = {"/bin/true"};
  o.stdout_to = ChildOutput::File("/nonexistent-dir/x");
  auto bad = Subprocess::Spawn(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cannot open '/nonexistent-dir/x'"), std::string::npos)
      << bad.status().message();
}

TEST(Subprocess, ExecFailureIsAnErrorNotAnExitStatus) {
  SpawnOptions o;
  o.argv = {"/nonexistent/program", "x"};
  auto p = Subprocess::Spawn(o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(p.status().message().find("cannot execute '/nonexistent/program'"), std::string::npos)
      << p.status().message();
  EXPECT_EQ(Subprocess::Spawn(SpawnOptions{}).status().code(), StatusCode::kInvalidArgument);
}

TEST(Subprocess, SignalAndWaitWithTimeout) {
  Subprocess p = Shell("exec sleep 30");
  EXPECT_TRUE(p.Alive());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(p.Wait(milliseconds(50)));  // still running
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(50));
  p.Signal(SIGTERM);
  ASSERT_TRUE(p.Wait(milliseconds(10000)));
  EXPECT_EQ(ExitCodeOf(*p.wait_status()), 128 + SIGTERM);
  EXPECT_EQ(DescribeWaitStatus(*p.wait_status()), "killed by signal " + std::to_string(SIGTERM));
  p.Signal(SIGKILL);  // reaped: a no-op, not a signal to a recycled pid
  EXPECT_FALSE(p.Alive());
}

TEST(Subprocess, OwnProcessGroupSignalsReachGrandchildren) {
  SpawnOptions o;
  o.own_process_group = true;
  o.stdout_to = ChildOutput::Pipe();
  // The shell prints its background child's pid, then waits on it.
  Subprocess p = Shell("sleep 30 & echo $!; wait", o);
  std::string line;
  char c;
  while (read(p.stdout_fd(), &c, 1) == 1 && c != '\n') line += c;
  const pid_t grandchild = static_cast<pid_t>(std::stol(line));
  EXPECT_EQ(getpgid(grandchild), p.pid());
  p.Signal(SIGKILL);
  ASSERT_TRUE(p.Wait(milliseconds(10000)));
  // The grandchild (reparented, not ours to reap) is gone too.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Gone(grandchild) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_TRUE(Gone(grandchild));
}

TEST(Subprocess, DestructorKillsAndReaps) {
  pid_t pid = -1;
  {
    Subprocess p = Shell("exec sleep 30");
    pid = p.pid();
    Subprocess moved = std::move(p);  // the moved-from one owns nothing
    EXPECT_EQ(p.pid(), -1);
    EXPECT_EQ(moved.pid(), pid);
  }
  int status = 0;
  const pid_t r = waitpid(pid, &status, WNOHANG);
  const int e = errno;
  EXPECT_EQ(r, -1);  // already reaped
  EXPECT_EQ(e, ECHILD);
}

TEST(Subprocess, SpawnTimeIsJustBeforeFork) {
  const auto before = std::chrono::steady_clock::now();
  Subprocess p = Shell("exit 0");
  EXPECT_GE(p.spawn_time(), before);
  EXPECT_LE(p.spawn_time(), std::chrono::steady_clock::now());
  p.Wait();
}

}  // namespace
}  // namespace clipserve
