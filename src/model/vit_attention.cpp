#include "model/vit_attention.h"

#include "model/vit_math.h"
#include "model/vit_parallel.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

namespace clipserve::model::internal {
namespace {

inline float Load(float v) { return v; }
inline float Load(uint16_t v) {
  const uint32_t u = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}
inline void StoreTo(float v, float* p) { *p = v; }
inline void StoreTo(float v, uint16_t* p) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof(u));
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;  // nearest even
  *p = (u & 0x7FFFFFFFu) > 0x7F800000u ? uint16_t(0x7FC0) : uint16_t(rounded);
}

// One (image, head). buf holds kt [D][Tp], v [T][D], s [Tp], q [D], o [D].
// qb/kb/vb: this head's D bias values for q, k, v.
template <typename T>
__attribute__((always_inline)) inline void AttendOne(const T* q, const T* k, const T* v, const float* qb,
                                                     const float* kb, const float* vb, int64_t ld_in, T* o,
                                                     int64_t ld_out, int64_t tokens, int64_t D, float* buf) {
  const int64_t Tp = (tokens + 15) & ~int64_t(15);
  float* kt = buf;
  float* vf = kt + D * Tp;
  float* s = vf + tokens * D;
  float* qf = s + Tp;
  float* orow = qf + D;
  for (int64_t j = 0; j < tokens; ++j) {
    for (int64_t d = 0; d < D; ++d) kt[d * Tp + j] = Load(k[j * ld_in + d]) + kb[d];
    for (int64_t d = 0; d < D; ++d) vf[j * D + d] = Load(v[j * ld_in + d]) + vb[d];
  }
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t j = tokens; j < Tp; ++j) kt[d * Tp + j] = 0.f;
  }
  for (int64_t i = 0; i < tokens; ++i) {
    for (int64_t d = 0; d < D; ++d) qf[d] = Load(q[i * ld_in + d]) + qb[d];
    for (int64_t j = 0; j < Tp; ++j) s[j] = 0.f;
    for (int64_t d = 0; d < D; ++d) {
      const float a = qf[d];
      const float* kr = kt + d * Tp;
      for (int64_t j = 0; j < Tp; ++j) s[j] += a * kr[j];
    }
    float mx = s[0];
    for (int64_t j = 1; j < tokens; ++j) mx = std::max(mx, s[j]);
    for (int64_t j = 0; j < tokens; ++j) s[j] = ExpNonPositive(s[j] - mx);
    float sum = 0.f;
    for (int64_t j = 0; j < tokens; ++j) sum += s[j];
    const float inv = 1.0f / sum;
    for (int64_t d = 0; d < D; ++d) orow[d] = 0.f;
    for (int64_t j = 0; j < tokens; ++j) {
      const float p = s[j] * inv;
      const float* vr = vf + j * D;
      for (int64_t d = 0; d < D; ++d) orow[d] += p * vr[d];
    }
    for (int64_t d = 0; d < D; ++d) StoreTo(orow[d], o + i * ld_out + d);
  }
}

// GCC 12's _mm512_reduce_* expansions trip a false -W(maybe-)uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

CLIPSERVE_AVX512 inline __m512 Load16(const float* p) { return _mm512_loadu_ps(p); }
CLIPSERVE_AVX512 inline __m512 Load16(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
CLIPSERVE_AVX512 inline void Store16(__m512 v, float* p) { _mm512_storeu_ps(p, v); }
// Same rounding as StoreTo(float, uint16_t*): nearest even, NaN kept a NaN.
CLIPSERVE_AVX512 inline void Store16(__m512 v, uint16_t* p) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), lsb), 16);
  const __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
  r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7FC0));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(r));
}

