// Scalar math written so the compiler vectorizes it (branch-free, no libm
// calls), shared by the hand-written kernels of the CPU forwards.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#define CLIPSERVE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define CLIPSERVE_AVX2 __attribute__((target("avx2,fma")))

namespace clipserve::model::internal {

// exp(x) for x <= 0 (softmax after subtracting the row max, erfc tails):
// Cephes' expf range reduction and polynomial (about 1 ulp).
__attribute__((always_inline)) inline float ExpNonPositive(float x) {
  x = std::max(x, -87.0f);
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln 2)
  const float f = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  const float y = p * f * f + f + 1.0f;
  const int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

// GELU(x) = x * Phi(x) = 0.5 x erfc(-x / sqrt 2), exact-erf GELU as
// torch.nn.GELU(). erfc(|z|) by Abramowitz & Stegun 7.1.26 (absolute error
// of erf below 1.5e-7, i.e. at float rounding), reflected for z < 0.
__attribute__((always_inline)) inline float GeluErf(float x) {
  const float z = x * -0.70710678118654752f;
  const float a = z < 0.f ? -z : z;
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  const float poly =
      t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  const float erfc_a = poly * ExpNonPositive(-a * a);   // erfc(|z|)
  const float erfc_z = z < 0.f ? 2.0f - erfc_a : erfc_a;
  return 0.5f * x * erfc_z;
}

// QuickGELU (OpenAI CLIP): x * sigmoid(1.702 x), with exp of a non-positive
// argument on both sides so it never overflows.
__attribute__((always_inline)) inline float QuickGelu(float x) {
  const float v = 1.702f * x;
  const float e = ExpNonPositive(v < 0.f ? v : -v);  // exp(-|v|)
  const float sig = v < 0.f ? e / (1.0f + e) : 1.0f / (1.0f + e);
  return x * sig;
}

// Vector forms of the above, lane for lane the same formulas (the scalar
// ones do not auto-vectorize reliably: GCC turns their selects into
// branches).
// The same Cephes exp on 16 lanes (x <= 0).
CLIPSERVE_AVX512 inline __m512 Exp16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  f = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), f);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, f), f, f), _mm512_set1_ps(1.0f));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

// The same exp on 8 lanes (x <= 0).
CLIPSERVE_AVX2 inline __m256 Exp8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 f = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  f = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), f);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, f), f, f), _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

// A&S 7.1.26 erfc(|z|) on 16 / 8 lanes, as GeluErf.
CLIPSERVE_AVX512 inline __m512 GeluErf16(__m512 x) {
  const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(-0.70710678118654752f));
  const __m512 a = _mm512_abs_ps(z);
  const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
  __m512 p = _mm512_set1_ps(1.061405429f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
  p = _mm512_mul_ps(p, t);
  const __m512 erfc_a = _mm512_mul_ps(p, Exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(a, a))));
  const __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 erfc_z = _mm512_mask_sub_ps(erfc_a, neg, _mm512_set1_ps(2.0f), erfc_a);
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), erfc_z);
}

CLIPSERVE_AVX512 inline __m512 QuickGelu16(__m512 x) {
  const __m512 v = _mm512_mul_ps(x, _mm512_set1_ps(1.702f));
  const __m512 e = Exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(v)));  // exp(-|v|)
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 den = _mm512_add_ps(one, e);
  const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 sig = _mm512_div_ps(_mm512_mask_blend_ps(neg, one, e), den);
  return _mm512_mul_ps(x, sig);
}

CLIPSERVE_AVX2 inline __m256 Abs8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

CLIPSERVE_AVX2 inline __m256 GeluErf8(__m256 x) {
  const __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(-0.70710678118654752f));
  const __m256 a = Abs8(z);
  const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(a, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  p = _mm256_mul_ps(p, t);
  const __m256 erfc_a = _mm256_mul_ps(p, Exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(a, a))));
  const __m256 neg = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 erfc_z = _mm256_blendv_ps(erfc_a, _mm256_sub_ps(_mm256_set1_ps(2.0f), erfc_a), neg);
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), erfc_z);
}

CLIPSERVE_AVX2 inline __m256 QuickGelu8(__m256 x) {
  const __m256 v = _mm256_mul_ps(x, _mm256_set1_ps(1.702f));
  const __m256 e = Exp8(_mm256_sub_ps(_mm256_setzero_ps(), Abs8(v)));  // exp(-|v|)
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 sig = _mm256_div_ps(_mm256_blendv_ps(one, e, neg), _mm256_add_ps(one, e));
  return _mm256_mul_ps(x, sig);
}

}  // namespace clipserve::model::internal
