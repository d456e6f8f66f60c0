#include "server/http_server.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "common/constant_time.h"
#include "server/api_common.h"
#include "server/content_coding.h"
#include "server/multipart.h"
#include "server/router.h"

namespace clipserve::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

struct HttpRequest::Data {
  std::string method;
  DecodedPath path;
  std::vector<std::string> params;
  const http::fields* fields = nullptr;
  std::string_view body;                 // after transfer and content decoding
  std::shared_ptr<const void> body_owner;  // keeps `body` valid
  bool multipart = false;
  std::vector<MultipartPart> parts;
};

std::string_view HttpRequest::method() const { return d_->method; }
std::string_view HttpRequest::path() const { return d_->path.path; }
std::string_view HttpRequest::body() const { return d_->body; }
std::shared_ptr<const void> HttpRequest::body_owner() const { return d_->body_owner; }

std::string HttpRequest::path_param(size_t i) const {
  return i >= 1 && i <= d_->params.size() ? d_->params[i - 1] : std::string();
}

std::string HttpRequest::header(std::string_view name) const {
  auto it = d_->fields->find(name);
  return it == d_->fields->end() ? std::string() : std::string(it->value());
}

bool HttpRequest::has_header(std::string_view name) const { return d_->fields->find(name) != d_->fields->end(); }

bool HttpRequest::is_multipart() const { return d_->multipart; }

std::vector<FormPart> HttpRequest::form_parts(std::string_view field) const {
  std::vector<FormPart> parts;
  for (const auto& p : d_->parts) {
    if (p.name == field) parts.push_back({p.filename, p.content_type, p.content});
  }
  return parts;
}

std::vector<std::string> HttpRequest::form_field_names() const {
  std::vector<std::string> names;
  for (const auto& p : d_->parts) {
    if (std::find(names.begin(), names.end(), p.name) == names.end()) names.push_back(p.name);
  }
  return names;
}

void WriteAccessLog(std::string_view api, std::string_view method, std::string_view path, int status,
                    std::uint64_t bytes, long long duration_us, long long handle_us, int batch_size) {
  const auto now = std::chrono::system_clock::now();
  const long long ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::string line;
  line.reserve(200);
  line += "{\"ts_ms\":" + std::to_string(ts_ms);
  line += ",\"api\":" + JsonQuote(api);
  line += ",\"method\":" + JsonQuote(method);
  line += ",\"path\":" + JsonQuote(path);
  line += ",\"status\":" + std::to_string(status);
  line += ",\"bytes\":" + std::to_string(bytes);
  line += ",\"duration_us\":" + std::to_string(duration_us);
  line += ",\"handle_us\":" + std::to_string(handle_us);
  line += ",\"batch_size\":" + std::to_string(batch_size);
  line += "}\n";
  // One fwrite per line: stdio locks the stream, so lines never interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// After an error answer with input left unread, the socket is half-closed and
// the rest is read and dropped for a while, so the kernel does not reset the
// connection (and destroy the answer) before the client has read it.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 4u << 20;
// Bodies over kSmallBodyBytes are read kBodyReadBytes at a time.
constexpr std::size_t kSmallBodyBytes = 16u << 10;
constexpr std::size_t kBodyReadBytes = 64u << 10;
// A body with a Content-Length over kSmallBodyBytes is read straight from the
// socket into its own buffer (no copy through the parser's buffer, no
// zero-fill), up to kDirectReadBytes per read.
constexpr std::size_t kDirectReadBytes = 4u << 20;
constexpr std::size_t kBodyAlignment = 64;

// Body buffers a finished request gave back, for the next large body: a
// fresh 19 MB allocation costs ~4,700 page faults (each a zeroed page), a
// reused one none. Holds at most kMaxBuffers buffers and kMaxBytes bytes.
class BodyPool {
 public:
  static constexpr std::size_t kMaxBuffers = 8;
  static constexpr std::size_t kMaxBytes = 64u << 20;

  struct Block {
    std::unique_ptr<char[]> bytes;
    std::size_t capacity = 0;
  };

  // A block of at least `size` bytes, uninitialized: a pooled one no more
  // than twice as large, else a new one.
  Block Take(std::size_t size) {
    {
      std::lock_guard lock(mu_);
      auto best = free_.end();
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->capacity >= size && it->capacity / 2 <= size &&
            (best == free_.end() || it->capacity < best->capacity)) {
          best = it;
        }
      }
      if (best != free_.end()) {
        Block b = std::move(*best);
        free_.erase(best);
        bytes_ -= b.capacity;
        return b;
      }
    }
    return Block{std::make_unique_for_overwrite<char[]>(size), size};
  }

  void Give(Block b) {
    std::lock_guard lock(mu_);
    if (free_.size() >= kMaxBuffers || bytes_ + b.capacity > kMaxBytes) return;  // freed on return
    bytes_ += b.capacity;
    free_.push_back(std::move(b));
  }

 private:
  std::mutex mu_;
  std::vector<Block> free_;
  std::size_t bytes_ = 0;
};

