// The runner's Beast client (HttpClient, HttpSession) against an in-process
// Beast server on an ephemeral loopback port: keep-alive reuse, servers that
// close, timeouts, non-2xx statuses, pipelined answers in order, and the
// asynchronous load loops over real connections.
#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <thread>

#include "beast_test_server.h"
#include "bench/http_client.h"
#include "bench/http_session.h"
#include "bench/load.h"

namespace clipserve::bench {
namespace {

using std::chrono::milliseconds;
using testing::BeastTestServer;

Endpoint Local(int port) {
  Endpoint e;
  e.host = "127.0.0.1";
  e.port = port;
  return e;
}

// Sends one request and waits for its answer.
SendResult SendAndWait(HttpClient& client, int connection, const WireRequest& request) {
  std::promise<SendResult> p;
  auto f = p.get_future();
  client.Send(connection, request, [&p](SendResult&& r) { p.set_value(std::move(r)); });
  return f.get();
}

TEST(HttpClient, KeepAliveReusesOneConnection) {
  BeastTestServer server;
  HttpClient client(Local(server.port()), {});
  ASSERT_EQ(client.Open(1, "/ok/warm"), 1);
  std::vector<WireRequest> reqs;
  for (int i = 0; i < 50; ++i) reqs.push_back(SerializeGet(client.endpoint(), "/ok/" + std::to_string(i)));
  for (int i = 0; i < 50; ++i) {
    SendResult r = SendAndWait(client, 0, reqs[static_cast<std::size_t>(i)]);
    ASSERT_EQ(r.failure, FailureKind::kNone) << r.detail;
    EXPECT_EQ(r.response.status, 200);
    EXPECT_EQ(r.response.body, std::to_string(i));
    EXPECT_NE(r.response_time, SteadyTime{});
  }
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(client.connects(), 1);
  EXPECT_EQ(server.requests(), 51);
}

TEST(HttpClient, PostCarriesHeadBodyAndExtraHeaders) {
  PreparedRequest req;
  req.path = "/ok/posted";
  req.content_type = "application/octet-stream";
  req.headers = {{"Inference-Header-Content-Length", "3"}};
  req.body = std::string(100000, 'x');
  const WireRequest wire = SerializePost(Local(8003), req);
  EXPECT_EQ(wire.head.rfind("POST /ok/posted HTTP/1.1\r\n", 0), 0u) << wire.head;
  EXPECT_NE(wire.head.find("Content-Length: 100000\r\n"), std::string::npos);
  EXPECT_NE(wire.head.find("Content-Type: application/octet-stream\r\n"), std::string::npos);
  EXPECT_NE(wire.head.find("Inference-Header-Content-Length: 3\r\n"), std::string::npos);
  EXPECT_NE(wire.head.find("Host: 127.0.0.1:8003\r\n"), std::string::npos);
  EXPECT_EQ(wire.head.substr(wire.head.size() - 4), "\r\n\r\n");
  EXPECT_EQ(wire.body.data(), req.body.data());  // a view, not a copy

  BeastTestServer server;
  HttpClient client(Local(server.port()), {});
  client.Open(1, "/ok/warm");
  const WireRequest w = SerializePost(client.endpoint(), req);
  SendResult r = SendAndWait(client, 0, w);
  ASSERT_EQ(r.failure, FailureKind::kNone) << r.detail;
  EXPECT_EQ(r.response.body, "posted");
  EXPECT_EQ(client.connects(), 1);
}

TEST(HttpClient, ServerThatClosesIsReopenedAndCounted) {
  BeastTestServer server;
  HttpClient client(Local(server.port()), {});
  client.Open(1, "/ok/warm");
  std::vector<WireRequest> reqs;
  for (int i = 0; i < 5; ++i) reqs.push_back(SerializeGet(client.endpoint(), "/close/" + std::to_string(i)));
  for (int i = 0; i < 5; ++i) {
    SendResult r = SendAndWait(client, 0, reqs[static_cast<std::size_t>(i)]);
    ASSERT_EQ(r.failure, FailureKind::kNone) << i << ": " << r.detail;
    EXPECT_EQ(r.response.body, std::to_string(i));
  }
  // The warm-up connection carried the first /close; each later one needed a new connection.
  EXPECT_EQ(client.connects(), 5);
  EXPECT_EQ(server.accepted(), 5);
}

TEST(HttpClient, TimeoutIsRecordedAndTheConnectionRecovers) {
  BeastTestServer server;
  HttpClient client(Local(server.port()), {1, milliseconds(200)});
  client.Open(1, "/ok/warm");
  const WireRequest slow = SerializeGet(client.endpoint(), "/sleep/3000");
  const WireRequest fast = SerializeGet(client.endpoint(), "/ok/after");
  const auto t0 = std::chrono::steady_clock::now();
  SendResult r = SendAndWait(client, 0, slow);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.failure, FailureKind::kTimeout) << r.detail;
  EXPECT_EQ(r.response.status, 0);
  EXPECT_GE(waited, milliseconds(200));
  EXPECT_LT(waited, milliseconds(1500));
  SendResult again = SendAndWait(client, 0, fast);
  ASSERT_EQ(again.failure, FailureKind::kNone) << again.detail;
  EXPECT_EQ(again.response.body, "after");
  EXPECT_EQ(client.connects(), 2);
}

TEST(HttpClient, Non2xxIsHttpStatusWithTheBodyKept) {
  BeastTestServer server;
  HttpClient client(Local(server.port()), {});
  client.Open(1, "/ok/warm");
  const WireRequest req = SerializeGet(client.endpoint(), "/status/503");
  SendResult r = SendAndWait(client, 0, req);
  EXPECT_EQ(r.failure, FailureKind::kHttpStatus);
  EXPECT_EQ(r.response.status, 503);
  EXPECT_EQ(r.response.body, R"({"error":"status 503"})");
  EXPECT_EQ(r.response.content_type, "application/json");
  EXPECT_EQ(r.detail.rfind("HTTP 503: ", 0), 0u) << r.detail;
  EXPECT_EQ(FailureKey(r.failure, r.response.status), "http_503");
  EXPECT_EQ(client.connects(), 1);  // an error status keeps the connection
}

// Four requests written back to back on one connection; the server reads
// all four, then answers them in one write. Each answer must reach its own
// request, in order, with the bytes past one response kept for the next.
TEST(HttpClient, PipelinedResponsesArriveInOrderPerConnection) {
  BeastTestServer server;
  HttpClient client(Local(server.port()), {});
  ASSERT_EQ(client.Open(1, "/ok/warm"), 1);
  std::vector<WireRequest> reqs;
  reqs.push_back(SerializeGet(client.endpoint(), "/hold/4/0"));
  for (int i = 1; i < 4; ++i) reqs.push_back(SerializeGet(client.endpoint(), "/ok/" + std::to_string(i)));
  std::mutex mu;
  std::vector<std::string> bodies;
  std::promise<void> all;
  std::atomic<int> left{4};
  for (const auto& r : reqs) {
    client.Send(0, r, [&](SendResult&& res) {
      {
        std::lock_guard<std::mutex> lock(mu);
        bodies.push_back(res.failure == FailureKind::kNone ? res.response.body : "failed: " + res.detail);
      }
      if (left.fetch_sub(1) == 1) all.set_value();
    });
  }
  ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(bodies, std::vector<std::string>({"0", "1", "2", "3"}));
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(client.connects(), 1);
}

TEST(HttpClient, DroppedRequestIsAConnectionFailureThenRecovers) {
  BeastTestServer server;
  HttpClient client(Local(server.port()), {});
  client.Open(1, "/ok/warm");
  const WireRequest drop = SerializeGet(client.endpoint(), "/drop");
  const WireRequest ok = SerializeGet(client.endpoint(), "/ok/x");
  SendResult r = SendAndWait(client, 0, drop);
  EXPECT_EQ(r.failure, FailureKind::kConnection) << r.detail;
  EXPECT_EQ(SendAndWait(client, 0, ok).failure, FailureKind::kNone);
  EXPECT_EQ(client.connects(), 2);
}

TEST(HttpClient, RefusedConnectionIsAConnectionFailure) {
  int port = 0;
  {
    BeastTestServer gone;  // a port that was just free
    port = gone.port();
  }
  HttpClient client(Local(port), {1, milliseconds(2000)});
  EXPECT_EQ(client.Open(1, "/"), 0);
  const WireRequest req = SerializeGet(client.endpoint(), "/ok/x");
  SendResult r = SendAndWait(client, 0, req);
  EXPECT_EQ(r.failure, FailureKind::kConnection);
  EXPECT_NE(r.detail.find("connect to 127.0.0.1:" + std::to_string(port)), std::string::npos) << r.detail;
}

TEST(HttpClient, UnresolvableHostFailsEveryRequest) {
  Endpoint e;
  e.host = "no-such-host.invalid";
  e.port = 80;
  HttpClient client(e, {1, milliseconds(2000)});
  EXPECT_EQ(client.Open(1, "/"), 0);
  const WireRequest req = SerializeGet(e, "/");
  SendResult r = SendAndWait(client, 0, req);
  EXPECT_EQ(r.failure, FailureKind::kConnection);
  EXPECT_NE(r.detail.find("cannot resolve"), std::string::npos) << r.detail;
}

TEST(HttpSession, BlockingRequestsOnOneKeptConnection) {
  BeastTestServer server;
  HttpSession s(Local(server.port()), milliseconds(300));
  for (int i = 0; i < 5; ++i) {
    SendResult r = s.Get("/ok/" + std::to_string(i));
    ASSERT_EQ(r.failure, FailureKind::kNone) << r.detail;
    EXPECT_EQ(r.response.body, std::to_string(i));
  }
  PreparedRequest post;
  post.path = "/ok/posted";
  post.content_type = "application/json";
  post.body = "{}";
  EXPECT_EQ(s.Post(post).response.body, "posted");
  EXPECT_EQ(s.connects(), 1);
  EXPECT_EQ(s.Get("/status/404").failure, FailureKind::kHttpStatus);
  EXPECT_EQ(s.Get("/sleep/2000").failure, FailureKind::kTimeout);
  EXPECT_EQ(s.Get("/close/1").failure, FailureKind::kNone);  // after the timeout: reconnected
  EXPECT_EQ(s.Get("/ok/again").failure, FailureKind::kNone);  // after the close: reconnected
  EXPECT_EQ(s.connects(), 3);
}

// A keep-alive connection the server closed while it sat idle (without
// saying Connection: close) is noticed before reuse, not written into.
TEST(HttpSession, IdleConnectionClosedByTheServerIsReopened) {
  BeastTestServer server;
  HttpSession s(Local(server.port()), milliseconds(1000));
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(s.Get("/quiet-close/" + std::to_string(i)).failure, FailureKind::kNone);
    std::this_thread::sleep_for(milliseconds(150));  // idle: the server's FIN arrives
  }
  SendResult r = s.Get("/ok/last");
  EXPECT_EQ(r.failure, FailureKind::kNone) << r.detail;
  EXPECT_EQ(s.connects(), 4);
}

