// The HTTP transport (adapters over HttpSession / HttpClient) and the
// target parsing shared by both transports.
#include "bench/transport.h"

#include <charconv>
#include <deque>

#include "bench/http_client.h"

namespace clipserve::bench {

namespace {

class HttpChannel final : public Channel {
 public:
  HttpChannel(const Endpoint& endpoint, std::chrono::milliseconds timeout) : session_(endpoint, timeout) {}
  SendResult Send(const PreparedRequest& request) override {
    return request.method == "GET" ? session_.Get(request.path) : session_.Post(request);
  }

 private:
  HttpSession session_;
};

class HttpAsyncChannels final : public AsyncChannels {
 public:
  HttpAsyncChannels(const Endpoint& endpoint, int io_threads, std::chrono::milliseconds timeout)
      : client_(endpoint, HttpClientOptions{io_threads, timeout}) {}
  int Open(int count, const PreparedRequest& warm) override { return client_.Open(count, warm.path); }
  std::size_t Prepare(const PreparedRequest& request) override {
    wires_.push_back(request.method == "GET" ? SerializeGet(client_.endpoint(), request.path)
                                             : SerializePost(client_.endpoint(), request));
    return wires_.size() - 1;
  }
  void Send(int connection, std::size_t prepared, Done done) override {
    client_.Send(connection, wires_[prepared], std::move(done));
  }
  std::int64_t connects() const override { return client_.connects(); }
  LoopExecutor& executor() override { return client_.executor(); }

 private:
  HttpClient client_;
  std::deque<WireRequest> wires_;  // stable addresses: sends keep references
};

}  // namespace

StatusOr<Target> ParseTarget(Transport transport, const std::string& url) {
  Target t;
  t.transport = transport;
  if (transport == Transport::kHttp) {
    auto ep = ParseUrl(url);
    if (!ep.ok()) return ep.status();
    t.endpoint = *ep;
    return t;
  }
  std::string rest = url;
  if (rest.rfind("grpc://", 0) == 0) rest = rest.substr(7);
  if (rest.find("://") != std::string::npos) {
    return InvalidArgumentError("gRPC target '" + url + "' must be host:port (or grpc://host:port)");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || rest.find('/') != std::string::npos) {
    return InvalidArgumentError("gRPC target '" + url + "' must be host:port");
  }
  int port = 0;
  const std::string p = rest.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || ptr != p.data() + p.size() || port <= 0 || port > 65535) {
    return InvalidArgumentError("bad port in gRPC target '" + url + "'");
  }
  t.endpoint.scheme = "grpc";
  t.endpoint.host = rest.substr(0, colon);
  t.endpoint.port = port;
  return t;
}

std::unique_ptr<Channel> MakeChannel(const Target& target, std::chrono::milliseconds timeout) {
  if (target.transport == Transport::kGrpc) return detail::MakeGrpcChannel(target.endpoint, timeout);
  return std::make_unique<HttpChannel>(target.endpoint, timeout);
}

std::unique_ptr<AsyncChannels> MakeAsyncChannels(const Target& target, int io_threads,
                                                 std::chrono::milliseconds timeout) {
  if (target.transport == Transport::kGrpc) return detail::MakeGrpcAsyncChannels(target.endpoint, timeout);
  return std::make_unique<HttpAsyncChannels>(target.endpoint, io_threads, timeout);
}

}  // namespace clipserve::bench
