// HttpServer: the one place that touches Boost.Beast/Asio (pimpl in
// http_server.cpp). Personalities (REST, KServe v2, metrics) hand it a route
// table; it owns the listening socket, the I/O threads, the handler pool,
// every transport limit, the access log and the last-resort exception
// wrapper. Handlers see only HttpRequest/HttpResponse.
//
// Threads. A small fixed set of I/O threads runs every connection
// (non-blocking sockets, one strand per connection); nothing blocks on them.
// Handlers run on the handler pool (`worker_threads`), or on the I/O thread
// when the route says it is cheap and never blocks. An asynchronous handler
// returns at once and answers later, from any thread, through its
// HttpResponder: inference completion then wakes the connection, and no
// thread waits on a future.
//
// Connections. HTTP/1.1 keep-alive; pipelined requests are read one at a
// time from the connection's buffer and answered in order; `Expect:
// 100-continue` gets its interim answer before the body is read.
//
// Limits, all enforced while reading (see HttpServerOptions): header bytes
// (431, or 414 when the request line alone is too long), header count (431),
// target length and path segment length (414), body bytes after chunked
// transfer coding and after gzip/deflate content coding (413 as soon as the
// limit is crossed; the rest is not read), header and body read timeouts
// (408, then close), idle keep-alive timeout (close), connections per
// listener (503). A malformed request, conflicting Content-Length headers,
// or Content-Length with Transfer-Encoding get 400 and the connection is
// closed (no request smuggling). Every error body comes from `error_body`.
//
// Drain (BeginDrain/Stop): the listener closes; connections that have not
// sent a whole request header are closed at once; every request whose
// header has arrived is answered, with `Connection: close`; a request that
// arrives on a keep-alive connection afterwards gets 503 and close.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace clipserve::server {

// One part of a multipart/form-data body.
struct FormPart {
  std::string filename;
  std::string content_type;
  std::string_view content;  // valid while the request is
};

// A request as handlers see it. Valid until the handler has answered (sync:
// returned; async: called its responder); views are valid as long.
class HttpRequest {
 public:
  struct Data;  // defined in http_server.cpp
  explicit HttpRequest(const Data* data) : d_(data) {}

  std::string_view method() const;
  std::string_view path() const;  // percent-decoded, without the query
  std::string_view body() const;  // after transfer and content decoding
  // Keeps body() (and views into it) valid after the handler has answered,
  // for work that outlives the request (a batcher holding a tensor view).
  std::shared_ptr<const void> body_owner() const;
  // Parameter `i` of the route pattern (1-based: the i-th `{}`); empty when
  // the pattern has fewer.
  std::string path_param(size_t i) const;
  // Header value (case-insensitive name); empty when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  bool is_multipart() const;
  // Every part of a multipart body whose field name is `field`, in order.
  std::vector<FormPart> form_parts(std::string_view field) const;
  // Names of all multipart fields (for error messages), first-seen order.
  std::vector<std::string> form_field_names() const;

