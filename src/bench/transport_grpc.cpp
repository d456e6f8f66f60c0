// The gRPC transport: unary calls through grpc++'s generic stub, so the
// transport moves serialised messages and knows no message type (the
// protocol, protocol_kserve_grpc.cpp, builds and reads them). One channel is
// one HTTP/2 connection (a local subchannel pool keeps channels from sharing
// one), the counterpart of one HTTP keep-alive connection.
//
// Completions arrive on gRPC's own threads; the response time is stamped
// there, then the completion is handed to this transport's executor thread,
// so `done` never runs inline and the load loops see one thread, as with
// HttpClient.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "bench/asio_executor.h"
#include "bench/transport.h"

namespace clipserve::bench::detail {

namespace {

std::shared_ptr<grpc::Channel> NewChannel(const Endpoint& endpoint) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(endpoint.host + ":" + std::to_string(endpoint.port),
                                   grpc::InsecureChannelCredentials(), args);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// One call in flight: what gRPC needs to outlive it. Its context holds the
// channel, so whoever drops the last Call may destroy the channel: that is
// never a gRPC thread (the completion hands the Call on).
struct Call {
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  std::shared_ptr<grpc::Channel> channel;
};
using CallPtr = std::shared_ptr<Call>;

// Runs on a gRPC thread with the result and the Call, which it must pass to
// another thread to be released there.
using OnResult = std::function<void(SendResult&&, CallPtr&&)>;

void StartCall(grpc::GenericStub& stub, std::shared_ptr<grpc::Channel> channel, const Endpoint& endpoint,
               std::chrono::milliseconds timeout, const PreparedRequest& request, OnResult on_result) {
  auto call = std::make_shared<Call>();
  call->channel = std::move(channel);
  call->context.set_deadline(std::chrono::system_clock::now() + timeout);
  for (const auto& [k, v] : endpoint.headers) call->context.AddMetadata(Lower(k), v);
  for (const auto& [k, v] : request.headers) call->context.AddMetadata(Lower(k), v);
  // The body stays where it is: a static slice refers to it, no copy.
  grpc::Slice slice(const_cast<char*>(request.body.data()), request.body.size(), grpc::Slice::STATIC_SLICE);
  call->request = grpc::ByteBuffer(&slice, 1);
  Call* raw = call.get();
  stub.UnaryCall(&raw->context, request.path, grpc::StubOptions(), &raw->request, &raw->response,
                 [call = std::move(call), on_result = std::move(on_result)](grpc::Status status) mutable {
    SendResult r;
    r.response_time = std::chrono::steady_clock::now();
    r.response.status = static_cast<int>(status.error_code());
    if (status.ok()) {
      std::vector<grpc::Slice> slices;
      (void)call->response.Dump(&slices);
      std::size_t n = 0;
      for (const auto& s : slices) n += s.size();
      r.response.body.reserve(n);
      for (const auto& s : slices) r.response.body.append(reinterpret_cast<const char*>(s.begin()), s.size());
    } else {
      r.response.body = status.error_message();
      r.detail = std::string("grpc ") + GrpcCodeName(r.response.status) + ": " + status.error_message();
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        r.failure = FailureKind::kTimeout;
      } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
                 call->channel->GetState(false) != GRPC_CHANNEL_READY) {
        // UNAVAILABLE is also the server's "queue full" / "not ready"; only
        // a channel that lost (or never had) its connection is a connection
        // failure.
        r.failure = FailureKind::kConnection;
      } else {
        r.failure = FailureKind::kRpcStatus;
      }
    }
    on_result(std::move(r), std::move(call));
  });
}

class GrpcChannel final : public Channel {
 public:
  GrpcChannel(const Endpoint& endpoint, std::chrono::milliseconds timeout)
      : endpoint_(endpoint), timeout_(timeout), channel_(NewChannel(endpoint)), stub_(channel_) {}

  SendResult Send(const PreparedRequest& request) override {
    std::promise<std::pair<SendResult, CallPtr>> done;
    auto answer = done.get_future();
    StartCall(stub_, channel_, endpoint_, timeout_, request,
              [&done](SendResult&& r, CallPtr&& call) { done.set_value({std::move(r), std::move(call)}); });
    return answer.get().first;  // the Call is released here, on the caller's thread
  }

