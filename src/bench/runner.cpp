#include "bench/runner.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench/interrupt.h"
#include "bench/load.h"
#include "bench/server_process.h"
#include "bench/sysinfo.h"
#include "bench/transport.h"

namespace clipserve::bench {

std::string IsoTimestampNow() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
  return std::string(buf) + frac;
}

namespace {

using Ms = std::chrono::milliseconds;

double MsSince(SteadyTime t0, SteadyTime t1) { return std::chrono::duration<double, std::milli>(t1 - t0).count(); }

// Progress line on stderr, only when stderr is a terminal: "[concurrent] 120/200 47.3 req/s".
class ProgressLine {
 public:
  ProgressLine(bool enabled, std::string phase, Progress& p) : phase_(std::move(phase)), p_(p) {
    if (!enabled || !isatty(STDERR_FILENO)) return;
    thread_ = std::thread([this] {
      const auto start = std::chrono::steady_clock::now();
      while (!stop_.load()) {
        std::this_thread::sleep_for(Ms(200));
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const auto done = p_.done.load();
        std::fprintf(stderr, "\r[%s] %lld/%lld  %.1f req/s   ", phase_.c_str(), static_cast<long long>(done),
                     static_cast<long long>(p_.total.load()), s > 0 ? done / s : 0.0);
        std::fflush(stderr);
      }
      std::fprintf(stderr, "\r%*s\r", 60, "");
    });
  }
  ~ProgressLine() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::string phase_;
  Progress& p_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class BackendRunner {
 public:
  BackendRunner(const BenchConfig& cfg, const std::string& backend, const RunInputs& inputs, std::ostream& log)
      : cfg_(cfg), inputs_(inputs), log_(log) {
    run_.backend = backend;
    timeout_ = Ms(static_cast<long long>(std::llround(cfg.timeout_s * 1000)));
  }

  BackendRun Run() {
    if (!MakeProtocol()) return std::move(run_);
    auto target = ParseTarget(protocol_->transport(), run_.url);
    if (!target.ok()) return Fail("setup", target.status().message());
    target_ = *target;
    if (!cfg_.api_key.empty()) target_.endpoint.headers.emplace_back("Authorization", "Bearer " + cfg_.api_key);
    if (run_.backend == "triton" && !cfg_.triton_metrics_url.empty()) {
      auto mep = ParseUrl(cfg_.triton_metrics_url);
      if (mep.ok()) {
        metrics_endpoint_ = *mep;
        if (!cfg_.api_key.empty()) metrics_endpoint_->headers.emplace_back("Authorization", "Bearer " + cfg_.api_key);
      } else {
        run_.server_metrics_error = mep.status().message();
      }
    }
    if (!cfg_.server_cmd.empty() && !LaunchServer()) {
      Finish();
      return std::move(run_);
    }
    if (!ResolveProtocolDetails() || !BuildRequests()) {
      Finish();
      return std::move(run_);
    }
    MeasureFirstRequest();
    FetchServerInfo();
    RunProbes();
    RunTimedPhases();
    Finish();
    return std::move(run_);
  }

 private:
  BackendRun Fail(const std::string& phase, const std::string& msg) {
    Note(phase, msg);
    return std::move(run_);
  }
  void Note(const std::string& phase, const std::string& msg) {
    run_.failures.push_back(phase + ": " + msg);
    log_ << "  ! " << run_.backend << " " << phase << ": " << msg << "\n";
  }

  bool MakeProtocol() {
    if (run_.backend == "pytorch") {
      run_.url = cfg_.pytorch_url;
      auto in = ParsePytorchInput(cfg_.pytorch_input);
      if (!in.ok()) return Fail("setup", in.status().message()), false;
      protocol_ = MakeRestProtocol(*in);
    } else {
      auto in = ParseTritonInput(cfg_.triton_input);
      if (!in.ok()) return Fail("setup", in.status().message()), false;
      auto transport = ParseTransport(cfg_.triton_protocol);
      if (!transport.ok()) return Fail("setup", transport.status().message()), false;
      triton_input_ = *in;
      if (*transport == Transport::kGrpc) {
        run_.url = cfg_.triton_grpc_url;
        protocol_ = MakeKserveGrpcProtocol(*in, cfg_.triton_model);
      } else {
        run_.url = cfg_.triton_url;
        protocol_ = MakeKserveProtocol(*in, cfg_.triton_model);
      }
      run_.model = protocol_->model();
    }
    run_.protocol = protocol_->Describe();
    run_.transport = TransportName(protocol_->transport());
    return true;
  }

  // Polls the health call until it says yes; returns elapsed ms since exec.
  std::optional<double> PollUntilYes(Protocol::Health which, SteadyTime deadline) {
    auto channel = MakeChannel(target_, Ms(1000));
    const PreparedRequest req = protocol_->HealthRequest(which);
    while (std::chrono::steady_clock::now() < deadline && !Interrupted()) {
      if (server_ && !server_->Alive()) return std::nullopt;
      auto r = channel->Send(req);
      const auto now = std::chrono::steady_clock::now();
      if (r.failure == FailureKind::kNone && protocol_->HealthYes(which, r.response)) {
        return MsSince(server_->exec_time(), now);
      }
      std::this_thread::sleep_for(Ms(5));
    }
    return std::nullopt;
  }

  bool LaunchServer() {
    run_.cold_start.warm_server = false;
    auto p = ServerProcess::Start(cfg_.server_cmd, cfg_.server_log);
    if (!p.ok()) {
      run_.cold_start.error = p.status().message();
      Note("cold_start", run_.cold_start.error);
      return false;
    }
    server_ = std::move(*p);
    const auto deadline = server_->exec_time() +
                          Ms(static_cast<long long>(cfg_.server_ready_timeout_s * 1000));
    run_.cold_start.exec_to_live_ms = PollUntilYes(Protocol::Health::kLive, deadline);
    if (run_.cold_start.exec_to_live_ms) {
      run_.cold_start.exec_to_ready_ms = PollUntilYes(Protocol::Health::kReady, deadline);
    }
    if (!run_.cold_start.exec_to_ready_ms) {
      run_.cold_start.error = server_->Alive() ? "server not ready within " + std::to_string(cfg_.server_ready_timeout_s) + " s"
                                               : "server " + server_->exit_description() + " before becoming ready";
      Note("cold_start", run_.cold_start.error);
      return false;
    }
    return true;
  }

  // From the v2 model metadata: the image_bytes input's rank (a real Triton
  // model declared with dims [1] has shape [-1,1]), and for tensor inputs
  // the expected S, so a mismatch fails early with the fix in the message.
  bool ResolveProtocolDetails() {
    const auto req = protocol_->InputShapeRequest();
    if (!req) return true;
    auto r = MakeChannel(target_, timeout_)->Send(*req);
    if (r.failure != FailureKind::kNone) return true;  // the first request will say why
    auto shape = protocol_->ParseInputShape(r.response);
    if (!shape.ok() || shape->empty()) return true;
    if (triton_input_ == TritonInput::kImageBytes) {
      protocol_->SetImageBytesRank(static_cast<int>(shape->size()));
      return true;
    }
    const std::int64_t s = shape->size() == 4 ? (*shape)[3] : 0;
    if (s > 0 && s != cfg_.image_size) {
      Note("setup", "model '" + run_.model + "' expects " + std::to_string(s) + "x" + std::to_string(s) +
                        " input tensors; rerun with --image-size " + std::to_string(s));
      return false;
    }
    return true;
  }

  bool BuildRequests() {
    if (inputs_.images.empty()) return Fail("setup", "no input images"), false;
    const std::size_t pool = inputs_.images.size();
    for (std::size_t i = 0; i < pool; ++i) {
      const InputImage* img = &inputs_.images[i];
      auto req = protocol_->Build(std::span<const InputImage* const>(&img, 1));
      if (!req.ok()) return Fail("setup", req.status().message()), false;
      singles_.push_back(std::move(*req));
    }
    return true;
  }

  // Latency stops at the response time the connection stamped; validating
  // the body comes after it.
  SendOutcome Checked(const SendResult& r, int images, Embeddings* out = nullptr) const {
    const SteadyTime t = r.response_time;
    if (r.failure != FailureKind::kNone) return {r.failure, r.response.status, r.detail, t};
    auto e = protocol_->Parse(r.response, images);
    if (!e.ok()) return {FailureKind::kBadResponse, r.response.status, e.status().message(), t};
    if (out) *out = std::move(*e);
    return {FailureKind::kNone, r.response.status, "", t};
  }

  SendOutcome SendChecked(Channel& c, const PreparedRequest& req, Embeddings* out = nullptr) {
    return Checked(c.Send(req), req.images, out);
  }

  void MeasureFirstRequest() {
    auto c = MakeChannel(target_, timeout_);  // fresh connection: connect is part of a first request
    const SteadyTime t0 = std::chrono::steady_clock::now();
    SendOutcome o = SendChecked(*c, singles_[0]);
    if (o.failure == FailureKind::kNone) {
      run_.cold_start.first_request_ms = MsSince(t0, *o.response_time);
    } else {
      run_.cold_start.error = o.detail.empty() ? FailureKindName(o.failure) : o.detail;
      Note("cold_start", run_.cold_start.error);
    }
  }

  void FetchServerInfo() {
    auto c = MakeChannel(target_, timeout_);
    for (const auto& req : protocol_->MetadataRequests()) {
      auto r = c->Send(req);
      if (r.failure != FailureKind::kNone) continue;
      auto j = protocol_->MetadataJson(req, r.response);
      if (j.ok()) run_.server_info[req.path] = std::move(*j);
    }
  }

  void RunProbes() {
    auto c = MakeChannel(target_, timeout_);
    for (const auto& probe : inputs_.probes) {
      const InputImage* img = &probe;
      auto req = protocol_->Build(std::span<const InputImage* const>(&img, 1));
      if (!req.ok()) {
        run_.probes.error = req.status().message();
        break;
      }
      Embeddings e;
      SendOutcome o = SendChecked(*c, *req, &e);
      if (o.failure != FailureKind::kNone) {
        run_.probes.error = "probe " + probe.name + ": " + o.detail;
        break;
      }
      run_.probes.ids.push_back(probe.name);
      run_.probes.embeddings.emplace_back(e.values.begin(), e.values.begin() + e.dim);
    }
    if (!run_.probes.error.empty()) Note("parity_probes", run_.probes.error);
  }

  struct Counters {
    std::optional<TritonModelCounters> stats, metrics;
  };

  Counters Scrape() {
    Counters c;
    if (auto req = protocol_->StatsRequest()) {
      auto r = MakeChannel(target_, timeout_)->Send(*req);
      if (r.failure == FailureKind::kNone) {
        auto parsed = protocol_->ParseStats(r.response);
        if (parsed.ok()) c.stats = *parsed;
      }
    }
    if (metrics_endpoint_) {
      HttpSession s(*metrics_endpoint_, timeout_);
      auto r = s.Get("");
      if (r.failure == FailureKind::kNone) {
        auto parsed = ParsePrometheusText(r.response.body);
        c.metrics = ExtractTritonCounters(parsed.samples, run_.model);
        run_.server_metrics_error.clear();
      } else {
        run_.server_metrics_error = "metrics scrape failed: " + r.detail;
      }
    }
    return c;
  }

  static bool HasCounts(const std::optional<TritonModelCounters>& c) { return c && c->request_success.has_value(); }

  // `prepare` runs before the "before" scrape (warm-up requests, opening
  // connections), so server-side deltas cover the timed requests only.
  template <typename Prepare, typename Body>
  void Phase(const std::string& name, int images_per_request, Prepare prepare, Body body) {
    PhaseMeasurement m;
    m.name = name;
    m.images_per_request = images_per_request;
    if (Interrupted()) {
      m.error = "skipped: interrupted by a signal";
      Note(name, m.error);
      run_.phases.push_back(std::move(m));
      return;
    }
    if (server_ && !server_->Alive()) {
      m.error = "skipped: server " + server_->exit_description();
      Note(name, m.error);
      run_.phases.push_back(std::move(m));
      return;
    }
    prepare(m);
    const Counters before = Scrape();
    const auto host0 = ReadHostCpu();
    const auto server0 = server_ ? ReadProcessTreeCpuSeconds(server_->pid()) : std::nullopt;
    const CpuTimes runner0 = CpuTimes::Now();
    const SteadyTime t0 = std::chrono::steady_clock::now();
    body(m);
    const SteadyTime t1 = std::chrono::steady_clock::now();
    const CpuTimes runner1 = CpuTimes::Now();
    const auto host1 = ReadHostCpu();
    const auto server1 = server_ ? ReadProcessTreeCpuSeconds(server_->pid()) : std::nullopt;
    if (host0 && host1) {
      HostWindow w;
      w.wall_s = std::chrono::duration<double>(t1 - t0).count();
      w.host_busy_s = host1->busy_s - host0->busy_s;
      w.host_total_s = host1->total_s - host0->total_s;
      w.runner_cpu_s = runner1.total() - runner0.total();
      if (server0 && server1) w.server_cpu_s = *server1 - *server0;
      m.host = w;
    }
    const Counters after = Scrape();
    if (HasCounts(before.stats) && HasCounts(after.stats)) {
      m.server_delta = DiffCounters(*before.stats, *after.stats);
      m.server_delta_source = "stats";
    } else if (HasCounts(before.metrics) && HasCounts(after.metrics)) {
      m.server_delta = DiffCounters(*before.metrics, *after.metrics);
      m.server_delta_source = "metrics";
    }
    run_.client_cpu_total.user_s += m.client_cpu.user_s;
    run_.client_cpu_total.system_s += m.client_cpu.system_s;
    run_.requests_total += m.attempted;
    if (m.aborted && Interrupted()) {
      Note(name, "interrupted by a signal; " + std::to_string(m.planned - m.attempted) + " requests not sent");
    } else if (m.aborted) {
      Note(name, "stopped after " + std::to_string(kAbortAfterConsecutiveConnectionFailures) +
                     " consecutive connection failures; " + std::to_string(m.planned - m.attempted) + " requests not sent");
    }
    if (m.attempted > 0 && m.latencies_ms.empty()) {
      m.error = "all " + std::to_string(m.attempted) + " requests failed; first: " + m.errors.first_detail;
      Note(name, m.error);
    } else if (m.errors.total > 0) {
      Note(name, std::to_string(m.errors.total) + " of " + std::to_string(m.attempted) +
                     " requests failed; first: " + m.errors.first_detail);
    }
    log_ << "  " << run_.backend << " " << name << ": " << m.latencies_ms.size() << " ok, " << m.errors.total
         << " failed\n";
    run_.phases.push_back(std::move(m));
  }

  // Untimed warm-up on the session the timed requests then reuse.
  void Warmup(PhaseMeasurement& m, Channel& s, const std::vector<PreparedRequest>& reqs) {
    for (int i = 0; i < cfg_.warmup; ++i) (void)SendChecked(s, reqs[static_cast<std::size_t>(i) % reqs.size()]);
    m.warmup = cfg_.warmup;
  }

  // `iterations` sequential requests on one keep-alive connection.
  void Sequential(PhaseMeasurement& m, Channel& s, const std::vector<PreparedRequest>& reqs) {
    Progress progress;
    ProgressLine line(cfg_.progress, run_.backend + " " + m.name, progress);
    RunClosedLoop(1, cfg_.iterations, RealClock::Instance(),
                  [&](int, std::int64_t i) { return SendChecked(s, reqs[static_cast<std::size_t>(i) % reqs.size()]); },
                  m, &progress);
  }

  // The loaded phases' client: `n` connections opened and answered (one
  // liveness call each) before timing, and the single-image requests
  // prepared for it (serialised once; sends only pass handles).
  std::unique_ptr<AsyncChannels> OpenClient(const std::string& phase, int n) {
    auto client = MakeAsyncChannels(target_, cfg_.client_threads, timeout_);
    const int answered = client->Open(n, protocol_->HealthRequest(Protocol::Health::kLive));
    if (answered < n) {
      log_ << "  " << run_.backend << " " << phase << ": " << answered << " of " << n
           << " connections answered before timing\n";
    }
    single_handles_.clear();
    for (const auto& r : singles_) single_handles_.push_back(client->Prepare(r));
    return client;
  }

  // Request i is single image i % pool; it is validated on the I/O thread
  // that read it, after its response time was taken.
  AsyncSendFn AsyncSinglesSender(AsyncChannels& client) {
    return [this, &client](int connection, std::int64_t i, SendDone done) {
      const std::size_t k = static_cast<std::size_t>(i) % singles_.size();
      client.Send(connection, single_handles_[k], [this, k, done = std::move(done)](SendResult&& r) {
        done(Checked(r, singles_[k].images));
      });
    };
  }

  void RunTimedPhases() {
    {
      auto s = MakeChannel(target_, timeout_);
      Phase("single", 1, [&](PhaseMeasurement& m) { Warmup(m, *s, singles_); },
            [&](PhaseMeasurement& m) { Sequential(m, *s, singles_); });
    }

    auto sizes = ParseBatchSizes(cfg_.batch_sizes);
    for (int n : sizes.ok() ? *sizes : std::vector<int>{}) {
      std::vector<PreparedRequest> reqs;
      const std::size_t pool = inputs_.images.size();
      const int variants = singles_[0].body.size() * static_cast<std::size_t>(n) > (8u << 20) ? 1 : 2;
      std::string build_error;
      for (int v = 0; v < variants; ++v) {
        std::vector<const InputImage*> imgs;
        for (int j = 0; j < n; ++j) imgs.push_back(&inputs_.images[(static_cast<std::size_t>(v * n + j)) % pool]);
        auto req = protocol_->Build(imgs);
        if (!req.ok()) {
          build_error = req.status().message();
          break;
        }
        reqs.push_back(std::move(*req));
      }
      const std::string name = "batch_" + std::to_string(n);
      if (reqs.empty()) {
        PhaseMeasurement m;
        m.name = name;
        m.images_per_request = n;
        m.error = "cannot build request: " + build_error;
        Note(name, m.error);
        run_.phases.push_back(std::move(m));
        continue;
      }
      auto s = MakeChannel(target_, timeout_);
      Phase(name, n, [&](PhaseMeasurement& m) { Warmup(m, *s, reqs); },
            [&](PhaseMeasurement& m) { Sequential(m, *s, reqs); });
    }

    if (cfg_.concurrent_requests > 0) {
      std::unique_ptr<AsyncChannels> client;
      Phase("concurrent", 1, [&](PhaseMeasurement&) { client = OpenClient("concurrent", cfg_.concurrency); },
            [&](PhaseMeasurement& m) {
        GpuSampler sampler(200);
        sampler.Start();
        Progress progress;
        ProgressLine line(cfg_.progress, run_.backend + " concurrent", progress);
        const std::int64_t connects0 = client->connects();
        RunAsyncClosedLoop(cfg_.concurrency, cfg_.concurrent_requests, client->executor(), AsyncSinglesSender(*client),
                           m, &progress);
        m.connections_opened = client->connects() - connects0;
        m.gpu_util = sampler.Stop();
      });
    }

    if (cfg_.request_rate > 0) {
      std::unique_ptr<AsyncChannels> client;
      Phase("open_loop", 1, [&](PhaseMeasurement&) { client = OpenClient("open_loop", cfg_.open_loop_workers); },
            [&](PhaseMeasurement& m) {
        const Arrival arrival = ParseArrival(cfg_.arrival).ok() ? *ParseArrival(cfg_.arrival) : Arrival::kPoisson;
        const auto offsets = MakeArrivalOffsets(cfg_.request_rate, cfg_.duration_s, arrival, cfg_.seed);
        m.open_loop.emplace();
        m.open_loop->request_rate_per_s = cfg_.request_rate;
        m.open_loop->duration_s = cfg_.duration_s;
        m.open_loop->arrival = ArrivalName(arrival);
        GpuSampler sampler(200);
        sampler.Start();
        Progress progress;
        ProgressLine line(cfg_.progress, run_.backend + " open_loop", progress);
        const auto late = std::chrono::duration_cast<Nanoseconds>(
            std::chrono::duration<double, std::milli>(cfg_.late_threshold_ms));
        const std::int64_t connects0 = client->connects();
        RunAsyncOpenLoop(offsets, cfg_.open_loop_workers, late, client->executor(), AsyncSinglesSender(*client), m,
                         &progress);
        m.connections_opened = client->connects() - connects0;
        m.gpu_util = sampler.Stop();
      });
    }
  }

  void Finish() {
    if (run_.backend == "triton" && metrics_endpoint_ && (!server_ || server_->Alive())) {
      Counters c = Scrape();
      if (c.metrics) run_.server_metrics = c.metrics;
    }
    if (run_.backend == "triton" && !run_.server_metrics && run_.server_metrics_error.empty()) {
      run_.server_metrics_error = metrics_endpoint_ ? "metrics not reachable" : "no --triton-metrics-url given";
    }
    if (server_) {
      const bool was_alive = server_->Alive();
      server_->Stop();
      run_.server_exit = was_alive ? "stopped by the runner" : server_->exit_description();
      server_.reset();
    }
  }

  const BenchConfig& cfg_;
  const RunInputs& inputs_;
  std::ostream& log_;
  BackendRun run_;
  Target target_;
  std::optional<Endpoint> metrics_endpoint_;
  Ms timeout_{60000};
  std::unique_ptr<Protocol> protocol_;
  TritonInput triton_input_ = TritonInput::kTensor;
  std::unique_ptr<ServerProcess> server_;
  std::vector<PreparedRequest> singles_;
  std::vector<std::size_t> single_handles_;  // singles_ prepared on the loaded phases' client
};

}  // namespace

BackendRun RunBackend(const BenchConfig& config, const std::string& backend, const RunInputs& inputs,
                      std::ostream& log) {
  return BackendRunner(config, backend, inputs, log).Run();
}

}  // namespace clipserve::bench