// A request body read from the socket into memory of its own; its block
// goes back to the pool when the last owner lets go.
struct BodyBuffer {
  BodyPool::Block block;
  std::weak_ptr<BodyPool> pool;
  char* data = nullptr;
  std::size_t size = 0;
  ~BodyBuffer() {
    if (auto p = pool.lock()) p->Give(std::move(block));
  }
};

// Where in a buffer of `size` + kBodyAlignment bytes the body starts so that
// body[at] lands on a kBodyAlignment boundary.
std::size_t AlignedStart(const char* base, std::size_t at) {
  const auto addr = reinterpret_cast<std::uintptr_t>(base) + at;
  return (kBodyAlignment - addr % kBodyAlignment) % kBodyAlignment;
}

class Session;

// A response body in two parts, written with one gather write: `head` (an
// encoded header, JSON) and `tail`, a view of bytes kept alive by `owner`.
struct TwoPartBody {
  struct value_type {
    std::string head;
    std::string_view tail;
    std::shared_ptr<const void> owner;
  };
  static std::uint64_t size(const value_type& v) { return v.head.size() + v.tail.size(); }

  class writer {
   public:
    using const_buffers_type = std::array<net::const_buffer, 2>;
    template <bool isRequest, class Fields>
    writer(const http::header<isRequest, Fields>&, const value_type& v) : v_(v) {}
    void init(boost::system::error_code& ec) { ec = {}; }
    boost::optional<std::pair<const_buffers_type, bool>> get(boost::system::error_code& ec) {
      ec = {};
      if (done_) return boost::none;
      done_ = true;
      return std::make_pair(const_buffers_type{net::buffer(v_.head), net::buffer(v_.tail.data(), v_.tail.size())},
                            false);
    }

   private:
    const value_type& v_;
    bool done_ = false;
  };
};

}  // namespace

struct HttpResponder::State {
  std::shared_ptr<Session> session;
  std::atomic<bool> done{false};
  std::vector<std::function<void(const HttpResponse&)>> observers;
  void Send(HttpResponse response);
  // A handler that drops its responder without answering would leave the
  // connection waiting forever; answer 500 instead.
  ~State();
};

struct HttpServer::Impl {
  HttpServerOptions options;
  std::vector<Route> routes;
  Router router;

  // Declared before the io_context: sessions unregister in their destructor,
  // which may run while the io_context is destroyed.
  std::mutex sessions_mu;
  std::condition_variable sessions_cv;
  std::unordered_set<Session*> sessions;
  std::atomic<int> open{0};
  std::atomic<bool> draining{false};
  std::atomic<bool> io_stopped{false};  // Stop joined the I/O threads

  // One io_context run by every I/O thread; a strand per connection. (One
  // io_context per thread was measured: with the threads on one CPU it
  // doubled the context switches per small request, docs/PERFORMANCE.md §10.)
  net::io_context ioc;
  // Keeps run() going while every connection is inside a handler (no socket
  // operation pending) and after the acceptor closes; reset by Stop.
  net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(ioc);
  std::optional<net::thread_pool> pool;
  std::shared_ptr<BodyPool> body_pool = std::make_shared<BodyPool>();
  tcp::acceptor acceptor{net::make_strand(ioc)};
  std::vector<std::thread> io_threads;
  std::mutex mu;  // Bind/Start/Stop
  int port = -1;
  bool started = false;
  bool stopped = false;

  explicit Impl(HttpServerOptions o) : options(std::move(o)) {}

  // Never throws: an escaped exception here would end the process.
  std::string ErrorBody(int status, std::string_view message) const {
    try {
      if (options.error_body) return options.error_body(status, message);
    } catch (...) {
    }
    return "{\"error\":" + JsonQuote(message) + "}";
  }

  void Accept();
  // Owning references to the sessions alive now, taken under the lock but
  // released outside it: the last reference may run a Session destructor,
  // which takes the lock to unregister.
  std::vector<std::shared_ptr<Session>> LiveSessions();
  void Register(Session* s);
  void Unregister(Session* s);
};

namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl* srv, tcp::socket socket)
      : srv_(srv), socket_(std::move(socket)), timer_(socket_.get_executor()) {}
  ~Session() {
    if (registered_) srv_->Unregister(this);
  }

  void Start(bool reject) {
    // Registered here, not in the constructor: make_shared sets the
    // enable_shared_from_this pointer after the constructor returns, and
    // LiveSessions (BeginDrain, on another thread) reads it as soon as the
    // session is in the set (a data race ThreadSanitizer found).
    srv_->Register(this);
    registered_ = true;
    net::dispatch(socket_.get_executor(), [self = shared_from_this(), reject] {
      boost::system::error_code ec;
      self->socket_.set_option(tcp::no_delay(true), ec);
      if (reject) {
        self->close_after_ = true;
        self->linger_ = true;
        self->log_path_ = "-";
        if (self->srv_->draining.load()) {
          self->ReplyError(503, "Service Unavailable: the server is shutting down");
        } else {
          self->ReplyError(503, "Service Unavailable: the " + self->srv_->options.name +
                                    " listener has reached its limit of " +
                                    std::to_string(self->srv_->options.max_connections) + " connections");
        }
        return;
      }
      self->ReadFirstByte();
    });
  }

  // From any thread: the handler's answer.
  void Complete(HttpResponse response) {
    // After Stop the I/O threads are gone: a late answer is dropped here, so
    // this session (and its slot in open_connections) goes with the caller.
    if (srv_->io_stopped.load()) return;
    net::post(socket_.get_executor(),
              [self = shared_from_this(), r = std::move(response)]() mutable { self->Write(std::move(r)); });
  }

  // On the strand: the server began draining.
  void OnDrain() {
    if (phase_ == Phase::kIdle || phase_ == Phase::kHeader) Close();
  }

  // On the strand: the drain timed out; close whatever this is doing.
  void ForceClose() { Close(); }

  auto executor() { return socket_.get_executor(); }

 private:
  enum class Phase { kIdle, kHeader, kBody, kHandling, kWriting, kClosed };
  enum class Deadline { kNone, kIdle, kHeader, kBody, kWrite, kLinger };

  const HttpServerOptions& opt() const { return srv_->options; }

  void Arm(std::chrono::steady_clock::duration d, Deadline what) {
    deadline_ = what;
    timed_out_ = Deadline::kNone;
    const std::uint64_t gen = ++timer_gen_;
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this(), gen](const boost::system::error_code& ec) {
      if (ec || gen != self->timer_gen_ || self->phase_ == Phase::kClosed) return;
      self->timed_out_ = self->deadline_;
      boost::system::error_code ignored;
      self->socket_.cancel(ignored);
    });
  }
  void Disarm() {
    ++timer_gen_;
    deadline_ = Deadline::kNone;
    timer_.cancel();
  }

  void ReadFirstByte() {
    phase_ = Phase::kIdle;
    // A pipelined request already here is read and answered (503 once
    // draining); an idle connection closes at the drain.
    if (buffer_.size() > 0) return StartHeader();
    if (srv_->draining.load()) return Close();
    Arm(std::chrono::seconds(opt().keep_alive_timeout_s), Deadline::kIdle);
    socket_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](
                                                       const boost::system::error_code& ec, std::size_t n) {
      self->Disarm();
      if (ec || self->phase_ == Phase::kClosed) return self->Close();  // idle timeout, EOF, reset, drain
      self->buffer_.commit(n);
      self->StartHeader();
    });
  }

  void StartHeader() {
    phase_ = Phase::kHeader;
    header_start_ = SteadyClock::now();
    header_deadline_ = header_start_ + std::chrono::seconds(opt().header_timeout_s);
    ScanRequestLine();
  }

  // Beast reports only "header too large"; reading until the request line
  // ends tells a target that is too long (414) from too many or too large
  // header fields (431). Usually the first read holds the whole header.
  void ScanRequestLine() {
    const auto data = buffer_.cdata();
    const std::string_view text(static_cast<const char*>(data.data()), data.size());
    if (text.find("\r\n") != std::string_view::npos) return ReadHeader();
    if (text.size() > opt().max_url_bytes + 64) {
      close_after_ = true;
      linger_ = true;
      return ReplyError(414, "URI Too Long: the limit is " + std::to_string(opt().max_url_bytes) + " bytes");
    }
    Arm(header_deadline_ - SteadyClock::now(), Deadline::kHeader);
    socket_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](
                                                       const boost::system::error_code& ec, std::size_t n) {
      const bool timed_out = self->timed_out_ == Deadline::kHeader;
      self->Disarm();
      if (self->phase_ == Phase::kClosed) return;
      if (timed_out) {
        self->close_after_ = true;
        self->linger_ = true;
        return self->ReplyError(408, "Request Timeout: the request header did not arrive within " +
                                         std::to_string(self->opt().header_timeout_s) + " s");
      }
      if (ec) return self->Close();
      self->buffer_.commit(n);
      self->ScanRequestLine();
    });
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(opt().max_header_bytes);
    parser_->body_limit(opt().max_body_bytes);
    Arm(header_deadline_ - SteadyClock::now(), Deadline::kHeader);
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                              self->OnHeader(ec);
                            });
  }

  void OnHeader(boost::system::error_code ec) {
    const Deadline timed_out = timed_out_;
    Disarm();
    if (phase_ == Phase::kClosed) return;
    close_after_ = true;  // until the request proves otherwise
    linger_ = true;
    if (timed_out == Deadline::kHeader) {
      return ReplyError(408, "Request Timeout: the request header did not arrive within " +
                                 std::to_string(opt().header_timeout_s) + " s");
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::operation_aborted) {
      return Close();
    }
    if (ec == http::error::header_limit) {
      return ReplyError(431, "Request Header Fields Too Large: the limit is " +
                                 std::to_string(opt().max_header_bytes) + " bytes");
    }
    if (ec == http::error::body_limit) {  // a declared Content-Length over the limit
      return ReplyError(413, "Request body too large: limit is " + std::to_string(opt().max_body_bytes) + " bytes");
    }
    if (ec == http::error::multiple_content_length || ec == http::error::bad_content_length ||
        ec == http::error::bad_transfer_encoding) {
      return ReplyError(400, "Bad Request: conflicting or invalid Content-Length / Transfer-Encoding (" +
                                 ec.message() + ")");
    }
    if (ec) return ReplyError(400, "Bad Request: malformed HTTP request (" + ec.message() + ")");

    const auto& msg = parser_->get();
    log_method_ = std::string(msg.method_string());
    log_path_ = std::string(msg.target().substr(0, 200));
    if (msg.target().size() > opt().max_url_bytes) {
      return ReplyError(414, "URI Too Long: the limit is " + std::to_string(opt().max_url_bytes) + " bytes");
    }
    int count = 0;
    int content_lengths = 0;
    for (const auto& f : msg) {
      ++count;
      if (f.name() == http::field::content_length) ++content_lengths;
    }
    if (count > opt().max_header_count) {
      return ReplyError(431, "Request Header Fields Too Large: more than " + std::to_string(opt().max_header_count) +
                                 " header fields");
    }
    if (content_lengths > 1) return ReplyError(400, "Bad Request: more than one Content-Length header");
    if (auto te = msg.find(http::field::transfer_encoding); te != msg.end() && !IEquals(te->value(), "chunked")) {
      return ReplyError(400, "Bad Request: Transfer-Encoding other than 'chunked' is not accepted");
    }
    if (msg.version() < 10 || msg.version() > 11) return ReplyError(400, "Bad Request: HTTP version not supported");
    if (const auto cl = parser_->content_length(); cl && *cl > opt().max_body_bytes) {
      return ReplyError(413, "Request body too large: limit is " + std::to_string(opt().max_body_bytes) + " bytes");
    }
    if (msg.method() == http::verb::post && !parser_->content_length() && !parser_->chunked()) {
      // Without either, HTTP/1.1 says the body is empty, and what the client
      // sends next would be read as another request.
      return ReplyError(411, "Length Required: a POST needs Content-Length or chunked Transfer-Encoding");
    }
    if (srv_->draining.load()) {
      return ReplyError(503, "Service Unavailable: the server is shutting down");
    }
    if (parser_->is_done()) return OnRequest();
    phase_ = Phase::kBody;
    if (auto expect = msg.find(http::field::expect); expect != msg.end() && IEquals(expect->value(), "100-continue")) {
      Arm(std::chrono::seconds(opt().write_timeout_s), Deadline::kWrite);
      net::async_write(socket_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                         self->Disarm();
                         if (ec) return self->Close();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    phase_ = Phase::kBody;
    const auto cl = parser_->content_length();
    if (cl && !parser_->chunked() && *cl > kSmallBodyBytes) return ReadBodyDirect(*cl);
    // Beast reads as much as the buffer has room for (at most 64 KiB): the
    // 4 KiB the header needed would mean ~4,700 recv calls for a 19 MB body.
    if (!cl || *cl > kSmallBodyBytes) buffer_.reserve(kBodyReadBytes);
    Arm(std::chrono::seconds(opt().read_timeout_s), Deadline::kBody);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                       self->OnBody(ec);
                     });
  }

  // The parser has checked the length against the limit; the body needs no
  // decoding of its framing, so the socket fills the request's own buffer.
  void ReadBodyDirect(std::size_t length) {
    auto body = std::make_shared<BodyBuffer>();
    body->block = srv_->body_pool->Take(length + kBodyAlignment);
    body->pool = srv_->body_pool;
    std::size_t align_at = 0;
    if (!opt().body_alignment_field.empty()) {
      const auto& msg = parser_->get();
      if (auto f = msg.find(opt().body_alignment_field); f != msg.end()) {
        std::uint64_t v = 0;
        const auto value = f->value();
        auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (err == std::errc() && end == value.data() + value.size() && v <= length) align_at = v;
      }
    }
    body->data = body->block.bytes.get() + AlignedStart(body->block.bytes.get(), align_at);
    body->size = length;
    // What the header read already took from the socket.
    const std::size_t have = std::min(length, buffer_.size());
    net::buffer_copy(net::buffer(body->data, have), buffer_.data());
    buffer_.consume(have);
    direct_body_ = std::move(body);
    if (have == length) return OnRequest();
    Arm(std::chrono::seconds(opt().read_timeout_s), Deadline::kBody);
    const std::size_t remaining = length - have;
    net::async_read(
        socket_, net::buffer(direct_body_->data + have, remaining),
        [remaining](const boost::system::error_code& ec, std::size_t n) -> std::size_t {
          return ec || n >= remaining ? 0 : std::min(remaining - n, kDirectReadBytes);
        },
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          const Deadline timed_out = self->timed_out_;
          self->Disarm();
          if (self->phase_ == Phase::kClosed) return;
          if (timed_out == Deadline::kBody) {
            self->direct_body_.reset();
            return self->ReplyError(408, "Request Timeout: the request body did not arrive within " +
                                             std::to_string(self->opt().read_timeout_s) + " s");
          }
          if (ec) {
            self->direct_body_.reset();
            return self->Close();  // the client went away mid-body
          }
          self->OnRequest();
        });
  }

  void OnBody(boost::system::error_code ec) {
    const Deadline timed_out = timed_out_;
    Disarm();
    if (phase_ == Phase::kClosed) return;
    if (timed_out == Deadline::kBody) {
      return ReplyError(408, "Request Timeout: the request body did not arrive within " +
                                 std::to_string(opt().read_timeout_s) + " s");
    }
    if (ec == http::error::body_limit) {
      return ReplyError(413, "Request body too large: limit is " + std::to_string(opt().max_body_bytes) + " bytes");
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      return Close();
    }
    if (ec) return ReplyError(400, "Bad Request: malformed HTTP body (" + ec.message() + ")");
    OnRequest();
  }

  bool HasKey(const http::request<http::string_body>& msg) const {
    const std::string& key = opt().api_key;
    if (auto it = msg.find(http::field::authorization); it != msg.end()) {
      std::string_view v = it->value();
      constexpr std::string_view kBearer = "Bearer ";
      if (v.size() >= kBearer.size() && IEquals(v.substr(0, kBearer.size()), kBearer) &&
          ConstantTimeEquals(v.substr(kBearer.size()), key)) {
        return true;
      }
    }
    if (auto it = msg.find("X-API-Key"); it != msg.end()) return ConstantTimeEquals(it->value(), key);
    return false;
  }

  void OnRequest() {
    phase_ = Phase::kHandling;
    request_read_ = SteadyClock::now();
    auto& msg = parser_->get();
    data_ = HttpRequest::Data{};
    data_.method = std::string(msg.method_string());
    data_.fields = &msg.base();
    if (direct_body_) {
      data_.body = std::string_view(direct_body_->data, direct_body_->size);
      data_.body_owner = std::move(direct_body_);
    } else {
      auto body = std::make_shared<std::string>(std::move(msg.body()));
      data_.body = *body;
      data_.body_owner = std::move(body);
    }
    ++requests_;
    close_after_ = !msg.keep_alive() || requests_ >= opt().keep_alive_max_count || srv_->draining.load();
    linger_ = false;

    PathLimits limits;
    limits.max_segment_bytes = opt().max_path_segment_bytes;
    auto path = DecodePath(msg.target(), limits);
    if (!path.ok()) {
      if (path.status().code() == StatusCode::kOutOfRange) return ReplyError(414, "URI Too Long: " + path.status().message(), false);
      return ReplyError(400, "Bad Request: " + path.status().message(), false);
    }
    data_.path = std::move(*path);
    log_path_ = data_.path.path.substr(0, 200);

    if (auto ce = msg.find(http::field::content_encoding); ce != msg.end()) {
      auto coding = ParseContentCoding(ce->value());
      if (!coding.ok()) return ReplyError(415, "Unsupported Media Type: " + coding.status().message(), false);
      if (*coding != ContentCoding::kIdentity) {
        auto decoded = std::make_shared<std::string>();
        Status st = DecodeContent(*coding, data_.body, opt().max_body_bytes, *decoded);
        if (st.code() == StatusCode::kResourceExhausted) {
          return ReplyError(413, "Request body too large: limit is " + std::to_string(opt().max_body_bytes) +
                                     " bytes after Content-Encoding", false);
        }
        if (!st.ok()) return ReplyError(400, "Bad Request: " + st.message(), false);
        data_.body = *decoded;
        data_.body_owner = std::move(decoded);
      }
    }

    if (auto ct = msg.find(http::field::content_type); ct != msg.end()) {
      auto boundary = MultipartBoundary(ct->value());
      if (boundary.ok()) {
        auto parts = ParseMultipart(data_.body, *boundary);
        if (!parts.ok()) return ReplyError(400, "Bad Request: malformed multipart body: " + parts.status().message(), false);
        data_.multipart = true;
        data_.parts = std::move(*parts);
      } else if (IEquals(std::string_view(ct->value()).substr(0, 19), "multipart/form-data")) {
        return ReplyError(400, "Bad Request: " + boundary.status().message(), false);
      }
    }

    RouteMatch match = srv_->router.Match(data_.method, data_.path.segments);
    if (match.kind != RouteMatch::Kind::kFound) {
      // Not Found either way (the original servers answer 404 for a known
      // path with another method too).
      return ReplyError(404, "Not Found: no route for " + data_.method + " " + data_.path.path, false);
    }
    data_.params = std::move(match.params);
    const Route& route = srv_->routes[static_cast<std::size_t>(match.route_index)];
    if (route.needs_key && !opt().api_key.empty() && !HasKey(msg)) {
      HttpResponse out;
      out.status = 401;
      out.body = srv_->ErrorBody(401, "Unauthorized: this route needs the API key (Authorization: Bearer <key>, "
                                      "or X-API-Key: <key>)");
      out.set_header("WWW-Authenticate", "Bearer");
      return Write(std::move(out));
    }
    bool inline_here = route.on_io_thread;
    if (route.on_io_thread_if) {
      try {
        inline_here = route.on_io_thread_if(HttpRequest(&data_));
      } catch (...) {
        inline_here = false;
      }
    }

    if (route.async_handler) {
      auto state = std::make_shared<HttpResponder::State>();
      state->session = shared_from_this();
      auto run_async = [self = shared_from_this(), &route, state] {
        try {
          route.async_handler(HttpRequest(&self->data_), HttpResponder(state));
        } catch (const std::exception& e) {
          HttpResponder{state}(self->InternalError(e.what()));
        } catch (...) {
          HttpResponder{state}(self->InternalError("unknown exception"));
        }
      };
      if (inline_here) {
        run_async();
      } else {
        net::post(*srv_->pool, std::move(run_async));
      }
      return;
    }
    auto run = [self = shared_from_this(), &route] {
      HttpResponse out;
      try {
        route.handler(HttpRequest(&self->data_), out);
      } catch (const std::exception& e) {
        out = self->InternalError(e.what());
      } catch (...) {
        out = self->InternalError("unknown exception");
      }
      self->Complete(std::move(out));
    };
    if (inline_here) {
      run();
    } else {
      net::post(*srv_->pool, std::move(run));
    }
  }

 public:
  HttpResponse InternalError(std::string_view what) const {
    HttpResponse out;
    out.status = 500;
    out.body = srv_->ErrorBody(500, HideInternalError(opt().name, what));
    return out;
  }

 private:
  // `close`: the request was not read to its end, so the connection cannot
  // carry another one.
  void ReplyError(int status, std::string message, bool close = true) {
    HttpResponse out;
    out.status = status;
    out.body = srv_->ErrorBody(status, message);
    if (close) close_after_ = true;
    if (log_method_.empty()) log_method_ = "-";
    Write(std::move(out));
  }

  void Write(HttpResponse out) {
    if (phase_ == Phase::kClosed) return;
    phase_before_write_ = phase_;
    phase_ = Phase::kWriting;
    // A request that arrived before the drain is answered, and it is the
    // connection's last.
    if (srv_->draining.load() && !close_after_) {
      close_after_ = true;
      drain_closed_ = true;
    }
    res_.emplace(static_cast<http::status>(out.status), 11);
    res_->set(http::field::server, "clipserve");
    if (!out.content_type.empty()) res_->set(http::field::content_type, out.content_type);
    for (auto& [k, v] : out.headers) res_->insert(k, v);
    res_->keep_alive(!close_after_);
    res_->body().head = std::move(out.body);
    res_->body().tail = out.body_tail;
    res_->body().owner = std::move(out.tail_owner);
    res_->prepare_payload();
    if (opt().access_log) {
      const auto now = SteadyClock::now();
      const long long duration_us = std::chrono::duration_cast<std::chrono::microseconds>(now - header_start_).count();
      // -1: answered before the request was read whole (a limit, a timeout).
      const long long handle_us =
          phase_before_write_ == Phase::kHandling
              ? std::chrono::duration_cast<std::chrono::microseconds>(now - request_read_).count()
              : -1;
      WriteAccessLog(opt().name, data_.method.empty() ? log_method_ : data_.method, log_path_, out.status,
                     TwoPartBody::size(res_->body()), duration_us, handle_us, out.batch_size);
    }
    Arm(std::chrono::seconds(opt().write_timeout_s), Deadline::kWrite);
    http::async_write(socket_, *res_, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
      self->Disarm();
      self->res_.reset();
      if (ec) return self->Close();
      // A request pipelined behind one answered during the drain is read
      // and answered 503 (OnHeader), not dropped.
      if (self->drain_closed_ && self->buffer_.size() > 0) {
        self->drain_closed_ = false;
        self->parser_.reset();
        return self->StartHeader();
      }
      if (self->close_after_) return self->linger_ ? self->Linger() : self->Close();
      self->data_ = HttpRequest::Data{};
      // An idle connection keeps no large read buffer.
      if (self->buffer_.size() == 0 && self->buffer_.capacity() > kBodyReadBytes / 2) self->buffer_.shrink_to_fit();
      self->log_method_.clear();
      self->parser_.reset();
      self->ReadFirstByte();
    });
  }

  void Linger() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    phase_ = Phase::kWriting;
    linger_deadline_ = SteadyClock::now() + kLingerTime;
    Arm(kLingerTime, Deadline::kLinger);
    DiscardInput();
  }

  void DiscardInput() {
    socket_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                               std::size_t n) {
      self->lingered_ += n;
      if (ec || self->lingered_ > kLingerBytes || SteadyClock::now() >= self->linger_deadline_) {
        self->Disarm();
        return self->Close();
      }
      self->DiscardInput();
    });
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    Disarm();
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  HttpServer::Impl* srv_;
  tcp::socket socket_;
  net::steady_timer timer_;
  std::uint64_t timer_gen_ = 0;
  Deadline deadline_ = Deadline::kNone;
  Deadline timed_out_ = Deadline::kNone;
  Phase phase_ = Phase::kIdle;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<BodyBuffer> direct_body_;  // a body being read by ReadBodyDirect
  std::optional<http::response<TwoPartBody>> res_;
  HttpRequest::Data data_;
  std::string log_method_;
  std::string log_path_ = "-";
  SteadyClock::time_point header_start_ = SteadyClock::now();
  SteadyClock::time_point request_read_ = SteadyClock::now();  // the last byte of the request
  Phase phase_before_write_ = Phase::kIdle;
  SteadyClock::time_point header_deadline_ = SteadyClock::now();
  int requests_ = 0;
  bool registered_ = false;  // in srv_'s session set (Start)
  bool close_after_ = false;
  bool drain_closed_ = false;  // close_after_ set only because the server is draining
  bool linger_ = false;
  SteadyClock::time_point linger_deadline_{};
  std::size_t lingered_ = 0;
  std::array<char, 16384> scratch_{};
};

}  // namespace

