// Preprocessing cost on one thread: a 1920x1080 JPEG -> the model's input
// tensor (3 x 224 x 224 floats, normalized), split into decode and
// resize + crop + convert + to-float, plus the end-to-end call.
//
//   build/bench/image/image_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   build/bench/image/image_bench --write_jpeg=/tmp/bench1080p.jpg --benchmark_filter=EndToEnd &&
//     /usr/bin/python3 bench/image/pillow_baseline.py /tmp/bench1080p.jpg
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <random>
#include <vector>

#include "image/image.h"
#include "image/image_internal.h"

namespace clipserve::image {
namespace {

// Photo-like content (smooth gradients, texture, edges) so the JPEG has a
// realistic size and entropy; ~0.5 MB at quality 90.
RgbImage Synthetic(int w, int h) {
  RgbImage img;
  img.width = w;
  img.height = h;
  img.data.resize(static_cast<size_t>(w) * h * 3);
  std::mt19937 rng(42);
  std::normal_distribution<float> noise(0.0f, 6.0f);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const float fx = static_cast<float>(x) / w, fy = static_cast<float>(y) / h;
      const float tex = 20.0f * std::sin(fx * 90.0f) * std::cos(fy * 60.0f);
      const bool edge = ((x / 160) + (y / 120)) % 3 == 0;
      for (int c = 0; c < 3; ++c) {
        float v = 60.0f + 120.0f * (c == 0 ? fx : c == 1 ? fy : 1.0f - fx) + tex + noise(rng) + (edge ? 40.0f : 0.0f);
        img.data[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<std::uint8_t>(std::clamp(v, 0.0f, 255.0f));
      }
    }
  }
  return img;
}

const std::vector<std::uint8_t>& Jpeg1080p() {
  static const std::vector<std::uint8_t> jpeg = [] {
    auto r = EncodeJpeg(Synthetic(1920, 1080), 90);
    if (!r.ok()) {
      std::fprintf(stderr, "EncodeJpeg failed: %s\n", r.status().ToString().c_str());
      std::abort();
    }
    return *r;
  }();
  return jpeg;
}

void BM_Jpeg1080p_Decode(benchmark::State& state) {
  const auto& jpeg = Jpeg1080p();
  const PreprocessOptions opt;
  for (auto _ : state) {
    auto d = internal::DecodeAny(jpeg, opt);
    if (!d.ok()) state.SkipWithError(d.status().ToString().c_str());
    benchmark::DoNotOptimize(d);
  }
  state.counters["jpeg_bytes"] = static_cast<double>(jpeg.size());
  auto d = internal::DecodeAny(jpeg, opt);
  state.counters["decoded_columns"] = d.ok() ? (d->stored_width != 0 ? d->stored_width : d->width) : 0;
}
BENCHMARK(BM_Jpeg1080p_Decode)->Unit(benchmark::kMillisecond);

// Same, decoding every column (the column-cropped decode is off whenever
// EXIF orientation is applied; this file has no EXIF, so the pixels are the same).
void BM_Jpeg1080p_DecodeAllColumns(benchmark::State& state) {
  const auto& jpeg = Jpeg1080p();
  PreprocessOptions opt;
  opt.apply_exif_orientation = true;
  for (auto _ : state) {
    auto d = internal::DecodeAny(jpeg, opt);
    if (!d.ok()) state.SkipWithError(d.status().ToString().c_str());
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_Jpeg1080p_DecodeAllColumns)->Unit(benchmark::kMillisecond);

void BM_Jpeg1080p_ResizeCropToTensor(benchmark::State& state) {
  const PreprocessOptions opt;
  auto decoded = internal::DecodeAny(Jpeg1080p(), opt);
  if (!decoded.ok()) {
    state.SkipWithError(decoded.status().ToString().c_str());
    return;
  }
  std::vector<float> tensor(3 * 224 * 224);
  for (auto _ : state) {
    // An RGB image is not modified by ResizeCropToRgb (only alpha images
    // are premultiplied in place), so the same decode serves every run.
    RgbImage rgb = internal::ResizeCropToRgb(*decoded, opt);
    ToNormalizedChw(rgb, tensor);
    benchmark::DoNotOptimize(tensor.data());
  }
}
BENCHMARK(BM_Jpeg1080p_ResizeCropToTensor)->Unit(benchmark::kMillisecond);

// The two resampling passes alone (1920x1080 RGB -> 398x224, 224x224 window).
// Arg 0: source holds only the needed columns (as decoded); 1: all columns.
void BM_Resample1080pTo224(benchmark::State& state) {
  PreprocessOptions opt;
  opt.apply_exif_orientation = state.range(0) == 1;
  auto decoded = internal::DecodeAny(Jpeg1080p(), opt);
  const internal::Window w = internal::ResizeWindow(1920, 1080, 224);
  const int stored = decoded->stored_width != 0 ? decoded->stored_width : decoded->width;
  const internal::Plane8 src{decoded->pixels.data(), 1920, 1080, 3, decoded->col0, static_cast<size_t>(stored) * 3};
  for (auto _ : state) {
    auto px = internal::ResampleBicubic8(src, w);
    benchmark::DoNotOptimize(px.data());
  }
}
BENCHMARK(BM_Resample1080pTo224)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_Jpeg1080p_EndToEnd(benchmark::State& state) {
  const auto& jpeg = Jpeg1080p();
  const PreprocessOptions opt;
  std::vector<float> tensor(3 * 224 * 224);
  for (auto _ : state) {
    auto rgb = DecodeAndPrepare(jpeg, opt);
    if (!rgb.ok()) state.SkipWithError(rgb.status().ToString().c_str());
    ToNormalizedChw(*rgb, tensor);
    benchmark::DoNotOptimize(tensor.data());
  }
}
BENCHMARK(BM_Jpeg1080p_EndToEnd)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace clipserve::image

// Extra flag: --write_jpeg=PATH writes the benchmark's 1080p JPEG (for
// bench/image/pillow_baseline.py, which times Pillow on the same bytes).
int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--write_jpeg=", 0) == 0) {
      const auto& jpeg = clipserve::image::Jpeg1080p();
      std::ofstream(arg.substr(13), std::ios::binary)
          .write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
      continue;
    }
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
