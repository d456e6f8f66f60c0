// DecodeAndPrepare: decode in the file's own mode, resize the shortest side
// to S as Pillow does for that mode, center-crop, convert("RGB"); plus the
// float conversions. See image.h for the contract and DESIGN §2 for the order.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <string>

#include "image/image.h"
#include "image/image_internal.h"

namespace clipserve::image {

Format DetectFormat(std::span<const std::uint8_t> b) {
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return Format::kJpeg;
  static constexpr std::uint8_t kPng[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (b.size() >= 8 && std::equal(kPng, kPng + 8, b.begin())) return Format::kPng;
  if (b.size() >= 12 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F' && b[8] == 'W' &&
      b[9] == 'E' && b[10] == 'B' && b[11] == 'P') {
    return Format::kWebp;
  }
  return Format::kUnknown;
}

std::string_view FormatName(Format f) {
  switch (f) {
    case Format::kJpeg: return "JPEG";
    case Format::kPng: return "PNG";
    case Format::kWebp: return "WebP";
    default: return "unknown";
  }
}

namespace internal {

int ChannelCount(Mode mode) {
  switch (mode) {
    case Mode::kLA: return 2;
    case Mode::kRGB: return 3;
    case Mode::kRGBA:
    case Mode::kCMYK: return 4;
    default: return 1;
  }
}

Status CheckDecodeBytes(std::uint64_t bytes, std::string_view what, const PreprocessOptions& options,
                        std::string_view format_name) {
  if (bytes <= options.max_decode_bytes) return Status::Ok();
  return ResourceExhaustedError(std::string(format_name) + ": decoding " + std::string(what) + " needs " +
                                std::to_string(bytes) + " bytes, above the decode budget of " +
                                std::to_string(options.max_decode_bytes) + " bytes");
}

Status CheckDimensions(std::uint64_t width, std::uint64_t height, const PreprocessOptions& options,
                       std::string_view format_name) {
  const std::string dims = std::to_string(width) + "x" + std::to_string(height);
  if (width == 0 || height == 0) {
    return InvalidArgumentError(std::string(format_name) + ": zero-size image (" + dims + ")");
  }
  const std::uint64_t pixels = width * height;  // both < 2^32: no overflow
  if (pixels > options.max_pixels) {
    return ResourceExhaustedError(std::string(format_name) + ": image is " + dims + " = " +
                                  std::to_string(pixels) + " pixels, above the limit of " +
                                  std::to_string(options.max_pixels) + " pixels");
  }
  // The resize (before the crop) is an image Pillow has to allocate: an
  // extreme aspect ratio (a 1 x 1000000 strip becomes 224 x 224000000)
  // makes it fail there, and would overflow sizes here. We compute only the
  // crop window, but refuse what Pillow could not do either: a resized image
  // above max(max_pixels, Pillow's bomb threshold).
  const std::uint64_t resize_limit = std::max(options.max_pixels, kDefaultMaxPixels);
  if (options.image_size > 0) {
    const std::uint64_t s = static_cast<std::uint64_t>(options.image_size);
    const std::uint64_t short_side = std::min(width, height), long_side = std::max(width, height);
    const double new_long = std::floor(static_cast<double>(s * long_side) / static_cast<double>(short_side));
    const double resized = new_long * static_cast<double>(s);
    if (resized > static_cast<double>(resize_limit)) {
      return ResourceExhaustedError(std::string(format_name) + ": image is " + dims +
                                    "; resizing its shortest side to " + std::to_string(s) + " gives " +
                                    std::to_string(static_cast<std::uint64_t>(resized)) +
                                    " pixels, above the limit of " + std::to_string(resize_limit) +
                                    " pixels (aspect ratio too extreme)");
    }
  }
  return Status::Ok();
}

namespace {

// MULDIV255 of Pillow's Convert.c: round(a * b / 255) in integers.
inline std::uint8_t MulDiv255(unsigned a, unsigned b) {
  const unsigned tmp = a * b + 128;
  return static_cast<std::uint8_t>(((tmp >> 8) + tmp) >> 8);
}

inline std::uint8_t Clip8(int v) { return static_cast<std::uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); }

// RGBA -> RGBa / LA -> La (Pillow premultiplies before a non-NEAREST resize).
void Premultiply(std::vector<std::uint8_t>& px, int channels) {
  const size_t n = px.size() / static_cast<size_t>(channels);
  for (size_t i = 0; i < n; ++i) {
    std::uint8_t* p = px.data() + i * static_cast<size_t>(channels);
    const unsigned alpha = p[channels - 1];
    for (int c = 0; c < channels - 1; ++c) p[c] = MulDiv255(p[c], alpha);
  }
}

// RGBa -> RGBA / La -> LA.
void Unpremultiply(std::vector<std::uint8_t>& px, int channels) {
  const size_t n = px.size() / static_cast<size_t>(channels);
  for (size_t i = 0; i < n; ++i) {
    std::uint8_t* p = px.data() + i * static_cast<size_t>(channels);
    const int alpha = p[channels - 1];
    if (alpha == 255 || alpha == 0) continue;
    for (int c = 0; c < channels - 1; ++c) p[c] = Clip8((255 * p[c]) / alpha);
  }
}

// Image.convert("RGB") of a resized image in `mode`.
void ToRgb(internal::Mode mode, const std::vector<std::uint8_t>& px, const std::vector<std::int32_t>& px_i32,
           const std::vector<std::uint8_t>& palette, size_t npix, std::uint8_t* out) {
  using internal::Mode;
  for (size_t i = 0; i < npix; ++i) {
    std::uint8_t* o = out + 3 * i;
    switch (mode) {
      case Mode::k1:
      case Mode::kL: o[0] = o[1] = o[2] = px[i]; break;
      case Mode::kI: o[0] = o[1] = o[2] = static_cast<std::uint8_t>(std::clamp<std::int32_t>(px_i32[i], 0, 255)); break;
      case Mode::kP: {
        const std::uint8_t* c = palette.data() + 3 * static_cast<size_t>(px[i]);
        o[0] = c[0]; o[1] = c[1]; o[2] = c[2];
        break;
      }
      case Mode::kLA: o[0] = o[1] = o[2] = px[2 * i]; break;
      case Mode::kRGB: o[0] = px[3 * i]; o[1] = px[3 * i + 1]; o[2] = px[3 * i + 2]; break;
      case Mode::kRGBA: o[0] = px[4 * i]; o[1] = px[4 * i + 1]; o[2] = px[4 * i + 2]; break;
      case Mode::kCMYK: {
        const std::uint8_t* c = px.data() + 4 * i;
        const unsigned nk = 255u - c[3];
        for (int ch = 0; ch < 3; ++ch) o[ch] = Clip8(static_cast<int>(nk) - MulDiv255(c[ch], nk));
        break;
      }
    }
  }
}

// ImageOps.exif_transpose for 8-bit / 32-bit modes (JPEG gives 8-bit only).
template <typename T>
std::vector<T> Orient(const std::vector<T>& src, int w, int h, int ch, int orientation, int& out_w, int& out_h) {
  const bool swap = orientation >= 5;
  out_w = swap ? h : w;
  out_h = swap ? w : h;
  std::vector<T> out(src.size());
  for (int y = 0; y < out_h; ++y) {
    for (int x = 0; x < out_w; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        case 8: sx = w - 1 - y; sy = x; break;
        default: break;
      }
      const size_t s = (static_cast<size_t>(sy) * w + sx) * ch;
      const size_t d = (static_cast<size_t>(y) * out_w + x) * ch;
      for (int c = 0; c < ch; ++c) out[d + c] = src[s + c];
    }
  }
  return out;
}

void ApplyOrientation(Decoded& d) {
  if (d.exif_orientation <= 1 || d.exif_orientation > 8) return;
  int w = 0, h = 0;
  if (d.mode == Mode::kI) {
    d.pixels_i32 = Orient(d.pixels_i32, d.width, d.height, 1, d.exif_orientation, w, h);
  } else {
    d.pixels = Orient(d.pixels, d.width, d.height, ChannelCount(d.mode), d.exif_orientation, w, h);
  }
  d.width = w;
  d.height = h;
}

// Python's round() of (extra / 2): half to even.
int CropOffset(int extra) {
  const int half = extra / 2;
  if (extra % 2 == 0) return half;
  return (half % 2 == 0) ? half : half + 1;
}

}  // namespace
}  // namespace internal

