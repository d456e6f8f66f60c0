// config.pbtxt output and the mapping between Triton's model config and
// BatcherConfig.
#include <sstream>

#include "batching/triton_config.h"

namespace clipserve::batching {
namespace {

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

template <typename T>
std::string List(const std::vector<T>& values) {
  std::ostringstream out;
  out << "[ ";
  for (std::size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << " ]";
  return out.str();
}

void WriteTensors(std::ostringstream& out, const char* field,
                  const std::vector<TritonTensorConfig>& tensors) {
  if (tensors.empty()) return;
  out << "\n" << field << " [\n";
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TritonTensorConfig& t = tensors[i];
    out << "  {\n    name: " << Quote(t.name) << "\n    data_type: " << t.data_type << "\n";
    if (!t.format.empty()) out << "    format: " << t.format << "\n";
    out << "    dims: " << List(t.dims) << "\n";
    if (t.reshape) out << "    reshape: { shape: " << List(*t.reshape) << " }\n";
    out << "  }" << (i + 1 < tensors.size() ? "," : "") << "\n";
  }
  out << "]\n";
}

}  // namespace

std::string WriteTritonConfig(const TritonModelConfig& c) {
  std::ostringstream out;
  out << "name: " << Quote(c.name) << "\n";
  if (!c.platform.empty()) out << "platform: " << Quote(c.platform) << "\n";
  if (!c.backend.empty()) out << "backend: " << Quote(c.backend) << "\n";
  out << "max_batch_size: " << c.max_batch_size << "\n";
  WriteTensors(out, "input", c.inputs);
  WriteTensors(out, "output", c.outputs);
  if (c.dynamic_batching) {
    const TritonDynamicBatching& d = *c.dynamic_batching;
    out << "\ndynamic_batching {\n";
    if (!d.preferred_batch_size.empty()) {
      out << "  preferred_batch_size: " << List(d.preferred_batch_size) << "\n";
    }
    out << "  max_queue_delay_microseconds: " << d.max_queue_delay_microseconds << "\n";
    if (d.preserve_ordering) out << "  preserve_ordering: true\n";
    if (d.default_queue_policy) {
      const TritonQueuePolicy& p = *d.default_queue_policy;
      out << "  default_queue_policy {\n"
          << "    timeout_action: " << p.timeout_action << "\n"
          << "    default_timeout_microseconds: " << p.default_timeout_microseconds << "\n"
          << "    allow_timeout_override: " << (p.allow_timeout_override ? "true" : "false") << "\n"
          << "    max_queue_size: " << p.max_queue_size << "\n"
          << "  }\n";
    }
    out << "}\n";
  }
  if (!c.instance_groups.empty()) {
    out << "\ninstance_group [\n";
    for (std::size_t i = 0; i < c.instance_groups.size(); ++i) {
      const TritonInstanceGroup& g = c.instance_groups[i];
      out << "  {\n";
      if (!g.name.empty()) out << "    name: " << Quote(g.name) << "\n";
      out << "    count: " << g.count << "\n    kind: " << g.kind << "\n";
      if (!g.gpus.empty()) out << "    gpus: " << List(g.gpus) << "\n";
      out << "  }" << (i + 1 < c.instance_groups.size() ? "," : "") << "\n";
    }
    out << "]\n";
  }
  if (c.version_policy) {
    const TritonVersionPolicy& v = *c.version_policy;
    out << "\nversion_policy: { ";
    switch (v.kind) {
      case TritonVersionPolicy::Kind::kAll: out << "all { }"; break;
      case TritonVersionPolicy::Kind::kLatest:
        out << "latest { num_versions: " << v.latest_num_versions << " }";
        break;
      case TritonVersionPolicy::Kind::kSpecific:
        out << "specific { versions: " << List(v.versions) << " }";
        break;
    }
    out << " }\n";
  }
  return out.str();
}

StatusOr<BatcherConfig> ToBatcherConfig(const TritonModelConfig& c) {
  BatcherConfig b;
  // max_batch_size 0 means the model takes no batch dimension: one image per
  // execution, so nothing can be batched.
  b.max_batch_size = c.max_batch_size > 0 ? c.max_batch_size : 1;
  b.dynamic_batching = c.dynamic_batching.has_value() && c.max_batch_size > 0;
  b.instance_count = c.TotalInstanceCount();
  if (c.dynamic_batching) {
    const TritonDynamicBatching& d = *c.dynamic_batching;
    b.preferred_batch_sizes = d.preferred_batch_size;
    b.max_queue_delay = Microseconds(static_cast<Microseconds::rep>(d.max_queue_delay_microseconds));
    if (d.default_queue_policy) {
      const TritonQueuePolicy& p = *d.default_queue_policy;
      if (p.timeout_action != "REJECT") {
        return UnimplementedError("default_queue_policy.timeout_action " + p.timeout_action +
                                  " is not supported (only REJECT)");
      }
      b.max_queue_size = static_cast<int>(p.max_queue_size);
      b.default_queue_timeout =
          Microseconds(static_cast<Microseconds::rep>(p.default_timeout_microseconds));
      b.allow_timeout_override = p.allow_timeout_override;
    } else {
      b.allow_timeout_override = false;  // Triton's QueuePolicy default
    }
  }
  Status st = b.Validate();
  if (!st.ok()) return st.WithPrefix("model config " + c.name);
  return b;
}

void ApplyBatcherConfig(const BatcherConfig& b, std::string_view instance_kind,
                        TritonModelConfig* c) {
  c->max_batch_size = b.max_batch_size;
  if (b.dynamic_batching) {
    TritonDynamicBatching d = c->dynamic_batching.value_or(TritonDynamicBatching{});
    d.preferred_batch_size = b.preferred_batch_sizes;
    d.max_queue_delay_microseconds = static_cast<std::uint64_t>(b.max_queue_delay.count());
    if (b.max_queue_size > 0 || b.default_queue_timeout.count() > 0 || b.allow_timeout_override) {
      TritonQueuePolicy p;
      p.max_queue_size = b.max_queue_size;
      p.default_timeout_microseconds = static_cast<std::uint64_t>(b.default_queue_timeout.count());
      p.allow_timeout_override = b.allow_timeout_override;
      d.default_queue_policy = p;
    } else {
      d.default_queue_policy.reset();
    }
    c->dynamic_batching = d;
  } else {
    c->dynamic_batching.reset();
  }
  TritonInstanceGroup group;
  if (!c->instance_groups.empty()) group = c->instance_groups.front();
  group.count = b.instance_count;
  group.kind = std::string(instance_kind);
  c->instance_groups = {group};
}

}  // namespace clipserve::batching
