#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace clipserve::batching {

// The pixels of one submitted request: either floats the batcher owns, or a
// read-only view of floats someone else owns (a received request body), kept
// alive by `owner` for as long as the batcher holds the request. The view
// lets a tensor that arrived aligned in a request body reach the engine
// without a copy.
class PixelBuffer {
 public:
  PixelBuffer() = default;
  PixelBuffer(std::vector<float> owned)  // NOLINT(google-explicit-constructor)
      : owned_(std::move(owned)), view_(owned_) {}

  // `view` must stay valid while `owner` is alive; `owner` may be null only
  // when the caller guarantees that itself (tests).
  static PixelBuffer View(std::span<const float> view, std::shared_ptr<const void> owner) {
    PixelBuffer b;
    b.view_ = view;
    b.owner_ = std::move(owner);
    return b;
  }

  PixelBuffer(PixelBuffer&& other) noexcept { *this = std::move(other); }
  PixelBuffer& operator=(PixelBuffer&& other) noexcept {
    const bool owns = other.view_.data() == other.owned_.data();
    owned_ = std::move(other.owned_);
    owner_ = std::move(other.owner_);
    view_ = owns ? std::span<const float>(owned_) : other.view_;
    other.view_ = {};
    return *this;
  }
  PixelBuffer(const PixelBuffer&) = delete;
  PixelBuffer& operator=(const PixelBuffer&) = delete;

  std::span<const float> span() const { return view_; }
  const float* data() const { return view_.data(); }
  std::size_t size() const { return view_.size(); }
  bool is_view() const { return owned_.empty() && !view_.empty(); }

 private:
  std::vector<float> owned_;
  std::span<const float> view_;
  std::shared_ptr<const void> owner_;
};

}  // namespace clipserve::batching
