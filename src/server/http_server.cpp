#include "server/http_server.h"
#include "server/api_common.h"

#include <sys/socket.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

namespace clipserve::server {
namespace {

const httplib::Request& Req(const void* impl) { return *static_cast<const httplib::Request*>(impl); }

// httplib hard-codes a listen backlog of 5; a burst of 256 clients connecting
// at once would see SYN retries (1 s stalls). Linux lets a second listen()
// on the bound socket raise the backlog, which needs the protected socket.
class BacklogServer : public httplib::Server {
 public:
  void RaiseBacklog(int backlog) {
    const auto sock = svr_sock_.load();
    if (sock != INVALID_SOCKET) ::listen(sock, backlog);
  }
};

// Per-request bookkeeping for the access log. httplib runs pre-routing,
// the handler, the write and the logger on the same worker thread.
thread_local std::chrono::steady_clock::time_point t_request_start{};
thread_local int t_batch_size = 0;


}  // namespace

std::string_view HttpRequest::method() const { return Req(impl_).method; }
std::string_view HttpRequest::path() const { return Req(impl_).path; }
std::string_view HttpRequest::body() const { return Req(impl_).body; }

std::string HttpRequest::path_param(size_t i) const {
  const auto& m = Req(impl_).matches;
  return i < m.size() ? m[i].str() : std::string();
}

std::string HttpRequest::header(std::string_view name) const {
  return Req(impl_).get_header_value(std::string(name));
}

bool HttpRequest::has_header(std::string_view name) const { return Req(impl_).has_header(std::string(name)); }

bool HttpRequest::is_multipart() const { return Req(impl_).is_multipart_form_data(); }

std::vector<FormPart> HttpRequest::form_parts(std::string_view field) const {
  std::vector<FormPart> parts;
  auto range = Req(impl_).files.equal_range(std::string(field));
  // multimap keeps insertion order among equal keys, i.e. the body's order.
  for (auto it = range.first; it != range.second; ++it) {
    parts.push_back({it->second.filename, it->second.content_type, it->second.content});
  }
  return parts;
}

std::vector<std::string> HttpRequest::form_field_names() const {
  std::vector<std::string> names;
  for (const auto& [name, part] : Req(impl_).files) {
    if (names.empty() || names.back() != name) names.push_back(name);
  }
  return names;
}

void WriteAccessLog(std::string_view api, std::string_view method, std::string_view path, int status,
                    std::uint64_t bytes, long long duration_us, int batch_size) {
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
  line += ",\"batch_size\":" + std::to_string(batch_size);
  line += "}\n";
  // One fwrite per line: stdio locks the stream, so lines never interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

struct HttpServer::Impl {
  HttpServerOptions options;
  BacklogServer server;
  std::thread thread;
  std::mutex mu;
  int port = -1;
  bool started = false;
  bool stopped = false;
  std::atomic<bool> exited{false};

  // Never throws: httplib calls this outside any handler's try, where an
  // escaped exception would end the process.
  std::string ErrorBody(int status, std::string_view message) const {
    try {
      if (options.error_body) return options.error_body(status, message);
    } catch (...) {
    }
    return "{\"error\":" + JsonQuote(message) + "}";
  }

  // Wraps a route handler: adapts types, applies the response, and turns
  // anything thrown into a JSON 500 so a bug never drops the connection.
  httplib::Server::Handler Wrap(HttpHandler handler) {
    return [this, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
      HttpResponse out;
      try {
        handler(HttpRequest(&req), out);
      } catch (const std::exception& e) {
        out = HttpResponse{};
        out.status = 500;
        out.body = ErrorBody(500, HideInternalError(options.name, e.what()));
      } catch (...) {
        out = HttpResponse{};
        out.status = 500;
        out.body = ErrorBody(500, HideInternalError(options.name, "unknown exception"));
      }
      t_batch_size = out.batch_size;
      res.status = out.status;
      for (auto& [k, v] : out.headers) res.set_header(k, v);
      res.body = std::move(out.body);
      if (!out.content_type.empty()) res.set_header("Content-Type", out.content_type);
    };
  }
};

HttpServer::HttpServer(HttpServerOptions options, std::vector<Route> routes) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  Impl* impl = impl_.get();
  auto& svr = impl->server;
  const auto& opt = impl->options;

  const size_t threads = static_cast<size_t>(std::max(1, opt.worker_threads));
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(static_cast<size_t>(opt.max_body_bytes));
  svr.set_read_timeout(opt.read_timeout_s, 0);
  svr.set_write_timeout(opt.write_timeout_s, 0);
  svr.set_keep_alive_timeout(opt.keep_alive_timeout_s);
  svr.set_keep_alive_max_count(static_cast<size_t>(std::max(1, opt.keep_alive_max_count)));
  svr.set_tcp_nodelay(true);

  for (auto& route : routes) {
    if (route.method == "GET") {
      svr.Get(route.pattern, impl->Wrap(std::move(route.handler)));
    } else if (route.method == "POST") {
      svr.Post(route.pattern, impl->Wrap(std::move(route.handler)));
    }
  }

  svr.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    t_request_start = std::chrono::steady_clock::now();
    t_batch_size = 0;
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Errors httplib produces itself (no route, body too large, bad framing)
  // arrive here with an empty body; give them the personality's JSON shape.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([impl](const httplib::Request& req,
                                                                     httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    switch (res.status) {
      case 404: message = "Not Found: no route for " + req.method + " " + req.path; break;
      case 405: message = "Method Not Allowed"; break;
      case 413: message = "Request body too large: limit is " + std::to_string(impl->options.max_body_bytes) + " bytes"; break;
      case 414: message = "Request URI too long"; break;
      case 400: message = "Bad Request: malformed HTTP request"; break;
      default: message = "HTTP error " + std::to_string(res.status); break;
    }
    res.set_content(impl->ErrorBody(res.status, message), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));

