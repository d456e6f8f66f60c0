// An independent reference of open_clip's vision tower for the tests: float64,
// written plainly from the documented math (DESIGN §2) with straightforward
// ATen ops: explicit normalization, conv2d patch embedding, LayerNorm by its
// formula, one attention head at a time, GELU by erf. It shares no code with
// src/model/vit*.cpp.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "model/vit_config.h"
#include "model/weights.h"

namespace clipserve::testing {

inline torch::Tensor RefNormalize(const torch::Tensor& pixels) {
  const double mean[3] = {0.48145466, 0.4578275, 0.40821073};
  const double stdv[3] = {0.26862954, 0.26130258, 0.27577711};
  torch::Tensor x = pixels.to(torch::kDouble).clone();
  for (int c = 0; c < 3; ++c) {
    torch::Tensor ch = x.select(1, c);
    ch.sub_(mean[c]).div_(stdv[c]);
  }
  return x;
}

inline torch::Tensor RefLayerNorm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                                  double eps) {
  torch::Tensor mu = x.mean(-1, true);
  torch::Tensor var = (x - mu).pow(2).mean(-1, true);
  return (x - mu) / torch::sqrt(var + eps) * w + b;
}

// pixels [N,3,S,S] in [0,1] (normalize=true) or already normalized (false).
// Returns [N, embed_dim] float64, L2-normalized.
inline torch::Tensor ReferenceForward(const model::VitConfig& c, const model::WeightMap& weights,
                                      const torch::Tensor& pixels, bool normalize = true) {
  torch::NoGradGuard no_grad;
  auto W = [&](const std::string& name) { return weights.at(name).to(torch::kDouble); };
  const int64_t N = pixels.size(0), width = c.width, D = c.head_width, heads = c.width / c.head_width;
  torch::Tensor x = normalize ? RefNormalize(pixels) : pixels.to(torch::kDouble);
  x = torch::conv2d(x, W("conv1.weight"), {}, c.patch_size);  // [N, W, G, G]
  x = x.flatten(2).transpose(1, 2);                            // [N, G*G, W]
  x = torch::cat({W("class_embedding").view({1, 1, width}).expand({N, 1, width}), x}, 1);
  x = x + W("positional_embedding");
  x = RefLayerNorm(x, W("ln_pre.weight"), W("ln_pre.bias"), c.ln_eps);
  for (int l = 0; l < c.layers; ++l) {
    const std::string p = "transformer.resblocks." + std::to_string(l) + ".";
    torch::Tensor h = RefLayerNorm(x, W(p + "ln_1.weight"), W(p + "ln_1.bias"), c.ln_eps);
    torch::Tensor qkv = h.matmul(W(p + "attn.in_proj_weight").t()) + W(p + "attn.in_proj_bias");
    torch::Tensor q = qkv.slice(2, 0, width), k = qkv.slice(2, width, 2 * width), v = qkv.slice(2, 2 * width);
    torch::Tensor attn = torch::zeros_like(q);
    for (int64_t hd = 0; hd < heads; ++hd) {
      torch::Tensor qh = q.slice(2, hd * D, (hd + 1) * D), kh = k.slice(2, hd * D, (hd + 1) * D),
                    vh = v.slice(2, hd * D, (hd + 1) * D);
      torch::Tensor s = qh.matmul(kh.transpose(1, 2)) / std::sqrt(double(D));
      torch::Tensor e = torch::exp(s - std::get<0>(s.max(-1, true)));
      attn.slice(2, hd * D, (hd + 1) * D).copy_((e / e.sum(-1, true)).matmul(vh));
    }
    x = x + attn.matmul(W(p + "attn.out_proj.weight").t()) + W(p + "attn.out_proj.bias");
    h = RefLayerNorm(x, W(p + "ln_2.weight"), W(p + "ln_2.bias"), c.ln_eps);
    h = h.matmul(W(p + "mlp.c_fc.weight").t()) + W(p + "mlp.c_fc.bias");
    if (c.quick_gelu) {
      h = h / (1.0 + torch::exp(-1.702 * h));
    } else {
      h = 0.5 * h * (1.0 + torch::erf(h / std::sqrt(2.0)));
    }
    x = x + h.matmul(W(p + "mlp.c_proj.weight").t()) + W(p + "mlp.c_proj.bias");
  }
  torch::Tensor cls = RefLayerNorm(x.select(1, 0), W("ln_post.weight"), W("ln_post.bias"), c.ln_eps);
  torch::Tensor e = cls.matmul(W("proj"));
  return e / e.pow(2).sum(1, true).sqrt();
}

// Row-wise cosine similarity of two [N, E] tensors, as float64.
inline torch::Tensor RowCosine(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor x = a.to(torch::kDouble), y = b.to(torch::kDouble);
  return (x * y).sum(1) / (x.norm(2, {1}) * y.norm(2, {1}));
}

}  // namespace clipserve::testing
