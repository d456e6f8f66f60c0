// KServe v2 JSON inference request: kserve::ParseInferRequest without the
// binary extension (no Inference-Header-Content-Length), as KserveApi::Infer
// calls it for a plain JSON body.
#include "fuzz_support.h"
#include "server/kserve_codec.h"

using namespace clipserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body = fuzz::AsText(data, size);
  auto parsed = server::kserve::ParseInferRequest(body, std::nullopt);
  if (!parsed.ok()) {
    FUZZ_CHECK(!parsed.status().message().empty());
    return 0;
  }
  for (const auto& in : parsed->inputs) {
    FUZZ_CHECK(fuzz::ViewInside(in.raw, body));
    (void)server::kserve::ElementCount(in.shape);
    FUZZ_CHECK(server::kserve::ShapeString(in.shape).front() == '[');
  }
  return 0;
}
