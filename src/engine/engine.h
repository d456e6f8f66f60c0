// The engine: a batch of preprocessed images in, L2-normalized embeddings out.
//
// This header is torch-free on purpose: the batcher and the server depend on
// it without pulling LibTorch headers. Implementations live behind
// CreateEngine() (torch_engine.cpp) or FakeEngine (tests).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "common/status.h"

namespace clipserve::engine {

// kAuto is a request only (EngineOptions); an engine always runs a resolved
// precision (EngineInfo::precision is never kAuto).
enum class Precision { kFp32, kBf16, kFp16, kAuto };
enum class DeviceKind { kCpu, kCuda };

std::string_view PrecisionName(Precision p);              // "fp32" | "bf16" | "fp16" | "auto"
StatusOr<Precision> ParsePrecision(std::string_view s);
std::string_view DeviceKindName(DeviceKind d);            // "cpu" | "cuda"
StatusOr<DeviceKind> ParseDeviceKind(std::string_view s);

// What `requested` means on `device` with this CPU:
//   auto -> fp16 on CUDA; on the CPU bf16 where it computes bf16 natively
//           (AVX512_BF16 or AMX), fp32 otherwise.
//   bf16 on a CPU without native bf16 -> FailedPrecondition naming the
//           missing feature and the alternative (emulated bf16 is slower
//           than fp32, so it is refused rather than silently slow).
//   fp16 on the CPU -> InvalidArgument.
// Pure: programs call it at start-up, before loading anything, so an
// unsupported precision fails there and never at the first request.
StatusOr<Precision> ResolvePrecision(Precision requested, DeviceKind device, const CpuFeatures& cpu);

// What a loaded engine is. Filled once at construction; immutable after.
struct EngineInfo {
  std::string model_name;      // "ViT-B-32", or the config file's stem
  std::string weights;         // path, or "random:SEED"
  int image_size = 224;        // input is [N, 3, image_size, image_size]
  int embed_dim = 512;         // output is [N, embed_dim]
  Precision requested_precision = Precision::kFp32;  // as asked (may be kAuto)
  Precision precision = Precision::kFp32;            // what runs (never kAuto)
  DeviceKind device = DeviceKind::kCpu;
  int device_index = 0;        // CUDA ordinal; 0 on CPU
  int threads = 1;             // intra-op threads (CPU)
  std::uint64_t weight_bytes = 0;  // bytes of parameters as held by the engine
  std::string cpu_isa;         // CpuFeatures::Describe(), e.g. "avx2+fma"
  std::string cpu_model;       // CPUID brand string
  // The compute path, e.g. "openblas sgemm, kernels avx2" or
  // "oneDNN jit:avx512_core_bf16, kernels avx512" or "aten cuda".
  std::string compute;
};

// Engine options shared by clip-embed and clip-server (filled from CLI flags).
struct EngineOptions {
  std::string model = "ViT-B-32";  // built-in config name
  std::string config_path;         // open_clip-style JSON config; overrides `model`
  std::string weights = "random:0";// file path or "random:SEED"
  bool quick_gelu = false;         // force QuickGELU (OpenAI weights)
  Precision precision = Precision::kAuto;  // resolved by ResolvePrecision
  DeviceKind device = DeviceKind::kCpu;
  int device_index = 0;
  int threads = 0;                 // 0 = all hardware threads
  // No model: the NullEngine (null_engine.h) with this config's sizes; no
  // weights are read and nothing is computed (`--engine null`).
  bool null_engine = false;
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual const EngineInfo& info() const = 0;

  // pixels: batch * 3 * S * S floats, RGB, channel-major (CHW per image),
  //         values in [0, 1]; CLIP mean/std normalization happens inside.
  // out:    batch * embed_dim floats; each row is L2-normalized.
  // Thread safety: one call at a time per Engine instance; callers that want
  // parallelism create several instances (see batching::InstancePool).
  virtual Status Embed(std::span<const float> pixels, int batch, std::span<float> out) = 0;
};

// Builds the LibTorch engine (weights loaded, ready to run). Defined in the
// clipserve_engine library (links LibTorch).
StatusOr<std::unique_ptr<Engine>> CreateEngine(const EngineOptions& options);

// Facts about the compute devices, for /gpu-info and benchmark context.
struct GpuFacts {
  int index = 0;
  std::string name;
  std::uint64_t memory_total_bytes = 0;
  std::uint64_t memory_free_bytes = 0;
};
struct DeviceFacts {
  bool cuda_available = false;
  std::string torch_version;
  std::vector<GpuFacts> gpus;
};
DeviceFacts QueryDeviceFacts();

}  // namespace clipserve::engine
