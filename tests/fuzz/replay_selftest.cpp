// A stand-in target for the replay's own tests (tests/fuzz/CMakeLists.txt):
// it aborts on an input that starts with "crash", as a parser bug would.
#include <cstdint>
#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size >= 5 && std::memcmp(data, "crash", 5) == 0) std::abort();
  return 0;
}
