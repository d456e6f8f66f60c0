// The safetensors header, parsed and validated without LibTorch:
//   [u64 little-endian N][N bytes JSON header][data]
// ReadSafetensors (safetensors.h) maps the file and hands its bytes here;
// the fuzz target tests/fuzz/safetensors_header_fuzz.cpp does the same with
// arbitrary bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace clipserve::model {

// Header sanity limit: real headers are well under 1 MiB.
inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

struct SafetensorsEntry {
  std::string name;
  std::string dtype;            // the spec's name: "F32", "BF16", "I64", ...
  std::size_t item_bytes = 0;   // bytes per element of `dtype`
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;      // [begin, end): offsets into the data region
  std::uint64_t end = 0;
};

struct SafetensorsHeader {
  std::uint64_t data_offset = 0;  // 8 + N: where the data region starts in the file
  std::vector<SafetensorsEntry> entries;  // every tensor, "__metadata__" excluded
};

// Parses the header of a whole file's bytes. Every entry has a dtype the
// spec defines, a shape whose byte size matches end - begin without
// overflow, lies inside the data region, and no two entries overlap.
// InvalidArgument naming the problem otherwise.
StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::span<const std::uint8_t> file);

}  // namespace clipserve::model
