// In-process server for adapter tests: the real ClipServer (real HTTP on
// loopback ephemeral ports, real batchers, real image pipeline) over
// FakeEngine instances. The destructor is the scope guard that stops it.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/fake_engine.h"
#include "image/image.h"
#include "server/clip_server.h"

namespace clipserve::server::testing {

inline constexpr int kFakeImageSize = 8;
inline constexpr int kFakeEmbedDim = 4;

class ServerFixture {
 public:
  explicit ServerFixture(const std::function<void(ServerConfig&)>& tweak = {}, bool load = true) {
    config_.rest_port = 0;
    config_.http_port = 0;
    config_.grpc_port = 0;
    config_.metrics_port = 0;
    config_.access_log = false;
    config_.http_threads = 16;
    config_.background_warmup = false;
    config_.warmup_batch_sizes = {1};  // the engine sees batch 1 once, then only what a test sends
    if (tweak) tweak(config_);
    auto options = config_.ToServiceOptions();
    if (!options.ok()) throw std::runtime_error(options.status().ToString());
    ServerHooks hooks;
    hooks.engine_factory = [this](int, int) -> StatusOr<std::unique_ptr<engine::Engine>> {
      auto e = std::make_unique<engine::FakeEngine>(kFakeImageSize, kFakeEmbedDim);
      std::lock_guard lock(mu_);
      engines_.push_back(e.get());
      return std::unique_ptr<engine::Engine>(std::move(e));
    };
    hooks.device_facts = [] {
      engine::DeviceFacts f;
      f.torch_version = "fake";
      return f;
    };
    server_ = std::make_unique<ClipServer>(config_, std::move(*options), std::move(hooks));
    Status st = server_->Start();
    if (!st.ok()) throw std::runtime_error(st.ToString());
    if (load) Load();
  }

  void Load() {
    Status st = server_->LoadModel();
    if (!st.ok()) throw std::runtime_error(st.ToString());
  }

  ClipServer& server() { return *server_; }
  const ServerConfig& config() const { return config_; }
  engine::FakeEngine* engine(size_t i = 0) {
    std::lock_guard lock(mu_);
    return i < engines_.size() ? engines_[i] : nullptr;
  }

  std::unique_ptr<httplib::Client> Rest() { return Client(server_->rest_port()); }
  std::unique_ptr<httplib::Client> Kserve() { return Client(server_->http_port()); }
  std::unique_ptr<httplib::Client> Metrics() { return Client(server_->metrics_port()); }

  // The embedding FakeEngine gives an encoded image through the real pipeline.
  static std::vector<float> ExpectedEmbedding(std::string_view encoded);
  // The [0,1] CHW pixels the pipeline makes of an encoded image.
  static std::vector<float> UnitPixels(std::string_view encoded);

 private:
  static std::unique_ptr<httplib::Client> Client(int port) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
    c->set_read_timeout(30, 0);
    c->set_connection_timeout(5, 0);
    return c;
  }

  ServerConfig config_;
  std::mutex mu_;
  std::vector<engine::FakeEngine*> engines_;  // owned by the server
  std::unique_ptr<ClipServer> server_;
};

inline std::vector<float> ServerFixture::UnitPixels(std::string_view encoded) {
  image::PreprocessOptions po;
  po.image_size = kFakeImageSize;
  auto img = image::DecodeAndPrepare(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(encoded.data()), encoded.size()), po);
  if (!img.ok()) throw std::runtime_error(img.status().ToString());
  std::vector<float> pixels(3 * kFakeImageSize * kFakeImageSize);
  image::ToUnitChw(*img, pixels);
  return pixels;
}

inline std::vector<float> ServerFixture::ExpectedEmbedding(std::string_view encoded) {
  auto pixels = UnitPixels(encoded);
  engine::FakeEngine e(kFakeImageSize, kFakeEmbedDim);
  std::vector<float> out(kFakeEmbedDim);
  if (!e.Embed(pixels, 1, out).ok()) throw std::runtime_error("FakeEngine failed");
  return out;
}

}  // namespace clipserve::server::testing
