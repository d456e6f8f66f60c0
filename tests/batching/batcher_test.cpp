// The threaded Batcher with FakeEngine. No sleeps: a Gate held inside the
// engine's hook builds up a queue deterministically, and a FakeClock drives
// delays and timeouts.
#include "batching/batcher.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "engine/fake_engine.h"
#include "metrics/model_stats.h"

namespace clipserve::batching {
namespace {

using std::chrono::microseconds;
constexpr int kImageSize = 8;
constexpr int kDim = 4;
constexpr std::size_t kFloatsPerImage = 3 * kImageSize * kImageSize;

// Blocks engine calls until opened; counts the calls that entered.
class Gate {
 public:
  Status Pass() {
    std::unique_lock lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    return Status::Ok();
  }
  void WaitEntered(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return entered_ >= n; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool open_ = false;
};

std::vector<float> Images(int first_seed, int n) {
  std::vector<float> px(kFloatsPerImage * n);
  for (int i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < kFloatsPerImage; ++k) {
      px[kFloatsPerImage * i + k] = static_cast<float>(((first_seed + i) * 131 + k * 7) % 97) / 96.0f;
    }
  }
  return px;
}

// The embedding FakeEngine gives one image, computed alone.
std::vector<float> Expected(int first_seed, int n) {
  engine::FakeEngine reference(kImageSize, kDim);
  std::vector<float> out(kDim * n);
  for (int i = 0; i < n; ++i) {
    std::vector<float> one = Images(first_seed + i, 1);
    EXPECT_TRUE(reference.Embed(one, 1, std::span<float>(out.data() + kDim * i, kDim)).ok());
  }
  return out;
}

struct Harness {
  std::vector<engine::FakeEngine*> engines;  // owned by the batcher
  std::unique_ptr<Batcher> batcher;
};

Harness Make(BatcherConfig config, const Clock& clock, metrics::ModelStats* stats = nullptr,
             std::vector<int> warmup = {}) {
  Harness h;
  std::vector<std::unique_ptr<engine::Engine>> engines;
  for (int i = 0; i < config.instance_count; ++i) {
    auto e = std::make_unique<engine::FakeEngine>(kImageSize, kDim);
    h.engines.push_back(e.get());
    engines.push_back(std::move(e));
  }
  BatcherOptions options;
  options.config = config;
  options.clock = &clock;
  options.stats = stats;
  options.warmup_batch_sizes = std::move(warmup);
  auto b = Batcher::Create(std::move(options), std::move(engines));
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  if (b.ok()) h.batcher = std::move(b).value();
  return h;
}

BatcherConfig Config(int max_batch, long long delay_us = 0) {
  BatcherConfig c;
  c.max_batch_size = max_batch;
  c.max_queue_delay = microseconds(delay_us);
  return c;
}

bool Ready(std::future<StatusOr<BatchResult>>& f) {
  return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

TEST(Batcher, MergesSingleRequestsQueuedBehindABusyEngine) {
  metrics::ModelStats stats("m", "1", 32);
  Harness h = Make(Config(32), RealClock::Instance(), &stats);
  Gate gate;
  h.engines[0]->set_hook([&](int) { return gate.Pass(); });

  std::vector<std::future<StatusOr<BatchResult>>> futures;
  futures.push_back(h.batcher->Submit(Images(0, 1), 1));
  gate.WaitEntered(1);  // request 0 is inside the engine
  for (int i = 1; i < 10; ++i) futures.push_back(h.batcher->Submit(Images(i, 1), 1));
  EXPECT_EQ(h.batcher->pending_requests(), 9);
  gate.Open();

  for (int i = 0; i < 10; ++i) {
    StatusOr<BatchResult> r = futures[i].get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->embeddings, Expected(i, 1)) << "request " << i;
    EXPECT_EQ(r->num_images, 1);
    EXPECT_EQ(r->embed_dim, kDim);
    EXPECT_EQ(r->batch_size, i == 0 ? 1 : 9);
    EXPECT_EQ(r->executions, 1);
  }
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{1, 9}));

