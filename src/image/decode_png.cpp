// PNG decoding with libpng, producing the mode Pillow 9.x opens
// (PngImagePlugin._MODES): 1-bit gray -> "1", 2/4/8-bit gray -> "L",
// 16-bit gray -> "I" (full 16-bit value), RGB -> "RGB", palette -> "P",
// gray+alpha -> "LA" (16-bit: "RGBA"), RGBA -> "RGBA". 16-bit color keeps
// the most significant byte, as Pillow's "RGB;16B"-style unpackers do.
// tRNS does not change the mode (Pillow keeps it in info, and
// convert("RGB") ignores it).
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <string>

#include "image/image_internal.h"

namespace clipserve::image::internal {
namespace {

struct Reader {
  std::span<const std::uint8_t> bytes;
  size_t pos = 0;
  std::string error;  // first libpng error message
};

void ReadCallback(png_structp png, png_bytep out, png_size_t length) {
  auto* r = static_cast<Reader*>(png_get_io_ptr(png));
  if (r->bytes.size() - r->pos < length) {
    png_error(png, "truncated file (data ends before the image is complete)");
  }
  std::memcpy(out, r->bytes.data() + r->pos, length);
  r->pos += length;
}

void ErrorCallback(png_structp png, png_const_charp message) {
  auto* r = static_cast<Reader*>(png_get_error_ptr(png));
  if (r != nullptr && r->error.empty()) r->error = message;
  png_longjmp(png, 1);
}

void WarningCallback(png_structp, png_const_charp) {}

struct PngGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngGuard() { png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr); }
};

// Everything that runs between setjmp and a possible longjmp lives here,
// with only trivially destructible locals (longjmp skips destructors).
// Returns false on a libpng error.
bool ReadHeader(png_structp png, png_infop info) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  return true;
}

bool ReadRows(png_structp png, png_infop info, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  return true;
}

}  // namespace

StatusOr<Decoded> DecodePng(std::span<const std::uint8_t> bytes, const PreprocessOptions& options) {
  Reader reader{bytes, 0, {}};
  PngGuard g;
  g.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, ErrorCallback, WarningCallback);
  if (g.png == nullptr) return InternalError("PNG: cannot create decoder");
  g.info = png_create_info_struct(g.png);
  if (g.info == nullptr) return InternalError("PNG: cannot create decoder");
  png_set_read_fn(g.png, &reader, ReadCallback);
  // Ancillary-chunk problems (bad iCCP, etc.) are not fatal, as in Pillow.
  png_set_benign_errors(g.png, 1);
  // libpng refuses widths/heights above 1000000 by default; Pillow has no
  // such limit. Our own pixel limit (checked after the header) decides.
  png_set_user_limits(g.png, 0x7fffffffu, 0x7fffffffu);

  if (!ReadHeader(g.png, g.info)) return InvalidArgumentError("PNG: corrupt header: " + reader.error);

  const png_uint_32 width = png_get_image_width(g.png, g.info);
  const png_uint_32 height = png_get_image_height(g.png, g.info);
  const int bit_depth = png_get_bit_depth(g.png, g.info);
  const int color_type = png_get_color_type(g.png, g.info);
  RETURN_IF_ERROR(CheckDimensions(width, height, options, "PNG"));

  Decoded d;
  d.width = static_cast<int>(width);
  d.height = static_cast<int>(height);

  // Pixel layout libpng delivers (we transform to Pillow's mode afterwards).
  int src_channels = 1;
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
      if (bit_depth == 1) {
        d.mode = Mode::k1;
      } else {
        d.mode = bit_depth == 16 ? Mode::kI : Mode::kL;
      }
      if (bit_depth < 8) png_set_expand_gray_1_2_4_to_8(g.png);  // bit replication, = Pillow's L;2/L;4 scale
      src_channels = 1;
      break;
    case PNG_COLOR_TYPE_PALETTE: {
      d.mode = Mode::kP;
      if (bit_depth < 8) png_set_packing(g.png);
      src_channels = 1;
      png_colorp plte = nullptr;
      int n = 0;
      if (png_get_PLTE(g.png, g.info, &plte, &n) == 0) return InvalidArgumentError("PNG: palette image without PLTE chunk");
      // Pillow starts from a gray ramp and overwrites the entries present.
      d.palette.resize(256 * 3);
      for (int i = 0; i < 256; ++i) {
        for (int c = 0; c < 3; ++c) d.palette[static_cast<size_t>(i * 3 + c)] = static_cast<std::uint8_t>(i);
      }
      for (int i = 0; i < n && i < 256; ++i) {
        d.palette[static_cast<size_t>(i * 3)] = plte[i].red;
        d.palette[static_cast<size_t>(i * 3 + 1)] = plte[i].green;
        d.palette[static_cast<size_t>(i * 3 + 2)] = plte[i].blue;
      }
      break;
    }
    case PNG_COLOR_TYPE_RGB:
      d.mode = Mode::kRGB;
      src_channels = 3;
      break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      d.mode = bit_depth == 16 ? Mode::kRGBA : Mode::kLA;
      src_channels = 2;
      break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      d.mode = Mode::kRGBA;
      src_channels = 4;
      break;
    default:
      return InvalidArgumentError("PNG: unsupported color type " + std::to_string(color_type));
  }
  png_set_interlace_handling(g.png);
  png_read_update_info(g.png, g.info);

  const size_t row_bytes = png_get_rowbytes(g.png, g.info);
  const size_t sample_bytes = bit_depth == 16 ? 2 : 1;
  if (row_bytes != static_cast<size_t>(width) * static_cast<size_t>(src_channels) * sample_bytes) {
    return InternalError("PNG: unexpected row size " + std::to_string(row_bytes));
  }
  std::vector<std::uint8_t> raw(row_bytes * height);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = raw.data() + y * row_bytes;
  if (!ReadRows(g.png, g.info, rows.data())) return InvalidArgumentError("PNG: " + reader.error);

  const size_t npix = static_cast<size_t>(width) * height;
  if (bit_depth != 16) {
    if (d.mode == Mode::k1) {
      for (auto& v : raw) v = v != 0 ? 255 : 0;
    }
    d.pixels = std::move(raw);  // L, 1, P, RGB, LA, RGBA: libpng layout = Pillow's bands
    return d;
  }
  // 16-bit samples, big-endian.
  if (d.mode == Mode::kI) {
    d.pixels_i32.resize(npix);
    for (size_t i = 0; i < npix; ++i) d.pixels_i32[i] = (raw[2 * i] << 8) | raw[2 * i + 1];
    return d;
  }
  const int channels = ChannelCount(d.mode);
  d.pixels.resize(npix * static_cast<size_t>(channels));
  for (size_t i = 0; i < npix; ++i) {
    const std::uint8_t* s = raw.data() + i * static_cast<size_t>(src_channels) * 2;
    std::uint8_t* o = d.pixels.data() + i * static_cast<size_t>(channels);
    if (src_channels == 2) {  // "LA;16B" -> RGBA
      o[0] = o[1] = o[2] = s[0];
      o[3] = s[2];
    } else {
      for (int c = 0; c < src_channels; ++c) o[c] = s[2 * c];
    }
  }
  return d;
}

}  // namespace clipserve::image::internal
