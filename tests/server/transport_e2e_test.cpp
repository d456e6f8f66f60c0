// End-to-end transport tests: the real clip-server binary on ephemeral
// loopback ports, attacked with raw sockets, one test for each way the old
// HTTP layer failed (issue "Serving foundation", "Why"). After each attack
// the server must still answer.
#include <gtest/gtest.h>
#include <signal.h>
#include <zlib.h>

#include <atomic>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "raw_http.h"
#include "server_process.h"

namespace clipserve::server {
namespace {

using namespace std::chrono_literals;
using testing::RawConnection;
using testing::RawResponse;
using testing::ServerProcess;

std::unique_ptr<ServerProcess> Start(std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--model", "test-tiny", "--weights", "random:1", "--threads", "1",
                                   "--background-warmup", "off", "--precision", "fp32", "--access-log", "off"};
  args.insert(args.end(), more.begin(), more.end());
  auto p = std::make_unique<ServerProcess>(std::move(args));
  p->WaitListening();
  p->WaitForStatus(p->http_port, "/v2/health/ready", 200);
  return p;
}

long RssKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::string Get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

std::string Post(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
         "\r\n" + body;
}

// A JSON v2 request for test-tiny's tensor model: one 3x32x32 image.
std::string TensorJson(float value) {
  std::ostringstream os;
  os << R"({"inputs":[{"name":"image","datatype":"FP32","shape":[1,3,32,32],"data":[)";
  for (int i = 0; i < 3 * 32 * 32; ++i) os << (i ? "," : "") << value;
  os << "]}]}";
  return os.str();
}

const std::string kInfer = "/v2/models/openclip_vit_b32/infer";

// The server answers a fresh connection: it survived.
void ExpectServing(const ServerProcess& p) {
  RawConnection c(p.http_port);
  ASSERT_TRUE(c.Send(Get("/v2/health/ready")));
  auto r = c.Read(10s);
  ASSERT_TRUE(r.has_value()) << "the server stopped answering";
  EXPECT_EQ(r->status, 200);
}

std::optional<RawResponse> OneShot(int port, const std::string& bytes, std::chrono::milliseconds timeout = 20s) {
  RawConnection c(port);
  if (!c.Send(bytes)) return std::nullopt;
  return c.Read(timeout);
}

std::string Gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(TransportE2E, InvalidUtf8PathIsAJson404) {
  auto p = Start();
  for (int port : {p->http_port, p->rest_port, p->metrics_port}) {
    auto r = OneShot(port, Get("/nope%FF"));
    ASSERT_TRUE(r) << port;
    EXPECT_EQ(r->status, 404);
    EXPECT_NE(r->body.find("\xEF\xBF\xBD"), std::string::npos) << r->body;  // U+FFFD, valid UTF-8
  }
  ExpectServing(*p);
}

TEST(TransportE2E, GzipBombStopsAtTheBodyLimitAndMemoryStaysFlat) {
  auto p = Start({"--max-body-bytes", "1048576"});
  const std::string bomb = Gzip(std::string(200u << 20, ' '));  // 200 MB of spaces -> ~200 KB
  ASSERT_LT(bomb.size(), 1u << 20);
  const long before = RssKb(p->pid());
  for (int i = 0; i < 3; ++i) {
    auto r = OneShot(p->http_port, Post(kInfer, bomb, "Content-Encoding: gzip\r\nContent-Type: application/json\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413) << r->body;
    EXPECT_NE(r->body.find("Content-Encoding"), std::string::npos) << r->body;
  }
  const long after = RssKb(p->pid());
  EXPECT_LT(after - before, 64 * 1024) << "RSS grew from " << before << " kB to " << after << " kB";
  // A gzip body within the limit is decoded and served like a plain one.
  auto plain = OneShot(p->http_port, Post(kInfer, TensorJson(0.5f), "Content-Type: application/json\r\n"));
  auto zipped = OneShot(p->http_port, Post(kInfer, Gzip(TensorJson(0.5f)), "Content-Encoding: gzip\r\n"));
  ASSERT_TRUE(plain && zipped);
  EXPECT_EQ(plain->status, 200);
  EXPECT_EQ(zipped->status, 200);
  EXPECT_EQ(plain->body, zipped->body);
  auto br = OneShot(p->http_port, Post(kInfer, "x", "Content-Encoding: br\r\n"));
  ASSERT_TRUE(br);
  EXPECT_EQ(br->status, 415);
  ExpectServing(*p);
}

TEST(TransportE2E, ChunkedBodyOverTheLimitGets413BeforeItIsSent) {
  auto p = Start({"--max-body-bytes", "1048576"});
  RawConnection c(p->http_port);
  ASSERT_TRUE(c.Send("POST " + kInfer + " HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk_data(64 * 1024, 'x');
  std::ostringstream hex;
  hex << std::hex << chunk_data.size();
  const std::string chunk = hex.str() + "\r\n" + chunk_data + "\r\n";
  std::size_t sent = 0;
  while (sent < (20u << 20) && !c.Readable(0ms)) {
    if (!c.Send(chunk)) break;
    sent += chunk_data.size();
    if (sent > (1u << 20)) std::this_thread::sleep_for(1ms);  // give the answer time to arrive
  }
  auto r = c.Read(5s);
  ASSERT_TRUE(r) << "no answer after " << sent << " bytes";
  EXPECT_EQ(r->status, 413);
  EXPECT_LT(sent, 8u << 20) << "the server read far past the limit before answering";
  ExpectServing(*p);
}

TEST(TransportE2E, BodyWithoutLengthGets411AndAnAnswerComes) {
  auto p = Start();
  RawConnection c(p->http_port);
  ASSERT_TRUE(c.Send("POST " + kInfer + " HTTP/1.1\r\nHost: t\r\n\r\n" + TensorJson(0.1f)));
  c.ShutdownWrite();
  auto r = c.Read(5s);
  ASSERT_TRUE(r) << "no answer to a body without Content-Length";
  EXPECT_EQ(r->status, 411);
  EXPECT_TRUE(c.ClosedByPeer(5s));
  ExpectServing(*p);
}

TEST(TransportE2E, NegativeDuplicateAndConflictingLengthsGet400) {
  auto p = Start();
  const std::string head = "POST " + kInfer + " HTTP/1.1\r\nHost: t\r\n";
  for (const std::string& bad : {head + "Content-Length: -1\r\n\r\n",
                                 head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                                 head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                                 head + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                                 head + "Transfer-Encoding: gzip\r\n\r\nxx",
                                 head + "Content-Length: 5, 6\r\n\r\nhello!",
                                 std::string("GARBAGE\r\n\r\n")}) {
    RawConnection c(p->http_port);
    ASSERT_TRUE(c.Send(bad));
    auto r = c.Read(5s);
    ASSERT_TRUE(r) << "no answer to:\n" << bad;
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_EQ(r->body.front(), '{') << r->body;
    EXPECT_TRUE(c.ClosedByPeer(5s)) << "the connection stayed open after:\n" << bad;
  }
  ExpectServing(*p);
}

TEST(TransportE2E, PipelinedRequestsAreAnsweredInOrder) {
  auto p = Start();
  RawConnection c(p->http_port);
  const std::string body = TensorJson(0.25f);
  ASSERT_TRUE(c.Send(Get("/v2/health/live") + Get("/v2/models/openclip_vit_b32") +
                     Post(kInfer, body, "Content-Type: application/json\r\n") + Get("/v2/models/nope") +
                     Get("/v2/health/ready")));
  auto a = c.Read(), b = c.Read(), d = c.Read(), e = c.Read(), f = c.Read();
  ASSERT_TRUE(a && b && d && e && f);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(b->status, 200);
  EXPECT_NE(b->body.find("\"openclip_vit_b32\""), std::string::npos) << b->body;
  EXPECT_EQ(d->status, 200);
  EXPECT_NE(d->body.find("\"embedding\""), std::string::npos) << d->body;
  EXPECT_EQ(e->status, 400);  // unknown model: v2 says 400, and the connection stays open
  EXPECT_EQ(f->status, 200);
}

TEST(TransportE2E, SlowHeadersAreCutWith408WhileOthersAreServed) {
  auto p = Start({"--header-timeout-s", "1"});
  const int kSlow = 6;
  std::vector<std::future<int>> slow;
  std::atomic<bool> stop{false};
  for (int i = 0; i < kSlow; ++i) {
    const int port = i % 2 == 0 ? p->http_port : p->metrics_port;
    slow.push_back(std::async(std::launch::async, [port, &stop] {
      RawConnection c(port);
      const std::string line = "GET /v2/health/live HTTP/1.1\r\nHost: t\r\nX-Slow: ";
      for (std::size_t i = 0; !stop.load() && i < 200; ++i) {
        if (!c.Send(std::string(1, i < line.size() ? line[i] : 'a'))) break;
        if (c.Readable(200ms)) break;
      }
      auto r = c.Read(5s);
      return r ? r->status : -1;
    }));
  }
  std::this_thread::sleep_for(300ms);
  // Meanwhile every port serves at once.
  for (int port : {p->http_port, p->metrics_port, p->rest_port}) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = OneShot(port, Get(port == p->metrics_port ? "/metrics" : (port == p->rest_port ? "/health" : "/v2/health/live")));
    ASSERT_TRUE(r) << port;
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  }
  for (auto& s : slow) EXPECT_EQ(s.get(), 408);
  stop.store(true);
  ExpectServing(*p);
}

TEST(TransportE2E, LongModelNamesGet414AndMemoryStaysBounded) {
  auto p = Start();
  const long before = RssKb(p->pid());
  for (int i = 0; i < 300; ++i) {
    const std::size_t len = i % 2 == 0 ? 8192 : 2000;  // over the URL limit; over the segment limit
    auto r = OneShot(p->http_port, Get("/v2/models/" + std::string(len, 'm') + "/ready"));
    ASSERT_TRUE(r) << i;
    ASSERT_EQ(r->status, 414) << i;
  }
  const long after = RssKb(p->pid());
  EXPECT_LT(after - before, 32 * 1024) << "RSS grew from " << before << " kB to " << after << " kB";
  ExpectServing(*p);
}

TEST(TransportE2E, HeaderCountAndSizeLimitsGet431) {
  auto p = Start();
  std::string many;
  for (int i = 0; i < 200; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  auto r = OneShot(p->http_port, Get("/v2/health/live", many));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  r = OneShot(p->http_port, Get("/v2/health/live", "X-Big: " + std::string(70000, 'b') + "\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  r = OneShot(p->http_port, Get("/v2/health/live?" + std::string(100000, 'q')));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 414);
  ExpectServing(*p);
}

TEST(TransportE2E, ExpectContinueGetsItsInterimAnswerBeforeTheBody) {
  auto p = Start({"--max-body-bytes", "1048576"});
  const std::string body = TensorJson(0.75f);
  RawConnection c(p->http_port);
  ASSERT_TRUE(c.Send("POST " + kInfer + " HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n"));
  auto interim = c.Read(5s);
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send(body));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // Over the limit: 413 at once, no 100, the body never sent.
  RawConnection big(p->http_port);
  ASSERT_TRUE(big.Send("POST " + kInfer + " HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n"));
  r = big.Read(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST(TransportE2E, ConnectionsOverTheCapGet503) {
  auto p = Start({"--max-connections", "3"});
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawConnection>(p->http_port));
    ASSERT_TRUE(held.back()->Send(Get("/v2/health/live")));
    auto r = held.back()->Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  auto r = OneShot(p->http_port, Get("/v2/health/live"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("limit of 3 connections"), std::string::npos) << r->body;
  held.pop_back();
  std::optional<RawResponse> again;
  for (int i = 0; i < 100 && !(again && again->status == 200); ++i) {
    std::this_thread::sleep_for(20ms);
    again = OneShot(p->http_port, Get("/v2/health/live"));
  }
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST(TransportE2E, SigtermWithFiftyRequestsInFlightAnswersEveryOne) {
  // A long batching delay holds the requests queued when SIGTERM arrives.
  auto p = Start({"--max-queue-delay-us", "10000000", "--max-batch-size", "64", "--drain-timeout-s", "20"});
  const int kRequests = 50;
  const std::string request = Post(kInfer, TensorJson(0.5f), "Content-Type: application/json\r\n");
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < kRequests; ++i) {
    conns.push_back(std::make_unique<RawConnection>(p->http_port));
    ASSERT_TRUE(conns.back()->Send(request));
  }
  RawConnection idle(p->http_port);  // keep-alive, no request: closed at the drain
  ASSERT_TRUE(idle.Send(Get("/v2/health/live")));
  ASSERT_TRUE(idle.Read());
  // Wait until all are queued.
  const std::string pending = "nv_inference_pending_request_count{model=\"openclip_vit_b32\",version=\"1\"} 50";
  bool queued = false;
  for (int i = 0; i < 500 && !queued; ++i) {
    auto m = OneShot(p->metrics_port, Get("/metrics"));
    queued = m && m->body.find(pending) != std::string::npos;
    if (!queued) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(queued) << "the requests were not queued";
  p->Signal(SIGTERM);
  int ok = 0;
  for (auto& c : conns) {
    auto r = c->Read(15s);
    if (r && r->status == 200) {
      ++ok;
      EXPECT_TRUE(r->has_header("connection: close")) << r->headers;
    }
  }
  EXPECT_EQ(ok, kRequests);
  EXPECT_TRUE(idle.ClosedByPeer(5s));
  auto code = p->WaitExit(20s);
  ASSERT_TRUE(code.has_value()) << "clip-server did not exit";
  EXPECT_EQ(*code, 0) << p->Stderr();
}

TEST(TransportE2E, MultipartWithoutBoundaryOrMalformedGets400) {
  auto p = Start();
  auto r = OneShot(p->rest_port, Post("/embed/batch", "x", "Content-Type: multipart/form-data\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("\"detail\""), std::string::npos) << r->body;
  r = OneShot(p->rest_port, Post("/embed/batch", "--b\r\nno end", "Content-Type: multipart/form-data; boundary=b\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  ExpectServing(*p);
}

}  // namespace
}  // namespace clipserve::server