  metrics::ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.success.count, 10u);
  EXPECT_EQ(s.execution_count, 2u);
  EXPECT_EQ(s.inference_count, 10u);
  EXPECT_EQ(s.fail.count, 0u);
  EXPECT_EQ(s.pending_request_count, 0);
  ASSERT_EQ(s.batch_stats.size(), 2u);
  EXPECT_EQ(s.batch_stats[0].batch_size, 1);
  EXPECT_EQ(s.batch_stats[1].batch_size, 9);
  EXPECT_EQ(s.batch_stats[1].compute_infer.count, 1u);
}

TEST(Batcher, FifoOrderAcrossBatches) {
  Harness h = Make(Config(4), RealClock::Instance());
  Gate gate;
  h.engines[0]->set_hook([&](int) { return gate.Pass(); });
  std::vector<std::future<StatusOr<BatchResult>>> futures;
  futures.push_back(h.batcher->Submit(Images(0, 1), 1));
  gate.WaitEntered(1);
  for (int i = 1; i < 7; ++i) futures.push_back(h.batcher->Submit(Images(i, 1), 1));
  gate.Open();
  const int expected_batch[] = {1, 4, 4, 4, 4, 2, 2};
  for (int i = 0; i < 7; ++i) {
    StatusOr<BatchResult> r = futures[i].get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->batch_size, expected_batch[i]) << "request " << i;
    EXPECT_EQ(r->embeddings, Expected(i, 1));
  }
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{1, 4, 2}));
}

TEST(Batcher, SplitsLargeRequestAndReassemblesInOrder) {
  Harness h = Make(Config(4), RealClock::Instance());
  StatusOr<BatchResult> r = h.batcher->Submit(Images(100, 10), 10).get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->num_images, 10);
  EXPECT_EQ(r->embeddings, Expected(100, 10));
  EXPECT_EQ(r->executions, 3);
  EXPECT_EQ(r->batch_size, 4);
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{4, 4, 2}));
}

TEST(Batcher, SplitRemainderPacksWithNextRequest) {
  Harness h = Make(Config(4), RealClock::Instance());
  Gate gate;
  h.engines[0]->set_hook([&](int) { return gate.Pass(); });
  auto f0 = h.batcher->Submit(Images(0, 1), 1);
  gate.WaitEntered(1);
  auto big = h.batcher->Submit(Images(10, 10), 10);
  auto small = h.batcher->Submit(Images(50, 1), 1);
  gate.Open();
  ASSERT_TRUE(f0.get().ok());
  StatusOr<BatchResult> b = big.get();
  StatusOr<BatchResult> s = small.get();
  ASSERT_TRUE(b.ok() && s.ok());
  EXPECT_EQ(b->embeddings, Expected(10, 10));
  EXPECT_EQ(s->embeddings, Expected(50, 1));
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{1, 4, 4, 3}));
  EXPECT_EQ(s->batch_size, 3);
}

TEST(Batcher, DynamicBatchingOffRunsEachRequestAlone) {
  BatcherConfig config = Config(4);
  config.dynamic_batching = false;
  Harness h = Make(config, RealClock::Instance());
  Gate gate;
  h.engines[0]->set_hook([&](int) { return gate.Pass(); });
  std::vector<std::future<StatusOr<BatchResult>>> futures;
  futures.push_back(h.batcher->Submit(Images(0, 1), 1));
  gate.WaitEntered(1);
  futures.push_back(h.batcher->Submit(Images(1, 1), 1));
  futures.push_back(h.batcher->Submit(Images(2, 1), 1));
  futures.push_back(h.batcher->Submit(Images(3, 6), 6));
  gate.Open();
  for (auto& f : futures) ASSERT_TRUE(f.get().ok());
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{1, 1, 1, 4, 2}));
}