TEST(AsyncLoops, ClosedLoopOverRealConnectionsKeepsThemAll) {
  BeastTestServer server;
  HttpClient client(Local(server.port()), {});
  ASSERT_EQ(client.Open(8, "/ok/warm"), 8);
  const WireRequest req = SerializeGet(client.endpoint(), "/ok/x");
  const std::int64_t connects0 = client.connects();
  PhaseMeasurement m;
  Progress progress;
  RunAsyncClosedLoop(8, 2000, client.executor(),
                     [&](int c, std::int64_t, SendDone done) {
                       client.Send(c, req, [done = std::move(done)](SendResult&& r) {
                         done({r.failure, r.response.status, r.detail, r.response_time});
                       });
                     },
                     m, &progress);
  EXPECT_EQ(m.attempted, 2000);
  EXPECT_EQ(m.latencies_ms.size(), 2000u) << m.errors.first_detail;
  EXPECT_EQ(m.concurrency, 8);
  EXPECT_EQ(progress.done.load(), 2000);
  EXPECT_EQ(client.connects() - connects0, 0);
  EXPECT_EQ(server.accepted(), 8);
}

// Two I/O threads: connections alternate between them; the loops' per
// connection state and the open loop's pool are shared across threads.
TEST(AsyncLoops, TwoIoThreadsBothLoops) {
  BeastTestServer server;
  HttpClient client(Local(server.port()), {2, milliseconds(5000)});
  ASSERT_EQ(client.Open(6, "/ok/warm"), 6);
  const WireRequest req = SerializeGet(client.endpoint(), "/ok/x");
  auto send = [&](int c, std::int64_t, SendDone done) {
    client.Send(c, req, [done = std::move(done)](SendResult&& r) {
      done({r.failure, r.response.status, r.detail, r.response_time});
    });
  };
  PhaseMeasurement closed;
  RunAsyncClosedLoop(6, 3000, client.executor(), send, closed);
  EXPECT_EQ(closed.latencies_ms.size(), 3000u) << closed.errors.first_detail;
  PhaseMeasurement open;
  RunAsyncOpenLoop(MakeArrivalOffsets(2000, 0.25, Arrival::kPoisson, 3), 6, milliseconds(50), client.executor(), send,
                   open);
  EXPECT_EQ(static_cast<std::int64_t>(open.latencies_ms.size()), open.open_loop->scheduled) << open.errors.first_detail;
  EXPECT_EQ(client.connects(), 6);
  EXPECT_EQ(server.accepted(), 6);
}

