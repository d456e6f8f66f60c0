// clip-server: CLIP image embeddings over HTTP, REST and KServe v2
// personalities on one engine. A thin main: flags -> ServerConfig ->
// ClipServer; signals -> drain.
//
// Stdout carries two parseable lines for scripts and tests:
//   clip-server: listening rest=HOST:PORT http=HOST:PORT metrics=HOST:PORT
//   clip-server: ready in N ms
// Everything else (access log, diagnostics) goes to stderr.

#include <CLI/CLI.hpp>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "server/clip_server.h"

namespace {

using clipserve::Status;
using clipserve::server::ServerConfig;
namespace engine = clipserve::engine;

const auto kProcessStart = std::chrono::steady_clock::now();

long long MsSinceStart() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - kProcessStart).count();
}

bool ParseOnOff(const std::string& v) { return v == "on" || v == "true" || v == "1" || v == "yes"; }

struct Flags {
  ServerConfig config;
  std::vector<std::string> apis = {"rest", "kserve"};
  std::string precision = "auto";
  std::string device = "cpu";
  std::string engine_kind = "torch";
  std::string rest_batching = "off";
  std::string kserve_batching = "on";
  std::string background_warmup = "off";
  std::string access_log = "on";
  std::string api_key_file;
};

void AddFlags(CLI::App& app, Flags& f) {
  auto& c = f.config;
  auto env = [](const char* name) { return std::string("CLIP_SERVER_") + name; };
  auto on_off = CLI::IsMember({"on", "off", "true", "false", "1", "0", "yes", "no"});

  app.add_option("--api", f.apis, "Personalities to serve: rest, kserve (default: both)")
      ->delimiter(',')->check(CLI::IsMember({"rest", "kserve"}))->envname(env("API"));
  app.add_option("--host", c.host, "Address to bind (default 127.0.0.1: loopback only)")->envname(env("HOST"));
  app.add_option("--rest-port", c.rest_port, "REST port; 0 = ephemeral (default 8002)")->envname(env("REST_PORT"));
  app.add_option("--http-port", c.http_port, "KServe v2 HTTP port; 0 = ephemeral (default 8003)")->envname(env("HTTP_PORT"));
  app.add_option("--grpc-port", c.grpc_port,
                 "KServe v2 gRPC port (with --api kserve); 0 = ephemeral, -1 = off (default 8004)")
      ->envname(env("GRPC_PORT"));
  app.add_option("--metrics-port", c.metrics_port, "Prometheus /metrics port; 0 = ephemeral, -1 = off (default 8005)")
      ->envname(env("METRICS_PORT"));

  auto& e = c.engine;
  app.add_option("--model", e.model, "Built-in ViT config name (default ViT-B-32; test-tiny for tests)")->envname(env("MODEL"));
  app.add_option("--config", e.config_path, "open_clip JSON model config; overrides --model")->envname(env("CONFIG"));
  app.add_option("--weights", e.weights, "Weights file (.safetensors / .bin) or random:SEED (default random:0)")
      ->envname(env("WEIGHTS"));
  app.add_flag("--quick-gelu", e.quick_gelu, "Use QuickGELU (OpenAI weights)")->envname(env("QUICK_GELU"));
  app.add_option("--precision", f.precision,
                 "auto | fp32 | bf16 | fp16 (default auto: bf16 on a CPU with native bf16, else fp32; fp16 on CUDA)")
      ->envname(env("PRECISION"));
  app.add_option("--device", f.device, "cpu | cuda | cuda:N (default cpu)")->envname(env("DEVICE"));
  app.add_option("--engine", f.engine_kind,
                 "torch | null (default torch; null: no model, a fixed unit vector per image, to measure the server "
                 "itself, like Triton's identity backend)")
      ->check(CLI::IsMember({"torch", "null"}))->envname(env("ENGINE"));
  app.add_option("--threads", e.threads, "Intra-op threads in total, split over instances; 0 = all cores (default 0)")
      ->envname(env("THREADS"));
  app.add_option("--model-name", c.model_name, "KServe model name; the image model adds _image (default openclip_vit_b32)")
      ->envname(env("MODEL_NAME"));

  app.add_option("--max-batch-size", c.max_batch_size, "Largest engine batch, images (default 32)")->envname(env("MAX_BATCH_SIZE"));
  app.add_option("--preferred-batch-size", c.preferred_batch_sizes, "Preferred batch sizes, comma list (default none)")
      ->delimiter(',')->envname(env("PREFERRED_BATCH_SIZE"));
  app.add_option("--max-queue-delay-us", c.max_queue_delay_us, "Dynamic batching delay, microseconds (default 0)")
      ->envname(env("MAX_QUEUE_DELAY_US"));
  app.add_option("--max-queue-size", c.max_queue_size, "Queued requests before rejecting; 0 = unbounded (default 0)")
      ->envname(env("MAX_QUEUE_SIZE"));
  app.add_option("--queue-timeout-us", c.queue_timeout_us, "Queue timeout per request, microseconds; 0 = none (default 0)")
      ->envname(env("QUEUE_TIMEOUT_US"));
  app.add_option("--instance-count", c.instance_count, "Engine instances (default 1)")->envname(env("INSTANCE_COUNT"));
  app.add_option("--dynamic-batching-rest", f.rest_batching, "Batch REST requests together: on|off (default off)")
      ->check(on_off)->envname(env("DYNAMIC_BATCHING_REST"));
  app.add_option("--dynamic-batching-kserve", f.kserve_batching, "Batch KServe requests together: on|off (default on)")
      ->check(on_off)->envname(env("DYNAMIC_BATCHING_KSERVE"));
  app.add_option("--model-config", c.model_config_path, "Triton config.pbtxt: KServe batching + instance count")
      ->envname(env("MODEL_CONFIG"));
  app.add_option("--warmup-batch-sizes", c.warmup_batch_sizes,
                 "Batch sizes warmed up before readiness (default: every batch shape, powers of two up to the max "
                 "batch, the preferred sizes and the cap; 1 with --background-warmup on)")
      ->delimiter(',')->envname(env("WARMUP_BATCH_SIZES"));
  app.add_option("--background-warmup", f.background_warmup,
                 "Ready after --warmup-batch-sizes (default 1) and warm the other batch shapes after readiness, "
                 "overlapping whatever is sent first: on|off (default off: ready means warm)")
      ->check(on_off)->envname(env("BACKGROUND_WARMUP"));

  app.add_option("--max-body-bytes", c.max_body_bytes, "Largest request body (HTTP) or message (gRPC), bytes (default 67108864 = 64 MiB)")
      ->envname(env("MAX_BODY_BYTES"));
  app.add_option("--max-images-per-request", c.max_images_per_request, "Most images in one request (default 256)")
      ->envname(env("MAX_IMAGES_PER_REQUEST"));
  app.add_option("--max-decode-bytes", c.max_decode_bytes,
                 "Most bytes one image decode may allocate, computed from its header before allocating; larger "
                 "images get 400 (default 134217728 = 128 MiB: 4K RGBA at 16 bits, 8K RGB)")
      ->envname(env("MAX_DECODE_BYTES"));
  app.add_option("--max-pixels", c.max_pixels, "Largest decoded image, pixels (default 178956970, Pillow's limit)")
      ->envname(env("MAX_PIXELS"));
  app.add_option("--read-timeout-s", c.read_timeout_s,
                 "Time for a request body to arrive whole, seconds; then 408 and close (default 30)")
      ->envname(env("READ_TIMEOUT_S"));
  app.add_option("--header-timeout-s", c.header_timeout_s,
                 "Time for a request header to arrive whole from its first byte, seconds; then 408 and close (default 10)")
      ->envname(env("HEADER_TIMEOUT_S"));
  app.add_option("--max-connections", c.max_connections,
                 "Open connections per listener; more are answered 503 and closed (default 1024)")
      ->envname(env("MAX_CONNECTIONS"));
  app.add_option("--io-threads", c.io_threads, "Socket I/O threads per listener (default 2)")
      ->envname(env("IO_THREADS"));
  app.add_option("--keep-alive-timeout-s", c.keep_alive_timeout_s, "Idle keep-alive connection timeout, seconds (default 5)")
      ->envname(env("KEEP_ALIVE_TIMEOUT_S"));
  app.add_option("--threads-http", c.http_threads,
                 "Handler threads per listener: request parsing; inference is waited for by no thread "
                 "(default 0 = twice the CPU count, at least 4)")
      ->envname(env("THREADS_HTTP"));
  app.add_option("--decode-threads", c.decode_threads,
                 "Threads that decode and preprocess encoded images, shared by every listener; the images of one "
                 "request decode in parallel (default 0 = one per CPU)")
      ->check(CLI::NonNegativeNumber)
      ->envname(env("DECODE_THREADS"));
  app.add_option("--drain-timeout-s", c.drain_timeout_s, "On SIGTERM/SIGINT, wait at most this for in-flight work, seconds (default 30); exit code 3 if it passes")
      ->envname(env("DRAIN_TIMEOUT_S"));
  app.add_option("--access-log", f.access_log, "One JSON line per request on stderr: on|off (default on)")
      ->check(on_off)->envname(env("ACCESS_LOG"));
  auto* key = app.add_option("--api-key", c.api_key,
                             "Inference and model-management requests need this key (Authorization: Bearer KEY, or "
                             "X-API-Key: KEY), else 401; health, metadata and /metrics stay open (default: none)")
                  ->envname(env("API_KEY"));
  app.add_option("--api-key-file", f.api_key_file, "Read the API key from this file (first line)")
      ->excludes(key)
      ->envname(env("API_KEY_FILE"));
  app.add_flag("--protect-metrics", c.protect_metrics, "/metrics needs the API key too")->envname(env("PROTECT_METRICS"));
}

