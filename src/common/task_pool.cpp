#include "common/task_pool.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>

namespace clipserve {

TaskPool::TaskPool(int threads, const char* name) : name_(name) {
  const int n = std::max(1, threads);
  running_ = n;
  threads_.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Run(); });
}

TaskPool::~TaskPool() { Join(); }

void TaskPool::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    // A thread still running takes it: threads leave only when, under this
    // lock, they find the queue empty.
    if (running_ > 0) {
      tasks_.push_back(std::move(task));
      cv_.notify_one();
      return;
    }
  }
  task();
}

std::size_t TaskPool::queued() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

void TaskPool::Run() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) {  // stopping, and nothing left
        --running_;
        return;
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "clipserve: %s: a task threw: %s\n", name_, e.what());
    } catch (...) {
      std::fprintf(stderr, "clipserve: %s: a task threw\n", name_);
    }
  }
}

void TaskPool::Join() {
  std::lock_guard join_lock(join_mu_);  // a second caller waits for the first
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  // A running task may still post (it is queued and run before the threads
  // exit: they leave only on an empty queue).
  for (auto& t : threads_) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
}

}  // namespace clipserve