 private:
  const Data* d_;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Sent right after `body`, from where it lies (no copy into the response):
  // bytes that `tail_owner` keeps alive until the response is written, such
  // as the embeddings of a binary answer.
  std::string_view body_tail;
  std::shared_ptr<const void> tail_owner;
  std::vector<std::pair<std::string, std::string>> headers;
  int batch_size = 0;  // for the access log: images this request inferred (0: none)

  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

// Answers one request. Call exactly once, from any thread; later calls are
// ignored. Copyable (shares one state), so it can travel in std::function.
// Every copy must be called or dropped before the HttpServer is destroyed
// (answers after Stop() are dropped).
class HttpResponder {
 public:
  struct State;
  explicit HttpResponder(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void operator()(HttpResponse response) const;
  // The same responder, with `observe` called on the answer just before it
  // is sent (request counters). Call before handing the responder on.
  static HttpResponder Wrap(HttpResponder responder, std::function<void(const HttpResponse&)> observe);

 private:
  std::shared_ptr<State> state_;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;
using AsyncHttpHandler = std::function<void(const HttpRequest&, HttpResponder)>;

struct Route {
  Route(std::string method, std::string pattern, HttpHandler handler, bool on_io_thread = false)
      : method(std::move(method)), pattern(std::move(pattern)), handler(std::move(handler)), on_io_thread(on_io_thread) {}
  static Route Async(std::string method, std::string pattern, AsyncHttpHandler handler) {
    Route r(std::move(method), std::move(pattern), HttpHandler{});
    r.async_handler = std::move(handler);
    return r;
  }

  std::string method;   // "GET" | "POST"
  std::string pattern;  // literal segments, `{}` = one segment: "/v2/models/{}/infer" (see router.h)
  HttpHandler handler;  // exactly one of handler and async_handler is set
  AsyncHttpHandler async_handler;  // runs on the handler pool, answers through its responder
  // Cheap and never blocks (health, metadata, metrics): a sync handler runs
  // on the I/O thread instead of the handler pool.
  bool on_io_thread = false;
  // Asked per request when set (on the I/O thread; must be cheap): true runs
  // this request's handler, sync or async, on the I/O thread. It saves a
  // thread hop (a wake-up and a context switch) for small requests that only
  // parse, e.g. small tensors.
  std::function<bool(const HttpRequest&)> on_io_thread_if;
  // With HttpServerOptions::api_key set, a request without the key is
  // answered 401 before the handler runs (inference, model management).
  bool needs_key = false;
};

struct HttpServerOptions {
  std::string name = "http";        // access-log tag: "rest" | "kserve" | "metrics"
  std::string host = "127.0.0.1";
  int port = 0;                     // 0: ephemeral
  int io_threads = 2;               // socket I/O, parsing the HTTP framing
  int worker_threads = 64;          // handler pool: sync handlers run (and may block) here
  std::uint64_t max_body_bytes = 64ull << 20;  // after transfer and content decoding
  std::uint32_t max_header_bytes = 64u << 10;  // request line + headers
  int max_header_count = 100;
  std::uint32_t max_url_bytes = 8192;          // request target, raw
  std::uint32_t max_path_segment_bytes = 1024;  // one decoded segment (bounds model names)
  int header_timeout_s = 10;        // from a request's first byte to its last header byte
  int read_timeout_s = 30;          // the whole body
  int write_timeout_s = 30;         // the whole response
  int keep_alive_timeout_s = 5;     // idle between requests (and before the first)
  int keep_alive_max_count = 1 << 20;  // requests per connection before it is closed
  int max_connections = 1024;       // open connections on this listener; more get 503
  int listen_backlog = 1024;
  bool access_log = true;           // one JSON line per request on stderr
  // Access control: routes with needs_key take the request only with
  // "Authorization: Bearer <api_key>" or "X-API-Key: <api_key>" (compared in
  // constant time). Empty: every route is open.
  std::string api_key;
  // A request header whose integer value V asks for body()[V] to be 64-byte
  // aligned, when the body is read into memory of its own (a Content-Length
  // over 16 KiB, no content coding). KServe's Inference-Header-Content-Length:
  // its binary tensor data starts there, and aligned it is used in place.
  std::string body_alignment_field;
  // Body for errors the HTTP layer produces itself (404 route, 413, 400 framing,
  // 500 escaped exception). Returns the JSON text for (status, message).
  std::function<std::string(int status, std::string_view message)> error_body;
};

class HttpServer {
 public:
  // Routes whose pattern does not parse are dropped with a message on stderr
  // (a programming error; tests cover every table).
  HttpServer(HttpServerOptions options, std::vector<Route> routes);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the socket (port 0: ephemeral). Returns the bound port.
  StatusOr<int> Bind();
  // Starts accepting on the I/O threads (after Bind).
  void Start();
  // Closes the listener and begins the drain described above. Idempotent;
  // returns at once.
  void BeginDrain();
  // BeginDrain, then waits until every connection has closed or `timeout`
  // has passed (then closes what is left), and joins every thread.
  // Idempotent. Returns how many connections it had to close that way (a
  // request whose header had arrived was still unanswered on each); 0 on a
  // clean drain and on later calls.
  int Stop(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  int port() const;
  const std::string& host() const;
  // Connections open now (for tests and the drain).
  int open_connections() const;

  struct Impl;  // defined in http_server.cpp

 private:
  std::shared_ptr<Impl> impl_;
};

// Writes one structured access-log line (JSON) to stderr, atomically.
// duration_us: from the request's first byte to its answer being written;
// handle_us: from its last byte (read whole) to that point, the server's own
// time (-1 when it was answered before it was read whole).
void WriteAccessLog(std::string_view api, std::string_view method, std::string_view path, int status,
                    std::uint64_t bytes, long long duration_us, long long handle_us, int batch_size);

}  // namespace clipserve::server
