// One config struct for benchmark_backends, filled by CLI11 in the app and
// validated once here. Field names follow the original script's flags.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/load.h"
#include "bench/protocol.h"
#include "common/status.h"

namespace clipserve::bench {

struct BenchConfig {
  // The original's flags.
  std::string backend = "both";  // pytorch | triton | both
  std::string pytorch_url = "http://localhost:8002";
  std::string triton_url = "http://localhost:8003";
  std::string triton_metrics_url = "http://localhost:8005/metrics";
  int iterations = 20;
  std::string batch_sizes = "1,4,8,16,32";
  int concurrency = 8;
  int concurrent_requests = 50;
  std::string output;  // default filled by ResolveDefaults

  // Ours.
  int warmup = 3;
  std::string triton_model = "openclip_vit_b32";
  std::string triton_protocol = "http";    // http | grpc (perf_analyzer's -i)
  std::string triton_grpc_url = "localhost:8004";
  // "http,grpc": the protocol comparison — the triton backend over each
  // protocol, with FP32 tensors and with JPEG bytes, against one server.
  std::string protocols;
  std::string triton_input = "tensor";     // tensor | tensor-json | image-bytes
  std::string pytorch_input = "base64";    // base64 | multipart
  std::string images_dir;                  // empty: synthetic images
  std::uint64_t seed = 42;
  int image_size = 224;
  int jpeg_quality = 95;
  std::string server_cmd;                  // launched per backend for a real cold start
  std::string server_log;                  // where the launched server's output goes
  double server_ready_timeout_s = 300;
  double request_rate = 0;                 // open loop off when 0
  double duration_s = 10;
  std::string arrival = "poisson";         // poisson | constant
  double late_threshold_ms = 1.0;
  int open_loop_workers = 64;              // open loop: connections opened before timing = max in flight
  int client_threads = 1;                  // I/O threads of the asynchronous client (loaded phases)
  std::string parity_reference;            // OTHER.json
  double price_per_hour = 0;               // USD; 0 = no cost estimate
  double timeout_s = 60;
  // Sent as "Authorization: Bearer <key>" to every server (clip-server
  // --api-key); from --api-key or CLIP_API_KEY. Not written to the results.
  std::string api_key;
  int probe_images = 4;
  int image_pool = 32;                     // distinct images requests cycle through
  bool progress = true;                    // stderr progress line when it is a TTY
};

// Fills `output` with benchmark_results/benchmark_results_YYYYmmdd_HHMMSS.json
// when empty (local time, like the original).
void ResolveDefaults(BenchConfig& config);

// Rejects impossible combinations with a message naming the flag.
Status ValidateConfig(const BenchConfig& config);

StatusOr<std::vector<int>> ParseBatchSizes(const std::string& csv);
StatusOr<PytorchInput> ParsePytorchInput(const std::string& s);
StatusOr<TritonInput> ParseTritonInput(const std::string& s);
StatusOr<Arrival> ParseArrival(const std::string& s);
// "http,grpc" -> {kHttp, kGrpc}; each once.
StatusOr<std::vector<Transport>> ParseProtocols(const std::string& csv);

// Backends the run covers, in the order they run ("triton" first, like the checklist).
std::vector<std::string> SelectedBackends(const BenchConfig& config);

}  // namespace clipserve::bench