StatusOr<RgbImage> DecodeAndPrepare(std::span<const std::uint8_t> bytes, const PreprocessOptions& options) {
  if (options.image_size <= 0) {
    return InvalidArgumentError("image_size must be positive, got " + std::to_string(options.image_size));
  }
  ASSIGN_OR_RETURN(internal::Decoded decoded, internal::DecodeAny(bytes, options));
  return internal::ResizeCropToRgb(decoded, options);
}

namespace internal {

StatusOr<Decoded> DecodeAny(std::span<const std::uint8_t> bytes, const PreprocessOptions& options) {
  if (bytes.empty()) return InvalidArgumentError("empty input (0 bytes): not an image");
  switch (DetectFormat(bytes)) {
    case Format::kJpeg: return DecodeJpeg(bytes, options);
    case Format::kPng: return DecodePng(bytes, options);
    case Format::kWebp: return DecodeWebp(bytes, options);
    default: break;
  }
  std::string head;
  char buf[4];
  for (size_t i = 0; i < std::min<size_t>(bytes.size(), 8); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", bytes[i]);
    head += buf;
  }
  return InvalidArgumentError("not a supported image: expected JPEG, PNG or WebP data, first bytes are 0x" + head +
                              " (" + std::to_string(bytes.size()) + " bytes)");
}

Window ResizeWindow(int width, int height, int S) {
  // torchvision Resize(S): shortest side -> S, long side int(S * long / short).
  const bool wide = width > height;
  const int short_side = wide ? height : width;
  const int long_side = wide ? width : height;
  const int new_long = static_cast<int>(static_cast<double>(static_cast<std::int64_t>(S) * long_side) / short_side);
  Window w;
  w.out_width = wide ? new_long : S;
  w.out_height = wide ? S : new_long;
  // CenterCrop(S): offsets int(round((size - S) / 2)).
  w.x0 = CropOffset(w.out_width - S);
  w.y0 = CropOffset(w.out_height - S);
  w.width = S;
  w.height = S;
  return w;
}

RgbImage ResizeCropToRgb(Decoded& d, const PreprocessOptions& options) {
  const int S = options.image_size;
  if (options.apply_exif_orientation) ApplyOrientation(d);

  const Window w = ResizeWindow(d.width, d.height, S);

  const int channels = ChannelCount(d.mode);
  const bool same_size = w.out_width == d.width && w.out_height == d.height;
  std::vector<std::uint8_t> px;
  std::vector<std::int32_t> px_i32;
  if (same_size) {
    // Pillow returns a copy; only the crop applies.
    const Window crop{d.width, d.height, w.x0, w.y0, S, S};
    if (d.mode == Mode::kI) {
      px_i32.resize(static_cast<size_t>(S) * S);
      for (int y = 0; y < S; ++y) {
        std::copy_n(d.pixels_i32.begin() + (static_cast<std::ptrdiff_t>(crop.y0 + y) * d.width + crop.x0), S,
                    px_i32.begin() + static_cast<std::ptrdiff_t>(y) * S);
      }
    } else {
      px.resize(static_cast<size_t>(S) * S * channels);
      for (int y = 0; y < S; ++y) {
        std::copy_n(d.pixels.begin() + (static_cast<std::ptrdiff_t>(crop.y0 + y) * d.width + crop.x0) * channels,
                    S * channels, px.begin() + static_cast<std::ptrdiff_t>(y) * S * channels);
      }
    }
  } else if (d.mode == Mode::kP || d.mode == Mode::k1) {
    px = ResampleNearest8(d.pixels.data(), d.width, d.height, channels, w);
  } else if (d.mode == Mode::kI) {
    px_i32 = ResampleBicubicI32(d.pixels_i32.data(), d.width, d.height, w);
  } else if (d.mode == Mode::kLA || d.mode == Mode::kRGBA) {
    Premultiply(d.pixels, channels);
    px = ResampleBicubic8(Plane8{d.pixels.data(), d.width, d.height, channels, 0, 0}, w);
    Unpremultiply(px, channels);
  } else {
    const int stored = d.stored_width != 0 ? d.stored_width : d.width;
    px = ResampleBicubic8(
        Plane8{d.pixels.data(), d.width, d.height, channels, d.col0, static_cast<size_t>(stored) * channels}, w);
  }

  RgbImage out;
  out.width = S;
  out.height = S;
  out.data.resize(static_cast<size_t>(S) * S * 3);
  ToRgb(d.mode, px, px_i32, d.palette, static_cast<size_t>(S) * S, out.data.data());
  return out;
}

}  // namespace internal

