// The LibTorch engine: CreateEngine() and QueryDeviceFacts().
#include <torch/torch.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <filesystem>
#include <thread>
#include <utility>

#include "engine/engine.h"
#include "engine/null_engine.h"
#include "engine/torch_threads.h"
#include "model/vit.h"
#include "model/vit_config.h"
#include "model/weights.h"

#if __has_include(<cuda_runtime_api.h>)
#include <cuda_runtime_api.h>
#define CLIPSERVE_CUDA_HEADERS 1
#else
#define CLIPSERVE_CUDA_HEADERS 0
#endif

namespace clipserve::engine {
namespace {

torch::ScalarType ToScalarType(Precision p) {
  switch (p) {
    case Precision::kFp32: return torch::kFloat;
    case Precision::kBf16: return torch::kBFloat16;
    case Precision::kFp16: return torch::kHalf;
    case Precision::kAuto: break;  // resolved before (ResolvePrecision)
  }
  return torch::kFloat;
}

class TorchEngine final : public Engine {
 public:
  TorchEngine(EngineInfo info, std::unique_ptr<model::VitModel> vit) : info_(std::move(info)), vit_(std::move(vit)) {}

  const EngineInfo& info() const override { return info_; }

  Status Embed(std::span<const float> pixels, int batch, std::span<float> out) override {
    const int64_t S = info_.image_size, E = info_.embed_dim;
    if (batch <= 0) return InvalidArgumentError("batch must be positive, got " + std::to_string(batch));
    const uint64_t want_in = uint64_t(batch) * 3 * S * S, want_out = uint64_t(batch) * E;
    if (pixels.size() != want_in) {
      return InvalidArgumentError("pixels hold " + std::to_string(pixels.size()) + " floats; batch " +
                                  std::to_string(batch) + " of [3," + std::to_string(S) + "," +
                                  std::to_string(S) + "] needs " + std::to_string(want_in));
    }
    if (out.size() != want_out) {
      return InvalidArgumentError("output holds " + std::to_string(out.size()) + " floats; batch " +
                                  std::to_string(batch) + " x embed_dim " + std::to_string(E) + " needs " +
                                  std::to_string(want_out));
    }
    try {
      if (info_.device == DeviceKind::kCpu) UseIntraOpThreads(info_.threads);
      // from_blob does not copy; the model only reads its input.
      torch::Tensor in = torch::from_blob(const_cast<float*>(pixels.data()), {batch, 3, S, S}, torch::kFloat);
      torch::Tensor emb = vit_->Forward(in);
      TORCH_CHECK(emb.scalar_type() == torch::kFloat && emb.is_contiguous() &&
                      emb.numel() == static_cast<int64_t>(want_out),
                  "forward returned an unexpected tensor");
      std::copy_n(emb.data_ptr<float>(), want_out, out.data());
      return Status::Ok();
    } catch (const c10::Error& e) {
      return InternalError(std::string("forward failed: ") + e.what_without_backtrace());
    } catch (const std::exception& e) {
      return InternalError(std::string("forward failed: ") + e.what());
    }
  }

 private:
  EngineInfo info_;
  std::unique_ptr<model::VitModel> vit_;
};

}  // namespace

StatusOr<std::unique_ptr<Engine>> CreateEngine(const EngineOptions& options) {
  if (options.threads < 0) return InvalidArgumentError("threads must be >= 0 (0 = all hardware threads)");
  ASSIGN_OR_RETURN(model::VitConfig cfg,
                   model::ResolveVitConfig(options.model, options.config_path, options.quick_gelu));

  const CpuFeatures& cpu = HostCpuFeatures();
  ASSIGN_OR_RETURN(const Precision precision, ResolvePrecision(options.precision, options.device, cpu));
  model::VitOptions vo;
  vo.dtype = ToScalarType(precision);
  if (options.device == DeviceKind::kCuda) {
    if (!torch::cuda::is_available()) {
      return FailedPreconditionError("--device cuda: this LibTorch build has no usable CUDA device");
    }
    if (options.device_index < 0 || options.device_index >= static_cast<int>(torch::cuda::device_count())) {
      return InvalidArgumentError("CUDA device index " + std::to_string(options.device_index) + " out of range (" +
                                  std::to_string(torch::cuda::device_count()) + " devices)");
    }
    vo.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(options.device_index));
  }

  EngineInfo info;
  info.model_name = cfg.name;
  info.weights = options.weights;
  info.image_size = cfg.image_size;
  info.embed_dim = cfg.embed_dim;
  info.requested_precision = options.precision;
  info.precision = precision;
  info.cpu_isa = cpu.Describe();
  info.cpu_model = cpu.model_name;
  info.device = options.device;
  info.device_index = options.device == DeviceKind::kCuda ? options.device_index : 0;
  info.threads = options.threads > 0 ? options.threads
                                     : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

  if (options.null_engine) return std::unique_ptr<Engine>(new NullEngine(std::move(info)));

  // Conversion and pre-packing run on the creating thread: give it the same
  // thread count the forward will use.
  if (info.device == DeviceKind::kCpu) UseIntraOpThreads(info.threads);
  ASSIGN_OR_RETURN(model::WeightMap weights, model::LoadWeights(options.weights, cfg));
  ASSIGN_OR_RETURN(std::unique_ptr<model::VitModel> vit, model::VitModel::Create(cfg, std::move(weights), vo));
  info.weight_bytes = vit->weight_bytes();
  info.compute = vit->compute_description();
  return std::unique_ptr<Engine>(new TorchEngine(std::move(info), std::move(vit)));
}

DeviceFacts QueryDeviceFacts() {
  DeviceFacts facts;
  facts.torch_version = TORCH_VERSION;
  facts.cuda_available = torch::cuda::is_available();
#if CLIPSERVE_CUDA_HEADERS
  if (facts.cuda_available) {
    const int n = static_cast<int>(torch::cuda::device_count());
    for (int i = 0; i < n; ++i) {
      GpuFacts g;
      g.index = i;
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, i) == cudaSuccess) g.name = prop.name;
      size_t free_b = 0, total_b = 0;
      int prev = 0;
      if (cudaGetDevice(&prev) == cudaSuccess && cudaSetDevice(i) == cudaSuccess &&
          cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
        g.memory_total_bytes = total_b;
        g.memory_free_bytes = free_b;
      }
      (void)cudaSetDevice(prev);
      facts.gpus.push_back(std::move(g));
    }
  }
#endif
  return facts;
}

}  // namespace clipserve::engine
