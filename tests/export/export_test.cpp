// Exported models, run in their runtimes and compared with clip-server's
// engine on the same weights and input:
//   TorchScript: torch::jit::load in C++ (what Triton's pytorch backend does),
//                cos >= 0.99999 (fp32).
//   ONNX:        onnx::checker, then ONNX Runtime through onnxruntime-node
//                (tests/export/run_onnx.js), cos >= 0.9999 (fp32).
// onnxruntime-node comes from `.ci/run` (into .cache/node); without it the
// ONNX Runtime tests fail under CI=true and are skipped elsewhere.
#include <gtest/gtest.h>
#include <torch/script.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "batching/triton_config.h"
#include "engine/engine.h"
#include "export/export.h"
#include "export/writers.h"

namespace clipserve::exporter {
namespace {

namespace fs = std::filesystem;

fs::path FreshDir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("clip_export_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

ExportResult Export(const std::string& model, ExportFormat format, const fs::path& repo,
                    ExportPrecision precision = ExportPrecision::kFp32, bool quick_gelu = false) {
  ExportOptions o;
  o.model = model;
  o.quick_gelu = quick_gelu;
  o.weights = "random:0";
  o.format = format;
  o.precision = precision;
  o.device = precision == ExportPrecision::kFp16 ? TargetDevice::kGpu : TargetDevice::kCpu;
  o.output_dir = repo.string();
  auto r = ExportModelRepository(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : ExportResult{};
}

std::vector<float> Pixels(int batch, int size) {
  torch::manual_seed(7);
  torch::Tensor t = torch::rand({batch, 3, size, size}, torch::kFloat);
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

std::vector<float> EngineEmbeddings(const std::string& model, const std::vector<float>& pixels, int batch,
                                    bool quick_gelu = false) {
  engine::EngineOptions options;
  options.model = model;
  options.quick_gelu = quick_gelu;
  options.weights = "random:0";
  auto eng = engine::CreateEngine(options);
  EXPECT_TRUE(eng.ok()) << eng.status().ToString();
  if (!eng.ok()) return {};
  std::vector<float> out(static_cast<std::size_t>(batch) * (*eng)->info().embed_dim);
  Status st = (*eng)->Embed(pixels, batch, out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

// The smallest cosine similarity over the rows.
double MinCosine(const std::vector<float>& a, const std::vector<float>& b, int rows) {
  EXPECT_EQ(a.size(), b.size());
  if (a.size() != b.size() || a.empty()) return -1;
  const std::size_t dim = a.size() / rows;
  double worst = 1.0;
  for (int r = 0; r < rows; ++r) {
    double dot = 0, na = 0, nb = 0;
    for (std::size_t i = r * dim; i < (r + 1) * dim; ++i) {
      dot += double(a[i]) * b[i];
      na += double(a[i]) * a[i];
      nb += double(b[i]) * b[i];
    }
    worst = std::min(worst, dot / std::sqrt(na * nb));
  }
  return worst;
}

// Guards the comparisons against a degenerate model: with random weights,
// two different images must still give clearly different embeddings.
void ExpectRowsDiffer(const std::vector<float>& rows, int batch) {
  ASSERT_GE(batch, 2);
  const std::size_t dim = rows.size() / batch;
  const std::vector<float> a(rows.begin(), rows.begin() + dim), b(rows.begin() + dim, rows.begin() + 2 * dim);
  EXPECT_LT(MinCosine(a, b, 1), 0.999);
}

// --- TorchScript ---------------------------------------------------------------

void CheckTorchScript(const std::string& model, int batch, bool quick_gelu = false) {
  const fs::path repo = FreshDir("ts_" + model);
  const ExportResult r = Export(model, ExportFormat::kTorchScript, repo, ExportPrecision::kFp32, quick_gelu);
  ASSERT_FALSE(r.model_path.empty());
  EXPECT_EQ(r.model_path, (repo / "openclip_vit_b32" / "1" / "model.pt").string());
  EXPECT_TRUE(fs::exists(repo / "openclip_vit_b32" / "config.pbtxt"));

  const std::vector<float> pixels = Pixels(batch, r.vit.image_size);
  torch::jit::Module m = torch::jit::load(r.model_path);
  m.eval();
  torch::Tensor input = torch::from_blob(const_cast<float*>(pixels.data()),
                                         {batch, 3, r.vit.image_size, r.vit.image_size}, torch::kFloat);
  torch::Tensor out;
  {
    c10::InferenceMode guard;
    out = m.forward({input}).toTensor().contiguous();
  }
  ASSERT_EQ(out.scalar_type(), torch::kFloat);
  ASSERT_EQ(out.sizes(), (std::vector<std::int64_t>{batch, r.vit.embed_dim}));
  const std::vector<float> got(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
  const std::vector<float> want = EngineEmbeddings(model, pixels, batch, quick_gelu);
  ExpectRowsDiffer(want, batch);
  const double cos = MinCosine(got, want, batch);
  std::printf("TorchScript %s%s: 1 - min cos vs engine = %.3g\n", model.c_str(), quick_gelu ? " quick-gelu" : "",
              1 - cos);
  EXPECT_GE(cos, 0.99999);
  fs::remove_all(repo);
}

TEST(ExportTorchScript, TestTinyMatchesEngine) { CheckTorchScript("test-tiny", 3); }
TEST(ExportTorchScript, VitB32MatchesEngine) { CheckTorchScript("ViT-B-32", 2); }
TEST(ExportTorchScript, QuickGeluMatchesEngine) { CheckTorchScript("test-tiny", 2, /*quick_gelu=*/true); }

TEST(ExportTorchScript, AnyBatchSizeAndForwardSignature) {
  const fs::path repo = FreshDir("ts_batch");
  const ExportResult r = Export("test-tiny", ExportFormat::kTorchScript, repo);
  ASSERT_FALSE(r.model_path.empty());
  torch::jit::Module m = torch::jit::load(r.model_path);
  // Triton's pytorch backend may bind inputs by forward's argument names.
  const auto& schema = m.get_method("forward").function().getSchema();
  ASSERT_EQ(schema.arguments().size(), 2u);  // self, image
  EXPECT_EQ(schema.arguments()[1].name(), "image");
  c10::InferenceMode guard;
  for (int n : {1, 5}) {
    torch::Tensor out = m.forward({torch::rand({n, 3, r.vit.image_size, r.vit.image_size})}).toTensor();
    EXPECT_EQ(out.size(0), n);
    EXPECT_TRUE(torch::allclose(out.norm(2, {1}), torch::ones({n}), 1e-5, 1e-5));
  }
  fs::remove_all(repo);
}

TEST(ExportTorchScript, Fp16KeepsFp32InputAndOutput) {
  const fs::path repo = FreshDir("ts_fp16");
  const ExportResult r = Export("test-tiny", ExportFormat::kTorchScript, repo, ExportPrecision::kFp16);
  ASSERT_FALSE(r.model_path.empty());
  torch::jit::Module m = torch::jit::load(r.model_path);
  for (const auto& p : m.named_parameters()) EXPECT_EQ(p.value.scalar_type(), torch::kHalf) << p.name;
  // The fp16 file is for GPUs; LibTorch's CPU kernels cannot run it, so only
  // its parameters are checked here.
  fs::remove_all(repo);
}

// --- ONNX ------------------------------------------------------------------------

// The folder holding node_modules/onnxruntime-node, or "" when absent.
std::string OrtNodePath() {
  const char* env = std::getenv("CLIPSERVE_ORT_NODE_PATH");
  const std::string dir = env ? env : std::string(CLIPSERVE_SOURCE_DIR) + "/.cache/node/node_modules";
  if (!fs::exists(fs::path(dir) / "onnxruntime-node" / "package.json")) return "";
  if (std::system("node --version > /dev/null 2>&1") != 0) return "";
  return dir;
}

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci && *ci && std::string(ci) != "false" && std::string(ci) != "0";
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void CheckOnnx(const std::string& model, int batch, ExportPrecision precision, double min_cos,
               bool quick_gelu = false) {
  const fs::path repo = FreshDir("onnx_" + model);
  const ExportResult r = Export(model, ExportFormat::kOnnx, repo, precision, quick_gelu);
  ASSERT_FALSE(r.model_path.empty());
  EXPECT_EQ(r.model_path, (repo / "openclip_vit_b32" / "1" / "model.onnx").string());
  Status checked = CheckOnnxFile(r.model_path);
  EXPECT_TRUE(checked.ok()) << checked.ToString();

  const std::string ort = OrtNodePath();
  if (ort.empty()) {
    const std::string why = "onnxruntime-node not installed (run: ONNXRUNTIME_NODE_INSTALL=skip npm install "
                            "--prefix .cache/node onnxruntime-node, as .ci/run does)";
    if (InCi()) FAIL() << why;
    GTEST_SKIP() << why;
  }
  const std::vector<float> pixels = Pixels(batch, r.vit.image_size);
  const fs::path in = repo / "input.bin", out = repo / "output.bin";
  std::ofstream(in, std::ios::binary)
      .write(reinterpret_cast<const char*>(pixels.data()), static_cast<std::streamsize>(pixels.size() * 4));
  const std::string cmd = "NODE_PATH=" + Quote(ort) + " node " +
                          Quote(std::string(CLIPSERVE_SOURCE_DIR) + "/tests/export/run_onnx.js") + " " +
                          Quote(r.model_path) + " " + Quote(in.string()) + " " + std::to_string(batch) + " " +
                          std::to_string(r.vit.image_size) + " " + Quote(out.string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<float> got(static_cast<std::size_t>(batch) * r.vit.embed_dim);
  std::ifstream result(out, std::ios::binary);
  result.read(reinterpret_cast<char*>(got.data()), static_cast<std::streamsize>(got.size() * 4));
  ASSERT_EQ(result.gcount(), static_cast<std::streamsize>(got.size() * 4));
  const std::vector<float> want = EngineEmbeddings(model, pixels, batch, quick_gelu);
  ExpectRowsDiffer(want, batch);
  const double cos = MinCosine(got, want, batch);
  std::printf("ONNX %s%s%s: 1 - min cos vs engine = %.3g\n", model.c_str(),
              precision == ExportPrecision::kFp16 ? " fp16" : "", quick_gelu ? " quick-gelu" : "", 1 - cos);
  EXPECT_GE(cos, min_cos);
  fs::remove_all(repo);
}

TEST(ExportOnnx, TestTinyInOnnxRuntimeMatchesEngine) { CheckOnnx("test-tiny", 3, ExportPrecision::kFp32, 0.9999); }
TEST(ExportOnnx, VitB32InOnnxRuntimeMatchesEngine) { CheckOnnx("ViT-B-32", 2, ExportPrecision::kFp32, 0.9999); }
TEST(ExportOnnx, QuickGeluInOnnxRuntimeMatchesEngine) {
  CheckOnnx("test-tiny", 2, ExportPrecision::kFp32, 0.9999, /*quick_gelu=*/true);
}
// fp16 inside (Cast at the boundaries); ONNX Runtime's CPU kernels run it too.
TEST(ExportOnnx, Fp16InOnnxRuntimeIsCloseToEngine) { CheckOnnx("test-tiny", 2, ExportPrecision::kFp16, 0.999); }

TEST(ExportOnnx, CheckerRejectsABrokenFile) {
  const fs::path dir = FreshDir("onnx_bad");
  std::ofstream(dir / "model.onnx", std::ios::binary) << "not a model";
  EXPECT_FALSE(CheckOnnxFile((dir / "model.onnx").string()).ok());
  fs::remove_all(dir);
}

TEST(ExportRepository, FailedExportLeavesNoFiles) {
  const fs::path repo = FreshDir("fail");
  ExportOptions o;
  o.model = "test-tiny";
  o.weights = (repo / "missing.safetensors").string();
  o.format = ExportFormat::kOnnx;
  o.device = TargetDevice::kCpu;
  o.output_dir = repo.string();
  EXPECT_FALSE(ExportModelRepository(o).ok());
  EXPECT_FALSE(fs::exists(repo / "openclip_vit_b32" / "config.pbtxt"));
  EXPECT_FALSE(fs::exists(repo / "openclip_vit_b32" / "1" / "model.onnx"));
  fs::remove_all(repo);
}

// --- the clip-export binary -------------------------------------------------------

int RunExport(const std::string& args) {
  const std::string cmd = std::string(CLIPSERVE_BINARY_DIR) + "/apps/clip-export/clip-export " + args + " 2>/dev/null";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(ExportCli, ExitStatusAndFlagsReachTheConfig) {
  const fs::path repo = FreshDir("cli");
  const std::string out = " --output " + Quote(repo.string());
  EXPECT_EQ(RunExport("--weights random:0 --format foo" + out), 2);
  EXPECT_EQ(RunExport("--weights random:0 --format onnx --device cpu --gpus 0" + out), 2);
  EXPECT_EQ(RunExport("--weights random:0 --format torchscript --device cpu --precision fp16" + out), 2);
  EXPECT_EQ(RunExport("--weights random:0 --format onnx --gpus 0,x" + out), 2);
  EXPECT_EQ(RunExport("--format onnx" + out), 2);  // --weights is required
  EXPECT_EQ(RunExport("--model test-tiny --weights " + Quote((repo / "none.safetensors").string()) +
                      " --format onnx" + out),
            1);
  ASSERT_EQ(RunExport("--model test-tiny --weights random:1 --format onnx --device gpu --gpus 0,1 "
                      "--instance-count 2 --max-batch-size 8 --max-queue-delay-us 500 "
                      "--preferred-batch-size 4,8 --warmup --model-name tiny" + out),
            0);
  EXPECT_TRUE(fs::exists(repo / "tiny" / "1" / "model.onnx"));
  auto config = batching::LoadTritonConfigFile((repo / "tiny" / "config.pbtxt").string());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->name, "tiny");
  EXPECT_EQ(config->max_batch_size, 8);
  EXPECT_EQ(config->dynamic_batching->max_queue_delay_microseconds, 500u);
  EXPECT_EQ(config->dynamic_batching->preferred_batch_size, (std::vector<int>{4, 8}));
  ASSERT_EQ(config->instance_groups.size(), 1u);
  EXPECT_EQ(config->instance_groups[0].count, 2);
  EXPECT_EQ(config->instance_groups[0].gpus, (std::vector<int>{0, 1}));
  EXPECT_EQ(config->ignored_fields, (std::vector<std::string>{"model_warmup"}));
  fs::remove_all(repo);
}

}  // namespace
}  // namespace clipserve::exporter
