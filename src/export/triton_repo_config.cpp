// The torch-free half of clip-export: flag parsing and config.pbtxt.
#include <charconv>
#include <sstream>

#include "batching/batcher_config.h"
#include "export/export.h"

namespace clipserve::exporter {

StatusOr<ExportFormat> ParseExportFormat(std::string_view s) {
  if (s == "torchscript") return ExportFormat::kTorchScript;
  if (s == "onnx") return ExportFormat::kOnnx;
  return InvalidArgumentError("--format must be torchscript or onnx, got '" + std::string(s) + "'");
}

StatusOr<ExportPrecision> ParseExportPrecision(std::string_view s) {
  if (s == "fp32") return ExportPrecision::kFp32;
  if (s == "fp16") return ExportPrecision::kFp16;
  return InvalidArgumentError("--precision must be fp32 or fp16, got '" + std::string(s) + "'");
}

StatusOr<TargetDevice> ParseTargetDevice(std::string_view s) {
  if (s == "cpu") return TargetDevice::kCpu;
  if (s == "gpu" || s == "cuda") return TargetDevice::kGpu;
  return InvalidArgumentError("--device must be cpu or gpu, got '" + std::string(s) + "'");
}

StatusOr<std::vector<int>> ParseGpuList(std::string_view s) {
  std::vector<int> gpus;
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    const std::string_view item = s.substr(0, comma);
    int value = -1;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || value < 0) {
      return InvalidArgumentError("--gpus: '" + std::string(item) + "' is not a GPU index (e.g. --gpus 0,1)");
    }
    for (int g : gpus) {
      if (g == value) return InvalidArgumentError("--gpus: GPU " + std::to_string(value) + " is listed twice");
    }
    gpus.push_back(value);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
    if (s.empty()) return InvalidArgumentError("--gpus: trailing comma");
  }
  return gpus;
}

Status ValidateExportOptions(const ExportOptions& o) {
  if (o.weights.empty()) return InvalidArgumentError("--weights is required (a file, or random:SEED)");
  if (o.output_dir.empty()) return InvalidArgumentError("--output is required");
  if (o.model_name.empty() || o.model_name.find('/') != std::string::npos || o.model_name == "." ||
      o.model_name == "..") {
    return InvalidArgumentError("--model-name must be a plain directory name, got '" + o.model_name + "'");
  }
  if (o.device == TargetDevice::kCpu && !o.gpus.empty()) {
    return InvalidArgumentError("--gpus only applies to --device gpu");
  }
  // LibTorch's CPU kernels lack half precision for layer_norm/addmm in 1.13,
  // so such a model would load in Triton and fail on the first request.
  if (o.device == TargetDevice::kCpu && o.precision == ExportPrecision::kFp16 &&
      o.format == ExportFormat::kTorchScript) {
    return InvalidArgumentError("--precision fp16 with --format torchscript needs --device gpu");
  }
  return {};
}

StatusOr<batching::TritonModelConfig> BuildTritonConfig(const ExportOptions& o, const model::VitConfig& vit) {
  batching::BatcherConfig b;
  b.max_batch_size = o.max_batch_size;
  b.preferred_batch_sizes = o.preferred_batch_sizes;
  b.max_queue_delay = Microseconds(o.max_queue_delay_us);
  b.dynamic_batching = true;
  b.instance_count = o.instance_count;
  // Triton's QueuePolicy default; without it ApplyBatcherConfig would write
  // a default_queue_policy block for clipserve's own default (true).
  b.allow_timeout_override = false;
  if (Status st = b.Validate(); !st.ok()) return st;

  batching::TritonModelConfig c;
  c.name = o.model_name;
  c.platform = o.format == ExportFormat::kOnnx ? "onnxruntime_onnx" : "pytorch_libtorch";
  const std::int64_t s = vit.image_size;
  c.inputs = {{"image", "TYPE_FP32", {3, s, s}, "", std::nullopt}};
  c.outputs = {{"embedding", "TYPE_FP32", {vit.embed_dim}, "", std::nullopt}};
  batching::ApplyBatcherConfig(b, o.device == TargetDevice::kCpu ? "KIND_CPU" : "KIND_GPU", &c);
  // instance_group.count is per listed GPU (Triton's semantics): one group
  // with `gpus: [0, 1, 2, 3]` and count 1 is one instance on each GPU.
  c.instance_groups.front().gpus = o.gpus;
  batching::TritonVersionPolicy policy;
  policy.kind = batching::TritonVersionPolicy::Kind::kSpecific;
  policy.versions = {1};
  c.version_policy = policy;
  return c;
}

std::string RenderTritonConfig(const ExportOptions& o, const batching::TritonModelConfig& c,
                               const model::VitConfig& vit) {
  std::ostringstream out;
  out << "# Written by clip-export (" << vit.name << ", "
      << (o.format == ExportFormat::kOnnx ? "ONNX" : "TorchScript") << ", "
      << (o.precision == ExportPrecision::kFp16 ? "fp16 inside, FP32 I/O" : "fp32") << ").\n"
      << "# input `image`: RGB in [0, 1], CLIP mean/std inside the model; output `embedding`: L2-normalized.\n";
  if (c.instance_groups.front().kind == "KIND_GPU") {
    out << "# instance_group.count is per GPU: Triton creates `count` instances on each GPU listed\n"
        << "# (on every visible GPU when `gpus` is absent).\n";
  }
  out << batching::WriteTritonConfig(c);
  if (o.warmup) {
    const int s = vit.image_size;
    out << "\nmodel_warmup [\n"
        << "  {\n"
        << "    name: \"random_image\"\n"
        << "    batch_size: 1\n"
        << "    inputs {\n"
        << "      key: \"image\"\n"
        << "      value: { data_type: TYPE_FP32 dims: [ 3, " << s << ", " << s << " ] random_data: true }\n"
        << "    }\n"
        << "  }\n"
        << "]\n";
  }
  return out.str();
}

}  // namespace clipserve::exporter
