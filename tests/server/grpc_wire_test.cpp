// Wire compatibility of our own .proto files with the published KServe v2 /
// Triton gRPC protocol: the package, the service and its method paths, and
// the field numbers and types a Triton client encodes and decodes, pinned
// here as the protocol states them (independently of src/proto, so a
// renumbered or retyped field fails this test rather than a user's client).
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "grpc_service.grpc.pb.h"
#include "model_config.pb.h"

namespace clipserve::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;

struct Field {
  const char* message;  // full name
  const char* field;
  int number;
  FieldDescriptor::Type type;
  bool repeated;
};

constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;
constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kInt64 = FieldDescriptor::TYPE_INT64;
constexpr auto kUint64 = FieldDescriptor::TYPE_UINT64;
constexpr auto kInt32 = FieldDescriptor::TYPE_INT32;
constexpr auto kUint32 = FieldDescriptor::TYPE_UINT32;
constexpr auto kFloat = FieldDescriptor::TYPE_FLOAT;
constexpr auto kDouble = FieldDescriptor::TYPE_DOUBLE;
constexpr auto kMessage = FieldDescriptor::TYPE_MESSAGE;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;

// clang-format off
const std::vector<Field> kProtocol = {
  {"inference.ServerLiveResponse", "live", 1, kBool, false},
  {"inference.ServerReadyResponse", "ready", 1, kBool, false},
  {"inference.ModelReadyRequest", "name", 1, kString, false},
  {"inference.ModelReadyRequest", "version", 2, kString, false},
  {"inference.ModelReadyResponse", "ready", 1, kBool, false},
  {"inference.ServerMetadataResponse", "name", 1, kString, false},
  {"inference.ServerMetadataResponse", "version", 2, kString, false},
  {"inference.ServerMetadataResponse", "extensions", 3, kString, true},
  {"inference.ModelMetadataRequest", "name", 1, kString, false},
  {"inference.ModelMetadataRequest", "version", 2, kString, false},
  {"inference.ModelMetadataResponse", "name", 1, kString, false},
  {"inference.ModelMetadataResponse", "versions", 2, kString, true},
  {"inference.ModelMetadataResponse", "platform", 3, kString, false},
  {"inference.ModelMetadataResponse", "inputs", 4, kMessage, true},
  {"inference.ModelMetadataResponse", "outputs", 5, kMessage, true},
  {"inference.ModelMetadataResponse.TensorMetadata", "name", 1, kString, false},
  {"inference.ModelMetadataResponse.TensorMetadata", "datatype", 2, kString, false},
  {"inference.ModelMetadataResponse.TensorMetadata", "shape", 3, kInt64, true},
  {"inference.InferParameter", "bool_param", 1, kBool, false},
  {"inference.InferParameter", "int64_param", 2, kInt64, false},
  {"inference.InferParameter", "string_param", 3, kString, false},
  {"inference.InferParameter", "double_param", 4, kDouble, false},
  {"inference.InferParameter", "uint64_param", 5, kUint64, false},
  {"inference.InferTensorContents", "bool_contents", 1, kBool, true},
  {"inference.InferTensorContents", "int_contents", 2, kInt32, true},
  {"inference.InferTensorContents", "int64_contents", 3, kInt64, true},
  {"inference.InferTensorContents", "uint_contents", 4, kUint32, true},
  {"inference.InferTensorContents", "uint64_contents", 5, kUint64, true},
  {"inference.InferTensorContents", "fp32_contents", 6, kFloat, true},
  {"inference.InferTensorContents", "fp64_contents", 7, kDouble, true},
  {"inference.InferTensorContents", "bytes_contents", 8, kBytes, true},
  {"inference.ModelInferRequest", "model_name", 1, kString, false},
  {"inference.ModelInferRequest", "model_version", 2, kString, false},
  {"inference.ModelInferRequest", "id", 3, kString, false},
  {"inference.ModelInferRequest", "parameters", 4, kMessage, true},
  {"inference.ModelInferRequest", "inputs", 5, kMessage, true},
  {"inference.ModelInferRequest", "outputs", 6, kMessage, true},
  {"inference.ModelInferRequest", "raw_input_contents", 7, kBytes, true},
  {"inference.ModelInferRequest.InferInputTensor", "name", 1, kString, false},
  {"inference.ModelInferRequest.InferInputTensor", "datatype", 2, kString, false},
  {"inference.ModelInferRequest.InferInputTensor", "shape", 3, kInt64, true},
  {"inference.ModelInferRequest.InferInputTensor", "parameters", 4, kMessage, true},
  {"inference.ModelInferRequest.InferInputTensor", "contents", 5, kMessage, false},
  {"inference.ModelInferRequest.InferRequestedOutputTensor", "name", 1, kString, false},
  {"inference.ModelInferRequest.InferRequestedOutputTensor", "parameters", 2, kMessage, true},
  {"inference.ModelInferResponse", "model_name", 1, kString, false},
  {"inference.ModelInferResponse", "model_version", 2, kString, false},
  {"inference.ModelInferResponse", "id", 3, kString, false},
  {"inference.ModelInferResponse", "parameters", 4, kMessage, true},
  {"inference.ModelInferResponse", "outputs", 5, kMessage, true},
  {"inference.ModelInferResponse", "raw_output_contents", 6, kBytes, true},
  {"inference.ModelInferResponse.InferOutputTensor", "name", 1, kString, false},
  {"inference.ModelInferResponse.InferOutputTensor", "datatype", 2, kString, false},
  {"inference.ModelInferResponse.InferOutputTensor", "shape", 3, kInt64, true},
  {"inference.ModelInferResponse.InferOutputTensor", "parameters", 4, kMessage, true},
  {"inference.ModelInferResponse.InferOutputTensor", "contents", 5, kMessage, false},
  {"inference.ModelStreamInferResponse", "error_message", 1, kString, false},
  {"inference.ModelStreamInferResponse", "infer_response", 2, kMessage, false},
  {"inference.ModelConfigRequest", "name", 1, kString, false},
  {"inference.ModelConfigRequest", "version", 2, kString, false},
  {"inference.ModelConfigResponse", "config", 1, kMessage, false},
  {"inference.ModelStatisticsRequest", "name", 1, kString, false},
  {"inference.ModelStatisticsRequest", "version", 2, kString, false},
  {"inference.StatisticDuration", "count", 1, kUint64, false},
  {"inference.StatisticDuration", "ns", 2, kUint64, false},
  {"inference.InferStatistics", "success", 1, kMessage, false},
  {"inference.InferStatistics", "fail", 2, kMessage, false},
  {"inference.InferStatistics", "queue", 3, kMessage, false},
  {"inference.InferStatistics", "compute_input", 4, kMessage, false},
  {"inference.InferStatistics", "compute_infer", 5, kMessage, false},
  {"inference.InferStatistics", "compute_output", 6, kMessage, false},
  {"inference.InferStatistics", "cache_hit", 7, kMessage, false},
  {"inference.InferStatistics", "cache_miss", 8, kMessage, false},
  {"inference.InferBatchStatistics", "batch_size", 1, kUint64, false},
  {"inference.InferBatchStatistics", "compute_input", 2, kMessage, false},
  {"inference.InferBatchStatistics", "compute_infer", 3, kMessage, false},
  {"inference.InferBatchStatistics", "compute_output", 4, kMessage, false},
  {"inference.ModelStatistics", "name", 1, kString, false},
  {"inference.ModelStatistics", "version", 2, kString, false},
  {"inference.ModelStatistics", "last_inference", 3, kUint64, false},
  {"inference.ModelStatistics", "inference_count", 4, kUint64, false},
  {"inference.ModelStatistics", "execution_count", 5, kUint64, false},
  {"inference.ModelStatistics", "inference_stats", 6, kMessage, false},
  {"inference.ModelStatistics", "batch_stats", 7, kMessage, true},
  {"inference.ModelStatistics", "memory_usage", 8, kMessage, true},
  {"inference.ModelStatisticsResponse", "model_stats", 1, kMessage, true},
  {"inference.RepositoryIndexRequest", "repository_name", 1, kString, false},
  {"inference.RepositoryIndexRequest", "ready", 2, kBool, false},
  {"inference.RepositoryIndexResponse", "models", 1, kMessage, true},
  {"inference.RepositoryIndexResponse.ModelIndex", "name", 1, kString, false},
  {"inference.RepositoryIndexResponse.ModelIndex", "version", 2, kString, false},
  {"inference.RepositoryIndexResponse.ModelIndex", "state", 3, kString, false},
  {"inference.RepositoryIndexResponse.ModelIndex", "reason", 4, kString, false},
  // model_config.proto: the subset clip-server fills in.
  {"inference.ModelConfig", "name", 1, kString, false},
  {"inference.ModelConfig", "platform", 2, kString, false},
  {"inference.ModelConfig", "version_policy", 3, kMessage, false},
  {"inference.ModelConfig", "max_batch_size", 4, kInt32, false},
  {"inference.ModelConfig", "input", 5, kMessage, true},
  {"inference.ModelConfig", "output", 6, kMessage, true},
  {"inference.ModelConfig", "instance_group", 7, kMessage, true},
  {"inference.ModelConfig", "default_model_filename", 8, kString, false},
  {"inference.ModelConfig", "dynamic_batching", 11, kMessage, false},
  {"inference.ModelConfig", "parameters", 14, kMessage, true},
  {"inference.ModelConfig", "backend", 17, kString, false},
  {"inference.ModelInput", "name", 1, kString, false},
  {"inference.ModelInput", "data_type", 2, kEnum, false},
  {"inference.ModelInput", "format", 3, kEnum, false},
  {"inference.ModelInput", "dims", 4, kInt64, true},
  {"inference.ModelInput", "reshape", 5, kMessage, false},
  {"inference.ModelInput", "is_shape_tensor", 6, kBool, false},
  {"inference.ModelInput", "allow_ragged_batch", 7, kBool, false},
  {"inference.ModelInput", "optional", 8, kBool, false},
  {"inference.ModelOutput", "name", 1, kString, false},
  {"inference.ModelOutput", "data_type", 2, kEnum, false},
  {"inference.ModelOutput", "dims", 3, kInt64, true},
  {"inference.ModelOutput", "label_filename", 4, kString, false},
  {"inference.ModelOutput", "reshape", 5, kMessage, false},
  {"inference.ModelOutput", "is_shape_tensor", 6, kBool, false},
  {"inference.ModelTensorReshape", "shape", 1, kInt64, true},
  {"inference.ModelInstanceGroup", "name", 1, kString, false},
  {"inference.ModelInstanceGroup", "count", 2, kInt32, false},
  {"inference.ModelInstanceGroup", "gpus", 3, kInt32, true},
  {"inference.ModelInstanceGroup", "kind", 4, kEnum, false},
  {"inference.ModelInstanceGroup", "profile", 5, kString, true},
  {"inference.ModelInstanceGroup", "passive", 7, kBool, false},
  {"inference.ModelInstanceGroup", "host_policy", 9, kString, false},
  {"inference.ModelVersionPolicy", "latest", 1, kMessage, false},
  {"inference.ModelVersionPolicy", "all", 2, kMessage, false},
  {"inference.ModelVersionPolicy", "specific", 3, kMessage, false},
  {"inference.ModelVersionPolicy.Latest", "num_versions", 1, kUint32, false},
  {"inference.ModelDynamicBatching", "preferred_batch_size", 1, kInt32, true},
  {"inference.ModelDynamicBatching", "max_queue_delay_microseconds", 2, kUint64, false},
  {"inference.ModelDynamicBatching", "preserve_ordering", 3, kBool, false},
  {"inference.ModelDynamicBatching", "priority_levels", 4, kUint64, false},
  {"inference.ModelDynamicBatching", "default_priority_level", 5, kUint64, false},
  {"inference.ModelDynamicBatching", "default_queue_policy", 6, kMessage, false},
  {"inference.ModelDynamicBatching", "priority_queue_policy", 7, kMessage, true},
  {"inference.ModelQueuePolicy", "timeout_action", 1, kEnum, false},
  {"inference.ModelQueuePolicy", "default_timeout_microseconds", 2, kUint64, false},
  {"inference.ModelQueuePolicy", "allow_timeout_override", 3, kBool, false},
  {"inference.ModelQueuePolicy", "max_queue_size", 4, kUint32, false},
  {"inference.ModelParameter", "string_value", 1, kString, false},
};
// clang-format on

