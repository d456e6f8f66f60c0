#include "batching/batcher_config.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace clipserve::batching {

Status BatcherConfig::Validate() const {
  if (max_batch_size < 1) {
    return InvalidArgumentError("max_batch_size must be >= 1, got " + std::to_string(max_batch_size));
  }
  std::set<int> seen;
  for (int size : preferred_batch_sizes) {
    if (size < 1 || size > max_batch_size) {
      return InvalidArgumentError("preferred_batch_size " + std::to_string(size) +
                                  " must be in [1, max_batch_size=" +
                                  std::to_string(max_batch_size) + "]");
    }
    if (!seen.insert(size).second) {
      return InvalidArgumentError("preferred_batch_size " + std::to_string(size) +
                                  " is listed twice");
    }
  }
  if (max_queue_delay.count() < 0) {
    return InvalidArgumentError("max_queue_delay must be >= 0 us, got " +
                                std::to_string(max_queue_delay.count()));
  }
  if (max_queue_size < 0) {
    return InvalidArgumentError("max_queue_size must be >= 0 (0 = unbounded), got " +
                                std::to_string(max_queue_size));
  }
  if (default_queue_timeout.count() < 0) {
    return InvalidArgumentError("default_queue_timeout must be >= 0 us (0 = none), got " +
                                std::to_string(default_queue_timeout.count()));
  }
  if (instance_count < 1) {
    return InvalidArgumentError("instance_count must be >= 1, got " + std::to_string(instance_count));
  }
  return Status::Ok();
}

int BatcherConfig::MaxFormedBatchSize() const {
  if (dynamic_batching && !preferred_batch_sizes.empty()) {
    return *std::max_element(preferred_batch_sizes.begin(), preferred_batch_sizes.end());
  }
  return max_batch_size;
}

std::string BatcherConfig::ToString() const {
  std::ostringstream out;
  out << "max_batch_size=" << max_batch_size << " preferred=[";
  for (std::size_t i = 0; i < preferred_batch_sizes.size(); ++i) {
    out << (i ? "," : "") << preferred_batch_sizes[i];
  }
  out << "] max_queue_delay_us=" << max_queue_delay.count()
      << " max_queue_size=" << max_queue_size
      << " default_queue_timeout_us=" << default_queue_timeout.count()
      << " allow_timeout_override=" << (allow_timeout_override ? "true" : "false")
      << " dynamic_batching=" << (dynamic_batching ? "on" : "off")
      << " instance_count=" << instance_count;
  return out.str();
}

}  // namespace clipserve::batching
