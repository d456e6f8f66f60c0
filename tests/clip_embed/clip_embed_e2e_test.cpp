// End-to-end: the real clip-embed binary on generated images, test-tiny
// config, random weights. Expected values come from the libraries called
// in-process (engine, image pipeline) and from the normalization math
// written out here; numpy reads the .npy independently.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <cstring>

#include "engine/engine.h"
#include "image/image.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace clipserve;

const std::string kBinary = CLIPSERVE_BINARY_DIR "/apps/clip-embed/clip-embed";

struct Result {
  int exit_code;
  std::string err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Npy {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};

// A minimal .npy v1.0 reader for what clip-embed must write.
Npy ReadNpy(const std::string& path) {
  const std::string bytes = Slurp(path);
  Npy npy;
  EXPECT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const std::size_t header_len = std::uint8_t(bytes[8]) | (std::uint8_t(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  const std::string header = bytes.substr(10, header_len);
  EXPECT_THAT(header, HasSubstr("'descr': '<f4'"));
  EXPECT_THAT(header, HasSubstr("'fortran_order': False"));
  EXPECT_EQ(header.back(), '\n');
  std::smatch m;
  EXPECT_TRUE(std::regex_search(header, m, std::regex("'shape': \\(([0-9, ]+)\\)")));
  std::stringstream dims(m[1].str());
  for (std::string d; std::getline(dims, d, ',');) {
    if (d.find_first_not_of(' ') != std::string::npos) npy.shape.push_back(std::stoll(d));
  }
  std::int64_t n = 1;
  for (auto d : npy.shape) n *= d;
  EXPECT_EQ(bytes.size(), 10 + header_len + n * sizeof(float));
  npy.data.resize(n);
  std::memcpy(npy.data.data(), bytes.data() + 10 + header_len, std::min<std::size_t>(n * 4, bytes.size() - 10 - header_len));
  return npy;
}

class ClipEmbedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("clip_embed_e2e_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "images");
    // Varied sizes and aspect ratios (up- and down-scaling), JPEG and PNG.
    const int sizes[][2] = {{64, 48}, {20, 90}, {300, 200}, {33, 33}};
    for (int i = 0; i < 4; ++i) {
      image::RgbImage img;
      img.width = sizes[i][0];
      img.height = sizes[i][1];
      img.data.resize(img.width * img.height * 3);
      for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x)
          for (int c = 0; c < 3; ++c)
            img.data[(y * img.width + x) * 3 + c] = static_cast<std::uint8_t>((x * (7 + i) + y * (3 + c) + 40 * c) % 256);
      auto jpeg = image::EncodeJpeg(img, 90);
      ASSERT_TRUE(jpeg.ok()) << jpeg.status().ToString();
      std::ofstream(dir_ / "images" / ("img" + std::to_string(i) + ".jpg"), std::ios::binary)
          .write(reinterpret_cast<const char*>(jpeg->data()), static_cast<std::streamsize>(jpeg->size()));
    }
    const std::string png = (dir_ / "images" / "img4.png").string();
    ASSERT_EQ(std::system(("/usr/bin/python3 -c \"from PIL import Image; im = Image.new('RGBA', (50, 70), (200, 30, 90, 128)); "
                           "im.paste((10, 250, 20, 255), (5, 5, 30, 40)); im.save('" + png + "')\"").c_str()),
              0);
    images_ = {"img0.jpg", "img1.jpg", "img2.jpg", "img3.jpg", "img4.png"};
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string P(const std::string& name) const { return (dir_ / name).string(); }
  std::string Img(const std::string& name) const { return (dir_ / "images" / name).string(); }

  // `env`: VAR=value assignments for the child only.
  Result Run(const std::string& args, const std::string& env = "") {
    const std::string err = P("stderr.txt");
    const std::string cmd = env + " " + kBinary + " " + args + " 2>" + err;
    const int rc = std::system(cmd.c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, Slurp(err)};
  }

  static image::RgbImage Prepare(const std::string& path) {
    const std::string bytes = Slurp(path);
    image::PreprocessOptions o;
    o.image_size = 32;
    auto img = image::DecodeAndPrepare(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), o);
    EXPECT_TRUE(img.ok()) << path;
    return *img;
  }

  // Embeddings computed in-process with the same engine options.
  std::vector<std::vector<float>> Expected(const std::vector<std::string>& names) {
    engine::EngineOptions o;
    o.model = "test-tiny";
    o.weights = "random:5";
    o.threads = 1;
    auto eng = engine::CreateEngine(o);
    EXPECT_TRUE(eng.ok()) << eng.status().ToString();
    std::vector<std::vector<float>> out;
    for (const std::string& name : names) {
      std::vector<float> pixels(3 * 32 * 32), emb(32);
      image::ToUnitChw(Prepare(Img(name)), pixels);
      EXPECT_TRUE((*eng)->Embed(pixels, 1, emb).ok());
      out.push_back(emb);
    }
    return out;
  }

  fs::path dir_;
  std::vector<std::string> images_;
};

// fp32 explicitly: the outputs are compared with an fp32 engine in process,
// and auto would pick bf16 on a CPU with native bf16.
const char kTiny[] = "--model test-tiny --weights random:5 --threads 1 --precision fp32 ";

TEST_F(ClipEmbedTest, DirectoryToNpySortedNormalizedMatchesEngine) {
  Result r = Run(std::string(kTiny) + "--batch-size 2 -o " + P("out.npy") + " " + P("images"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("wrote [5, 32] embeddings"));
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "progress shown although stderr is not a terminal";
  Npy npy = ReadNpy(P("out.npy"));
  ASSERT_EQ(npy.shape, (std::vector<std::int64_t>{5, 32}));
  const auto expected = Expected(images_);
  for (int i = 0; i < 5; ++i) {
    double norm = 0;
    for (int k = 0; k < 32; ++k) {
      norm += double(npy.data[i * 32 + k]) * npy.data[i * 32 + k];
      EXPECT_NEAR(npy.data[i * 32 + k], expected[i][k], 2e-5) << "row " << i << " (" << images_[i] << ")";
    }
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5);
  }
  // numpy agrees on format, dtype and shape.
  EXPECT_EQ(std::system(("/usr/bin/python3 -c \"import numpy as np; a = np.load('" + P("out.npy") +
                         "'); assert a.shape == (5, 32) and a.dtype == np.dtype('<f4'), (a.shape, a.dtype); "
                         "assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)\"").c_str()),
            0);
  EXPECT_FALSE(fs::exists(P("out.npy.partial")));
}

TEST_F(ClipEmbedTest, ExplicitFilesKeepTheirOrderAndJsonl) {
  Result r = Run(std::string(kTiny) + "--format jsonl -o " + P("out.jsonl") + " " + Img("img3.jpg") + " " +
                 Img("img0.jpg") + " " + Img("img4.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> order = {"img3.jpg", "img0.jpg", "img4.png"};
  const auto expected = Expected(order);
  std::ifstream in(P("out.jsonl"));
  std::string line;
  int i = 0;
  for (; std::getline(in, line); ++i) {
    ASSERT_LT(i, 3);
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["path"].get<std::string>(), Img(order[i]));
    auto v = j["embedding"].get<std::vector<float>>();
    ASSERT_EQ(v.size(), 32u);
    for (int k = 0; k < 32; ++k) EXPECT_NEAR(v[k], expected[i][k], 2e-5);
  }
  EXPECT_EQ(i, 3);
}

TEST_F(ClipEmbedTest, PreprocessOnlyIsNormalizedPipelineOutput) {
  Result r = Run("--model test-tiny --preprocess-only -o " + P("pre.npy") + " " + P("images"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Npy npy = ReadNpy(P("pre.npy"));
  ASSERT_EQ(npy.shape, (std::vector<std::int64_t>{5, 3, 32, 32}));
  // open_clip: ToTensor (v / 255) then Normalize(mean, std), CHW.
  const double mean[3] = {0.48145466, 0.4578275, 0.40821073};
  const double stdv[3] = {0.26862954, 0.26130258, 0.27577711};
  for (int i = 0; i < 5; ++i) {
    const image::RgbImage img = Prepare(Img(images_[i]));
    ASSERT_EQ(img.width, 32);
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 32 * 32; ++p) {
        const double want = (img.data[p * 3 + c] / 255.0 - mean[c]) / stdv[c];
        ASSERT_NEAR(npy.data[(i * 3 + c) * 1024 + p], want, 1e-5) << images_[i] << " c" << c << " p" << p;
      }
  }
}

TEST_F(ClipEmbedTest, BadImageStopsOrIsSkipped) {
  std::ofstream(Img("img2b_broken.jpg")) << "this is not a jpeg";
  // Truncated JPEG: first half of a real one.
  const std::string full = Slurp(Img("img2.jpg"));
  std::ofstream(Img("img3b_truncated.jpg"), std::ios::binary) << full.substr(0, full.size() / 2);

  Result r = Run(std::string(kTiny) + "-o " + P("bad.npy") + " " + P("images"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("img2b_broken.jpg"));
  EXPECT_FALSE(fs::exists(P("bad.npy")));
  EXPECT_FALSE(fs::exists(P("bad.npy.partial")));

  r = Run(std::string(kTiny) + "--skip-bad -o " + P("skip.npy") + " " + P("images"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("skipped " + Img("img2b_broken.jpg")));
  EXPECT_THAT(r.err, HasSubstr("skipped " + Img("img3b_truncated.jpg")));
  Npy npy = ReadNpy(P("skip.npy"));
  ASSERT_EQ(npy.shape, (std::vector<std::int64_t>{5, 32}));
  const auto expected = Expected(images_);
  for (int k = 0; k < 32; ++k) EXPECT_NEAR(npy.data[4 * 32 + k], expected[4][k], 2e-5);

  r = Run(std::string(kTiny) + "-o " + P("missing.npy") + " " + P("no_such_file.jpg"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("no_such_file.jpg"));
  r = Run(std::string(kTiny) + "--skip-bad -o " + P("none.npy") + " " + Img("img2b_broken.jpg"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(P("none.npy")));
}

TEST_F(ClipEmbedTest, BundledSamples) {
  Result r = Run(std::string(kTiny) + "-o " + P("samples.npy") + " " CLIPSERVE_SOURCE_DIR "/data/samples");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadNpy(P("samples.npy")).shape, (std::vector<std::int64_t>{8, 32}));
}

TEST_F(ClipEmbedTest, BadFlagsAndWeights) {
  EXPECT_NE(Run("-o " + P("x.npy")).exit_code, 0);  // no inputs
  Result r = Run("--model ViT-Q-1 -o " + P("x.npy") + " " + P("images"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("ViT-Q-1"));
  r = Run("--model test-tiny --weights " + P("nope.safetensors") + " -o " + P("x.npy") + " " + P("images"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("nope.safetensors"));
  EXPECT_NE(Run("--model test-tiny --precision fp64 -o " + P("x.npy") + " " + P("images")).exit_code, 0);
  // bf16 on a CPU without it (the cap simulates one): a usage error, exit 2,
  // naming the missing feature and the alternative.
  r = Run("--model test-tiny --precision bf16 -o " + P("x.npy") + " " + P("images"), "CLIPSERVE_MAX_CPU_ISA=avx2");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("avx512_bf16"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--precision fp32"), std::string::npos) << r.err;
  fs::create_directories(dir_ / "empty");
  r = Run(std::string(kTiny) + "-o " + P("x.npy") + " " + P("empty"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("no input images"));
}

}  // namespace
