// The OpenCLIP vision tower forward (DESIGN §2), written in LibTorch C++.
//
// A VitModel is built once from a config and a canonical WeightMap; the
// weights are converted (and, on the oneDNN path, pre-packed) into the
// compute dtype at construction, never per call.
//
// Math, exactly open_clip's: CLIP mean/std normalization (folded into conv1:
// w' = w / std[c], bias = -sum(w * mean / std), exact because conv1 has
// stride == kernel == patch and no padding), patch embedding, class token,
// positional embedding, ln_pre, `layers` pre-LN residual blocks
// (multi-head attention with in_proj q,k,v, scale 1/sqrt(head_width);
// MLP c_fc -> GELU(erf) or QuickGELU -> c_proj), ln_post on the class token,
// @ proj, L2 normalization. LayerNorm eps = config.ln_eps.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/cpu_features.h"
#include "common/status.h"
#include "model/vit_config.h"
#include "model/weights.h"

namespace clipserve::model {

// CLIP's image normalization constants (open_clip OPENAI_DATASET_MEAN/STD).
inline constexpr float kClipMean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr float kClipStd[3] = {0.26862954f, 0.26130258f, 0.27577711f};

enum class VitBackend {
  // CUDA: ATen. CPU bf16: oneDNN. CPU fp32: oneDNN where its AVX-512 GEMMs
  // run (oneDNN's effective ISA >= avx512_core), the BLAS path otherwise
  // (on AVX2 oneDNN's GEMM is slower than OpenBLAS's: docs/perf/engine.md).
  kAuto,
  kAten,    // plain ATen ops (CPU or CUDA)
  kOneDnn,  // oneDNN primitives with pre-packed weights (CPU fp32/bf16 only)
  kBlas,    // CPU fp32: the BLAS GEMM (OpenBLAS through ATen) + our fused kernels
};

std::string_view VitBackendName(VitBackend b);  // "auto" | "aten" | "onednn" | "blas"

struct VitOptions {
  torch::ScalarType dtype = torch::kFloat;  // kFloat, kBFloat16, kHalf (CUDA only)
  torch::Device device = torch::kCPU;
  VitBackend backend = VitBackend::kAuto;
  // Fold mean/std into conv1 (default). false normalizes the input
  // explicitly; the two are mathematically equal (tests compare them).
  bool fold_normalization = true;
  // oneDNN path only: the hand-written fused attention kernel (default) or
  // oneDNN batched matmuls + softmax primitive (kept for comparison).
  bool fused_attention = true;
  // The highest ISA our own kernels (LayerNorm, attention, epilogues) may
  // use; the CPU's (HostCpuFeatures()) caps it further. Tests lower it to
  // run every kernel level on one machine.
  CpuIsa max_kernel_isa = CpuIsa::kAmx;
};

// True when this build contains the oneDNN path.
bool OneDnnCompiledIn();

// oneDNN's effective ISA ("avx2", "avx512_core_bf16", ...; "none" without
// oneDNN). The first call applies CLIPSERVE_MAX_CPU_ISA to oneDNN (oneDNN
// reads ONEDNN_MAX_CPU_ISA itself), so both layers see the same CPU.
std::string OneDnnIsa();

class VitModel {
 public:
  // Validates the weights against the config and converts them. `weights`
  // is consumed (entries are released as they are converted, so peak memory
  // stays near one copy of the weights).
  static StatusOr<std::unique_ptr<VitModel>> Create(const VitConfig& config, WeightMap weights,
                                                    const VitOptions& options);
  virtual ~VitModel() = default;

  // pixels: [N, 3, S, S] float32 (any device; contiguous or not), RGB in [0, 1].
  // Returns [N, embed_dim] float32 on the CPU, each row L2-normalized.
  // Throws c10::Error on failure (callers at module boundaries catch it).
  // Not thread-safe: one call at a time (buffers are reused across calls).
  virtual torch::Tensor Forward(const torch::Tensor& pixels) = 0;

  const VitConfig& config() const { return config_; }
  const VitOptions& options() const { return options_; }
  std::uint64_t weight_bytes() const { return weight_bytes_; }  // bytes held by the model
  virtual std::string backend_name() const = 0;                 // "aten" | "onednn" | "blas"
  // Where the time goes, for logs and /model-info: e.g. "onednn jit:avx512_core_bf16,
  // kernels avx512", "blas openblas sgemm, kernels avx2", "aten cuda".
  virtual std::string compute_description() const = 0;

 protected:
  VitModel(const VitConfig& config, const VitOptions& options) : config_(config), options_(options) {}
  VitConfig config_;
  VitOptions options_;
  std::uint64_t weight_bytes_ = 0;
};

}  // namespace clipserve::model
