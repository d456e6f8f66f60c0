// VitModel factory and the weight preparation shared by both forward paths.
#include "model/vit.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "model/vit_internal.h"

namespace clipserve::model {
namespace internal {
namespace {

// Removes `name` from the map and returns it as contiguous float32 (CPU).
// Taking it out lets the caller's copy die as soon as we hold ours. The
// result may alias the caller's storage (a float32 file mapping): never
// modify it in place.
torch::Tensor Take(WeightMap& weights, const std::string& name) {
  auto it = weights.find(name);
  TORCH_CHECK(it != weights.end(), "missing weight tensor '", name, "'");
  torch::Tensor t = std::move(it->second);
  weights.erase(it);
  return t.to(torch::kCPU, torch::kFloat).contiguous();
}

}  // namespace

VitWeights PrepareWeights(const VitConfig& config, WeightMap& weights, bool fold_normalization,
                          bool fold_attention_scale) {
  const int64_t W = config.width, P = config.patch_size, G = config.grid();
  VitWeights v;

  // conv1 [W, 3, P, P] as a GEMM weight [W, 3*P*P]. Folding CLIP's mean/std
  // is exact for a stride == kernel, unpadded convolution:
  //   sum_c w[c] * (x[c] - m[c]) / s[c] = sum_c (w[c] / s[c]) x[c] - sum_c w[c] m[c] / s[c].
  // Done in float64 so the fold adds no rounding beyond the final cast.
  torch::Tensor conv = Take(weights, "conv1.weight").to(torch::kDouble);
  if (fold_normalization) {
    auto opts = torch::TensorOptions().dtype(torch::kDouble);
    torch::Tensor mean = torch::tensor({double(kClipMean[0]), double(kClipMean[1]), double(kClipMean[2])}, opts)
                             .view({1, 3, 1, 1});
    torch::Tensor stdv = torch::tensor({double(kClipStd[0]), double(kClipStd[1]), double(kClipStd[2])}, opts)
                             .view({1, 3, 1, 1});
    torch::Tensor scaled = conv / stdv;
    v.patch_b = -(conv * mean / stdv).sum({1, 2, 3}).to(torch::kFloat).contiguous();
    v.patch_w = scaled.reshape({W, 3 * P * P}).to(torch::kFloat).contiguous();
  } else {
    v.patch_w = conv.reshape({W, 3 * P * P}).to(torch::kFloat).contiguous();
    v.patch_b = torch::zeros({W}, torch::kFloat);
  }

  torch::Tensor cls = Take(weights, "class_embedding");
  torch::Tensor pos = Take(weights, "positional_embedding");
  v.cls_pos = (cls + pos[0]).contiguous();
  v.pos_patch = pos.slice(0, 1, 1 + G * G).contiguous();
  v.ln_pre_w = Take(weights, "ln_pre.weight");
  v.ln_pre_b = Take(weights, "ln_pre.bias");

  const double q_scale = 1.0 / std::sqrt(double(config.head_width));
  for (int l = 0; l < config.layers; ++l) {
    const std::string p = "transformer.resblocks." + std::to_string(l) + ".";
    BlockWeights b;
    b.ln1_w = Take(weights, p + "ln_1.weight");
    b.ln1_b = Take(weights, p + "ln_1.bias");
    b.in_w = Take(weights, p + "attn.in_proj_weight");
    b.in_b = Take(weights, p + "attn.in_proj_bias");
    if (fold_attention_scale) {
      // softmax((q*s) k^T) == softmax(s * q k^T): scale q's projection once.
      // Out of place: the tensors may be views of a read-only mapped file.
      torch::Tensor row_scale = torch::ones({3 * W}, torch::kFloat);
      row_scale.slice(0, 0, W).fill_(q_scale);
      b.in_w = b.in_w * row_scale.view({3 * W, 1});
      b.in_b = b.in_b * row_scale;
    }
    b.out_w = Take(weights, p + "attn.out_proj.weight");
    b.out_b = Take(weights, p + "attn.out_proj.bias");
    b.ln2_w = Take(weights, p + "ln_2.weight");
    b.ln2_b = Take(weights, p + "ln_2.bias");
    b.fc_w = Take(weights, p + "mlp.c_fc.weight");
    b.fc_b = Take(weights, p + "mlp.c_fc.bias");
    b.proj_w = Take(weights, p + "mlp.c_proj.weight");
    b.proj_b = Take(weights, p + "mlp.c_proj.bias");
    v.blocks.push_back(std::move(b));
  }
  v.ln_post_w = Take(weights, "ln_post.weight");
  v.ln_post_b = Take(weights, "ln_post.bias");
  v.proj = Take(weights, "proj");
  return v;
}

torch::Tensor Patchify(const torch::Tensor& pixels, int patch_size) {
  const int64_t N = pixels.size(0), S = pixels.size(2), P = patch_size, G = S / P;
  // [N,3,G,P,G,P] -> [N,G,G,3,P,P]: one copy, rows match conv1's (c, i, j) order.
  return pixels.reshape({N, 3, G, P, G, P}).permute({0, 2, 4, 1, 3, 5}).reshape({N * G * G, 3 * P * P});
}

torch::Tensor NormalizePixels(const torch::Tensor& pixels) {
  auto opts = torch::TensorOptions().dtype(pixels.scalar_type()).device(pixels.device());
  torch::Tensor mean = torch::tensor({kClipMean[0], kClipMean[1], kClipMean[2]}, torch::kFloat)
                           .to(opts).view({1, 3, 1, 1});
  torch::Tensor stdv = torch::tensor({kClipStd[0], kClipStd[1], kClipStd[2]}, torch::kFloat)
                           .to(opts).view({1, 3, 1, 1});
  return (pixels - mean) / stdv;
}

CpuIsa KernelIsa(const VitOptions& options) { return std::min(options.max_kernel_isa, HostCpuFeatures().Isa()); }

}  // namespace internal

std::string_view VitBackendName(VitBackend b) {
  switch (b) {
    case VitBackend::kAuto: return "auto";
    case VitBackend::kAten: return "aten";
    case VitBackend::kOneDnn: return "onednn";
    case VitBackend::kBlas: return "blas";
  }
  return "auto";
}

bool OneDnnCompiledIn() {
#if defined(CLIPSERVE_HAVE_ONEDNN)
  return true;
#else
  return false;
#endif
}

std::string OneDnnIsa() {
#if defined(CLIPSERVE_HAVE_ONEDNN)
  return internal::OneDnnIsaName();
#else
  return "none";
#endif
}

StatusOr<std::unique_ptr<VitModel>> VitModel::Create(const VitConfig& config, WeightMap weights,
                                                     const VitOptions& options) {
  RETURN_IF_ERROR(config.Validate());
  RETURN_IF_ERROR(ValidateWeights(weights, config));
  const bool cuda = options.device.is_cuda();
  const auto dt = options.dtype;
  if (dt != torch::kFloat && dt != torch::kBFloat16 && dt != torch::kHalf) {
    return InvalidArgumentError("unsupported compute dtype (expected float32, bfloat16 or float16)");
  }
  if (!cuda && dt == torch::kHalf) {
    // LibTorch's CPU GEMMs have no fp16 path worth using (1.13 has none at
    // all); bf16 is the CPU's reduced precision.
    return InvalidArgumentError("fp16 is supported on CUDA only; use bf16 or fp32 on the CPU");
  }
  if (cuda && !torch::cuda::is_available()) {
    return FailedPreconditionError("CUDA requested but this LibTorch has no usable CUDA device");
  }
  // oneDNN's level as our CpuIsa (baseline without oneDNN): its GEMMs are
  // the fast ones from AVX-512 up, and its bf16 needs avx512_core_bf16.
  CpuIsa onednn = CpuIsa::kBaseline;
#if defined(CLIPSERVE_HAVE_ONEDNN)
  onednn = internal::OneDnnIsaLevel();
#endif
  VitBackend backend = options.backend;
  if (backend == VitBackend::kAuto) {
    if (cuda) {
      backend = VitBackend::kAten;
    } else if (dt == torch::kBFloat16) {
      backend = OneDnnCompiledIn() ? VitBackend::kOneDnn : VitBackend::kAten;
    } else {
      backend = OneDnnCompiledIn() && onednn >= CpuIsa::kAvx512 ? VitBackend::kOneDnn : VitBackend::kBlas;
    }
  }
  if (cuda && backend != VitBackend::kAten) {
    return InvalidArgumentError(std::string("the ") + std::string(VitBackendName(backend)) +
                                " backend runs on the CPU only");
  }
  if (backend == VitBackend::kOneDnn) {
    if (!OneDnnCompiledIn()) return UnimplementedError("this build has no oneDNN backend");
    if (dt == torch::kBFloat16 && onednn < CpuIsa::kAvx512Bf16) {
      return FailedPreconditionError("bf16 on the oneDNN backend needs a CPU with avx512_bf16 or amx_bf16 (oneDNN "
                                     "runs at " + OneDnnIsa() + ", CPU " + HostCpuFeatures().Describe() +
                                     "): use fp32");
    }
  }
  if (backend == VitBackend::kBlas && dt != torch::kFloat) {
    return InvalidArgumentError("the blas backend computes in fp32 only");
  }
  const bool fold_attention_scale = backend != VitBackend::kAten;
  try {
    torch::NoGradGuard no_grad;
    internal::VitWeights w =
        internal::PrepareWeights(config, weights, options.fold_normalization, fold_attention_scale);
#if defined(CLIPSERVE_HAVE_ONEDNN)
    if (backend == VitBackend::kOneDnn) return internal::MakeOneDnnVit(config, std::move(w), options);
#endif
    if (backend == VitBackend::kBlas) return internal::MakeBlasVit(config, std::move(w), options);
    return internal::MakeAtenVit(config, std::move(w), options);
  } catch (const c10::Error& e) {
    return InternalError(std::string("building the ViT failed: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {  // dnnl::error
    return InternalError(std::string("building the ViT failed: ") + e.what());
  }
}

}  // namespace clipserve::model
