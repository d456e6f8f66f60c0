// The pipeline against Pillow as the oracle: images of many modes, formats
// and sizes are written as real files (by tests/image/pillow_oracle.py with
// Pillow, and here with libpng/TurboJPEG for what Pillow cannot write:
// 16-bit color PNGs, Adam7 interlacing, low bit depths, YCCK JPEGs), Pillow
// computes open_clip's Resize + CenterCrop + convert("RGB") for each, and
// DecodeAndPrepare must agree within 1 per channel (we expect exact).
#include <gtest/gtest.h>
#include <png.h>
#include <turbojpeg.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "image/image.h"

namespace clipserve::image {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";

std::string Helper() { return std::string(CLIPSERVE_SOURCE_DIR) + "/tests/image/pillow_oracle.py"; }

// Runs a command, returns its stdout and sets *rc.
std::string RunCommand(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *rc = pclose(p);
  return out;
}

std::vector<std::uint8_t> ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// PNG writer for the cases Pillow cannot produce. `samples` are 8- or 16-bit
// values (16-bit written big-endian), channels per pixel from color_type.
void WritePng(const fs::path& path, int w, int h, int color_type, int bit_depth, bool interlace,
              const std::vector<std::uint16_t>& samples, int channels, int palette_entries = 0) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    FAIL() << "libpng write error";
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), bit_depth, color_type,
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> palette(static_cast<size_t>(palette_entries));
  if (palette_entries > 0) {
    for (int i = 0; i < palette_entries; ++i) {
      palette[static_cast<size_t>(i)] = {static_cast<png_byte>(200 - i * 40), static_cast<png_byte>(i * 50),
                                         static_cast<png_byte>(90 + i)};
    }
    png_set_PLTE(png, info, palette.data(), palette_entries);
    png_set_check_for_invalid_index(png, 0);  // indices past PLTE on purpose
  }
  png_write_info(png, info);
  if (bit_depth < 8) png_set_packing(png);
  const size_t bytes_per_sample = bit_depth == 16 ? 2 : 1;
  const size_t row_bytes = static_cast<size_t>(w) * channels * bytes_per_sample;
  std::vector<std::uint8_t> buf(row_bytes * h);
  for (size_t i = 0; i < samples.size(); ++i) {
    if (bytes_per_sample == 2) {
      buf[2 * i] = static_cast<std::uint8_t>(samples[i] >> 8);
      buf[2 * i + 1] = static_cast<std::uint8_t>(samples[i] & 0xFF);
    } else {
      buf[i] = static_cast<std::uint8_t>(samples[i]);
    }
  }
  std::vector<png_bytep> rows(static_cast<size_t>(h));
  for (int y = 0; y < h; ++y) rows[static_cast<size_t>(y)] = buf.data() + static_cast<size_t>(y) * row_bytes;
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

std::vector<std::uint16_t> Samples(int w, int h, int channels, int max_value, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint16_t> s(static_cast<size_t>(w) * h * channels);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < channels; ++c) {
        // Gradient + noise + occasional extremes.
        const double g = (static_cast<double>(x) / w + static_cast<double>(y) / h * (c + 1)) * 0.5;
        long v = static_cast<long>(g * max_value) + static_cast<long>(rng() % (max_value / 8 + 1)) - max_value / 16;
        if (rng() % 17 == 0) v = (rng() % 2) ? max_value : 0;
        s[(static_cast<size_t>(y) * w + x) * channels + c] = static_cast<std::uint16_t>(std::clamp<long>(v, 0, max_value));
      }
    }
  }
  return s;
}