void HttpResponder::State::Send(HttpResponse response) {
  for (const auto& observe : observers) {
    try {
      observe(response);
    } catch (...) {
    }
  }
  session->Complete(std::move(response));
}

HttpResponder::State::~State() {
  if (!done.load() && session) Send(session->InternalError("the handler did not answer"));
}

void HttpResponder::operator()(HttpResponse response) const {
  if (!state_ || state_->done.exchange(true)) return;
  state_->Send(std::move(response));
}

HttpResponder HttpResponder::Wrap(HttpResponder responder, std::function<void(const HttpResponse&)> observe) {
  if (responder.state_) responder.state_->observers.push_back(std::move(observe));
  return responder;
}

std::vector<std::shared_ptr<Session>> HttpServer::Impl::LiveSessions() {
  std::vector<std::shared_ptr<Session>> live;
  std::lock_guard lock(sessions_mu);
  live.reserve(sessions.size());
  for (Session* s : sessions) {
    if (auto sp = s->weak_from_this().lock()) live.push_back(std::move(sp));
  }
  return live;
}

void HttpServer::Impl::Register(Session* s) {
  std::lock_guard lock(sessions_mu);
  sessions.insert(s);
  open.fetch_add(1);
}

void HttpServer::Impl::Unregister(Session* s) {
  {
    std::lock_guard lock(sessions_mu);
    sessions.erase(s);
    open.fetch_sub(1);
  }
  sessions_cv.notify_all();
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      const bool reject = open.load() >= options.max_connections || draining.load();
      std::make_shared<Session>(this, std::move(socket))->Start(reject);
    } else {
      // EMFILE and the like: back off briefly instead of spinning.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    Accept();
  });
}

