// clip-export: a Triton model repository that serves the same weights as
// clip-server (DESIGN §1, issue 10).
//
//   REPO/<model_name>/config.pbtxt
//   REPO/<model_name>/1/model.pt      (TorchScript, Triton's pytorch_libtorch)
//   REPO/<model_name>/1/model.onnx    (ONNX, Triton's onnxruntime_onnx)
//
// The exported model has the v2 personality's contract: input `image` FP32
// [N, 3, S, S], RGB in [0, 1] (CLIP mean/std folded into the patch
// embedding), output `embedding` FP32 [N, E], L2-normalized. fp16 exports
// compute in half precision inside but keep FP32 at the boundaries, so the
// config and the clients do not change.
//
// This header is torch-free; the writers live in torchscript_writer.h and
// onnx_writer.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "batching/triton_config.h"
#include "common/status.h"
#include "model/vit_config.h"

namespace clipserve::exporter {

enum class ExportFormat { kTorchScript, kOnnx };
enum class ExportPrecision { kFp32, kFp16 };
enum class TargetDevice { kCpu, kGpu };

StatusOr<ExportFormat> ParseExportFormat(std::string_view s);        // "torchscript" | "onnx"
StatusOr<ExportPrecision> ParseExportPrecision(std::string_view s);  // "fp32" | "fp16"
StatusOr<TargetDevice> ParseTargetDevice(std::string_view s);        // "cpu" | "gpu"
// "0,1,3" -> {0, 1, 3}; empty text -> {} (Triton: every visible GPU).
StatusOr<std::vector<int>> ParseGpuList(std::string_view s);

struct ExportOptions {
  // The model: as clip-server's --model / --config / --weights / --quick-gelu.
  std::string model = "ViT-B-32";
  std::string config_path;  // open_clip JSON; overrides `model`
  std::string weights;      // file or "random:SEED"
  bool quick_gelu = false;

  ExportFormat format = ExportFormat::kOnnx;
  ExportPrecision precision = ExportPrecision::kFp32;
  TargetDevice device = TargetDevice::kGpu;

  // config.pbtxt.
  std::string model_name = "openclip_vit_b32";
  int max_batch_size = 32;                 // images per execution; >= 1
  std::int64_t max_queue_delay_us = 0;     // dynamic_batching.max_queue_delay_microseconds
  std::vector<int> preferred_batch_sizes;  // empty: none written (Triton's advice)
  // Triton creates `instance_count` instances on EACH GPU in `gpus` (all
  // visible GPUs when empty); on CPU, `instance_count` instances in total.
  int instance_count = 1;
  std::vector<int> gpus;
  bool warmup = false;  // model_warmup: one random batch of 1 at load time

  std::string output_dir;  // the model repository (created if missing)
};

// Checks the option combinations (e.g. --gpus with --device cpu, fp16
// TorchScript for CPU) once, before anything is loaded.
Status ValidateExportOptions(const ExportOptions& options);

// The model config Triton gets, built through batching's BatcherConfig so
// clip-server reads it back with the same semantics.
StatusOr<batching::TritonModelConfig> BuildTritonConfig(const ExportOptions& options,
                                                        const model::VitConfig& vit);

// config.pbtxt text: WriteTritonConfig's output, plus a model_warmup block
// when options.warmup (the writer does not model warmup; ParseTritonConfig
// skips it into ignored_fields).
std::string RenderTritonConfig(const ExportOptions& options, const batching::TritonModelConfig& config,
                               const model::VitConfig& vit);

struct ExportResult {
  model::VitConfig vit;
  std::string model_dir;    // REPO/<model_name>
  std::string config_path;  // REPO/<model_name>/config.pbtxt
  std::string model_path;   // REPO/<model_name>/1/model.{pt,onnx}
  std::uint64_t model_file_bytes = 0;
};

// Loads the weights, writes the model file and config.pbtxt. Files are
// written to a temporary name and renamed, so a failed export leaves no
// half-written model behind.
StatusOr<ExportResult> ExportModelRepository(const ExportOptions& options);

}  // namespace clipserve::exporter
