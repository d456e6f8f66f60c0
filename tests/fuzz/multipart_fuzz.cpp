// multipart/form-data: the boundary from the Content-Type value
// (MultipartBoundary), then the body split (ParseMultipart), as the HTTP
// server runs them for every request with that Content-Type.
//
// Input: the Content-Type value, '\n', then the body.
#include "fuzz_support.h"
#include "server/multipart.h"

using namespace clipserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto [content_type, body] = fuzz::SplitFirstLine(fuzz::AsText(data, size));
  auto boundary = server::MultipartBoundary(content_type);
  if (!boundary.ok()) return 0;
  FUZZ_CHECK(!boundary->empty() && boundary->size() <= 70);
  auto parts = server::ParseMultipart(body, *boundary);
  if (!parts.ok()) {
    FUZZ_CHECK(parts.status().code() == StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(parts->size() <= 4096);
  for (const auto& part : *parts) FUZZ_CHECK(fuzz::ViewInside(part.content, body));
  return 0;
}
