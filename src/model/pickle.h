// The restricted unpickler of torch.save state dicts (the data.pkl record of
// a torch zip archive), without LibTorch: tensors come out as descriptions
// of strided views into storage records, checked against the records' sizes;
// ReadTorchZip (torch_zip.h) turns them into tensors. It never executes
// anything: only the functions torch.save emits for tensors and dicts are
// evaluated, any other class or function is an opaque value.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace clipserve::model {

// A tensor of the pickle: the view (offset, size, stride, in elements) of
// the storage held by archive record "data/<storage_key>". Checked: the
// storage type is one torch.save writes, the record holds storage_numel
// elements of item_bytes, and every element of the view lies inside it.
struct PickledTensor {
  std::string storage_key;
  std::string storage_type;  // "torch.FloatStorage", "torch.HalfStorage", ...
  std::size_t item_bytes = 0;
  std::int64_t storage_numel = 0;
  std::int64_t offset = 0;
  std::vector<std::int64_t> size;
  std::vector<std::int64_t> stride;
};

// The state dict's string-keyed tensors, in pickle order (a key given twice
// appears twice; the last one counts). Entries that are not tensors are left out.
struct PickledStateDict {
  std::vector<std::pair<std::string, PickledTensor>> tensors;
};

// Bytes in archive record `record` ("data/0"), nullopt when there is none.
// Called once per storage.
using RecordSize = std::function<std::optional<std::uint64_t>(const std::string& record)>;

// Accepts a state dict ({name: tensor}, plain dict or OrderedDict) or a
// checkpoint wrapping one under "state_dict". InvalidArgument naming the
// problem otherwise (malformed pickle, unsupported opcode or storage, a view
// past its storage, not a state dict).
StatusOr<PickledStateDict> ReadStateDictPickle(std::span<const char> pickle, const RecordSize& record_size);

}  // namespace clipserve::model
