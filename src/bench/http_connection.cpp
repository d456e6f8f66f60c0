#include "bench/http_connection.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <charconv>
#include <optional>
#include <sstream>

namespace clipserve::bench {

namespace http = boost::beast::http;

namespace {

// A response larger than this is a broken server, not a big embedding batch
// (32 x 512 floats as JSON is ~0.3 MB).
constexpr std::uint64_t kMaxResponseBodyBytes = 1ull << 30;
constexpr std::uint32_t kMaxResponseHeaderBytes = 64u << 10;
// A keep-alive connection idle for longer than this is checked (one
// non-blocking peek) before reuse: servers close idle connections, and a
// request written into a closed one fails for no reason of its own.
constexpr auto kIdleCheckAfter = std::chrono::milliseconds(100);

WireRequest Serialize(const Endpoint& ep, http::verb verb, const std::string& path, const PreparedRequest* post) {
  http::request<http::empty_body> req{verb, ep.base_path + path, 11};
  req.set(http::field::host, ep.host + ":" + std::to_string(ep.port));
  req.set(http::field::user_agent, "benchmark_backends");
  for (const auto& [k, v] : ep.headers) req.insert(k, v);
  WireRequest wire;
  if (post) {
    if (!post->content_type.empty()) req.set(http::field::content_type, post->content_type);
    for (const auto& [k, v] : post->headers) req.insert(k, v);
    // Set by hand because the body travels separately (empty_body would say 0).
    req.set(http::field::content_length, std::to_string(post->body.size()));
    wire.body = post->body;
  }
  std::ostringstream os;
  os << req.base();  // Beast's serialiser: request line, fields, blank line
  wire.head = std::move(os).str();
  return wire;
}

}  // namespace

WireRequest SerializePost(const Endpoint& endpoint, const PreparedRequest& request) {
  return Serialize(endpoint, http::verb::post, request.path, &request);
}

WireRequest SerializeGet(const Endpoint& endpoint, const std::string& path) {
  return Serialize(endpoint, http::verb::get, path, nullptr);
}

namespace detail {

Target Resolve(const Endpoint& endpoint) {
  Target t;
  t.name = endpoint.host + ":" + std::to_string(endpoint.port);
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
  if (ec) {
    t.error = "cannot resolve " + t.name + ": " + ec.message();
    return t;
  }
  for (const auto& r : results) t.addresses.push_back(r.endpoint());
  // IPv4 first: "localhost" servers usually bind 127.0.0.1 only, and every
  // reconnect would otherwise pay a refused ::1 attempt.
  std::stable_partition(t.addresses.begin(), t.addresses.end(), [](const tcp::endpoint& e) { return e.address().is_v4(); });
  if (t.addresses.empty()) t.error = "cannot resolve " + t.name + ": no addresses";
  return t;
}

struct Connection::Link {
  explicit Link(const asio::any_io_executor& ex) : socket(ex) {}
  tcp::socket socket;
  boost::beast::flat_buffer buffer;  // bytes past one response stay for the next
  std::optional<http::response_parser<http::string_body>> parser;
  bool write_failed = false;  // the server stopped reading; its answer may still come
};

Connection::Connection(asio::any_io_executor executor, std::shared_ptr<const Target> target,
                       std::chrono::milliseconds timeout)
    : executor_(std::move(executor)), target_(std::move(target)), timeout_(timeout) {}

Connection::~Connection() { CloseLink(); }

void Connection::Exchange(const WireRequest& request, ExchangeDone done) {
  const SteadyTime now = std::chrono::steady_clock::now();
  const bool was_idle = queue_.empty();
  queue_.push_back({&request, std::move(done), now + timeout_});
  if (!target_->error.empty()) {
    // Asynchronously, like every other completion.
    asio::post(executor_, [this] { Fail(FailureKind::kConnection, target_->error); });
    return;
  }
  if (link_ && open_ && was_idle && now - idle_since_ > kIdleCheckAfter && PeerClosedWhileIdle()) CloseLink();
  if (!link_) {
    Connect();
    return;
  }
  PumpWrite();
}

bool Connection::PeerClosedWhileIdle() {
  char byte;
  const ssize_t n = ::recv(link_->socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;                                     // FIN: the server closed it
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;   // reset
  return true;  // bytes nobody asked for: the stream is out of step, start afresh
}

void Connection::Connect() {
  link_ = std::make_shared<Link>(executor_);
  open_ = false;
  connects_.fetch_add(1, std::memory_order_relaxed);
  auto link = link_;
  asio::async_connect(link->socket, target_->addresses,
                      [this, link](const boost::system::error_code& ec, const tcp::endpoint&) { OnConnect(link, ec); });
}

void Connection::OnConnect(const std::shared_ptr<Link>& link, const boost::system::error_code& ec) {
  if (link != link_) return;  // closed meanwhile (timeout): already failed
  if (ec) {
    Fail(FailureKind::kConnection, "connect to " + target_->name + ": " + ec.message());
    return;
  }
  boost::system::error_code ignored;
  // Without TCP_NODELAY a request written as head + body can stall on
  // Nagle + delayed ACK (40 ms on Linux) and poison every percentile.
  link->socket.set_option(tcp::no_delay(true), ignored);
  open_ = true;
  PumpWrite();
}

void Connection::PumpWrite() {
  if (!link_ || !open_ || writing_ || link_->write_failed || written_ >= queue_.size()) return;
  writing_ = true;
  const WireRequest& r = *queue_[written_].request;
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(r.head), asio::buffer(r.body.data(), r.body.size())};
  auto link = link_;
  asio::async_write(link->socket, buffers,
                    [this, link](const boost::system::error_code& ec, std::size_t) { OnWrite(link, ec); });
  // Read while writing: a server may answer (413) before the body is sent.
  PumpRead();
}

void Connection::OnWrite(const std::shared_ptr<Link>& link, const boost::system::error_code& ec) {
  if (link != link_) return;
  writing_ = false;
  if (ec) {
    // A server that answers early (413) and closes breaks our write; its
    // answer is still in the read that is under way, so let that finish.
    link->write_failed = true;
    if (!reading_) Fail(FailureKind::kConnection, "write to " + target_->name + ": " + ec.message());
    return;
  }
  ++written_;
  PumpWrite();
}

void Connection::PumpRead() {
  if (!link_ || !open_ || reading_ || queue_.empty() || (written_ == 0 && !writing_)) return;
  reading_ = true;
  auto link = link_;
  link->parser.emplace();
  link->parser->body_limit(kMaxResponseBodyBytes);
  link->parser->header_limit(kMaxResponseHeaderBytes);
  http::async_read(link->socket, link->buffer, *link->parser,
                   [this, link](const boost::system::error_code& ec, std::size_t) { OnRead(link, ec); });
}

void Connection::OnRead(const std::shared_ptr<Link>& link, const boost::system::error_code& ec) {
  if (link != link_) return;
  reading_ = false;
  if (ec) {
    // A close or reset is the connection's fault; bytes Beast cannot parse
    // as HTTP (or over the limits) are the server's.
    const bool beast_http = ec.category() == http::make_error_code(http::error::end_of_stream).category();
    if (!beast_http || ec == http::error::end_of_stream || ec == http::error::partial_message) {
      Fail(FailureKind::kConnection, "read from " + target_->name + ": " + ec.message());
    } else {
      Fail(FailureKind::kBadResponse, "malformed HTTP response from " + target_->name + ": " + ec.message());
    }
    return;
  }
  SendResult out;
  out.response_time = std::chrono::steady_clock::now();
  auto& msg = link->parser->get();
  out.response.status = static_cast<int>(msg.result_int());
  if (auto it = msg.find(http::field::content_type); it != msg.end()) out.response.content_type = std::string(it->value());
  if (auto it = msg.find("Inference-Header-Content-Length"); it != msg.end()) {
    const auto v = it->value();
    std::size_t n = 0;
    auto [p, perr] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (perr == std::errc() && p == v.data() + v.size()) out.response.inference_header_length = n;
  }
  out.response.body = std::move(msg.body());
  if (out.response.status < 200 || out.response.status >= 300) {
    out.failure = FailureKind::kHttpStatus;
    out.detail = "HTTP " + std::to_string(out.response.status) + ": " + out.response.body.substr(0, 200);
  }
  const bool keep_alive = link->parser->keep_alive();
  // Answered before it was fully written (an early 413): the server will not
  // read the rest, so this connection cannot carry another request.
  const bool early = written_ == 0;
  Pending p = std::move(queue_.front());
  queue_.pop_front();
  if (!early) --written_;
  idle_since_ = out.response_time;
  std::vector<Pending> unanswered;
  if (!keep_alive || early) {
    // Requests already on the wire behind this one will get no answer;
    // unwritten ones go out on a new connection below.
    const std::size_t on_wire = written_ + (writing_ && !early ? 1 : 0);
    CloseLink();
    unanswered = TakeFront(on_wire);
  }
  p.done(std::move(out));
  Deliver(unanswered, FailureKind::kConnection, "server closed the connection with pipelined requests unanswered");
  // `done` may have queued the next request (and pumped already).
  if (!link_ && !queue_.empty()) {
    Connect();
    return;
  }
  PumpWrite();
  PumpRead();
}

void Connection::CheckDeadline(SteadyTime now) {
  if (queue_.empty() || queue_.front().deadline > now) return;
  Fail(FailureKind::kTimeout, "no response from " + target_->name + " within " + std::to_string(timeout_.count()) + " ms");
}

void Connection::CloseLink() {
  if (link_) {
    boost::system::error_code ignored;
    link_->socket.shutdown(tcp::socket::shutdown_both, ignored);
    link_->socket.close(ignored);
  }
  link_.reset();
  open_ = false;
  written_ = 0;
  writing_ = false;
  reading_ = false;
}

std::vector<Connection::Pending> Connection::TakeFront(std::size_t n) {
  n = std::min(n, queue_.size());
  std::vector<Pending> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return out;
}

void Connection::Deliver(std::vector<Pending>& failed, FailureKind kind, const std::string& detail) {
  if (failed.empty()) return;
  const SteadyTime now = std::chrono::steady_clock::now();
  idle_since_ = now;
  for (auto& p : failed) {
    SendResult r;
    r.failure = kind;
    r.detail = detail;
    r.response_time = now;
    p.done(std::move(r));
  }
}

void Connection::Fail(FailureKind kind, const std::string& detail) {
  CloseLink();
  auto failed = TakeFront(queue_.size());
  // The callbacks may queue new requests: they open a new connection.
  Deliver(failed, kind, detail);
  if (!link_ && !queue_.empty()) Connect();
}

}  // namespace detail
}  // namespace clipserve::bench
