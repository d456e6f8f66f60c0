// Safetensors header (model/safetensors_header.cpp): ParseSafetensorsHeader
// on the input as a whole file, as ReadSafetensors calls it on the mapping.
// A header that parses must keep its documented promises, since the reader
// then builds tensor views from the offsets without further checks.
#include <algorithm>
#include <vector>

#include "fuzz_support.h"
#include "model/safetensors_header.h"

using namespace clipserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto header = model::ParseSafetensorsHeader(std::span<const std::uint8_t>(data, size));
  if (!header.ok()) {
    FUZZ_CHECK(header.status().code() == StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(header->data_offset >= 8 && header->data_offset <= size);
  const std::uint64_t data_bytes = size - header->data_offset;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
  for (const auto& e : header->entries) {
    FUZZ_CHECK(e.begin <= e.end && e.end <= data_bytes);
    FUZZ_CHECK(e.item_bytes >= 1 && e.item_bytes <= 8);
    // The data size matches dtype and shape, and no partial product
    // overflowed 64 bits.
    std::uint64_t bytes = e.item_bytes;
    for (std::int64_t d : e.shape) {
      FUZZ_CHECK(d >= 0 && d <= (std::int64_t{1} << 40));
      FUZZ_CHECK(!__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(d), &bytes));
    }
    FUZZ_CHECK(bytes == e.end - e.begin);
    spans.emplace_back(e.begin, e.end);
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i) FUZZ_CHECK(spans[i].first >= spans[i - 1].second);
  return 0;
}
