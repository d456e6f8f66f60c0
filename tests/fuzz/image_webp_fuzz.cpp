// WebP decoding (image/decode_webp.cpp, internal::DecodeWebp) and, when it
// succeeds, the rest of the pipeline (internal::ResizeCropToRgb), the path
// DecodeAndPrepare takes for WebP bytes.
#include "image_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return clipserve::fuzz::DecodeAndCheck(std::span<const std::uint8_t>(data, size),
                                         clipserve::image::internal::DecodeWebp);
}
