// Unit tests of the image pipeline that need no oracle: format detection,
// shapes, crop geometry on synthetic images, normalization math, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "image/image.h"
#include "image/image_internal.h"

namespace clipserve::image {
namespace {

RgbImage Gradient(int w, int h) {
  RgbImage img;
  img.width = w;
  img.height = h;
  img.data.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = &img.data[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<std::uint8_t>(x * 255 / std::max(1, w - 1));
      p[1] = static_cast<std::uint8_t>(y * 255 / std::max(1, h - 1));
      p[2] = static_cast<std::uint8_t>((x + y) % 256);
    }
  }
  return img;
}

TEST(DetectFormat, FromMagicBytes) {
  const std::vector<std::uint8_t> jpeg = {0xFF, 0xD8, 0xFF, 0xE0};
  const std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  const std::vector<std::uint8_t> webp = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'};
  const std::vector<std::uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a'};
  EXPECT_EQ(DetectFormat(jpeg), Format::kJpeg);
  EXPECT_EQ(DetectFormat(png), Format::kPng);
  EXPECT_EQ(DetectFormat(webp), Format::kWebp);
  EXPECT_EQ(DetectFormat(gif), Format::kUnknown);
  EXPECT_EQ(DetectFormat({}), Format::kUnknown);
  EXPECT_EQ(FormatName(Format::kPng), "PNG");
}

TEST(EncodeJpeg, RoundTripsThroughDecode) {
  auto jpeg = EncodeJpeg(Gradient(320, 240), 90);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status().ToString();
  EXPECT_EQ(DetectFormat(*jpeg), Format::kJpeg);
  PreprocessOptions opt;
  auto img = DecodeAndPrepare(*jpeg, opt);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(img->width, 224);
  EXPECT_EQ(img->height, 224);
  EXPECT_EQ(img->data.size(), 224u * 224u * 3u);
  // Red follows x: increasing left to right, green follows y.
  const auto at = [&](int x, int y, int c) { return img->data[(static_cast<size_t>(y) * 224 + x) * 3 + c]; };
  EXPECT_LT(at(5, 112, 0), at(218, 112, 0));
  EXPECT_LT(at(112, 5, 1), at(112, 218, 1));
}

TEST(EncodeJpeg, RejectsBadArguments) {
  RgbImage empty;
  EXPECT_EQ(EncodeJpeg(empty, 90).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeJpeg(Gradient(8, 8), 0).status().code(), StatusCode::kInvalidArgument);
}

TEST(Normalize, MatchesDocumentedMath) {
  RgbImage img;
  img.width = 2;
  img.height = 1;
  img.data = {0, 128, 255, 10, 20, 30};
  std::vector<float> unit(6), norm(6);
  ToUnitChw(img, unit);
  ToNormalizedChw(img, norm);
  const double mean[3] = {0.48145466, 0.4578275, 0.40821073};
  const double stdv[3] = {0.26862954, 0.26130258, 0.27577711};
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 2; ++i) {
      const double v = img.data[static_cast<size_t>(i) * 3 + c];
      EXPECT_NEAR(unit[static_cast<size_t>(c) * 2 + i], v / 255.0, 1e-7);
      EXPECT_NEAR(norm[static_cast<size_t>(c) * 2 + i], (v / 255.0 - mean[c]) / stdv[c], 1e-5);
    }
  }
  // CHW layout: channel 0 plane first.
  EXPECT_FLOAT_EQ(unit[0], 0.0f);
  EXPECT_FLOAT_EQ(unit[1], 10.0f / 255.0f);
  EXPECT_FLOAT_EQ(unit[4], 1.0f);
}

TEST(DecodeErrors, EmptyAndNonImage) {
  PreprocessOptions opt;
  auto r = DecodeAndPrepare({}, opt);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("empty"), std::string::npos);
  const std::string text = "hello, this is not an image";
  auto r2 = DecodeAndPrepare({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, opt);
  EXPECT_EQ(r2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r2.status().message().find("not a supported image"), std::string::npos);
}

TEST(DecodeErrors, TruncatedJpeg) {
  auto jpeg = EncodeJpeg(Gradient(64, 64), 90);
  ASSERT_TRUE(jpeg.ok());
  std::vector<std::uint8_t> cut(jpeg->begin(), jpeg->begin() + static_cast<std::ptrdiff_t>(jpeg->size() / 2));
  auto r = DecodeAndPrepare(cut, PreprocessOptions{});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("JPEG"), std::string::npos) << r.status().message();
}

