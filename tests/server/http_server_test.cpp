// HttpServer on its own, in process, over raw loopback sockets: asynchronous
// handlers (late, dropped and doubled answers), escaped exceptions, the
// drain state machine, Stop's force close, on_io_thread routes and the
// header limits. No model, no personality: the routes are the tests' own.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/gate.h"
#include "raw_http.h"
#include "server/http_server.h"
#include "test_support.h"

namespace clipserve::server {
namespace {

using clipserve::testing::Gate;

using namespace std::chrono_literals;
using nlohmann::json;
using testing::RawConnection;
using testing::RawResponse;
using testing::WaitUntil;
using Clock = std::chrono::steady_clock;

std::string Get(const std::string& target, const std::string& extra_headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n" + extra_headers + "\r\n";
}

HttpResponse Text(std::string body, int status = 200) {
  HttpResponse out;
  out.status = status;
  out.content_type = "text/plain";
  out.body = std::move(body);
  return out;
}

long long MillisSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}


// Threads started by handlers to answer later; joined before the server
// goes away (a responder must not outlive its server).
class Threads {
 public:
  ~Threads() { JoinAll(); }
  void Spawn(std::function<void()> f) {
    std::lock_guard lock(mu_);
    threads_.emplace_back(std::move(f));
  }
  void JoinAll() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

// Responders a handler kept without answering.
class ResponderSlot {
 public:
  void Put(HttpResponder r) {
    std::lock_guard lock(mu_);
    responders_.push_back(std::move(r));
  }
  int size() {
    std::lock_guard lock(mu_);
    return static_cast<int>(responders_.size());
  }
  // Answers and drops every kept responder.
  void AnswerAll(const HttpResponse& response) {
    std::vector<HttpResponder> rs;
    {
      std::lock_guard lock(mu_);
      rs.swap(responders_);
    }
    for (auto& r : rs) r(response);
  }

 private:
  std::mutex mu_;
  std::vector<HttpResponder> responders_;
};

// Runs `f` at scope exit (declared after the server: runs before its Stop).
struct AtExit {
  std::function<void()> f;
  ~AtExit() {
    if (f) f();
  }
};

std::string ErrorBody(int status, std::string_view message) {
  return json{{"code", status}, {"message", message}}.dump();
}

// An in-process HttpServer on an ephemeral port.
struct TestServer {
  explicit TestServer(std::vector<Route> routes, const std::function<void(HttpServerOptions&)>& tweak = {}) {
    HttpServerOptions o;
    o.name = "test";
    o.host = "127.0.0.1";
    o.port = 0;
    o.io_threads = 2;
    o.worker_threads = 4;
    o.keep_alive_timeout_s = 30;  // no idle timeout gets in the way of a drain test
    o.access_log = false;
    o.error_body = ErrorBody;
    if (tweak) tweak(o);
    server = std::make_unique<HttpServer>(o, std::move(routes));
    auto bound = server->Bind();
    EXPECT_TRUE(bound.ok()) << bound.status().ToString();
    port = bound.ok() ? *bound : -1;
    server->Start();
  }
  HttpServer& operator*() { return *server; }
  HttpServer* operator->() { return server.get(); }

  std::unique_ptr<HttpServer> server;
  int port = -1;
};

Route OkRoute() {
  return {"GET", "/ok", [](const HttpRequest&, HttpResponse& res) { res = Text("ok"); }};
}

// The JSON error body must come from HttpServerOptions::error_body.
void ExpectErrorBody(const RawResponse& r, int status) {
  EXPECT_EQ(r.status, status);
  EXPECT_TRUE(r.has_header("content-type: application/json")) << r.headers;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.body;
  EXPECT_EQ(j.value("code", 0), status) << r.body;
  EXPECT_TRUE(j.contains("message")) << r.body;
}

// ---------------------------------------------------------------------------
// Asynchronous handlers

TEST(HttpServerAsyncTest, AnswerFromAnotherThreadLaterAndInOrderOnOneConnection) {
  auto threads = std::make_shared<Threads>();
  std::atomic<int> handler_returned{0};
  TestServer s({Route::Async("GET", "/later/{}",
                             [threads, &handler_returned](const HttpRequest& req, HttpResponder respond) {
                               const int ms = std::stoi(req.path_param(1));
                               const std::string path(req.path());
                               threads->Spawn([respond, ms, path] {
                                 std::this_thread::sleep_for(std::chrono::milliseconds(ms));
                                 respond(Text("answered " + path));
                               });
                               handler_returned.fetch_add(1);
                             }),
                OkRoute()});
  AtExit join{[threads] { threads->JoinAll(); }};
  ASSERT_GT(s.port, 0);

  RawConnection c(s.port);
  // Pipelined: the slow one first; the answers come in request order.
  const auto t0 = Clock::now();
  ASSERT_TRUE(c.Send(Get("/later/50") + Get("/later/0")));
  auto r1 = c.Read(5s);
  ASSERT_TRUE(r1);
  EXPECT_GE(MillisSince(t0), 45);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->body, "answered /later/50");
  EXPECT_FALSE(r1->has_header("connection: close")) << r1->headers;
  auto r2 = c.Read(5s);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
  EXPECT_EQ(r2->body, "answered /later/0");
  EXPECT_FALSE(r2->has_header("connection: close")) << r2->headers;
  // Each handler returned without answering (the answer may overtake the
  // second handler's return: it has no delay).
  EXPECT_TRUE(WaitUntil([&] { return handler_returned.load() == 2; }));