TEST(Batcher, PerRequestBatchingOptOutSharesTheEngines) {
  Harness h = Make(Config(8), RealClock::Instance());
  Gate gate;
  h.engines[0]->set_hook([&](int) { return gate.Pass(); });
  auto f0 = h.batcher->Submit(Images(0, 1), 1);
  gate.WaitEntered(1);
  SubmitOptions alone;
  alone.allow_batching = false;
  auto a = h.batcher->Submit(Images(1, 1), 1);
  auto b = h.batcher->Submit(Images(2, 2), 2, alone);
  auto c = h.batcher->Submit(Images(4, 1), 1);
  auto d = h.batcher->Submit(Images(5, 1), 1);
  gate.Open();
  ASSERT_TRUE(f0.get().ok());
  EXPECT_EQ(a.get()->batch_size, 1);
  StatusOr<BatchResult> rb = b.get();
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->batch_size, 2);
  EXPECT_EQ(rb->embeddings, Expected(2, 2));
  EXPECT_EQ(c.get()->batch_size, 2);
  EXPECT_EQ(d.get()->embeddings, Expected(5, 1));
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{1, 1, 2, 2}));
}

TEST(Batcher, PerRequestStatsSplitAMixedBatchByModel) {
  metrics::ModelStats fallback("default", "1", 32), m1("m1", "1", 32), m2("m2", "1", 32);
  Harness h = Make(Config(32), RealClock::Instance(), &fallback);
  Gate gate;
  h.engines[0]->set_hook([&](int) { return gate.Pass(); });
  auto f0 = h.batcher->Submit(Images(0, 1), 1);
  gate.WaitEntered(1);
  SubmitOptions o1, o2;
  o1.stats = &m1;
  o2.stats = &m2;
  std::vector<std::future<StatusOr<BatchResult>>> futures;
  for (int i = 0; i < 2; ++i) futures.push_back(h.batcher->Submit(Images(1 + i, 1), 1, o1));
  for (int i = 0; i < 3; ++i) futures.push_back(h.batcher->Submit(Images(3 + i, 2), 2, o2));
  EXPECT_EQ(m2.Snapshot().pending_request_count, 3);
  gate.Open();
  ASSERT_TRUE(f0.get().ok());
  for (auto& f : futures) ASSERT_TRUE(f.get().ok());
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{1, 8}));
  metrics::ModelStatsSnapshot s0 = fallback.Snapshot(), s1 = m1.Snapshot(), s2 = m2.Snapshot();
  EXPECT_EQ(s0.success.count, 1u);
  EXPECT_EQ(s1.success.count, 2u);
  EXPECT_EQ(s2.success.count, 3u);
  EXPECT_EQ(s1.inference_count, 2u);
  EXPECT_EQ(s2.inference_count, 6u);
  EXPECT_EQ(s1.execution_count, 1u);
  EXPECT_EQ(s2.execution_count, 1u);
  ASSERT_EQ(s2.batch_stats.size(), 1u);
  EXPECT_EQ(s2.batch_stats[0].batch_size, 6);
  EXPECT_EQ(s1.pending_request_count + s2.pending_request_count + s0.pending_request_count, 0);
}

TEST(Batcher, QueueFullRejectsAtOnce) {
  BatcherConfig config = Config(32);
  config.max_queue_size = 3;
  metrics::ModelStats stats("m", "1", 32);
  Harness h = Make(config, RealClock::Instance(), &stats);
  Gate gate;
  h.engines[0]->set_hook([&](int) { return gate.Pass(); });
  auto f0 = h.batcher->Submit(Images(0, 1), 1);
  gate.WaitEntered(1);  // in flight: no longer counts against the queue
  std::vector<std::future<StatusOr<BatchResult>>> queued;
  for (int i = 1; i <= 3; ++i) queued.push_back(h.batcher->Submit(Images(i, 1), 1));
  auto rejected = h.batcher->Submit(Images(9, 1), 1);
  ASSERT_TRUE(Ready(rejected));
  Status st = rejected.get().status();
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(st.message(), "queue full: 3 pending requests, max_queue_size 3");
  gate.Open();
  ASSERT_TRUE(f0.get().ok());
  for (auto& f : queued) EXPECT_TRUE(f.get().ok());
  metrics::ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.fail_by_reason[static_cast<int>(metrics::FailureReason::kRejected)], 1u);
  EXPECT_EQ(s.success.count, 4u);
  EXPECT_EQ(s.pending_request_count, 0);
}

