// clip-embed: image files -> L2-normalized CLIP image embeddings (.npy/.jsonl).
//
//   clip-embed [--model NAME | --config FILE] [--weights FILE | random:SEED]
//              [--quick-gelu] [--precision auto|fp32|bf16|fp16] [--device cpu|cuda]
//              [--threads N] [--batch-size N] [--decode-threads N] [--format npy|jsonl]
//              [--preprocess-only] [--skip-bad] --output OUT IMAGE... | DIR
//
// Rows follow the order of the arguments; a directory contributes its regular
// files (dotfiles skipped, not recursive) sorted by name. Embeddings go
// through the service layer, as in clip-server: files are read here, decoded
// several at once on its decode pool, and batched by its batcher into
// forward passes of up to --batch-size images while earlier ones run. Stdout stays empty;
// diagnostics, progress (only when stderr is a terminal) and the summary go
// to stderr. Exit status: 0 on success; 1 when an image fails (without
// --skip-bad), when nothing could be embedded, or on any other error; 2 on
// bad flags.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "image/image.h"
#include "metrics/registry.h"
#include "model/vit_config.h"
#include "service/model_service.h"
#include "output_writer.h"

namespace {

using clipserve::Status;
using clipserve::StatusOr;
namespace engine = clipserve::engine;
namespace image = clipserve::image;
namespace apps = clipserve::apps;

struct Flags {
  engine::EngineOptions engine;
  std::string precision = "auto";
  std::string device = "cpu";
  int batch_size = 8;
  int decode_threads = 0;
  std::string output;
  std::string format = "npy";
  bool preprocess_only = false;
  bool skip_bad = false;
  std::vector<std::string> inputs;
};

void AddFlags(CLI::App& app, Flags& f) {
  auto& e = f.engine;
  app.add_option("--model", e.model, "Built-in ViT config name (default ViT-B-32; test-tiny for tests)");
  app.add_option("--config", e.config_path,
                 "open_clip model JSON (or Hugging Face CLIP config.json); overrides --model");
  app.add_option("--weights", e.weights,
                 "Weights: .safetensors (open_clip or Hugging Face), torch.save .bin/.pt, or random:SEED "
                 "(real compute, meaningless embeddings) (default random:0)");
  app.add_flag("--quick-gelu", e.quick_gelu, "Use QuickGELU (OpenAI-trained weights) (default: from the config)");
  app.add_option("--precision", f.precision, "Compute precision: auto | fp32 | bf16 | fp16 (default auto: bf16 on a CPU with native "
                 "bf16, else fp32; fp16 on CUDA)")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  app.add_option("--device", f.device, "cpu | cuda | cuda:N (default cpu)");
  app.add_option("--threads", e.threads, "Intra-op CPU threads; 0 = all cores (default 0)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch-size", f.batch_size, "Most images per forward pass (default 8)")->check(CLI::Range(1, 4096));
  app.add_option("--decode-threads", f.decode_threads, "Threads decoding images, several at once (default 0 = one per CPU)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--output,-o", f.output, "Output file (.npy float32 [N, D], or JSON Lines)")->required();
  app.add_option("--format", f.format, "npy | jsonl (default npy)")->check(CLI::IsMember({"npy", "jsonl"}));
  app.add_flag("--preprocess-only", f.preprocess_only,
               "Write the normalized model input [N, 3, S, S] instead of embeddings (no model run)");
  app.add_flag("--skip-bad", f.skip_bad, "Skip images that fail to load, list them at the end (default: stop)");
  app.add_option("inputs", f.inputs, "Image files and/or directories (a directory's files are sorted by name)")
      ->required();
}

Status ParseDevice(const std::string& text, engine::EngineOptions& e) {
  std::string kind = text;
  if (auto colon = text.find(':'); colon != std::string::npos) {
    kind = text.substr(0, colon);
    const std::string index = text.substr(colon + 1);
    if (index.empty() || index.size() > 3 || index.find_first_not_of("0123456789") != std::string::npos) {
      return clipserve::InvalidArgumentError("--device: bad device index in '" + text + "'");
    }
    e.device_index = std::stoi(index);
  }
  ASSIGN_OR_RETURN(e.device, engine::ParseDeviceKind(kind));
  return {};
}

// `output` is left out of directory listings, so re-running into the same
// folder does not read the previous result as an image.
StatusOr<std::vector<std::string>> ExpandInputs(const std::vector<std::string>& inputs, const std::string& output) {
  namespace fs = std::filesystem;
  std::error_code out_ec;
  const fs::path output_path = fs::weakly_canonical(output, out_ec);
  const fs::path partial_path = fs::weakly_canonical(output + ".partial", out_ec);
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (!fs::is_directory(input, ec)) {
      files.push_back(input);  // a missing file fails later, named, like a bad image
      continue;
    }
    std::vector<std::string> entries;
    for (const auto& entry : fs::directory_iterator(input, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      std::error_code type_ec;
      if (!entry.is_regular_file(type_ec)) continue;
      const fs::path canonical = fs::weakly_canonical(entry.path(), type_ec);
      if (canonical == output_path || canonical == partial_path) continue;
      entries.push_back(entry.path().string());
    }
    if (ec) return clipserve::InvalidArgumentError("cannot list directory " + input + ": " + ec.message());
    std::sort(entries.begin(), entries.end());
    files.insert(files.end(), entries.begin(), entries.end());
  }
  if (files.empty()) return clipserve::InvalidArgumentError("no input images");
  return files;
}

StatusOr<int> ImageSizeOf(const engine::EngineOptions& e) {
  ASSIGN_OR_RETURN(const clipserve::model::VitConfig config,
                   clipserve::model::ResolveVitConfig(e.model, e.config_path, e.quick_gelu));
  return config.image_size;
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return clipserve::NotFoundError("cannot open file");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return clipserve::InternalError("read error");
  return bytes;
}

StatusOr<image::RgbImage> LoadImage(const std::string& path, int image_size) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  image::PreprocessOptions options;
  options.image_size = image_size;
  return image::DecodeAndPrepare(bytes, options);
}

