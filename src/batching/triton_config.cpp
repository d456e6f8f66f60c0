// Maps the text-format tree (pbtxt.h) onto TritonModelConfig. Unknown fields
// inside the blocks we model are errors, so a typo such as
// `max_queue_delay_microsecond` is caught instead of silently ignored.
#include "batching/triton_config.h"

#include <charconv>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "batching/pbtxt.h"

namespace clipserve::batching {
namespace {

using pbtxt::Field;
using pbtxt::Message;
using pbtxt::Position;
using pbtxt::Scalar;

// Top-level fields of Triton's ModelConfig that clipserve does not model;
// they are skipped (and listed in ignored_fields) rather than rejected, so
// a real Triton config loads.
const std::set<std::string>& SkippedTopLevelFields() {
  static const std::set<std::string> fields = {
      "optimization", "parameters", "model_warmup", "sequence_batching",
      "ensemble_scheduling", "response_cache", "model_transaction_policy",
      "default_model_filename", "cc_model_filenames", "metric_tags",
      "model_operations", "model_repository_agents", "batch_input", "batch_output",
      "runtime", "version"};
  return fields;
}

class Mapper {
 public:
  explicit Mapper(std::string_view file) : file_(file) {}

  Status Error(Position pos, const std::string& message) const {
    return InvalidArgumentError(std::string(file_) + ":" + std::to_string(pos.line) + ":" +
                                std::to_string(pos.column) + ": " + message);
  }

  Status ExpectScalar(const Field& f) const {
    if (f.is_message) return Error(f.pos, "'" + f.name + "' takes a value, not a block");
    return Status::Ok();
  }
  Status ExpectMessage(const Field& f) const {
    if (!f.is_message) return Error(f.pos, "'" + f.name + "' takes a block { ... }");
    return Status::Ok();
  }

  StatusOr<std::string> String(const Field& f) const {
    RETURN_IF_ERROR(ExpectScalar(f));
    if (f.scalar.kind != Scalar::Kind::kString) {
      return Error(f.scalar.pos, "'" + f.name + "' must be a quoted string, got " + f.scalar.text);
    }
    return f.scalar.text;
  }

  StatusOr<std::string> Enum(const Field& f, const std::set<std::string>& allowed) const {
    RETURN_IF_ERROR(ExpectScalar(f));
    if (f.scalar.kind != Scalar::Kind::kIdentifier || !allowed.count(f.scalar.text)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return Error(f.scalar.pos, "'" + f.name + "' must be one of " + list + ", got " + f.scalar.text);
    }
    return f.scalar.text;
  }

  StatusOr<std::int64_t> Int(const Field& f, std::int64_t min, std::int64_t max) const {
    RETURN_IF_ERROR(ExpectScalar(f));
    const std::string& t = f.scalar.text;
    std::int64_t v = 0;
    const char* begin = t.data() + (t.size() > 1 && t[0] == '+' ? 1 : 0);
    auto [ptr, ec] = std::from_chars(begin, t.data() + t.size(), v);
    if (f.scalar.kind != Scalar::Kind::kNumber || ec != std::errc() || ptr != t.data() + t.size()) {
      return Error(f.scalar.pos, "'" + f.name + "' must be an integer, got " + t);
    }
    if (v < min || v > max) {
      return Error(f.scalar.pos, "'" + f.name + "' must be in [" + std::to_string(min) + ", " +
                                     std::to_string(max) + "], got " + t);
    }
    return v;
  }

  StatusOr<bool> Bool(const Field& f) const {
    RETURN_IF_ERROR(ExpectScalar(f));
    const std::string& t = f.scalar.text;
    if (t == "true" || t == "True" || t == "t" || t == "1") return true;
    if (t == "false" || t == "False" || t == "f" || t == "0") return false;
    return Error(f.scalar.pos, "'" + f.name + "' must be true or false, got " + t);
  }

  Status Unknown(const Field& f, std::string_view block) const {
    return Error(f.pos, "unknown field '" + f.name + "' in " + std::string(block));
  }

  // A singular field given twice is an error, as in protobuf text format.
  Status Once(const Field& f, std::set<std::string>* seen, std::string_view block) const {
    if (!seen->insert(f.name).second) {
      return Error(f.pos, "field '" + f.name + "' given twice in " + std::string(block));
    }
    return Status::Ok();
  }

  StatusOr<std::vector<std::int64_t>> ShapeBlock(const Field& f) const {
    RETURN_IF_ERROR(ExpectMessage(f));
    std::vector<std::int64_t> shape;
    for (const Field& g : f.message.fields) {
      if (g.name != "shape") return Unknown(g, f.name);
      ASSIGN_OR_RETURN(std::int64_t d, Int(g, -1, std::numeric_limits<std::int64_t>::max()));
      shape.push_back(d);
    }
    return shape;
  }

