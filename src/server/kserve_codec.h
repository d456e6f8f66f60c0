// KServe v2 / Triton inference request and response wire format: JSON
// tensors and Triton's binary tensor data extension. Pure functions, no HTTP:
// the KServe adapter passes the body and the Inference-Header-Content-Length.
//
// Errors are InvalidArgument Status values worded like Triton's, so clients
// that match on Triton's messages keep working.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace clipserve::server::kserve {

struct InputTensor {
  std::string name;
  std::string datatype;          // as sent: "FP32", "BYTES", ...
  std::vector<std::int64_t> shape;
  bool binary = false;           // data came through the binary extension
  std::string_view raw;          // binary: the tensor's bytes (a view into the body)
  std::vector<float> fp32;       // JSON FP32 data, flattened row-major
  std::vector<std::string> bytes;// JSON BYTES data, one string per element
  std::uint64_t json_elements = 0;  // JSON elements seen (any datatype)
};

struct RequestedOutput {
  std::string name;
  std::optional<bool> binary;  // parameters.binary_data, when given
};

struct InferRequest {
  std::optional<std::string> id;
  std::vector<InputTensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: all outputs
  bool binary_data_output = false;       // request-level parameters.binary_data_output
  // Keeps the body that the views (InputTensor::raw) point into alive, when
  // the front end can share it: work that outlives the request uses the
  // views in place. May be null.
  std::shared_ptr<const void> body_owner;
};

// Parses an infer request. `json_header_bytes` is the value of
// Inference-Header-Content-Length (binary extension) or nullopt (pure JSON).
// Views in the result point into `body`.
StatusOr<InferRequest> ParseInferRequest(std::string_view body, std::optional<std::uint64_t> json_header_bytes);

// Parses the Inference-Header-Content-Length header value.
StatusOr<std::uint64_t> ParseHeaderLength(std::string_view value, std::uint64_t body_bytes);

// Splits binary BYTES tensor data (4-byte little-endian length + bytes per
// element) into element views. Fails on a truncated or trailing element.
StatusOr<std::vector<std::string_view>> SplitBinaryBytes(std::string_view raw, std::string_view input_name);

std::uint64_t ElementCount(std::span<const std::int64_t> shape);  // product; 0 for empty dims
std::string ShapeString(std::span<const std::int64_t> shape);     // "[1,3,224,224]"

struct OutputTensor {
  std::string name;
  std::string datatype = "FP32";
  std::vector<std::int64_t> shape;
  std::span<const float> data;
  bool binary = false;
};

struct EncodedResponse {
  std::string body;
  std::optional<std::size_t> json_header_bytes;  // set when any output is binary
};

// With append_binary false, the binary outputs' bytes are left out of `body`
// (json_header_bytes is still set): the caller sends them from where they lie.
EncodedResponse EncodeInferResponse(std::string_view model_name, std::string_view model_version,
                                    const std::optional<std::string>& id, std::span<const OutputTensor> outputs,
                                    bool append_binary = true);

// Appends a JSON array of floats, shortest round-trip form ("[0.1,-2e-05]").
// Non-finite values are written as null (JSON has no NaN).
void AppendJsonFloats(std::string& out, std::span<const float> values);

}  // namespace clipserve::server::kserve