TEST(Batcher, DelayWithFakeClockMergesThenDispatches) {
  FakeClock clock;
  Harness h = Make(Config(4, /*delay_us=*/1000), clock);
  // The engine call takes 250 us of fake time.
  h.engines[0]->set_hook([&](int) {
    clock.Advance(microseconds(250));
    return Status::Ok();
  });
  auto a = h.batcher->Submit(Images(0, 1), 1);
  auto b = h.batcher->Submit(Images(1, 2), 2);
  clock.Advance(microseconds(1000));
  h.batcher->NotifyClockAdvanced();
  StatusOr<BatchResult> ra = a.get();
  StatusOr<BatchResult> rb = b.get();
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{3}));
  EXPECT_EQ(ra->queue_us, 1000);
  EXPECT_EQ(rb->queue_us, 1000);
  EXPECT_EQ(ra->compute_infer_us, 250);
  EXPECT_EQ(rb->batch_size, 3);
  EXPECT_EQ(rb->embeddings, Expected(1, 2));
}

TEST(Batcher, FullBatchLeavesWithoutWaitingForDelay) {
  FakeClock clock;
  Harness h = Make(Config(4, /*delay_us=*/1000000), clock);
  std::vector<std::future<StatusOr<BatchResult>>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(h.batcher->Submit(Images(i, 1), 1));
  for (auto& f : futures) ASSERT_TRUE(f.get().ok());  // the fake clock never moved
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{4}));
}

TEST(Batcher, QueueTimeoutRejectsWhileEngineBusy) {
  FakeClock clock;
  BatcherConfig config = Config(32);
  config.default_queue_timeout = microseconds(1000);
  metrics::ModelStats stats("m", "1", 32);
  Harness h = Make(config, clock, &stats);
  Gate gate;
  h.engines[0]->set_hook([&](int) { return gate.Pass(); });
  auto f0 = h.batcher->Submit(Images(0, 1), 1);
  gate.WaitEntered(1);
  auto expires = h.batcher->Submit(Images(1, 1), 1);
  auto overrides = h.batcher->Submit(Images(2, 1), 1, {microseconds(5000)});
  auto no_timeout = h.batcher->Submit(Images(3, 1), 1, {microseconds(0)});
  clock.Advance(microseconds(1500));
  gate.Open();
  ASSERT_TRUE(f0.get().ok());
  Status st = expires.get().status();
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(st.message().find("queue timeout 1000 us"), std::string::npos) << st.message();
  EXPECT_TRUE(overrides.get().ok());
  EXPECT_TRUE(no_timeout.get().ok());
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{1, 2}));
  metrics::ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.fail_by_reason[static_cast<int>(metrics::FailureReason::kRejected)], 1u);
  EXPECT_EQ(s.pending_request_count, 0);
}