TEST(GrpcWireTest, FieldNumbersAndTypesAreTheProtocols) {
  // Link both generated files in, so their descriptors are in the pool.
  inference::ModelInferRequest request;
  inference::ModelConfig config;
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  for (const auto& f : kProtocol) {
    const Descriptor* m = pool->FindMessageTypeByName(f.message);
    ASSERT_NE(m, nullptr) << f.message;
    const FieldDescriptor* d = m->FindFieldByName(f.field);
    ASSERT_NE(d, nullptr) << f.message << "." << f.field;
    EXPECT_EQ(d->number(), f.number) << f.message << "." << f.field;
    EXPECT_EQ(d->type(), f.type) << f.message << "." << f.field;
    EXPECT_EQ(d->is_repeated(), f.repeated) << f.message << "." << f.field;
  }
}

TEST(GrpcWireTest, EnumValuesAreTheProtocols) {
  EXPECT_EQ(inference::TYPE_FP32, 11);
  EXPECT_EQ(inference::TYPE_STRING, 13);
  EXPECT_EQ(inference::TYPE_BF16, 14);
  EXPECT_EQ(inference::ModelInstanceGroup::KIND_GPU, 1);
  EXPECT_EQ(inference::ModelInstanceGroup::KIND_CPU, 2);
  EXPECT_EQ(inference::ModelInput::FORMAT_NONE, 0);
  EXPECT_EQ(inference::ModelQueuePolicy::REJECT, 0);
}