struct Failure {
  std::string path;
  std::string reason;
};

class Progress {
 public:
  explicit Progress(std::size_t total) : total_(total), enabled_(isatty(STDERR_FILENO) == 1) {}
  void Update(std::size_t done) {
    if (!enabled_) return;
    const double s = Seconds();
    if (done < total_ && s - last_shown_s_ < 0.1) return;  // at most ~10 redraws per second
    last_shown_s_ = s;
    std::fprintf(stderr, "\rclip-embed: %zu/%zu images  %.1f img/s ", done, total_, s > 0 ? done / s : 0.0);
    shown_ = true;
  }
  void Clear() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
    shown_ = false;
  }
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::size_t total_;
  bool enabled_;
  bool shown_ = false;
  double last_shown_s_ = -1;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Reports a bad image: without --skip-bad it stops the run (false).
bool BadImage(const Flags& f, const std::string& path, const std::string& why, Progress& progress,
              std::vector<Failure>& failures) {
  if (!f.skip_bad) {
    progress.Clear();
    std::fprintf(stderr, "clip-embed: %s: %s\n", path.c_str(), why.c_str());
    std::fprintf(stderr, "clip-embed: stopped (use --skip-bad to continue past bad images)\n");
    return false;
  }
  failures.push_back({path, why});
  return true;
}

// --preprocess-only: the model inputs, one file after another (no model).
StatusOr<bool> PreprocessFiles(const Flags& f, const std::vector<std::string>& files, int image_size,
                               apps::OutputWriter& writer, Progress& progress, std::vector<Failure>& failures) {
  std::vector<float> pixels(3ull * image_size * image_size);
  for (std::size_t k = 0; k < files.size(); ++k) {
    StatusOr<image::RgbImage> img = LoadImage(files[k], image_size);
    if (!img.ok()) {
      if (!BadImage(f, files[k], img.status().message(), progress, failures)) return false;
      continue;
    }
    image::ToNormalizedChw(*img, pixels);
    RETURN_IF_ERROR(writer.Append(files[k], pixels));
    progress.Update(k + 1);
  }
  return true;
}

// Embeddings through the service layer. Each file is one request of one
// image; at most `window` are in flight (bounded memory), and rows are
// written in input order as they complete.
StatusOr<bool> EmbedFiles(const Flags& f, const std::vector<std::string>& files, std::unique_ptr<engine::Engine> eng,
                          apps::OutputWriter& writer, Progress& progress, std::vector<Failure>& failures) {
  namespace service = clipserve::service;
  struct Slot {
    std::string bytes;
    std::optional<Status> read_error;
    std::optional<service::EmbedResult> result;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Slot>> slots(files.size());

  clipserve::metrics::Registry registry;
  service::ModelServiceOptions so;
  so.kserve_batching.max_batch_size = f.batch_size;
  so.kserve_batching.dynamic_batching = true;
  so.warmup_batch_sizes = {};
  so.max_images_per_request = 1;
  so.decode_threads = f.decode_threads;
  service::ModelService svc(so, &registry);
  RETURN_IF_ERROR(svc.Load([&eng](int, int) -> StatusOr<std::unique_ptr<engine::Engine>> { return std::move(eng); }));
  // Every callback has run once this returns: the slots outlive them.
  struct Stop {
    service::ModelService& svc;
    ~Stop() { (void)svc.Shutdown(std::chrono::seconds(60)); }
  } stop{svc};

  const std::size_t window = std::max<std::size_t>(8, 4 * static_cast<std::size_t>(f.batch_size));
  std::size_t submitted = 0;
  for (std::size_t next = 0; next < files.size(); ++next) {
    for (; submitted < files.size() && submitted < next + window; ++submitted) {
      auto slot = std::make_unique<Slot>();
      Slot* s = slot.get();
      StatusOr<std::string> bytes = ReadFile(files[submitted]);
      {
        std::lock_guard lock(mu);
        slots[submitted] = std::move(slot);
        if (!bytes.ok()) s->read_error = bytes.status();
      }
      if (!bytes.ok()) continue;
      s->bytes = std::move(*bytes);
      const std::string_view view(s->bytes);
      svc.EmbedEncodedAsync(service::InferRoute::kKserveImage, std::span<const std::string_view>(&view, 1),
                            [&mu, &cv, s](service::EmbedResult r) {
                              std::lock_guard lock(mu);
                              s->result.emplace(std::move(r));
                              cv.notify_all();
                            });
    }
    std::unique_ptr<Slot> done;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return slots[next]->read_error || slots[next]->result; });
      done = std::move(slots[next]);
    }
    const std::string& path = files[next];
    if (done->read_error) {
      if (!BadImage(f, path, done->read_error->message(), progress, failures)) return false;
      continue;
    }
    service::EmbedResult& r = *done->result;
    if (!r.ok()) {
      if (r.failure().kind != service::FailureKind::kBadImage) return r.status();
      if (!BadImage(f, path, r.failure().detail, progress, failures)) return false;
      continue;
    }
    RETURN_IF_ERROR(writer.Append(path, r->result.embeddings));
    progress.Update(next + 1);
  }
  return true;
}

