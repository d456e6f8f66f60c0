#include "server/grpc_messages.h"

#include <cstdint>

namespace clipserve::server {

namespace {

void SetDuration(inference::StatisticDuration* d, const metrics::CountNs& c) {
  d->set_count(c.count);
  d->set_ns(c.ns);
}

}  // namespace

void FillStats(inference::ModelStatistics* out, const metrics::ModelStatsSnapshot& s) {
  out->set_name(s.name);
  out->set_version(s.version);
  out->set_last_inference(s.last_inference_ms);
  out->set_inference_count(s.inference_count);
  out->set_execution_count(s.execution_count);
  auto* st = out->mutable_inference_stats();
  SetDuration(st->mutable_success(), s.success);
  SetDuration(st->mutable_fail(), s.fail);
  SetDuration(st->mutable_queue(), s.queue);
  SetDuration(st->mutable_compute_input(), s.compute_input);
  SetDuration(st->mutable_compute_infer(), s.compute_infer);
  SetDuration(st->mutable_compute_output(), s.compute_output);
  st->mutable_cache_hit();
  st->mutable_cache_miss();
  for (const auto& b : s.batch_stats) {
    auto* bs = out->add_batch_stats();
    bs->set_batch_size(static_cast<std::uint64_t>(b.batch_size));
    SetDuration(bs->mutable_compute_input(), b.compute_input);
    SetDuration(bs->mutable_compute_infer(), b.compute_infer);
    SetDuration(bs->mutable_compute_output(), b.compute_output);
  }
}

void FillMetadata(inference::ModelMetadataResponse* res, const GrpcModel& m, const service::ModelService& service,
                  std::string_view platform) {
  const auto* info = service.engine_info();
  res->set_name(m.name);
  res->add_versions(service.options().model_version);
  res->set_platform(std::string(platform));
  auto* in = res->add_inputs();
  in->set_name(m.input_name);
  in->set_datatype(m.input_datatype);
  if (m.input_datatype == "FP32") {
    for (std::int64_t d : {std::int64_t{-1}, std::int64_t{3}, std::int64_t{info->image_size}, std::int64_t{info->image_size}}) {
      in->add_shape(d);
    }
  } else {
    in->add_shape(-1);
  }
  auto* out = res->add_outputs();
  out->set_name(m.output_name);
  out->set_datatype("FP32");
  out->add_shape(-1);
  out->add_shape(info->embed_dim);
}

void FillConfig(inference::ModelConfig* c, const GrpcModel& m, const service::ModelService& service,
                std::string_view platform, std::string_view instance_kind) {
  const auto* info = service.engine_info();
  const auto& b = service.options().kserve_batching;
  const bool fp32 = m.input_datatype == "FP32";
  c->set_name(m.name);
  c->set_platform(std::string(platform));
  c->set_backend("pytorch");
  c->mutable_version_policy()->mutable_latest()->set_num_versions(1);
  c->set_max_batch_size(b.max_batch_size);
  auto* in = c->add_input();
  in->set_name(m.input_name);
  in->set_data_type(fp32 ? inference::TYPE_FP32 : inference::TYPE_STRING);
  in->set_format(inference::ModelInput::FORMAT_NONE);
  if (fp32) {
    for (std::int64_t d : {std::int64_t{3}, std::int64_t{info->image_size}, std::int64_t{info->image_size}}) in->add_dims(d);
  } else {
    in->add_dims(1);
    in->mutable_reshape();  // [1] per element, seen by the model as a scalar
  }
  auto* out = c->add_output();
  out->set_name(m.output_name);
  out->set_data_type(inference::TYPE_FP32);
  out->add_dims(info->embed_dim);
  auto* group = c->add_instance_group();
  group->set_name(m.name + "_0");
  group->set_kind(instance_kind == "KIND_GPU" ? inference::ModelInstanceGroup::KIND_GPU
                                              : inference::ModelInstanceGroup::KIND_CPU);
  group->set_count(service.options().instance_count);
  auto& params = *c->mutable_parameters();
  params["precision"].set_string_value(std::string(engine::PrecisionName(info->precision)));
  params["requested_precision"].set_string_value(std::string(engine::PrecisionName(info->requested_precision)));
  params["cpu_isa"].set_string_value(info->cpu_isa);
  params["cpu_model"].set_string_value(info->cpu_model);
  params["compute"].set_string_value(info->compute);
  if (b.dynamic_batching) {
    auto* d = c->mutable_dynamic_batching();
    for (int s : b.preferred_batch_sizes) d->add_preferred_batch_size(s);
    d->set_max_queue_delay_microseconds(static_cast<std::uint64_t>(b.max_queue_delay.count()));
    d->set_preserve_ordering(true);
    auto* q = d->mutable_default_queue_policy();
    q->set_timeout_action(inference::ModelQueuePolicy::REJECT);
    q->set_default_timeout_microseconds(static_cast<std::uint64_t>(b.default_queue_timeout.count()));
    q->set_allow_timeout_override(b.allow_timeout_override);
    q->set_max_queue_size(static_cast<std::uint32_t>(b.max_queue_size));
  }
}

}  // namespace clipserve::server