void WriteCppImages(const fs::path& dir) {
  // Tiny interlaced images: Adam7 passes that are empty or partial.
  for (auto [w, h] : {std::pair{1, 1}, std::pair{2, 3}, std::pair{5, 1}, std::pair{1, 9}, std::pair{7, 7}}) {
    const std::string tag = std::to_string(w) + "x" + std::to_string(h);
    WritePng(dir / ("interlaced_tiny_rgb_" + tag + ".png"), w, h, PNG_COLOR_TYPE_RGB, 8, true, Samples(w, h, 3, 255, 11), 3);
    WritePng(dir / ("interlaced_tiny_gray1_" + tag + ".png"), w, h, PNG_COLOR_TYPE_GRAY, 1, true, Samples(w, h, 1, 1, 12), 1);
  }
  for (auto [w, h] : {std::pair{320, 200}, std::pair{97, 150}}) {
    const std::string tag = std::to_string(w) + "x" + std::to_string(h);
    WritePng(dir / ("rgb16_" + tag + ".png"), w, h, PNG_COLOR_TYPE_RGB, 16, false, Samples(w, h, 3, 65535, 1), 3);
    WritePng(dir / ("rgba16_" + tag + ".png"), w, h, PNG_COLOR_TYPE_RGB_ALPHA, 16, false, Samples(w, h, 4, 65535, 2), 4);
    WritePng(dir / ("la16_" + tag + ".png"), w, h, PNG_COLOR_TYPE_GRAY_ALPHA, 16, false, Samples(w, h, 2, 65535, 3), 2);
    WritePng(dir / ("gray16low_" + tag + ".png"), w, h, PNG_COLOR_TYPE_GRAY, 16, false, Samples(w, h, 1, 400, 4), 1);
    WritePng(dir / ("gray2bit_" + tag + ".png"), w, h, PNG_COLOR_TYPE_GRAY, 2, false, Samples(w, h, 1, 3, 5), 1);
    WritePng(dir / ("gray4bit_" + tag + ".png"), w, h, PNG_COLOR_TYPE_GRAY, 4, false, Samples(w, h, 1, 15, 6), 1);
    WritePng(dir / ("interlaced_rgb_" + tag + ".png"), w, h, PNG_COLOR_TYPE_RGB, 8, true, Samples(w, h, 3, 255, 7), 3);
    WritePng(dir / ("interlaced_gray16_" + tag + ".png"), w, h, PNG_COLOR_TYPE_GRAY, 16, true, Samples(w, h, 1, 300, 8), 1);
    // Palette of 5 entries, indices 0..255: Pillow maps the missing entries
    // to its default palette.
    WritePng(dir / ("short_palette_" + tag + ".png"), w, h, PNG_COLOR_TYPE_PALETTE, 8, false,
             Samples(w, h, 1, 255, 10), 1, 5);
    // YCCK JPEG: TurboJPEG encodes CMYK input as YCCK.
    std::vector<std::uint16_t> cmyk = Samples(w, h, 4, 255, 9);
    std::vector<std::uint8_t> px(cmyk.begin(), cmyk.end());
    tjhandle tj = tjInitCompress();
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    ASSERT_EQ(tjCompress2(tj, px.data(), w, w * 4, h, TJPF_CMYK, &buf, &size, TJSAMP_420, 90, 0), 0)
        << tjGetErrorStr2(tj);
    std::ofstream(dir / ("ycck_" + tag + ".jpg"), std::ios::binary).write(reinterpret_cast<char*>(buf),
                                                                         static_cast<std::streamsize>(size));
    tjFree(buf);
    tjDestroy(tj);
  }
}

