// `loopback`: how fast can the runner itself go? A trivial Beast HTTP server
// (trivial_server.cpp) runs in a child process, optionally pinned to other
// CPUs; the runner's own request path (HttpClient, the RunAsyncClosedLoop
// the concurrent phase uses) hammers it for --duration seconds, then wrk
// does the same against the same server in the same run, and, with --rate,
// the open loop (RunAsyncOpenLoop) holds that rate with up to --in-flight
// requests outstanding. Pin the runner with taskset. With --url the same
// measurements run against a server of your own (clip-server --engine null).
#include <sched.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>

#include "bench/http_client.h"
#include "bench/load.h"
#include "bench/statistics.h"
#include "bench/sysinfo.h"
#include "commands.h"
#include "trivial_server.h"

namespace clipserve::bench::app {
namespace {

constexpr const char* kBody = R"({"images":["AAAA"]})";

void PinTo(const std::string& cpus) {
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  const auto dash = cpus.find('-');
  const int lo = std::atoi(cpus.c_str());
  const int hi = dash == std::string::npos ? lo : std::atoi(cpus.c_str() + dash + 1);
  for (int c = lo; c <= hi; ++c) CPU_SET(c, &set);
  sched_setaffinity(0, sizeof set, &set);
}

PreparedRequest MakeRequest(const LoopbackOptions& o) {
  PreparedRequest req;
  req.path = o.request_path;
  if (!o.get) {
    req.content_type = "application/json";
    req.body = kBody;
  }
  req.images = 1;
  return req;
}

SendOutcome Outcome(const SendResult& r) { return {r.failure, r.response.status, r.detail, r.response_time}; }

// "12.3 us client CPU per request (user 4.1 + sys 8.2)": getrusage of this
// process only (the server is a child), over the timed part.
std::string CpuPerRequest(const PhaseMeasurement& m) {
  const auto n = static_cast<double>(m.attempted);
  if (n <= 0) return "no requests";
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.2f us client CPU per request (user %.2f + sys %.2f)", m.client_cpu.total() * 1e6 / n,
                m.client_cpu.user_s * 1e6 / n, m.client_cpu.system_s * 1e6 / n);
  return buf;
}

double PrintClosed(const LoopbackOptions& o, const Endpoint& ep) {
  const PreparedRequest req = MakeRequest(o);
  const WireRequest wire = o.get ? SerializeGet(ep, req.path) : SerializePost(ep, req);
  HttpClient client(ep, {o.client_threads, std::chrono::milliseconds(5000)});
  const int open = client.Open(o.connections, req.path);  // connect before timing
  const std::int64_t connects0 = client.connects();
  PhaseMeasurement m;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(o.duration_s));
  RunAsyncClosedLoop(o.connections, std::int64_t{1} << 40, client.executor(),
                     [&](int c, std::int64_t, SendDone done) {
                       client.Send(c, wire, [done = std::move(done)](SendResult&& r) { done(Outcome(r)); });
                     },
                     m, nullptr, deadline);
  const auto ok = static_cast<std::int64_t>(m.latencies_ms.size());
  const auto p = Summarize(m.latencies_ms);
  std::printf("runner : %10.0f req/s  (%lld ok, %lld failed, %s, p50 %.3f ms, p99 %.3f ms, "
              "%d/%d connections opened before timing, %lld during)\n",
              m.wall_time_s > 0 ? ok / m.wall_time_s : 0.0, static_cast<long long>(ok),
              static_cast<long long>(m.errors.total), CpuPerRequest(m).c_str(), p ? p->p50 : 0.0, p ? p->p99 : 0.0, open,
              o.connections, static_cast<long long>(client.connects() - connects0));
  if (m.errors.total > 0) std::printf("         first failure: %s\n", m.errors.first_detail.c_str());
  return m.wall_time_s > 0 ? ok / m.wall_time_s : 0.0;
}

