// KServe v2 / Triton HTTP protocol, including Triton's binary tensor data
// extension: the body is a JSON header of `Inference-Header-Content-Length`
// bytes followed by raw little-endian tensor bytes; inputs announce their
// size with the `binary_data_size` parameter, outputs are requested with
// `binary_data: true`. BYTES elements are a 4-byte little-endian length
// followed by the bytes.
#include <bit>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>

#include "bench/protocol.h"

namespace clipserve::bench {
namespace {

using nlohmann::json;

constexpr const char* kOutputName = "embedding";

void AppendLe32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void AppendFloatsLe(std::string& out, std::span<const float> values) {
  static_assert(std::endian::native == std::endian::little, "binary tensors assume a little-endian host");
  out.append(reinterpret_cast<const char*>(values.data()), values.size_bytes());
}

class KserveProtocol final : public Protocol {
 public:
  KserveProtocol(TritonInput input, const std::string& model)
      : input_(input), target_model_(KserveModelFor(input, model)) {}

  std::string Describe() const override {
    switch (input_) {
      case TritonInput::kTensor: return "kserve-v2/binary-tensor";
      case TritonInput::kTensorJson: return "kserve-v2/json-tensor";
      case TritonInput::kImageBytes: return "kserve-v2/image-bytes";
    }
    return "kserve-v2";
  }
  Transport transport() const override { return Transport::kHttp; }
  std::string model() const override { return target_model_; }
  PreparedRequest HealthRequest(Health which) const override {
    return GetRequest(which == Health::kLive ? "/v2/health/live" : "/v2/health/ready");
  }
  bool HealthYes(Health, const HttpResponse&) const override { return true; }
  std::vector<PreparedRequest> MetadataRequests() const override {
    return {GetRequest("/v2"), GetRequest("/v2/models/" + target_model_),
            GetRequest("/v2/models/" + target_model_ + "/config")};
  }
  StatusOr<std::string> MetadataJson(const PreparedRequest&, const HttpResponse& response) const override {
    return response.body;
  }
  std::optional<PreparedRequest> InputShapeRequest() const override {
    return GetRequest("/v2/models/" + target_model_);
  }
  StatusOr<std::vector<std::int64_t>> ParseInputShape(const HttpResponse& response) const override {
    json j = json::parse(response.body, nullptr, false);
    if (!j.is_object() || !j.contains("inputs") || !j["inputs"].is_array() || j["inputs"].empty() ||
        !j["inputs"][0].is_object()) {
      return InvalidArgumentError("model metadata has no inputs");
    }
    const json shape = j["inputs"][0].value("shape", json::array());
    if (!shape.is_array()) return InvalidArgumentError("model input has no shape");
    std::vector<std::int64_t> out;
    for (const auto& d : shape) {
      if (!d.is_number_integer()) return InvalidArgumentError("model input shape is not integers");
      out.push_back(d.get<std::int64_t>());
    }
    return out;
  }
  void SetImageBytesRank(int rank) override { bytes_rank_ = rank; }
  std::optional<PreparedRequest> StatsRequest() const override {
    return GetRequest("/v2/models/" + target_model_ + "/stats");
  }
  StatusOr<TritonModelCounters> ParseStats(const HttpResponse& response) const override {
    return ParseTritonStats(response.body, target_model_);
  }

  StatusOr<PreparedRequest> Build(std::span<const InputImage* const> images) const override {
    if (images.empty()) return InvalidArgumentError("no images");
    PreparedRequest req;
    req.images = static_cast<int>(images.size());
    req.path = "/v2/models/" + target_model_ + "/infer";
    const auto n = static_cast<std::int64_t>(images.size());
    json header;
    json output = {{"name", kOutputName}};
    if (input_ == TritonInput::kTensorJson) {
      const int s = images[0]->size;
      json data = json::array();
      for (const InputImage* img : images) {
        if (img->size != s) return InvalidArgumentError("images in one batch differ in size");
        for (float v : img->unit_chw) data.push_back(v);
      }
      header["inputs"] = json::array({{{"name", "image"}, {"shape", {n, 3, s, s}}, {"datatype", "FP32"},
                                       {"data", std::move(data)}}});
      header["outputs"] = json::array({output});
      req.content_type = "application/json";
      req.body = header.dump();
      return req;
    }
    std::string binary;
    json input;
    if (input_ == TritonInput::kTensor) {
      const int s = images[0]->size;
      for (const InputImage* img : images) {
        if (img->size != s || img->unit_chw.size() != static_cast<std::size_t>(3 * s * s)) {
          return InvalidArgumentError("image tensor has the wrong size for a " + std::to_string(s) + "px batch");
        }
        AppendFloatsLe(binary, img->unit_chw);
      }
      input = {{"name", "image"}, {"shape", {n, 3, s, s}}, {"datatype", "FP32"}};
    } else {
      for (const InputImage* img : images) {
        AppendLe32(binary, static_cast<std::uint32_t>(img->encoded.size()));
        binary.append(reinterpret_cast<const char*>(img->encoded.data()), img->encoded.size());
      }
      json shape = bytes_rank_ >= 2 ? json{n, 1} : json{n};
      input = {{"name", "image_bytes"}, {"shape", shape}, {"datatype", "BYTES"}};
    }
    input["parameters"] = {{"binary_data_size", binary.size()}};
    output["parameters"] = {{"binary_data", true}};
    header["inputs"] = json::array({input});
    header["outputs"] = json::array({output});
    const std::string head = header.dump();
    req.headers.emplace_back("Inference-Header-Content-Length", std::to_string(head.size()));
    req.content_type = "application/octet-stream";
    req.body.reserve(head.size() + binary.size());
    req.body = head;
    req.body += binary;
    return req;
  }

