#include "batching/batch_policy.h"

#include <algorithm>

namespace clipserve::batching {

std::vector<std::size_t> ExpiredRequests(std::span<const PendingRequestView> queue,
                                         SteadyTime now) {
  std::vector<std::size_t> expired;
  for (std::size_t i = 0; i < queue.size(); ++i) {
    if (!queue[i].started && queue[i].deadline <= now) expired.push_back(i);
  }
  return expired;
}

BatchDecision DecideBatch(const BatcherConfig& config,
                          std::span<const PendingRequestView> queue, SteadyTime now) {
  if (queue.empty()) return BatchDecision::Idle();
  const int cap = config.MaxFormedBatchSize();

  // An oversized head runs alone in cap-sized chunks: nothing can join it,
  // and waiting cannot make the chunk bigger.
  if (queue.front().images >= cap) return BatchDecision::Dispatch(1, cap);
  if (!config.dynamic_batching || !queue.front().batchable) {
    return BatchDecision::Dispatch(1, queue.front().images);
  }

  // Walk the longest prefix that fits in cap, remembering the largest prefix
  // whose size is a preferred one (sizes only grow, so the last hit wins).
  int images = 0;
  int requests = 0;
  int best_preferred_images = 0;
  int best_preferred_requests = 0;
  bool cannot_grow = false;
  for (const PendingRequestView& r : queue) {
    if (images + r.images > cap || !r.batchable) {
      cannot_grow = true;
      break;
    }
    images += r.images;
    ++requests;
    if (std::find(config.preferred_batch_sizes.begin(), config.preferred_batch_sizes.end(),
                  images) != config.preferred_batch_sizes.end()) {
      best_preferred_images = images;
      best_preferred_requests = requests;
    }
  }

  if (best_preferred_images > 0) {
    return BatchDecision::Dispatch(best_preferred_requests, best_preferred_images);
  }
  const SteadyTime oldest = queue.front().enqueue_time;
  const SteadyTime delay_expiry = oldest + config.max_queue_delay;
  if (cannot_grow || images >= cap || config.max_queue_delay.count() == 0 ||
      now >= delay_expiry) {
    return BatchDecision::Dispatch(requests, images);
  }

  // Wake for the delay expiry, or sooner for the earliest deadline so that
  // the caller rejects an expiring request on time rather than after the
  // batch leaves.
  SteadyTime wake = delay_expiry;
  for (const PendingRequestView& r : queue) {
    if (!r.started) wake = std::min(wake, r.deadline);
  }
  return BatchDecision::Wait(wake);
}

}  // namespace clipserve::batching
