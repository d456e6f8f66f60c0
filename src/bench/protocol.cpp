// What every protocol shares: the transport names and the defaults of the
// optional control calls.
#include "bench/protocol.h"

namespace clipserve::bench {

const char* TransportName(Transport t) { return t == Transport::kGrpc ? "grpc" : "http"; }

StatusOr<Transport> ParseTransport(const std::string& s) {
  if (s == "http") return Transport::kHttp;
  if (s == "grpc") return Transport::kGrpc;
  return InvalidArgumentError("unknown protocol '" + s + "' (http | grpc)");
}

std::string KserveModelFor(TritonInput input, const std::string& model) {
  return input == TritonInput::kImageBytes ? model + "_image" : model;
}

PreparedRequest GetRequest(std::string path) {
  PreparedRequest r;
  r.method = "GET";
  r.path = std::move(path);
  return r;
}

StatusOr<std::vector<std::int64_t>> Protocol::ParseInputShape(const HttpResponse&) const {
  return UnimplementedError(Describe() + " has no model metadata");
}

StatusOr<TritonModelCounters> Protocol::ParseStats(const HttpResponse&) const {
  return UnimplementedError(Describe() + " has no statistics extension");
}

}  // namespace clipserve::bench