void ToUnitChw(const RgbImage& image, std::span<float> out) {
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  assert(out.size() >= 3 * plane && image.data.size() >= 3 * plane);
  if (out.size() < 3 * plane || image.data.size() < 3 * plane) return;  // contract violation: write nothing
  const std::uint8_t* src = image.data.data();
  for (int c = 0; c < 3; ++c) {
    float* o = out.data() + c * plane;
    for (size_t i = 0; i < plane; ++i) o[i] = static_cast<float>(src[3 * i + c]) / 255.0f;
  }
}

void ToNormalizedChw(const RgbImage& image, std::span<float> out) {
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  assert(out.size() >= 3 * plane && image.data.size() >= 3 * plane);
  if (out.size() < 3 * plane || image.data.size() < 3 * plane) return;  // contract violation: write nothing
  const std::uint8_t* src = image.data.data();
  for (int c = 0; c < 3; ++c) {
    float* o = out.data() + c * plane;
    const float mean = kClipMean[c];
    const float std = kClipStd[c];
    // Same float32 operations as torchvision: ToTensor (v / 255) then
    // Normalize ((x - mean) / std).
    for (size_t i = 0; i < plane; ++i) o[i] = (static_cast<float>(src[3 * i + c]) / 255.0f - mean) / std;
  }
}

}  // namespace clipserve::image
