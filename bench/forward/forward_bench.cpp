// Forward throughput of the ViT against the machine's own GEMM peak, in one
// run (ratios are only meaningful side by side on a shared, noisy machine).
//
//   forward_bench [--model ViT-B-32] [--threads 2] [--batches 1,4,8,16,32]
//                 [--dtypes fp32,bf16] [--backends onednn,onednn-unfused,blas,aten]
//                 [--kernel-isa avx2]
//                 [--min-seconds 3] [--peak-sizes 1024,2048,4096] [--device cpu|cuda]
//
// On CUDA (LibTorch with CUDA): the peak is torch::mm's, the dtypes may
// include fp16, and only the aten backend runs.
//
// 1. GEMM peak per dtype: C = A * B for square n x n matrices (2 n^3 FLOP),
//    with oneDNN (B pre-packed: what a library can do at best) and with
//    torch::mm; the peak is the best of all of them.
// 2. Forward of the model with deterministic random weights (real compute):
//    img/s, ms per batch, GFLOP/s (model FLOPs / time) and % of the peak of
//    the same dtype; batch 1 is also the single-image latency.
#include <torch/cuda.h>
#include <torch/torch.h>
#include <ATen/Parallel.h>

#if __has_include(<dnnl.hpp>) && defined(CLIPSERVE_HAVE_ONEDNN)
#include <dnnl.hpp>
#define BENCH_ONEDNN 1
#else
#define BENCH_ONEDNN 0
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "model/vit.h"
#include "model/vit_config.h"
#include "model/weights.h"

