// The plain-ATen forward: portable (CPU and CUDA, LibTorch 1.13 and 2.x),
// weights held once in the compute dtype on the compute device.
#include <torch/torch.h>

#include <cmath>
#include <utility>

#include "model/vit_internal.h"

namespace clipserve::model::internal {
namespace {

class AtenVit final : public VitModel {
 public:
  AtenVit(const VitConfig& config, VitWeights w, const VitOptions& options) : VitModel(config, options) {
    auto to = [&](torch::Tensor& t) {
      t = t.to(options.device, options.dtype).contiguous();
      weight_bytes_ += t.numel() * t.element_size();
    };
    w_ = std::move(w);
    for (torch::Tensor* t : {&w_.patch_w, &w_.patch_b, &w_.cls_pos, &w_.pos_patch, &w_.ln_pre_w, &w_.ln_pre_b,
                             &w_.ln_post_w, &w_.ln_post_b, &w_.proj}) {
      to(*t);
    }
    for (BlockWeights& b : w_.blocks) {
      for (torch::Tensor* t : {&b.ln1_w, &b.ln1_b, &b.in_w, &b.in_b, &b.out_w, &b.out_b, &b.ln2_w, &b.ln2_b,
                               &b.fc_w, &b.fc_b, &b.proj_w, &b.proj_b}) {
        to(*t);
      }
    }
  }

  std::string backend_name() const override { return "aten"; }
  std::string compute_description() const override {
    return options_.device.is_cuda() ? "aten cuda" : "aten cpu (library kernels)";
  }

  torch::Tensor Forward(const torch::Tensor& pixels_in) override {
    c10::InferenceMode guard;
    const auto& c = config_;
    const int64_t N = pixels_in.size(0), W = c.width, T = c.tokens(), H = c.heads(), D = c.head_width;
    torch::Tensor pixels = pixels_in.to(options_.device, torch::kFloat);
    if (!options_.fold_normalization) pixels = NormalizePixels(pixels);
    torch::Tensor patches = Patchify(pixels, c.patch_size).to(options_.dtype);

    // Patch embedding + class token + positions -> [N, T, W].
    torch::Tensor emb = torch::addmm(w_.patch_b, patches, w_.patch_w.t()).view({N, T - 1, W});
    emb.add_(w_.pos_patch);
    torch::Tensor x = torch::cat({w_.cls_pos.view({1, 1, W}).expand({N, 1, W}), emb}, 1);
    x = torch::layer_norm(x, {W}, w_.ln_pre_w, w_.ln_pre_b, c.ln_eps);

    const double scale = 1.0 / std::sqrt(double(D));
    for (const BlockWeights& b : w_.blocks) {
      torch::Tensor h = torch::layer_norm(x, {W}, b.ln1_w, b.ln1_b, c.ln_eps);
      torch::Tensor qkv = torch::addmm(b.in_b, h.view({N * T, W}), b.in_w.t())
                              .view({N, T, 3, H, D})
                              .permute({2, 0, 3, 1, 4});  // [3, N, H, T, D]
      torch::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
#if TORCH_VERSION_MAJOR >= 2
      torch::Tensor o = at::scaled_dot_product_attention(q, k, v);
#else
      torch::Tensor s = torch::matmul(q * scale, k.transpose(-2, -1));
      torch::Tensor o = torch::matmul(torch::softmax(s, -1), v);
#endif
      (void)scale;
      o = o.transpose(1, 2).reshape({N * T, W});
      x = x + torch::addmm(b.out_b, o, b.out_w.t()).view({N, T, W});

      h = torch::layer_norm(x, {W}, b.ln2_w, b.ln2_b, c.ln_eps);
      h = torch::addmm(b.fc_b, h.view({N * T, W}), b.fc_w.t());
      if (c.quick_gelu) {
        h = h * torch::sigmoid(1.702 * h);
      } else {
        h = torch::gelu(h);  // exact (erf) GELU, as torch.nn.GELU()
      }
      x = x + torch::addmm(b.proj_b, h, b.proj_w.t()).view({N, T, W});
    }

    torch::Tensor cls = torch::layer_norm(x.select(1, 0), {W}, w_.ln_post_w, w_.ln_post_b, c.ln_eps);
    torch::Tensor out = torch::matmul(cls, w_.proj).to(torch::kFloat);
    out = out / out.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
    return out.to(torch::kCPU).contiguous();
  }

 private:
  VitWeights w_;
};

}  // namespace

std::unique_ptr<VitModel> MakeAtenVit(const VitConfig& config, VitWeights weights, const VitOptions& options) {
  return std::make_unique<AtenVit>(config, std::move(weights), options);
}

}  // namespace clipserve::model::internal
