// Pillow-compatible resampling. The arithmetic (coefficient formula, 22-bit
// fixed point, rounding, clipping, pass order) follows Pillow 9.x
// libImaging/Resample.c and Geometry.c so that results are bit-identical;
// the loops are our own and only compute the window that survives the crop.
#include <algorithm>
#include <cmath>
#include <cstring>

// AVX2 kernels on x86 with GCC/Clang (define CLIPSERVE_RESAMPLE_X86=0 to
// build the portable loops only).
#ifndef CLIPSERVE_RESAMPLE_X86
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define CLIPSERVE_RESAMPLE_X86 1
#else
#define CLIPSERVE_RESAMPLE_X86 0
#endif
#endif
#if CLIPSERVE_RESAMPLE_X86
#include <immintrin.h>
#endif

#include "image/image_internal.h"

namespace clipserve::image::internal {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kBicubicSupport = 2.0;

double BicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Coefficients of output positions [first, first + count) of a resize from
// in_size to out_size. Row i holds taps for source pixels [start[i], start[i] + taps[i]).
template <typename Coef>
struct Coefficients {
  int ksize = 0;
  std::vector<int> start;
  std::vector<int> taps;
  std::vector<Coef> k;  // count * ksize, zero padded
};

std::vector<double> PillowCoefficientsRow(int in_size, int out_size, int xx, double& center_out,
                                          int& xmin_out, int& xmax_out, int ksize) {
  // Same expression order as Pillow: box (0, in_size) given as floats.
  const double scale = static_cast<double>(static_cast<float>(in_size) - 0.0f) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kBicubicSupport * filterscale;
  const double center = 0.0 + (xx + 0.5) * scale;
  const double ss = 1.0 / filterscale;
  int xmin = static_cast<int>(center - support + 0.5);
  if (xmin < 0) xmin = 0;
  int xmax = static_cast<int>(center + support + 0.5);
  if (xmax > in_size) xmax = in_size;
  xmax -= xmin;
  std::vector<double> k(static_cast<size_t>(ksize), 0.0);
  double ww = 0.0;
  for (int x = 0; x < xmax; ++x) {
    const double w = BicubicFilter((x + xmin - center + 0.5) * ss);
    k[static_cast<size_t>(x)] = w;
    ww += w;
  }
  for (int x = 0; x < xmax; ++x) {
    if (ww != 0.0) k[static_cast<size_t>(x)] /= ww;
  }
  center_out = center;
  xmin_out = xmin;
  xmax_out = xmax;
  return k;
}

int KernelSize(int in_size, int out_size) {
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  return static_cast<int>(std::ceil(kBicubicSupport * filterscale)) * 2 + 1;
}

Coefficients<double> ComputeDouble(int in_size, int out_size, int first, int count) {
  Coefficients<double> c;
  c.ksize = KernelSize(in_size, out_size);
  c.start.resize(static_cast<size_t>(count));
  c.taps.resize(static_cast<size_t>(count));
  c.k.assign(static_cast<size_t>(count) * static_cast<size_t>(c.ksize), 0.0);
  for (int i = 0; i < count; ++i) {
    double center = 0;
    int xmin = 0, xmax = 0;
    std::vector<double> row = PillowCoefficientsRow(in_size, out_size, first + i, center, xmin, xmax, c.ksize);
    c.start[static_cast<size_t>(i)] = xmin;
    c.taps[static_cast<size_t>(i)] = xmax;
    std::copy(row.begin(), row.end(), c.k.begin() + static_cast<std::ptrdiff_t>(i) * c.ksize);
  }
  return c;
}

Coefficients<std::int32_t> ComputeFixed(int in_size, int out_size, int first, int count) {
  Coefficients<double> d = ComputeDouble(in_size, out_size, first, count);
  Coefficients<std::int32_t> c;
  c.ksize = d.ksize;
  c.start = std::move(d.start);
  c.taps = std::move(d.taps);
  c.k.resize(d.k.size());
  for (size_t i = 0; i < d.k.size(); ++i) {
    const double v = d.k[i];
    c.k[i] = v < 0 ? static_cast<std::int32_t>(-0.5 + v * (1 << kPrecisionBits))
                   : static_cast<std::int32_t>(0.5 + v * (1 << kPrecisionBits));
  }
  return c;
}

inline std::uint8_t Clip8(std::int32_t v) {
  const std::int32_t s = v >> kPrecisionBits;  // arithmetic shift, as Pillow
  return static_cast<std::uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

inline std::int32_t RoundUp(double f) {
  return static_cast<std::int32_t>(f >= 0.0 ? f + 0.5 : f - 0.5);
}

// Horizontal pass of one row, `C` channels (portable code; the compiler
// may vectorize it where it can).
template <int C>
inline void HorizontalRow(const std::uint8_t* in, const Coefficients<std::int32_t>& c, std::uint8_t* out) {
  const int out_w = static_cast<int>(c.start.size());
  for (int xx = 0; xx < out_w; ++xx) {
    const std::int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
    const std::uint8_t* p = in + static_cast<size_t>(c.start[static_cast<size_t>(xx)]) * C;
    const int taps = c.taps[static_cast<size_t>(xx)];
    std::int32_t ss[C];
    for (int ch = 0; ch < C; ++ch) ss[ch] = 1 << (kPrecisionBits - 1);
    for (int x = 0; x < taps; ++x) {
      for (int ch = 0; ch < C; ++ch) ss[ch] += p[x * C + ch] * k[x];
    }
    for (int ch = 0; ch < C; ++ch) out[xx * C + ch] = Clip8(ss[ch]);
  }
}

// Vertical pass of one output row: a weighted sum of whole input rows,
// accumulated row by row so the inner loop runs over contiguous bytes.
inline void VerticalRow(const std::uint8_t* src, size_t row_bytes, const std::int32_t* k, int taps,
                        std::int32_t* acc, std::uint8_t* out) {
  for (size_t i = 0; i < row_bytes; ++i) acc[i] = 1 << (kPrecisionBits - 1);
  for (int y = 0; y < taps; ++y) {
    const std::uint8_t* in = src + static_cast<size_t>(y) * row_bytes;
    const std::int32_t w = k[y];
    for (size_t i = 0; i < row_bytes; ++i) acc[i] += in[i] * w;
  }
  for (size_t i = 0; i < row_bytes; ++i) out[i] = Clip8(acc[i]);
}

void VerticalPortable(const std::uint8_t* src, size_t row_bytes, const std::int32_t* k, int taps,
                      std::int32_t* acc, std::uint8_t* out) {
  VerticalRow(src, row_bytes, k, taps, acc, out);
}

#if CLIPSERVE_RESAMPLE_X86
// Same loop compiled for AVX2: GCC/Clang vectorize it (8 x int32 lanes).
__attribute__((target("avx2"))) void VerticalAvx2(const std::uint8_t* src, size_t row_bytes,
                                                  const std::int32_t* k, int taps, std::int32_t* acc,
                                                  std::uint8_t* out) {
  VerticalRow(src, row_bytes, k, taps, acc, out);
}

// Horizontal pass of one row for 3- or 4-byte pixels, two taps per step:
// two pixels are widened to 8 int32 lanes [c0 c1 c2 c3 | c0 c1 c2 c3] and
// multiplied by [k[x] x4 | k[x+1] x4]. Integer arithmetic identical to the
// portable loop (same products, same 32-bit sums), so results are equal.
// Reads up to 8 bytes from the first pixel of the last tap pair, i.e. past
// the last tap: callers check that this stays inside the buffer.
template <int C>
__attribute__((target("avx2"))) void HorizontalRowAvx2(const std::uint8_t* in, const Coefficients<std::int32_t>& c,
                                                       const std::vector<std::int32_t>& k2, int k2size,
                                                       std::uint8_t* out) {
  static_assert(C == 3 || C == 4);
  const __m128i shuffle = C == 3 ? _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1)
                                 : _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i init = _mm256_setr_epi32(1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1),
                                         1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 0, 0, 0, 0);
  const int out_w = static_cast<int>(c.start.size());
  for (int xx = 0; xx < out_w; ++xx) {
    const std::int32_t* k = &k2[static_cast<size_t>(xx) * k2size];
    const std::uint8_t* p = in + static_cast<size_t>(c.start[static_cast<size_t>(xx)]) * C;
    const int pairs = (c.taps[static_cast<size_t>(xx)] + 1) / 2;
    __m256i acc = init;
    for (int j = 0; j < pairs; ++j) {
      __m128i px = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 2 * j * C));
      px = _mm_shuffle_epi8(px, shuffle);
      const __m256i wide = _mm256_cvtepu8_epi32(px);
      const __m256i coef = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + 8 * j));
      acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(wide, coef));
    }
    __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    sum = _mm_srai_epi32(sum, kPrecisionBits);  // floor, as Pillow's >> on int
    sum = _mm_packus_epi16(_mm_packs_epi32(sum, sum), sum);  // clamp to [0, 255]
    const std::uint32_t v = static_cast<std::uint32_t>(_mm_cvtsi128_si32(sum));
    std::memcpy(out + static_cast<size_t>(xx) * C, &v, C);
  }
}

bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif

}  // namespace

std::vector<std::uint8_t> ResampleBicubic8(const Plane8& src, const Window& w, bool allow_simd) {
  const int C = src.channels;
  const size_t stride = src.stride != 0 ? src.stride : static_cast<size_t>(src.width) * C;
  const bool need_h = w.out_width != src.width;
  const bool need_v = w.out_height != src.height;
#if CLIPSERVE_RESAMPLE_X86
  const bool simd = allow_simd && HasAvx2();
#else
  (void)allow_simd;
#endif

  // Source rows the window's output rows depend on.
  int row_first = w.y0, row_last = w.y0 + w.height;  // identity when !need_v
  Coefficients<std::int32_t> cv;
  if (need_v) {
    cv = ComputeFixed(src.height, w.out_height, w.y0, w.height);
    row_first = cv.start.front();
    row_last = cv.start.back() + cv.taps.back();
  }
  const int rows = row_last - row_first;
  const size_t out_row_bytes = static_cast<size_t>(w.width) * C;
  auto row_ptr = [&](int y) { return src.data + static_cast<size_t>(y) * stride; };

  // Horizontal pass (or column crop) into a temporary of `rows` rows.
  std::vector<std::uint8_t> temp(static_cast<size_t>(rows) * out_row_bytes);
  if (need_h) {
    Coefficients<std::int32_t> ch = ComputeFixed(src.width, w.out_width, w.x0, w.width);
    for (auto& s : ch.start) s -= src.col0;  // index into the stored columns
#if CLIPSERVE_RESAMPLE_X86
    std::vector<std::int32_t> k2;
    int k2size = 0;
    // The vector kernel reads up to 8 bytes from the last tap pair's first
    // pixel: use it only on rows where that stays inside the buffer
    // (height * stride bytes).
    size_t max_read = 0;
    const std::uint8_t* buffer_end = src.data + static_cast<size_t>(src.height) * stride;
    if (simd && (C == 3 || C == 4)) {
      // Coefficients expanded for the AVX2 kernel: tap pairs, each
      // coefficient repeated over 4 lanes, zero past the last tap.
      const int pairs = (ch.ksize + 1) / 2;
      k2size = pairs * 8;
      k2.assign(static_cast<size_t>(w.width) * k2size, 0);
      for (int xx = 0; xx < w.width; ++xx) {
        for (int t = 0; t < ch.taps[static_cast<size_t>(xx)]; ++t) {
          for (int lane = 0; lane < 4; ++lane) {
            k2[static_cast<size_t>(xx) * k2size + t * 4 + lane] = ch.k[static_cast<size_t>(xx) * ch.ksize + t];
          }
        }
        const int pairs = (ch.taps[static_cast<size_t>(xx)] + 1) / 2;
        max_read = std::max(max_read, static_cast<size_t>(ch.start[static_cast<size_t>(xx)] + 2 * (pairs - 1)) * C + 8);
      }
    }
#endif
    for (int y = 0; y < rows; ++y) {
      const std::uint8_t* in = row_ptr(row_first + y);
      std::uint8_t* out = temp.data() + static_cast<size_t>(y) * out_row_bytes;
#if CLIPSERVE_RESAMPLE_X86
      if (!k2.empty() && static_cast<size_t>(buffer_end - in) >= max_read) {
        if (C == 3) HorizontalRowAvx2<3>(in, ch, k2, k2size, out);
        else HorizontalRowAvx2<4>(in, ch, k2, k2size, out);
        continue;
      }
#endif
      switch (C) {
        case 1: HorizontalRow<1>(in, ch, out); break;
        case 2: HorizontalRow<2>(in, ch, out); break;
        case 3: HorizontalRow<3>(in, ch, out); break;
        default: HorizontalRow<4>(in, ch, out); break;
      }
    }
  } else {
    for (int y = 0; y < rows; ++y) {
      std::memcpy(temp.data() + static_cast<size_t>(y) * out_row_bytes,
                  row_ptr(row_first + y) + static_cast<size_t>(w.x0 - src.col0) * C, out_row_bytes);
    }
  }
  if (!need_v) return temp;

  std::vector<std::uint8_t> out(static_cast<size_t>(w.height) * out_row_bytes);
  std::vector<std::int32_t> acc(out_row_bytes);
  for (int yy = 0; yy < w.height; ++yy) {
    const std::int32_t* k = &cv.k[static_cast<size_t>(yy) * cv.ksize];
    const std::uint8_t* first = temp.data() + static_cast<size_t>(cv.start[static_cast<size_t>(yy)] - row_first) * out_row_bytes;
    std::uint8_t* o = out.data() + static_cast<size_t>(yy) * out_row_bytes;
    const int taps = cv.taps[static_cast<size_t>(yy)];
#if CLIPSERVE_RESAMPLE_X86
    if (simd) {
      VerticalAvx2(first, out_row_bytes, k, taps, acc.data(), o);
      continue;
    }
#endif
    VerticalPortable(first, out_row_bytes, k, taps, acc.data(), o);
  }
  return out;
}