HttpServer::HttpServer(HttpServerOptions options, std::vector<Route> routes)
    : impl_(std::make_shared<Impl>(std::move(options))) {
  impl_->routes = std::move(routes);
  for (std::size_t i = 0; i < impl_->routes.size(); ++i) {
    const Route& r = impl_->routes[i];
    Status st = impl_->router.Add(r.method, r.pattern, static_cast<int>(i));
    if (!st.ok()) std::fprintf(stderr, "clip-server: %s: bad route: %s\n", impl_->options.name.c_str(), st.message().c_str());
  }
  impl_->pool.emplace(static_cast<std::size_t>(std::max(1, impl_->options.worker_threads)));
}

HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(0)); }

StatusOr<int> HttpServer::Bind() {
  std::lock_guard lock(impl_->mu);
  const auto& opt = impl_->options;
  auto fail = [&](const std::string& why) {
    return UnavailableError("cannot bind " + opt.name + " listener to " + opt.host + ":" + std::to_string(opt.port) +
                            ": " + why);
  };
  boost::system::error_code ec;
  const auto address = net::ip::make_address(opt.host == "localhost" ? "127.0.0.1" : opt.host, ec);
  if (ec) return fail("bad address: " + ec.message());
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(opt.port));
  auto& a = impl_->acceptor;
  if (a.open(endpoint.protocol(), ec); ec) return fail(ec.message());
  a.set_option(net::socket_base::reuse_address(true), ec);
  if (a.bind(endpoint, ec); ec) {
    a.close(ec);
    return fail(ec.message());
  }
  if (a.listen(opt.listen_backlog, ec); ec) {
    a.close(ec);
    return fail(ec.message());
  }
  impl_->port = a.local_endpoint(ec).port();
  return impl_->port;
}

