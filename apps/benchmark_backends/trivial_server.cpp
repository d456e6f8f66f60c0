#include "trivial_server.h"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace clipserve::bench::app {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// A response on the wire, serialised by Beast, in a keep-alive and a
// closing variant.
struct Canned {
  std::string keep, close;
};

Canned MakeCanned(http::status status, const std::string& body, const char* content_type) {
  Canned c;
  for (bool keep : {true, false}) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::server, "benchmark_backends-loopback");
    if (content_type) res.set(http::field::content_type, content_type);
    res.body() = body;
    res.keep_alive(keep);
    res.prepare_payload();
    std::ostringstream os;
    os << res;
    (keep ? c.keep : c.close) = std::move(os).str();
  }
  return c;
}

struct Routes {
  Canned embed = MakeCanned(http::status::ok, R"({"embeddings":[[0.0]],"count":1})", "application/json");
  Canned health = MakeCanned(http::status::ok, R"({"status":"ok"})", "application/json");
  Canned ready = MakeCanned(http::status::ok, "", nullptr);  // Triton answers readiness with an empty 200
  Canned not_found = MakeCanned(http::status::not_found, R"({"error":"not found"})", "application/json");

  // Enough of both personalities for a one-image-per-request benchmark run
  // (--batch-sizes 1) and for the loopback measurement.
  const Canned& Pick(const http::request<http::string_body>& req) const {
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const bool get = req.method() == http::verb::get, post = req.method() == http::verb::post;
    if ((get || post) && path == "/embed") return embed;
    if (post && path == "/embed/base64") return embed;
    if (get && (path == "/health" || path == "/healthz")) return health;
    if (get && (path == "/v2/health/ready" || path == "/v2/health/live")) return ready;
    return not_found;
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Routes& routes, std::chrono::milliseconds delay)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), routes_(routes), delay_(delay) {}

  void Read() {
    parser_.emplace();
    parser_->body_limit(64u << 20);
    // Pipelined requests wait in buffer_; each is answered before the next
    // is parsed, so answers go out in order.
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(const boost::system::error_code& ec) {
    if (ec) return Close();
    const auto& req = parser_->get();
    const Canned& c = routes_.Pick(req);
    keep_ = req.keep_alive();
    answer_ = keep_ ? &c.keep : &c.close;
    if (delay_.count() == 0) return Write();
    timer_.expires_after(delay_);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code&) { self->Write(); });
  }

  void Write() {
    asio::async_write(socket_, asio::buffer(*answer_),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                        if (ec || !self->keep_) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const Routes& routes_;
  std::chrono::milliseconds delay_;
  const std::string* answer_ = nullptr;
  bool keep_ = true;
};

struct Listener {
  Listener(const Routes& r, std::chrono::milliseconds d) : acceptor(ioc), routes(r), delay(d) {}

  void Bind(unsigned short port) {
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    const int one = 1;
    ::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
  }

  void Accept() {
    acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (!ec) {
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Session>(std::move(socket), routes, delay)->Read();
      }
      Accept();
    });
  }

  asio::io_context ioc{1};
  tcp::acceptor acceptor;
  const Routes& routes;
  std::chrono::milliseconds delay;
};

}  // namespace

void ServeTrivial(int port_fd, const TrivialServerOptions& options) {
  const Routes routes;
  std::vector<std::unique_ptr<Listener>> listeners;
  unsigned short port = 0;
  for (int i = 0; i < std::max(options.threads, 1); ++i) {
    auto l = std::make_unique<Listener>(routes, options.delay);
    l->Bind(port);
    port = l->acceptor.local_endpoint().port();
    l->Accept();
    listeners.push_back(std::move(l));
  }
  const int p = port;
  if (write(port_fd, &p, sizeof p) != sizeof p) _exit(1);
  close(port_fd);
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < listeners.size(); ++i) threads.emplace_back([&l = *listeners[i]] { l.ioc.run(); });
  listeners[0]->ioc.run();
  _exit(0);
}

}  // namespace clipserve::bench::app
