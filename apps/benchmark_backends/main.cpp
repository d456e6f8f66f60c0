// benchmark_backends: the checklist's benchmark runner (DESIGN §3), plus
// compare / validate / report over its JSON files.
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  using clipserve::bench::BenchConfig;
  namespace app = clipserve::bench::app;
  BenchConfig c;
  CLI::App cli{"benchmark_backends: benchmark a REST (\"pytorch\") and/or KServe v2 (\"triton\") CLIP embedding "
               "backend; always prints to stdout and always writes the JSON results"};
  cli.require_subcommand(0, 1);
  cli.add_option("--backend", c.backend, "pytorch | triton | both")->capture_default_str()->envname("BENCH_BACKEND");
  cli.add_option("--pytorch-url", c.pytorch_url, "REST service base URL")->capture_default_str();
  cli.add_option("--triton-url", c.triton_url, "KServe v2 / Triton HTTP base URL")->capture_default_str();
  cli.add_option("--triton-metrics-url", c.triton_metrics_url, "Prometheus metrics URL ('' to skip)")->capture_default_str();
  cli.add_option("--iterations", c.iterations, "timed requests per single/batch phase")->capture_default_str();
  cli.add_option("--batch-sizes", c.batch_sizes, "comma-separated batch sizes")->capture_default_str();
  cli.add_option("--concurrency", c.concurrency, "closed-loop concurrent clients")->capture_default_str();
  cli.add_option("--concurrent-requests", c.concurrent_requests, "total requests in the concurrent phase")->capture_default_str();
  cli.add_option("--output", c.output, "results JSON (default benchmark_results/benchmark_results_YYYYmmdd_HHMMSS.json)");
  cli.add_option("--warmup", c.warmup, "untimed requests before each single/batch phase")->capture_default_str();
  cli.add_option("--triton-model", c.triton_model, "v2 model name")->capture_default_str();
  cli.add_option("--triton-input", c.triton_input, "tensor (binary FP32) | tensor-json | image-bytes (model <m>_image)")->capture_default_str();
  cli.add_option("--triton-protocol,-i", c.triton_protocol, "the triton backend's protocol: http | grpc (KServe v2 over gRPC)")
      ->capture_default_str();
  cli.add_option("--triton-grpc-url", c.triton_grpc_url, "KServe v2 gRPC target host:port (--triton-protocol grpc)")
      ->capture_default_str();
  cli.add_option("--protocols", c.protocols,
                 "protocol comparison: run the triton backend over each (e.g. http,grpc), with FP32 tensors and with "
                 "JPEG bytes, one results file each plus a side-by-side table");
  cli.add_option("--pytorch-input", c.pytorch_input, "base64 (/embed/base64) | multipart (/embed/batch)")->capture_default_str();
  cli.add_option("--images", c.images_dir, "directory of .jpg/.png/.webp files (default: synthetic images)");
  cli.add_option("--seed", c.seed, "seed of the synthetic images and Poisson arrivals")->capture_default_str();
  cli.add_option("--image-size", c.image_size, "pixels, square (model input size)")->capture_default_str();
  cli.add_option("--image-pool", c.image_pool, "distinct images the requests cycle through")->capture_default_str();
  cli.add_option("--probe-images", c.probe_images, "parity probe images per backend")->capture_default_str();
  cli.add_option("--server-cmd", c.server_cmd, "launch this server per backend (sh -c) to measure a real cold start; stopped at the end");
  cli.add_option("--server-log", c.server_log, "file for the launched server's output (default: inherit)");
  cli.add_option("--server-ready-timeout", c.server_ready_timeout_s, "seconds to wait for readiness")->capture_default_str();
  cli.add_option("--request-rate", c.request_rate, "open-loop phase: requests/s (0 = off)")->capture_default_str();
  cli.add_option("--duration", c.duration_s, "open-loop phase length, seconds")->capture_default_str();
  cli.add_option("--arrival", c.arrival, "open-loop arrivals: poisson | constant")->capture_default_str();
  cli.add_option("--open-loop-workers", c.open_loop_workers,
                 "open-loop connections, opened before timing: the most requests in flight")->capture_default_str();
  cli.add_option("--client-threads", c.client_threads,
                 "I/O threads of the asynchronous client driving the concurrent and open-loop phases")->capture_default_str();
  cli.add_option("--late-threshold-ms", c.late_threshold_ms, "open-loop send counted late beyond this, ms")->capture_default_str();
  cli.add_option("--parity-reference", c.parity_reference, "results JSON of another run to compare probe embeddings with");
  cli.add_option("--price-per-hour", c.price_per_hour, "USD per hour of the machine, for cost per 1M images")->capture_default_str();
  cli.add_option("--timeout", c.timeout_s, "per-request timeout, seconds")->capture_default_str();
  cli.add_option("--api-key", c.api_key, "sent as 'Authorization: Bearer KEY' to every server (clip-server --api-key)")
      ->envname("CLIP_API_KEY");
  bool no_progress = false;
  cli.add_flag("--no-progress", no_progress, "no progress line on stderr");

  std::vector<std::string> files;
  std::string html;
  auto* compare = cli.add_subcommand("compare", "side-by-side table of result files with deltas and fairness warnings");
  compare->add_option("files", files, "result JSON files")->required()->expected(1, -1)->check(CLI::ExistingFile);
  auto* validate = cli.add_subcommand("validate", "check the sections checklist step 4 expects; non-zero exit listing what is missing");
  validate->add_option("files", files, "result JSON files")->required()->expected(1, -1)->check(CLI::ExistingFile);
  auto* report = cli.add_subcommand("report", "self-contained HTML report with inline SVG charts");
  report->add_option("files", files, "result JSON files")->required()->expected(1, -1)->check(CLI::ExistingFile);
  report->add_option("--html", html, "output HTML file")->required();
  app::LoopbackOptions lb;
  auto* loopback = cli.add_subcommand("loopback", "measure the runner's own request rate against a trivial loopback server (vs wrk)");
  loopback->add_option("--connections", lb.connections, "keep-alive connections")->capture_default_str();
  loopback->add_option("--duration", lb.duration_s, "seconds per measurement")->capture_default_str();
  loopback->add_option("--server-cpus", lb.server_cpus, "pin the trivial server process to these CPUs, e.g. 1 or 1-7");
  loopback->add_option("--server-threads", lb.server_threads, "server I/O threads")->capture_default_str();
  loopback->add_option("--server-delay-ms", lb.server_delay_ms, "server answers after this many ms (timer, no thread held)")
      ->capture_default_str();
  loopback->add_option("--client-threads", lb.client_threads, "the runner's client I/O threads (and wrk -t)")->capture_default_str();
  loopback->add_option("--path", lb.request_path, "request path")->capture_default_str();
  loopback->add_flag("--get", lb.get, "GET the path instead of POSTing a 20-byte JSON body");
  loopback->add_option("--rate", lb.rate, "then an open loop at this rate, requests/s (Poisson; 0 = skip)")->capture_default_str();
  loopback->add_option("--url", lb.url, "measure this server (e.g. clip-server --engine null) instead of the trivial one");
  loopback->add_option("--in-flight", lb.in_flight, "open-loop connections opened before timing (max in flight)")
      ->capture_default_str();
  loopback->add_option("--serve-seconds", lb.serve_seconds, "only serve the trivial endpoint this long, then exit");
  bool no_wrk = false;
  loopback->add_flag("--no-wrk", no_wrk, "skip the wrk comparison");

  CLI11_PARSE(cli, argc, argv);
  c.progress = !no_progress;
  if (compare->parsed()) return app::CompareCommand(files);
  if (validate->parsed()) return app::ValidateCommand(files);
  if (report->parsed()) return app::ReportCommand(files, html);
  if (loopback->parsed()) {
    lb.run_wrk = !no_wrk;
    return app::LoopbackCommand(lb);
  }
  return app::RunBenchmarkCommand(c);
}