TEST(AsyncLoops, OpenLoopOverRealConnectionsHoldsTheSchedule) {
  BeastTestServer server;
  HttpClient client(Local(server.port()), {});
  ASSERT_EQ(client.Open(16, "/ok/warm"), 16);
  const WireRequest req = SerializeGet(client.endpoint(), "/sleep/5");
  const auto offsets = MakeArrivalOffsets(1000, 0.3, Arrival::kConstant, 1);
  PhaseMeasurement m;
  RunAsyncOpenLoop(offsets, 16, milliseconds(50), client.executor(),
                   [&](int c, std::int64_t, SendDone done) {
                     client.Send(c, req, [done = std::move(done)](SendResult&& r) {
                       done({r.failure, r.response.status, r.detail, r.response_time});
                     });
                   },
                   m);
  EXPECT_EQ(m.open_loop->scheduled, 300);
  EXPECT_EQ(m.latencies_ms.size(), 300u) << m.errors.first_detail;
  EXPECT_EQ(m.open_loop->send_lag_ms.size(), 300u);
  for (double l : m.latencies_ms) EXPECT_GE(l, 5.0);
  EXPECT_GE(m.wall_time_s, 0.299);
  EXPECT_EQ(server.accepted(), 16);
}

}  // namespace
}  // namespace clipserve::bench