  StatusOr<TritonTensorConfig> Tensor(const Field& f) const {
    RETURN_IF_ERROR(ExpectMessage(f));
    TritonTensorConfig t;
    std::set<std::string> seen;
    for (const Field& g : f.message.fields) {
      if (g.name != "dims") RETURN_IF_ERROR(Once(g, &seen, f.name));
      if (g.name == "name") {
        ASSIGN_OR_RETURN(t.name, String(g));
      } else if (g.name == "data_type") {
        RETURN_IF_ERROR(ExpectScalar(g));
        if (g.scalar.kind != Scalar::Kind::kIdentifier || g.scalar.text.rfind("TYPE_", 0) != 0) {
          return Error(g.scalar.pos, "'data_type' must be TYPE_..., got " + g.scalar.text);
        }
        t.data_type = g.scalar.text;
      } else if (g.name == "dims") {
        ASSIGN_OR_RETURN(std::int64_t d, Int(g, -1, std::numeric_limits<std::int64_t>::max()));
        t.dims.push_back(d);
      } else if (g.name == "format") {
        RETURN_IF_ERROR(ExpectScalar(g));
        t.format = g.scalar.text;
      } else if (g.name == "reshape") {
        ASSIGN_OR_RETURN(t.reshape, ShapeBlock(g));
      } else if (g.name == "label_filename" || g.name == "is_shape_tensor" ||
                 g.name == "allow_ragged_batch" || g.name == "optional" ||
                 g.name == "is_non_linear_format_io") {
        RETURN_IF_ERROR(ExpectScalar(g));  // accepted, not modelled
      } else {
        return Unknown(g, f.name);
      }
    }
    if (t.name.empty()) return Error(f.pos, "'" + f.name + "' entry has no name");
    if (t.data_type.empty()) return Error(f.pos, "'" + f.name + "' \"" + t.name + "\" has no data_type");
    return t;
  }

  StatusOr<TritonQueuePolicy> QueuePolicy(const Field& f) const {
    RETURN_IF_ERROR(ExpectMessage(f));
    TritonQueuePolicy p;
    std::set<std::string> seen;
    for (const Field& g : f.message.fields) {
      RETURN_IF_ERROR(Once(g, &seen, f.name));
      if (g.name == "max_queue_size") {
        ASSIGN_OR_RETURN(p.max_queue_size, Int(g, 0, std::numeric_limits<std::int32_t>::max()));
      } else if (g.name == "default_timeout_microseconds") {
        ASSIGN_OR_RETURN(std::int64_t v, Int(g, 0, std::numeric_limits<std::int64_t>::max()));
        p.default_timeout_microseconds = static_cast<std::uint64_t>(v);
      } else if (g.name == "timeout_action") {
        ASSIGN_OR_RETURN(p.timeout_action, Enum(g, {"REJECT", "DELAY"}));
      } else if (g.name == "allow_timeout_override") {
        ASSIGN_OR_RETURN(p.allow_timeout_override, Bool(g));
      } else {
        return Unknown(g, f.name);
      }
    }
    return p;
  }

  StatusOr<TritonDynamicBatching> DynamicBatching(const Field& f) const {
    RETURN_IF_ERROR(ExpectMessage(f));
    TritonDynamicBatching d;
    std::set<std::string> seen;
    for (const Field& g : f.message.fields) {
      if (g.name != "preferred_batch_size") RETURN_IF_ERROR(Once(g, &seen, f.name));
      if (g.name == "preferred_batch_size") {
        ASSIGN_OR_RETURN(std::int64_t v, Int(g, 1, std::numeric_limits<std::int32_t>::max()));
        d.preferred_batch_size.push_back(static_cast<int>(v));
      } else if (g.name == "max_queue_delay_microseconds") {
        ASSIGN_OR_RETURN(std::int64_t v, Int(g, 0, std::numeric_limits<std::int64_t>::max()));
        d.max_queue_delay_microseconds = static_cast<std::uint64_t>(v);
      } else if (g.name == "preserve_ordering") {
        ASSIGN_OR_RETURN(d.preserve_ordering, Bool(g));
      } else if (g.name == "default_queue_policy") {
        ASSIGN_OR_RETURN(d.default_queue_policy, QueuePolicy(g));
      } else if (g.name == "priority_levels" || g.name == "default_priority_level") {
        ASSIGN_OR_RETURN(std::int64_t v, Int(g, 0, std::numeric_limits<std::int32_t>::max()));
        if (v > 1) return Error(g.scalar.pos, "'" + g.name + "' > 1 is not supported (one queue)");
      } else if (g.name == "priority_queue_policy") {
        return Error(g.pos, "'priority_queue_policy' is not supported (one queue)");
      } else {
        return Unknown(g, f.name);
      }
    }
    return d;
  }

