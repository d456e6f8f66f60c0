#include "batching/triton_config.h"

#include <gtest/gtest.h>

#include <fstream>

namespace clipserve::batching {
namespace {

std::string Fixture(const std::string& name) {
  return std::string(CLIPSERVE_SOURCE_DIR) + "/tests/batching/fixtures/" + name;
}

TEST(TritonConfig, ParsesSeedConfig) {
  StatusOr<TritonModelConfig> c = LoadTritonConfigFile(Fixture("seed-config.pbtxt"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "openclip_vit_b32");
  EXPECT_EQ(c->platform, "onnxruntime_onnx");
  EXPECT_EQ(c->max_batch_size, 32);
  ASSERT_EQ(c->inputs.size(), 1u);
  EXPECT_EQ(c->inputs[0].name, "image");
  EXPECT_EQ(c->inputs[0].data_type, "TYPE_FP32");
  EXPECT_EQ(c->inputs[0].dims, (std::vector<std::int64_t>{3, 224, 224}));
  ASSERT_EQ(c->outputs.size(), 1u);
  EXPECT_EQ(c->outputs[0].name, "embedding");
  EXPECT_EQ(c->outputs[0].dims, (std::vector<std::int64_t>{512}));
  ASSERT_TRUE(c->dynamic_batching.has_value());
  EXPECT_EQ(c->dynamic_batching->preferred_batch_size, (std::vector<int>{4, 8, 16, 32}));
  EXPECT_EQ(c->dynamic_batching->max_queue_delay_microseconds, 10000u);
  ASSERT_EQ(c->instance_groups.size(), 1u);
  EXPECT_EQ(c->instance_groups[0].count, 1);
  EXPECT_EQ(c->instance_groups[0].kind, "KIND_GPU");
  EXPECT_EQ(c->instance_groups[0].gpus, (std::vector<int>{0}));
  ASSERT_TRUE(c->version_policy.has_value());
  EXPECT_EQ(c->version_policy->kind, TritonVersionPolicy::Kind::kSpecific);
  EXPECT_EQ(c->version_policy->versions, (std::vector<std::int64_t>{1}));
  EXPECT_EQ(c->ignored_fields, (std::vector<std::string>{"optimization"}));

  StatusOr<BatcherConfig> b = ToBatcherConfig(*c);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->max_batch_size, 32);
  EXPECT_TRUE(b->dynamic_batching);
  EXPECT_EQ(b->preferred_batch_sizes, (std::vector<int>{4, 8, 16, 32}));
  EXPECT_EQ(b->max_queue_delay, Microseconds(10000));
  EXPECT_EQ(b->instance_count, 1);
  EXPECT_EQ(b->max_queue_size, 0);
}

TEST(TritonConfig, ParsesMultiGpuConfig) {
  StatusOr<TritonModelConfig> c = LoadTritonConfigFile(Fixture("seed-config.multigpu.4x.pbtxt"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->instance_groups.size(), 1u);
  EXPECT_EQ(c->instance_groups[0].count, 4);
  EXPECT_TRUE(c->instance_groups[0].gpus.empty());
  EXPECT_EQ(c->TotalInstanceCount(), 4);
  StatusOr<BatcherConfig> b = ToBatcherConfig(*c);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->instance_count, 4);
}

TEST(TritonConfig, WriterRoundTripsBothFixtures) {
  for (const char* name : {"seed-config.pbtxt", "seed-config.multigpu.4x.pbtxt"}) {
    StatusOr<TritonModelConfig> c = LoadTritonConfigFile(Fixture(name));
    ASSERT_TRUE(c.ok()) << name;
    const std::string text = WriteTritonConfig(*c);
    StatusOr<TritonModelConfig> back = ParseTritonConfig(text);
    ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << text;
    EXPECT_EQ(WriteTritonConfig(*back), text);
    EXPECT_EQ(back->name, c->name);
    EXPECT_EQ(back->dynamic_batching->preferred_batch_size, c->dynamic_batching->preferred_batch_size);
    EXPECT_EQ(back->instance_groups[0].count, c->instance_groups[0].count);
    EXPECT_EQ(back->inputs[0].dims, c->inputs[0].dims);
    EXPECT_TRUE(back->ignored_fields.empty());
  }
}

TEST(TritonConfig, QueuePolicyAndExportMapping) {
  const char* text = R"pb(
    name: 'm'  # single quotes are fine
    backend: "pytorch"
    max_batch_size: 16
    input { name: "image_bytes" data_type: TYPE_STRING dims: -1 }
    input [ { name: "extra", data_type: TYPE_FP32, dims: [ 2 ], reshape: { shape: [ 1, 2 ] } } ]
    dynamic_batching {
      preferred_batch_size: 4
      preferred_batch_size: 8
      max_queue_delay_microseconds: 2500
      preserve_ordering: true
      default_queue_policy {
        max_queue_size: 64
        default_timeout_microseconds: 50000
        timeout_action: REJECT
        allow_timeout_override: true
      }
    }
    instance_group [ { count: 2 kind: KIND_CPU }, { count: 1, kind: KIND_CPU } ]
    parameters { key: "x" value: { string_value: "y" } }
  )pb";
  StatusOr<TritonModelConfig> c = ParseTritonConfig(text);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "m");
  EXPECT_EQ(c->backend, "pytorch");
  ASSERT_EQ(c->inputs.size(), 2u);
  EXPECT_EQ(c->inputs[0].dims, (std::vector<std::int64_t>{-1}));
  EXPECT_EQ(c->inputs[1].reshape, (std::vector<std::int64_t>{1, 2}));
  EXPECT_TRUE(c->dynamic_batching->preserve_ordering);
  EXPECT_EQ(c->TotalInstanceCount(), 3);
  StatusOr<BatcherConfig> b = ToBatcherConfig(*c);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->max_queue_size, 64);
  EXPECT_EQ(b->default_queue_timeout, Microseconds(50000));
  EXPECT_TRUE(b->allow_timeout_override);
  EXPECT_EQ(b->max_queue_delay, Microseconds(2500));
  EXPECT_EQ(b->instance_count, 3);

  // Export: BatcherConfig -> Triton config -> text -> back.
  BatcherConfig e;
  e.max_batch_size = 8;
  e.preferred_batch_sizes = {8};
  e.max_queue_delay = Microseconds(700);
  e.max_queue_size = 5;
  e.instance_count = 2;
  TritonModelConfig out = *c;
  ApplyBatcherConfig(e, "KIND_GPU", &out);
  StatusOr<TritonModelConfig> reparsed = ParseTritonConfig(WriteTritonConfig(out));
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().ToString();
  StatusOr<BatcherConfig> e2 = ToBatcherConfig(*reparsed);
  ASSERT_TRUE(e2.ok()) << e2.status().ToString();
  EXPECT_EQ(e2->max_batch_size, 8);
  EXPECT_EQ(e2->preferred_batch_sizes, (std::vector<int>{8}));
  EXPECT_EQ(e2->max_queue_delay, Microseconds(700));
  EXPECT_EQ(e2->max_queue_size, 5);
  EXPECT_EQ(e2->instance_count, 2);
  EXPECT_EQ(reparsed->instance_groups[0].kind, "KIND_GPU");
}

