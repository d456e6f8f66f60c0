#include "common/finite.h"

#include <cstdint>
#include <cstring>

namespace clipserve {
namespace {

// Exponent bits all ones <=> NaN or infinity. Blocks of 256 values are
// scanned branch-free (the compiler vectorizes the OR-reduction); only a
// block that has one is searched element by element.
// ThreadSanitizer instruments the ifunc resolver that target_clones emits,
// and that resolver runs during relocation, before the TSan runtime exists:
// every binary would crash at start-up. TSan builds take the portable loop.
#if defined(__SANITIZE_THREAD__)
#define CLIPSERVE_AVX2_CLONES
#else
#define CLIPSERVE_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#endif
CLIPSERVE_AVX2_CLONES bool BlockHasNonFinite(const float* p, std::size_t n) {
  std::uint32_t any = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t u;
    std::memcpy(&u, p + i, sizeof(u));
    any |= static_cast<std::uint32_t>((u & 0x7F800000u) == 0x7F800000u);
  }
  return any != 0;
}

}  // namespace

std::optional<std::size_t> FirstNonFinite(std::span<const float> values) {
  constexpr std::size_t kBlock = 256;
  for (std::size_t b = 0; b < values.size(); b += kBlock) {
    const std::size_t n = values.size() - b < kBlock ? values.size() - b : kBlock;
    if (!BlockHasNonFinite(values.data() + b, n)) continue;
    for (std::size_t i = b; i < b + n; ++i) {
      std::uint32_t u;
      std::memcpy(&u, &values[i], sizeof(u));
      if ((u & 0x7F800000u) == 0x7F800000u) return i;
    }
  }
  return std::nullopt;
}

std::optional<std::size_t> CopyFloatsCheckingFinite(std::span<const std::byte> src, std::span<float> dst) {
  constexpr std::size_t kBlock = 1024;  // 4 KB: copied, then scanned from L1
  const std::size_t count = dst.size();
  for (std::size_t b = 0; b < count; b += kBlock) {
    const std::size_t n = count - b < kBlock ? count - b : kBlock;
    std::memcpy(dst.data() + b, src.data() + b * sizeof(float), n * sizeof(float));
    if (!BlockHasNonFinite(dst.data() + b, n)) continue;
    if (auto at = FirstNonFinite(dst.subspan(b, n))) return b + *at;
  }
  return std::nullopt;
}

}  // namespace clipserve
