// Image pipeline: encoded bytes -> the exact tensor open_clip feeds its model.
//
// Order (open_clip's inference transform, DESIGN §2): decode in the file's own
// mode -> Resize(shortest side = S, bicubic, antialiased, as Pillow computes
// it) -> CenterCrop(S) -> convert("RGB") -> [0,1] -> normalize(mean, std).
// Nothing here knows HTTP, JSON or LibTorch.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace clipserve::image {

inline constexpr float kClipMean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr float kClipStd[3] = {0.26862954f, 0.26130258f, 0.27577711f};

// Pillow's decompression-bomb *error* threshold: 2 * MAX_IMAGE_PIXELS.
inline constexpr std::uint64_t kDefaultMaxPixels = 2ull * 89478485ull;

// Bytes one decode may allocate for pixels (decoder buffers included),
// computed from the header (dimensions, channels, bit depth) before any is
// allocated. 128 MiB: a 4K RGBA image at 16 bits per channel (99.5 MB with
// its 8-bit copy), an 8K RGB photo (99.5 MB) or a 40 MP RGB JPEG fit; a PNG
// that declares 13000 x 13000 RGBA16 (1.35 GB) does not.
inline constexpr std::uint64_t kDefaultMaxDecodeBytes = 128ull << 20;

enum class Format { kUnknown, kJpeg, kPng, kWebp };
Format DetectFormat(std::span<const std::uint8_t> bytes);  // from magic bytes
std::string_view FormatName(Format f);

// 8-bit interleaved RGB, row-major, width * height * 3 bytes.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> data;
};

struct PreprocessOptions {
  int image_size = 224;                        // S: output is S x S
  std::uint64_t max_pixels = kDefaultMaxPixels;// refused before pixel memory is allocated
  std::uint64_t max_decode_bytes = kDefaultMaxDecodeBytes;  // likewise, for the bytes of the decode
  bool apply_exif_orientation = false;         // open_clip does not
};

// Decode + resize + center-crop + convert to RGB: the S x S uint8 image
// (before scaling/normalization). Errors are InvalidArgument (corrupt,
// truncated, unsupported, zero-size) or ResourceExhausted (pixel limit,
// decode budget), and name the problem.
StatusOr<RgbImage> DecodeAndPrepare(std::span<const std::uint8_t> bytes, const PreprocessOptions& options);

// Writes 3*S*S floats, CHW, values/255 in [0,1] (the engine's input).
void ToUnitChw(const RgbImage& image, std::span<float> out);

// Writes 3*S*S floats, CHW, ((v/255) - mean) / std (open_clip's model input).
void ToNormalizedChw(const RgbImage& image, std::span<float> out);

// Baseline JPEG encoding (libjpeg-turbo), 4:2:0, for synthetic benchmark images.
StatusOr<std::vector<std::uint8_t>> EncodeJpeg(const RgbImage& image, int quality);

}  // namespace clipserve::image
