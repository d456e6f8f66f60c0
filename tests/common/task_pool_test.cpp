// TaskPool: every task runs once, on the pool's threads, in parallel; Join
// waits for tasks still queued and for tasks they post; after Join, Post runs
// the task on the caller; a throwing task does not take a thread down.
#include "common/task_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace clipserve {
namespace {

TEST(TaskPool, RunsEveryTaskOnceOnItsThreadsInParallel) {
  TaskPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  std::atomic<int> ran{0}, inside{0}, most{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  for (int i = 0; i < 60; ++i) {
    pool.Post([&] {
      const int now = inside.fetch_add(1) + 1;
      for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      {
        std::lock_guard lock(mu);
        ids.insert(std::this_thread::get_id());
      }
      inside.fetch_sub(1);
      ran.fetch_add(1);
    });
  }
  pool.Join();
  EXPECT_EQ(ran.load(), 60);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
  EXPECT_LE(ids.size(), 3u);
  EXPECT_GE(most.load(), 2);  // sleeping tasks overlap
}

TEST(TaskPool, JoinRunsQueuedTasksAndTheirChildrenThenPostRunsInline) {
  std::atomic<int> ran{0};
  TaskPool pool(1);
  for (int i = 0; i < 5; ++i) {
    pool.Post([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      pool.Post([&] { ran.fetch_add(10); });  // posted while Join waits
      ran.fetch_add(1);
    });
  }
  pool.Join();
  EXPECT_EQ(ran.load(), 55);
  std::thread::id where;
  pool.Post([&] { where = std::this_thread::get_id(); });
  EXPECT_EQ(where, std::this_thread::get_id());
  pool.Join();  // again: returns
}

TEST(TaskPool, ThrowingTaskIsLoggedAndTheThreadKeepsServing) {
  TaskPool pool(1, "test pool");
  std::atomic<int> ran{0};
  pool.Post([] { throw std::runtime_error("boom"); });
  pool.Post([&] { ran.fetch_add(1); });
  pool.Join();
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace clipserve
