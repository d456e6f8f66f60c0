// Bad input: every error class gets a clear Status, nothing crashes, and
// oversized images are refused before pixel memory is allocated.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "image/image.h"

// GCC pairs the replaced operators below with malloc/free at inlining sites
// and warns about the (correct) pairing.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Largest single operator-new request since the last reset: lets a test
// check that a pixel bomb is refused without allocating its pixels.
namespace {
std::atomic<std::size_t> g_max_new_bytes{0};
void NoteAllocation(std::size_t n) {
  std::size_t prev = g_max_new_bytes.load(std::memory_order_relaxed);
  while (n > prev && !g_max_new_bytes.compare_exchange_weak(prev, n, std::memory_order_relaxed)) {
  }
}
}  // namespace

void* operator new(std::size_t n) {
  NoteAllocation(n);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace clipserve::image {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

Bytes ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

fs::path SamplesDir() { return fs::path(CLIPSERVE_SOURCE_DIR) / "data" / "samples"; }

std::vector<fs::path> Samples() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(SamplesDir())) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

Bytes FromString(const std::string& s) { return Bytes(s.begin(), s.end()); }

std::uint32_t Crc32(const std::uint8_t* p, size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void PutBe32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

void AddChunk(Bytes& png, const char* type, const Bytes& data) {
  PutBe32(png, static_cast<std::uint32_t>(data.size()));
  Bytes body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  PutBe32(png, Crc32(body.data(), body.size()));
}

// A structurally valid PNG whose IHDR claims width x height RGB pixels.
Bytes PngWithHeader(std::uint32_t width, std::uint32_t height, std::uint8_t bit_depth = 8,
                    std::uint8_t color_type = 2) {
  Bytes png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  Bytes ihdr;
  PutBe32(ihdr, width);
  PutBe32(ihdr, height);
  ihdr.insert(ihdr.end(), {bit_depth, color_type, 0, 0, 0});
  AddChunk(png, "IHDR", ihdr);
  AddChunk(png, "IDAT", {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
  AddChunk(png, "IEND", {});
  return png;
}

Bytes SmallJpeg() {
  RgbImage img;
  img.width = 48;
  img.height = 32;
  img.data.assign(48 * 32 * 3, 128);
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<std::uint8_t>(i * 7);
  auto jpeg = EncodeJpeg(img, 90);
  EXPECT_TRUE(jpeg.ok());
  return *jpeg;
}

// Rewrites the frame size in a baseline JPEG's SOF0 segment.
Bytes JpegWithSize(Bytes jpeg, int width, int height) {
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      jpeg[i + 5] = static_cast<std::uint8_t>(height >> 8);
      jpeg[i + 6] = static_cast<std::uint8_t>(height & 0xFF);
      jpeg[i + 7] = static_cast<std::uint8_t>(width >> 8);
      jpeg[i + 8] = static_cast<std::uint8_t>(width & 0xFF);
      return jpeg;
    }
  }
  ADD_FAILURE() << "no SOF0 marker";
  return jpeg;
}

// Rewrites the frame size in a simple-format lossy WebP (VP8 key frame).
Bytes WebpWithSize(Bytes webp, int width, int height) {
  for (size_t i = 12; i + 7 < webp.size(); ++i) {
    if (webp[i] == 0x9d && webp[i + 1] == 0x01 && webp[i + 2] == 0x2a) {
      webp[i + 3] = static_cast<std::uint8_t>(width & 0xFF);
      webp[i + 4] = static_cast<std::uint8_t>((width >> 8) & 0x3F);
      webp[i + 5] = static_cast<std::uint8_t>(height & 0xFF);
      webp[i + 6] = static_cast<std::uint8_t>((height >> 8) & 0x3F);
      return webp;
    }
  }
  ADD_FAILURE() << "no VP8 start code";
  return webp;
}

void ExpectError(const StatusOr<RgbImage>& r, StatusCode code, const std::string& needle, const std::string& what) {
  ASSERT_FALSE(r.ok()) << what << " was accepted";
  EXPECT_EQ(r.status().code(), code) << what << ": " << r.status().ToString();
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << what << ": message should mention '" << needle << "': " << r.status().message();
}

TEST(Samples, AllDecodeToSxS) {
  const auto files = Samples();
  ASSERT_GE(files.size(), 6u);
  for (const auto& f : files) {
    auto r = DecodeAndPrepare(ReadFile(f), PreprocessOptions{});
    ASSERT_TRUE(r.ok()) << f << ": " << r.status().ToString();
    EXPECT_EQ(r->width, 224);
    EXPECT_EQ(r->data.size(), 224u * 224u * 3u);
  }
}

TEST(Errors, NonImageInput) {
  PreprocessOptions opt;
  ExpectError(DecodeAndPrepare(Bytes{}, opt), StatusCode::kInvalidArgument, "empty", "empty input");
  ExpectError(DecodeAndPrepare(FromString("{\"images\": []}"), opt), StatusCode::kInvalidArgument,
              "not a supported image", "JSON text");
  ExpectError(DecodeAndPrepare(FromString("GIF89a\x01\x00\x01\x00"), opt), StatusCode::kInvalidArgument,
              "not a supported image", "GIF");
  ExpectError(DecodeAndPrepare(FromString("BM\x36\x00\x00\x00"), opt), StatusCode::kInvalidArgument,
              "not a supported image", "BMP");
  // Magic bytes alone: recognized format, corrupt content.
  ExpectError(DecodeAndPrepare(Bytes{0xFF, 0xD8, 0xFF}, opt), StatusCode::kInvalidArgument, "JPEG", "JPEG magic");
  ExpectError(DecodeAndPrepare(Bytes{0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}, opt),
              StatusCode::kInvalidArgument, "PNG", "PNG signature");
  ExpectError(DecodeAndPrepare(FromString("RIFF\x04\x00\x00\x00WEBP"), opt), StatusCode::kInvalidArgument,
              "WebP", "WebP magic");
}

TEST(Errors, ZeroSize) {
  PreprocessOptions opt;
  ExpectError(DecodeAndPrepare(PngWithHeader(0, 10), opt), StatusCode::kInvalidArgument, "PNG", "PNG width 0");
  ExpectError(DecodeAndPrepare(JpegWithSize(SmallJpeg(), 48, 0), opt), StatusCode::kInvalidArgument, "JPEG",
              "JPEG height 0");
  const Bytes webp = ReadFile(SamplesDir() / "lossy_400x300.webp");
  ExpectError(DecodeAndPrepare(WebpWithSize(webp, 0, 300), opt), StatusCode::kInvalidArgument, "WebP",
              "WebP width 0");
}

TEST(Errors, PixelBombsRefusedBeforeAllocation) {
  PreprocessOptions opt;  // default limit: Pillow's 2 * 89478485 pixels
  struct Case {
    std::string what;
    Bytes bytes;
    std::string dims;
  };
  const Case cases[] = {
      {"PNG 100000x100000", PngWithHeader(100000, 100000), "100000x100000"},
      {"JPEG 65000x65000", JpegWithSize(SmallJpeg(), 65000, 65000), "65000x65000"},
      {"WebP 16383x16383", WebpWithSize(ReadFile(SamplesDir() / "lossy_400x300.webp"), 16383, 16383),
       "16383x16383"},
  };
  for (const auto& c : cases) {
    g_max_new_bytes = 0;
    auto r = DecodeAndPrepare(c.bytes, opt);
    const std::size_t max_new = g_max_new_bytes.load();
    ExpectError(r, StatusCode::kResourceExhausted, c.dims, c.what);
    EXPECT_NE(r.status().message().find("limit"), std::string::npos) << r.status().message();
    EXPECT_LT(max_new, 1u << 20) << c.what << ": allocated " << max_new << " bytes before refusing";
  }
}

// Under the pixel limit but over the decode budget: a 62-byte PNG declaring
// 13000 x 13000 RGBA16 (1.35 GB of rows) used to be allocated before its
// data was found missing. The budget is computed from the header, bit depth
// and channels included, and nothing large is allocated.
TEST(Errors, DecodeBudgetRefusesBeforeAllocation) {
  PreprocessOptions opt;  // default budget: 128 MiB
  struct Case {
    std::string what;
    Bytes bytes;
  };
  const Case cases[] = {
      {"PNG 13000x13000 RGBA16", PngWithHeader(13000, 13000, 16, 6)},
      {"PNG 13000x13000 RGB8", PngWithHeader(13000, 13000)},
      {"JPEG 13000x13000", JpegWithSize(SmallJpeg(), 13000, 13000)},
      {"WebP 8000x8000", WebpWithSize(ReadFile(SamplesDir() / "lossy_400x300.webp"), 8000, 8000)},
  };
  for (const auto& c : cases) {
    g_max_new_bytes = 0;
    auto r = DecodeAndPrepare(c.bytes, opt);
    const std::size_t max_new = g_max_new_bytes.load();
    ExpectError(r, StatusCode::kResourceExhausted, "decode budget", c.what);
    EXPECT_LT(max_new, 1u << 20) << c.what << ": allocated " << max_new << " bytes before refusing";
  }
  // Within the budget, the same header goes on to the data (and fails there,
  // this PNG having none): the budget is inclusive of what fits.
  auto small = DecodeAndPrepare(PngWithHeader(2000, 2000, 16, 6), opt);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.status().code(), StatusCode::kInvalidArgument) << small.status().ToString();
  // Every real sample decodes at the default budget and is refused at 1 byte.
  for (const auto& f : Samples()) {
    const Bytes bytes = ReadFile(f);
    EXPECT_TRUE(DecodeAndPrepare(bytes, opt).ok()) << f;
    PreprocessOptions one;
    one.max_decode_bytes = 1;
    auto r = DecodeAndPrepare(bytes, one);
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << f;
  }
}

TEST(Errors, ExtremeAspectRatioRefused) {
  // 1 x 1000000 is only 1e6 pixels, but resizing its short side to 224
  // would make a 224 x 224000000 image (Pillow would have to allocate it).
  g_max_new_bytes = 0;
  auto r = DecodeAndPrepare(PngWithHeader(1, 1000000), PreprocessOptions{});
  ExpectError(r, StatusCode::kResourceExhausted, "aspect ratio", "PNG 1x1000000");
  EXPECT_LT(g_max_new_bytes.load(), 1u << 20);
  // A long but reasonable strip passes the check (and fails later here
  // only because this PNG has no pixel data).
  auto r2 = DecodeAndPrepare(PngWithHeader(3, 2000), PreprocessOptions{});
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), StatusCode::kInvalidArgument) << r2.status().ToString();
}