  // And the connection still carries requests one after another.
  ASSERT_TRUE(c.Send(Get("/later/50")));
  auto r3 = c.Read(5s);
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->body, "answered /later/50");
  ASSERT_TRUE(c.Send(Get("/ok")));
  auto r4 = c.Read(5s);
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->body, "ok");
  s->Stop(5s);
}

TEST(HttpServerAsyncTest, DroppedResponderBecomesJson500AndServerKeepsServing) {
  auto threads = std::make_shared<Threads>();
  TestServer s({Route::Async("GET", "/drop", [](const HttpRequest&, HttpResponder) {}),
                // Dropped later, on another thread.
                Route::Async("GET", "/drop-later",
                             [threads](const HttpRequest&, HttpResponder respond) {
                               threads->Spawn([respond = std::move(respond)]() mutable {
                                 std::this_thread::sleep_for(20ms);
                                 respond = HttpResponder(nullptr);
                               });
                             }),
                OkRoute()});
  AtExit join{[threads] { threads->JoinAll(); }};
  ASSERT_GT(s.port, 0);

  RawConnection c(s.port);
  for (const char* target : {"/drop", "/drop-later"}) {
    ASSERT_TRUE(c.Send(Get(target))) << target;
    auto r = c.Read(5s);
    ASSERT_TRUE(r) << target;
    ExpectErrorBody(*r, 500);
    const std::string message = json::parse(r->body).value("message", "");
    EXPECT_EQ(message.rfind("internal error (id ", 0), 0u) << message;
    EXPECT_FALSE(r->has_header("connection: close")) << r->headers;
    // Same connection, next request.
    ASSERT_TRUE(c.Send(Get("/ok"))) << target;
    r = c.Read(5s);
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
  }
  // A new connection too.
  RawConnection c2(s.port);
  ASSERT_TRUE(c2.Send(Get("/ok")));
  auto r = c2.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  s->Stop(5s);
}

TEST(HttpServerAsyncTest, SecondAnswerIsIgnoredAndTheConnectionContinues) {
  auto threads = std::make_shared<Threads>();
  TestServer s({Route::Async("GET", "/twice",
                             [](const HttpRequest&, HttpResponder respond) {
                               respond(Text("first"));
                               respond(Text("second", 201));
                             }),
                // The duplicate comes 50 ms later, while the connection is
                // busy with the next request (/slow answers after 200 ms).
                Route::Async("GET", "/twice-late",
                             [threads](const HttpRequest&, HttpResponder respond) {
                               respond(Text("first"));
                               threads->Spawn([respond] {
                                 std::this_thread::sleep_for(50ms);
                                 respond(Text("late duplicate", 201));
                               });
                             }),
                Route::Async("GET", "/slow",
                             [threads](const HttpRequest&, HttpResponder respond) {
                               threads->Spawn([respond] {
                                 std::this_thread::sleep_for(200ms);
                                 respond(Text("slow"));
                               });
                             }),
                OkRoute()});
  AtExit join{[threads] { threads->JoinAll(); }};
  ASSERT_GT(s.port, 0);

  RawConnection c(s.port);
  ASSERT_TRUE(c.Send(Get("/twice")));
  auto r = c.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "first");
  ASSERT_TRUE(c.Send(Get("/ok")));
  r = c.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");

  ASSERT_TRUE(c.Send(Get("/twice-late")));
  r = c.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "first");
  ASSERT_TRUE(c.Send(Get("/slow")));
  r = c.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow");
  // Nothing else comes: the duplicate went nowhere.
  EXPECT_FALSE(c.Readable(300ms));
  ASSERT_TRUE(c.Send(Get("/ok")));
  r = c.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ok");
  s->Stop(5s);
}

