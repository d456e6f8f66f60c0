// The BLAS CPU forward (fp32): the GEMMs are the BLAS's (OpenBLAS, through
// ATen's mm/addmm), everything between them is ours.
//
// Why a third path: below AVX-512, oneDNN 2.6's matmul falls back to its
// generic jit:gemm, which on a Zen 3 runs at 72-78 % of the machine's GEMM
// peak where OpenBLAS's Zen/Haswell kernels reach 85-90 % on the same shapes
// (docs/perf/engine.md). The plain ATen path already uses OpenBLAS but pays
// for every op separately: a bias copy before each GEMM, a GELU pass that
// allocates, a residual add that allocates, ATen's LayerNorm and batched
// attention matmuls. Here:
//   - the residual add is the GEMM's own accumulation (beta = 1 into x);
//   - the biases the GEMMs leave out are added where their output is next
//     read anyway: q/k/v bias as the attention kernel loads q/k/v, the
//     out-projection and MLP-projection biases in the LayerNorm that reads x
//     next (written back to x as it goes);
//   - the MLP's bias + GELU is one in-place pass (vit_epilogue);
//   - attention is the fused kernel (vit_attention), q pre-scaled;
//   - every activation lives in buffers reused across calls;
//   - a batch that divides over the threads (or is large) is split by image:
//     each thread runs the whole forward on its share with single-threaded
//     GEMMs and kernels, so no op waits at a barrier for the other threads
//     (with intra-op threading the GEMMs of these shapes left the team
//     spinning in libgomp for a third of the samples of a profile). Batches
//     too small to split run each op on all threads instead.
// The kernels run at the highest ISA the CPU and the options allow.
#include <torch/torch.h>

#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "model/vit_attention.h"
#include "model/vit_epilogue.h"
#include "model/vit_internal.h"
#include "model/vit_layernorm.h"
#include "model/vit_parallel.h"

namespace clipserve::model::internal {
namespace {

class BlasVit final : public VitModel {
 public:
  BlasVit(const VitConfig& config, VitWeights w, const VitOptions& options)
      : VitModel(config, options), isa_(KernelIsa(options)), w_(std::move(w)) {
    // Weights stay [out, in] as the file has them: the GEMMs read W^T as a
    // transposed view (a BLAS flag, no copy). Positions and the folded
    // conv1 bias are one table.
    w_.pos_patch = (w_.pos_patch + w_.patch_b.view({1, -1})).contiguous();
    w_.patch_b = torch::Tensor();
    for (const torch::Tensor* t : {&w_.patch_w, &w_.cls_pos, &w_.pos_patch, &w_.ln_pre_w, &w_.ln_pre_b,
                                   &w_.ln_post_w, &w_.ln_post_b, &w_.proj}) {
      Count(*t);
    }
    for (const BlockWeights& b : w_.blocks) {
      for (const torch::Tensor* t : {&b.ln1_w, &b.ln1_b, &b.in_w, &b.in_b, &b.out_w, &b.out_b, &b.ln2_w, &b.ln2_b,
                                     &b.fc_w, &b.fc_b, &b.proj_w, &b.proj_b}) {
        Count(*t);
      }
    }
  }

  std::string backend_name() const override { return "blas"; }
  std::string compute_description() const override {
    return "blas sgemm (aten), kernels " + std::string(CpuIsaName(isa_));
  }

  torch::Tensor Forward(const torch::Tensor& pixels_in) override {
    c10::InferenceMode guard;
    const auto& c = config_;
    const int64_t S = c.image_size;
    TORCH_CHECK(pixels_in.dim() == 4 && pixels_in.size(1) == 3 && pixels_in.size(2) == S && pixels_in.size(3) == S,
                "expected pixels [N, 3, ", S, ", ", S, "], got ", pixels_in.sizes());
    const int64_t N = pixels_in.size(0);
    TORCH_CHECK(N > 0, "empty batch");
    torch::Tensor px = pixels_in.to(torch::kCPU, torch::kFloat);
    if (!options_.fold_normalization) px = NormalizePixels(px);
    torch::Tensor out = torch::empty({N, int64_t(c.embed_dim)});

    const int64_t threads = at::get_num_threads();
    const bool split = threads > 1 && (N % threads == 0 || N >= 4 * threads);
    if (!split) {
      ForwardRange(px, 0, N, Scratch(0, N), out);
      return out;
    }
    const int64_t per = (N + threads - 1) / threads;
    for (int64_t t = 0; t < threads; ++t) Scratch(t, std::min(per, N - t * per));
    std::exception_ptr error;
    std::mutex error_mu;
    ParallelFor(0, threads, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b = t * per, e = std::min(N, b + per);
        if (b >= e) continue;
        try {
          ForwardRange(px, b, e, scratch_[size_t(t)], out);
        } catch (...) {  // never unwind through libgomp
          std::lock_guard lock(error_mu);
          if (!error) error = std::current_exception();
        }
      }
    });
    if (error) std::rethrow_exception(error);
    return out;
  }

