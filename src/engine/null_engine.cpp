#include "engine/null_engine.h"

#include <algorithm>
#include <cmath>

namespace clipserve::engine {

NullEngine::NullEngine(EngineInfo info) : info_(std::move(info)) {
  info_.compute = "null engine (no model: a fixed unit vector)";
  info_.weight_bytes = 0;
  row_.assign(static_cast<std::size_t>(std::max(1, info_.embed_dim)), 1.0f / std::sqrt(float(std::max(1, info_.embed_dim))));
}

Status NullEngine::Embed(std::span<const float> pixels, int batch, std::span<float> out) {
  const std::uint64_t s = static_cast<std::uint64_t>(info_.image_size), d = row_.size();
  if (batch <= 0) return InvalidArgumentError("batch must be positive, got " + std::to_string(batch));
  if (pixels.size() != std::uint64_t(batch) * 3 * s * s) {
    return InvalidArgumentError("pixels hold " + std::to_string(pixels.size()) + " floats; batch " +
                                std::to_string(batch) + " needs " + std::to_string(std::uint64_t(batch) * 3 * s * s));
  }
  if (out.size() != std::uint64_t(batch) * d) {
    return InvalidArgumentError("output holds " + std::to_string(out.size()) + " floats; batch " +
                                std::to_string(batch) + " needs " + std::to_string(std::uint64_t(batch) * d));
  }
  for (int i = 0; i < batch; ++i) std::copy(row_.begin(), row_.end(), out.begin() + std::ptrdiff_t(i) * std::ptrdiff_t(d));
  return Status::Ok();
}

}  // namespace clipserve::engine