TEST(HttpServerAsyncTest, AsyncHandlerThatThrowsBeforeOrAfterAnswering) {
  TestServer s({Route::Async("GET", "/throw-first",
                             [](const HttpRequest&, HttpResponder) { throw std::runtime_error("kaboom"); }),
                Route::Async("GET", "/throw-after",
                             [](const HttpRequest&, HttpResponder respond) {
                               respond(Text("answered"));
                               throw std::runtime_error("kaboom");
                             }),
                OkRoute()});
  ASSERT_GT(s.port, 0);
  RawConnection c(s.port);
  ASSERT_TRUE(c.Send(Get("/throw-first")));
  auto r = c.Read(5s);
  ASSERT_TRUE(r);
  ExpectErrorBody(*r, 500);
  EXPECT_EQ(r->body.find("kaboom"), std::string::npos) << r->body;
  // The answer given before the exception stands; no second (500) answer.
  ASSERT_TRUE(c.Send(Get("/throw-after")));
  r = c.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "answered");
  ASSERT_TRUE(c.Send(Get("/ok")));
  r = c.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  s->Stop(5s);
}

// ---------------------------------------------------------------------------
// Sync handlers

TEST(HttpServerSyncTest, ThrowingHandlerGives500InternalErrorAndServerContinues) {
  TestServer s({{"GET", "/boom", [](const HttpRequest&, HttpResponse&) { throw std::runtime_error("kaboom"); }},
                {"GET", "/boom-int", [](const HttpRequest&, HttpResponse&) { throw 42; }},
                {"GET", "/boom-io", [](const HttpRequest&, HttpResponse&) { throw std::logic_error("kaboom"); },
                 /*on_io_thread=*/true},
                OkRoute()});
  ASSERT_GT(s.port, 0);
  RawConnection c(s.port);
  for (const char* target : {"/boom", "/boom-int", "/boom-io"}) {
    ASSERT_TRUE(c.Send(Get(target))) << target;
    auto r = c.Read(5s);
    ASSERT_TRUE(r) << target;
    ExpectErrorBody(*r, 500);
    const std::string message = json::parse(r->body).value("message", "");
    EXPECT_NE(message.find("internal error"), std::string::npos) << target << ": " << message;
    EXPECT_EQ(message.find("kaboom"), std::string::npos) << target << ": " << message;
    ASSERT_TRUE(c.Send(Get("/ok"))) << target;
    r = c.Read(5s);
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
  }
  s->Stop(5s);
}

TEST(HttpServerSyncTest, OnIoThreadRouteRunsWhileEveryPoolThreadIsBlocked) {
  auto gate = std::make_shared<Gate>();
  std::mutex mu;
  std::thread::id block_id, pool_id, io_id;
  TestServer s(
      {{"GET", "/block",
        [gate, &mu, &block_id](const HttpRequest&, HttpResponse& res) {
          {
            std::lock_guard lock(mu);
            block_id = std::this_thread::get_id();
          }
          gate->Pass();
          res = Text("unblocked");
        }},
       {"GET", "/pool",
        [&mu, &pool_id](const HttpRequest&, HttpResponse& res) {
          std::lock_guard lock(mu);
          pool_id = std::this_thread::get_id();
          res = Text("pool");
        }},
       {"GET", "/io",
        [&mu, &io_id](const HttpRequest&, HttpResponse& res) {
          std::lock_guard lock(mu);
          io_id = std::this_thread::get_id();
          res = Text("io");
        },
        /*on_io_thread=*/true}},
      [](HttpServerOptions& o) { o.worker_threads = 1; });
  AtExit release{[gate] { gate->Release(); }};
  ASSERT_GT(s.port, 0);

  RawConnection blocked(s.port);
  ASSERT_TRUE(blocked.Send(Get("/block")));
  ASSERT_TRUE(WaitUntil([&] { return gate->entered.load() == 1; }));

  // The only pool thread is busy: a pool route waits...
  RawConnection pool(s.port);
  ASSERT_TRUE(pool.Send(Get("/pool")));
  EXPECT_FALSE(pool.Readable(300ms));
  // ...while an on_io_thread route is answered at once.
  RawConnection io(s.port);
  ASSERT_TRUE(io.Send(Get("/io")));
  auto r = io.Read(3s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "io");

  gate->Release();
  r = blocked.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "unblocked");
  r = pool.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "pool");

  std::lock_guard lock(mu);
  EXPECT_NE(io_id, std::thread::id());
  EXPECT_NE(io_id, block_id);
  EXPECT_EQ(pool_id, block_id);  // worker_threads = 1: one pool thread
  s->Stop(5s);
}

