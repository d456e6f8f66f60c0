#include "engine/fake_engine.h"

#include <cmath>

namespace clipserve::engine {

FakeEngine::FakeEngine(int image_size, int embed_dim) {
  info_.model_name = "fake";
  info_.weights = "fake";
  info_.image_size = image_size;
  info_.embed_dim = embed_dim;
}

void FakeEngine::set_hook(std::function<Status(int)> hook) {
  std::lock_guard lock(mu_);
  hook_ = std::move(hook);
}

std::vector<int> FakeEngine::batch_sizes() const {
  std::lock_guard lock(mu_);
  return batch_sizes_;
}

std::vector<const float*> FakeEngine::inputs() const {
  std::lock_guard lock(mu_);
  return inputs_;
}

int FakeEngine::calls() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(batch_sizes_.size());
}

Status FakeEngine::Embed(std::span<const float> pixels, int batch, std::span<float> out) {
  std::function<Status(int)> hook;
  {
    std::lock_guard lock(mu_);
    batch_sizes_.push_back(batch);
    inputs_.push_back(pixels.data());
    hook = hook_;
  }
  if (hook) RETURN_IF_ERROR(hook(batch));
  const size_t per_image = 3ull * info_.image_size * info_.image_size;
  const size_t dim = static_cast<size_t>(info_.embed_dim);
  if (batch <= 0 || pixels.size() != per_image * batch || out.size() != dim * batch) {
    return InvalidArgumentError("FakeEngine: buffer sizes do not match the batch");
  }
  for (int b = 0; b < batch; ++b) {
    const float* img = pixels.data() + per_image * b;
    float* row = out.data() + dim * b;
    // Component k: a weighted sum of the pixels with weights that vary by k,
    // so different images give different directions.
    for (size_t k = 0; k < dim; ++k) {
      double acc = 0.1;
      for (size_t i = 0; i < per_image; ++i) acc += img[i] * std::cos(0.37 * static_cast<double>((k + 1) * (i + 1)));
      row[k] = static_cast<float>(acc);
    }
    double norm = 0;
    for (size_t k = 0; k < dim; ++k) norm += double(row[k]) * row[k];
    norm = std::sqrt(norm);
    if (norm > 0) for (size_t k = 0; k < dim; ++k) row[k] = static_cast<float>(row[k] / norm);
  }
  return Status::Ok();
}

}  // namespace clipserve::engine