TEST(Errors, PixelLimitIsInclusiveForEveryFormat) {
  for (const auto& f : Samples()) {
    const Bytes bytes = ReadFile(f);
    auto full = DecodeAndPrepare(bytes, PreprocessOptions{});
    ASSERT_TRUE(full.ok());
    // Find the pixel count from the refusal message of a tiny limit.
    PreprocessOptions tiny;
    tiny.max_pixels = 1;
    auto refused = DecodeAndPrepare(bytes, tiny);
    ASSERT_EQ(refused.status().code(), StatusCode::kResourceExhausted) << f;
    const std::string msg = refused.status().message();
    const size_t eq = msg.find("= ");
    ASSERT_NE(eq, std::string::npos) << msg;
    const std::uint64_t pixels = std::stoull(msg.substr(eq + 2));
    PreprocessOptions exact;
    exact.max_pixels = pixels;
    EXPECT_TRUE(DecodeAndPrepare(bytes, exact).ok()) << f;
    exact.max_pixels = pixels - 1;
    EXPECT_EQ(DecodeAndPrepare(bytes, exact).status().code(), StatusCode::kResourceExhausted) << f;
  }
}

TEST(Errors, TruncatedFilesAreRefused) {
  for (const auto& f : Samples()) {
    const Bytes bytes = ReadFile(f);
    // Any cut within the first 90% of the file loses pixel data.
    const size_t limit = bytes.size() * 9 / 10;
    for (size_t cut = 1; cut < limit; cut += std::max<size_t>(1, limit / 60)) {
      const Bytes part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
      auto r = DecodeAndPrepare(part, PreprocessOptions{});
      ASSERT_FALSE(r.ok()) << f.filename() << " cut at " << cut << " of " << bytes.size() << " was accepted";
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
      EXPECT_FALSE(r.status().message().empty());
    }
  }
}

