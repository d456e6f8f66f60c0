// The oneDNN CPU forward (fp32 and bf16).
//
// Why oneDNN and not plain ATen: the weights are reordered once into the
// blocked layout the matmul kernels read fastest ("format_tag::any"), bias,
// GELU and the residual add run as post-ops of the GEMM that produced the
// values (no extra pass over memory), attention is two batched strided
// GEMMs reading q/k/v in place from the qkv buffer, and all activations
// live in buffers reused across calls. The residual stream stays float32 in
// both precisions; bf16 mode feeds the GEMMs bf16 and accumulates in fp32.
// Compiled only with CLIPSERVE_HAVE_ONEDNN (src/model/CMakeLists.txt).
#if defined(CLIPSERVE_HAVE_ONEDNN)
#include <dnnl.hpp>
#include <torch/torch.h>

#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "model/vit_attention.h"
#include "model/vit_internal.h"
#include "model/vit_layernorm.h"

namespace clipserve::model::internal {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;
using Dims = memory::dims;

enum class Epilogue { kNone, kGelu, kQuickGelu, kAccumulate };

// y = x W^T + b with W pre-packed.
struct PackedLinear {
  int64_t in = 0, out = 0;
  memory weights;  // packed, compute dtype
  memory bias;     // f32 [1, out]
};

// Every primitive for one batch size. Memory objects point into the shared
// scratch buffers and are rebound when those grow.
struct Plan {
  int64_t n = 0;
  uint64_t bound_generation = 0;
  dnnl::matmul patch, qkv, out, fc, proj, qk, pv;
  dnnl::softmax_v2_forward softmax;
  memory m_patches, m_emb, m_h, m_qkv, m_q, m_kt, m_scores, m_probs_src, m_probs, m_v, m_attn_dst, m_attn, m_x, m_f;
};

class OneDnnVit final : public VitModel {
 public:
  OneDnnVit(const VitConfig& config, VitWeights w, const VitOptions& options)
      : VitModel(config, options),
        eng_(dnnl::engine::kind::cpu, 0),
        stream_(eng_),
        kernel_isa_(KernelIsa(options)) {
    dt_ = options.dtype == torch::kBFloat16 ? Dt::bf16 : Dt::f32;
    aten_dt_ = options.dtype == torch::kBFloat16 ? torch::kBFloat16 : torch::kFloat;
    const int64_t ref_m = int64_t(config.tokens()) * 8;
    patch_ = Pack(w.patch_w, w.patch_b, ref_m);
    for (BlockWeights& b : w.blocks) {
      Block blk;
      blk.qkv = Pack(b.in_w, b.in_b, ref_m);
      blk.out = Pack(b.out_w, b.out_b, ref_m);
      blk.fc = Pack(b.fc_w, b.fc_b, ref_m);
      blk.proj = Pack(b.proj_w, b.proj_b, ref_m);
      blk.ln1_w = b.ln1_w;
      blk.ln1_b = b.ln1_b;
      blk.ln2_w = b.ln2_w;
      blk.ln2_b = b.ln2_b;
      b = BlockWeights{};  // drop the float32 copies as we go
      for (const torch::Tensor* t : {&blk.ln1_w, &blk.ln1_b, &blk.ln2_w, &blk.ln2_b}) Count(*t);
      blocks_.push_back(std::move(blk));
    }
    cls_pos_ = w.cls_pos;
    pos_patch_ = w.pos_patch;
    ln_pre_w_ = w.ln_pre_w;
    ln_pre_b_ = w.ln_pre_b;
    ln_post_w_ = w.ln_post_w;
    ln_post_b_ = w.ln_post_b;
    proj_ = w.proj;  // [W, E], tiny: stays float32
    for (const torch::Tensor* t : {&cls_pos_, &pos_patch_, &ln_pre_w_, &ln_pre_b_, &ln_post_w_, &ln_post_b_, &proj_}) {
      Count(*t);
    }
    stream_.wait();
  }