// ---------------------------------------------------------------------------
// Drain and Stop

TEST(HttpServerDrainTest, IdleKeepAliveConnectionsCloseAtBeginDrain) {
  TestServer s({OkRoute()});
  ASSERT_GT(s.port, 0);
  RawConnection used(s.port);
  ASSERT_TRUE(used.Send(Get("/ok")));
  auto r = used.Read(5s);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  ASSERT_FALSE(r->has_header("connection: close"));
  RawConnection fresh(s.port);  // connected, never sent a byte
  ASSERT_TRUE(WaitUntil([&] { return s->open_connections() == 2; }));
  // Kept open while not draining (the idle timeout is 30 s).
  EXPECT_FALSE(used.ClosedByPeer(200ms));

  s->BeginDrain();
  EXPECT_TRUE(used.ClosedByPeer(2s));
  EXPECT_TRUE(fresh.ClosedByPeer(2s));
  EXPECT_FALSE(used.Read(100ms));   // closed without another answer
  EXPECT_FALSE(fresh.Read(100ms));
  EXPECT_TRUE(WaitUntil([&] { return s->open_connections() == 0; }, 2s)) << s->open_connections();
  s->Stop(5s);
}

TEST(HttpServerDrainTest, HalfSentHeaderIsClosedAtOnceWithoutAnswer) {
  TestServer s({OkRoute()});  // header timeout 10 s, idle timeout 30 s
  ASSERT_GT(s.port, 0);
  RawConnection half_header(s.port);
  RawConnection half_line(s.port);
  ASSERT_TRUE(half_header.Send("GET /ok HTTP/1.1\r\nHost: t\r\nX-Half: "));
  ASSERT_TRUE(half_line.Send("GET /o"));
  std::this_thread::sleep_for(100ms);  // the server has read the bytes
  EXPECT_FALSE(half_header.Readable(0ms));

  const auto t0 = Clock::now();
  s->BeginDrain();
  EXPECT_TRUE(half_header.ClosedByPeer(2s));
  EXPECT_TRUE(half_line.ClosedByPeer(2s));
  EXPECT_LT(MillisSince(t0), 2000);
  EXPECT_FALSE(half_header.Read(100ms));  // no answer, not even an error
  EXPECT_FALSE(half_line.Read(100ms));
  s->Stop(5s);
}

TEST(HttpServerDrainTest, RequestInHandlerIsAnsweredWithConnectionCloseThenClosed) {
  auto gate = std::make_shared<Gate>();
  TestServer s({Route::Async("GET", "/gated",
                             [gate](const HttpRequest&, HttpResponder respond) {
                               gate->Pass();
                               respond(Text("released"));
                             }),
                OkRoute()});
  AtExit release{[gate] { gate->Release(); }};
  ASSERT_GT(s.port, 0);

  RawConnection c(s.port);
  ASSERT_TRUE(c.Send(Get("/gated")));
  ASSERT_TRUE(WaitUntil([&] { return gate->entered.load() == 1; }));
  s->BeginDrain();
  // Not closed while its handler runs.
  EXPECT_FALSE(c.Readable(300ms));
  gate->Release();
  auto r = c.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "released");
  EXPECT_TRUE(r->has_header("connection: close")) << r->headers;
  EXPECT_TRUE(c.ClosedByPeer(3s));
  EXPECT_TRUE(WaitUntil([&] { return s->open_connections() == 0; }, 3s)) << s->open_connections();
  const auto t0 = Clock::now();
  s->Stop(10s);  // nothing left: returns at once
  EXPECT_LT(MillisSince(t0), 2000);
}