 private:
  Endpoint endpoint_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
};

class GrpcAsyncChannels final : public AsyncChannels {
 public:
  GrpcAsyncChannels(const Endpoint& endpoint, std::chrono::milliseconds timeout)
      : endpoint_(endpoint), timeout_(timeout), shared_(std::make_shared<Shared>()), executor_(shared_->ioc) {
    thread_ = std::thread([s = shared_] { s->ioc.run(); });
  }
  ~GrpcAsyncChannels() override {
    {
      // Calls still in flight end by their deadline at the latest; their
      // Calls are released on the executor thread, which runs until then.
      std::unique_lock<std::mutex> lock(shared_->mu);
      shared_->drained.wait_for(lock, timeout_ + std::chrono::seconds(1), [&] { return shared_->in_flight == 0; });
      shared_->stopped = true;  // a completion that still arrives is dropped, `done` never runs
    }
    shared_->work.reset();
    shared_->ioc.stop();
    if (thread_.joinable()) thread_.join();
  }

  int Open(int count, const PreparedRequest& warm) override {
    std::atomic<int> answered{0};
    std::vector<std::future<CallPtr>> waits;
    for (int k = 0; k < count; ++k) {
      Slot& s = slots_.emplace_back();
      s.channel = NewChannel(endpoint_);
      s.stub = std::make_unique<grpc::GenericStub>(s.channel);
      auto p = std::make_shared<std::promise<CallPtr>>();
      waits.push_back(p->get_future());
      StartCall(*s.stub, s.channel, endpoint_, timeout_, warm, [p, &answered](SendResult&& r, CallPtr&& call) {
        if (r.failure == FailureKind::kNone) answered.fetch_add(1);
        p->set_value(std::move(call));
      });
    }
    for (auto& w : waits) w.get();  // each Call released here
    return answered.load();
  }

  std::size_t Prepare(const PreparedRequest& request) override {
    prepared_.push_back(&request);
    return prepared_.size() - 1;
  }

  void Send(int connection, std::size_t prepared, Done done) override {
    Slot& s = slots_[static_cast<std::size_t>(connection)];
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      ++shared_->in_flight;
    }
    StartCall(*s.stub, s.channel, endpoint_, timeout_, *prepared_[prepared],
              [shared = shared_, done = std::move(done)](SendResult&& r, CallPtr&& call) mutable {
      std::lock_guard<std::mutex> lock(shared->mu);
      if (shared->stopped) return;
      boost::asio::post(shared->ioc, [shared, done = std::move(done), r = std::move(r), call = std::move(call)]() mutable {
        done(std::move(r));
        call.reset();
        std::lock_guard<std::mutex> lock(shared->mu);
        if (--shared->in_flight == 0) shared->drained.notify_all();
      });
    });
  }

  std::int64_t connects() const override { return static_cast<std::int64_t>(slots_.size()); }
  LoopExecutor& executor() override { return executor_; }

 private:
  struct Slot {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<grpc::GenericStub> stub;
  };
  // Outlives this object while completions still hold it.
  struct Shared {
    boost::asio::io_context ioc{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{ioc.get_executor()};
    std::mutex mu;
    std::condition_variable drained;
    int in_flight = 0;
    bool stopped = false;
  };
  Endpoint endpoint_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<Shared> shared_;
  AsioExecutor executor_;
  std::thread thread_;
  std::deque<Slot> slots_;  // grown by Open only
  std::vector<const PreparedRequest*> prepared_;
};

}  // namespace

std::unique_ptr<Channel> MakeGrpcChannel(const Endpoint& endpoint, std::chrono::milliseconds timeout) {
  return std::make_unique<GrpcChannel>(endpoint, timeout);
}

std::unique_ptr<AsyncChannels> MakeGrpcAsyncChannels(const Endpoint& endpoint, std::chrono::milliseconds timeout) {
  return std::make_unique<GrpcAsyncChannels>(endpoint, timeout);
}

}  // namespace clipserve::bench::detail