namespace {

using Clock = std::chrono::steady_clock;
using clipserve::model::VitBackend;
using clipserve::model::VitConfig;

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

struct Args {
  std::string model = "ViT-B-32";
  int threads = 2;
  std::vector<int> batches = {1, 4, 8, 16, 32};
  std::vector<std::string> dtypes = {"fp32", "bf16"};
  // onednn: oneDNN with the fused kernels; onednn-unfused: oneDNN with its
  // own attention primitives; blas: BLAS GEMMs + our kernels; aten: plain
  // ATen; auto: what the engine would pick on this CPU.
  std::vector<std::string> backends = {"auto", "onednn", "blas", "aten"};
  std::string kernel_isa;  // cap for our kernels (default: the CPU's)
  double min_seconds = 3.0;
  std::vector<int> peak_sizes = {1024, 2048, 4096};
  bool cuda = false;
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value for %s\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto ints = [&](const std::string& v) {
      std::vector<int> out;
      for (const auto& s : Split(v)) out.push_back(std::stoi(s));
      return out;
    };
    if (k == "--model") a.model = next();
    else if (k == "--threads") a.threads = std::stoi(next());
    else if (k == "--batches") a.batches = ints(next());
    else if (k == "--dtypes") a.dtypes = Split(next());
    else if (k == "--backends") a.backends = Split(next());
    else if (k == "--min-seconds") a.min_seconds = std::stod(next());
    else if (k == "--peak-sizes") a.peak_sizes = ints(next());
    else if (k == "--device") a.cuda = next() == "cuda";
    else if (k == "--kernel-isa") a.kernel_isa = next();
    else {
      std::fprintf(stderr, "unknown flag %s (see the header of forward_bench.cpp)\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

struct Timing {
  double median_s = 0;
  double min_s = 0;
};

// Runs fn once to warm up, then until min_seconds have passed (at least
// min_iters calls). The median is the typical call; the minimum is the
// least-disturbed one on a shared machine (both are reported).
template <typename F>
Timing TimeCalls(F&& fn, double min_seconds, int min_iters = 3) {
  fn();  // warm-up (primitive creation, first-touch of buffers)
  std::vector<double> t;
  const auto start = Clock::now();
  while (int(t.size()) < min_iters || std::chrono::duration<double>(Clock::now() - start).count() < min_seconds) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    if (t.size() > 2000) break;
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front()};
}

double ModelFlops(const VitConfig& c) {
  const double W = c.width, T = c.tokens(), M = c.mlp_dim, G2 = double(c.grid()) * c.grid(),
               K = 3.0 * c.patch_size * c.patch_size;
  const double patch = 2 * G2 * K * W;
  const double layer = 2 * T * W * 3 * W + 2 * T * W * W + 2 * 2 * T * W * M + 2 * 2 * T * T * W;
  return patch + c.layers * layer + 2 * W * c.embed_dim;
}

#if BENCH_ONEDNN
double OneDnnGemmGflops(int n, bool bf16, double min_seconds) {
  using dnnl::memory;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  const auto dt = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  memory::desc a({n, n}, dt, memory::format_tag::ab), b({n, n}, dt, memory::format_tag::any),
      c({n, n}, memory::data_type::f32, memory::format_tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), eng);
  memory A(a, eng), B(pd.weights_desc(), eng), C(c, eng);
  // Values do not change the speed of a dense GEMM; fill with small numbers.
  std::memset(A.get_data_handle(), 0x3c, a.get_size());
  std::memset(B.get_data_handle(), 0x3c, pd.weights_desc().get_size());
  dnnl::matmul mm(pd);
  const double sec = TimeCalls(
      [&] {
        mm.execute(s, {{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_DST, C}});
        s.wait();
      },
      min_seconds).min_s;
  return 2.0 * n * n * double(n) / sec / 1e9;
}
#endif

torch::ScalarType DtypeOf(const std::string& d) {
  return d == "bf16" ? torch::kBFloat16 : d == "fp16" ? torch::kHalf : torch::kFloat;
}

double TorchGemmGflops(int n, torch::ScalarType dt, bool cuda, double min_seconds) {
  const torch::Device dev = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  torch::Tensor a = torch::rand({n, n}).to(dev, dt), b = torch::rand({n, n}).to(dev, dt),
                c = torch::empty({n, n}, torch::TensorOptions().dtype(dt).device(dev));
  c10::InferenceMode guard;
  const double sec = TimeCalls(
      [&] {
        torch::mm_out(c, a, b);
        if (cuda) torch::cuda::synchronize();
      },
      min_seconds).min_s;
  return 2.0 * n * n * double(n) / sec / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  // Make this thread's OpenMP/ATen/oneDNN thread count explicit (the
  // engine does the same per calling thread).
  (void)at::get_num_threads();
  at::set_num_threads(args.threads);
  const clipserve::CpuFeatures& cpu = clipserve::HostCpuFeatures();
  std::printf("forward_bench: model %s, threads %d (at::get_num_threads()=%d), torch %s, oneDNN path %s (%s)\n"
              "cpu: %s, %s\n",
              args.model.c_str(), args.threads, at::get_num_threads(), TORCH_VERSION,
              clipserve::model::OneDnnCompiledIn() ? "compiled in" : "absent", clipserve::model::OneDnnIsa().c_str(),
              cpu.model_name.c_str(), cpu.Describe().c_str());

  // 1. GEMM peak.
  std::map<std::string, double> peak;
  std::printf("\n## GEMM peak (square n x n, %d threads), GFLOP/s\n", args.threads);
  std::printf("| dtype | n | oneDNN (packed B) | torch::mm |\n|---|---|---|---|\n");
  for (const auto& d : args.dtypes) {
    for (int n : args.peak_sizes) {
      double o = 0;
#if BENCH_ONEDNN
      if (!args.cuda && d != "fp16") o = OneDnnGemmGflops(n, d == "bf16", args.min_seconds / 2);
#endif
      const double t = TorchGemmGflops(n, DtypeOf(d), args.cuda, args.min_seconds / 2);
      peak[d] = std::max({peak[d], o, t});
      std::printf("| %s | %d | %.1f | %.1f |\n", d.c_str(), n, o, t);
      std::fflush(stdout);
    }
  }
  for (const auto& [d, p] : peak) std::printf("peak %s: %.1f GFLOP/s\n", d.c_str(), p);

  // 2. Forward.
  auto cfg_or = clipserve::model::BuiltinConfig(args.model);
  if (!cfg_or.ok()) {
    std::fprintf(stderr, "%s\n", cfg_or.status().ToString().c_str());
    return 2;
  }
  const VitConfig cfg = *cfg_or;
  const double flops = ModelFlops(cfg);
  std::printf("\n## Forward %s (%.3f GFLOP/image), random weights\n", cfg.name.c_str(), flops / 1e9);
  std::printf("Peak: best (minimum-time) GEMM call. Forward: median call, and in brackets the best call.\n");
  std::printf("| backend | dtype | batch | ms/batch | img/s | GFLOP/s | %% of peak | best: ms/batch, img/s, %% of peak |\n"
              "|---|---|---|---|---|---|---|---|\n");
  for (const auto& backend : args.backends) {
    for (const auto& d : args.dtypes) {
      clipserve::model::VitOptions o;
      o.dtype = DtypeOf(d);
      if (args.cuda) o.device = torch::Device(torch::kCUDA);
      o.backend = backend == "aten"   ? VitBackend::kAten
                  : backend == "blas" ? VitBackend::kBlas
                  : backend == "auto" ? VitBackend::kAuto
                                      : VitBackend::kOneDnn;
      o.fused_attention = backend != "onednn-unfused";
      if (!args.kernel_isa.empty()) o.max_kernel_isa = *clipserve::ParseCpuIsa(args.kernel_isa);
      auto m = clipserve::model::VitModel::Create(cfg, clipserve::model::RandomWeights(cfg, 0), o);
      if (!m.ok()) {
        std::printf("| %s | %s | - | %s |\n", backend.c_str(), d.c_str(), m.status().ToString().c_str());
        continue;
      }
      std::printf("| %s = %s | %s | | | | | | |\n", backend.c_str(), (*m)->compute_description().c_str(),
                  d.c_str());
      for (int b : args.batches) {
        torch::manual_seed(b);
        torch::Tensor px = torch::rand({b, 3, cfg.image_size, cfg.image_size});
        const Timing tm = TimeCalls([&] { (void)(*m)->Forward(px); }, args.min_seconds);
        const double sec = tm.median_s, best = tm.min_s;
        const double gflops = flops * b / sec / 1e9, best_gflops = flops * b / best / 1e9;
        std::printf("| %s | %s | %d | %.1f | %.2f | %.1f | %.1f%% | %.1f, %.2f, %.1f%% |\n", backend.c_str(), d.c_str(), b,
                    sec * 1e3, b / sec, gflops, 100.0 * gflops / peak[d], best * 1e3, b / best,
                    100.0 * best_gflops / peak[d]);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