class PillowOracle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kPython)) GTEST_SKIP() << kPython << " not found: Pillow oracle unavailable";
    int rc = 0;
    RunCommand(std::string(kPython) + " -c 'import PIL, numpy' 2>/dev/null", &rc);
    if (rc != 0) GTEST_SKIP() << "Pillow/numpy not importable by " << kPython;
    dir_ = fs::temp_directory_path() / ("clipserve_oracle_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty() && !HasFailure()) fs::remove_all(dir_);
  }

  // Runs the reference step for `files`; returns file -> "MODE WxH".
  std::map<std::string, std::string> Reference(int size, bool exif, const std::vector<std::string>& files) {
    std::string cmd = std::string(kPython) + " " + Helper() + " reference " + std::to_string(size) + (exif ? " 1" : " 0");
    for (const auto& f : files) cmd += " '" + f + "'";
    int rc = 0;
    const std::string out = RunCommand(cmd, &rc);
    EXPECT_EQ(rc, 0) << out;
    std::map<std::string, std::string> ok;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream ls(line);
      std::string status, path;
      ls >> status >> path;
      std::string rest;
      std::getline(ls, rest);
      if (status == "ok") {
        ok[path] = rest;
      } else {
        ADD_FAILURE() << "Pillow could not process " << path << ":" << rest;
      }
    }
    return ok;
  }

  // Compares every file against Pillow; returns the number compared.
  int Compare(int size, bool exif, const std::vector<std::string>& files) {
    const auto ok = Reference(size, exif, files);
    int compared = 0, exact = 0;
    for (const auto& [path, info] : ok) {
      const std::vector<std::uint8_t> bytes = ReadFile(path);
      const std::vector<std::uint8_t> want = ReadFile(path + "." + std::to_string(size) + ".rgb");
      PreprocessOptions opt;
      opt.image_size = size;
      opt.apply_exif_orientation = exif;
      auto got = DecodeAndPrepare(bytes, opt);
      if (!got.ok()) {
        ADD_FAILURE() << path << " (" << info << "): " << got.status().ToString();
        continue;
      }
      if (got->data.size() != want.size()) {
        ADD_FAILURE() << path << ": size " << got->data.size() << " vs Pillow " << want.size();
        continue;
      }
      int max_diff = 0;
      size_t differing = 0, first = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        const int d = std::abs(int{got->data[i]} - int{want[i]});
        if (d > 0 && differing++ == 0) first = i;
        max_diff = std::max(max_diff, d);
      }
      ++compared;
      if (max_diff == 0) ++exact;
      EXPECT_LE(max_diff, 1) << fs::path(path).filename() << " (Pillow mode/size" << info << ", S=" << size
                             << "): " << differing << " values differ, max " << max_diff << ", first at pixel "
                             << first / 3 << " channel " << first % 3 << ": got " << int{got->data[first]}
                             << " want " << int{want[first]};
      if (max_diff == 1) {
        std::printf("note: %s S=%d differs by 1 in %zu values\n", fs::path(path).filename().c_str(), size, differing);
      }
    }
    std::printf("S=%d exif=%d: %d images compared, %d bit-exact\n", size, exif ? 1 : 0, compared, exact);
    return compared;
  }

  // Runs Pillow on `files` (S = 224) and checks that we accept exactly the
  // files it accepts, with the same pixels. Returns {accepted, refused}.
  std::pair<int, int> CompareVerdicts(const std::vector<std::string>& files) {
    std::string cmd = std::string(kPython) + " " + Helper() + " reference 224 0";
    for (const auto& f : files) cmd += " '" + f + "'";
    int rc = 0;
    const std::string out = RunCommand(cmd, &rc);
    EXPECT_EQ(rc, 0) << out;
    std::istringstream lines(out);
    std::string line;
    int accepted = 0, refused = 0;
    while (std::getline(lines, line)) {
      std::istringstream ls(line);
      std::string verdict, path;
      ls >> verdict >> path;
      auto ours = DecodeAndPrepare(ReadFile(path), PreprocessOptions{});
      EXPECT_EQ(ours.ok(), verdict == "ok") << fs::path(path).filename() << ": Pillow says " << line
                                            << "; we say " << (ours.ok() ? "ok" : ours.status().ToString());
      if (verdict == "ok") {
        ++accepted;
        if (ours.ok()) {
          EXPECT_EQ(ours->data, ReadFile(path + ".224.rgb")) << path << " decodes to different pixels";
        }
      } else {
        ++refused;
      }
    }
    EXPECT_EQ(accepted + refused, static_cast<int>(files.size()));
    return {accepted, refused};
  }

  std::vector<std::string> Files(const std::string& contains = "") const {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (name.ends_with(".rgb")) continue;
      if (!contains.empty() && name.find(contains) == std::string::npos) continue;
      files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  fs::path dir_;
};

