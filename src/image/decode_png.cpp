// PNG decoding with libpng, producing the mode Pillow 9.x opens
// (PngImagePlugin._MODES): 1-bit gray -> "1", 2/4/8-bit gray -> "L",
// 16-bit gray -> "I" (full 16-bit value), RGB -> "RGB", palette -> "P",
// gray+alpha -> "LA" (16-bit: "RGBA"), RGBA -> "RGBA". 16-bit color keeps
// the most significant byte, as Pillow's "RGB;16B"-style unpackers do.
// tRNS does not change the mode (Pillow keeps it in info, and
// convert("RGB") ignores it).
//
// libpng's progressive (push) reader is used because its semantics match
// Pillow's: rows are delivered as soon as their data is inflated, and the
// image counts as complete once every row has arrived. Data ending before
// that is a truncated file (refused, as Pillow refuses it); data ending or
// damaged after it (missing IEND, CRC of the last IDAT) is accepted, as
// Pillow accepts it.
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <new>
#include <string>

#include "image/image_internal.h"

namespace clipserve::image::internal {
namespace {

struct PushState {
  const PreprocessOptions* options = nullptr;
  Decoded* d = nullptr;
  Status status;            // set by our callbacks when they stop decoding
  std::string error;        // first libpng error message
  bool header_done = false;
  int bit_depth = 8;
  int src_channels = 1;     // samples per pixel libpng delivers
  size_t pixel_bytes = 1;   // bytes per pixel libpng delivers (after expansion)
  size_t row_bytes = 0;
  bool interlaced = false;
  size_t rows_expected = 0; // callbacks with data for a complete image
  size_t rows_seen = 0;
  std::vector<std::uint8_t> raw;  // width * height pixels in libpng's layout
};

PushState* StateOf(png_structp png) { return static_cast<PushState*>(png_get_progressive_ptr(png)); }

void ErrorCallback(png_structp png, png_const_charp message) {
  auto* s = static_cast<PushState*>(png_get_error_ptr(png));
  if (s != nullptr && s->error.empty()) s->error = message;
  png_longjmp(png, 1);
}

void WarningCallback(png_structp, png_const_charp) {}

// Sets up the Pillow mode and libpng transformations; false stops decoding
// with s->status set. No libpng error may be raised while a non-trivial
// local is alive (longjmp skips destructors), hence the split.
bool SetUp(png_structp png, png_infop info, PushState* s) {
  Decoded& d = *s->d;
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  s->bit_depth = png_get_bit_depth(png, info);
  const int color_type = png_get_color_type(png, info);
  s->status = CheckDimensions(width, height, *s->options, "PNG");
  if (!s->status.ok()) return false;
  d.width = static_cast<int>(width);
  d.height = static_cast<int>(height);
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
      d.mode = s->bit_depth == 1 ? Mode::k1 : (s->bit_depth == 16 ? Mode::kI : Mode::kL);
      if (s->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);  // bit replication = Pillow's L;2/L;4 scale
      s->src_channels = 1;
      break;
    case PNG_COLOR_TYPE_PALETTE: {
      d.mode = Mode::kP;
      if (s->bit_depth < 8) png_set_packing(png);
      s->src_channels = 1;
      png_colorp plte = nullptr;
      int n = 0;
      if (png_get_PLTE(png, info, &plte, &n) == 0) {
        s->status = InvalidArgumentError("PNG: palette image without PLTE chunk");
        return false;
      }
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
      s->src_channels = 3;
      break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      d.mode = s->bit_depth == 16 ? Mode::kRGBA : Mode::kLA;
      s->src_channels = 2;
      break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      d.mode = Mode::kRGBA;
      s->src_channels = 4;
      break;
    default:
      s->status = InvalidArgumentError("PNG: unsupported color type " + std::to_string(color_type));
      return false;
  }
  // No png_set_interlace_handling: with the push reader we receive each
  // Adam7 pass's reduced rows once and place their pixels ourselves.
  s->interlaced = png_get_interlace_type(png, info) == PNG_INTERLACE_ADAM7;
  png_read_update_info(png, info);
  s->pixel_bytes = static_cast<size_t>(s->src_channels) * (s->bit_depth == 16 ? 2 : 1);
  s->row_bytes = static_cast<size_t>(width) * s->pixel_bytes;
  if (png_get_rowbytes(png, info) != s->row_bytes) {
    s->status = InternalError("PNG: unexpected row size " + std::to_string(png_get_rowbytes(png, info)));
    return false;
  }
  if (!s->interlaced) {
    s->rows_expected = height;
  } else {
    s->rows_expected = 0;
    for (int pass = 0; pass < 7; ++pass) {
      if (PNG_PASS_COLS(width, pass) > 0) s->rows_expected += PNG_PASS_ROWS(height, pass);
    }
  }
  // The raw rows, plus for 16-bit samples the 8-bit (or int32 "I") copy.
  const std::uint64_t npix = std::uint64_t(width) * height;
  std::uint64_t need = std::uint64_t(s->row_bytes) * height;
  if (s->bit_depth == 16) need += npix * (d.mode == Mode::kI ? 4u : std::uint64_t(ChannelCount(d.mode)));
  s->status = CheckDecodeBytes(need, std::to_string(width) + "x" + std::to_string(height) + " with " +
                                         std::to_string(s->src_channels) + " channels at " +
                                         std::to_string(s->bit_depth) + " bits",
                               *s->options, "PNG");
  if (!s->status.ok()) return false;
  try {
    s->raw.resize(s->row_bytes * height);
  } catch (const std::bad_alloc&) {
    s->status = ResourceExhaustedError("PNG: cannot allocate " + std::to_string(s->row_bytes * height) + " bytes");
    return false;
  }
  s->header_done = true;
  return true;
}

void InfoCallback(png_structp png, png_infop info) {
  // Ancillary-chunk problems were already reported as warnings.
  if (!SetUp(png, info, StateOf(png))) png_error(png, "stopped");
}

void RowCallback(png_structp png, png_bytep new_row, png_uint_32 row_num, int pass) {
  PushState* s = StateOf(png);
  if (new_row == nullptr) return;
  const png_uint_32 width = static_cast<png_uint_32>(s->d->width);
  const png_uint_32 height = static_cast<png_uint_32>(s->d->height);
  if (!s->interlaced) {
    if (row_num >= height) return;
    std::memcpy(s->raw.data() + row_num * s->row_bytes, new_row, s->row_bytes);
  } else {
    const png_uint_32 y = PNG_ROW_FROM_PASS_ROW(row_num, pass);
    if (y >= height) return;
    const png_uint_32 cols = PNG_PASS_COLS(width, pass);
    std::uint8_t* out = s->raw.data() + y * s->row_bytes;
    for (png_uint_32 i = 0; i < cols; ++i) {
      const png_uint_32 x = PNG_COL_FROM_PASS_COL(i, pass);
      std::memcpy(out + x * s->pixel_bytes, new_row + i * s->pixel_bytes, s->pixel_bytes);
    }
  }
  ++s->rows_seen;
}

struct PngGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngGuard() { png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr); }
};

