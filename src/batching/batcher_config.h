// BatcherConfig: the dynamic batcher's settings, with Triton's names and
// semantics (model_config.proto: max_batch_size, dynamic_batching {
// preferred_batch_size, max_queue_delay_microseconds, default_queue_policy },
// instance_group.count).
//
// A plain value type: copy it freely; Validate() once before use (the
// Batcher refuses an invalid one).
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace clipserve::batching {

struct BatcherConfig {
  // Largest number of IMAGES one engine call may receive (Triton counts the
  // batch dimension, i.e. images, not requests). >= 1.
  int max_batch_size = 32;

  // Batch sizes (images) the batcher tries to form exactly; empty = none (the
  // Triton default and advice). Each in [1, max_batch_size]; order and
  // duplicates do not matter (Validate() rejects duplicates to catch typos).
  // When non-empty, no batch is larger than the largest preferred size.
  std::vector<int> preferred_batch_sizes;

  // How long the oldest queued request may wait for a batch to fill before
  // whatever is queued is dispatched. 0 = never wait (dispatch what is
  // queued as soon as an instance is free), as in Triton.
  Microseconds max_queue_delay{0};

  // Most REQUESTS (not images) that may wait in the queue; a Submit beyond
  // it fails at once with ResourceExhausted. 0 = unbounded.
  int max_queue_size = 0;

  // Queue timeout applied to a request that gives none of its own; a request
  // still queued (no image of it started) at enqueue + timeout fails with
  // DeadlineExceeded. 0 = no timeout.
  Microseconds default_queue_timeout{0};

  // Whether a request may set its own queue timeout (Triton's
  // allow_timeout_override). When false, per-request timeouts are ignored.
  bool allow_timeout_override = true;

  // Off: every request runs alone (split into max_batch_size chunks if it is
  // larger), dispatched as soon as an instance is free; preferred sizes and
  // max_queue_delay are then ignored. On: requests are packed (Triton's
  // dynamic batching).
  bool dynamic_batching = true;

  // Number of engine instances (one worker thread each). >= 1. The Batcher
  // must be given exactly this many engines.
  int instance_count = 1;

  // OK, or InvalidArgument naming the first bad field and its value.
  Status Validate() const;

  // The cap on one batch's image count: the largest preferred size when
  // preferred sizes are set and dynamic batching is on, else max_batch_size.
  int MaxFormedBatchSize() const;

  // "max_batch_size=32 preferred=[4,8] max_queue_delay_us=10000 ..." for logs.
  std::string ToString() const;
};

}  // namespace clipserve::batching