  StatusOr<Embeddings> Parse(const HttpResponse& response, int expected_rows) const override {
    const std::string& body = response.body;
    std::size_t json_len = body.size();
    if (response.inference_header_length) {
      if (*response.inference_header_length > body.size()) {
        return InvalidArgumentError("Inference-Header-Content-Length exceeds the body");
      }
      json_len = *response.inference_header_length;
    }
    json j = json::parse(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(json_len), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return InvalidArgumentError("response header is not a JSON object");
    auto outs = j.find("outputs");
    if (outs == j.end() || !outs->is_array()) return InvalidArgumentError("response has no outputs");
    std::size_t offset = json_len;
    for (const auto& out : *outs) {
      std::size_t bin_size = 0;
      bool binary = false;
      if (auto p = out.find("parameters"); p != out.end() && p->is_object()) {
        if (auto b = p->find("binary_data_size"); b != p->end() && b->is_number_unsigned()) {
          bin_size = b->get<std::size_t>();
          binary = true;
        }
      }
      if (out.value("name", "") != kOutputName) {
        offset += bin_size;  // binary outputs are laid out in order
        continue;
      }
      if (out.value("datatype", "") != "FP32") return InvalidArgumentError("embedding datatype is not FP32");
      const auto& shape = out.value("shape", json::array());
      if (!shape.is_array() || shape.size() != 2) return InvalidArgumentError("embedding shape is not [N, D]");
      Embeddings e;
      e.rows = shape[0].get<std::int64_t>();
      e.dim = shape[1].get<std::int64_t>();
      if (e.rows != expected_rows || e.dim <= 0) {
        return InvalidArgumentError("expected " + std::to_string(expected_rows) + " embeddings, got shape [" +
                                    std::to_string(e.rows) + "," + std::to_string(e.dim) + "]");
      }
      const auto count = static_cast<std::size_t>(e.rows * e.dim);
      if (binary) {
        if (bin_size != count * 4 || offset + bin_size > body.size()) {
          return InvalidArgumentError("binary embedding size does not match its shape");
        }
        e.values.resize(count);
        std::memcpy(e.values.data(), body.data() + offset, bin_size);
      } else {
        auto data = out.find("data");
        if (data == out.end() || !data->is_array() || data->size() != count) {
          return InvalidArgumentError("embedding data does not match its shape");
        }
        e.values.reserve(count);
        for (const auto& v : *data) e.values.push_back(v.get<float>());
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

std::optional<double> StatNs(const json& stats, const char* key, const char* field) {
  auto it = stats.find(key);
  if (it == stats.end() || !it->is_object()) return std::nullopt;
  auto f = it->find(field);
  if (f == it->end() || !f->is_number()) return std::nullopt;
  return f->get<double>();
}

void Add(std::optional<double>& acc, std::optional<double> v, double scale = 1.0) {
  if (v) acc = acc.value_or(0.0) + *v * scale;
}

}  // namespace

std::unique_ptr<Protocol> MakeKserveProtocol(TritonInput input, std::string model) {
  return std::make_unique<KserveProtocol>(input, model);
}

StatusOr<TritonModelCounters> ParseTritonStats(const std::string& body, const std::string& model) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgumentError("statistics body is not a JSON object");
  auto list = j.find("model_stats");
  if (list == j.end() || !list->is_array()) return InvalidArgumentError("statistics body has no model_stats");
  TritonModelCounters c;
  bool found = false;
  for (const auto& m : *list) {
    if (!m.is_object() || m.value("name", "") != model) continue;
    found = true;
    auto is = m.find("inference_stats");
    if (is == m.end() || !is->is_object()) continue;
    constexpr double kNsToUs = 1e-3;
    Add(c.request_success, StatNs(*is, "success", "count"));
    Add(c.request_failure, StatNs(*is, "fail", "count"));
    Add(c.request_duration_us, StatNs(*is, "success", "ns"), kNsToUs);
    Add(c.queue_duration_us, StatNs(*is, "queue", "ns"), kNsToUs);
    Add(c.compute_input_duration_us, StatNs(*is, "compute_input", "ns"), kNsToUs);
    Add(c.compute_infer_duration_us, StatNs(*is, "compute_infer", "ns"), kNsToUs);
    Add(c.compute_output_duration_us, StatNs(*is, "compute_output", "ns"), kNsToUs);
    if (auto v = m.find("inference_count"); v != m.end() && v->is_number()) Add(c.inference_count, v->get<double>());
    if (auto v = m.find("execution_count"); v != m.end() && v->is_number()) Add(c.exec_count, v->get<double>());
  }
  if (!found) return NotFoundError("statistics have no entry for model '" + model + "'");
  return c;
}

}  // namespace clipserve::bench