  std::string backend_name() const override { return "onednn"; }
  std::string compute_description() const override {
    return "onednn jit:" + OneDnnIsaName() + ", kernels " + std::string(CpuIsaName(kernel_isa_));
  }

  torch::Tensor Forward(const torch::Tensor& pixels_in) override {
    c10::InferenceMode guard;
    const auto& c = config_;
    const int64_t S = c.image_size, W = c.width, T = c.tokens(), G2 = c.grid() * c.grid();
    TORCH_CHECK(pixels_in.dim() == 4 && pixels_in.size(1) == 3 && pixels_in.size(2) == S && pixels_in.size(3) == S,
                "expected pixels [N, 3, ", S, ", ", S, "], got ", pixels_in.sizes());
    const int64_t N = pixels_in.size(0), M = N * T;
    TORCH_CHECK(N > 0, "empty batch");
    Plan& plan = GetPlan(N);

    torch::Tensor px = pixels_in.to(torch::kCPU, torch::kFloat);
    if (!options_.fold_normalization) px = NormalizePixels(px);
    torch::Tensor patches = Patchify(px, c.patch_size);
    if (aten_dt_ != torch::kFloat) patches = patches.to(aten_dt_);
    plan.m_patches.set_data_handle(patches.data_ptr());

    Exec(plan.patch, plan.m_patches, patch_, plan.m_emb);
    // Tokens: class token + positions, then patch embeddings + positions.
    torch::Tensor x = x_.narrow(0, 0, M).view({N, T, W});
    torch::Tensor emb = emb_.narrow(0, 0, N * G2).view({N, G2, W});
    torch::Tensor x_patches = x.narrow(1, 1, G2);
    at::add_out(x_patches, emb, pos_patch_);
    x.select(1, 0).copy_(cls_pos_.view({1, W}).expand({N, W}));
    float* xp = x_.data_ptr<float>();
    LayerNormF32(xp, W, M, W, ln_pre_w_.data_ptr<float>(), ln_pre_b_.data_ptr<float>(), float(c.ln_eps), xp, W,
                 kernel_isa_);

    for (const Block& b : blocks_) {
      Norm(xp, M, b.ln1_w, b.ln1_b);
      Exec(plan.qkv, plan.m_h, b.qkv, plan.m_qkv);
      Attend(plan, N);
      Exec(plan.out, plan.m_attn, b.out, plan.m_x);  // x += attn W_o^T + b_o
      Norm(xp, M, b.ln2_w, b.ln2_b);
      Exec(plan.fc, plan.m_h, b.fc, plan.m_f);       // f = gelu(h W_fc^T + b_fc)
      Exec(plan.proj, plan.m_f, b.proj, plan.m_x);   // x += f W_proj^T + b_proj
    }
    stream_.wait();

    torch::Tensor cls = torch::layer_norm(x.select(1, 0), {W}, ln_post_w_, ln_post_b_, c.ln_eps);
    torch::Tensor out = torch::matmul(cls, proj_);
    return out / out.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
  }

 private:
  struct Block {
    PackedLinear qkv, out, fc, proj;
    torch::Tensor ln1_w, ln1_b, ln2_w, ln2_b;
  };

  void Count(const torch::Tensor& t) { weight_bytes_ += t.numel() * t.element_size(); }

  PackedLinear Pack(const torch::Tensor& w, const torch::Tensor& b, int64_t ref_m) {
    PackedLinear p;
    p.out = w.size(0);
    p.in = w.size(1);
    memory::desc src({ref_m, p.in}, dt_, Tag::ab);
    memory::desc wany({p.in, p.out}, dt_, Tag::any);
    memory::desc bias({1, p.out}, Dt::f32, Tag::ab);
    memory::desc dst({ref_m, p.out}, Dt::f32, Tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wany, bias, dst), eng_);
    // W is stored [out, in]: as the [in, out] matmul operand it is "ba".
    memory user({{p.in, p.out}, Dt::f32, Tag::ba}, eng_, const_cast<float*>(w.data_ptr<float>()));
    p.weights = memory(pd.weights_desc(), eng_);
    dnnl::reorder(user, p.weights).execute(stream_, user, p.weights);
    p.bias = memory(bias, eng_);
    std::memcpy(p.bias.get_data_handle(), b.data_ptr<float>(), sizeof(float) * p.out);
    stream_.wait();
    weight_bytes_ += p.weights.get_desc().get_size() + p.bias.get_desc().get_size();
    return p;
  }

