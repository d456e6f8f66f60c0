// Preprocessing cost on one thread: a 1920x1080 JPEG -> the model's input
// tensor (3 x 224 x 224 floats, normalized), split into decode and
// resize + crop + convert + to-float, plus the end-to-end call.
//
//   build/bench/image/image_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
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
}
BENCHMARK(BM_Jpeg1080p_Decode)->Unit(benchmark::kMillisecond);

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
void BM_Resample1080pTo224(benchmark::State& state) {
  auto decoded = internal::DecodeAny(Jpeg1080p(), PreprocessOptions{});
  const internal::Window w{398, 224, 87, 0, 224, 224};
  for (auto _ : state) {
    auto px = internal::ResampleBicubic8(internal::Plane8{decoded->pixels.data(), 1920, 1080, 3, 0, 0}, w);
    benchmark::DoNotOptimize(px.data());
  }
}
BENCHMARK(BM_Resample1080pTo224)->Unit(benchmark::kMillisecond);

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

BENCHMARK_MAIN();