Status Finish(Flags& f) {
  auto& c = f.config;
  c.rest_api = std::find(f.apis.begin(), f.apis.end(), "rest") != f.apis.end();
  c.kserve_api = std::find(f.apis.begin(), f.apis.end(), "kserve") != f.apis.end();
  c.rest_dynamic_batching = ParseOnOff(f.rest_batching);
  c.kserve_dynamic_batching = ParseOnOff(f.kserve_batching);
  c.background_warmup = ParseOnOff(f.background_warmup);
  c.access_log = ParseOnOff(f.access_log);
  if (!f.api_key_file.empty()) {
    std::ifstream in(f.api_key_file);
    if (!in || !std::getline(in, c.api_key)) {
      return clipserve::InvalidArgumentError("--api-key-file: cannot read '" + f.api_key_file + "'");
    }
    while (!c.api_key.empty() && (c.api_key.back() == '\r' || c.api_key.back() == ' ')) c.api_key.pop_back();
    if (c.api_key.empty()) return clipserve::InvalidArgumentError("--api-key-file: '" + f.api_key_file + "' is empty");
  }
  ASSIGN_OR_RETURN(c.engine.precision, engine::ParsePrecision(f.precision));
  c.engine.null_engine = f.engine_kind == "null";
  std::string dev = f.device;
  if (auto colon = dev.find(':'); colon != std::string::npos) {
    try {
      c.engine.device_index = std::stoi(dev.substr(colon + 1));
    } catch (...) {
      return clipserve::InvalidArgumentError("--device: bad device index in '" + f.device + "'");
    }
    dev = dev.substr(0, colon);
  }
  ASSIGN_OR_RETURN(c.engine.device, engine::ParseDeviceKind(dev));
  if (c.engine.threads < 0) return clipserve::InvalidArgumentError("--threads must be >= 0");
  // An ISA cap that cannot be read, or a precision this CPU cannot compute,
  // fails here, before any listener opens, never at the first request.
  RETURN_IF_ERROR(clipserve::CpuIsaCapFromEnv().status());
  RETURN_IF_ERROR(engine::ResolvePrecision(c.engine.precision, c.engine.device, clipserve::HostCpuFeatures()).status());
  return c.Validate();
}

}  // namespace