void SourceColumns(int in_size, int out_size, int x0, int count, int* first, int* last) {
  const Coefficients<double> c = ComputeDouble(in_size, out_size, x0, count);
  *first = in_size;
  *last = 0;
  for (size_t i = 0; i < c.start.size(); ++i) {
    *first = std::min(*first, c.start[i]);
    *last = std::max(*last, c.start[i] + c.taps[i]);
  }
}

std::vector<std::int32_t> ResampleBicubicI32(const std::int32_t* src, int width, int height,
                                             const Window& w) {
  const bool need_h = w.out_width != width;
  const bool need_v = w.out_height != height;
  int row_first = w.y0, row_last = w.y0 + w.height;
  Coefficients<double> cv;
  if (need_v) {
    cv = ComputeDouble(height, w.out_height, w.y0, w.height);
    row_first = cv.start.front();
    row_last = cv.start.back() + cv.taps.back();
  }
  const int rows = row_last - row_first;
  std::vector<std::int32_t> temp(static_cast<size_t>(rows) * w.width);
  if (need_h) {
    Coefficients<double> ch = ComputeDouble(width, w.out_width, w.x0, w.width);
    for (int y = 0; y < rows; ++y) {
      const std::int32_t* in = src + static_cast<size_t>(row_first + y) * width;
      for (int xx = 0; xx < w.width; ++xx) {
        const double* k = &ch.k[static_cast<size_t>(xx) * ch.ksize];
        const int xmin = ch.start[static_cast<size_t>(xx)];
        double ss = 0.0;
        for (int x = 0; x < ch.taps[static_cast<size_t>(xx)]; ++x) ss += in[xmin + x] * k[x];
        temp[static_cast<size_t>(y) * w.width + xx] = RoundUp(ss);
      }
    }
  } else {
    for (int y = 0; y < rows; ++y) {
      std::memcpy(temp.data() + static_cast<size_t>(y) * w.width,
                  src + static_cast<size_t>(row_first + y) * width + w.x0, w.width * sizeof(std::int32_t));
    }
  }
  if (!need_v) return temp;
  std::vector<std::int32_t> out(static_cast<size_t>(w.height) * w.width);
  for (int yy = 0; yy < w.height; ++yy) {
    const double* k = &cv.k[static_cast<size_t>(yy) * cv.ksize];
    const int ymin = cv.start[static_cast<size_t>(yy)] - row_first;
    for (int xx = 0; xx < w.width; ++xx) {
      double ss = 0.0;
      for (int y = 0; y < cv.taps[static_cast<size_t>(yy)]; ++y) {
        ss += temp[static_cast<size_t>(ymin + y) * w.width + xx] * k[y];
      }
      out[static_cast<size_t>(yy) * w.width + xx] = RoundUp(ss);
    }
  }
  return out;
}