// Feeds all bytes to libpng; false on a libpng error (or a callback stop).
// Only trivially destructible locals between setjmp and longjmp.
bool Push(png_structp png, png_infop info, std::span<const std::uint8_t> bytes) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_process_data(png, info, const_cast<png_bytep>(bytes.data()), bytes.size());
  return true;
}

}  // namespace

StatusOr<Decoded> DecodePng(std::span<const std::uint8_t> bytes, const PreprocessOptions& options) {
  Decoded d;
  PushState state;
  state.options = &options;
  state.d = &d;
  PngGuard g;
  g.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, ErrorCallback, WarningCallback);
  if (g.png == nullptr) return InternalError("PNG: cannot create decoder");
  g.info = png_create_info_struct(g.png);
  if (g.info == nullptr) return InternalError("PNG: cannot create decoder");
  // Ancillary-chunk problems (bad iCCP, etc.) are not fatal, as in Pillow.
  png_set_benign_errors(g.png, 1);
  // libpng refuses widths/heights above 1000000 by default; Pillow has no
  // such limit. Our own pixel limit (checked from IHDR) decides.
  png_set_user_limits(g.png, 0x7fffffffu, 0x7fffffffu);
  png_set_progressive_read_fn(g.png, &state, InfoCallback, RowCallback, nullptr);

  const bool ok = Push(g.png, g.info, bytes);
  if (!state.status.ok()) return state.status;
  const bool complete = state.header_done && state.rows_seen == state.rows_expected;
  if (!complete) {
    if (!ok) {
      return InvalidArgumentError(std::string(state.header_done ? "PNG: corrupt data: " : "PNG: corrupt header: ") +
                                  state.error);
    }
    if (!state.header_done) return InvalidArgumentError("PNG: truncated file (data ends inside the header)");
    return InvalidArgumentError("PNG: truncated file (data ends after " + std::to_string(state.rows_seen) + " of " +
                                std::to_string(state.rows_expected) + " rows" +
                                (state.interlaced ? " of the interlace passes)" : ")"));
  }
  // Complete image: anything wrong after the last row (trailing chunks,
  // their CRCs, a missing IEND) is ignored, as Pillow does.

  std::vector<std::uint8_t>& raw = state.raw;
  const size_t npix = static_cast<size_t>(d.width) * static_cast<size_t>(d.height);
  if (state.bit_depth != 16) {
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
    const std::uint8_t* s = raw.data() + i * static_cast<size_t>(state.src_channels) * 2;
    std::uint8_t* o = d.pixels.data() + i * static_cast<size_t>(channels);
    if (state.src_channels == 2) {  // "LA;16B" -> RGBA
      o[0] = o[1] = o[2] = s[0];
      o[3] = s[2];
    } else {
      for (int c = 0; c < state.src_channels; ++c) o[c] = s[2 * c];
    }
  }
  return d;
}

}  // namespace clipserve::image::internal
