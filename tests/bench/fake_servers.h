// In-process stand-ins for clip-server's two personalities, for tests of
// the runner's logic: real HTTP on loopback ephemeral ports, protocol-exact
// requests checked, embeddings computed from the preprocessed image so the
// REST and tensor paths agree exactly when the runner preprocesses right.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace httplib { class Server; }

namespace clipserve::bench::testing {

struct FakeOptions {
  bool kserve = false;              // false: REST personality
  std::string model = "openclip_vit_b32";
  int image_size = 32;
  int fail_every = 0;               // every Nth embed request answers 503 (0: never)
  int delay_ms = 0;                 // per embed request
  bool metrics = true;              // kserve: serve /metrics on a second port
};

class FakeServer {
 public:
  explicit FakeServer(FakeOptions options);
  ~FakeServer();
  void Stop();
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string metrics_url() const { return "http://127.0.0.1:" + std::to_string(metrics_port_) + "/metrics"; }
  int embed_requests() const { return requests_.load(); }
  int images_seen() const { return images_.load(); }

  static constexpr int kDim = 16;

 private:
  FakeOptions opt_;
  std::unique_ptr<httplib::Server> server_, metrics_server_;
  std::thread thread_, metrics_thread_;
  int port_ = 0, metrics_port_ = 0;
  std::atomic<int> requests_{0}, images_{0}, executions_{0}, failures_{0};
  std::atomic<long long> queue_ns_{0}, infer_ns_{0};
};

}  // namespace clipserve::bench::testing
