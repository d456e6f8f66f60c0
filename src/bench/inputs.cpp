#include "bench/inputs.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "image/image.h"

namespace clipserve::bench {

std::string ContentId(std::span<const std::uint8_t> bytes) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::uint8_t b : bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

namespace {

Status FillTensor(InputImage& img, int size) {
  image::PreprocessOptions opt;
  opt.image_size = size;
  auto rgb = image::DecodeAndPrepare(img.encoded, opt);
  if (!rgb.ok()) return rgb.status().WithPrefix(img.name);
  img.size = size;
  img.unit_chw.assign(static_cast<std::size_t>(3 * size * size), 0.0f);
  image::ToUnitChw(*rgb, img.unit_chw);
  return Status::Ok();
}

const char* MimeOf(image::Format f) {
  switch (f) {
    case image::Format::kPng: return "image/png";
    case image::Format::kWebp: return "image/webp";
    default: return "image/jpeg";
  }
}

}  // namespace

StatusOr<InputImage> MakeSyntheticImage(std::uint64_t seed, int size, int quality) {
  image::RgbImage rgb;
  rgb.width = size;
  rgb.height = size;
  rgb.data.resize(static_cast<std::size_t>(size) * size * 3);
  std::mt19937_64 rng(seed);
  for (auto& px : rgb.data) px = static_cast<std::uint8_t>(rng() & 0xff);  // like np.random.randint(0, 256)
  auto jpeg = image::EncodeJpeg(rgb, quality);
  if (!jpeg.ok()) return jpeg.status();
  InputImage img;
  img.encoded = std::move(*jpeg);
  img.name = "synthetic-" + ContentId(img.encoded) + ".jpg";
  RETURN_IF_ERROR(FillTensor(img, size));
  return img;
}

StatusOr<InputImage> LoadImageFile(const std::string& path, int size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read image '" + path + "'");
  InputImage img;
  img.encoded.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  img.name = std::filesystem::path(path).filename().string();
  img.mime = MimeOf(image::DetectFormat(img.encoded));
  RETURN_IF_ERROR(FillTensor(img, size));
  return img;
}

StatusOr<RunInputs> MakeRunInputs(const BenchConfig& config, std::string* description) {
  RunInputs inputs;
  if (config.images_dir.empty()) {
    for (int i = 0; i < config.image_pool; ++i) {
      ASSIGN_OR_RETURN(auto img, MakeSyntheticImage(config.seed * 1000003ull + static_cast<std::uint64_t>(i),
                                                    config.image_size, config.jpeg_quality));
      inputs.images.push_back(std::move(img));
    }
    constexpr std::uint64_t kProbeSeed = 0x70726f6265ull;  // fixed: probes compare across runs
    for (int i = 0; i < config.probe_images; ++i) {
      ASSIGN_OR_RETURN(auto img, MakeSyntheticImage(kProbeSeed + static_cast<std::uint64_t>(i), config.image_size, 95));
      img.name = "probe-" + ContentId(img.encoded);
      inputs.probes.push_back(std::move(img));
    }
    if (description) {
      *description = std::to_string(config.image_pool) + " synthetic " + std::to_string(config.image_size) + "x" +
                     std::to_string(config.image_size) + " noise JPEGs (q" + std::to_string(config.jpeg_quality) +
                     ", seed " + std::to_string(config.seed) + ")";
    }
    return inputs;
  }
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(config.images_dir, ec)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".webp") files.push_back(e.path().string());
  }
  if (ec) return NotFoundError("--images: cannot list '" + config.images_dir + "': " + ec.message());
  if (files.empty()) return InvalidArgumentError("--images: no .jpg/.jpeg/.png/.webp files in '" + config.images_dir + "'");
  std::sort(files.begin(), files.end());
  for (std::size_t i = 0; i < files.size() && inputs.images.size() < static_cast<std::size_t>(config.image_pool); ++i) {
    ASSIGN_OR_RETURN(auto img, LoadImageFile(files[i], config.image_size));
    inputs.images.push_back(std::move(img));
  }
  for (std::size_t i = 0; i < inputs.images.size() && inputs.probes.size() < static_cast<std::size_t>(config.probe_images); ++i) {
    InputImage p = inputs.images[i];
    p.name = "probe-" + ContentId(p.encoded);
    inputs.probes.push_back(std::move(p));
  }
  if (description) {
    *description = std::to_string(inputs.images.size()) + " files from " + config.images_dir + " (of " +
                   std::to_string(files.size()) + ")";
  }
  return inputs;
}

}  // namespace clipserve::bench
