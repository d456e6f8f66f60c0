// clip-server-load: a small closed-loop load generator for clip-server
// (docs/perf/server.md). N client threads, each with one keep-alive
// connection, send single-image requests back to back; per request it keeps
// the client latency and the server's Server-Timing split, and prints
// throughput, latency percentiles and the server overhead
// (latency - compute, i.e. everything but the batch's engine time).
#include <CLI/CLI.hpp>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/base64.h"
#include "image/image.h"

namespace {

struct Sample {
  double latency_ms = 0;
  double queue_ms = 0;
  double preprocess_ms = 0;
  double compute_ms = 0;
};

double TimingOf(const std::string& header, const std::string& name) {
  const auto pos = header.find(name + ";dur=");
  return pos == std::string::npos ? 0.0 : std::stod(header.substr(pos + name.size() + 5));
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"clip-server-load: closed-loop single-image load against clip-server"};
  std::string host = "127.0.0.1";
  int port = 8003;
  std::string mode = "v2-image";
  std::string image_path;
  std::string model = "openclip_vit_b32";
  int concurrency = 16;
  int requests = 200;
  int warmup = 10;
  int image_size = 224;
  app.add_option("--host", host, "Server address (default 127.0.0.1)");
  app.add_option("--port", port, "Server port (default 8003)");
  app.add_option("--mode", mode, "v2-image | v2-tensor | rest (default v2-image)")
      ->check(CLI::IsMember({"v2-image", "v2-tensor", "rest"}));
  app.add_option("--image", image_path, "Encoded image file (JPEG/PNG/WebP)")->required();
  app.add_option("--model-name", model, "KServe model name (default openclip_vit_b32)");
  app.add_option("--concurrency", concurrency, "Client threads, one connection each (default 16)");
  app.add_option("--requests", requests, "Timed requests in total (default 200)");
  app.add_option("--warmup", warmup, "Untimed requests first, per thread (default 10)");
  app.add_option("--image-size", image_size, "Model input size for v2-tensor (default 224)");
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(image_path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string encoded = ss.str();
  if (encoded.empty()) {
    std::fprintf(stderr, "cannot read %s\n", image_path.c_str());
    return 2;
  }

  std::string path, body, content_type = "application/json";
  httplib::Headers headers;
  if (mode == "rest") {
    path = "/embed/base64";
    body = "{\"images\":[\"" + clipserve::EncodeBase64(encoded) + "\"]}";
  } else if (mode == "v2-image") {
    path = "/v2/models/" + model + "_image/infer";
    std::string tail(4, '\0');
    const auto n = static_cast<std::uint32_t>(encoded.size());
    for (int i = 0; i < 4; ++i) tail[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
    tail += encoded;
    const std::string json = "{\"inputs\":[{\"name\":\"image_bytes\",\"datatype\":\"BYTES\",\"shape\":[1],"
                             "\"parameters\":{\"binary_data_size\":" + std::to_string(tail.size()) +
                             "}}],\"outputs\":[{\"name\":\"embedding\",\"parameters\":{\"binary_data\":true}}]}";
    headers = {{"Inference-Header-Content-Length", std::to_string(json.size())}};
    body = json + tail;
    content_type = "application/octet-stream";
  } else {
    path = "/v2/models/" + model + "/infer";
    clipserve::image::PreprocessOptions po;
    po.image_size = image_size;
    auto img = clipserve::image::DecodeAndPrepare(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(encoded.data()), encoded.size()), po);
    if (!img.ok()) {
      std::fprintf(stderr, "%s\n", img.status().ToString().c_str());
      return 2;
    }
    std::vector<float> px(3ull * image_size * image_size);
    clipserve::image::ToUnitChw(*img, px);
    const std::string s = std::to_string(image_size);
    const std::string json = "{\"inputs\":[{\"name\":\"image\",\"datatype\":\"FP32\",\"shape\":[1,3," + s + "," + s +
                             "],\"parameters\":{\"binary_data_size\":" + std::to_string(px.size() * 4) +
                             "}}],\"outputs\":[{\"name\":\"embedding\",\"parameters\":{\"binary_data\":true}}]}";
    headers = {{"Inference-Header-Content-Length", std::to_string(json.size())}};
    body = json + std::string(reinterpret_cast<const char*>(px.data()), px.size() * 4);
    content_type = "application/octet-stream";
  }

  std::atomic<int> next{0};
  std::atomic<int> errors{0};
  std::mutex mu;
  std::vector<Sample> samples;
  std::atomic<int> warmed{0};
  auto worker = [&] {
    httplib::Client c(host, port);
    c.set_keep_alive(true);
    c.set_tcp_nodelay(true);  // else Nagle + delayed ACK add ~40 ms to every request
    c.set_read_timeout(120, 0);
    for (int i = 0; i < warmup; ++i) (void)c.Post(path, headers, body, content_type);
    warmed.fetch_add(1);
    while (warmed.load() < concurrency) std::this_thread::yield();
    std::vector<Sample> mine;
    while (next.fetch_add(1) < requests) {
      const auto t0 = std::chrono::steady_clock::now();
      auto res = c.Post(path, headers, body, content_type);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!res || res->status != 200) {
        errors.fetch_add(1);
        continue;
      }
      const std::string timing = res->get_header_value("Server-Timing");
      mine.push_back({ms, TimingOf(timing, "queue"), TimingOf(timing, "preprocess"), TimingOf(timing, "compute")});
    }
    std::lock_guard lock(mu);
    samples.insert(samples.end(), mine.begin(), mine.end());
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < concurrency; ++i) threads.emplace_back(worker);
  while (warmed.load() < concurrency) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& t : threads) t.join();
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<double> lat, overhead, overhead_no_pre, queue;
  for (const auto& s : samples) {
    lat.push_back(s.latency_ms);
    overhead.push_back(s.latency_ms - s.compute_ms);
    overhead_no_pre.push_back(s.latency_ms - s.compute_ms - s.preprocess_ms - s.queue_ms);
    queue.push_back(s.queue_ms);
  }
  std::printf("mode=%s concurrency=%d requests=%zu errors=%d wall=%.2fs throughput=%.2f req/s\n", mode.c_str(),
              concurrency, samples.size(), errors.load(), wall_s, samples.size() / wall_s);
  std::printf("latency_ms p50=%.2f p90=%.2f p99=%.2f max=%.2f\n", Percentile(lat, 0.5), Percentile(lat, 0.9),
              Percentile(lat, 0.99), Percentile(lat, 1.0));
  std::printf("queue_ms p50=%.2f p99=%.2f\n", Percentile(queue, 0.5), Percentile(queue, 0.99));
  std::printf("overhead_ms (latency - compute) p50=%.2f p99=%.2f\n", Percentile(overhead, 0.5), Percentile(overhead, 0.99));
  std::printf("overhead_ms (latency - compute - preprocess - queue) p50=%.2f p99=%.2f\n", Percentile(overhead_no_pre, 0.5),
              Percentile(overhead_no_pre, 0.99));
  return errors.load() == 0 ? 0 : 1;
}