// A request pipelined behind one whose handler runs when the drain starts is
// not dropped: the first is answered (200, close), the second gets 503.
TEST(HttpServerDrainTest, RequestPipelinedBehindAnInFlightOneGets503) {
  auto gate = std::make_shared<Gate>();
  TestServer s({Route::Async("GET", "/gated",
                             [gate](const HttpRequest&, HttpResponder respond) {
                               gate->Pass();
                               respond(Text("released"));
                             }),
                OkRoute()});
  AtExit release{[gate] { gate->Release(); }};
  ASSERT_GT(s.port, 0);

  RawConnection c(s.port);
  ASSERT_TRUE(c.Send(Get("/gated") + Get("/gated")));
  ASSERT_TRUE(WaitUntil([&] { return gate->entered.load() == 1; }));
  s->BeginDrain();
  gate->Release();
  auto first = c.Read(5s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  auto second = c.Read(5s);
  ASSERT_TRUE(second) << "the pipelined request was dropped";
  EXPECT_EQ(second->status, 503);
  EXPECT_TRUE(second->has_header("connection: close")) << second->headers;
  EXPECT_EQ(gate->entered.load(), 1);  // the second never reached its handler
  EXPECT_TRUE(c.ClosedByPeer(3s));
}

TEST(HttpServerDrainTest, RequestWhoseBodyIsStillArrivingIsAnsweredWithConnectionClose) {
  TestServer s({{"POST", "/echo", [](const HttpRequest& req, HttpResponse& res) { res = Text(std::string(req.body())); }}});
  ASSERT_GT(s.port, 0);
  RawConnection c(s.port);
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234"));
  std::this_thread::sleep_for(100ms);  // the header has arrived
  s->BeginDrain();
  EXPECT_FALSE(c.ClosedByPeer(200ms));
  ASSERT_TRUE(c.Send("56789"));
  auto r = c.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "0123456789");
  EXPECT_TRUE(r->has_header("connection: close")) << r->headers;
  EXPECT_TRUE(c.ClosedByPeer(3s));
  s->Stop(5s);
}

TEST(HttpServerDrainTest, NextRequestOnKeepAliveConnectionAfterDrainGets503AndClose) {
  // A response too large for the socket buffers keeps the connection writing
  // (its header already said keep-alive) while the drain begins; the request
  // pipelined behind it is read only afterwards.
  constexpr std::size_t kBig = 64u << 20;
  std::atomic<int> big_calls{0};
  TestServer s({{"GET", "/big",
                 [&big_calls](const HttpRequest&, HttpResponse& res) {
                   big_calls.fetch_add(1);
                   res = Text(std::string(kBig, 'x'));
                 }},
                OkRoute()});
  ASSERT_GT(s.port, 0);
  {
    RawConnection c(s.port);
    ASSERT_TRUE(c.Send(Get("/big") + Get("/ok")));
    ASSERT_TRUE(WaitUntil([&] { return big_calls.load() == 1; }));
    // The first bytes of the answer on the wire mean its header (keep-alive)
    // is written; we read nothing yet, so the 64 MB write stalls in the
    // socket buffers. No sleep: under a sanitizer building the answer can
    // take longer than any fixed wait.
    ASSERT_TRUE(c.Readable(60s));
    s->BeginDrain();
    auto r = c.Read(120s);  // 64 MB: about 20 s under TSan on a loaded machine
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.size(), kBig);
    EXPECT_FALSE(r->has_header("connection: close")) << r->headers;
    r = c.Read(5s);
    ASSERT_TRUE(r);
    ExpectErrorBody(*r, 503);
    EXPECT_TRUE(r->has_header("connection: close")) << r->headers;
    EXPECT_TRUE(c.ClosedByPeer(5s));
  }
  s->Stop(5s);
}

TEST(HttpServerDrainTest, NewConnectionsAreRefusedAfterBeginDrain) {
  TestServer s({OkRoute()});
  ASSERT_GT(s.port, 0);
  {
    RawConnection before(s.port);
    ASSERT_TRUE(before.Send(Get("/ok", "Connection: close\r\n")));
    auto r = before.Read(5s);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
  }
  s->BeginDrain();
  // A connection that still gets through (the listener closes on an I/O
  // thread) is never served.
  std::atomic<bool> served{false};
  auto refused = [&] {
    try {
      RawConnection c(s.port);
      if (c.Send(Get("/ok"))) {
        auto r = c.Read(2s);
        if (r && r->status == 200) served = true;
      }
      return false;
    } catch (const std::runtime_error&) {
      return true;  // connect failed
    }
  };
  EXPECT_TRUE(WaitUntil(refused, 5s));
  EXPECT_FALSE(served.load());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(refused()) << i;
  s->Stop(5s);
}

