// FakeEngine: a deterministic stand-in for tests of the batcher and server.
// Its embedding of an image depends only on that image's pixels (so batching
// cannot change results), and it records every batch size it was given.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

#include "engine/engine.h"

namespace clipserve::engine {

class FakeEngine final : public Engine {
 public:
  explicit FakeEngine(int image_size = 8, int embed_dim = 4);

  const EngineInfo& info() const override { return info_; }
  Status Embed(std::span<const float> pixels, int batch, std::span<float> out) override;

  // Called at the start of every Embed with the batch size; a test may block
  // here (a latch) to hold the engine busy, or return an error to inject one.
  void set_hook(std::function<Status(int batch)> hook);

  std::vector<int> batch_sizes() const;  // every batch seen, in order
  std::vector<const float*> inputs() const;  // every batch's pixels.data(), in order
  int calls() const;

 private:
  EngineInfo info_;
  mutable std::mutex mu_;
  std::function<Status(int)> hook_;
  std::vector<int> batch_sizes_;
  std::vector<const float*> inputs_;
};

}  // namespace clipserve::engine
