#include "bench/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>

namespace clipserve::bench {
namespace {

// Written in the format of Triton's /metrics (HELP/TYPE comments, per-model
// counters labelled model+version, older releases adding gpu_uuid, GPU
// gauges in exponent form) — our own text, not copied.
constexpr const char* kTritonText = R"(# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="openclip_vit_b32",version="1"} 459
nv_inference_request_success{model="other_model",version="1"} 7
# HELP nv_inference_request_failure Number of failed inference requests, all batch sizes
# TYPE nv_inference_request_failure counter
nv_inference_request_failure{model="openclip_vit_b32",version="1"} 2
# HELP nv_inference_count Number of inferences performed (does not include cached requests)
# TYPE nv_inference_count counter
nv_inference_count{gpu_uuid="GPU-3b6c1a2e-0000-1111-2222-333344445555",model="openclip_vit_b32",version="1"} 1200
nv_inference_count{gpu_uuid="GPU-9f00aa11-0000-1111-2222-333344445555",model="openclip_vit_b32",version="1"} 300
# TYPE nv_inference_exec_count counter
nv_inference_exec_count{model="openclip_vit_b32",version="1"} 3.75e+02
# TYPE nv_inference_queue_duration_us counter
nv_inference_queue_duration_us{model="openclip_vit_b32",version="1"} 1835633
nv_inference_queue_duration_us{model="openclip_vit_b32",version="2"} 1000
nv_inference_compute_input_duration_us{model="openclip_vit_b32",version="1"} 1566833
nv_inference_compute_infer_duration_us{model="openclip_vit_b32",version="1"} 1.3690887E7
nv_inference_compute_output_duration_us{model="openclip_vit_b32",version="1"} 41357 1700000000000
nv_inference_request_duration_us{model="openclip_vit_b32",version="1"} 17000000
# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)
# TYPE nv_gpu_utilization gauge
nv_gpu_utilization{gpu_uuid="GPU-3b6c1a2e-0000-1111-2222-333344445555"} 0.47
nv_gpu_memory_used_bytes{gpu_uuid="GPU-3b6c1a2e-0000-1111-2222-333344445555"} +Inf
nv_gpu_power_usage{gpu_uuid="GPU-3b6c1a2e-0000-1111-2222-333344445555"} NaN
nv_energy_consumption -Inf
clipserve_label_escapes{path="C:\\dir\"quoted\"\nline",  empty=""} 1
process_cpu_seconds_total 12.5

this line is not a metric
broken{model="x" 1
)";

TEST(Prometheus, ParsesTritonText) {
  auto r = ParsePrometheusText(kTritonText);
  EXPECT_EQ(r.malformed_lines, 2);
  auto c = ExtractTritonCounters(r.samples, "openclip_vit_b32");
  EXPECT_EQ(*c.request_success, 459);
  EXPECT_EQ(*c.request_failure, 2);
  EXPECT_EQ(*c.inference_count, 1500);  // summed over gpu_uuid
  EXPECT_EQ(*c.exec_count, 375);
  EXPECT_EQ(*c.queue_duration_us, 1836633);  // summed over versions
  EXPECT_EQ(*c.compute_input_duration_us, 1566833);
  EXPECT_EQ(*c.compute_infer_duration_us, 13690887);
  EXPECT_EQ(*c.compute_output_duration_us, 41357);  // trailing timestamp ignored
  EXPECT_EQ(*c.request_duration_us, 17000000);
}

TEST(Prometheus, SpecialValuesAndEscapes) {
  auto r = ParsePrometheusText(kTritonText);
  bool saw_inf = false, saw_nan = false, saw_neg_inf = false, saw_escape = false, saw_plain = false;
  for (const auto& s : r.samples) {
    if (s.name == "nv_gpu_memory_used_bytes") saw_inf = std::isinf(s.value) && s.value > 0;
    if (s.name == "nv_gpu_power_usage") saw_nan = std::isnan(s.value);
    if (s.name == "nv_energy_consumption") saw_neg_inf = std::isinf(s.value) && s.value < 0;
    if (s.name == "clipserve_label_escapes") {
      saw_escape = s.labels.at("path") == "C:\\dir\"quoted\"\nline" && s.labels.at("empty").empty();
    }
    if (s.name == "process_cpu_seconds_total") saw_plain = s.value == 12.5 && s.labels.empty();
  }
  EXPECT_TRUE(saw_inf);
  EXPECT_TRUE(saw_nan);
  EXPECT_TRUE(saw_neg_inf);
  EXPECT_TRUE(saw_escape);
  EXPECT_TRUE(saw_plain);
}

TEST(Prometheus, MissingModelGivesNullopt) {
  auto r = ParsePrometheusText(kTritonText);
  auto c = ExtractTritonCounters(r.samples, "absent");
  EXPECT_FALSE(c.request_success.has_value());
  EXPECT_FALSE(DiffCounters(c, c).requests.has_value());
}

TEST(Prometheus, DeltasPerRequest) {
  TritonModelCounters a, b;
  a.request_success = 100;
  b.request_success = 150;
  a.inference_count = 100;
  b.inference_count = 150;
  a.exec_count = 90;
  b.exec_count = 100;
  a.queue_duration_us = 1000;
  b.queue_duration_us = 6000;
  a.compute_infer_duration_us = 0;
  b.compute_infer_duration_us = 25000;
  auto d = DiffCounters(a, b);
  EXPECT_EQ(*d.requests, 50);
  EXPECT_EQ(*d.executions, 10);
  EXPECT_EQ(*d.avg_batch_size, 5);
  EXPECT_EQ(*d.queue_us_per_request, 100);
  EXPECT_EQ(*d.compute_infer_us_per_request, 500);
  EXPECT_FALSE(d.compute_input_us_per_request.has_value());
}

TEST(Prometheus, EmptyAndCrlf) {
  EXPECT_TRUE(ParsePrometheusText("").samples.empty());
  auto r = ParsePrometheusText("a 1\r\nb{x=\"y\"} 2\r\n");
  ASSERT_EQ(r.samples.size(), 2u);
  EXPECT_EQ(r.samples[1].value, 2);
  EXPECT_EQ(r.malformed_lines, 0);
}

}  // namespace
}  // namespace clipserve::bench
