#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace clipserve {

// A fixed set of threads running posted tasks in FIFO order. Tasks must not
// throw (an escaped exception is caught, logged to stderr and dropped).
class TaskPool {
 public:
  explicit TaskPool(int threads, const char* name = "task pool");
  ~TaskPool();  // Join()
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // Runs `task` on a pool thread; once every thread has left (after Join),
  // on the caller.
  void Post(std::function<void()> task);
  // Waits for every task posted so far (and those they post) to finish, then
  // stops the threads. Idempotent.
  void Join();

  int threads() const { return static_cast<int>(threads_.size()); }
  std::size_t queued() const;

 private:
  void Run();

  const char* name_;
  std::mutex join_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  int running_ = 0;  // threads that have not left Run()
  std::vector<std::thread> threads_;
};

}  // namespace clipserve
