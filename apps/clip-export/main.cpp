// clip-export: a Triton model repository serving clip-server's weights.
//
//   clip-export --weights FILE|random:SEED [--model NAME | --config JSON] [--quick-gelu]
//               --format torchscript|onnx [--precision fp32|fp16] [--device cpu|gpu]
//               [--max-batch-size 32] [--max-queue-delay-us N] [--preferred-batch-size L]
//               [--instance-count N] [--gpus 0,1] [--warmup] [--model-name NAME]
//               --output REPO_DIR
//
// Writes REPO_DIR/<model-name>/{config.pbtxt, 1/model.pt | 1/model.onnx}.
// Stdout stays empty; the summary (paths, seconds, peak RSS) goes to stderr.
// Exit status: 0 on success, 1 on failure, 2 on bad flags.
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "export/export.h"

namespace {

namespace ex = clipserve::exporter;

struct Flags {
  ex::ExportOptions options;
  std::string format;
  std::string precision = "fp32";
  std::string device = "gpu";
  std::string gpus;
};

void AddFlags(CLI::App& app, Flags& f) {
  ex::ExportOptions& o = f.options;
  app.add_option("--weights", o.weights,
                 "Weights: .safetensors (open_clip or Hugging Face), torch.save .bin/.pt, or random:SEED")
      ->required();
  app.add_option("--model", o.model, "Built-in ViT config name (default ViT-B-32; test-tiny for tests)");
  app.add_option("--config", o.config_path, "open_clip model JSON (or Hugging Face CLIP config.json); overrides --model");
  app.add_flag("--quick-gelu", o.quick_gelu, "Use QuickGELU (OpenAI-trained weights) (default: from the config)");
  app.add_option("--format", f.format, "torchscript (Triton pytorch_libtorch) | onnx (Triton onnxruntime_onnx)")
      ->required()
      ->check(CLI::IsMember({"torchscript", "onnx"}));
  app.add_option("--precision", f.precision, "fp32 | fp16 (fp16 inside, FP32 input/output) (default fp32)")
      ->check(CLI::IsMember({"fp32", "fp16"}));
  app.add_option("--device", f.device, "Instances on: gpu (KIND_GPU) | cpu (KIND_CPU) (default gpu)")
      ->check(CLI::IsMember({"cpu", "gpu", "cuda"}));
  app.add_option("--max-batch-size", o.max_batch_size, "max_batch_size, images (default 32)")->check(CLI::Range(1, 4096));
  app.add_option("--max-queue-delay-us", o.max_queue_delay_us,
                 "dynamic_batching.max_queue_delay_microseconds (default 0, as Triton and clip-server)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--preferred-batch-size", o.preferred_batch_sizes,
                 "dynamic_batching.preferred_batch_size, e.g. 8,16 (default none: Triton advises against it "
                 "for most models)")
      ->delimiter(',');
  app.add_option("--instance-count", o.instance_count,
                 "instance_group.count: instances PER GPU listed in --gpus (or in total on CPU) (default 1)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--gpus", f.gpus,
                 "instance_group.gpus, e.g. 0,1,2,3 (default: all visible GPUs). --gpus 0,1,2,3 "
                 "--instance-count 1 is one instance on each of four GPUs");
  app.add_flag("--warmup", o.warmup, "Add a model_warmup entry (one random image at load time)");
  app.add_option("--model-name", o.model_name, "Model directory and config name (default openclip_vit_b32)");
  app.add_option("--output,-o", o.output_dir, "Model repository directory (created if missing)")->required();
}

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

int Fail(const clipserve::Status& st, int rc) {
  std::fprintf(stderr, "clip-export: %s\n", st.message().c_str());
  return rc;
}

// Bad flag values and combinations are usage errors (exit 2).
clipserve::Status Finish(Flags& f) {
  ex::ExportOptions& o = f.options;
  ASSIGN_OR_RETURN(o.format, ex::ParseExportFormat(f.format));
  ASSIGN_OR_RETURN(o.precision, ex::ParseExportPrecision(f.precision));
  ASSIGN_OR_RETURN(o.device, ex::ParseTargetDevice(f.device));
  ASSIGN_OR_RETURN(o.gpus, ex::ParseGpuList(f.gpus));
  return ex::ValidateExportOptions(o);
}

int Run(Flags& f) {
  const ex::ExportOptions& o = f.options;

  const auto start = std::chrono::steady_clock::now();
  auto result = ex::ExportModelRepository(o);
  if (!result.ok()) return Fail(result.status(), 1);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "clip-export: wrote %s (%.1f MiB) and %s\n", result->model_path.c_str(),
               static_cast<double>(result->model_file_bytes) / (1024.0 * 1024.0), result->config_path.c_str());
  std::fprintf(stderr, "clip-export: %s, input image [-1,3,%d,%d] -> embedding [-1,%d]; %.2f s, peak RSS %.0f MiB\n",
               result->vit.name.c_str(), result->vit.image_size, result->vit.image_size, result->vit.embed_dim,
               seconds, PeakRssMiB());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"clip-export: write a Triton model repository (TorchScript or ONNX + config.pbtxt) "
               "that serves the same weights as clip-server"};
  Flags flags;
  AddFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help or the error
    return rc == 0 ? 0 : 2;
  }
  if (clipserve::Status st = Finish(flags); !st.ok()) return Fail(st, 2);
  try {
    return Run(flags);
  } catch (const std::exception& e) {  // last resort: a third-party exception
    std::fprintf(stderr, "clip-export: internal error: %s\n", e.what());
    return 1;
  }
}
