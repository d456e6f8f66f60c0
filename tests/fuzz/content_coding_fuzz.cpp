// Request Content-Encoding: ParseContentCoding on the header value, then
// DecodeContent with an output limit, as the HTTP server decodes a body.
// The limit is 4 KiB here so that small inputs can cross it.
//
// Input: the Content-Encoding value, '\n', then the (compressed) body.
#include <string>

#include "fuzz_support.h"
#include "server/content_coding.h"

using namespace clipserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint64_t kLimit = 4096;
  const auto [value, body] = fuzz::SplitFirstLine(fuzz::AsText(data, size));
  auto coding = server::ParseContentCoding(value);
  if (!coding.ok()) return 0;
  std::string out = "stale";
  const Status st = server::DecodeContent(*coding, body, kLimit, out);
  if (st.ok()) {
    FUZZ_CHECK(out.size() <= kLimit);
    if (*coding == server::ContentCoding::kIdentity) FUZZ_CHECK(out == body);
  } else {
    FUZZ_CHECK(st.code() == StatusCode::kResourceExhausted || st.code() == StatusCode::kInvalidArgument);
    FUZZ_CHECK(out.empty());
  }
  // Documented bound: the buffer never grows to twice the limit.
  FUZZ_CHECK(out.capacity() < 2 * (kLimit + 1));
  return 0;
}
