// JPEG decoding with libjpeg-turbo's TurboJPEG API, producing the mode
// Pillow opens: "L" for grayscale, "CMYK" (inverted, as Pillow's "CMYK;I"
// raw mode) for 4-component files, "RGB" otherwise. Accurate IDCT and fancy
// upsampling (the library defaults, same as Pillow's libjpeg use).
#include <turbojpeg.h>

#include <cstring>
#include <memory>
#include <string>

#include "image/image_internal.h"

namespace clipserve::image::internal {
namespace {

struct TjDeleter {
  void operator()(void* h) const {
    if (h != nullptr) tjDestroy(h);
  }
};
using TjHandle = std::unique_ptr<void, TjDeleter>;

std::string TjError(void* handle) { return tjGetErrorStr2(handle); }

}  // namespace

StatusOr<Decoded> DecodeJpeg(std::span<const std::uint8_t> bytes, const PreprocessOptions& options) {
  TjHandle handle(tjInitDecompress());
  if (!handle) return InternalError("JPEG: cannot initialize decoder: " + std::string(tjGetErrorStr2(nullptr)));

  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), &width,
                          &height, &subsamp, &colorspace) != 0) {
    return InvalidArgumentError("JPEG: corrupt or unsupported header: " + TjError(handle.get()));
  }
  RETURN_IF_ERROR(CheckDimensions(static_cast<std::uint64_t>(width), static_cast<std::uint64_t>(height),
                                  options, "JPEG"));

  Decoded d;
  d.width = width;
  d.height = height;
  int pixel_format = TJPF_RGB;
  if (colorspace == TJCS_GRAY) {
    d.mode = Mode::kL;
    pixel_format = TJPF_GRAY;
  } else if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    d.mode = Mode::kCMYK;
    pixel_format = TJPF_CMYK;
  } else {
    d.mode = Mode::kRGB;
  }
  const int channels = ChannelCount(d.mode);
  d.pixels.resize(static_cast<size_t>(width) * static_cast<size_t>(height) * static_cast<size_t>(channels));
  const int rc = tjDecompress2(handle.get(), bytes.data(), static_cast<unsigned long>(bytes.size()),
                               d.pixels.data(), width, width * channels, height, pixel_format, 0);
  if (rc != 0) {
    // Warnings (libjpeg's recoverable conditions) still yield a full image;
    // Pillow accepts those unless the data ran out. A premature end leaves
    // the rest of the image gray, which Pillow refuses ("image file is
    // truncated"), and so do we.
    const std::string msg = TjError(handle.get());
    const bool warning = tjGetErrorCode(handle.get()) == TJERR_WARNING;
    if (!warning) return InvalidArgumentError("JPEG: corrupt data: " + msg);
    if (msg.find("Premature end") != std::string::npos) {
      return InvalidArgumentError("JPEG: truncated file (" + msg + ")");
    }
  }
  if (d.mode == Mode::kCMYK) {
    // Pillow reads 4-component JPEGs with raw mode "CMYK;I" (Adobe
    // convention: stored inverted).
    for (auto& v : d.pixels) v = static_cast<std::uint8_t>(255 - v);
  }
  if (options.apply_exif_orientation) d.exif_orientation = ReadJpegExifOrientation(bytes);
  return d;
}

// Minimal EXIF reader: finds APP1 "Exif\0\0", walks IFD0 for tag 0x0112.
int ReadJpegExifOrientation(std::span<const std::uint8_t> b) {
  size_t pos = 2;
  while (pos + 4 <= b.size()) {
    if (b[pos] != 0xFF) return 1;
    const std::uint8_t marker = b[pos + 1];
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
      pos += 2;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return 1;  // start of scan: no EXIF before it
    const size_t len = (static_cast<size_t>(b[pos + 2]) << 8) | b[pos + 3];
    if (len < 2 || pos + 2 + len > b.size()) return 1;
    const std::uint8_t* seg = b.data() + pos + 4;
    const size_t seg_len = len - 2;
    if (marker == 0xE1 && seg_len >= 14 && std::memcmp(seg, "Exif\0\0", 6) == 0) {
      const std::uint8_t* t = seg + 6;
      const size_t n = seg_len - 6;
      const bool le = t[0] == 'I' && t[1] == 'I';
      if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
      auto u16 = [&](size_t o) -> unsigned {
        return le ? (t[o] | (t[o + 1] << 8)) : ((t[o] << 8) | t[o + 1]);
      };
      auto u32 = [&](size_t o) -> size_t {
        return le ? (size_t{t[o]} | (size_t{t[o + 1]} << 8) | (size_t{t[o + 2]} << 16) | (size_t{t[o + 3]} << 24))
                  : ((size_t{t[o]} << 24) | (size_t{t[o + 1]} << 16) | (size_t{t[o + 2]} << 8) | size_t{t[o + 3]});
      };
      const size_t ifd = u32(4);
      if (ifd + 2 > n) return 1;
      const unsigned count = u16(ifd);
      for (unsigned i = 0; i < count; ++i) {
        const size_t e = ifd + 2 + size_t{i} * 12;
        if (e + 12 > n) return 1;
        if (u16(e) == 0x0112) {
          const unsigned v = u16(e + 8);
          return (v >= 1 && v <= 8) ? static_cast<int>(v) : 1;
        }
      }
      return 1;
    }
    pos += 2 + len;
  }
  return 1;
}

}  // namespace clipserve::image::internal