// R query rows at once (R x 4 accumulators: enough independent FMA chains
// to cover the FMA latency, and each k / v vector load is shared by R rows).
// qf: R rows of D; kt [D][Tp] (zero padded); vf [tokens][D]; s: R x Tp.
template <int R, typename T>
CLIPSERVE_AVX512 inline void AttendRows(const float* qf, const float* kt, const float* vf, int64_t tokens, int64_t Tp,
                                        int64_t D, float* s, T* o, int64_t ld_out) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t jb = 0; jb < Tp; jb += 64) {
    __m512 a[R][4];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) a[r][c] = _mm512_setzero_ps();
    }
    const float* kb = kt + jb;
    for (int64_t d = 0; d < D; ++d) {
      const float* kr = kb + d * Tp;
      const __m512 k0 = _mm512_loadu_ps(kr), k1 = _mm512_loadu_ps(kr + 16), k2 = _mm512_loadu_ps(kr + 32),
                   k3 = _mm512_loadu_ps(kr + 48);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const __m512 qd = _mm512_set1_ps(qf[r * D + d]);
        a[r][0] = _mm512_fmadd_ps(qd, k0, a[r][0]);
        a[r][1] = _mm512_fmadd_ps(qd, k1, a[r][1]);
        a[r][2] = _mm512_fmadd_ps(qd, k2, a[r][2]);
        a[r][3] = _mm512_fmadd_ps(qd, k3, a[r][3]);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) _mm512_storeu_ps(s + r * Tp + jb + 16 * c, a[r][c]);
    }
  }
  float inv[R];
  for (int r = 0; r < R; ++r) {
    float* sr = s + r * Tp;
    for (int64_t j = tokens; j < Tp; ++j) sr[j] = neg_inf;  // padding: exp -> 0
    __m512 mx = _mm512_set1_ps(neg_inf);
    for (int64_t j = 0; j < Tp; j += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(sr + j));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < Tp; j += 16) {
      const __m512 e = Exp16(_mm512_sub_ps(_mm512_loadu_ps(sr + j), m));
      _mm512_storeu_ps(sr + j, e);
      sum = _mm512_add_ps(sum, e);
    }
    inv[r] = 1.0f / _mm512_reduce_add_ps(sum);
  }
  for (int64_t db = 0; db < D; db += 64) {
    __m512 acc[R][4];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
    }
    for (int64_t j = 0; j < tokens; ++j) {
      const float* vr = vf + j * D + db;
      const __m512 v0 = _mm512_loadu_ps(vr), v1 = _mm512_loadu_ps(vr + 16), v2 = _mm512_loadu_ps(vr + 32),
                   v3 = _mm512_loadu_ps(vr + 48);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const __m512 p = _mm512_set1_ps(s[r * Tp + j]);
        acc[r][0] = _mm512_fmadd_ps(p, v0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(p, v1, acc[r][1]);
        acc[r][2] = _mm512_fmadd_ps(p, v2, acc[r][2]);
        acc[r][3] = _mm512_fmadd_ps(p, v3, acc[r][3]);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 sc = _mm512_set1_ps(inv[r]);
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) Store16(_mm512_mul_ps(acc[r][c], sc), o + r * ld_out + db + 16 * c);
    }
  }
}

// Register-blocked (image, head) for D % 64 == 0: tokens padded to Tp, a
// multiple of 64, so each score row is 4-vector blocks kept in registers
// over the whole d loop; the output rows likewise over the whole j loop.
// Four query rows per pass (AttendRows<4>), the remainder one at a time.
template <typename T>
CLIPSERVE_AVX512 void AttendOneAvx512(const T* q, const T* k, const T* v, const float* qb, const float* kb,
                                      const float* vb, int64_t ld_in, T* o, int64_t ld_out, int64_t tokens, int64_t D,
                                      float* buf) {
  const int64_t Tp = (tokens + 63) & ~int64_t(63);
  float* kt = buf;             // [D][Tp]
  float* vf = kt + D * Tp;     // [tokens][D]
  float* qf = vf + tokens * D; // [tokens][D]
  float* s = qf + tokens * D;  // [4][Tp]
  alignas(64) float tmp[16];
  for (int64_t j = 0; j < tokens; ++j) {
    for (int64_t d = 0; d < D; d += 16) {
      _mm512_storeu_ps(vf + j * D + d, _mm512_add_ps(Load16(v + j * ld_in + d), _mm512_loadu_ps(vb + d)));
      _mm512_storeu_ps(qf + j * D + d, _mm512_add_ps(Load16(q + j * ld_in + d), _mm512_loadu_ps(qb + d)));
      _mm512_store_ps(tmp, _mm512_add_ps(Load16(k + j * ld_in + d), _mm512_loadu_ps(kb + d)));
      for (int e = 0; e < 16; ++e) kt[(d + e) * Tp + j] = tmp[e];
    }
  }
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t j = tokens; j < Tp; ++j) kt[d * Tp + j] = 0.f;
  }
  int64_t i = 0;
  for (; i + 4 <= tokens; i += 4) AttendRows<4>(qf + i * D, kt, vf, tokens, Tp, D, s, o + i * ld_out, ld_out);
  for (; i < tokens; ++i) AttendRows<1>(qf + i * D, kt, vf, tokens, Tp, D, s, o + i * ld_out, ld_out);
}
#pragma GCC diagnostic pop


