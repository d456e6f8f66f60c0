// The dynamic batcher's decision, as a pure function: no threads, no clock
// reads, no allocation beyond the result. The threaded Batcher (batcher.h)
// calls it whenever an instance is free and the queue changed or a wake-up
// time passed.
//
// Semantics: Triton's dynamic batcher (DynamicBatchScheduler::GetDynamicBatch
// and the "Dynamic Batcher" user guide), plus splitting of oversized requests:
//  * Requests are taken strictly in FIFO order; a request is never skipped.
//  * cap = config.MaxFormedBatchSize(): max_batch_size, or the largest
//    preferred size when preferred sizes are set.
//  * A request whose remaining images exceed cap is split: while at the head
//    of the queue it runs in chunks of cap images. Other requests are never
//    split: the candidate batch is the longest queue prefix whose images fit
//    in cap.
//  * Dynamic batching off (config), or a request that does not allow
//    batching (PendingRequestView::batchable false): such a request runs
//    alone, as exactly one batch (or cap-sized chunks), dispatched as soon
//    as it reaches the head; it also ends the prefix before it (the batch in
//    front of it cannot grow by waiting).
//  * If preferred sizes are set and some queue prefix has exactly a
//    preferred size, the largest such prefix is dispatched at once (even if
//    a larger, non-preferred batch could be formed); the rest waits.
//  * Else the whole candidate batch is dispatched at once when it reached
//    cap, or the next request does not fit (the batch cannot grow by
//    waiting), or max_queue_delay is 0, or the oldest request has waited
//    max_queue_delay.
//  * Otherwise wait until the oldest request's enqueue + max_queue_delay, or
//    the earliest queued deadline if sooner (so the caller can reject it on
//    time).
//  * Expired requests are the caller's to remove first (ExpiredRequests).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "batching/batcher_config.h"
#include "common/clock.h"

namespace clipserve::batching {

// What the policy sees of one queued request.
struct PendingRequestView {
  int images = 0;               // images of this request not yet dispatched (>= 1)
  SteadyTime enqueue_time{};    // when Submit accepted it
  SteadyTime deadline = SteadyTime::max();  // queue timeout; max() = none
  bool started = false;         // an earlier chunk was dispatched: never expires
  bool batchable = true;        // false: never shares a batch with another request
};

struct BatchDecision {
  enum class Kind {
    kIdle,      // queue empty: sleep until something is submitted
    kWait,      // sleep until `wait_until` (or a submit), then decide again
    kDispatch,  // run the first `num_requests` requests, `num_images` images
  };
  Kind kind = Kind::kIdle;
  // kDispatch: requests [0, num_requests) contribute all their remaining
  // images, except that a single split request contributes `num_images`
  // (< its remaining images). 1 <= num_images <= cap.
  int num_requests = 0;
  int num_images = 0;
  // kWait: the earliest of the delay expiry and any queued deadline.
  SteadyTime wait_until{};

  static BatchDecision Idle() { return {}; }
  static BatchDecision Wait(SteadyTime t) { return {Kind::kWait, 0, 0, t}; }
  static BatchDecision Dispatch(int requests, int images) {
    return {Kind::kDispatch, requests, images, {}};
  }
  friend bool operator==(const BatchDecision&, const BatchDecision&) = default;
};

// Indexes (ascending) of requests that are not started and whose deadline
// is <= now. The caller fails them with DeadlineExceeded and removes them
// before calling DecideBatch.
std::vector<std::size_t> ExpiredRequests(std::span<const PendingRequestView> queue,
                                         SteadyTime now);

// The decision for a free instance. Precondition: config.Validate() is OK
// and no request in `queue` is expired (see ExpiredRequests); every
// `images` >= 1.
BatchDecision DecideBatch(const BatcherConfig& config,
                          std::span<const PendingRequestView> queue, SteadyTime now);

}  // namespace clipserve::batching
