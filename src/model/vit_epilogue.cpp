#include "model/vit_epilogue.h"

#include "model/vit_math.h"
#include "model/vit_parallel.h"

namespace clipserve::model::internal {
namespace {

template <bool kQuick>
__attribute__((always_inline)) inline void Rows(float* x, int64_t r0, int64_t r1, int64_t cols, int64_t stride,
                                                const float* bias) {
  for (int64_t r = r0; r < r1; ++r) {
    float* xr = x + r * stride;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = xr[c] + bias[c];
      xr[c] = kQuick ? QuickGelu(v) : GeluErf(v);
    }
  }
}

// GCC 12's AVX-512 intrinsic expansions trip a false -Wmaybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
template <bool kQuick>
CLIPSERVE_AVX512 void RowsAvx512(float* x, int64_t r0, int64_t r1, int64_t cols, int64_t stride, const float* bias) {
  for (int64_t r = r0; r < r1; ++r) {
    float* xr = x + r * stride;
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
      const __m512 v = _mm512_add_ps(_mm512_loadu_ps(xr + c), _mm512_loadu_ps(bias + c));
      _mm512_storeu_ps(xr + c, kQuick ? QuickGelu16(v) : GeluErf16(v));
    }
    for (; c < cols; ++c) xr[c] = kQuick ? QuickGelu(xr[c] + bias[c]) : GeluErf(xr[c] + bias[c]);
  }
}
#pragma GCC diagnostic pop

template <bool kQuick>
CLIPSERVE_AVX2 void RowsAvx2(float* x, int64_t r0, int64_t r1, int64_t cols, int64_t stride, const float* bias) {
  for (int64_t r = r0; r < r1; ++r) {
    float* xr = x + r * stride;
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      const __m256 v = _mm256_add_ps(_mm256_loadu_ps(xr + c), _mm256_loadu_ps(bias + c));
      _mm256_storeu_ps(xr + c, kQuick ? QuickGelu8(v) : GeluErf8(v));
    }
    for (; c < cols; ++c) xr[c] = kQuick ? QuickGelu(xr[c] + bias[c]) : GeluErf(xr[c] + bias[c]);
  }
}

template <bool kQuick>
void RowsBaseline(float* x, int64_t r0, int64_t r1, int64_t cols, int64_t stride, const float* bias) {
  Rows<kQuick>(x, r0, r1, cols, stride, bias);
}

template <bool kQuick>
void Run(float* x, int64_t rows, int64_t cols, int64_t stride, const float* bias, CpuIsa isa) {
  const auto kernel = isa >= CpuIsa::kAvx512 ? &RowsAvx512<kQuick>
                      : isa >= CpuIsa::kAvx2 ? &RowsAvx2<kQuick>
                                             : &RowsBaseline<kQuick>;
  ParallelFor(0, rows, 4, [&](int64_t r0, int64_t r1) { kernel(x, r0, r1, cols, stride, bias); });
}

}  // namespace

void BiasGeluF32(float* x, int64_t rows, int64_t cols, int64_t stride, const float* bias, bool quick, CpuIsa isa) {
  if (quick) {
    Run<true>(x, rows, cols, stride, bias, isa);
  } else {
    Run<false>(x, rows, cols, stride, bias, isa);
  }
}

}  // namespace clipserve::model::internal
