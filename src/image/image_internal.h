// Internal types shared by the decoders, the resampler and the pipeline.
// Not part of the public API: the server and benchmark layers use image.h.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "image/image.h"

namespace clipserve::image::internal {

// Pillow image modes that the supported decoders can produce. The pipeline
// resizes an image in its own mode and converts to RGB afterwards, exactly
// as Pillow does, so the decoders must report the mode Pillow would open.
enum class Mode {
  k1,     // bilevel, one byte per pixel holding 0 or 255
  kL,     // 8-bit gray
  kP,     // 8-bit palette index, palette in Decoded::palette (RGB triplets)
  kLA,    // gray + alpha (straight alpha)
  kRGB,   // 8-bit RGB
  kRGBA,  // RGB + straight alpha
  kCMYK,  // Pillow's CMYK (already inverted from Adobe JPEG storage)
  kI,     // 32-bit signed integer gray (Pillow's mode for 16-bit gray PNG)
};

int ChannelCount(Mode mode);  // bytes per pixel for 8-bit modes, 1 for kI

// A decoded image in its Pillow mode. 8-bit modes use `pixels` (interleaved,
// ChannelCount(mode) bytes per pixel); kI uses `pixels_i32`.
struct Decoded {
  Mode mode = Mode::kRGB;
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;
  std::vector<std::int32_t> pixels_i32;
  std::vector<std::uint8_t> palette;  // kP only: 256 * 3 bytes
  // A decoder may store only the columns [col0, col0 + stored_width) that
  // the resize will read (JPEG, when downscaling). stored_width 0: all.
  int col0 = 0;
  int stored_width = 0;
  int exif_orientation = 1;           // 1..8 from EXIF (JPEG only), 1 if absent
};

// Checks header dimensions against the limits before pixel memory exists.
Status CheckDimensions(std::uint64_t width, std::uint64_t height, const PreprocessOptions& options,
                       std::string_view format_name);

// ResourceExhausted when decoding needs more than options.max_decode_bytes:
// `bytes` is what the decoder will allocate for `what` ("13000x13000 RGBA
// 16-bit"), computed from the header.
Status CheckDecodeBytes(std::uint64_t bytes, std::string_view what, const PreprocessOptions& options,
                        std::string_view format_name);

StatusOr<Decoded> DecodeJpeg(std::span<const std::uint8_t> bytes, const PreprocessOptions& options);
StatusOr<Decoded> DecodePng(std::span<const std::uint8_t> bytes, const PreprocessOptions& options);
StatusOr<Decoded> DecodeWebp(std::span<const std::uint8_t> bytes, const PreprocessOptions& options);

// Detects the format from the bytes and decodes in Pillow's mode.
StatusOr<Decoded> DecodeAny(std::span<const std::uint8_t> bytes, const PreprocessOptions& options);

// Everything after decoding: optional EXIF orientation, Pillow's resize in
// the image's mode (shortest side -> options.image_size), center crop,
// convert("RGB"). May modify `d` (premultiplied alpha, orientation).
// options.image_size must be positive.
RgbImage ResizeCropToRgb(Decoded& d, const PreprocessOptions& options);

// Reads the EXIF orientation tag (1..8) from a JPEG APP1 segment; 1 if none.
int ReadJpegExifOrientation(std::span<const std::uint8_t> bytes);

// Output window of a resize: the pixels [x0, x0 + width) x [y0, y0 + height)
// of an image resized to out_width x out_height. Computing only the window
// that survives the center crop gives the same values as resizing the whole
// image and cropping afterwards (each output pixel depends only on its own
// coefficients), at a fraction of the cost.
struct Window {
  int out_width = 0;
  int out_height = 0;
  int x0 = 0;
  int y0 = 0;
  int width = 0;
  int height = 0;
};

// An 8-bit interleaved image, possibly holding only the columns
// [col0, col0 + stored) of a `width`-wide image: pixel (x, y) is at
// data + y * stride + (x - col0) * channels. stride 0 means width * channels.
// The buffer is height * stride bytes (readable up to that end).
struct Plane8 {
  const std::uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int channels = 1;
  int col0 = 0;
  size_t stride = 0;
};

// The window of DecodeAndPrepare: torchvision Resize(S) output size
// (shortest side S, long side int(S * long / short)) and CenterCrop(S)
// offsets (Python round, half to even).
Window ResizeWindow(int width, int height, int S);

// Pillow's antialiased bicubic resize (Resample.c, 8 bits per channel):
// horizontal pass then vertical pass, 22-bit fixed-point coefficients,
// rounding and clipping to uint8 after each pass. Returns
// window.width * window.height * channels bytes. The source must hold every
// column the window's output depends on (see SourceColumns). allow_simd
// false forces the portable loops (tests compare both).
std::vector<std::uint8_t> ResampleBicubic8(const Plane8& src, const Window& window, bool allow_simd = true);

// Source columns [first, last) that the bicubic output columns
// [x0, x0 + count) of a resize from in_size to out_size read.
void SourceColumns(int in_size, int out_size, int x0, int count, int* first, int* last);

// Pillow's bicubic resize for mode "I" (double coefficients, int32 result
// rounded half away from zero after each pass).
std::vector<std::int32_t> ResampleBicubicI32(const std::int32_t* src, int width, int height,
                                             const Window& window);

// Pillow's NEAREST resize (used for modes "P" and "1"): affine scale with
// source coordinate int((x + 0.5) * in/out), accumulated as Pillow does.
std::vector<std::uint8_t> ResampleNearest8(const std::uint8_t* src, int width, int height, int channels,
                                           const Window& window);

}  // namespace clipserve::image::internal
