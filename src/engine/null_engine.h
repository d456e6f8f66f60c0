// NullEngine: the whole server path with the model taken out. Every image
// gets the same fixed unit vector (1/sqrt(D) in every component) without any
// compute, so parsing, preprocessing, batching, metrics and responses are all
// that a measurement sees: clip-server's counterpart of Triton's identity
// backend (`--engine null`).
#pragma once

#include "engine/engine.h"

namespace clipserve::engine {

class NullEngine final : public Engine {
 public:
  // `info` describes the model being stood in for (image size, embed dim);
  // its compute field is set to say that nothing is computed.
  explicit NullEngine(EngineInfo info);

  const EngineInfo& info() const override { return info_; }
  // Checks the buffer sizes as the real engine does, then fills `out`.
  Status Embed(std::span<const float> pixels, int batch, std::span<float> out) override;

 private:
  EngineInfo info_;
  std::vector<float> row_;  // the unit vector, one row
};

}  // namespace clipserve::engine
