// KServe v2 binary tensor data extension: the Inference-Header-Content-Length
// value (kserve::ParseHeaderLength), the split of the body into the JSON
// header and the binary tensors (kserve::ParseInferRequest), and the split of
// each binary BYTES tensor into elements (kserve::SplitBinaryBytes), in the
// order KserveApi::Infer runs them.
//
// Input: the header value, '\n', then the body.
#include "fuzz_support.h"
#include "server/kserve_codec.h"

using namespace clipserve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto [header_value, body] = fuzz::SplitFirstLine(fuzz::AsText(data, size));
  auto header_bytes = server::kserve::ParseHeaderLength(header_value, body.size());
  if (!header_bytes.ok()) return 0;
  FUZZ_CHECK(*header_bytes <= body.size());
  auto parsed = server::kserve::ParseInferRequest(body, *header_bytes);
  if (!parsed.ok()) {
    FUZZ_CHECK(!parsed.status().message().empty());
    return 0;
  }
  for (const auto& in : parsed->inputs) {
    if (!in.binary) continue;
    // Binary tensors live after the JSON header, inside the body.
    FUZZ_CHECK(fuzz::ViewInside(in.raw, body.substr(*header_bytes)));
    if (in.datatype != "BYTES") continue;
    auto elements = server::kserve::SplitBinaryBytes(in.raw, in.name);
    if (!elements.ok()) continue;
    for (std::string_view e : *elements) FUZZ_CHECK(fuzz::ViewInside(e, in.raw));
  }
  return 0;
}