// The AVX2 + FMA kernel: the AVX-512 one's structure at 8 lanes, with its
// own blocking. 16 ymm registers hold 2 query rows x 4 vectors (32 tokens or
// 32 output columns) of accumulators plus the 4 shared loads, so it takes 2
// rows per pass where AVX-512 (32 registers) takes 4.
CLIPSERVE_AVX2 inline float HMax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

CLIPSERVE_AVX2 inline float HSum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

CLIPSERVE_AVX2 inline __m256 Load8(const float* p) { return _mm256_loadu_ps(p); }
CLIPSERVE_AVX2 inline __m256 Load8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
CLIPSERVE_AVX2 inline void Store8(__m256 v, float* p) { _mm256_storeu_ps(p, v); }
// Nearest even, NaN kept a NaN (as StoreTo(float, uint16_t*)).
CLIPSERVE_AVX2 inline void Store8(__m256 v, uint16_t* p) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), lsb), 16);
  const __m256i nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
  r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7FC0), nan);
  const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), packed);
}

// R query rows; kt [D][Tp] (zero padded, Tp % 32 == 0); vf [tokens][D]
// (D % 32 == 0); s: R x Tp.
template <int R, typename T>
CLIPSERVE_AVX2 inline void AttendRowsAvx2(const float* qf, const float* kt, const float* vf, int64_t tokens,
                                          int64_t Tp, int64_t D, float* s, T* o, int64_t ld_out) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t jb = 0; jb < Tp; jb += 32) {
    __m256 a[R][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) a[r][c] = _mm256_setzero_ps();
    }
    const float* kb = kt + jb;
    for (int64_t d = 0; d < D; ++d) {
      const float* kr = kb + d * Tp;
      const __m256 k0 = _mm256_loadu_ps(kr), k1 = _mm256_loadu_ps(kr + 8), k2 = _mm256_loadu_ps(kr + 16),
                   k3 = _mm256_loadu_ps(kr + 24);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256 qd = _mm256_broadcast_ss(qf + r * D + d);
        a[r][0] = _mm256_fmadd_ps(qd, k0, a[r][0]);
        a[r][1] = _mm256_fmadd_ps(qd, k1, a[r][1]);
        a[r][2] = _mm256_fmadd_ps(qd, k2, a[r][2]);
        a[r][3] = _mm256_fmadd_ps(qd, k3, a[r][3]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) _mm256_storeu_ps(s + r * Tp + jb + 8 * c, a[r][c]);
    }
  }
  float inv[R];
  for (int r = 0; r < R; ++r) {
    float* sr = s + r * Tp;
    for (int64_t j = tokens; j < Tp; ++j) sr[j] = neg_inf;  // padding: exp -> 0
    __m256 mx = _mm256_set1_ps(neg_inf);
    for (int64_t j = 0; j < Tp; j += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(sr + j));
    const __m256 m = _mm256_set1_ps(HMax8(mx));
    __m256 sum = _mm256_setzero_ps();
    for (int64_t j = 0; j < Tp; j += 8) {
      const __m256 e = Exp8(_mm256_sub_ps(_mm256_loadu_ps(sr + j), m));
      _mm256_storeu_ps(sr + j, e);
      sum = _mm256_add_ps(sum, e);
    }
    inv[r] = 1.0f / HSum8(sum);
  }
  for (int64_t db = 0; db < D; db += 32) {
    __m256 acc[R][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) acc[r][c] = _mm256_setzero_ps();
    }
    for (int64_t j = 0; j < tokens; ++j) {
      const float* vr = vf + j * D + db;
      const __m256 v0 = _mm256_loadu_ps(vr), v1 = _mm256_loadu_ps(vr + 8), v2 = _mm256_loadu_ps(vr + 16),
                   v3 = _mm256_loadu_ps(vr + 24);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256 p = _mm256_broadcast_ss(s + r * Tp + j);
        acc[r][0] = _mm256_fmadd_ps(p, v0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(p, v1, acc[r][1]);
        acc[r][2] = _mm256_fmadd_ps(p, v2, acc[r][2]);
        acc[r][3] = _mm256_fmadd_ps(p, v3, acc[r][3]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m256 sc = _mm256_set1_ps(inv[r]);
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) Store8(_mm256_mul_ps(acc[r][c], sc), o + r * ld_out + db + 8 * c);
    }
  }
}