namespace {
// Source index of each output position for Pillow's NEAREST scale: the
// position is accumulated in double (start at scale/2, += scale), then
// truncated; positions outside the source are left unset (Pillow leaves
// them as-is; they cannot occur for box == whole image).
std::vector<int> NearestTable(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  std::vector<int> table(static_cast<size_t>(out_size));
  double pos = 0.0 + scale * 0.5;
  for (int i = 0; i < out_size; ++i) {
    int v = pos < 0.0 ? -1 : static_cast<int>(pos);
    table[static_cast<size_t>(i)] = std::clamp(v, 0, in_size - 1);
    pos += scale;
  }
  return table;
}
}  // namespace

std::vector<std::uint8_t> ResampleNearest8(const std::uint8_t* src, int width, int height, int channels,
                                           const Window& w) {
  const size_t C = static_cast<size_t>(channels);
  const std::vector<int> xs = NearestTable(width, w.out_width);
  const std::vector<int> ys = NearestTable(height, w.out_height);
  std::vector<std::uint8_t> out(static_cast<size_t>(w.height) * w.width * C);
  for (int y = 0; y < w.height; ++y) {
    const std::uint8_t* in = src + static_cast<size_t>(ys[static_cast<size_t>(w.y0 + y)]) * width * C;
    std::uint8_t* o = out.data() + static_cast<size_t>(y) * w.width * C;
    for (int x = 0; x < w.width; ++x) {
      std::memcpy(o + x * C, in + static_cast<size_t>(xs[static_cast<size_t>(w.x0 + x)]) * C, C);
    }
  }
  return out;
}

}  // namespace clipserve::image::internal
