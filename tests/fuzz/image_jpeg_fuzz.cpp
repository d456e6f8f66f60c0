// JPEG decoding (image/decode_jpeg.cpp, internal::DecodeJpeg) and, when it
// succeeds, the rest of the pipeline (internal::ResizeCropToRgb), the path
// DecodeAndPrepare takes for JPEG bytes.
#include "image_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return clipserve::fuzz::DecodeAndCheck(std::span<const std::uint8_t>(data, size),
                                         clipserve::image::internal::DecodeJpeg);
}