TEST(Batcher, QueueTimeoutFiresWhileWaitingForDelay) {
  FakeClock clock;
  BatcherConfig config = Config(32, /*delay_us=*/1000000);
  config.default_queue_timeout = microseconds(100);
  Harness h = Make(config, clock);
  auto f = h.batcher->Submit(Images(0, 1), 1);
  clock.Advance(microseconds(200));
  h.batcher->NotifyClockAdvanced();
  EXPECT_EQ(f.get().status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(h.engines[0]->calls(), 0);
}

TEST(Batcher, StopDelayingDispatchesAtOnceAndStillAccepts) {
  FakeClock clock;  // never advanced: only StopDelaying can end the delay
  BatcherConfig config = Config(8, /*delay_us=*/60'000'000);
  config.preferred_batch_sizes = {4};
  Harness h = Make(config, clock);
  auto waiting = h.batcher->Submit(Images(0, 1), 1);  // below the preferred size
  h.batcher->NotifyClockAdvanced();  // a worker looks again: still within the delay
  EXPECT_FALSE(Ready(waiting));
  EXPECT_EQ(h.batcher->pending_requests(), 1);
  EXPECT_EQ(h.engines[0]->calls(), 0);

  h.batcher->StopDelaying();
  // The bound only turns a regression into a failure instead of a hang.
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  StatusOr<BatchResult> r = waiting.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->embeddings, Expected(0, 1));
  EXPECT_EQ(r->queue_us, 0);  // the fake clock did not move
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{1}));

  // Unlike Shutdown, Submit still accepts, and runs without delay.
  EXPECT_TRUE(h.batcher->accepting());
  auto later = h.batcher->Submit(Images(1, 2), 2);
  ASSERT_EQ(later.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  StatusOr<BatchResult> r2 = later.get();
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->embeddings, Expected(1, 2));
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{1, 2}));
  h.batcher->StopDelaying();  // idempotent
  EXPECT_TRUE(h.batcher->accepting());
  EXPECT_EQ(h.batcher->pending_requests(), 0);
}

TEST(Batcher, TimeoutOverrideIgnoredWhenNotAllowed) {
  FakeClock clock;
  BatcherConfig config = Config(32);
  config.default_queue_timeout = microseconds(1000);
  config.allow_timeout_override = false;
  Harness h = Make(config, clock);
  Gate gate;
  h.engines[0]->set_hook([&](int) { return gate.Pass(); });
  auto f0 = h.batcher->Submit(Images(0, 1), 1);
  gate.WaitEntered(1);
  auto f1 = h.batcher->Submit(Images(1, 1), 1, {microseconds(0)});  // asks for no timeout
  clock.Advance(microseconds(1001));
  gate.Open();
  EXPECT_TRUE(f0.get().ok());
  EXPECT_EQ(f1.get().status().code(), StatusCode::kDeadlineExceeded);
}

TEST(Batcher, EngineErrorFailsOnlyThatBatch) {
  metrics::ModelStats stats("m", "1", 32);
  Harness h = Make(Config(32), RealClock::Instance(), &stats);
  Gate gate;
  int call = 0;  // touched only on the single worker thread
  h.engines[0]->set_hook([&](int) {
    ++call;
    if (call == 1) return gate.Pass();
    if (call == 2) return InternalError("boom: device lost");
    return Status::Ok();
  });
  auto f0 = h.batcher->Submit(Images(0, 1), 1);
  gate.WaitEntered(1);
  auto f1 = h.batcher->Submit(Images(1, 1), 1);
  auto f2 = h.batcher->Submit(Images(2, 3), 3);
  gate.Open();
  EXPECT_TRUE(f0.get().ok());
  EXPECT_EQ(f1.get().status(), InternalError("boom: device lost"));
  EXPECT_EQ(f2.get().status(), InternalError("boom: device lost"));
  StatusOr<BatchResult> after = h.batcher->Submit(Images(5, 1), 1).get();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->embeddings, Expected(5, 1));
  metrics::ModelStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.fail_by_reason[static_cast<int>(metrics::FailureReason::kBackend)], 2u);
  EXPECT_EQ(s.success.count, 2u);
  EXPECT_EQ(s.execution_count, 2u);  // failed executions are not counted (Triton)
  EXPECT_EQ(s.inference_count, 2u);  // images of successful requests only
  EXPECT_EQ(s.pending_request_count, 0);
}

TEST(Batcher, EngineErrorFailsASplitRequestOnce) {
  Harness h = Make(Config(2), RealClock::Instance());
  int call = 0;
  h.engines[0]->set_hook([&](int) { return ++call == 2 ? InternalError("second chunk") : Status::Ok(); });
  StatusOr<BatchResult> r = h.batcher->Submit(Images(0, 6), 6).get();
  EXPECT_EQ(r.status(), InternalError("second chunk"));
  // The third chunk was dropped with the request.
  EXPECT_EQ(h.engines[0]->batch_sizes(), (std::vector<int>{2, 2}));
  EXPECT_TRUE(h.batcher->Submit(Images(0, 1), 1).get().ok());
}

