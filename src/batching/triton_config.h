// Triton model configuration (config.pbtxt): the subset clipserve reads and
// writes, parsed from protobuf text format without libprotobuf.
//
// Understood (field names as in Triton's model_config.proto):
//   name, platform, backend, max_batch_size,
//   input [ { name data_type dims format reshape{..} ... } ],
//   output [ { name data_type dims label_filename ... } ],
//   dynamic_batching { preferred_batch_size max_queue_delay_microseconds
//     preserve_ordering priority_levels default_priority_level
//     default_queue_policy { max_queue_size default_timeout_microseconds
//       timeout_action allow_timeout_override } },
//   instance_group [ { name count kind gpus } ],
//   version_policy { latest { num_versions } | all {} | specific { versions } }.
// Skipped whole (balanced braces, any content), their names listed in
// TritonModelConfig::ignored_fields: Triton ModelConfig fields clipserve does
// not model (optimization, parameters, model_warmup, sequence_batching,
// ensemble_scheduling, response_cache, model_transaction_policy, ...).
// Any other field, at top level or inside a known block, is an error
// (catches typos such as `max_queue_delay_microsecond`).
//
// Syntax accepted: `#` comments, `field: value`, `field { ... }`,
// `field: { ... }`, `field [ v, v ]` / `field: [ {..}, {..} ]`, repeated
// scalar fields written several times, separators `,`/`;` optional, strings
// in "..." or '...' with C escapes, enums as bare identifiers.
//
// Errors are InvalidArgument "config.pbtxt:LINE:COL: message" (the file
// name is the one passed in, or "config.pbtxt").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "batching/batcher_config.h"
#include "common/status.h"

namespace clipserve::batching {

struct TritonTensorConfig {
  std::string name;
  std::string data_type;          // "TYPE_FP32", "TYPE_STRING", ... as written
  std::vector<std::int64_t> dims; // without the batch dimension; -1 = variable
  std::string format;             // "FORMAT_NCHW" etc.; empty when absent
  std::optional<std::vector<std::int64_t>> reshape;  // reshape { shape: [...] }
};

struct TritonQueuePolicy {
  std::int64_t max_queue_size = 0;                // requests; 0 = unbounded
  std::uint64_t default_timeout_microseconds = 0; // 0 = none
  std::string timeout_action = "REJECT";          // "REJECT" | "DELAY"
  bool allow_timeout_override = false;            // Triton's default
};

struct TritonDynamicBatching {
  std::vector<int> preferred_batch_size;
  std::uint64_t max_queue_delay_microseconds = 0;
  bool preserve_ordering = false;
  std::optional<TritonQueuePolicy> default_queue_policy;
};

struct TritonInstanceGroup {
  std::string name;
  int count = 1;
  std::string kind = "KIND_AUTO";  // KIND_AUTO | KIND_GPU | KIND_CPU | KIND_MODEL
  std::vector<int> gpus;           // empty = all visible GPUs (Triton)
};

struct TritonVersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int latest_num_versions = 1;        // for kLatest
  std::vector<std::int64_t> versions; // for kSpecific
};

struct TritonModelConfig {
  std::string name;
  std::string platform;  // e.g. "onnxruntime_onnx"; empty when absent
  std::string backend;   // e.g. "pytorch"; empty when absent
  int max_batch_size = 0;  // 0 = model does not batch (Triton)
  std::vector<TritonTensorConfig> inputs;
  std::vector<TritonTensorConfig> outputs;
  std::optional<TritonDynamicBatching> dynamic_batching;  // absent = off
  std::vector<TritonInstanceGroup> instance_groups;
  std::optional<TritonVersionPolicy> version_policy;
  std::vector<std::string> ignored_fields;  // skipped top-level fields, in order

  // Number of engine instances: sum of instance_group counts (1 if none).
  int TotalInstanceCount() const;
};

// Parses config.pbtxt text. `file_name` only labels error messages.
StatusOr<TritonModelConfig> ParseTritonConfig(std::string_view text,
                                              std::string_view file_name = "config.pbtxt");

// Reads and parses a file (NotFound if it cannot be read).
StatusOr<TritonModelConfig> LoadTritonConfigFile(const std::string& path);

// Renders config.pbtxt text that ParseTritonConfig reads back into an equal
// struct (ignored_fields are not written). Deterministic; fields in Triton's
// conventional order; absent optionals are omitted.
std::string WriteTritonConfig(const TritonModelConfig& config);

// The batcher settings a Triton config implies:
//   max_batch_size (0 -> 1, dynamic batching off), dynamic_batching present ->
//   on, preferred sizes, max_queue_delay, default_queue_policy
//   (max_queue_size, default timeout, allow_timeout_override), instance count.
// `timeout_action: DELAY` is Unimplemented (clipserve only rejects).
// The result is validated.
StatusOr<BatcherConfig> ToBatcherConfig(const TritonModelConfig& config);

// The reverse, for the export tool: fills the batching-related fields of
// `config` (max_batch_size, dynamic_batching, instance_groups' total count
// kept in one group of `instance_kind`) from `batcher`.
void ApplyBatcherConfig(const BatcherConfig& batcher, std::string_view instance_kind,
                        TritonModelConfig* config);

}  // namespace clipserve::batching
