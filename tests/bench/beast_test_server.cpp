#include "beast_test_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <sstream>
#include <stdexcept>

namespace clipserve::bench::testing {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

BeastTestServer::BeastTestServer() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 512) != 0) {
    throw std::runtime_error("BeastTestServer: bind/listen failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

BeastTestServer::~BeastTestServer() {
  stop_ = true;
  cv_.notify_all();
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);  // wakes blocked reads
  }
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
}

void BeastTestServer::AcceptLoop() {
  while (!stop_) {
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (stop_) return;
      continue;
    }
    ++accepted_;
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

bool BeastTestServer::SleepFor(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_.load(); });
}

void BeastTestServer::Serve(int fd) {
  asio::io_context ioc;
  tcp::socket socket(ioc, tcp::v4(), fd);
  // Runs before `socket` closes the fd, so the destructor never shuts down
  // a number the kernel has reused.
  struct Forget {
    BeastTestServer* s;
    int fd;
    ~Forget() {
      std::lock_guard<std::mutex> lock(s->mu_);
      std::erase(s->fds_, fd);
    }
  } forget{this, fd};
  boost::beast::flat_buffer buffer;
  boost::system::error_code ec;
  bool open = true;
  while (open && !stop_) {
    std::string answers;
    int batch = 1;
    for (int k = 0; k < batch && open; ++k) {
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) return;  // the socket closes with it
      ++requests_;
      const std::string path(req.target());
      http::response<http::string_body> res{http::status::ok, 11};
      res.keep_alive(req.keep_alive());
      auto arg = [&](const std::string& prefix) { return path.substr(prefix.size()); };
      if (path == "/drop") return;
      bool quiet_close = false;
      if (path.rfind("/ok/", 0) == 0) {
        res.body() = arg("/ok/");
      } else if (path.rfind("/hold/", 0) == 0) {
        const std::string rest = arg("/hold/");
        batch = std::stoi(rest);
        res.body() = rest.substr(rest.find('/') + 1);
      } else if (path.rfind("/status/", 0) == 0) {
        res.result(static_cast<unsigned>(std::stoi(arg("/status/"))));
        res.set(http::field::content_type, "application/json");
        res.body() = R"({"error":"status )" + arg("/status/") + R"("})";
      } else if (path.rfind("/quiet-close/", 0) == 0) {
        res.body() = arg("/quiet-close/");
        quiet_close = true;
      } else if (path.rfind("/close/", 0) == 0) {
        res.body() = arg("/close/");
        res.keep_alive(false);
      } else if (path.rfind("/sleep/", 0) == 0) {
        if (!SleepFor(std::stoi(arg("/sleep/")))) return;
        res.body() = "slept";
      } else {
        res.result(http::status::not_found);
      }
      res.prepare_payload();
      std::ostringstream os;
      os << res;
      answers += os.str();
      open = res.keep_alive() && !quiet_close;
    }
    asio::write(socket, asio::buffer(answers), ec);
    if (ec) return;
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
}

}  // namespace clipserve::bench::testing
