#include "model/vit_layernorm.h"

#include "model/vit_parallel.h"

#include <cmath>
#include <cstring>

namespace clipserve::model::internal {
namespace {

inline uint16_t ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;  // round to nearest even
  return (u & 0x7FFFFFFFu) > 0x7F800000u ? uint16_t(0x7FC0) : uint16_t(rounded);  // keep NaN a NaN
}

inline float Store(float v, float*) { return v; }
inline uint16_t Store(float v, uint16_t*) { return ToBf16(v); }

// Sums with 16 independent partial sums (lane j takes elements i = j mod 16),
// added up in a fixed order at the end: the compiler turns the inner loop
// into one or two vector adds, and the result is the same for every ISA.
__attribute__((always_inline)) inline float Sum16(const float* v, int64_t w, float shift) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= w; i += 16) {
    for (int j = 0; j < 16; ++j) acc[j] += v[i + j] - shift;
  }
  for (; i < w; ++i) acc[i & 15] += v[i] - shift;
  float s = 0.f;
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}

__attribute__((always_inline)) inline float SumSq16(const float* v, int64_t w, float mean) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= w; i += 16) {
    for (int j = 0; j < 16; ++j) {
      const float d = v[i + j] - mean;
      acc[j] += d * d;
    }
  }
  for (; i < w; ++i) {
    const float d = v[i] - mean;
    acc[i & 15] += d * d;
  }
  float s = 0.f;
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}

// Per row (it sits in L1): the optional residual bias, mean, then centred
// variance (no cancellation), then the affine write.
template <typename Out>
__attribute__((always_inline)) inline void NormRows(float* xw, const float* x, int64_t xs, int64_t r0, int64_t r1,
                                                    int64_t w, const float* add, const float* g, const float* b,
                                                    float eps, Out* y, int64_t ys) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * xs;
    if (add != nullptr) {
      float* xwr = xw + r * xs;
      for (int64_t i = 0; i < w; ++i) xwr[i] += add[i];
    }
    Out* yr = y + r * ys;
    const float mean = Sum16(xr, w, 0.f) / float(w);
    const float inv = 1.0f / std::sqrt(SumSq16(xr, w, mean) / float(w) + eps);
    for (int64_t i = 0; i < w; ++i) yr[i] = Store((xr[i] - mean) * inv * g[i] + b[i], yr);
  }
}

// The same loops compiled per ISA (picked at run time). No -ffast-math: FMA
// contraction is the only difference from the baseline build.
template <typename Out>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))) void NormRowsAvx512(
    float* xw, const float* x, int64_t xs, int64_t r0, int64_t r1, int64_t w, const float* add, const float* g,
    const float* b, float eps, Out* y, int64_t ys) {
  NormRows(xw, x, xs, r0, r1, w, add, g, b, eps, y, ys);
}

template <typename Out>
__attribute__((target("avx2,fma"))) void NormRowsAvx2(float* xw, const float* x, int64_t xs, int64_t r0, int64_t r1,
                                                      int64_t w, const float* add, const float* g, const float* b,
                                                      float eps, Out* y, int64_t ys) {
  NormRows(xw, x, xs, r0, r1, w, add, g, b, eps, y, ys);
}

template <typename Out>
void NormRowsBaseline(float* xw, const float* x, int64_t xs, int64_t r0, int64_t r1, int64_t w, const float* add,
                      const float* g, const float* b, float eps, Out* y, int64_t ys) {
  NormRows(xw, x, xs, r0, r1, w, add, g, b, eps, y, ys);
}

template <typename Out>
void Run(float* xw, const float* x, int64_t xs, int64_t rows, int64_t w, const float* add, const float* g,
         const float* b, float eps, Out* y, int64_t ys, CpuIsa isa) {
  const auto kernel = isa >= CpuIsa::kAvx512 ? &NormRowsAvx512<Out>
                      : isa >= CpuIsa::kAvx2 ? &NormRowsAvx2<Out>
                                             : &NormRowsBaseline<Out>;
  ParallelFor(0, rows, 8, [&](int64_t r0, int64_t r1) { kernel(xw, x, xs, r0, r1, w, add, g, b, eps, y, ys); });
}

}  // namespace

void LayerNormF32(const float* x, int64_t x_stride, int64_t rows, int64_t width, const float* gamma,
                  const float* beta, float eps, float* y, int64_t y_stride, CpuIsa isa) {
  Run<float>(nullptr, x, x_stride, rows, width, nullptr, gamma, beta, eps, y, y_stride, isa);
}

void LayerNormBf16(const float* x, int64_t x_stride, int64_t rows, int64_t width, const float* gamma,
                   const float* beta, float eps, uint16_t* y, int64_t y_stride, CpuIsa isa) {
  Run<uint16_t>(nullptr, x, x_stride, rows, width, nullptr, gamma, beta, eps, y, y_stride, isa);
}

void AddLayerNormF32(float* x, int64_t x_stride, int64_t rows, int64_t width, const float* add,
                     const float* gamma, const float* beta, float eps, float* y, int64_t y_stride, CpuIsa isa) {
  Run<float>(x, x, x_stride, rows, width, add, gamma, beta, eps, y, y_stride, isa);
}

}  // namespace clipserve::model::internal
