// torch.save zip archives: LibTorch's zip reader + the restricted unpickler
// of model/pickle.h.
#include "model/torch_zip.h"

#include <caffe2/serialize/inline_container.h>

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "model/pickle.h"

namespace clipserve::model {
namespace {

// The dtype of each storage type ReadStateDictPickle accepts.
std::optional<torch::ScalarType> StorageDtype(const std::string& storage_type) {
  static const std::pair<const char*, torch::ScalarType> kTable[] = {
      {"torch.FloatStorage", torch::kFloat32}, {"torch.HalfStorage", torch::kFloat16},
      {"torch.BFloat16Storage", torch::kBFloat16}, {"torch.DoubleStorage", torch::kFloat64},
      {"torch.LongStorage", torch::kInt64},    {"torch.IntStorage", torch::kInt32},
      {"torch.ShortStorage", torch::kInt16},   {"torch.CharStorage", torch::kInt8},
      {"torch.ByteStorage", torch::kUInt8},    {"torch.BoolStorage", torch::kBool},
  };
  for (const auto& [name, dtype] : kTable) {
    if (storage_type == name) return dtype;
  }
  return std::nullopt;
}

StatusOr<RawTensors> ReadImpl(const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> archive;
  try {
    archive = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    return InvalidArgumentError(std::string("not a readable torch zip archive: ") + e.what_without_backtrace());
  }
  try {
    if (!archive->hasRecord("data.pkl")) {
      if (archive->hasRecord("constants.pkl") || archive->hasRecord("code/__torch__.py")) {
        return InvalidArgumentError("a TorchScript module, not a state dict (save model.state_dict() instead)");
      }
      return InvalidArgumentError("the archive has no data.pkl");
    }
    if (archive->hasRecord("byteorder")) {
      auto [order, order_bytes] = archive->getRecord("byteorder");
      const std::string text(static_cast<const char*>(order.get()), order_bytes);
      if (text != "little") return UnimplementedError("byte order \"" + text + "\" is not supported");
    }
    auto [pickle_data, pickle_bytes] = archive->getRecord("data.pkl");
    // Each storage record is read once, when the pickle first refers to it
    // (one copy, then handed to the engine).
    std::map<std::string, std::shared_ptr<at::DataPtr>> records;
    auto record_size = [&](const std::string& record) -> std::optional<std::uint64_t> {
      if (!archive->hasRecord(record)) return std::nullopt;
      auto [data, size_bytes] = archive->getRecord(record);
      records[record] = std::make_shared<at::DataPtr>(std::move(data));
      return size_bytes;
    };
    ASSIGN_OR_RETURN(PickledStateDict state,
                     ReadStateDictPickle(std::span<const char>(static_cast<const char*>(pickle_data.get()), pickle_bytes),
                                         record_size));
    std::map<std::string, torch::Tensor> storages;  // by storage key: views share their storage
    auto storage_tensor = [&](const PickledTensor& p, torch::ScalarType dtype) {
      if (auto it = storages.find(p.storage_key); it != storages.end()) return it->second;
      const auto options = torch::TensorOptions().dtype(dtype);
      torch::Tensor t;
      if (p.storage_numel == 0) {
        t = torch::empty({0}, options);
      } else {
        const std::shared_ptr<at::DataPtr>& owner = records.at("data/" + p.storage_key);
        t = torch::from_blob(owner->get(), {p.storage_numel}, [owner](void*) {}, options);
      }
      storages.emplace(p.storage_key, t);
      return t;
    };
    RawTensors out;
    for (const auto& [name, p] : state.tensors) {
      const std::optional<torch::ScalarType> found = StorageDtype(p.storage_type);
      if (!found) return InternalError("storage type without a dtype: " + p.storage_type);
      const torch::ScalarType dtype = *found;
      if (dtype == torch::kFloat32 || dtype == torch::kFloat16 || dtype == torch::kBFloat16) {
        torch::Tensor v = storage_tensor(p, dtype).as_strided(p.size, p.stride, p.offset);
        // A view that is not contiguous (rare in state dicts) is copied once.
        out.tensors[name] = v.is_contiguous() ? v : v.contiguous();
      } else {
        out.unsupported_dtypes[name] = c10::toString(dtype);
      }
    }
    return out;
  } catch (const c10::Error& e) {
    return InvalidArgumentError(e.what_without_backtrace());
  }
}

}  // namespace

StatusOr<RawTensors> ReadTorchZip(const std::string& path) {
  StatusOr<RawTensors> r = ReadImpl(path);
  if (!r.ok()) return r.status().WithPrefix("torch archive " + path);
  return r;
}

}  // namespace clipserve::model