// One (image, head) for D % 32 == 0: tokens padded to Tp, a multiple of 32.
template <typename T>
CLIPSERVE_AVX2 void AttendOneAvx2(const T* q, const T* k, const T* v, const float* qb, const float* kb,
                                  const float* vb, int64_t ld_in, T* o, int64_t ld_out, int64_t tokens, int64_t D,
                                  float* buf) {
  const int64_t Tp = (tokens + 31) & ~int64_t(31);
  float* kt = buf;             // [D][Tp]
  float* vf = kt + D * Tp;     // [tokens][D]
  float* qf = vf + tokens * D; // [tokens][D]
  float* s = qf + tokens * D;  // [2][Tp]
  alignas(32) float tmp[8];
  for (int64_t j = 0; j < tokens; ++j) {
    for (int64_t d = 0; d < D; d += 8) {
      _mm256_storeu_ps(vf + j * D + d, _mm256_add_ps(Load8(v + j * ld_in + d), _mm256_loadu_ps(vb + d)));
      _mm256_storeu_ps(qf + j * D + d, _mm256_add_ps(Load8(q + j * ld_in + d), _mm256_loadu_ps(qb + d)));
      _mm256_store_ps(tmp, _mm256_add_ps(Load8(k + j * ld_in + d), _mm256_loadu_ps(kb + d)));
      for (int e = 0; e < 8; ++e) kt[(d + e) * Tp + j] = tmp[e];
    }
  }
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t j = tokens; j < Tp; ++j) kt[d * Tp + j] = 0.f;
  }
  int64_t i = 0;
  for (; i + 2 <= tokens; i += 2) AttendRowsAvx2<2>(qf + i * D, kt, vf, tokens, Tp, D, s, o + i * ld_out, ld_out);
  for (; i < tokens; ++i) AttendRowsAvx2<1>(qf + i * D, kt, vf, tokens, Tp, D, s, o + i * ld_out, ld_out);
}

// The next head's q/k/v rows are 3W apart, too far for the hardware
// prefetcher: loading them was most of the kernel's time (cache misses in
// the bf16 -> f32 conversion). Fetch them while this head computes.
template <typename T>
__attribute__((always_inline)) inline void PrefetchHead(const T* head, int64_t tokens, int64_t W, int64_t D) {
  const char* nb = reinterpret_cast<const char*>(head);
  const int64_t row_bytes = D * int64_t(sizeof(T)), ld_bytes = 3 * W * int64_t(sizeof(T));
  for (int64_t j = 0; j < tokens; ++j) {
    for (int64_t part = 0; part < 3; ++part) {
      const char* r = nb + j * ld_bytes + part * W * int64_t(sizeof(T));
      for (int64_t b = 0; b < row_bytes; b += 64) _mm_prefetch(r + b, _MM_HINT_T0);
    }
  }
}

// Heads [h0, h1) of the flattened (image, head) range, one kernel per ISA.
enum class Kernel { kBaseline, kAvx2, kAvx512 };