// Clients address a method by "/package.Service/Method"; the streaming one
// must be bidirectional.
TEST(GrpcWireTest, ServiceAndMethodPaths) {
  const auto* service = DescriptorPool::generated_pool()->FindServiceByName("inference.GRPCInferenceService");
  ASSERT_NE(service, nullptr);
  for (const char* method : {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer",
                             "ModelStreamInfer", "ModelConfig", "ModelStatistics", "RepositoryIndex"}) {
    EXPECT_NE(service->FindMethodByName(method), nullptr) << method;
  }
  const auto* infer = service->FindMethodByName("ModelInfer");
  ASSERT_NE(infer, nullptr);
  EXPECT_EQ(infer->input_type()->full_name(), "inference.ModelInferRequest");
  EXPECT_EQ(infer->output_type()->full_name(), "inference.ModelInferResponse");
  const auto* stream = service->FindMethodByName("ModelStreamInfer");
  ASSERT_NE(stream, nullptr);
  EXPECT_TRUE(stream->client_streaming());
  EXPECT_TRUE(stream->server_streaming());
  EXPECT_EQ(stream->output_type()->full_name(), "inference.ModelStreamInferResponse");
}

// The bytes a Triton client puts on the wire for a raw FP32 request decode
// into our message: tags computed by hand from the protocol's numbers.
TEST(GrpcWireTest, HandEncodedRequestDecodes) {
  std::string wire;
  auto tag = [&](int field, int wire_type) { wire += static_cast<char>((field << 3) | wire_type); };
  auto str = [&](int field, const std::string& s) {
    tag(field, 2);
    wire += static_cast<char>(s.size());
    wire += s;
  };
  str(1, "m");          // model_name
  str(3, "id9");        // id
  std::string input;    // InferInputTensor
  input += "\x0a\x05image";             // name = 1
  input += "\x12\x04" "FP32";            // datatype = 2
  input += "\x1a\x02\x01\x04";          // shape = 3, packed [1, 4]
  str(5, input);        // inputs
  const float v[4] = {0.f, 0.25f, 0.5f, 1.f};
  str(7, std::string(reinterpret_cast<const char*>(v), sizeof v));  // raw_input_contents
  inference::ModelInferRequest req;
  ASSERT_TRUE(req.ParseFromString(wire));
  EXPECT_EQ(req.model_name(), "m");
  EXPECT_EQ(req.id(), "id9");
  ASSERT_EQ(req.inputs_size(), 1);
  EXPECT_EQ(req.inputs(0).name(), "image");
  EXPECT_EQ(req.inputs(0).datatype(), "FP32");
  ASSERT_EQ(req.inputs(0).shape_size(), 2);
  EXPECT_EQ(req.inputs(0).shape(1), 4);
  ASSERT_EQ(req.raw_input_contents_size(), 1);
  EXPECT_EQ(req.raw_input_contents(0).size(), sizeof v);
}

}  // namespace
}  // namespace clipserve::server
