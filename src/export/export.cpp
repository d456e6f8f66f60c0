// ExportModelRepository: weights -> model file + config.pbtxt.
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>

#include "export/export.h"
#include "export/writers.h"
#include "model/weights.h"

namespace clipserve::exporter {
namespace {

namespace fs = std::filesystem;

// Writes through `path.partial` and a rename, so Triton (which may be
// polling the repository) never sees a half-written file.
Status CommitFile(const fs::path& partial, const fs::path& path) {
  std::error_code ec;
  fs::rename(partial, path, ec);
  if (ec) {
    fs::remove(partial, ec);
    return InternalError("cannot rename " + partial.string() + " to " + path.string());
  }
  return {};
}

}  // namespace

StatusOr<ExportResult> ExportModelRepository(const ExportOptions& o) {
  RETURN_IF_ERROR(ValidateExportOptions(o));
  ExportResult r;
  ASSIGN_OR_RETURN(r.vit, model::ResolveVitConfig(o.model, o.config_path, o.quick_gelu));
  // Config first: a bad batching flag fails before the weights are read.
  ASSIGN_OR_RETURN(batching::TritonModelConfig triton, BuildTritonConfig(o, r.vit));
  const std::string config_text = RenderTritonConfig(o, triton, r.vit);
  if (StatusOr<batching::TritonModelConfig> back = batching::ParseTritonConfig(config_text); !back.ok()) {
    return InternalError("the written config.pbtxt does not parse back: " + back.status().message());
  }

  const fs::path model_dir = fs::path(o.output_dir) / o.model_name;
  const fs::path version_dir = model_dir / "1";
  std::error_code ec;
  fs::create_directories(version_dir, ec);
  if (ec) return InternalError("cannot create " + version_dir.string() + ": " + ec.message());
  const bool onnx = o.format == ExportFormat::kOnnx;
  const fs::path model_path = version_dir / (onnx ? "model.onnx" : "model.pt");
  const fs::path model_partial = model_path.string() + ".partial";
  const bool fp16 = o.precision == ExportPrecision::kFp16;

  {
    ASSIGN_OR_RETURN(model::WeightMap weights, model::LoadWeights(o.weights, r.vit));
    model::internal::VitWeights prepared;
    try {
      prepared = model::internal::PrepareWeights(r.vit, weights, /*fold_normalization=*/true,
                                                 /*fold_attention_scale=*/true);
    } catch (const c10::Error& e) {
      return InternalError(std::string("preparing the weights failed: ") + e.what_without_backtrace());
    }
    weights.clear();
    Status st = onnx ? WriteOnnx(r.vit, std::move(prepared), fp16, model_partial.string())
                     : WriteTorchScript(r.vit, prepared, fp16, model_partial.string());
    if (!st.ok()) {
      fs::remove(model_partial, ec);
      return st;
    }
  }
  RETURN_IF_ERROR(CommitFile(model_partial, model_path));
  // The other format's file from an earlier export would make Triton's
  // model directory ambiguous to a reader; the config names the platform.
  fs::remove(version_dir / (onnx ? "model.pt" : "model.onnx"), ec);

  const fs::path config_path = model_dir / "config.pbtxt";
  const fs::path config_partial = config_path.string() + ".partial";
  {
    std::ofstream out(config_partial, std::ios::binary | std::ios::trunc);
    out << config_text;
    if (!out.flush()) return InternalError("cannot write " + config_partial.string());
  }
  RETURN_IF_ERROR(CommitFile(config_partial, config_path));

  r.model_dir = model_dir.string();
  r.model_path = model_path.string();
  r.config_path = config_path.string();
  r.model_file_bytes = fs::file_size(model_path, ec);
  return r;
}

}  // namespace clipserve::exporter