// Exit code when SIGTERM's drain did not finish within --drain-timeout-s.
constexpr int kDrainTimedOut = 3;

int main(int argc, char** argv) {
  CLI::App app{"clip-server: CLIP image embeddings over HTTP (REST + KServe v2 / Triton-compatible) and gRPC (KServe v2)"};
  Flags flags;
  AddFlags(app, flags);
  CLI11_PARSE(app, argc, argv);
  if (Status st = Finish(flags); !st.ok()) {
    std::fprintf(stderr, "clip-server: invalid configuration: %s\n", st.message().c_str());
    return 2;
  }
  auto options = flags.config.ToServiceOptions();
  if (!options.ok()) {
    std::fprintf(stderr, "clip-server: %s\n", options.status().message().c_str());
    return 2;
  }

  // Every thread started from here on inherits the blocked set; the main
  // thread takes the signals synchronously with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const ServerConfig& config = flags.config;
  clipserve::server::ServerHooks hooks;
  hooks.engine_factory = [engine_options = config.engine](int index, int count)
      -> clipserve::StatusOr<std::unique_ptr<engine::Engine>> {
    engine::EngineOptions o = engine_options;
    if (o.device == engine::DeviceKind::kCpu && count > 1) {
      const int total = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      o.threads = std::max(1, total / count);
    }
    (void)index;
    return engine::CreateEngine(o);
  };
  hooks.device_facts = [] { return engine::QueryDeviceFacts(); };

  clipserve::server::ClipServer server(config, std::move(*options), std::move(hooks));
  if (Status st = server.Start(); !st.ok()) {
    std::fprintf(stderr, "clip-server: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("%s\n", server.ListeningLine().c_str());
  std::fflush(stdout);

  std::atomic<bool> load_failed{false};
  std::atomic<bool> loaded{false};
  std::thread loader([&] {
    Status st = server.LoadModel();
    if (!st.ok()) {
      std::fprintf(stderr, "clip-server: model load failed: %s\n", st.message().c_str());
      load_failed.store(true);
      kill(getpid(), SIGTERM);
      return;
    }
    loaded.store(true);
    std::printf("clip-server: ready in %lld ms\n", MsSinceStart());
    std::fflush(stdout);
  });

  int sig = 0;
  sigwait(&signals, &sig);
  if (load_failed.load()) {
    loader.join();
    (void)server.Shutdown(clipserve::Microseconds(0));
    return 1;
  }
  std::fprintf(stderr, "clip-server: %s received, draining (at most %d s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
               config.drain_timeout_s);

  // The drain is bounded: if in-flight work or a model load outlasts it,
  // leave anyway, with exit code 3 so an orchestrator can tell a drain that
  // gave up from a clean one (0).
  const auto drain = std::chrono::seconds(config.drain_timeout_s);
  std::thread([drain] {
    std::this_thread::sleep_for(drain + std::chrono::seconds(1));
    std::fprintf(stderr, "clip-server: drain timeout passed, exiting (code 3)\n");
    std::fflush(stderr);
    _exit(kDrainTimedOut);
  }).detach();

  Status st = server.Shutdown(std::chrono::duration_cast<clipserve::Microseconds>(drain));
  if (!loaded.load()) {
    // Still loading: the engine build cannot be interrupted; exit now.
    std::fprintf(stderr, "clip-server: stopped while loading the model\n");
    std::fflush(stderr);
    _exit(0);
  }
  loader.join();
  if (!st.ok()) {
    std::fprintf(stderr, "clip-server: drain incomplete (%s), exiting (code 3)\n", st.message().c_str());
    return kDrainTimedOut;
  }
  std::fprintf(stderr, "clip-server: drained, exiting\n");
  return 0;
}
