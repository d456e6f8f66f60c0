// torch.save's data.pkl (model/pickle.cpp, ReadStateDictPickle): the
// restricted unpickler ReadTorchZip runs on a torch zip archive's pickle.
// The zip container itself is read by LibTorch (PyTorchStreamReader), which
// the fuzz build does not link; here every storage record "data/<key>"
// exists with 64 bytes, except keys starting with "missing".
#include "fuzz_support.h"
#include "model/pickle.h"

using namespace clipserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr std::uint64_t kRecordBytes = 64;
  auto record_size = [](const std::string& record) -> std::optional<std::uint64_t> {
    if (record.rfind("data/missing", 0) == 0) return std::nullopt;
    return kRecordBytes;
  };
  auto state = model::ReadStateDictPickle(
      std::span<const char>(reinterpret_cast<const char*>(data), size), record_size);
  if (!state.ok()) {
    FUZZ_CHECK(state.status().code() == StatusCode::kInvalidArgument);
    return 0;
  }
  // What ReadTorchZip relies on to build views without further checks.
  for (const auto& [name, t] : state->tensors) {
    FUZZ_CHECK(t.item_bytes >= 1 && t.item_bytes <= 8);
    FUZZ_CHECK(t.storage_numel >= 0 && static_cast<std::uint64_t>(t.storage_numel) * t.item_bytes <= kRecordBytes);
    FUZZ_CHECK(t.size.size() == t.stride.size() && t.offset >= 0);
    bool empty = false;
    for (std::size_t k = 0; k < t.size.size(); ++k) {
      FUZZ_CHECK(t.size[k] >= 0 && t.stride[k] >= 0);
      if (t.size[k] == 0) empty = true;
    }
    if (empty) continue;
    // The furthest element of the view lies inside the storage.
    std::int64_t last = t.offset;
    for (std::size_t k = 0; k < t.size.size(); ++k) {
      std::int64_t step = 0;
      FUZZ_CHECK(!__builtin_mul_overflow(t.size[k] - 1, t.stride[k], &step));
      FUZZ_CHECK(!__builtin_add_overflow(last, step, &last));
    }
    FUZZ_CHECK(last < t.storage_numel);
  }
  return 0;
}
