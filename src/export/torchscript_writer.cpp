// TorchScript for Triton's pytorch_libtorch backend, written from C++.
//
// The forward is TorchScript source compiled by Module::define against the
// module's registered parameters: only aten builtins (torch.linear,
// torch.layer_norm, ...) are used, because the C++ compiler has no Python
// resolver for torch.nn.functional.
#include <sstream>

#include "export/writers.h"

namespace clipserve::exporter {
namespace {

using model::internal::BlockWeights;
using model::internal::VitWeights;

const char* const kBlockParams[] = {"ln1_w", "ln1_b", "in_w", "in_b", "out_w", "out_b",
                                    "ln2_w", "ln2_b", "fc_w", "fc_b", "proj_w", "proj_b"};

std::vector<const torch::Tensor*> BlockTensors(const BlockWeights& b) {
  return {&b.ln1_w, &b.ln1_b, &b.in_w, &b.in_b, &b.out_w, &b.out_b,
          &b.ln2_w, &b.ln2_b, &b.fc_w, &b.fc_b, &b.proj_w, &b.proj_b};
}

// Python float literal that round-trips the double (TorchScript parses it).
std::string Float(double v) {
  std::ostringstream out;
  out.precision(17);
  out << v;
  std::string s = out.str();
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string Source(const model::VitConfig& c) {
  const int W = c.width, T = c.tokens(), H = c.heads(), D = c.head_width, P = c.patch_size, G = c.grid();
  const std::string eps = Float(c.ln_eps);
  std::ostringstream s;
  // One method per residual block, called with that block's parameters;
  // q's projection rows are pre-scaled, so attention is softmax(q k^T) v.
  s << "def block(self, x: Tensor";
  for (const char* p : kBlockParams) s << ", " << p << ": Tensor";
  s << ") -> Tensor:\n"
    << "    n = x.size(0)\n"
    << "    h = torch.layer_norm(x, [" << W << "], ln1_w, ln1_b, " << eps << ")\n"
    << "    qkv = torch.linear(h, in_w, in_b).view(n, " << T << ", 3, " << H << ", " << D
    << ").permute(2, 0, 3, 1, 4)\n"
    << "    a = torch.softmax(torch.matmul(qkv[0], qkv[1].transpose(-2, -1)), -1)\n"
    << "    o = torch.matmul(a, qkv[2]).transpose(1, 2).reshape(n, " << T << ", " << W << ")\n"
    << "    x = x + torch.linear(o, out_w, out_b)\n"
    << "    h = torch.linear(torch.layer_norm(x, [" << W << "], ln2_w, ln2_b, " << eps << "), fc_w, fc_b)\n";
  if (c.quick_gelu) {
    s << "    h = h * torch.sigmoid(1.702 * h)\n";
  } else {
    s << "    h = torch.gelu(h)\n";
  }
  s << "    return x + torch.linear(h, proj_w, proj_b)\n\n";

  s << "def forward(self, image: Tensor) -> Tensor:\n"
    << "    n = image.size(0)\n"
    << "    x = image.to(self.patch_w.dtype)\n"
    << "    x = x.reshape(n, 3, " << G << ", " << P << ", " << G << ", " << P << ").permute(0, 2, 4, 1, 3, 5)"
    << ".reshape(n, " << G * G << ", " << 3 * P * P << ")\n"
    << "    x = torch.linear(x, self.patch_w, self.patch_b) + self.pos_patch\n"
    << "    x = torch.cat([self.cls_pos.view(1, 1, " << W << ").expand(n, 1, " << W << "), x], 1)\n"
    << "    x = torch.layer_norm(x, [" << W << "], self.ln_pre_w, self.ln_pre_b, " << eps << ")\n";
  for (int l = 0; l < c.layers; ++l) {
    s << "    x = self.block(x";
    for (const char* p : kBlockParams) s << ", self.b" << l << "_" << p;
    s << ")\n";
  }
  // As the engine: proj in the compute dtype, the L2 norm in float32.
  s << "    cls = torch.layer_norm(x.select(1, 0), [" << W << "], self.ln_post_w, self.ln_post_b, " << eps << ")\n"
    << "    out = torch.matmul(cls, self.proj).to(image.dtype)\n"
    << "    return out / torch.clamp_min(torch.norm(out, 2, [1], True), 1e-12)\n";
  return s.str();
}

}  // namespace

StatusOr<torch::jit::Module> BuildTorchScriptModule(const model::VitConfig& config, const VitWeights& w,
                                                    bool fp16) {
  try {
    torch::jit::Module m("clipserve.OpenClipVisual");
    const torch::ScalarType dtype = fp16 ? torch::kHalf : torch::kFloat;
    auto add = [&](const std::string& name, const torch::Tensor& t) {
      m.register_parameter(name, t.to(dtype).contiguous(), /*is_buffer=*/false);
    };
    add("patch_w", w.patch_w);
    add("patch_b", w.patch_b);
    add("cls_pos", w.cls_pos);
    add("pos_patch", w.pos_patch);
    add("ln_pre_w", w.ln_pre_w);
    add("ln_pre_b", w.ln_pre_b);
    for (std::size_t l = 0; l < w.blocks.size(); ++l) {
      const std::vector<const torch::Tensor*> tensors = BlockTensors(w.blocks[l]);
      std::string prefix = "b";  // (not "b" + to_string(l): GCC 12 warns -Wrestrict on it)
      prefix += std::to_string(l);
      for (std::size_t i = 0; i < tensors.size(); ++i) add(prefix + "_" + kBlockParams[i], *tensors[i]);
    }
    add("ln_post_w", w.ln_post_w);
    add("ln_post_b", w.ln_post_b);
    add("proj", w.proj);
    m.define(Source(config));
    m.eval();
    return m;
  } catch (const c10::Error& e) {
    return InternalError(std::string("building the TorchScript module failed: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {  // torch::jit::ErrorReport (a compile error in Source())
    return InternalError(std::string("building the TorchScript module failed: ") + e.what());
  }
}

Status WriteTorchScript(const model::VitConfig& config, const VitWeights& weights, bool fp16,
                        const std::string& path) {
  ASSIGN_OR_RETURN(torch::jit::Module m, BuildTorchScriptModule(config, weights, fp16));
  try {
    m.save(path);
  } catch (const c10::Error& e) {
    return InternalError("writing " + path + " failed: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return InternalError("writing " + path + " failed: " + e.what());
  }
  return {};
}

}  // namespace clipserve::exporter