int Run(Flags& f) {
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "clip-embed: %s\n", st.message().c_str());
    return 1;
  };
  StatusOr<engine::Precision> precision = engine::ParsePrecision(f.precision);
  if (!precision.ok()) return fail(precision.status());
  f.engine.precision = *precision;
  if (Status st = ParseDevice(f.device, f.engine); !st.ok()) return fail(st);
  // A precision this CPU cannot compute (or an unreadable ISA cap) is a
  // usage error, refused before any file is read.
  for (const Status& st : {clipserve::CpuIsaCapFromEnv().status(),
                           engine::ResolvePrecision(f.engine.precision, f.engine.device,
                                                    clipserve::HostCpuFeatures()).status()}) {
    if (!st.ok()) {
      std::fprintf(stderr, "clip-embed: %s\n", st.message().c_str());
      return 2;
    }
  }
  StatusOr<std::vector<std::string>> files = ExpandInputs(f.inputs, f.output);
  if (!files.ok()) return fail(files.status());

  std::unique_ptr<engine::Engine> eng;
  int image_size = 0;
  std::vector<std::int64_t> row_shape;
  if (f.preprocess_only) {
    StatusOr<int> size = ImageSizeOf(f.engine);
    if (!size.ok()) return fail(size.status());
    image_size = *size;
    row_shape = {3, image_size, image_size};
  } else {
    StatusOr<std::unique_ptr<engine::Engine>> created = engine::CreateEngine(f.engine);
    if (!created.ok()) return fail(created.status());
    eng = std::move(created).value();
    image_size = eng->info().image_size;
    row_shape = {eng->info().embed_dim};
  }
  auto writer = apps::OutputWriter::Open(f.output, f.format == "jsonl" ? apps::OutputFormat::kJsonl
                                                                        : apps::OutputFormat::kNpy,
                                         row_shape);
  if (!writer.ok()) return fail(writer.status());

  std::vector<Failure> failures;
  Progress progress(files->size());
  const StatusOr<bool> went = f.preprocess_only ? PreprocessFiles(f, *files, image_size, **writer, progress, failures)
                                                : EmbedFiles(f, *files, std::move(eng), **writer, progress, failures);
  if (!went.ok()) return fail(went.status());
  if (!*went) return 1;  // stopped at a bad image (already reported)
  progress.Clear();

  for (const Failure& failure : failures) {
    std::fprintf(stderr, "clip-embed: skipped %s: %s\n", failure.path.c_str(), failure.reason.c_str());
  }
  const std::int64_t rows = (*writer)->rows();
  if (rows == 0) {
    std::fprintf(stderr, "clip-embed: no image could be read; nothing written\n");
    return 1;
  }
  if (Status st = (*writer)->Finish(); !st.ok()) return fail(st);
  std::string shape = std::to_string(rows);
  for (std::int64_t d : row_shape) shape += ", " + std::to_string(d);
  const double seconds = progress.Seconds();
  std::fprintf(stderr, "clip-embed: wrote [%s] %s to %s in %.2f s (%.1f img/s)%s\n", shape.c_str(),
               f.preprocess_only ? "model inputs" : "embeddings", f.output.c_str(), seconds,
               seconds > 0 ? static_cast<double>(rows) / seconds : 0.0,
               failures.empty() ? "" : (", skipped " + std::to_string(failures.size())).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"clip-embed: CLIP image embeddings (OpenCLIP ViT, LibTorch) for image files"};
  Flags flags;
  AddFlags(app, flags);
  CLI11_PARSE(app, argc, argv);
  try {
    return Run(flags);
  } catch (const std::exception& e) {  // last resort: a third-party exception
    std::fprintf(stderr, "clip-embed: internal error: %s\n", e.what());
    return 1;
  }
}
