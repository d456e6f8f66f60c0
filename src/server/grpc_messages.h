// The KServe v2 gRPC messages clip-server fills in from its own state (model
// metadata, Triton's model config, the statistics extension), apart from the
// RPC plumbing in grpc_server.cpp. Same content as the HTTP adapter's JSON.
#pragma once

#include <string>
#include <string_view>

#include "grpc_service.pb.h"
#include "metrics/model_stats.h"
#include "service/model_service.h"

namespace clipserve::server {

// One served model: the HTTP adapter's, with the same names and specs.
struct GrpcModel {
  std::string name;
  service::InferRoute route;
  std::string input_name;
  std::string input_datatype;  // "FP32" | "BYTES"
  std::string output_name;
  metrics::ModelStats* stats;
};

// Triton's ModelStatistics for one snapshot.
void FillStats(inference::ModelStatistics* out, const metrics::ModelStatsSnapshot& s);

// Model metadata and config of `m`; the service must be loaded (engine_info() non-null).
void FillMetadata(inference::ModelMetadataResponse* res, const GrpcModel& m, const service::ModelService& service,
                  std::string_view platform);
void FillConfig(inference::ModelConfig* c, const GrpcModel& m, const service::ModelService& service,
                std::string_view platform, std::string_view instance_kind);

}  // namespace clipserve::server