TEST(DecodeErrors, PixelLimit) {
  auto jpeg = EncodeJpeg(Gradient(64, 64), 90);
  ASSERT_TRUE(jpeg.ok());
  PreprocessOptions opt;
  opt.max_pixels = 64 * 64 - 1;
  auto r = DecodeAndPrepare(*jpeg, opt);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("64x64"), std::string::npos) << r.status().message();
  opt.max_pixels = 64 * 64;
  EXPECT_TRUE(DecodeAndPrepare(*jpeg, opt).ok());
}

// The vectorized resampling kernels must equal the portable loops exactly,
// for every channel count and for sources that store only some columns.
TEST(Resample, VectorKernelsEqualPortableLoops) {
  std::mt19937 rng(7);
  const int sizes[][2] = {{1920, 1080}, {333, 1000}, {97, 150}, {40, 3}, {226, 224}, {17, 31}, {5, 400}, {1, 9}, {2, 50}};
  for (int channels = 1; channels <= 4; ++channels) {
    for (const auto& wh : sizes) {
      const int width = wh[0], height = wh[1];
      std::vector<std::uint8_t> px(static_cast<size_t>(width) * height * channels);
      for (auto& v : px) v = static_cast<std::uint8_t>((rng() % 3 == 0) ? (rng() % 2) * 255 : rng() % 256);
      for (int S : {224, 64, 7}) {
        const internal::Window w = internal::ResizeWindow(width, height, S);
        const internal::Plane8 full{px.data(), width, height, channels, 0, 0};
        const auto simd = internal::ResampleBicubic8(full, w, true);
        const auto portable = internal::ResampleBicubic8(full, w, false);
        ASSERT_EQ(simd, portable) << width << "x" << height << " C=" << channels << " S=" << S;
        // Only the columns the window reads, as the JPEG decoder stores them.
        int first = 0, last = 0;
        internal::SourceColumns(width, w.out_width, w.x0, w.width, &first, &last);
        ASSERT_LE(0, first);
        ASSERT_LE(last, width);
        if (w.out_width == width) continue;
        std::vector<std::uint8_t> cols(static_cast<size_t>(last - first) * height * channels);
        for (int y = 0; y < height; ++y) {
          std::copy_n(px.begin() + (static_cast<std::ptrdiff_t>(y) * width + first) * channels, (last - first) * channels,
                      cols.begin() + static_cast<std::ptrdiff_t>(y) * (last - first) * channels);
        }
        const internal::Plane8 part{cols.data(), width, height, channels, first,
                                    static_cast<size_t>(last - first) * channels};
        ASSERT_EQ(internal::ResampleBicubic8(part, w, true), portable) << width << "x" << height << " C=" << channels;
        ASSERT_EQ(internal::ResampleBicubic8(part, w, false), portable) << width << "x" << height << " C=" << channels;
      }
    }
  }
}

TEST(Resample, WindowFollowsTorchvisionRules) {
  // Long side truncated; crop offsets rounded half to even.
  internal::Window w = internal::ResizeWindow(1920, 1080, 224);
  EXPECT_EQ(w.out_width, 398);  // int(224 * 1920 / 1080) = int(398.2)
  EXPECT_EQ(w.out_height, 224);
  EXPECT_EQ(w.x0, 87);  // round(87.0)
  w = internal::ResizeWindow(225, 224, 224);  // extra 1: round(0.5) = 0
  EXPECT_EQ(w.x0, 0);
  w = internal::ResizeWindow(227, 224, 224);  // extra 3: round(1.5) = 2
  EXPECT_EQ(w.x0, 2);
  w = internal::ResizeWindow(229, 224, 224);  // extra 5: round(2.5) = 2
  EXPECT_EQ(w.x0, 2);
  w = internal::ResizeWindow(100, 150, 224);  // upscale: 224 x int(336.0)
  EXPECT_EQ(w.out_width, 224);
  EXPECT_EQ(w.out_height, 336);
  EXPECT_EQ(w.y0, 56);
}

}  // namespace
}  // namespace clipserve::image
