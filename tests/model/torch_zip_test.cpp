// torch.save zip archives through LoadWeights: files written by LibTorch's
// own torch::pickle_save and by Python's pickler in torch.save's format.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "model/torch_zip.h"
#include "model/weights.h"
#include "test_files.h"

namespace clipserve::model {
namespace {

using ::testing::HasSubstr;
using namespace clipserve::model::testing;

VitConfig Tiny() { return *BuiltinConfig("test-tiny"); }

class TorchZipTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const std::string& p : paths_) std::filesystem::remove_all(p);
  }
  std::string Path(const std::string& name) {
    paths_.push_back(TempPath(name));
    return paths_.back();
  }
  void ExpectEqualTo(const WeightMap& loaded, const WeightMap& expected, torch::ScalarType dtype) {
    ASSERT_EQ(loaded.size(), expected.size());
    for (const auto& [name, t] : expected) {
      ASSERT_TRUE(loaded.count(name)) << name;
      EXPECT_EQ(loaded.at(name).scalar_type(), dtype) << name;
      EXPECT_TRUE(torch::equal(loaded.at(name), t.to(dtype))) << name;
    }
  }
  // Writes `tensors` with write_torch_save.py (Python's pickler, torch.save's
  // layout); returns the archive path.
  std::string WritePythonStyle(const std::string& name, const std::map<std::string, torch::Tensor>& tensors,
                               bool wrap, const std::string& prefix) {
    const std::string dir = Path(name + "_parts");
    std::filesystem::create_directories(dir);
    std::string manifest = "{\"wrap\": " + std::string(wrap ? "true" : "false") + ", \"prefix\": \"" + prefix +
                           "\", \"tensors\": [";
    int i = 0;
    for (const auto& [key, t0] : tensors) {
      torch::Tensor t = t0.contiguous();
      const std::string file = dir + "/" + std::to_string(i);
      WriteFile(file, std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size()));
      const char* storage = t.scalar_type() == torch::kFloat16    ? "HalfStorage"
                            : t.scalar_type() == torch::kBFloat16 ? "BFloat16Storage"
                            : t.scalar_type() == torch::kInt64    ? "LongStorage"
                                                                  : "FloatStorage";
      std::string shape;
      for (auto d : t.sizes()) {
        if (!shape.empty()) shape += ',';
        shape += std::to_string(d);
      }
      if (i > 0) manifest += ',';
      manifest += "{\"name\": \"" + key + "\", \"storage\": \"" + storage +
                  "\", \"shape\": [" + shape + "], \"numel\": " + std::to_string(t.numel()) +
                  ", \"file\": \"" + file + "\"}";
      ++i;
    }
    manifest += "]}";
    WriteFile(dir + "/manifest.json", manifest);
    const std::string out = Path(name);
    const std::string cmd = "/usr/bin/python3 " CLIPSERVE_SOURCE_DIR "/tests/model/write_torch_save.py " + dir +
                            "/manifest.json " + out;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return out;
  }
  std::vector<std::string> paths_;
};

TEST_F(TorchZipTest, LibTorchPickleSaveDict) {
  const WeightMap w = RandomWeights(Tiny(), 21);
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : w) dict.insert("visual." + name, t);
  dict.insert("token_embedding.weight", torch::ones({10, 48}));
  dict.insert("positional_embedding", torch::ones({77, 48}));  // text tower's, must be ignored
  const std::vector<char> bytes = torch::pickle_save(dict);
  const std::string path = Path("libtorch.pt");
  WriteFile(path, std::string(bytes.begin(), bytes.end()));
  auto loaded = LoadWeights(path, Tiny());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectEqualTo(*loaded, w, torch::kFloat32);
}

TEST_F(TorchZipTest, LibTorchPickleSaveWrappedStateDictFp16) {
  const WeightMap w = RandomWeights(Tiny(), 22);
  c10::Dict<std::string, at::Tensor> state;
  for (const auto& [name, t] : w) state.insert("module.visual." + name, t.to(torch::kFloat16));
  c10::impl::GenericDict checkpoint(c10::StringType::get(), c10::AnyType::get());
  checkpoint.insert("epoch", int64_t{32});
  checkpoint.insert("state_dict", state);
  const std::vector<char> bytes = torch::pickle_save(checkpoint);
  const std::string path = Path("wrapped.pt");
  WriteFile(path, std::string(bytes.begin(), bytes.end()));
  auto loaded = LoadWeights(path, Tiny());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectEqualTo(*loaded, w, torch::kFloat16);
}

TEST_F(TorchZipTest, PythonTorchSaveOrderedDict) {
  const WeightMap w = RandomWeights(Tiny(), 23);
  auto tensors = WithPrefix(w, "visual.");
  tensors["logit_scale"] = torch::ones({});
  auto loaded = LoadWeights(WritePythonStyle("py_plain.bin", tensors, false, ""), Tiny());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectEqualTo(*loaded, w, torch::kFloat32);
}

TEST_F(TorchZipTest, PythonTorchSaveWrappedModulePrefixBf16AndHf) {
  const WeightMap w = RandomWeights(Tiny(), 24);
  auto loaded = LoadWeights(
      WritePythonStyle("py_wrapped.bin", WithPrefix(w, "visual.", torch::kBFloat16), true, "module."), Tiny());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectEqualTo(*loaded, w, torch::kBFloat16);
  // HF pytorch_model.bin: same names as its safetensors, plus an int64 buffer.
  auto hf = ToHuggingFace(w, Tiny().layers);
  hf["vision_model.embeddings.position_ids"] = torch::arange(Tiny().tokens()).unsqueeze(0);
  auto hf_loaded = LoadWeights(WritePythonStyle("py_hf.bin", hf, false, ""), Tiny());
  ASSERT_TRUE(hf_loaded.ok()) << hf_loaded.status().ToString();
  ExpectEqualTo(*hf_loaded, w, torch::kFloat32);
}

TEST_F(TorchZipTest, ErrorsNameTheProblem) {
  // Mis-shaped tensor inside an archive.
  WeightMap w = RandomWeights(Tiny(), 25);
  w["ln_post.weight"] = torch::ones({63});
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : w) dict.insert(name, t);
  std::vector<char> bytes = torch::pickle_save(dict);
  const std::string path = Path("bad_shape.pt");
  WriteFile(path, std::string(bytes.begin(), bytes.end()));
  auto r = LoadWeights(path, Tiny());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("ln_post.weight: expected [64], got [63]"));

  // Truncated archive: the zip directory is gone.
  const std::string truncated = Path("truncated.pt");
  WriteFile(truncated, std::string(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2)));
  auto t = LoadWeights(truncated, Tiny());
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr(truncated));
  EXPECT_THAT(t.status().message(), HasSubstr("torch zip archive"));

  // A pickled object that is not a dict.
  bytes = torch::pickle_save(c10::IValue(std::vector<int64_t>{1, 2, 3}));
  const std::string list = Path("list.pt");
  WriteFile(list, std::string(bytes.begin(), bytes.end()));
  EXPECT_THAT(LoadWeights(list, Tiny()).status().message(), HasSubstr("not a dict"));

  // A dict without tensors or state_dict.
  c10::Dict<std::string, int64_t> ints;
  ints.insert("epoch", 3);
  bytes = torch::pickle_save(ints);
  const std::string nodict = Path("ints.pt");
  WriteFile(nodict, std::string(bytes.begin(), bytes.end()));
  EXPECT_THAT(LoadWeights(nodict, Tiny()).status().message(), HasSubstr("state_dict"));
}

}  // namespace
}  // namespace clipserve::model