TEST(Batcher, RejectsMalformedInput) {
  Harness h = Make(Config(4), RealClock::Instance());
  auto f = h.batcher->Submit(std::vector<float>(kFloatsPerImage * 2 - 1), 2);
  ASSERT_TRUE(Ready(f));
  Status st = f.get().status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("got 383"), std::string::npos) << st.message();
  EXPECT_EQ(h.batcher->Submit({}, 0).get().status().code(), StatusCode::kInvalidArgument);
}

TEST(Batcher, ShutdownDrainsQueuedWorkAndRefusesNew) {
  Harness h = Make(Config(32), RealClock::Instance());
  Gate gate;
  h.engines[0]->set_hook([&](int) { return gate.Pass(); });
  auto f0 = h.batcher->Submit(Images(0, 1), 1);
  gate.WaitEntered(1);
  auto f1 = h.batcher->Submit(Images(1, 1), 1);
  auto f2 = h.batcher->Submit(Images(2, 1), 1);
  Status shutdown_status;
  std::thread stopper([&] { shutdown_status = h.batcher->Shutdown(std::chrono::seconds(60)); });
  while (h.batcher->accepting()) std::this_thread::yield();
  auto late = h.batcher->Submit(Images(3, 1), 1);
  ASSERT_TRUE(Ready(late));
  EXPECT_EQ(late.get().status().code(), StatusCode::kUnavailable);
  gate.Open();
  stopper.join();
  EXPECT_TRUE(shutdown_status.ok()) << shutdown_status.ToString();
  EXPECT_TRUE(f0.get().ok());
  EXPECT_EQ(f1.get()->embeddings, Expected(1, 1));
  EXPECT_TRUE(f2.get().ok());
  EXPECT_TRUE(h.batcher->Shutdown(microseconds(0)).ok());  // idempotent
}

TEST(Batcher, ShutdownFailsWhatIsLeftAtTheDrainDeadline) {
  FakeClock clock;
  metrics::ModelStats stats("m", "1", 32);
  Harness h = Make(Config(32), clock, &stats);
  Gate gate;
  h.engines[0]->set_hook([&](int) { return gate.Pass(); });
  auto f0 = h.batcher->Submit(Images(0, 1), 1);
  gate.WaitEntered(1);
  auto f1 = h.batcher->Submit(Images(1, 1), 1);
  auto f2 = h.batcher->Submit(Images(2, 1), 1);
  Status shutdown_status;
  std::thread stopper([&] { shutdown_status = h.batcher->Shutdown(microseconds(1000)); });
  while (h.batcher->accepting()) std::this_thread::yield();
  clock.Advance(microseconds(1000));
  h.batcher->NotifyClockAdvanced();
  // Queued requests fail at the deadline although the engine is still busy.
  EXPECT_EQ(f1.get().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(f2.get().status().code(), StatusCode::kUnavailable);
  gate.Open();  // the in-flight batch still completes
  stopper.join();
  EXPECT_TRUE(f0.get().ok());
  EXPECT_EQ(shutdown_status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(shutdown_status.message().find("2 queued requests"), std::string::npos);
  EXPECT_EQ(stats.Snapshot().pending_request_count, 0);
}

TEST(Batcher, DestructorWithQueuedWorkFailsItAndJoins) {
  Gate gate;
  std::future<StatusOr<BatchResult>> f0, f1;
  {
    Harness h = Make(Config(32), RealClock::Instance());
    h.engines[0]->set_hook([&](int) { return gate.Pass(); });
    f0 = h.batcher->Submit(Images(0, 1), 1);
    gate.WaitEntered(1);
    f1 = h.batcher->Submit(Images(1, 1), 1);
    std::thread opener([&] {
      f1.wait();  // failed by the destructor's Shutdown(0) before it joins
      gate.Open();
    });
    h.batcher.reset();
    opener.join();
  }
  EXPECT_TRUE(f0.get().ok());
  EXPECT_EQ(f1.get().status().code(), StatusCode::kUnavailable);
}

TEST(Batcher, InstancesRunInParallelFromOneQueue) {
  BatcherConfig config = Config(32);
  config.instance_count = 2;
  Harness h = Make(config, RealClock::Instance());
  Gate gate;
  for (auto* e : h.engines) e->set_hook([&](int) { return gate.Pass(); });
  std::vector<std::future<StatusOr<BatchResult>>> futures;
  futures.push_back(h.batcher->Submit(Images(0, 1), 1));
  gate.WaitEntered(1);
  futures.push_back(h.batcher->Submit(Images(1, 1), 1));
  gate.WaitEntered(2);  // both instances are inside Embed at once
  for (int i = 2; i < 6; ++i) futures.push_back(h.batcher->Submit(Images(i, 1), 1));
  gate.Open();
  for (int i = 0; i < 6; ++i) {
    StatusOr<BatchResult> r = futures[i].get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->embeddings, Expected(i, 1));
  }
  std::vector<int> all;
  for (auto* e : h.engines) {
    EXPECT_GE(e->calls(), 1);
    for (int b : e->batch_sizes()) all.push_back(b);
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int>{1, 1, 4}));
}