double RunWrk(const LoopbackOptions& o, const Endpoint& ep) {
  std::string lua;
  if (!o.get) {
    lua = "/tmp/clipserve-loopback-" + std::to_string(getpid()) + ".lua";
    std::ofstream(lua) << "wrk.method = \"POST\"\nwrk.body = '" << kBody
                       << "'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n";
  }
  const std::string cmd = "wrk -t" + std::to_string(o.client_threads) + " -c" + std::to_string(o.connections) +
                          " -d" + std::to_string(static_cast<int>(o.duration_s)) + "s" +
                          (lua.empty() ? "" : " -s " + lua) + " http://" + ep.host + ":" + std::to_string(ep.port) +
                          ep.base_path + o.request_path;
  // wrk's own CPU: the children's rusage grows by what wrk (and its sh)
  // used once pclose has reaped them; the server child is reaped only at the end.
  rusage before{}, after{};
  getrusage(RUSAGE_CHILDREN, &before);
  auto out = RunCommand(cmd);
  getrusage(RUSAGE_CHILDREN, &after);
  if (!lua.empty()) std::remove(lua.c_str());
  if (!out.ok()) {
    std::cout << "wrk failed: " << out.status().message() << "\n";
    return 0;
  }
  double rps = 0, requests = 0;
  std::smatch m;
  if (std::regex_search(*out, m, std::regex(R"(Requests/sec:\s*([0-9.]+))"))) rps = std::atof(m[1].str().c_str());
  if (std::regex_search(*out, m, std::regex(R"(([0-9]+) requests in)"))) requests = std::atof(m[1].str().c_str());
  auto secs = [](const timeval& a, const timeval& b) { return (b.tv_sec - a.tv_sec) + (b.tv_usec - a.tv_usec) * 1e-6; };
  const double user = secs(before.ru_utime, after.ru_utime), sys = secs(before.ru_stime, after.ru_stime);
  if (requests > 0) {
    std::printf("wrk    : %10.0f req/s  (%.0f requests, %.2f us wrk CPU per request (user %.2f + sys %.2f); %s)\n", rps,
                requests, (user + sys) * 1e6 / requests, user * 1e6 / requests, sys * 1e6 / requests, cmd.c_str());
  } else {
    std::printf("wrk    : %10.0f req/s  (%s)\n", rps, cmd.c_str());
  }
  return rps;
}

bool PrintOpen(const LoopbackOptions& o, const Endpoint& ep) {
  const PreparedRequest req = MakeRequest(o);
  const WireRequest wire = o.get ? SerializeGet(ep, req.path) : SerializePost(ep, req);
  HttpClient client(ep, {o.client_threads, std::chrono::milliseconds(5000)});
  const int open = client.Open(o.in_flight, req.path);
  const std::int64_t connects0 = client.connects();
  const auto offsets = MakeArrivalOffsets(o.rate, o.duration_s, Arrival::kPoisson, 42);
  std::atomic<int> in_flight{0}, max_in_flight{0};
  std::atomic<SteadyTime::rep> last_send{0};
  PhaseMeasurement m;
  const SteadyTime start = std::chrono::steady_clock::now();
  RunAsyncOpenLoop(offsets, o.in_flight, std::chrono::milliseconds(1), client.executor(),
                   [&](int c, std::int64_t, SendDone done) {
                     const int now = in_flight.fetch_add(1) + 1;
                     int seen = max_in_flight.load();
                     while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {}
                     last_send.store(std::chrono::steady_clock::now().time_since_epoch().count());
                     client.Send(c, wire, [&in_flight, done = std::move(done)](SendResult&& r) {
                       in_flight.fetch_sub(1);
                       done(Outcome(r));
                     });
                   },
                   m);
  const auto lat = Summarize(m.latencies_ms);
  const auto svc = Summarize(m.open_loop->service_ms);
  const auto lag = Summarize(m.open_loop->send_lag_ms);
  // The send rate over the schedule; achieved_rps also waits for the last
  // answers (one server delay after the last send).
  const double send_span_s =
      std::chrono::duration<double>(SteadyTime(SteadyTime::duration(last_send.load())) - start).count();
  std::printf("open   : %10.0f req/s sent over %.3f s for %.0f scheduled (Poisson): %lld requests, %lld ok, %lld failed; "
              "%.0f req/s answered over %.3f s; max in flight %d of %d connections (%d answered before timing, "
              "%lld opened during)\n",
              send_span_s > 0 ? m.attempted / send_span_s : 0.0, send_span_s, o.rate,
              static_cast<long long>(m.open_loop->scheduled), static_cast<long long>(m.latencies_ms.size()),
              static_cast<long long>(m.errors.total), m.open_loop->achieved_rps, m.wall_time_s, max_in_flight.load(),
              o.in_flight, open, static_cast<long long>(client.connects() - connects0));
  std::printf("         latency from schedule p50 %.3f p99 %.3f ms; service p50 %.3f p99 %.3f ms; send lag p50 %.3f "
              "p99 %.3f max %.3f ms, %lld late (> 1 ms); %s\n",
              lat ? lat->p50 : 0.0, lat ? lat->p99 : 0.0, svc ? svc->p50 : 0.0, svc ? svc->p99 : 0.0,
              lag ? lag->p50 : 0.0, lag ? lag->p99 : 0.0, lag ? lag->max : 0.0,
              static_cast<long long>(m.open_loop->late_sends), CpuPerRequest(m).c_str());
  if (m.errors.total > 0) std::printf("         first failure: %s\n", m.errors.first_detail.c_str());
  return m.errors.total == 0 && !m.latencies_ms.empty();
}