 private:
  static const float* F(const torch::Tensor& t) { return t.data_ptr<float>(); }
  void Count(const torch::Tensor& t) { weight_bytes_ += t.numel() * t.element_size(); }

  // Activations of one share of the batch (grown, never shrunk).
  struct Buffers {
    int64_t n = 0;
    torch::Tensor x, emb, h, qkv, attn, f;
  };

  Buffers& Scratch(int64_t share, int64_t n) {
    if (scratch_.size() <= size_t(share)) scratch_.resize(size_t(share) + 1);
    Buffers& b = scratch_[size_t(share)];
    if (n <= b.n) return b;
    const auto& c = config_;
    const int64_t M = n * c.tokens(), W = c.width, G2 = c.grid() * c.grid();
    b.x = torch::empty({M, W});
    b.emb = torch::empty({n * G2, W});
    b.h = torch::empty({M, W});
    b.qkv = torch::empty({M, 3 * W});
    b.attn = torch::empty({M, W});
    b.f = torch::empty({M, int64_t(c.mlp_dim)});
    b.n = n;
    return b;
  }

  // Images [b, e) of px -> rows [b, e) of out. Ops use all threads unless
  // called inside a parallel region (then each runs on the calling thread).
  void ForwardRange(const torch::Tensor& px_all, int64_t b0, int64_t e0, Buffers& buf, torch::Tensor& out_all) {
    c10::InferenceMode guard;  // per thread: the team's threads need their own
    const auto& c = config_;
    const int64_t W = c.width, T = c.tokens(), G2 = c.grid() * c.grid(), Mlp = c.mlp_dim;
    const int64_t N = e0 - b0, M = N * T;
    const float eps = float(c.ln_eps);
    torch::Tensor emb = buf.emb.narrow(0, 0, N * G2);
    at::mm_out(emb, Patchify(px_all.narrow(0, b0, N), c.patch_size), w_.patch_w.t());

    torch::Tensor x2 = buf.x.narrow(0, 0, M);  // [M, W], the residual stream
    torch::Tensor x = x2.view({N, T, W});
    torch::Tensor x_patches = x.narrow(1, 1, G2);
    at::add_out(x_patches, emb.view({N, G2, W}), w_.pos_patch);
    x.select(1, 0).copy_(w_.cls_pos.view({1, W}).expand({N, W}));
    float* xp = x2.data_ptr<float>();
    LayerNormF32(xp, W, M, W, F(w_.ln_pre_w), F(w_.ln_pre_b), eps, xp, W, isa_);

    torch::Tensor h = buf.h.narrow(0, 0, M), qkv = buf.qkv.narrow(0, 0, M), attn = buf.attn.narrow(0, 0, M),
                  f = buf.f.narrow(0, 0, M);
    float* hp = h.data_ptr<float>();
    const float* pending = nullptr;  // the last block's MLP bias, not yet in x
    for (const BlockWeights& b : w_.blocks) {
      if (pending != nullptr) {
        AddLayerNormF32(xp, W, M, W, pending, F(b.ln1_w), F(b.ln1_b), eps, hp, W, isa_);
      } else {
        LayerNormF32(xp, W, M, W, F(b.ln1_w), F(b.ln1_b), eps, hp, W, isa_);
      }
      at::mm_out(qkv, h, b.in_w.t());
      AttentionF32(qkv.data_ptr<float>(), F(b.in_b), N, T, W, c.head_width, attn.data_ptr<float>(), isa_);
      at::addmm_out(x2, x2, attn, b.out_w.t());  // x += attn W_o^T (bias: next line)
      AddLayerNormF32(xp, W, M, W, F(b.out_b), F(b.ln2_w), F(b.ln2_b), eps, hp, W, isa_);
      at::mm_out(f, h, b.fc_w.t());
      BiasGeluF32(f.data_ptr<float>(), M, Mlp, Mlp, F(b.fc_b), c.quick_gelu, isa_);
      at::addmm_out(x2, x2, f, b.proj_w.t());  // x += f W_proj^T (bias: pending)
      pending = F(b.proj_b);
    }

    torch::Tensor cls = x.select(1, 0);
    if (pending != nullptr) cls = cls + w_.blocks.back().proj_b;
    cls = torch::layer_norm(cls, {W}, w_.ln_post_w, w_.ln_post_b, c.ln_eps);
    torch::Tensor emb_out = torch::matmul(cls, w_.proj);
    out_all.narrow(0, b0, N).copy_(emb_out / emb_out.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12));
  }

  CpuIsa isa_;
  VitWeights w_;
  std::vector<Buffers> scratch_;
};

}  // namespace

std::unique_ptr<VitModel> MakeBlasVit(const VitConfig& config, VitWeights weights, const VitOptions& options) {
  return std::make_unique<BlasVit>(config, std::move(weights), options);
}

}  // namespace clipserve::model::internal