TEST(Batcher, WarmUpRunsEverySizeOnEveryInstance) {
  BatcherConfig config = Config(8);
  config.instance_count = 2;
  metrics::ModelStats stats("m", "1", 8);
  Harness h = Make(config, RealClock::Instance(), &stats, {1, 4, 8});
  for (auto* e : h.engines) EXPECT_EQ(e->batch_sizes(), (std::vector<int>{1, 4, 8}));
  EXPECT_EQ(stats.Snapshot().execution_count, 0u);
}

TEST(Batcher, CreateRejectsBadArguments) {
  BatcherOptions options;
  options.config = Config(4);
  std::vector<std::unique_ptr<engine::Engine>> none;
  EXPECT_EQ(Batcher::Create(options, std::move(none)).status().code(), StatusCode::kInvalidArgument);

  std::vector<std::unique_ptr<engine::Engine>> one;
  one.push_back(std::make_unique<engine::FakeEngine>(kImageSize, kDim));
  options.warmup_batch_sizes = {5};
  Status st = Batcher::Create(options, std::move(one)).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("warm-up batch size 5"), std::string::npos);

  std::vector<std::unique_ptr<engine::Engine>> failing;
  auto fake = std::make_unique<engine::FakeEngine>(kImageSize, kDim);
  fake->set_hook([](int batch) { return batch == 2 ? InternalError("oom") : Status::Ok(); });
  failing.push_back(std::move(fake));
  options.warmup_batch_sizes = {1, 2};
  st = Batcher::Create(options, std::move(failing)).status();
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_NE(st.message().find("batch size 2"), std::string::npos) << st.message();

  std::vector<std::unique_ptr<engine::Engine>> mixed;
  mixed.push_back(std::make_unique<engine::FakeEngine>(kImageSize, kDim));
  mixed.push_back(std::make_unique<engine::FakeEngine>(kImageSize, kDim + 1));
  options.config.instance_count = 2;
  options.warmup_batch_sizes = {};
  EXPECT_EQ(Batcher::Create(options, std::move(mixed)).status().code(), StatusCode::kInvalidArgument);
}

TEST(Batcher, CallbackApiCompletesExactlyOnce) {
  Harness h = Make(Config(4), RealClock::Instance());
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  StatusOr<BatchResult> got = InternalError("unset");
  h.batcher->Submit(Images(7, 2), 2, {}, [&](StatusOr<BatchResult> r) {
    std::lock_guard lock(mu);
    ++calls;
    got = std::move(r);
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return calls > 0; });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->embeddings, Expected(7, 2));
  lock.unlock();
  h.batcher->Shutdown(microseconds(0)).ok();
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace clipserve::batching
