// The two wire protocols the runner speaks, behind one interface:
//  - REST (the "pytorch" backend): POST /embed/base64 JSON or /embed/batch multipart;
//  - KServe v2 (the "triton" backend): POST /v2/models/{m}/infer with the
//    binary tensor data extension (default), JSON tensors, or encoded image
//    bytes as a BYTES tensor to model "{m}_image".
// Only standard v2 and Triton's documented extensions are used, so the same
// code runs against a real NVIDIA Triton. Requests are built before timing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bench/prometheus.h"
#include "bench/request.h"
#include "common/status.h"

namespace clipserve::bench {

// One benchmark image: its encoded bytes (sent by the REST and image-bytes
// paths) and the [0,1] CHW float tensor the server itself would derive from
// them (sent by the tensor paths), so every path yields the same embedding.
struct InputImage {
  std::string name;
  std::vector<std::uint8_t> encoded;
  std::string mime = "image/jpeg";
  std::vector<float> unit_chw;  // 3 * size * size
  int size = 224;
};

enum class PytorchInput { kBase64, kMultipart };
enum class TritonInput { kTensor, kTensorJson, kImageBytes };

class Protocol {
 public:
  virtual ~Protocol() = default;
  virtual std::string Describe() const = 0;             // e.g. "kserve-v2/binary-tensor"
  virtual std::string LivePath() const = 0;
  virtual std::string ReadyPath() const = 0;
  virtual std::vector<std::string> MetadataPaths() const = 0;
  // Triton statistics extension path, when the protocol has one.
  virtual std::optional<std::string> StatsPath() const = 0;
  virtual StatusOr<PreparedRequest> Build(std::span<const InputImage* const> images) const = 0;
  // Checks the response carries `expected_rows` embeddings and returns them.
  virtual StatusOr<Embeddings> Parse(const HttpResponse& response, int expected_rows) const = 0;
};

std::unique_ptr<Protocol> MakeRestProtocol(PytorchInput input);
// `bytes_shape_rank`: rank of the image_bytes input including the batch
// dimension, as the model metadata reports it ([-1] -> 1, [-1,1] -> 2).
std::unique_ptr<Protocol> MakeKserveProtocol(TritonInput input, std::string model, int bytes_shape_rank = 1);

// Triton statistics extension (GET /v2/models/{m}/stats) -> the same
// cumulative counters the Prometheus scrape yields (ns converted to us),
// summed over versions. InvalidArgument when the body is not that shape.
StatusOr<TritonModelCounters> ParseTritonStats(const std::string& body, const std::string& model);

}  // namespace clipserve::bench
