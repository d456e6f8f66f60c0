// How the runner's requests reach a server, behind one interface, so the
// phases are written once for every protocol: HTTP/1.1 (Beast, HttpSession /
// HttpClient) and gRPC (grpc++'s generic stub: the protocol serialises the
// messages, the transport only moves bytes).
//
//  - Channel: one blocking connection (the sequential phases, the control
//    calls);
//  - AsyncChannels: many connections driven by completions (the loaded
//    phases), with the LoopExecutor the load loops run on.
// No Beast or gRPC type leaks from here.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/http_session.h"
#include "bench/load.h"
#include "bench/protocol.h"
#include "bench/request.h"
#include "common/status.h"

namespace clipserve::bench {

class Channel {
 public:
  virtual ~Channel() = default;
  // Sends `request` and waits for its answer. HTTP: non-2xx is kHttpStatus;
  // gRPC: a status other than OK is kRpcStatus (UNAVAILABLE: kConnection,
  // DEADLINE_EXCEEDED: kTimeout).
  virtual SendResult Send(const PreparedRequest& request) = 0;
};

class AsyncChannels {
 public:
  virtual ~AsyncChannels() = default;
  // Adds `count` connections, each answering `warm` once before it counts
  // (untimed); returns how many answered.
  virtual int Open(int count, const PreparedRequest& warm) = 0;
  // Before timing: readies `request` for sending (HTTP serialises its head
  // once) and returns its handle. `request` must outlive this object.
  virtual std::size_t Prepare(const PreparedRequest& request) = 0;
  using Done = std::function<void(SendResult&&)>;
  // Sends a prepared request on `connection`; `done` runs exactly once,
  // never inline, after the response time was stamped.
  virtual void Send(int connection, std::size_t prepared, Done done) = 0;
  // Connections opened so far (HTTP counts reconnects; gRPC counts channels,
  // whose reconnects gRPC handles inside).
  virtual std::int64_t connects() const = 0;
  virtual LoopExecutor& executor() = 0;
};

// Where a backend lives and how to reach it.
struct Target {
  Transport transport = Transport::kHttp;
  Endpoint endpoint;  // gRPC: host and port (scheme "grpc")
};

// "http://host:port[/prefix]" for HTTP; "host:port" or "grpc://host:port"
// for gRPC.
StatusOr<Target> ParseTarget(Transport transport, const std::string& url);

std::unique_ptr<Channel> MakeChannel(const Target& target, std::chrono::milliseconds timeout);
std::unique_ptr<AsyncChannels> MakeAsyncChannels(const Target& target, int io_threads,
                                                 std::chrono::milliseconds timeout);

// The gRPC implementations (transport_grpc.cpp).
namespace detail {
std::unique_ptr<Channel> MakeGrpcChannel(const Endpoint& endpoint, std::chrono::milliseconds timeout);
std::unique_ptr<AsyncChannels> MakeGrpcAsyncChannels(const Endpoint& endpoint, std::chrono::milliseconds timeout);
}  // namespace detail

}  // namespace clipserve::bench