TEST(Errors, TruncationMessagesSayTruncated) {
  for (const char* name : {"landscape_640x427.jpg", "portrait_300x500_progressive.jpg", "gray_256x256.png",
                           "lossy_400x300.webp"}) {
    const Bytes bytes = ReadFile(SamplesDir() / name);
    const Bytes half(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2));
    auto r = DecodeAndPrepare(half, PreprocessOptions{});
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << name << ": " << r.status().message();
  }
}

TEST(Errors, CorruptedBytesNeverCrash) {
  std::mt19937 rng(1234);
  PreprocessOptions opt;
  opt.max_pixels = 4'000'000;  // keep corrupted headers from asking for huge decodes
  int accepted = 0, refused = 0;
  for (const auto& f : Samples()) {
    const Bytes bytes = ReadFile(f);
    for (int iter = 0; iter < 150; ++iter) {
      Bytes b = bytes;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int k = 0; k < flips; ++k) {
        // Bias toward the header, where parsers are most fragile.
        const size_t span = (iter % 2 == 0) ? std::min<size_t>(b.size(), 600) : b.size();
        b[rng() % span] = static_cast<std::uint8_t>(rng());
      }
      auto r = DecodeAndPrepare(b, opt);
      if (r.ok()) {
        ++accepted;
        EXPECT_EQ(r->data.size(), 224u * 224u * 3u);
      } else {
        ++refused;
        EXPECT_TRUE(r.status().code() == StatusCode::kInvalidArgument ||
                    r.status().code() == StatusCode::kResourceExhausted)
            << r.status().ToString();
        EXPECT_FALSE(r.status().message().empty());
      }
    }
  }
  std::printf("corrupted inputs: %d accepted (damage in pixel data), %d refused\n", accepted, refused);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace clipserve::image
