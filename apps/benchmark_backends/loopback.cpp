// `loopback`: how fast can the runner itself go? A trivial HTTP server runs
// in a child process (optionally pinned to another CPU); the runner's
// request path (HttpSession keep-alive POSTs, the same closed loop as the
// benchmark phases) hammers it for --duration seconds, then wrk does the same
// against the same server in the same run. Pin the runner with taskset.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <httplib.h>
#include <iostream>
#include <regex>
#include <thread>

#include "bench/http_session.h"
#include "bench/load.h"
#include "bench/sysinfo.h"
#include "commands.h"

namespace clipserve::bench::app {
namespace {

constexpr const char* kBody = R"({"images":["AAAA"]})";

[[noreturn]] void ServeTrivial(int port_fd, const std::string& cpus, int threads) {
  if (!cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    const auto dash = cpus.find('-');
    const int lo = std::atoi(cpus.c_str());
    const int hi = dash == std::string::npos ? lo : std::atoi(cpus.c_str() + dash + 1);
    for (int c = lo; c <= hi; ++c) CPU_SET(c, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  httplib::Server svr;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  svr.set_keep_alive_max_count(1u << 30);
  svr.set_tcp_nodelay(true);
  auto reply = [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"embeddings":[[0.0]],"count":1})", "application/json");
  };
  svr.Post("/embed", reply);
  svr.Get("/embed", reply);
  // Enough of the REST personality for a one-image-per-request benchmark run
  // (--batch-sizes 1): lets the whole runner run where no model can.
  svr.Post("/embed/base64", reply);
  svr.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content(R"({"status":"ok"})", "application/json"); });
  const int port = svr.bind_to_any_port("127.0.0.1");
  if (write(port_fd, &port, sizeof port) != sizeof port) _exit(1);
  close(port_fd);
  svr.listen_after_bind();
  _exit(0);
}

struct Measured {
  double rps = 0;
  std::int64_t ok = 0, failed = 0;
  double cpu_us_per_request = 0;
};

Measured RunRunner(const Endpoint& ep, int connections, double duration_s) {
  PreparedRequest req;
  req.path = "/embed";
  req.content_type = "application/json";
  req.body = kBody;
  req.images = 1;
  std::vector<std::unique_ptr<HttpSession>> sessions;
  for (int i = 0; i < connections; ++i) {
    sessions.push_back(std::make_unique<HttpSession>(ep, std::chrono::milliseconds(5000)));
    (void)sessions.back()->Post(req);  // connect before timing
  }
  PhaseMeasurement m;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(duration_s));
  RunClosedLoop(connections, std::int64_t{1} << 40, RealClock::Instance(),
                [&](int w, std::int64_t) -> SendOutcome {
                  SendResult r = sessions[static_cast<std::size_t>(w)]->Post(req);
                  return {r.failure, r.response.status, r.detail, std::nullopt};
                },
                m, nullptr, deadline);
  Measured out;
  out.ok = static_cast<std::int64_t>(m.latencies_ms.size());
  out.failed = m.errors.total;
  duration_s = m.wall_time_s;
  out.rps = out.ok / duration_s;
  out.cpu_us_per_request = out.ok > 0 ? m.client_cpu.total() * 1e6 / out.ok : 0;
  return out;
}

}  // namespace

int LoopbackCommand(const LoopbackOptions& o) {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  const pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    close(fds[0]);
    ServeTrivial(fds[1], o.server_cpus, o.server_threads);
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
  if (o.serve_seconds > 0) {
    std::cout << "loopback: serving http://127.0.0.1:" << port << " for " << o.serve_seconds << " s" << std::endl;
    std::this_thread::sleep_for(std::chrono::duration<double>(o.serve_seconds));
    kill(child, SIGTERM);
    waitpid(child, nullptr, 0);
    return 0;
  }
  Endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = port;
  cpu_set_t mine;
  CPU_ZERO(&mine);
  sched_getaffinity(0, sizeof mine, &mine);
  std::cout << "loopback: trivial server on 127.0.0.1:" << port << " (pid " << child << ", cpu "
            << (o.server_cpus.empty() ? std::string("any") : o.server_cpus) << ", " << o.server_threads
            << " threads); runner on " << CPU_COUNT(&mine) << " cpu(s); " << o.connections << " connection(s), "
            << o.duration_s << " s each\n";

  const Measured runner = RunRunner(ep, o.connections, o.duration_s);
  std::printf("runner : %10.0f req/s  (%lld ok, %lld failed, %.1f us CPU per request)\n", runner.rps,
              static_cast<long long>(runner.ok), static_cast<long long>(runner.failed), runner.cpu_us_per_request);

  double wrk_rps = 0;
  if (o.run_wrk && OnPath("wrk")) {
    const std::string lua = "/tmp/clipserve-loopback-" + std::to_string(getpid()) + ".lua";
    std::ofstream(lua) << "wrk.method = \"POST\"\nwrk.body = '" << kBody
                       << "'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n";
    const std::string cmd = "wrk -t1 -c" + std::to_string(o.connections) + " -d" +
                            std::to_string(static_cast<int>(o.duration_s)) + "s -s " + lua + " http://127.0.0.1:" +
                            std::to_string(port) + "/embed";
    auto out = RunCommand(cmd);
    std::remove(lua.c_str());
    if (out.ok()) {
      std::smatch m;
      if (std::regex_search(*out, m, std::regex(R"(Requests/sec:\s*([0-9.]+))"))) wrk_rps = std::atof(m[1].str().c_str());
      std::printf("wrk    : %10.0f req/s  (%s)\n", wrk_rps, cmd.c_str());
    } else {
      std::cout << "wrk failed: " << out.status().message() << "\n";
    }
  } else if (o.run_wrk) {
    std::cout << "wrk not on PATH: comparison skipped\n";
  }
  if (wrk_rps > 0) std::printf("ratio runner/wrk: %.2f\n", runner.rps / wrk_rps);
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  return runner.failed == 0 && runner.ok > 0 ? 0 : 1;
}

}  // namespace clipserve::bench::app
