// REST personality (the original FastAPI service's API, DESIGN §3).
#include <nlohmann/json.hpp>

#include "bench/protocol.h"
#include "common/base64.h"

namespace clipserve::bench {

namespace {

class RestProtocol final : public Protocol {
 public:
  explicit RestProtocol(PytorchInput input) : input_(input) {}

  std::string Describe() const override {
    return input_ == PytorchInput::kBase64 ? "rest/base64-json" : "rest/multipart";
  }
  Transport transport() const override { return Transport::kHttp; }
  PreparedRequest HealthRequest(Health) const override { return GetRequest("/health"); }
  bool HealthYes(Health, const HttpResponse&) const override { return true; }
  std::vector<PreparedRequest> MetadataRequests() const override {
    return {GetRequest("/model-info"), GetRequest("/gpu-info")};
  }
  StatusOr<std::string> MetadataJson(const PreparedRequest&, const HttpResponse& response) const override {
    return response.body;
  }

  StatusOr<PreparedRequest> Build(std::span<const InputImage* const> images) const override {
    PreparedRequest req;
    req.images = static_cast<int>(images.size());
    if (input_ == PytorchInput::kBase64) {
      req.path = "/embed/base64";
      req.content_type = "application/json";
      std::string body = "{\"images\":[";
      for (std::size_t i = 0; i < images.size(); ++i) {
        if (i) body += ',';
        body += '"';
        body += EncodeBase64(images[i]->encoded);
        body += '"';
      }
      body += "]}";
      req.body = std::move(body);
      return req;
    }
    // multipart/form-data with the field `files` repeated, like FastAPI's List[UploadFile].
    static constexpr std::string_view kBoundary = "clipserve-bench-7f3a9c1e5b2d";
    req.path = "/embed/batch";
    req.content_type = "multipart/form-data; boundary=" + std::string(kBoundary);
    std::string body;
    for (std::size_t i = 0; i < images.size(); ++i) {
      body += "--";
      body += kBoundary;
      body += "\r\nContent-Disposition: form-data; name=\"files\"; filename=\"";
      body += images[i]->name.empty() ? "image_" + std::to_string(i) + ".jpg" : images[i]->name;
      body += "\"\r\nContent-Type: " + images[i]->mime + "\r\n\r\n";
      body.append(reinterpret_cast<const char*>(images[i]->encoded.data()), images[i]->encoded.size());
      body += "\r\n";
    }
    body += "--";
    body += kBoundary;
    body += "--\r\n";
    req.body = std::move(body);
    return req;
  }

  StatusOr<Embeddings> Parse(const HttpResponse& response, int expected_rows) const override {
    nlohmann::json j = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return InvalidArgumentError("response is not a JSON object");
    auto it = j.find("embeddings");
    if (it == j.end() || !it->is_array()) return InvalidArgumentError("response has no \"embeddings\" array");
    Embeddings e;
    e.rows = static_cast<std::int64_t>(it->size());
    if (e.rows != expected_rows) {
      return InvalidArgumentError("expected " + std::to_string(expected_rows) + " embeddings, got " +
                                  std::to_string(e.rows));
    }
    for (const auto& row : *it) {
      if (!row.is_array() || row.empty()) return InvalidArgumentError("embedding row is not a numeric array");
      if (e.dim == 0) e.dim = static_cast<std::int64_t>(row.size());
      if (static_cast<std::int64_t>(row.size()) != e.dim) return InvalidArgumentError("embedding rows differ in length");
      for (const auto& v : row) {
        if (!v.is_number()) return InvalidArgumentError("embedding value is not a number");
        e.values.push_back(v.get<float>());
      }
    }
    return e;
  }

 private:
  PytorchInput input_;
};

}  // namespace

std::unique_ptr<Protocol> MakeRestProtocol(PytorchInput input) { return std::make_unique<RestProtocol>(input); }

}  // namespace clipserve::bench
