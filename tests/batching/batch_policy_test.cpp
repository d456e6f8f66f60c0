// The pure batching decision, driven with explicit times: no threads, no sleeps.
#include "batching/batch_policy.h"

#include <gtest/gtest.h>

namespace clipserve::batching {

void PrintTo(const BatchDecision& d, std::ostream* os) {
  const char* kinds[] = {"Idle", "Wait", "Dispatch"};
  *os << kinds[static_cast<int>(d.kind)] << "(requests=" << d.num_requests
      << ", images=" << d.num_images << ", wait_until_ns=" << d.wait_until.time_since_epoch().count() << ")";
}

namespace {

using std::chrono::microseconds;
using Kind = BatchDecision::Kind;

const SteadyTime kT0 = SteadyTime(std::chrono::seconds(100));

BatcherConfig Config(int max_batch, std::vector<int> preferred, long long delay_us) {
  BatcherConfig c;
  c.max_batch_size = max_batch;
  c.preferred_batch_sizes = std::move(preferred);
  c.max_queue_delay = microseconds(delay_us);
  EXPECT_TRUE(c.Validate().ok());
  return c;
}

// Requests of the given image counts, enqueued 1 us apart from kT0.
std::vector<PendingRequestView> Queue(std::vector<int> images) {
  std::vector<PendingRequestView> q;
  for (std::size_t i = 0; i < images.size(); ++i) {
    q.push_back({images[i], kT0 + microseconds(i), SteadyTime::max(), false});
  }
  return q;
}

TEST(BatchPolicy, EmptyQueueIsIdle) {
  EXPECT_EQ(DecideBatch(Config(8, {}, 1000), {}, kT0).kind, Kind::kIdle);
}

TEST(BatchPolicy, NoDelayDispatchesWhateverIsQueued) {
  // Triton's default (max_queue_delay 0): the largest batch available now.
  auto q = Queue({1, 1, 1});
  EXPECT_EQ(DecideBatch(Config(8, {}, 0), q, kT0), BatchDecision::Dispatch(3, 3));
}

TEST(BatchPolicy, WaitsForDelayThenDispatchesPartialBatch) {
  auto config = Config(8, {}, 1000);
  auto q = Queue({1, 2});
  BatchDecision d = DecideBatch(config, q, kT0 + microseconds(10));
  ASSERT_EQ(d.kind, Kind::kWait);
  EXPECT_EQ(d.wait_until, kT0 + microseconds(1000));  // oldest enqueue + delay
  EXPECT_EQ(DecideBatch(config, q, kT0 + microseconds(999)).kind, Kind::kWait);
  EXPECT_EQ(DecideBatch(config, q, kT0 + microseconds(1000)), BatchDecision::Dispatch(2, 3));
}

TEST(BatchPolicy, FullBatchDispatchesAtOnceDespiteDelay) {
  auto config = Config(4, {}, 1000000);
  EXPECT_EQ(DecideBatch(config, Queue({1, 1, 1, 1, 1}), kT0), BatchDecision::Dispatch(4, 4));
  EXPECT_EQ(DecideBatch(config, Queue({2, 2}), kT0), BatchDecision::Dispatch(2, 4));
}

TEST(BatchPolicy, NextRequestNotFittingDispatchesAtOnce) {
  // 3 + 3 > 4: the batch cannot grow by waiting (FIFO), so it leaves now.
  auto config = Config(4, {}, 1000000);
  EXPECT_EQ(DecideBatch(config, Queue({3, 3}), kT0), BatchDecision::Dispatch(1, 3));
}

TEST(BatchPolicy, PreferredSizeFormedExactlyDispatchesLargestPreferred) {
  // Triton's guide: preferred [4, 8] with 7 queued requests sends 4.
  auto config = Config(16, {4, 8}, 1000000);
  EXPECT_EQ(DecideBatch(config, Queue({1, 1, 1, 1, 1, 1, 1}), kT0), BatchDecision::Dispatch(4, 4));
  EXPECT_EQ(DecideBatch(config, Queue({1, 1, 1, 1, 1, 1, 1, 1, 1}), kT0),
            BatchDecision::Dispatch(8, 8));
  EXPECT_EQ(DecideBatch(config, Queue({2, 2, 4, 1}), kT0), BatchDecision::Dispatch(3, 8));
}

TEST(BatchPolicy, PreferredSizeWinsEvenWhenDelayExpired) {
  auto config = Config(16, {4}, 100);
  EXPECT_EQ(DecideBatch(config, Queue({2, 2, 1}), kT0 + microseconds(5000)),
            BatchDecision::Dispatch(2, 4));
}

TEST(BatchPolicy, NoPreferredPrefixWaitsThenSendsAll) {
  auto config = Config(16, {4, 8}, 500);
  auto q = Queue({3, 3});  // prefixes 3, 6: none preferred
  EXPECT_EQ(DecideBatch(config, q, kT0).kind, Kind::kWait);
  EXPECT_EQ(DecideBatch(config, q, kT0 + microseconds(500)), BatchDecision::Dispatch(2, 6));
}

TEST(BatchPolicy, LargestPreferredSizeCapsTheBatch) {
  // max_batch_size 32 but preferred max 8: never more than 8 per batch.
  auto config = Config(32, {8}, 0);
  EXPECT_EQ(config.MaxFormedBatchSize(), 8);
  EXPECT_EQ(DecideBatch(config, Queue({5, 5}), kT0), BatchDecision::Dispatch(1, 5));
}

TEST(BatchPolicy, OversizedHeadRequestRunsInCapChunks) {
  auto config = Config(4, {}, 1000000);
  std::vector<PendingRequestView> q = Queue({10, 1});
  EXPECT_EQ(DecideBatch(config, q, kT0), BatchDecision::Dispatch(1, 4));
  q[0].images = 6;
  q[0].started = true;
  EXPECT_EQ(DecideBatch(config, q, kT0), BatchDecision::Dispatch(1, 4));
  q[0].images = 2;  // the remainder packs with the next request
  EXPECT_EQ(DecideBatch(config, q, kT0 + microseconds(1000000)), BatchDecision::Dispatch(2, 3));
}

TEST(BatchPolicy, OversizedRequestBehindOthersIsNotSplitEarly) {
  auto config = Config(4, {}, 0);
  EXPECT_EQ(DecideBatch(config, Queue({1, 9}), kT0), BatchDecision::Dispatch(1, 1));
}

TEST(BatchPolicy, DynamicBatchingOffRunsEachRequestAlone) {
  auto config = Config(4, {2}, 1000000);
  config.dynamic_batching = false;
  EXPECT_EQ(config.MaxFormedBatchSize(), 4);  // preferred sizes ignored when off
  EXPECT_EQ(DecideBatch(config, Queue({1, 1, 1}), kT0), BatchDecision::Dispatch(1, 1));
  EXPECT_EQ(DecideBatch(config, Queue({3, 1}), kT0), BatchDecision::Dispatch(1, 3));
  EXPECT_EQ(DecideBatch(config, Queue({9, 1}), kT0), BatchDecision::Dispatch(1, 4));
}

TEST(BatchPolicy, UnbatchableRequestRunsAloneAndEndsThePrefix) {
  auto config = Config(8, {}, 1000000);
  auto q = Queue({1, 2, 1});
  q[0].batchable = false;
  EXPECT_EQ(DecideBatch(config, q, kT0), BatchDecision::Dispatch(1, 1));
  q[0].batchable = true;
  q[1].batchable = false;  // the batch in front of it cannot grow: leaves now
  EXPECT_EQ(DecideBatch(config, q, kT0), BatchDecision::Dispatch(1, 1));
  q[0].images = 12;  // unbatchable or not, an oversized head is chunked
  q[0].batchable = false;
  EXPECT_EQ(DecideBatch(config, q, kT0), BatchDecision::Dispatch(1, 8));
}

TEST(BatchPolicy, WaitWakesForEarliestDeadline) {
  auto config = Config(8, {}, 1000);
  auto q = Queue({1, 1});
  q[1].deadline = kT0 + microseconds(300);
  BatchDecision d = DecideBatch(config, q, kT0 + microseconds(10));
  ASSERT_EQ(d.kind, Kind::kWait);
  EXPECT_EQ(d.wait_until, kT0 + microseconds(300));
}

TEST(BatchPolicy, ExpiredRequestsAreUnstartedPastDeadline) {
  auto q = Queue({1, 1, 1, 1});
  q[0].deadline = kT0 + microseconds(50);
  q[0].started = true;  // started requests never expire
  q[1].deadline = kT0 + microseconds(50);
  q[2].deadline = kT0 + microseconds(51);
  EXPECT_EQ(ExpiredRequests(q, kT0 + microseconds(50)), (std::vector<std::size_t>{1}));
  EXPECT_EQ(ExpiredRequests(q, kT0 + microseconds(51)), (std::vector<std::size_t>{1, 2}));
  EXPECT_TRUE(ExpiredRequests(q, kT0).empty());
}

TEST(BatcherConfig, ValidateNamesTheBadField) {
  BatcherConfig c;
  EXPECT_TRUE(c.Validate().ok());
  c.preferred_batch_sizes = {4, 64};
  Status st = c.Validate();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("preferred_batch_size 64"), std::string::npos) << st.message();
  c.preferred_batch_sizes = {4, 4};
  EXPECT_NE(c.Validate().message().find("twice"), std::string::npos);
  c = BatcherConfig{};
  c.max_batch_size = 0;
  EXPECT_NE(c.Validate().message().find("max_batch_size"), std::string::npos);
  c = BatcherConfig{};
  c.instance_count = 0;
  EXPECT_NE(c.Validate().message().find("instance_count"), std::string::npos);
  c = BatcherConfig{};
  c.max_queue_delay = microseconds(-1);
  EXPECT_FALSE(c.Validate().ok());
  c = BatcherConfig{};
  c.max_queue_size = -1;
  EXPECT_FALSE(c.Validate().ok());
}

}  // namespace
}  // namespace clipserve::batching
