// Internal to the forward implementations (vit*.cpp): weight folding shared
// by the ATen and oneDNN paths.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "model/vit.h"

namespace clipserve::model::internal {

// One residual block, float32, CPU, contiguous, open_clip layouts
// (Linear weights are [out, in]).
struct BlockWeights {
  torch::Tensor ln1_w, ln1_b;
  torch::Tensor in_w, in_b;    // [3W, W], [3W]; q rows scaled when fold_attention_scale
  torch::Tensor out_w, out_b;  // [W, W], [W]
  torch::Tensor ln2_w, ln2_b;
  torch::Tensor fc_w, fc_b;    // [M, W], [M]
  torch::Tensor proj_w, proj_b;// [W, M], [W]
};

struct VitWeights {
  torch::Tensor patch_w;    // [W, 3*P*P], (c, i, j) order; normalization folded when asked
  torch::Tensor patch_b;    // [W] (zeros unless normalization folded)
  torch::Tensor cls_pos;    // [W]   class_embedding + positional_embedding[0]
  torch::Tensor pos_patch;  // [G*G, W] positional_embedding[1:]
  torch::Tensor ln_pre_w, ln_pre_b, ln_post_w, ln_post_b;
  torch::Tensor proj;       // [W, E]
  std::vector<BlockWeights> blocks;
};

// Converts `weights` (consumed tensor by tensor) into float32 VitWeights.
// fold_normalization: CLIP mean/std into patch_w/patch_b.
// fold_attention_scale: multiply the q rows of in_proj by 1/sqrt(head_width).
VitWeights PrepareWeights(const VitConfig& config, WeightMap& weights, bool fold_normalization,
                          bool fold_attention_scale);

// [N, 3, S, S] -> [N*G*G, 3*P*P] (rows: image-major, then patch row-major).
torch::Tensor Patchify(const torch::Tensor& pixels, int patch_size);

// (x - mean) / std per channel, for the unfolded path.
torch::Tensor NormalizePixels(const torch::Tensor& pixels);

// The ISA our kernels run at: the option, capped by the CPU.
CpuIsa KernelIsa(const VitOptions& options);

std::unique_ptr<VitModel> MakeAtenVit(const VitConfig& config, VitWeights weights,
                                      const VitOptions& options);
std::unique_ptr<VitModel> MakeBlasVit(const VitConfig& config, VitWeights weights,
                                      const VitOptions& options);
#if defined(CLIPSERVE_HAVE_ONEDNN)
std::unique_ptr<VitModel> MakeOneDnnVit(const VitConfig& config, VitWeights weights,
                                        const VitOptions& options);
// oneDNN's effective ISA as our level (baseline for SSE4.1/AVX), and by name.
CpuIsa OneDnnIsaLevel();
std::string OneDnnIsaName();
#endif

}  // namespace clipserve::model::internal
