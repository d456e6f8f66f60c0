// Data URIs as the REST and KServe APIs read an image string: StripDataUri
// (server/data_uri), then DecodeBase64 of the payload.
#include "common/base64.h"
#include "fuzz_support.h"
#include "server/data_uri.h"

using namespace clipserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::AsText(data, size);
  auto payload = server::StripDataUri(text);
  if (!payload.ok()) {
    FUZZ_CHECK(text.substr(0, 5) == "data:");
    FUZZ_CHECK(payload.status().code() == StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(fuzz::ViewInside(*payload, text));
  if (text.substr(0, 5) != "data:") FUZZ_CHECK(payload->size() == text.size());
  auto bytes = DecodeBase64(*payload);
  if (bytes.ok()) FUZZ_CHECK(bytes->size() <= payload->size());
  return 0;
}
