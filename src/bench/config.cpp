#include "bench/config.h"

#include <charconv>
#include <ctime>
#include <sstream>

namespace clipserve::bench {

void ResolveDefaults(BenchConfig& config) {
  if (!config.output.empty()) return;
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "benchmark_results/benchmark_results_%Y%m%d_%H%M%S.json", &tm);
  config.output = buf;
}

StatusOr<std::vector<int>> ParseBatchSizes(const std::string& csv) {
  std::vector<int> out;
  std::stringstream ss(csv);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(' ');
    const auto e = item.find_last_not_of(' ');
    if (b == std::string::npos) continue;
    item = item.substr(b, e - b + 1);
    int v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || p != item.data() + item.size() || v <= 0) {
      return InvalidArgumentError("--batch-sizes: '" + item + "' is not a positive integer");
    }
    out.push_back(v);
  }
  if (out.empty()) return InvalidArgumentError("--batch-sizes: no batch size given");
  return out;
}

StatusOr<PytorchInput> ParsePytorchInput(const std::string& s) {
  if (s == "base64") return PytorchInput::kBase64;
  if (s == "multipart") return PytorchInput::kMultipart;
  return InvalidArgumentError("--pytorch-input must be base64 or multipart, not '" + s + "'");
}

StatusOr<TritonInput> ParseTritonInput(const std::string& s) {
  if (s == "tensor") return TritonInput::kTensor;
  if (s == "tensor-json") return TritonInput::kTensorJson;
  if (s == "image-bytes") return TritonInput::kImageBytes;
  return InvalidArgumentError("--triton-input must be tensor, tensor-json or image-bytes, not '" + s + "'");
}

StatusOr<Arrival> ParseArrival(const std::string& s) {
  if (s == "poisson") return Arrival::kPoisson;
  if (s == "constant") return Arrival::kConstant;
  return InvalidArgumentError("--arrival must be poisson or constant, not '" + s + "'");
}

StatusOr<std::vector<Transport>> ParseProtocols(const std::string& csv) {
  std::vector<Transport> out;
  std::stringstream ss(csv);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    auto t = ParseTransport(item);
    if (!t.ok()) return InvalidArgumentError("--protocols: " + t.status().message());
    for (Transport seen : out) {
      if (seen == *t) return InvalidArgumentError("--protocols: '" + item + "' given twice");
    }
    out.push_back(*t);
  }
  if (out.empty()) return InvalidArgumentError("--protocols: no protocol given (http,grpc)");
  return out;
}

std::vector<std::string> SelectedBackends(const BenchConfig& config) {
  if (config.backend == "both") return {"triton", "pytorch"};
  return {config.backend};
}

Status ValidateConfig(const BenchConfig& c) {
  if (c.backend != "pytorch" && c.backend != "triton" && c.backend != "both") {
    return InvalidArgumentError("--backend must be pytorch, triton or both, not '" + c.backend + "'");
  }
  if (c.iterations < 1) return InvalidArgumentError("--iterations must be at least 1");
  if (c.warmup < 0) return InvalidArgumentError("--warmup must be >= 0");
  if (c.concurrency < 1) return InvalidArgumentError("--concurrency must be at least 1");
  if (c.concurrent_requests < 0) return InvalidArgumentError("--concurrent-requests must be >= 0");
  if (c.timeout_s <= 0) return InvalidArgumentError("--timeout must be positive (seconds)");
  if (c.request_rate < 0) return InvalidArgumentError("--request-rate must be >= 0 (requests/s)");
  if (c.request_rate > 0 && c.duration_s <= 0) return InvalidArgumentError("--duration must be positive (seconds)");
  if (c.price_per_hour < 0) return InvalidArgumentError("--price-per-hour must be >= 0 (USD)");
  if (c.image_size < 8) return InvalidArgumentError("--image-size must be at least 8");
  if (c.open_loop_workers < 1) return InvalidArgumentError("--open-loop-workers must be at least 1");
  if (c.client_threads < 1) return InvalidArgumentError("--client-threads must be at least 1");
  if (c.image_pool < 1) return InvalidArgumentError("--image-pool must be at least 1");
  if (c.probe_images < 0) return InvalidArgumentError("--probe-images must be >= 0");
  auto bs = ParseBatchSizes(c.batch_sizes);
  if (!bs.ok()) return bs.status();
  RETURN_IF_ERROR(ParsePytorchInput(c.pytorch_input).status());
  RETURN_IF_ERROR(ParseTritonInput(c.triton_input).status());
  RETURN_IF_ERROR(ParseArrival(c.arrival).status());
  if (auto t = ParseTransport(c.triton_protocol); !t.ok()) {
    return InvalidArgumentError("--triton-protocol: " + t.status().message());
  }
  if (!c.protocols.empty()) {
    RETURN_IF_ERROR(ParseProtocols(c.protocols).status());
    if (c.backend == "pytorch") {
      return InvalidArgumentError("--protocols compares the triton backend's protocols; it cannot run with --backend pytorch");
    }
  }
  return Status::Ok();
}

}  // namespace clipserve::bench