  dnnl::matmul MakeLinear(const PackedLinear& p, int64_t m, Dt dst_dt, Epilogue e) {
    dnnl::post_ops po;
    if (e == Epilogue::kGelu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
    if (e == Epilogue::kQuickGelu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.702f, 0.f);
    if (e == Epilogue::kAccumulate) po.append_sum(1.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    memory::desc src({m, p.in}, dt_, Tag::ab);
    memory::desc dst({m, p.out}, dst_dt, Tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, p.weights.get_desc(), p.bias.get_desc(), dst), attr, eng_);
    TORCH_CHECK(pd.weights_desc() == p.weights.get_desc(), "oneDNN chose another weight layout for M=", m);
    return dnnl::matmul(pd);
  }

  void Exec(dnnl::matmul& mm, memory& src, const PackedLinear& p, memory& dst) {
    mm.execute(stream_, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_BIAS, p.bias}, {DNNL_ARG_DST, dst}});
  }

  void Attend(Plan& plan, int64_t n) {
    const auto& c = config_;
    if (options_.fused_attention) {
      if (dt_ == Dt::bf16) {
        AttentionBf16(reinterpret_cast<const uint16_t*>(qkv_.data_ptr()), nullptr, n, c.tokens(), c.width,
                      c.head_width, reinterpret_cast<uint16_t*>(attn_.data_ptr()), kernel_isa_);
      } else {
        AttentionF32(qkv_.data_ptr<float>(), nullptr, n, c.tokens(), c.width, c.head_width, attn_.data_ptr<float>(),
                     kernel_isa_);
      }
      return;
    }
    plan.qk.execute(stream_, {{DNNL_ARG_SRC, plan.m_q}, {DNNL_ARG_WEIGHTS, plan.m_kt}, {DNNL_ARG_DST, plan.m_scores}});
    plan.softmax.execute(stream_, {{DNNL_ARG_SRC, plan.m_probs_src}, {DNNL_ARG_DST, plan.m_probs}});
    plan.pv.execute(stream_, {{DNNL_ARG_SRC, plan.m_probs}, {DNNL_ARG_WEIGHTS, plan.m_v}, {DNNL_ARG_DST, plan.m_attn_dst}});
  }

  void Norm(const float* x, int64_t rows, const torch::Tensor& g, const torch::Tensor& b) {
    const int64_t W = config_.width;
    const float eps = float(config_.ln_eps);
    if (dt_ == Dt::bf16) {
      LayerNormBf16(x, W, rows, W, g.data_ptr<float>(), b.data_ptr<float>(), eps,
                    reinterpret_cast<uint16_t*>(h_.data_ptr()), W, kernel_isa_);
    } else {
      LayerNormF32(x, W, rows, W, g.data_ptr<float>(), b.data_ptr<float>(), eps, h_.data_ptr<float>(), W,
                   kernel_isa_);
    }
  }

  // Grows the shared activation buffers to hold `n` images.
  void EnsureScratch(int64_t n) {
    if (n <= scratch_n_) return;
    const auto& c = config_;
    const int64_t T = c.tokens(), W = c.width, M = n * T, H = c.heads(), G2 = c.grid() * c.grid();
    auto f32 = torch::TensorOptions().dtype(torch::kFloat);
    auto cdt = torch::TensorOptions().dtype(aten_dt_);
    x_ = torch::empty({M, W}, f32);
    emb_ = torch::empty({n * G2, W}, f32);
    h_ = torch::empty({M, W}, cdt);
    qkv_ = torch::empty({M, 3 * W}, cdt);
    if (!options_.fused_attention) {
      scores_ = torch::empty({n * H * T, T}, f32);
      probs_ = torch::empty({n * H * T, T}, cdt);
    }
    attn_ = torch::empty({M, W}, cdt);
    f_ = torch::empty({M, int64_t(c.mlp_dim)}, cdt);
    scratch_n_ = n;
    ++generation_;
  }

  Plan& GetPlan(int64_t n) {
    EnsureScratch(n);
    auto it = plans_.find(n);
    if (it == plans_.end()) it = plans_.emplace(n, BuildPlan(n)).first;
    Plan& p = it->second;
    if (p.bound_generation != generation_) Bind(p);
    return p;
  }

  Plan BuildPlan(int64_t n) {
    const auto& c = config_;
    const int64_t T = c.tokens(), W = c.width, M = n * T, H = c.heads(), D = c.head_width, G2 = c.grid() * c.grid();
    Plan p;
    p.n = n;
    p.patch = MakeLinear(patch_, n * G2, Dt::f32, Epilogue::kNone);
    p.qkv = MakeLinear(blocks_.front().qkv, M, dt_, Epilogue::kNone);
    p.out = MakeLinear(blocks_.front().out, M, Dt::f32, Epilogue::kAccumulate);
    p.fc = MakeLinear(blocks_.front().fc, M, dt_, c.quick_gelu ? Epilogue::kQuickGelu : Epilogue::kGelu);
    p.proj = MakeLinear(blocks_.front().proj, M, Dt::f32, Epilogue::kAccumulate);

    p.m_patches = memory({{n * G2, 3 * int64_t(c.patch_size) * c.patch_size}, dt_, Tag::ab}, eng_, DNNL_MEMORY_NONE);
    p.m_emb = memory({{n * G2, W}, Dt::f32, Tag::ab}, eng_, DNNL_MEMORY_NONE);
    p.m_h = memory({{M, W}, dt_, Tag::ab}, eng_, DNNL_MEMORY_NONE);
    p.m_qkv = memory({{M, 3 * W}, dt_, Tag::ab}, eng_, DNNL_MEMORY_NONE);
    p.m_attn = memory({{M, W}, dt_, Tag::ab}, eng_, DNNL_MEMORY_NONE);
    p.m_x = memory({{M, W}, Dt::f32, Tag::ab}, eng_, DNNL_MEMORY_NONE);
    p.m_f = memory({{M, int64_t(c.mlp_dim)}, dt_, Tag::ab}, eng_, DNNL_MEMORY_NONE);
    if (options_.fused_attention) return p;

    // Unfused attention: batched over (image, head), reading q, k, v in place
    // from the [M, 3W] qkv rows (q already scaled by 1/sqrt(D) in the weights).

    const Dims qkv_strides = {T * 3 * W, D, 3 * W, 1};
    memory::desc q({n, H, T, D}, dt_, qkv_strides);
    memory::desc kt({n, H, D, T}, dt_, Dims{T * 3 * W, D, 1, 3 * W});
    memory::desc scores({n, H, T, T}, Dt::f32, Tag::abcd);
    p.qk = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(q, kt, scores), eng_));
    memory::desc s2({n * H * T, T}, Dt::f32, Tag::ab);
    memory::desc p2({n * H * T, T}, dt_, Tag::ab);
    p.softmax = dnnl::softmax_v2_forward(dnnl::softmax_v2_forward::primitive_desc(
        dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, s2, p2, 1),
        eng_));
    memory::desc probs({n, H, T, T}, dt_, Tag::abcd);
    memory::desc v({n, H, T, D}, dt_, qkv_strides);
    memory::desc o({n, H, T, D}, dt_, Dims{T * W, D, W, 1});
    p.pv = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(probs, v, o), eng_));

    p.m_q = memory(q, eng_, DNNL_MEMORY_NONE);
    p.m_kt = memory(kt, eng_, DNNL_MEMORY_NONE);
    p.m_v = memory(v, eng_, DNNL_MEMORY_NONE);
    p.m_scores = memory(scores, eng_, DNNL_MEMORY_NONE);
    p.m_probs_src = memory(s2, eng_, DNNL_MEMORY_NONE);
    p.m_probs = memory(probs, eng_, DNNL_MEMORY_NONE);
    p.m_attn_dst = memory(o, eng_, DNNL_MEMORY_NONE);
    return p;
  }

  void Bind(Plan& p) {
    const int64_t W = config_.width;
    const size_t esz = dt_ == Dt::bf16 ? 2 : 4;
    char* qkv = static_cast<char*>(qkv_.data_ptr());
    p.m_emb.set_data_handle(emb_.data_ptr());
    p.m_h.set_data_handle(h_.data_ptr());
    p.m_qkv.set_data_handle(qkv);
    p.m_attn.set_data_handle(attn_.data_ptr());
    p.m_x.set_data_handle(x_.data_ptr());
    p.m_f.set_data_handle(f_.data_ptr());
    if (!options_.fused_attention) {
      p.m_q.set_data_handle(qkv);
      p.m_kt.set_data_handle(qkv + W * esz);
      p.m_v.set_data_handle(qkv + 2 * W * esz);
      p.m_scores.set_data_handle(scores_.data_ptr());
      p.m_probs_src.set_data_handle(scores_.data_ptr());
      p.m_probs.set_data_handle(probs_.data_ptr());
      p.m_attn_dst.set_data_handle(attn_.data_ptr());
    }
    p.bound_generation = generation_;
  }

  dnnl::engine eng_;
  dnnl::stream stream_;
  CpuIsa kernel_isa_;
  Dt dt_ = Dt::f32;
  torch::ScalarType aten_dt_ = torch::kFloat;
  PackedLinear patch_;
  std::vector<Block> blocks_;
  torch::Tensor cls_pos_, pos_patch_, ln_pre_w_, ln_pre_b_, ln_post_w_, ln_post_b_, proj_;

  std::map<int64_t, Plan> plans_;
  int64_t scratch_n_ = 0;
  uint64_t generation_ = 0;
  torch::Tensor x_, emb_, h_, qkv_, scores_, probs_, attn_, f_;
};