TEST(HttpServerDrainTest, StopForceClosesAfterTimeoutWhenHandlerNeverAnswers) {
  auto kept = std::make_shared<ResponderSlot>();
  TestServer s({Route::Async("GET", "/hang", [kept](const HttpRequest&, HttpResponder respond) { kept->Put(respond); }),
                OkRoute()});
  // A responder must not outlive the server.
  AtExit drop{[kept] { kept->AnswerAll(Text("late")); }};
  ASSERT_GT(s.port, 0);

  RawConnection c(s.port);
  ASSERT_TRUE(c.Send(Get("/hang")));
  ASSERT_TRUE(WaitUntil([&] { return kept->size() == 1; }));
  EXPECT_EQ(s->open_connections(), 1);

  const auto t0 = Clock::now();
  s->Stop(300ms);
  const long long took = MillisSince(t0);
  EXPECT_GE(took, 250);
  EXPECT_LT(took, 2000);
  EXPECT_TRUE(c.ClosedByPeer(2s));
  EXPECT_FALSE(c.Read(100ms));  // force-closed without an answer

  // The handler answers at last: it goes nowhere, and nothing breaks.
  kept->AnswerAll(Text("late"));
  EXPECT_FALSE(c.Read(200ms));
  s->Stop(5s);  // idempotent
}

// After Stop() has force-closed a connection whose async handler had not
// answered, the late answer is dropped and the connection's slot is freed
// (it once stayed counted until the server was destroyed).
TEST(HttpServerDrainTest, OpenConnectionsReturnsToZeroAfterForceCloseAndLateAnswer) {
  auto kept = std::make_shared<ResponderSlot>();
  TestServer s({Route::Async("GET", "/hang", [kept](const HttpRequest&, HttpResponder respond) { kept->Put(respond); })});
  AtExit drop{[kept] { kept->AnswerAll(Text("late")); }};
  ASSERT_GT(s.port, 0);
  RawConnection c(s.port);
  ASSERT_TRUE(c.Send(Get("/hang")));
  ASSERT_TRUE(WaitUntil([&] { return kept->size() == 1; }));
  s->Stop(300ms);
  EXPECT_TRUE(c.ClosedByPeer(2s));
  kept->AnswerAll(Text("late"));
  EXPECT_TRUE(WaitUntil([&] { return s->open_connections() == 0; }, 3s)) << s->open_connections();
}

// ---------------------------------------------------------------------------
// Header limits

