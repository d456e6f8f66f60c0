// torch.save zip archives through LoadWeights: files written by LibTorch's
// own torch::pickle_save and by Python's pickler in torch.save's format.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <caffe2/serialize/inline_container.h>

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

// Archives with a hand-written data.pkl, to reach the unpickler's checks.
class HandMadePickleTest : public TorchZipTest {
 protected:
  std::string Archive(const std::string& name, const std::string& pickle,
                      const std::map<std::string, std::string>& records = {}) {
    const std::string path = Path(name);
    caffe2::serialize::PyTorchStreamWriter writer(path);
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    for (const auto& [key, bytes] : records) writer.writeRecord(key, bytes.data(), bytes.size());
    writer.writeEndOfFile();
    return path;
  }
  std::string Error(const std::string& pickle, const std::map<std::string, std::string>& records = {}) {
    auto r = ReadTorchZip(Archive("hand.pt", pickle, records));
    EXPECT_FALSE(r.ok());
    return r.ok() ? "" : r.status().message();
  }
  // Raw bytes; ASCII parts are appended as separate strings.
  static std::string B(std::initializer_list<int> bytes) {
    std::string out;
    for (int b : bytes) out += static_cast<char>(b);
    return out;
  }
  // BINUNICODE: opcode 'X', 4-byte little-endian length, UTF-8.
  static std::string Str(const std::string& text) {
    std::string out = "X";
    out += B({static_cast<int>(text.size()), 0, 0, 0});
    return out + text;
  }
  // {"w": tensor(storage '0' FloatStorage numel, offset, size, stride)} in protocol 2.
  static std::string TensorDict(int numel, int offset, int size, int stride) {
    return B({0x80, 2}) + "}" + Str("w") + "ctorch._utils\n_rebuild_tensor_v2\n(" + "(" + Str("storage") +
           "ctorch\nFloatStorage\n" + Str("0") + Str("cpu") + "K" + B({numel}) + "tQ" + "K" + B({offset}) +
           "K" + B({size}) + B({0x85}) + "K" + B({stride}) + B({0x85, 0x89}) + "ccollections\nOrderedDict\n)R" +
           "tRs.";
  }
};

TEST_F(HandMadePickleTest, MinimalTensorDictLoads) {
  const float values[4] = {1.5f, -2.0f, 3.25f, 4.0f};
  auto r = ReadTorchZip(Archive("ok.pt", TensorDict(4, 1, 2, 2),
                                {{"data/0", std::string(reinterpret_cast<const char*>(values), sizeof values)}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // offset 1, size 2, stride 2 -> elements 1 and 3.
  const torch::Tensor& w = r->tensors.at("w");
  ASSERT_EQ(w.numel(), 2);
  EXPECT_EQ(w[0].item<float>(), -2.0f);
  EXPECT_EQ(w[1].item<float>(), 4.0f);
}

TEST_F(HandMadePickleTest, MalformedPicklesGiveErrors) {
  const std::string four_floats(16, '\0');
  const std::string proto = B({0x80, 2});
  EXPECT_THAT(Error(TensorDict(4, 0, 4, 1)), HasSubstr("lacks storage record data/0"));
  EXPECT_THAT(Error(TensorDict(4, 0, 4, 1), {{"data/0", std::string(8, '\0')}}), HasSubstr("fewer than 4"));
  EXPECT_THAT(Error(TensorDict(4, 2, 3, 1), {{"data/0", four_floats}}), HasSubstr("runs past its storage"));
  std::string truncated = TensorDict(4, 0, 4, 1);
  truncated.resize(truncated.size() - 12);
  EXPECT_THAT(Error(truncated, {{"data/0", four_floats}}), HasSubstr("ends unexpectedly"));
  EXPECT_THAT(Error(proto + B({0xff}) + "."), HasSubstr("unsupported pickle opcode 0xff"));
  EXPECT_THAT(Error(proto + "h" + B({5}) + "."), HasSubstr("unknown memo entry"));
  EXPECT_THAT(Error(proto + "X" + B({0xff, 0xff, 0xff, 0x7f}) + "abc."), HasSubstr("past the end"));
  EXPECT_THAT(Error(proto + "0."), HasSubstr("empty stack"));
  EXPECT_THAT(Error(proto + "K" + B({1}) + "K" + B({2}) + "."), HasSubstr("stack has 2 items"));
  EXPECT_THAT(Error(proto + "}r" + B({0, 0, 0, 0x7f}) + "."), HasSubstr("memo index too large"));
  EXPECT_THAT(Error(proto + "}."), HasSubstr("neither a state dict"));
  // Unknown classes are inert: {"w": os.system("echo")} is an opaque value, never run.
  EXPECT_THAT(Error(proto + "}" + Str("w") + "cos\nsystem\n" + Str("echo") + B({0x85}) + "Rs."),
              HasSubstr("neither a state dict"));
}

}  // namespace
}  // namespace clipserve::model
