// The wire protocols the runner speaks, behind one interface:
//  - REST (the "pytorch" backend): POST /embed/base64 JSON or /embed/batch multipart;
//  - KServe v2 over HTTP (the "triton" backend): POST /v2/models/{m}/infer
//    with the binary tensor data extension (default), JSON tensors, or
//    encoded image bytes as a BYTES tensor to model "{m}_image";
//  - KServe v2 over gRPC (the "triton" backend, --triton-protocol grpc):
//    ModelInfer of inference.GRPCInferenceService, the same models and inputs.
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

// Which transport a protocol's requests go over (bench/transport.h).
enum class Transport { kHttp, kGrpc };
const char* TransportName(Transport t);  // "http" | "grpc"
StatusOr<Transport> ParseTransport(const std::string& s);

// A protocol builds every request the runner sends and reads every answer:
// the inference calls, and the control calls (health, metadata, statistics)
// that differ between REST, KServe v2 over HTTP and KServe v2 over gRPC.
class Protocol {
 public:
  virtual ~Protocol() = default;
  virtual std::string Describe() const = 0;             // e.g. "kserve-v2/binary-tensor"
  virtual Transport transport() const = 0;
  // The v2 model the inference requests go to; "" for REST.
  virtual std::string model() const { return ""; }

  enum class Health { kLive, kReady };
  virtual PreparedRequest HealthRequest(Health which) const = 0;
  // A successful call to HealthRequest(which): does it say yes? (HTTP: a 2xx
  // says yes; gRPC: the message's live/ready flag.)
  virtual bool HealthYes(Health which, const HttpResponse& response) const = 0;

  // Server and model facts recorded in the results (server_info, keyed by
  // each request's path) as JSON text.
  virtual std::vector<PreparedRequest> MetadataRequests() const = 0;
  virtual StatusOr<std::string> MetadataJson(const PreparedRequest& request, const HttpResponse& response) const = 0;

  // The model's first input's shape, from its v2 metadata (nullopt for REST).
  virtual std::optional<PreparedRequest> InputShapeRequest() const { return std::nullopt; }
  virtual StatusOr<std::vector<std::int64_t>> ParseInputShape(const HttpResponse& response) const;
  // Rank of the image_bytes input including the batch dimension, as the
  // model metadata reports it ([-1] -> 1, [-1,1] -> 2). Ignored by others.
  virtual void SetImageBytesRank(int /*rank*/) {}

  // Triton statistics extension, when the protocol has one.
  virtual std::optional<PreparedRequest> StatsRequest() const { return std::nullopt; }
  virtual StatusOr<TritonModelCounters> ParseStats(const HttpResponse& response) const;

  virtual StatusOr<PreparedRequest> Build(std::span<const InputImage* const> images) const = 0;
  // Checks the response carries `expected_rows` embeddings and returns them.
  virtual StatusOr<Embeddings> Parse(const HttpResponse& response, int expected_rows) const = 0;
};

// The v2 model a KServe request goes to: "{model}_image" for encoded image
// bytes (the model that decodes and preprocesses on the server), `model`
// for tensors. The same over HTTP and gRPC.
std::string KserveModelFor(TritonInput input, const std::string& model);

// A GET of `path` (the HTTP protocols' control calls).
PreparedRequest GetRequest(std::string path);

std::unique_ptr<Protocol> MakeRestProtocol(PytorchInput input);
std::unique_ptr<Protocol> MakeKserveProtocol(TritonInput input, std::string model);
// KServe v2 over gRPC (inference.GRPCInferenceService): the same models and
// inputs; tensors travel in raw_input_contents (kTensor, kImageBytes) or the
// typed contents (kTensorJson).
std::unique_ptr<Protocol> MakeKserveGrpcProtocol(TritonInput input, std::string model);

// Triton statistics extension (GET /v2/models/{m}/stats) -> the same
// cumulative counters the Prometheus scrape yields (ns converted to us),
// summed over versions. InvalidArgument when the body is not that shape.
StatusOr<TritonModelCounters> ParseTritonStats(const std::string& body, const std::string& model);

}  // namespace clipserve::bench