dnnl::cpu_isa ToOneDnn(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kBaseline: return dnnl::cpu_isa::sse41;
    case CpuIsa::kAvx2: return dnnl::cpu_isa::avx2;
    case CpuIsa::kAvx512: return dnnl::cpu_isa::avx512_core_vnni;
    case CpuIsa::kAvx512Bf16: return dnnl::cpu_isa::avx512_core_bf16;
    case CpuIsa::kAmx: return dnnl::cpu_isa::all;
  }
  return dnnl::cpu_isa::all;
}

void ApplyIsaCapOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    const auto& cap = HostCpuFeatures().cap;
    // Fails (harmlessly) if a primitive was already created, e.g. by
    // LibTorch's own oneDNN ops; oneDNN then keeps ONEDNN_MAX_CPU_ISA.
    if (cap) (void)dnnl::set_max_cpu_isa(ToOneDnn(*cap));
  });
}

}  // namespace

std::string OneDnnIsaName() {
  ApplyIsaCapOnce();
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

CpuIsa OneDnnIsaLevel() {
  ApplyIsaCapOnce();
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx2:
    case dnnl::cpu_isa::avx2_vnni: return CpuIsa::kAvx2;
    case dnnl::cpu_isa::avx512_core:
    case dnnl::cpu_isa::avx512_core_vnni: return CpuIsa::kAvx512;
    case dnnl::cpu_isa::avx512_core_bf16: return CpuIsa::kAvx512Bf16;
    case dnnl::cpu_isa::avx512_core_amx: return CpuIsa::kAmx;
    default: return CpuIsa::kBaseline;
  }
}

std::unique_ptr<VitModel> MakeOneDnnVit(const VitConfig& config, VitWeights weights, const VitOptions& options) {
  return std::make_unique<OneDnnVit>(config, std::move(weights), options);
}

}  // namespace clipserve::model::internal

#endif  // CLIPSERVE_HAVE_ONEDNN
