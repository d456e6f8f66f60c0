// KServe v2 BYTES elements in binary form (4-byte little-endian length, then
// the bytes, per element): kserve::SplitBinaryBytes over the whole input.
#include "fuzz_support.h"
#include "server/kserve_codec.h"

using namespace clipserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw = fuzz::AsText(data, size);
  auto elements = server::kserve::SplitBinaryBytes(raw, "image");
  if (!elements.ok()) {
    FUZZ_CHECK(!elements.status().message().empty());
    return 0;
  }
  // Documented: no truncated or trailing element, so the elements and their
  // 4-byte prefixes tile the input exactly, in order.
  std::size_t expected_offset = 0;
  for (std::string_view e : *elements) {
    FUZZ_CHECK(fuzz::ViewInside(e, raw));
    FUZZ_CHECK(static_cast<std::size_t>(e.data() - raw.data()) == expected_offset + 4);
    expected_offset += 4 + e.size();
  }
  FUZZ_CHECK(expected_offset == raw.size());
  return 0;
}