void HttpServer::Start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->started || impl_->port <= 0 || impl_->stopped) return;
  impl_->started = true;
  net::dispatch(impl_->acceptor.get_executor(), [impl = impl_.get()] { impl->Accept(); });
  const int n = std::max(1, impl_->options.io_threads);
  for (int i = 0; i < n; ++i) {
    impl_->io_threads.emplace_back([impl = impl_.get()] {
      // An exception escaping a completion handler would end the thread;
      // log it and keep the thread serving.
      while (true) {
        try {
          impl->ioc.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "clip-server: %s: I/O thread caught: %s\n", impl->options.name.c_str(), e.what());
        } catch (...) {
          std::fprintf(stderr, "clip-server: %s: I/O thread caught an unknown exception\n", impl->options.name.c_str());
        }
      }
    });
  }
}

void HttpServer::BeginDrain() {
  if (impl_->draining.exchange(true)) return;
  Impl* impl = impl_.get();
  net::dispatch(impl->acceptor.get_executor(), [impl] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
  for (auto& sp : impl->LiveSessions()) net::post(sp->executor(), [sp] { sp->OnDrain(); });
}

int HttpServer::Stop(std::chrono::milliseconds timeout) {
  std::lock_guard lock(impl_->mu);
  if (impl_->stopped) return 0;
  impl_->stopped = true;
  BeginDrain();
  Impl* impl = impl_.get();
  if (impl->started) {
    {
      std::unique_lock sl(impl->sessions_mu);
      impl->sessions_cv.wait_for(sl, timeout, [impl] { return impl->sessions.empty(); });
    }
    // Handlers still running on the pool finish; then the I/O threads stop.
    // Sessions still open are closed from here once no I/O thread runs (so
    // without racing their strands), and later answers are dropped.
    impl->pool->join();
    impl->io_stopped.store(true);
    impl->work.reset();
    impl->ioc.stop();
    for (auto& t : impl->io_threads) t.join();
    auto left = impl->LiveSessions();
    for (auto& sp : left) sp->ForceClose();
    return static_cast<int>(left.size());
  }
  impl->pool->join();
  boost::system::error_code ignored;
  impl->acceptor.close(ignored);
  return 0;
}

int HttpServer::port() const { return impl_->port; }
const std::string& HttpServer::host() const { return impl_->options.host; }
int HttpServer::open_connections() const { return impl_->open.load(); }

}  // namespace clipserve::server