  svr.set_exception_handler([impl](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    res.status = 500;
    res.set_content(impl->ErrorBody(500, HideInternalError(impl->options.name, what)), "application/json");
  });

  if (opt.access_log) {
    svr.set_logger([impl](const httplib::Request& req, const httplib::Response& res) {
      long long duration_us = 0;
      if (t_request_start.time_since_epoch().count() != 0) {
        duration_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                            t_request_start).count();
      }
      WriteAccessLog(impl->options.name, req.method, req.path, res.status, res.body.size(), duration_us,
                     t_batch_size);
      t_request_start = {};
      t_batch_size = 0;
    });
  }
}

HttpServer::~HttpServer() { Stop(); }

StatusOr<int> HttpServer::Bind() {
  std::lock_guard lock(impl_->mu);
  auto& svr = impl_->server;
  const auto& opt = impl_->options;
  int port = -1;
  if (opt.port == 0) {
    port = svr.bind_to_any_port(opt.host);
  } else {
    port = svr.bind_to_port(opt.host, opt.port) ? opt.port : -1;
  }
  if (port <= 0) {
    return UnavailableError("cannot bind " + opt.name + " listener to " + opt.host + ":" + std::to_string(opt.port));
  }
  svr.RaiseBacklog(opt.listen_backlog);
  impl_->port = port;
  return port;
}

void HttpServer::Start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->started || impl_->port <= 0) return;
  impl_->started = true;
  impl_->thread = std::thread([impl = impl_.get()] {
    impl->server.listen_after_bind();
    impl->exited.store(true);
  });
}

void HttpServer::Stop() {
  std::lock_guard lock(impl_->mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (!impl_->started) return;
  // httplib's stop() is a no-op until listen_after_bind has entered its
  // accept loop, so wait for that (or for the thread to have given up).
  while (!impl_->exited.load()) {
    if (impl_->server.is_running()) {
      impl_->server.stop();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->thread.join();
}

int HttpServer::port() const { return impl_->port; }
const std::string& HttpServer::host() const { return impl_->options.host; }

}  // namespace clipserve::server
