// Base64 (common/base64): DecodeBase64 on arbitrary text, and the round trip
// Decode(Encode(bytes)) == bytes for the input taken as bytes.
#include <algorithm>
#include <vector>

#include "common/base64.h"
#include "fuzz_support.h"

using namespace clipserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::AsText(data, size);
  auto decoded = DecodeBase64(text);
  if (decoded.ok()) {
    // Whatever decodes re-encodes to something that decodes to the same bytes.
    auto again = DecodeBase64(EncodeBase64(std::span<const std::uint8_t>(*decoded)));
    FUZZ_CHECK(again.ok() && *again == *decoded);
    FUZZ_CHECK(decoded->size() <= text.size() * 3 / 4 + 3);
  } else {
    FUZZ_CHECK(decoded.status().code() == StatusCode::kInvalidArgument);
  }
  const std::string encoded = EncodeBase64(std::span<const std::uint8_t>(data, size));
  FUZZ_CHECK(encoded.size() == (size + 2) / 3 * 4);
  auto round_trip = DecodeBase64(encoded);
  FUZZ_CHECK(round_trip.ok());
  FUZZ_CHECK(round_trip->size() == size && std::equal(round_trip->begin(), round_trip->end(), data));
  return 0;
}
