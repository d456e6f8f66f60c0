// Baseline JPEG encoding for synthetic benchmark and test images.
#include <turbojpeg.h>

#include <memory>
#include <string>

#include "image/image.h"

namespace clipserve::image {

StatusOr<std::vector<std::uint8_t>> EncodeJpeg(const RgbImage& image, int quality) {
  if (image.width <= 0 || image.height <= 0) {
    return InvalidArgumentError("EncodeJpeg: zero-size image (" + std::to_string(image.width) + "x" +
                                std::to_string(image.height) + ")");
  }
  if (image.data.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return InvalidArgumentError("EncodeJpeg: data size " + std::to_string(image.data.size()) +
                                " does not match width*height*3");
  }
  if (quality < 1 || quality > 100) {
    return InvalidArgumentError("EncodeJpeg: quality must be 1..100, got " + std::to_string(quality));
  }
  std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitCompress(), tjDestroy);
  if (!handle) return InternalError("EncodeJpeg: cannot initialize encoder");
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  if (tjCompress2(handle.get(), image.data.data(), image.width, image.width * 3, image.height, TJPF_RGB, &buf,
                  &size, TJSAMP_420, quality, 0) != 0) {
    const std::string msg = tjGetErrorStr2(handle.get());
    tjFree(buf);
    return InternalError("EncodeJpeg: " + msg);
  }
  std::vector<std::uint8_t> out(buf, buf + size);
  tjFree(buf);
  return out;
}

}  // namespace clipserve::image