  StatusOr<TritonInstanceGroup> InstanceGroup(const Field& f) const {
    RETURN_IF_ERROR(ExpectMessage(f));
    TritonInstanceGroup group;
    std::set<std::string> seen;
    for (const Field& g : f.message.fields) {
      if (g.name != "gpus") RETURN_IF_ERROR(Once(g, &seen, f.name));
      if (g.name == "name") {
        ASSIGN_OR_RETURN(group.name, String(g));
      } else if (g.name == "count") {
        ASSIGN_OR_RETURN(std::int64_t v, Int(g, 1, 1024));
        group.count = static_cast<int>(v);
      } else if (g.name == "kind") {
        ASSIGN_OR_RETURN(group.kind, Enum(g, {"KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"}));
      } else if (g.name == "gpus") {
        ASSIGN_OR_RETURN(std::int64_t v, Int(g, 0, 1024));
        group.gpus.push_back(static_cast<int>(v));
      } else if (g.name == "profile" || g.name == "passive" || g.name == "host_policy" ||
                 g.name == "rate_limiter" || g.name == "secondary_devices") {
        // accepted, not modelled
      } else {
        return Unknown(g, f.name);
      }
    }
    return group;
  }

  StatusOr<TritonVersionPolicy> VersionPolicy(const Field& f) const {
    RETURN_IF_ERROR(ExpectMessage(f));
    if (f.message.fields.size() != 1) {
      return Error(f.pos, "'version_policy' needs exactly one of latest, all, specific");
    }
    const Field& g = f.message.fields[0];
    RETURN_IF_ERROR(ExpectMessage(g));
    TritonVersionPolicy p;
    if (g.name == "all") {
      p.kind = TritonVersionPolicy::Kind::kAll;
      if (!g.message.fields.empty()) return Unknown(g.message.fields[0], "all");
    } else if (g.name == "latest") {
      p.kind = TritonVersionPolicy::Kind::kLatest;
      for (const Field& h : g.message.fields) {
        if (h.name != "num_versions") return Unknown(h, "latest");
        ASSIGN_OR_RETURN(std::int64_t v, Int(h, 1, 1 << 20));
        p.latest_num_versions = static_cast<int>(v);
      }
    } else if (g.name == "specific") {
      p.kind = TritonVersionPolicy::Kind::kSpecific;
      for (const Field& h : g.message.fields) {
        if (h.name != "versions") return Unknown(h, "specific");
        ASSIGN_OR_RETURN(std::int64_t v, Int(h, 0, std::numeric_limits<std::int64_t>::max()));
        p.versions.push_back(v);
      }
    } else {
      return Unknown(g, "version_policy");
    }
    return p;
  }

  StatusOr<TritonModelConfig> Model(const Message& root) const {
    TritonModelConfig c;
    std::set<std::string> seen;
    for (const Field& f : root.fields) {
      const bool repeated = f.name == "input" || f.name == "output" || f.name == "instance_group";
      if (!repeated && !SkippedTopLevelFields().count(f.name)) RETURN_IF_ERROR(Once(f, &seen, "the model config"));
      if (f.name == "name") {
        ASSIGN_OR_RETURN(c.name, String(f));
      } else if (f.name == "platform") {
        ASSIGN_OR_RETURN(c.platform, String(f));
      } else if (f.name == "backend") {
        ASSIGN_OR_RETURN(c.backend, String(f));
      } else if (f.name == "max_batch_size") {
        ASSIGN_OR_RETURN(std::int64_t v, Int(f, 0, std::numeric_limits<std::int32_t>::max()));
        c.max_batch_size = static_cast<int>(v);
      } else if (f.name == "input") {
        ASSIGN_OR_RETURN(TritonTensorConfig t, Tensor(f));
        c.inputs.push_back(std::move(t));
      } else if (f.name == "output") {
        ASSIGN_OR_RETURN(TritonTensorConfig t, Tensor(f));
        c.outputs.push_back(std::move(t));
      } else if (f.name == "dynamic_batching") {
        ASSIGN_OR_RETURN(c.dynamic_batching, DynamicBatching(f));
      } else if (f.name == "instance_group") {
        ASSIGN_OR_RETURN(TritonInstanceGroup g, InstanceGroup(f));
        c.instance_groups.push_back(std::move(g));
      } else if (f.name == "version_policy") {
        ASSIGN_OR_RETURN(c.version_policy, VersionPolicy(f));
      } else if (SkippedTopLevelFields().count(f.name)) {
        c.ignored_fields.push_back(f.name);
      } else {
        return Unknown(f, "the model config");
      }
    }
    return c;
  }

 private:
  std::string_view file_;
};

}  // namespace

int TritonModelConfig::TotalInstanceCount() const {
  if (instance_groups.empty()) return 1;
  int total = 0;
  for (const auto& g : instance_groups) total += g.count;
  return total;
}

StatusOr<TritonModelConfig> ParseTritonConfig(std::string_view text, std::string_view file_name) {
  ASSIGN_OR_RETURN(pbtxt::Message root, pbtxt::Parse(text, file_name));
  return Mapper(file_name).Model(root);
}

StatusOr<TritonModelConfig> LoadTritonConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read model config " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return NotFoundError("error reading model config " + path);
  return ParseTritonConfig(text.str(), path);
}

}  // namespace clipserve::batching
