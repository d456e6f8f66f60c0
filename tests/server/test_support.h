// Helpers shared by the server tests: image fixtures, base64, polling.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/base64.h"
#include "image/image.h"

namespace clipserve::server::testing {

// A 5x3 RGBA PNG with one half-transparent pixel (made with Pillow).
inline const std::vector<std::uint8_t> kPng5x3 = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
    0x00, 0x05, 0x00, 0x00, 0x00, 0x03, 0x08, 0x06, 0x00, 0x00, 0x00, 0x5b, 0x36, 0xc5, 0xf8, 0x00, 0x00, 0x00,
    0x1e, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xe4, 0x3a, 0x21, 0xf7, 0x9f, 0x01, 0x0d, 0x30, 0x31, 0x30,
    0x30, 0x30, 0x7c, 0xb0, 0x78, 0xd4, 0x88, 0x2c, 0xc8, 0x88, 0x4d, 0x25, 0x00, 0xf2, 0x0b, 0x06, 0x6e, 0x69,
    0x29, 0x9b, 0x7c, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

// A deterministic w x h JPEG: a colour gradient that depends on `seed`.
inline std::string MakeJpeg(int w, int h, int seed) {
  image::RgbImage img;
  img.width = w;
  img.height = h;
  img.data.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      auto* p = &img.data[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<std::uint8_t>((x * 255 / std::max(1, w - 1) + seed * 37) & 0xFF);
      p[1] = static_cast<std::uint8_t>((y * 255 / std::max(1, h - 1) + seed * 91) & 0xFF);
      p[2] = static_cast<std::uint8_t>(((x + y) * 7 + seed * 13) & 0xFF);
    }
  }
  auto jpeg = image::EncodeJpeg(img, 90);
  if (!jpeg.ok()) return {};
  return std::string(jpeg->begin(), jpeg->end());
}

inline std::string AsString(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }

inline std::string Base64(std::string_view in) { return EncodeBase64(in); }

// Polls `pred` every millisecond until it holds or `timeout` passes.
inline bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

// Little-endian float32 bytes of `values`.
inline std::string FloatBytes(const std::vector<float>& values) {
  std::string s(values.size() * sizeof(float), '\0');
  std::memcpy(s.data(), values.data(), s.size());
  return s;
}

// Binary BYTES tensor: 4-byte little-endian length + bytes, per element.
inline std::string LengthPrefixed(const std::vector<std::string>& elements) {
  std::string s;
  for (const auto& e : elements) {
    const auto n = static_cast<std::uint32_t>(e.size());
    const char len[4] = {char(n & 0xFF), char((n >> 8) & 0xFF), char((n >> 16) & 0xFF), char((n >> 24) & 0xFF)};
    s.append(len, 4);
    s += e;
  }
  return s;
}

}  // namespace clipserve::server::testing