TEST(HttpServerLimitsTest, HeaderCountOverTheLimitIs431) {
  TestServer s({OkRoute()}, [](HttpServerOptions& o) { o.max_header_count = 5; });
  ASSERT_GT(s.port, 0);
  {
    RawConnection c(s.port);  // Host + 4 = 5 fields: at the limit
    ASSERT_TRUE(c.Send(Get("/ok", "X-1: a\r\nX-2: b\r\nX-3: c\r\nX-4: d\r\n")));
    auto r = c.Read(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  {
    RawConnection c(s.port);  // Host + 5 = 6 fields
    ASSERT_TRUE(c.Send(Get("/ok", "X-1: a\r\nX-2: b\r\nX-3: c\r\nX-4: d\r\nX-5: e\r\n")));
    auto r = c.Read(5s);
    ASSERT_TRUE(r);
    ExpectErrorBody(*r, 431);
    EXPECT_TRUE(r->has_header("connection: close")) << r->headers;
    EXPECT_TRUE(c.ClosedByPeer(5s));
  }
  s->Stop(5s);
}

TEST(HttpServerLimitsTest, TargetOverMaxUrlBytesIs414) {
  TestServer s({OkRoute()}, [](HttpServerOptions& o) { o.max_url_bytes = 64; });
  ASSERT_GT(s.port, 0);
  {
    RawConnection c(s.port);  // exactly 64 bytes: accepted (the query is not part of the path)
    const std::string target = "/ok?" + std::string(60, 'q');
    ASSERT_EQ(target.size(), 64u);
    ASSERT_TRUE(c.Send(Get(target)));
    auto r = c.Read(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  const std::string long_target = "/" + std::string(199, 'a');
  ASSERT_EQ(long_target.size(), 200u);
  {
    RawConnection c(s.port);  // the whole request at once
    ASSERT_TRUE(c.Send(Get(long_target)));
    auto r = c.Read(5s);
    ASSERT_TRUE(r);
    ExpectErrorBody(*r, 414);
    EXPECT_TRUE(r->has_header("connection: close")) << r->headers;
  }
  {
    RawConnection c(s.port);  // a request line that has not ended yet
    ASSERT_TRUE(c.Send("GET " + long_target));
    auto r = c.Read(5s);
    ASSERT_TRUE(r);
    ExpectErrorBody(*r, 414);
  }
  s->Stop(5s);
}

TEST(HttpServerLimitsTest, HalfHeaderTimesOutWith408) {
  TestServer s({OkRoute()}, [](HttpServerOptions& o) { o.header_timeout_s = 1; });
  ASSERT_GT(s.port, 0);
  for (const char* half : {"GET /ok HTTP/1.1\r\nHost: t\r\n", "GET /ok HTT"}) {
    RawConnection c(s.port);
    const auto t0 = Clock::now();
    ASSERT_TRUE(c.Send(half));
    auto r = c.Read(5s);
    const long long took = MillisSince(t0);
    ASSERT_TRUE(r) << half;
    ExpectErrorBody(*r, 408);
    EXPECT_TRUE(r->has_header("connection: close")) << r->headers;
    EXPECT_GE(took, 900) << half;
    EXPECT_LT(took, 2000) << half;
  }
  s->Stop(5s);
}

// ---------------------------------------------------------------------------
// Large bodies: read from the socket into a buffer of the request's own

// A body of `n` bytes whose every byte depends on its position.
std::string PatternBody(std::size_t n) {
  std::string b(n, '\0');
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return b;
}

std::string PostHeader(std::size_t length, const std::string& extra = "") {
  return "POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(length) + "\r\n" + extra + "\r\n";
}

// Answers the body's size and a checksum, so a wrong byte anywhere shows.
Route SumRoute() {
  return {"POST", "/sum", [](const HttpRequest& req, HttpResponse& res) {
            std::uint64_t sum = 0;
            for (std::size_t i = 0; i < req.body().size(); ++i) sum = sum * 31 + static_cast<unsigned char>(req.body()[i]);
            res = Text(std::to_string(req.body().size()) + ":" + std::to_string(sum));
          }};
}

std::string Sum(const std::string& body) {
  std::uint64_t sum = 0;
  for (unsigned char ch : body) sum = sum * 31 + ch;
  return std::to_string(body.size()) + ":" + std::to_string(sum);
}

TEST(HttpServerBodyTest, LargeBodiesArriveWholeInPiecesAndPipelinedWithTheNextRequest) {
  TestServer s({SumRoute(), OkRoute()});
  ASSERT_GT(s.port, 0);
  // Sizes around the 16 KiB switch to direct reads, and one of several MB.
  for (std::size_t n : {std::size_t{16384}, std::size_t{16385}, std::size_t{100000}, std::size_t{3u << 20}}) {
    const std::string body = PatternBody(n);
    RawConnection c(s.port);
    // In pieces: header with the first bytes, then the rest in odd sizes.
    const std::string all = PostHeader(n) + body;
    std::size_t at = 0;
    for (std::size_t piece : {std::size_t{70}, std::size_t{9000}, std::size_t{123457}}) {
      if (at >= all.size()) break;
      ASSERT_TRUE(c.Send(std::string_view(all).substr(at, piece)));
      at += piece;
      std::this_thread::sleep_for(5ms);
    }
    if (at < all.size()) {
      ASSERT_TRUE(c.Send(std::string_view(all).substr(at)));
    }
    auto r = c.Read(10s);
    ASSERT_TRUE(r) << n;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, Sum(body)) << n;
    // Body and two requests behind it in one write: the bytes past the body
    // stay for the next requests.
    ASSERT_TRUE(c.Send(PostHeader(n) + body + PostHeader(n) + body + Get("/ok")));
    for (int k = 0; k < 2; ++k) {
      auto again = c.Read(10s);
      ASSERT_TRUE(again) << n;
      EXPECT_EQ(again->body, Sum(body)) << n;
    }
    auto ok = c.Read(5s);
    ASSERT_TRUE(ok) << n;
    EXPECT_EQ(ok->body, "ok");
  }
  s->Stop(5s);
}

TEST(HttpServerBodyTest, BodyOwnerKeepsTheBodyAfterTheAnswerAndAlignmentFieldAlignsIt) {
  std::mutex mu;
  std::vector<std::pair<std::shared_ptr<const void>, std::string_view>> kept;
  std::vector<std::uintptr_t> aligned_at;
  Route keep{"POST", "/keep", [&](const HttpRequest& req, HttpResponse& res) {
               std::lock_guard lock(mu);
               kept.emplace_back(req.body_owner(), req.body());
               const std::string v = req.header("X-Align");
               if (!v.empty()) {
                 aligned_at.push_back(reinterpret_cast<std::uintptr_t>(req.body().data() + std::stoul(v)) % 64);
               }
               res = Text("kept");
             }};
  TestServer s({keep}, [](HttpServerOptions& o) { o.body_alignment_field = "X-Align"; });
  ASSERT_GT(s.port, 0);
  std::vector<std::string> bodies;
  {
    RawConnection c(s.port);
    for (std::size_t n : {std::size_t{20}, std::size_t{40000}, std::size_t{40001}, std::size_t{1u << 20}}) {
      bodies.push_back(PatternBody(n));
      for (int align : {0, 1, 3, 17}) {
        const std::string h = "POST /keep HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(n) +
                              "\r\nX-Align: " + std::to_string(align) + "\r\n\r\n";
        ASSERT_TRUE(c.Send(h + bodies.back()));
        auto r = c.Read(10s);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "kept");
      }
    }
  }  // the connection is gone: only the owners hold the bodies now
  s->Stop(5s);
  std::lock_guard lock(mu);
  ASSERT_EQ(kept.size(), 16u);
  for (std::size_t i = 0; i < kept.size(); ++i) {
    ASSERT_TRUE(kept[i].first) << i;
    EXPECT_EQ(std::string(kept[i].second), bodies[i / 4]) << i;
  }
  // Direct reads (over 16 KiB) honour the field: 12 requests.
  ASSERT_EQ(aligned_at.size(), 16u);
  for (std::size_t i = 4; i < aligned_at.size(); ++i) EXPECT_EQ(aligned_at[i], 0u) << i;
}

TEST(HttpServerBodyTest, LargeBodyCutShortOrTooSlowAndTheServerKeepsServing) {
  TestServer s({SumRoute(), OkRoute()}, [](HttpServerOptions& o) { o.read_timeout_s = 1; });
  ASSERT_GT(s.port, 0);
  {
    RawConnection c(s.port);  // the client goes away mid-body
    ASSERT_TRUE(c.Send(PostHeader(1u << 20) + PatternBody(300000)));
    std::this_thread::sleep_for(50ms);
  }
  {
    RawConnection c(s.port);  // the body stops arriving: 408 after the read timeout
    const auto t0 = Clock::now();
    ASSERT_TRUE(c.Send(PostHeader(1u << 20) + PatternBody(300000)));
    auto r = c.Read(5s);
    ASSERT_TRUE(r);
    ExpectErrorBody(*r, 408);
    EXPECT_GE(MillisSince(t0), 900);
    EXPECT_TRUE(r->has_header("connection: close")) << r->headers;
  }
  {
    RawConnection c(s.port);  // Expect: 100-continue, then the body
    ASSERT_TRUE(c.Send(PostHeader(50000, "Expect: 100-continue\r\n")));
    auto cont = c.Read(5s);
    ASSERT_TRUE(cont);
    EXPECT_EQ(cont->status, 100);
    const std::string body = PatternBody(50000);
    ASSERT_TRUE(c.Send(body));
    auto r = c.Read(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, Sum(body));
  }
  RawConnection c(s.port);
  ASSERT_TRUE(c.Send(Get("/ok")));
  auto r = c.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ok");
  EXPECT_TRUE(WaitUntil([&] { return s->open_connections() == 1; }, 3s)) << s->open_connections();
  s->Stop(5s);
}

TEST(HttpServerBodyTest, ResponseTailIsSentAfterTheBodyAndItsOwnerReleasedAfterTheWrite) {
  auto bytes = std::make_shared<std::string>(PatternBody(200000));
  std::weak_ptr<std::string> watch = bytes;
  Route tail{"GET", "/tail", [bytes](const HttpRequest&, HttpResponse& res) {
               res = Text("head:");
               res.body_tail = *bytes;
               res.tail_owner = bytes;
             }};
  TestServer s({tail});
  ASSERT_GT(s.port, 0);
  {
    RawConnection c(s.port);
    ASSERT_TRUE(c.Send(Get("/tail") + Get("/tail")));
    for (int k = 0; k < 2; ++k) {
      auto r = c.Read(5s);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200);
      EXPECT_TRUE(r->has_header("content-length: " + std::to_string(5 + bytes->size()))) << r->headers;
      EXPECT_EQ(r->body, "head:" + *bytes);
    }
  }
  s->Stop(5s);
  s.server.reset();  // the routes (each holding a reference) go with the server
  tail.handler = nullptr;
  bytes.reset();
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace clipserve::server
