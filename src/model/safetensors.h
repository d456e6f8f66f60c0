// Safetensors reader (https://github.com/huggingface/safetensors format):
//   [u64 little-endian N][N bytes JSON header][data]
// header: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//          "__metadata__": {...}}, offsets relative to the start of data.
//
// The file is memory-mapped (private, copy-on-write) and every tensor is a
// torch::from_blob view into the mapping; the mapping lives until the last
// tensor that points into it is destroyed. Nothing is copied, except a tensor
// whose data is not aligned to its element size (then it is copied once).
// When a tensor dies, the pages only it covered are dropped from memory
// (madvise DONTNEED), so weights a consumer has repacked and released stop
// counting in RSS.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"

namespace clipserve::model {

// Tensors as a file stored them, under the file's own names.
struct RawTensors {
  std::map<std::string, torch::Tensor> tensors;   // F32, F16, BF16
  // Tensors in a dtype we do not load (name -> file's dtype name). Readers
  // keep them so that a needed one gives a clear error; unneeded ones (text
  // tower, position_ids buffers) are ignored.
  std::map<std::string, std::string> unsupported_dtypes;
};

// Reads and validates the header (ParseSafetensorsHeader: dtypes, shapes, offsets inside the data
// region, no overlapping tensors) and maps the file. Errors name the path.
StatusOr<RawTensors> ReadSafetensors(const std::string& path);

}  // namespace clipserve::model
