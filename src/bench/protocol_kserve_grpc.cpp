// KServe v2 over gRPC (inference.GRPCInferenceService, Triton's messages):
// the same models, inputs and outputs as protocol_kserve.cpp, carried in
// protobuf. FP32 tensors and BYTES elements go in raw_input_contents (the
// same little-endian bytes as the HTTP binary extension: a 4-byte length
// before each BYTES element); tensor-json maps to the typed contents.
// Answers may carry the embedding raw (raw_output_contents) or typed.
#include <google/protobuf/util/json_util.h>

#include <bit>
#include <cstring>

#include "bench/protocol.h"
#include "grpc_service.pb.h"

namespace clipserve::bench {
namespace {

constexpr const char* kService = "/inference.GRPCInferenceService/";
constexpr const char* kOutputName = "embedding";

PreparedRequest Call(const char* method, const google::protobuf::Message& message) {
  PreparedRequest r;
  r.path = std::string(kService) + method;
  r.body = message.SerializeAsString();
  return r;
}

template <typename M>
StatusOr<M> ParseMessage(const HttpResponse& response) {
  M m;
  if (!m.ParseFromString(response.body)) return InvalidArgumentError("response is not a valid protobuf message");
  return m;
}

void AppendLe32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

class KserveGrpcProtocol final : public Protocol {
 public:
  KserveGrpcProtocol(TritonInput input, const std::string& model)
      : input_(input), target_model_(KserveModelFor(input, model)) {}

  std::string Describe() const override {
    switch (input_) {
      case TritonInput::kTensor: return "kserve-v2-grpc/raw-tensor";
      case TritonInput::kTensorJson: return "kserve-v2-grpc/typed-tensor";
      case TritonInput::kImageBytes: return "kserve-v2-grpc/image-bytes";
    }
    return "kserve-v2-grpc";
  }
  Transport transport() const override { return Transport::kGrpc; }
  std::string model() const override { return target_model_; }

  PreparedRequest HealthRequest(Health which) const override {
    if (which == Health::kLive) return Call("ServerLive", inference::ServerLiveRequest());
    return Call("ServerReady", inference::ServerReadyRequest());
  }
  bool HealthYes(Health which, const HttpResponse& response) const override {
    if (which == Health::kLive) {
      auto m = ParseMessage<inference::ServerLiveResponse>(response);
      return m.ok() && m->live();
    }
    auto m = ParseMessage<inference::ServerReadyResponse>(response);
    return m.ok() && m->ready();
  }

  std::vector<PreparedRequest> MetadataRequests() const override {
    inference::ModelMetadataRequest meta;
    meta.set_name(target_model_);
    inference::ModelConfigRequest config;
    config.set_name(target_model_);
    return {Call("ServerMetadata", inference::ServerMetadataRequest()), Call("ModelMetadata", meta),
            Call("ModelConfig", config)};
  }
  // The protobuf JSON mapping with the .proto field names, which is the
  // HTTP API's JSON form; a config answer is unwrapped to the config itself,
  // as GET /v2/models/{m}/config returns it.
  StatusOr<std::string> MetadataJson(const PreparedRequest& request, const HttpResponse& response) const override {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    std::string out;
    google::protobuf::util::Status st;
    const std::string method = request.path.substr(request.path.rfind('/') + 1);
    if (method == "ServerMetadata") {
      auto m = ParseMessage<inference::ServerMetadataResponse>(response);
      if (!m.ok()) return m.status();
      st = google::protobuf::util::MessageToJsonString(*m, &out, options);
    } else if (method == "ModelMetadata") {
      auto m = ParseMessage<inference::ModelMetadataResponse>(response);
      if (!m.ok()) return m.status();
      st = google::protobuf::util::MessageToJsonString(*m, &out, options);
    } else if (method == "ModelConfig") {
      auto m = ParseMessage<inference::ModelConfigResponse>(response);
      if (!m.ok()) return m.status();
      st = google::protobuf::util::MessageToJsonString(m->config(), &out, options);
    } else {
      return InvalidArgumentError("no JSON form for " + method);
    }
    if (!st.ok()) return InternalError("protobuf to JSON: " + std::string(st.message()));
    return out;
  }

  std::optional<PreparedRequest> InputShapeRequest() const override {
    inference::ModelMetadataRequest meta;
    meta.set_name(target_model_);
    return Call("ModelMetadata", meta);
  }
  StatusOr<std::vector<std::int64_t>> ParseInputShape(const HttpResponse& response) const override {
    auto m = ParseMessage<inference::ModelMetadataResponse>(response);
    if (!m.ok()) return m.status();
    if (m->inputs_size() == 0) return InvalidArgumentError("model metadata has no inputs");
    const auto& shape = m->inputs(0).shape();
    return std::vector<std::int64_t>(shape.begin(), shape.end());
  }
  void SetImageBytesRank(int rank) override { bytes_rank_ = rank; }

