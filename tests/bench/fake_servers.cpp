#include "fake_servers.h"

#include <httplib.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "image/image.h"

namespace clipserve::bench::testing {
namespace {

using nlohmann::json;

std::vector<float> EmbedTensor(const float* chw, std::size_t n) {
  std::vector<float> e(FakeServer::kDim, 0.0f);
  for (std::size_t i = 0; i < n; ++i) e[i % FakeServer::kDim] += chw[i] * static_cast<float>(1 + i % 7);
  double norm = 0;
  for (float v : e) norm += v * v;
  norm = std::sqrt(norm);
  for (float& v : e) v = static_cast<float>(v / norm);
  return e;
}

std::optional<std::vector<float>> EmbedImageBytes(const std::string& bytes, int size) {
  image::PreprocessOptions opt;
  opt.image_size = size;
  auto rgb = image::DecodeAndPrepare(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), opt);
  if (!rgb.ok()) return std::nullopt;
  std::vector<float> chw(static_cast<std::size_t>(3 * size * size));
  image::ToUnitChw(*rgb, chw);
  return EmbedTensor(chw.data(), chw.size());
}

}  // namespace

FakeServer::FakeServer(FakeOptions options) : opt_(std::move(options)) {
  server_ = std::make_unique<httplib::Server>();
  server_->new_task_queue = [] { return new httplib::ThreadPool(64); };
  server_->set_keep_alive_max_count(1u << 30);
  auto gate = [this](httplib::Response& res, bool kserve) {
    const int n = ++requests_;
    if (opt_.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(opt_.delay_ms));
    if (opt_.fail_every > 0 && n % opt_.fail_every == 0) {
      ++failures_;
      res.status = 503;
      res.set_content(kserve ? R"({"error":"busy"})" : R"({"detail":"busy"})", "application/json");
      return false;
    }
    return true;
  };
  if (!opt_.kserve) {
    server_->Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content(R"({"status":"ok"})", "application/json"); });
    server_->Get("/model-info", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"model_name":"fake","pretrained":"none","device":"cpu","embedding_dim":16})", "application/json");
    });
    auto reply = [this](const std::vector<std::string>& images, httplib::Response& res) {
      json embs = json::array();
      for (std::size_t i = 0; i < images.size(); ++i) {
        auto e = EmbedImageBytes(images[i], opt_.image_size);
        if (!e) {
          res.status = 400;
          res.set_content(json({{"detail", "image " + std::to_string(i) + " is not decodable"}}).dump(), "application/json");
          return;
        }
        embs.push_back(*e);
      }
      images_ += static_cast<int>(images.size());
      res.set_content(json({{"embeddings", embs}, {"model_info", json::object()}, {"count", images.size()}}).dump(), "application/json");
    };
    server_->Post("/embed/base64", [this, gate, reply](const httplib::Request& req, httplib::Response& res) {
      if (!gate(res, false)) return;
      json j = json::parse(req.body, nullptr, false);
      if (!j.is_object() || !j.contains("images")) {
        res.status = 422;
        return;
      }
      std::vector<std::string> images;
      for (const auto& s : j["images"]) {
        // Bad base64 leaves the image empty: "not decodable", as bad bytes are.
        auto bytes = DecodeBase64(s.get<std::string>());
        images.push_back(bytes.ok() ? std::string(bytes->begin(), bytes->end()) : std::string());
      }
      reply(images, res);
    });
    server_->Post("/embed/batch", [gate, reply](const httplib::Request& req, httplib::Response& res) {
      if (!gate(res, false)) return;
      std::vector<std::string> images;
      for (auto it = req.files.find("files"); it != req.files.end() && it->first == "files"; ++it) images.push_back(it->second.content);
      reply(images, res);
    });
  } else {
    const std::string m = opt_.model;
    server_->Get("/v2/health/live", [](const httplib::Request&, httplib::Response&) {});
    server_->Get("/v2/health/ready", [](const httplib::Request&, httplib::Response&) {});
    server_->Get("/v2", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"name":"fake-triton","version":"0.0.1","extensions":["binary_tensor_data","statistics"]})", "application/json");
    });
    server_->Get("/v2/models/" + m + "_image", [m](const httplib::Request&, httplib::Response& res) {
      res.set_content(json({{"name", m + "_image"}, {"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {-1, 1}}}}}}).dump(), "application/json");
    });
    auto stats = [this](const std::string& name) {
      return [this, name](const httplib::Request&, httplib::Response& res) {
        json s = {{"name", name}, {"version", "1"}, {"inference_count", images_.load()}, {"execution_count", executions_.load()},
                  {"inference_stats", {{"success", {{"count", requests_.load() - failures_.load()}, {"ns", infer_ns_.load() + queue_ns_.load()}}},
                                       {"fail", {{"count", failures_.load()}, {"ns", 0}}},
                                       {"queue", {{"count", requests_.load()}, {"ns", queue_ns_.load()}}},
                                       {"compute_input", {{"count", executions_.load()}, {"ns", 1000 * executions_.load()}}},
                                       {"compute_infer", {{"count", executions_.load()}, {"ns", infer_ns_.load()}}},
                                       {"compute_output", {{"count", executions_.load()}, {"ns", 500 * executions_.load()}}}}}};
        res.set_content(json({{"model_stats", {s}}}).dump(), "application/json");
      };
    };
    server_->Get("/v2/models/" + m + "/stats", stats(m));
    server_->Get("/v2/models/" + m + "_image/stats", stats(m + "_image"));
    auto infer = [this, gate](bool bytes_model) {
      return [this, gate, bytes_model](const httplib::Request& req, httplib::Response& res) {
        if (!gate(res, true)) return;
        std::size_t hlen = req.body.size();
        if (req.has_header("Inference-Header-Content-Length")) hlen = std::stoul(req.get_header_value("Inference-Header-Content-Length"));
        json h = json::parse(req.body.substr(0, hlen), nullptr, false);
        const json& in = h["inputs"][0];
        const auto n = in["shape"][0].get<std::size_t>();
        std::vector<std::vector<float>> embs;
        const std::size_t per = static_cast<std::size_t>(3 * opt_.image_size * opt_.image_size);
        if (bytes_model) {
          std::size_t off = hlen;
          for (std::size_t i = 0; i < n; ++i) {
            std::uint32_t len = 0;
            std::memcpy(&len, req.body.data() + off, 4);
            auto e = EmbedImageBytes(req.body.substr(off + 4, len), opt_.image_size);
            off += 4 + len;
            if (!e) {
              res.status = 400;
              return;
            }
            embs.push_back(*e);
          }
        } else if (in.contains("data")) {
          std::vector<float> flat = in["data"].get<std::vector<float>>();
          for (std::size_t i = 0; i < n; ++i) embs.push_back(EmbedTensor(flat.data() + i * per, per));
        } else {
          if (in["parameters"]["binary_data_size"].get<std::size_t>() != n * per * 4 || req.body.size() != hlen + n * per * 4) {
            res.status = 400;
            res.set_content(R"({"error":"unexpected binary size"})", "application/json");
            return;
          }
          std::vector<float> flat(n * per);
          std::memcpy(flat.data(), req.body.data() + hlen, n * per * 4);
          for (std::size_t i = 0; i < n; ++i) embs.push_back(EmbedTensor(flat.data() + i * per, per));
        }
        images_ += static_cast<int>(n);
        ++executions_;
        queue_ns_ += 20000;
        infer_ns_ += 100000 * static_cast<long long>(n);
        const bool binary = h["outputs"][0].contains("parameters") && h["outputs"][0]["parameters"].value("binary_data", false);
        json out = {{"name", "embedding"}, {"datatype", "FP32"}, {"shape", {n, FakeServer::kDim}}};
        std::string bin;
        for (const auto& e : embs) bin.append(reinterpret_cast<const char*>(e.data()), e.size() * 4);
        if (binary) {
          out["parameters"] = {{"binary_data_size", bin.size()}};
          const std::string head = json({{"model_name", "m"}, {"outputs", {out}}}).dump();
          res.set_header("Inference-Header-Content-Length", std::to_string(head.size()));
          res.set_content(head + bin, "application/octet-stream");
        } else {
          json flat = json::array();
          for (const auto& e : embs) for (float v : e) flat.push_back(v);
          out["data"] = flat;
          res.set_content(json({{"outputs", {out}}}).dump(), "application/json");
        }
      };
    };
    server_->Post("/v2/models/" + m + "/infer", infer(false));
    server_->Post("/v2/models/" + m + "_image/infer", infer(true));
    if (opt_.metrics) {
      metrics_server_ = std::make_unique<httplib::Server>();
      metrics_server_->Get("/metrics", [this, m](const httplib::Request&, httplib::Response& res) {
        std::string t = "# HELP nv_inference_request_success Number of successful inference requests\n"
                        "# TYPE nv_inference_request_success counter\n";
        for (const std::string& name : {m, m + "_image"}) {
          const std::string l = "{model=\"" + name + "\",version=\"1\"} ";
          t += "nv_inference_request_success" + l + std::to_string(requests_.load() - failures_.load()) + "\n";
          t += "nv_inference_request_failure" + l + std::to_string(failures_.load()) + "\n";
          t += "nv_inference_count" + l + std::to_string(images_.load()) + "\n";
          t += "nv_inference_exec_count" + l + std::to_string(executions_.load()) + "\n";
          t += "nv_inference_queue_duration_us" + l + std::to_string(queue_ns_.load() / 1000) + "\n";
          t += "nv_inference_compute_input_duration_us" + l + std::to_string(executions_.load()) + "\n";
          t += "nv_inference_compute_infer_duration_us" + l + std::to_string(infer_ns_.load() / 1000) + "\n";
          t += "nv_inference_compute_output_duration_us" + l + std::to_string(executions_.load() / 2) + "\n";
        }
        res.set_content(t, "text/plain; version=0.0.4");
      });
      metrics_port_ = metrics_server_->bind_to_any_port("127.0.0.1");
      metrics_thread_ = std::thread([this] { metrics_server_->listen_after_bind(); });
    }
  }
  port_ = server_->bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running() || (metrics_server_ && !metrics_server_->is_running())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void FakeServer::Stop() {
  if (server_) server_->stop();
  if (metrics_server_) metrics_server_->stop();
  if (thread_.joinable()) thread_.join();
  if (metrics_thread_.joinable()) metrics_thread_.join();
}

FakeServer::~FakeServer() { Stop(); }

}  // namespace clipserve::bench::testing
