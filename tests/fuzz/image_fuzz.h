// The body of the three image targets (JPEG, PNG, WebP): decode with the
// format's decoder, check the decoded buffer against its header, then run
// resize + crop + convert as DecodeAndPrepare does.
//
// Limits are smaller than the server's defaults (1 MP, 32 MiB, 32x32 output)
// so that each execution stays fast; the limit checks themselves are the
// same code.
#pragma once

#include "fuzz_support.h"
#include "image/image.h"
#include "image/image_internal.h"

namespace clipserve::fuzz {

using Decoder = StatusOr<image::internal::Decoded> (*)(std::span<const std::uint8_t>,
                                                        const image::PreprocessOptions&);

inline int DecodeAndCheck(std::span<const std::uint8_t> bytes, Decoder decode) {
  using image::internal::Mode;
  image::PreprocessOptions options;
  options.image_size = 32;
  options.max_pixels = 1u << 20;
  options.max_decode_bytes = 32u << 20;
  auto decoded = decode(bytes, options);
  if (!decoded.ok()) {
    const StatusCode code = decoded.status().code();
    FUZZ_CHECK(code == StatusCode::kInvalidArgument || code == StatusCode::kResourceExhausted ||
               code == StatusCode::kUnimplemented);
    return 0;
  }
  image::internal::Decoded& d = *decoded;
  FUZZ_CHECK(d.width > 0 && d.height > 0);
  FUZZ_CHECK(static_cast<std::uint64_t>(d.width) * static_cast<std::uint64_t>(d.height) <= options.max_pixels);
  const std::size_t stored = d.stored_width > 0 ? static_cast<std::size_t>(d.stored_width) : d.width;
  FUZZ_CHECK(d.col0 >= 0 && d.col0 + stored <= static_cast<std::size_t>(d.width));
  if (d.mode == Mode::kI) {
    FUZZ_CHECK(d.pixels_i32.size() >= stored * d.height);
  } else {
    FUZZ_CHECK(d.pixels.size() >= stored * d.height * image::internal::ChannelCount(d.mode));
  }
  if (d.mode == Mode::kP) FUZZ_CHECK(d.palette.size() == 256 * 3);
  const image::RgbImage rgb = image::internal::ResizeCropToRgb(d, options);
  FUZZ_CHECK(rgb.width == options.image_size && rgb.height == options.image_size);
  FUZZ_CHECK(rgb.data.size() == static_cast<std::size_t>(rgb.width) * rgb.height * 3);
  return 0;
}

}  // namespace clipserve::fuzz