TEST(TritonConfig, NoDynamicBatchingBlockMeansOff) {
  StatusOr<TritonModelConfig> c = ParseTritonConfig("name: \"m\"\nmax_batch_size: 8\n");
  ASSERT_TRUE(c.ok());
  StatusOr<BatcherConfig> b = ToBatcherConfig(*c);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->dynamic_batching);
  EXPECT_EQ(b->max_batch_size, 8);
  c = ParseTritonConfig("name: \"m\"\nmax_batch_size: 0\ndynamic_batching { }\n");
  ASSERT_TRUE(c.ok());
  b = ToBatcherConfig(*c);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->dynamic_batching);  // no batch dimension: nothing to batch
  EXPECT_EQ(b->max_batch_size, 1);
}

struct BadCase {
  const char* text;
  const char* expected;  // substring of the error, including line:col
};

TEST(TritonConfig, ErrorsCarryLineAndColumn) {
  const BadCase cases[] = {
      {"name: \"m\"\nmax_batch_size: 8\nmax_batch_sise: 4\n", "config.pbtxt:3:1: unknown field 'max_batch_sise'"},
      {"name: \"m\"\nmax_batch_size: eight\n", "config.pbtxt:2:17: 'max_batch_size' must be an integer"},
      {"name: \"m\"\ndynamic_batching {\n  max_queue_delay_microsecond: 5\n}\n",
       "config.pbtxt:3:3: unknown field 'max_queue_delay_microsecond' in dynamic_batching"},
      {"name: \"m\"\ndynamic_batching {\n  preferred_batch_size: [ 4, 8 \n", "config.pbtxt:4:1: expected ',' or ']'"},
      {"name: \"m\"\ndynamic_batching {\n", "config.pbtxt:3:1: expected '}' before end of file"},
      {"name: \"unterminated\n", "config.pbtxt:1:7: unterminated string"},
      {"name: m\n", "config.pbtxt:1:7: 'name' must be a quoted string"},
      {"instance_group [ { kind: KIND_TPU } ]", "config.pbtxt:1:26: 'kind' must be one of"},
      {"name: \"a\"\nname: \"b\"\n", "config.pbtxt:2:1: field 'name' given twice"},
      {"max_batch_size: -3\n", "config.pbtxt:1:17: 'max_batch_size' must be in [0,"},
      {"input [ { dims: 3 } ]", "config.pbtxt:1:9: 'input' entry has no name"},
      {"dynamic_batching { default_queue_policy { timeout_action: NEVER } }", "must be one of DELAY, REJECT"},
      {"name \"m\"", "config.pbtxt:1:6: expected ':' or '{' after 'name'"},
      {"name: \"m\" @", "config.pbtxt:1:11: unexpected character '@'"},
  };
  for (const BadCase& c : cases) {
    StatusOr<TritonModelConfig> r = ParseTritonConfig(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expected), std::string::npos)
        << "input: " << c.text << "\nerror: " << r.status().message();
  }
}

TEST(TritonConfig, DelayTimeoutActionIsUnimplemented) {
  StatusOr<TritonModelConfig> c = ParseTritonConfig(
      "max_batch_size: 4\ndynamic_batching { default_queue_policy { timeout_action: DELAY } }");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(ToBatcherConfig(*c).status().code(), StatusCode::kUnimplemented);
}

TEST(TritonConfig, InvalidBatchingValuesFailValidation) {
  StatusOr<TritonModelConfig> c =
      ParseTritonConfig("name: \"m\" max_batch_size: 4 dynamic_batching { preferred_batch_size: 8 }");
  ASSERT_TRUE(c.ok());
  Status st = ToBatcherConfig(*c).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("preferred_batch_size 8"), std::string::npos) << st.message();
}

TEST(TritonConfig, MissingFileIsNotFound) {
  EXPECT_EQ(LoadTritonConfigFile("/nonexistent/config.pbtxt").status().code(), StatusCode::kNotFound);
}

TEST(TritonConfig, FileNameLabelsErrors) {
  StatusOr<TritonModelConfig> r = ParseTritonConfig("bogus: 1", "models/x/config.pbtxt");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("models/x/config.pbtxt:1:1:", 0), 0u) << r.status().message();
}

}  // namespace
}  // namespace clipserve::batching
