// Pillow-compatible resampling. The arithmetic (coefficient formula, 22-bit
// fixed point, rounding, clipping, pass order) follows Pillow 9.x
// libImaging/Resample.c and Geometry.c so that results are bit-identical;
// the loops are our own and only compute the window that survives the crop.
#include <algorithm>
#include <cmath>
#include <cstring>

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

// Horizontal pass on rows [row0, row0 + rows) of src, `C` channels.
template <int C>
void Horizontal8(const std::uint8_t* src, int src_width, int row0, int rows,
                 const Coefficients<std::int32_t>& c, std::uint8_t* dst) {
  const int out_w = static_cast<int>(c.start.size());
  const size_t src_stride = static_cast<size_t>(src_width) * C;
  for (int y = 0; y < rows; ++y) {
    const std::uint8_t* in = src + static_cast<size_t>(row0 + y) * src_stride;
    std::uint8_t* out = dst + static_cast<size_t>(y) * out_w * C;
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
}

void HorizontalDispatch(const std::uint8_t* src, int src_width, int row0, int rows, int channels,
                        const Coefficients<std::int32_t>& c, std::uint8_t* dst) {
  switch (channels) {
    case 1: Horizontal8<1>(src, src_width, row0, rows, c, dst); break;
    case 2: Horizontal8<2>(src, src_width, row0, rows, c, dst); break;
    case 3: Horizontal8<3>(src, src_width, row0, rows, c, dst); break;
    default: Horizontal8<4>(src, src_width, row0, rows, c, dst); break;
  }
}

// Vertical pass: each output row is a weighted sum of whole input rows,
// accumulated row by row so the inner loop runs over contiguous bytes.
void Vertical8(const std::uint8_t* src, size_t row_bytes, int row_offset,
               const Coefficients<std::int32_t>& c, std::uint8_t* dst) {
  const int out_h = static_cast<int>(c.start.size());
  std::vector<std::int32_t> acc(row_bytes);
  for (int yy = 0; yy < out_h; ++yy) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const std::int32_t* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    const int ymin = c.start[static_cast<size_t>(yy)] - row_offset;
    const int taps = c.taps[static_cast<size_t>(yy)];
    for (int y = 0; y < taps; ++y) {
      const std::uint8_t* in = src + static_cast<size_t>(ymin + y) * row_bytes;
      const std::int32_t w = k[y];
      std::int32_t* a = acc.data();
      for (size_t i = 0; i < row_bytes; ++i) a[i] += in[i] * w;
    }
    std::uint8_t* out = dst + static_cast<size_t>(yy) * row_bytes;
    for (size_t i = 0; i < row_bytes; ++i) out[i] = Clip8(acc[i]);
  }
}

}  // namespace

std::vector<std::uint8_t> ResampleBicubic8(const std::uint8_t* src, int width, int height, int channels,
                                           const Window& w) {
  const size_t C = static_cast<size_t>(channels);
  const bool need_h = w.out_width != width;
  const bool need_v = w.out_height != height;

  // Source rows the window's output rows depend on.
  int row_first = w.y0, row_last = w.y0 + w.height;  // identity when !need_v
  Coefficients<std::int32_t> cv;
  if (need_v) {
    cv = ComputeFixed(height, w.out_height, w.y0, w.height);
    row_first = cv.start.front();
    row_last = cv.start.back() + cv.taps.back();
  }
  const int rows = row_last - row_first;

  // Horizontal pass (or column crop) into a temporary of `rows` rows.
  std::vector<std::uint8_t> temp(static_cast<size_t>(rows) * w.width * C);
  if (need_h) {
    Coefficients<std::int32_t> ch = ComputeFixed(width, w.out_width, w.x0, w.width);
    HorizontalDispatch(src, width, row_first, rows, channels, ch, temp.data());
  } else {
    for (int y = 0; y < rows; ++y) {
      std::memcpy(temp.data() + static_cast<size_t>(y) * w.width * C,
                  src + (static_cast<size_t>(row_first + y) * width + w.x0) * C, w.width * C);
    }
  }
  if (!need_v) return temp;

  std::vector<std::uint8_t> out(static_cast<size_t>(w.height) * w.width * C);
  Vertical8(temp.data(), static_cast<size_t>(w.width) * C, row_first, cv, out.data());
  return out;
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
