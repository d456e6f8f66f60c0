// WebP decoding with libwebp's animation decoder, as Pillow 9.x does
// (WebPAnimDecoder, straight RGBA output, first frame): mode "RGBA" when the
// file has alpha, "RGB" otherwise.
#include <webp/decode.h>
#include <webp/demux.h>

#include <memory>
#include <string>

#include "image/image_internal.h"

namespace clipserve::image::internal {
namespace {

std::string Vp8StatusName(VP8StatusCode code) {
  switch (code) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "corrupt bitstream";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated file (not enough data)";
    default: return "error " + std::to_string(static_cast<int>(code));
  }
}

struct AnimDecoderDeleter {
  void operator()(WebPAnimDecoder* d) const { WebPAnimDecoderDelete(d); }
};

}  // namespace

StatusOr<Decoded> DecodeWebp(std::span<const std::uint8_t> bytes, const PreprocessOptions& options) {
  // Header first: dimensions are known before any pixel memory exists.
  WebPBitstreamFeatures features;
  const VP8StatusCode st = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (st != VP8_STATUS_OK) return InvalidArgumentError("WebP: corrupt header: " + Vp8StatusName(st));
  RETURN_IF_ERROR(CheckDimensions(static_cast<std::uint64_t>(features.width),
                                  static_cast<std::uint64_t>(features.height), options, "WebP"));
  // libwebp's animation decoder keeps two RGBA canvases; we copy one out.
  auto budget = [&](std::uint64_t w, std::uint64_t h) {
    return CheckDecodeBytes(w * h * 4 * 3, std::to_string(w) + "x" + std::to_string(h) + " RGBA (decoder canvases)",
                            options, "WebP");
  };
  RETURN_IF_ERROR(budget(std::uint64_t(features.width), std::uint64_t(features.height)));

  WebPData data{bytes.data(), bytes.size()};
  WebPAnimDecoderOptions dec_options;
  if (!WebPAnimDecoderOptionsInit(&dec_options)) return InternalError("WebP: decoder version mismatch");
  dec_options.color_mode = MODE_RGBA;
  dec_options.use_threads = 0;
  std::unique_ptr<WebPAnimDecoder, AnimDecoderDeleter> dec(WebPAnimDecoderNew(&data, &dec_options));
  if (!dec) return InvalidArgumentError("WebP: corrupt or truncated container");
  WebPAnimInfo info;
  if (!WebPAnimDecoderGetInfo(dec.get(), &info)) return InvalidArgumentError("WebP: cannot read container info");
  RETURN_IF_ERROR(CheckDimensions(info.canvas_width, info.canvas_height, options, "WebP"));
  RETURN_IF_ERROR(budget(info.canvas_width, info.canvas_height));
  std::uint8_t* rgba = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(dec.get(), &rgba, &timestamp) || rgba == nullptr) {
    return InvalidArgumentError("WebP: corrupt or truncated image data");
  }

  Decoded d;
  d.width = static_cast<int>(info.canvas_width);
  d.height = static_cast<int>(info.canvas_height);
  const size_t npix = static_cast<size_t>(d.width) * static_cast<size_t>(d.height);
  if (features.has_alpha) {
    d.mode = Mode::kRGBA;
    d.pixels.assign(rgba, rgba + npix * 4);
  } else {
    d.mode = Mode::kRGB;
    d.pixels.resize(npix * 3);
    for (size_t i = 0; i < npix; ++i) {
      d.pixels[3 * i] = rgba[4 * i];
      d.pixels[3 * i + 1] = rgba[4 * i + 1];
      d.pixels[3 * i + 2] = rgba[4 * i + 2];
    }
  }
  return d;
}

}  // namespace clipserve::image::internal