TEST_F(PillowOracle, GeneratedImagesMatchPillow) {
  int rc = 0;
  const std::string out = RunCommand(std::string(kPython) + " " + Helper() + " generate '" + dir_.string() + "' 2>&1", &rc);
  ASSERT_EQ(rc, 0) << out;
  WriteCppImages(dir_);
  // The project's committed sample images too.
  for (const auto& e : fs::directory_iterator(fs::path(CLIPSERVE_SOURCE_DIR) / "data" / "samples")) {
    fs::copy_file(e.path(), dir_ / ("sample_" + e.path().filename().string()));
  }
  std::vector<std::string> files;
  for (const auto& f : Files()) {
    if (f.find("exif") == std::string::npos) files.push_back(f);
  }
  ASSERT_GT(files.size(), 140u);
  EXPECT_EQ(Compare(224, false, files), static_cast<int>(files.size()));
  // Other output sizes change every ratio; a subset keeps the run short.
  std::vector<std::string> subset;
  for (const auto& f : files) {
    if (fs::file_size(f) < 400000) subset.push_back(f);
  }
  EXPECT_EQ(Compare(64, false, subset), static_cast<int>(subset.size()));
  EXPECT_EQ(Compare(33, false, subset), static_cast<int>(subset.size()));
  // EXIF orientation: off by default (like open_clip), on when asked.
  const auto exif_files = Files("exif");
  ASSERT_EQ(exif_files.size(), 1u);
  EXPECT_EQ(Compare(224, false, exif_files), 1);
  EXPECT_EQ(Compare(224, true, exif_files), 1);
}

// Refusing truncated files the way Pillow does: files cut at several points
// (inside the pixel data, inside trailing checksums and chunks) must be
// accepted or refused exactly when Pillow accepts or refuses them.
TEST_F(PillowOracle, TruncatedFilesAcceptedOrRefusedLikePillow) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(fs::path(CLIPSERVE_SOURCE_DIR) / "data" / "samples")) {
    const std::vector<std::uint8_t> data = ReadFile(e.path());
    const size_t n = data.size();
    for (size_t cut : {size_t{1}, size_t{2}, size_t{8}, size_t{12}, size_t{16}, size_t{20}, size_t{40}, n / 20, n / 2}) {
      const fs::path out = dir_ / (e.path().filename().string() + ".cut" + std::to_string(cut));
      std::ofstream(out, std::ios::binary).write(reinterpret_cast<const char*>(data.data()),
                                                 static_cast<std::streamsize>(n - cut));
      files.push_back(out.string());
    }
  }
  const auto [accepted, refused] = CompareVerdicts(files);
  std::printf("truncated files: Pillow accepted %d, refused %d\n", accepted, refused);
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}

// Damaged files (random bytes overwritten, often in the headers): accepted
// or refused as Pillow does, and when accepted, the same pixels.
TEST_F(PillowOracle, CorruptedFilesAcceptedOrRefusedLikePillow) {
  std::mt19937 rng(2024);
  std::vector<std::vector<std::uint8_t>> samples;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(fs::path(CLIPSERVE_SOURCE_DIR) / "data" / "samples")) {
    samples.push_back(ReadFile(e.path()));
    names.push_back(e.path().filename().string());
  }
  std::vector<std::string> files;
  for (int i = 0; i < 240; ++i) {
    const size_t which = static_cast<size_t>(i) % samples.size();
    std::vector<std::uint8_t> b = samples[which];
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < flips; ++k) {
      const size_t span = (i % 2 == 0) ? std::min<size_t>(b.size(), 500) : b.size();
      b[rng() % span] = static_cast<std::uint8_t>(rng());
    }
    const fs::path out = dir_ / ("corrupt" + std::to_string(i) + "_" + names[which]);
    std::ofstream(out, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                               static_cast<std::streamsize>(b.size()));
    files.push_back(out.string());
  }
  const auto [accepted, refused] = CompareVerdicts(files);
  std::printf("corrupted files: Pillow accepted %d, refused %d\n", accepted, refused);
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace clipserve::image