  std::optional<PreparedRequest> StatsRequest() const override {
    inference::ModelStatisticsRequest req;
    req.set_name(target_model_);
    return Call("ModelStatistics", req);
  }
  // The same counters as ParseTritonStats (ns -> us), summed over versions.
  StatusOr<TritonModelCounters> ParseStats(const HttpResponse& response) const override {
    auto m = ParseMessage<inference::ModelStatisticsResponse>(response);
    if (!m.ok()) return m.status();
    TritonModelCounters c;
    bool found = false;
    auto add = [](std::optional<double>& acc, double v) { acc = acc.value_or(0.0) + v; };
    for (const auto& s : m->model_stats()) {
      if (s.name() != target_model_) continue;
      found = true;
      const auto& is = s.inference_stats();
      constexpr double kNsToUs = 1e-3;
      add(c.request_success, static_cast<double>(is.success().count()));
      add(c.request_failure, static_cast<double>(is.fail().count()));
      add(c.request_duration_us, static_cast<double>(is.success().ns()) * kNsToUs);
      add(c.queue_duration_us, static_cast<double>(is.queue().ns()) * kNsToUs);
      add(c.compute_input_duration_us, static_cast<double>(is.compute_input().ns()) * kNsToUs);
      add(c.compute_infer_duration_us, static_cast<double>(is.compute_infer().ns()) * kNsToUs);
      add(c.compute_output_duration_us, static_cast<double>(is.compute_output().ns()) * kNsToUs);
      add(c.inference_count, static_cast<double>(s.inference_count()));
      add(c.exec_count, static_cast<double>(s.execution_count()));
    }
    if (!found) return NotFoundError("statistics have no entry for model '" + target_model_ + "'");
    return c;
  }

  StatusOr<PreparedRequest> Build(std::span<const InputImage* const> images) const override {
    static_assert(std::endian::native == std::endian::little, "raw tensors assume a little-endian host");
    if (images.empty()) return InvalidArgumentError("no images");
    const auto n = static_cast<std::int64_t>(images.size());
    inference::ModelInferRequest req;
    req.set_model_name(target_model_);
    req.add_outputs()->set_name(kOutputName);
    auto* in = req.add_inputs();
    if (input_ == TritonInput::kImageBytes) {
      in->set_name("image_bytes");
      in->set_datatype("BYTES");
      in->add_shape(n);
      if (bytes_rank_ >= 2) in->add_shape(1);
      std::string* raw = req.add_raw_input_contents();
      for (const InputImage* img : images) {
        AppendLe32(*raw, static_cast<std::uint32_t>(img->encoded.size()));
        raw->append(reinterpret_cast<const char*>(img->encoded.data()), img->encoded.size());
      }
    } else {
      const int s = images[0]->size;
      in->set_name("image");
      in->set_datatype("FP32");
      for (std::int64_t d : {n, std::int64_t{3}, std::int64_t{s}, std::int64_t{s}}) in->add_shape(d);
      std::string* raw = input_ == TritonInput::kTensor ? req.add_raw_input_contents() : nullptr;
      for (const InputImage* img : images) {
        if (img->size != s || img->unit_chw.size() != static_cast<std::size_t>(3 * s * s)) {
          return InvalidArgumentError("image tensor has the wrong size for a " + std::to_string(s) + "px batch");
        }
        if (raw) {
          raw->append(reinterpret_cast<const char*>(img->unit_chw.data()), img->unit_chw.size() * sizeof(float));
        } else {
          auto* c = in->mutable_contents()->mutable_fp32_contents();
          c->Add(img->unit_chw.begin(), img->unit_chw.end());
        }
      }
    }
    PreparedRequest out = Call("ModelInfer", req);
    out.images = static_cast<int>(images.size());
    return out;
  }

  StatusOr<Embeddings> Parse(const HttpResponse& response, int expected_rows) const override {
    auto m = ParseMessage<inference::ModelInferResponse>(response);
    if (!m.ok()) return m.status();
    for (int i = 0; i < m->outputs_size(); ++i) {
      const auto& out = m->outputs(i);
      if (out.name() != kOutputName) continue;
      if (out.datatype() != "FP32") return InvalidArgumentError("embedding datatype is not FP32");
      if (out.shape_size() != 2) return InvalidArgumentError("embedding shape is not [N, D]");
      Embeddings e;
      e.rows = out.shape(0);
      e.dim = out.shape(1);
      if (e.rows != expected_rows || e.dim <= 0) {
        return InvalidArgumentError("expected " + std::to_string(expected_rows) + " embeddings, got shape [" +
                                    std::to_string(e.rows) + "," + std::to_string(e.dim) + "]");
      }
      const auto count = static_cast<std::size_t>(e.rows * e.dim);
      if (m->raw_output_contents_size() > 0) {
        // Raw outputs: one entry per output, in the order of `outputs`.
        if (i >= m->raw_output_contents_size() || m->raw_output_contents(i).size() != count * sizeof(float)) {
          return InvalidArgumentError("raw embedding size does not match its shape");
        }
        e.values.resize(count);
        std::memcpy(e.values.data(), m->raw_output_contents(i).data(), count * sizeof(float));
      } else {
        const auto& c = out.contents().fp32_contents();
        if (static_cast<std::size_t>(c.size()) != count) {
          return InvalidArgumentError("embedding contents do not match its shape");
        }
        e.values.assign(c.begin(), c.end());
      }
      return e;
    }
    return InvalidArgumentError("response has no 'embedding' output");
  }

 private:
  TritonInput input_;
  std::string target_model_;
  int bytes_rank_ = 1;
};

}  // namespace

std::unique_ptr<Protocol> MakeKserveGrpcProtocol(TritonInput input, std::string model) {
  return std::make_unique<KserveGrpcProtocol>(input, model);
}

}  // namespace clipserve::bench