// The closed loop, wrk and the open loop against `ep`, as the options ask.
int Measure(const LoopbackOptions& o, const Endpoint& ep, const std::string& server) {
  cpu_set_t mine;
  CPU_ZERO(&mine);
  sched_getaffinity(0, sizeof mine, &mine);
  std::cout << "loopback: " << server << "; runner on " << CPU_COUNT(&mine) << " cpu(s), " << o.client_threads
            << " client I/O thread(s); " << (o.get ? "GET " : "POST ") << o.request_path << ", " << o.connections
            << " connection(s), " << o.duration_s << " s each\n";
  bool ok = true;
  if (o.connections > 0) {
    const double runner_rps = PrintClosed(o, ep);
    if (o.run_wrk && OnPath("wrk")) {
      const double wrk_rps = RunWrk(o, ep);
      if (wrk_rps > 0) std::printf("ratio runner/wrk: %.2f\n", runner_rps / wrk_rps);
    } else if (o.run_wrk) {
      std::cout << "wrk not on PATH: comparison skipped\n";
    }
  }
  if (o.rate > 0) ok &= PrintOpen(o, ep);
  return ok ? 0 : 1;
}

}  // namespace

int LoopbackCommand(const LoopbackOptions& o) {
  if (!o.url.empty()) {
    auto ep = ParseUrl(o.url);
    if (!ep.ok()) {
      std::cerr << "loopback: " << ep.status().message() << "\n";
      return 1;
    }
    return Measure(o, *ep, "server at " + o.url);
  }
  int fds[2];
  if (pipe(fds) != 0) return 1;
  const pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    close(fds[0]);
    PinTo(o.server_cpus);
    ServeTrivial(fds[1], {o.server_threads, std::chrono::milliseconds(o.server_delay_ms)});
  }
  close(fds[1]);
  int port = 0;
  if (read(fds[0], &port, sizeof port) != sizeof port || port <= 0) {
    std::cerr << "loopback: server failed to start\n";
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return 1;
  }
  close(fds[0]);
  auto stop = [child] {
    kill(child, SIGTERM);
    waitpid(child, nullptr, 0);
  };
  if (o.serve_seconds > 0) {
    std::cout << "loopback: serving http://127.0.0.1:" << port << " for " << o.serve_seconds << " s" << std::endl;
    std::this_thread::sleep_for(std::chrono::duration<double>(o.serve_seconds));
    stop();
    return 0;
  }
  Endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = port;
  const int rc = Measure(o, ep,
                         "trivial Beast server on 127.0.0.1:" + std::to_string(port) + " (pid " + std::to_string(child) +
                             ", cpu " + (o.server_cpus.empty() ? std::string("any") : o.server_cpus) + ", " +
                             std::to_string(o.server_threads) + " threads, " + std::to_string(o.server_delay_ms) +
                             " ms delay)");
  stop();
  return rc;
}

}  // namespace clipserve::bench::app
