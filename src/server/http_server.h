// HttpServer: the one place that touches cpp-httplib (pimpl in http_server.cpp).
//
// Personalities (REST, KServe v2, metrics) hand it a route table; it owns the
// listening socket, the worker pool, limits, the access log and the
// last-resort exception wrapper. Handlers see only HttpRequest/HttpResponse.
//
// Threads: httplib runs one connection per worker thread for the life of the
// connection (keep-alive included), so `worker_threads` bounds the number of
// concurrently served keep-alive clients.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace clipserve::server {

// One part of a multipart/form-data body.
struct FormPart {
  std::string filename;
  std::string content_type;
  std::string_view content;  // valid while the request is
};

// A request as handlers see it. Views are valid only during the handler call.
class HttpRequest {
 public:
  explicit HttpRequest(const void* impl) : impl_(impl) {}

  std::string_view method() const;
  std::string_view path() const;
  std::string_view body() const;
  // Regex capture `i` of the route pattern (1-based, like std::smatch).
  std::string path_param(size_t i) const;
  // Header value (case-insensitive name); empty when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  bool is_multipart() const;
  // Every part of a multipart body whose field name is `field`, in order.
  std::vector<FormPart> form_parts(std::string_view field) const;
  // Names of all multipart fields (for error messages).
  std::vector<std::string> form_field_names() const;

 private:
  const void* impl_;  // const httplib::Request*
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  int batch_size = 0;  // for the access log: images this request inferred (0: none)

  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

struct Route {
  std::string method;   // "GET" | "POST"
  std::string pattern;  // ECMAScript regex over the path, as httplib matches it
  HttpHandler handler;
};

struct HttpServerOptions {
  std::string name = "http";        // access-log tag: "rest" | "kserve" | "metrics"
  std::string host = "127.0.0.1";
  int port = 0;                     // 0: ephemeral
  int worker_threads = 264;         // concurrent connections served
  std::uint64_t max_body_bytes = 64ull << 20;  // larger bodies get 413 before they are read
  int read_timeout_s = 30;          // per-connection socket read timeout
  int write_timeout_s = 30;
  int keep_alive_timeout_s = 5;     // idle keep-alive connection is closed after this
  int keep_alive_max_count = 1 << 20;  // requests per connection before it is closed
  int listen_backlog = 1024;
  bool access_log = true;           // one JSON line per request on stderr
  // Body for errors the HTTP layer produces itself (404 route, 413, 400 framing,
  // 500 escaped exception). Returns the JSON text for (status, message).
  std::function<std::string(int status, std::string_view message)> error_body;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, std::vector<Route> routes);
  ~HttpServer();  // stops and joins
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the socket (port 0: ephemeral). Returns the bound port.
  StatusOr<int> Bind();
  // Starts accepting on a background thread (after Bind).
  void Start();
  // Stops accepting and closes idle connections; requests in flight finish.
  // Blocks until every worker has returned. Idempotent.
  void Stop();

  int port() const;
  const std::string& host() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes one structured access-log line (JSON) to stderr, atomically.
void WriteAccessLog(std::string_view api, std::string_view method, std::string_view path, int status,
                    std::uint64_t bytes, long long duration_us, int batch_size);

}  // namespace clipserve::server