template <Kernel K, typename T>
__attribute__((always_inline)) inline void AttendRangeBody(const T* qkv, const float* bias, int64_t h0, int64_t h1,
                                                           int64_t tokens, int64_t W, int64_t D, T* out,
                                                           float* buf) {
  const int64_t H = W / D;
  for (int64_t nh = h0; nh < h1; ++nh) {
    const int64_t n = nh / H, h = nh % H;
    const T* base = qkv + n * tokens * 3 * W + h * D;
    const float* qb = bias + h * D;
    T* o = out + n * tokens * W + h * D;
    if (K != Kernel::kBaseline && nh + 1 < h1) {
      PrefetchHead(qkv + ((nh + 1) / H) * tokens * 3 * W + ((nh + 1) % H) * D, tokens, W, D);
    }
    if constexpr (K == Kernel::kAvx512) {
      if (D % 64 == 0) {
        AttendOneAvx512(base, base + W, base + 2 * W, qb, qb + W, qb + 2 * W, 3 * W, o, W, tokens, D, buf);
        continue;
      }
    } else if constexpr (K == Kernel::kAvx2) {
      if (D % 32 == 0) {
        AttendOneAvx2(base, base + W, base + 2 * W, qb, qb + W, qb + 2 * W, 3 * W, o, W, tokens, D, buf);
        continue;
      }
    }
    AttendOne(base, base + W, base + 2 * W, qb, qb + W, qb + 2 * W, 3 * W, o, W, tokens, D, buf);
  }
}

template <typename T>
CLIPSERVE_AVX512 void AttendRangeAvx512(const T* qkv, const float* bias, int64_t h0, int64_t h1, int64_t tokens,
                                        int64_t W, int64_t D, T* out, float* buf) {
  AttendRangeBody<Kernel::kAvx512>(qkv, bias, h0, h1, tokens, W, D, out, buf);
}

template <typename T>
CLIPSERVE_AVX2 void AttendRangeAvx2(const T* qkv, const float* bias, int64_t h0, int64_t h1, int64_t tokens,
                                    int64_t W, int64_t D, T* out, float* buf) {
  AttendRangeBody<Kernel::kAvx2>(qkv, bias, h0, h1, tokens, W, D, out, buf);
}

template <typename T>
void AttendRangeBaseline(const T* qkv, const float* bias, int64_t h0, int64_t h1, int64_t tokens, int64_t W,
                         int64_t D, T* out, float* buf) {
  AttendRangeBody<Kernel::kBaseline>(qkv, bias, h0, h1, tokens, W, D, out, buf);
}

template <typename T>
void Run(const T* qkv, const float* bias, int64_t n, int64_t tokens, int64_t W, int64_t D, T* out, CpuIsa isa) {
  // Large enough for every kernel (Tp rounded to 64 covers 32 and 16).
  const int64_t Tp = (tokens + 63) & ~int64_t(63);
  const size_t buf_floats = size_t(D * Tp + 2 * tokens * D + 4 * Tp + 2 * D);
  if (bias == nullptr) {
    // No bias to add: add zeros (one add per loaded value; cheaper than a
    // second copy of every kernel).
    thread_local std::vector<float> zeros;
    if (zeros.size() < size_t(3 * W)) zeros.assign(size_t(3 * W), 0.f);
    bias = zeros.data();
  }
  const auto kernel = isa >= CpuIsa::kAvx512 ? &AttendRangeAvx512<T>
                      : isa >= CpuIsa::kAvx2 ? &AttendRangeAvx2<T>
                                             : &AttendRangeBaseline<T>;
  ParallelFor(0, n * (W / D), 1, [&](int64_t h0, int64_t h1) {
    thread_local std::vector<float> buf;
    if (buf.size() < buf_floats) buf.resize(buf_floats);
    kernel(qkv, bias, h0, h1, tokens, W, D, out, buf.data());
  });
}

}  // namespace

void AttentionF32(const float* qkv, const float* qkv_bias, int64_t n, int64_t tokens, int64_t width,
                  int64_t head_width, float* out, CpuIsa isa) {
  Run(qkv, qkv_bias, n, tokens, width, head_width, out, isa);
}

void AttentionBf16(const uint16_t* qkv, const float* qkv_bias, int64_t n, int64_t tokens, int64_t width,
                   int64_t head_width, uint16_t* out, CpuIsa isa) {
  Run(qkv, qkv_bias, n, tokens, width, head_width, out, isa);
}

}  // namespace clipserve::model::internal
