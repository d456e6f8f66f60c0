// ModelService over FakeEngine: typed failures (with the image they are
// about), admission, the asynchronous path, and that every failure is counted
// exactly once in the route's model stats.
#include "support/gate.h"
#include "service/model_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/fake_engine.h"
#include "image/image.h"

namespace clipserve::service {
namespace {

using EngineGate = clipserve::testing::Gate;

constexpr int S = 8;  // FakeEngine image size
constexpr int D = 4;  // FakeEngine embedding size
constexpr std::size_t kPerImage = 3ull * S * S;

std::string MakeJpeg(int w, int h, int seed) {
  image::RgbImage img;
  img.width = w;
  img.height = h;
  img.data.resize(static_cast<std::size_t>(w) * h * 3);
  for (std::size_t i = 0; i < img.data.size(); ++i)
    img.data[i] = static_cast<std::uint8_t>((i * 7 + seed * 31) % 251);
  auto jpeg = image::EncodeJpeg(img, 90);
  if (!jpeg.ok()) throw std::runtime_error(jpeg.status().ToString());
  return std::string(jpeg->begin(), jpeg->end());
}


class ServiceHarness {
 public:
  explicit ServiceHarness(const std::function<void(ModelServiceOptions&)>& tweak = {}, bool load = true) {
    ModelServiceOptions o;
    o.max_images_per_request = 4;
    o.rest_batching.dynamic_batching = false;
    if (tweak) tweak(o);
    service_ = std::make_unique<ModelService>(o, &registry_);
    if (load) Load();
  }

  void Load() {
    Status st = service_->Load([this](int, int) -> StatusOr<std::unique_ptr<engine::Engine>> {
      auto e = std::make_unique<engine::FakeEngine>(S, D);
      std::lock_guard lock(mu_);
      engines_.push_back(e.get());
      return std::unique_ptr<engine::Engine>(std::move(e));
    });
    if (!st.ok()) throw std::runtime_error(st.ToString());
  }

  ModelService& service() { return *service_; }
  engine::FakeEngine* engine() {
    std::lock_guard lock(mu_);
    return engines_.empty() ? nullptr : engines_[0];
  }
  metrics::ModelStatsSnapshot tensor() const { return service_->tensor_stats()->Snapshot(); }
  metrics::ModelStatsSnapshot image() const { return service_->image_stats()->Snapshot(); }

 private:
  metrics::Registry registry_;
  std::mutex mu_;
  std::vector<engine::FakeEngine*> engines_;  // owned by the service's batcher
  std::unique_ptr<ModelService> service_;
};

std::vector<float> Pixels(int n, float value = 0.5f) { return std::vector<float>(kPerImage * n, value); }

std::uint64_t Failures(const metrics::ModelStatsSnapshot& s, metrics::FailureReason r) {
  return s.fail_by_reason[static_cast<int>(r)];
}

// A tensor view with an owner, aligned for float, reaches the engine in
// place (the request body is not copied) and the service lets go of the owner
// when the request is done; unaligned or without an owner it is copied. The
// embeddings are the same either way, and the non-finite check still runs.
TEST(ModelServiceTest, AlignedOwnedTensorViewIsUsedInPlaceOthersAreCopied) {
  ServiceHarness h;
  const auto floats = Pixels(2, 0.75f);
  const std::size_t bytes = floats.size() * sizeof(float);
  auto body = std::make_shared<std::vector<float>>(floats.size() + 1);
  std::memcpy(body->data(), floats.data(), bytes);
  const auto* aligned = reinterpret_cast<const std::byte*>(body->data());
  std::vector<std::byte> odd(bytes + 1);
  std::memcpy(odd.data() + 1, floats.data(), bytes);

  auto run = [&](std::span<const std::byte> view, std::shared_ptr<const void> owner) {
    PixelTensor t{{2, 3, S, S}, view};
    t.owner = std::move(owner);
    return h.service().EmbedPixels(InferRoute::kKserveTensor, std::move(t));
  };
  std::weak_ptr<const void> watch = body;
  const std::size_t before = h.engine()->inputs().size();
  auto in_place = run(std::span<const std::byte>(aligned, bytes), body);
  auto no_owner = run(std::span<const std::byte>(aligned, bytes), nullptr);
  auto unaligned = run(std::span<const std::byte>(odd.data() + 1, bytes), body);
  ASSERT_TRUE(in_place.ok() && no_owner.ok() && unaligned.ok());
  const auto inputs = h.engine()->inputs();
  ASSERT_EQ(inputs.size(), before + 3);
  EXPECT_EQ(inputs[before], body->data());
  EXPECT_NE(inputs[before + 1], body->data());
  EXPECT_NE(inputs[before + 2], reinterpret_cast<const float*>(odd.data() + 1));
  EXPECT_EQ(in_place->result.embeddings, no_owner->result.embeddings);
  EXPECT_EQ(in_place->result.embeddings, unaligned->result.embeddings);
  body.reset();
  // The batcher drops its request (and the owner) just after answering.
  for (int i = 0; i < 500 && !watch.expired(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_TRUE(watch.expired()) << "the service still holds the request body";

  // The in-place path checks finiteness too, and names the element.
  auto bad = std::make_shared<std::vector<float>>(floats);
  (*bad)[kPerImage + 5] = std::numeric_limits<float>::quiet_NaN();
  auto nan = run(std::span<const std::byte>(reinterpret_cast<const std::byte*>(bad->data()), bytes), bad);
  ASSERT_FALSE(nan.ok());
  EXPECT_EQ(nan.failure().kind, FailureKind::kNonFinite);
  EXPECT_EQ(nan.failure().image_index, 1);
  EXPECT_NE(nan.status().message().find("element " + std::to_string(kPerImage + 5)), std::string::npos)
      << nan.status().message();
}

TEST(ModelServiceTest, FindModelNamesTheRouteOrSaysNotFoundInTritonsWords) {
  ServiceHarness h;
  auto& svc = h.service();
  EXPECT_EQ(*svc.FindModel("openclip_vit_b32", ""), InferRoute::kKserveTensor);
  EXPECT_EQ(*svc.FindModel("openclip_vit_b32_image", "1"), InferRoute::kKserveImage);
  auto unknown = svc.FindModel("nope", "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "Request for unknown model: 'nope' is not found");
  auto version = svc.FindModel("openclip_vit_b32", "7");
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.status().message(), "Request for unknown model: 'openclip_vit_b32' version 7 is not found");
}

TEST(ModelServiceTest, EmbedsPixelsAndEncodedImagesAndCountsSuccess) {
  ServiceHarness h;
  auto r = h.service().EmbedPixels(InferRoute::kKserveTensor, PixelTensor::Chw(Pixels(2), 2, S));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->result.num_images, 2);
  EXPECT_EQ(r->result.embed_dim, D);
  EXPECT_EQ(r->result.embeddings.size(), 2u * D);

  // Raw bytes (the binary tensor extension's view) give the same embedding.
  const auto floats = Pixels(1, 0.25f);
  std::vector<std::byte> raw(floats.size() * sizeof(float) + 1);
  std::memcpy(raw.data() + 1, floats.data(), floats.size() * sizeof(float));  // deliberately unaligned
  PixelTensor t{{1, 3, S, S}, std::span<const std::byte>(raw.data() + 1, floats.size() * sizeof(float))};
  auto from_raw = h.service().EmbedPixels(InferRoute::kKserveTensor, std::move(t));
  auto from_floats = h.service().EmbedPixels(InferRoute::kKserveTensor, PixelTensor::Chw(floats, 1, S));
  ASSERT_TRUE(from_raw.ok() && from_floats.ok());
  EXPECT_EQ(from_raw->result.embeddings, from_floats->result.embeddings);

  const std::string jpeg = MakeJpeg(20, 12, 1);
  const std::vector<std::string_view> images = {jpeg, jpeg, jpeg};
  auto e = h.service().EmbedEncoded(InferRoute::kKserveImage, images);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->result.num_images, 3);

  EXPECT_EQ(h.tensor().success.count, 3u);
  EXPECT_EQ(h.tensor().fail.count, 0u);
  EXPECT_EQ(h.image().success.count, 1u);
  EXPECT_EQ(h.image().inference_count, 3u);
}

TEST(ModelServiceTest, BadEncodedImageNamesItsIndexAndIsCountedOnce) {
  ServiceHarness h;
  const std::string good = MakeJpeg(16, 16, 2);
  const std::string truncated = good.substr(0, good.size() / 3);
  const std::vector<std::string_view> images = {good, good, truncated};
  auto r = h.service().EmbedEncoded(InferRoute::kKserveImage, images);
  ASSERT_FALSE(r.ok());
  const EmbedFailure& f = r.failure();
  EXPECT_EQ(f.kind, FailureKind::kBadImage);
  EXPECT_EQ(f.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(f.image_index, 2);
  EXPECT_FALSE(f.detail.empty());
  EXPECT_EQ(f.status.message(), "image 2: " + f.detail);
  EXPECT_EQ(h.image().fail.count, 1u);
  EXPECT_EQ(Failures(h.image(), metrics::FailureReason::kOther), 1u);
  EXPECT_EQ(h.tensor().fail.count, 0u);  // the image model's failure, not the tensor model's
  EXPECT_EQ(h.engine()->calls(), 1);     // warm-up only: nothing reached the engine
}

TEST(ModelServiceTest, DecodeLimitsAreBadImages) {
  ServiceHarness h([](ModelServiceOptions& o) { o.max_pixels = 100; });
  const std::string big = MakeJpeg(20, 20, 3);  // 400 pixels
  const std::vector<std::string_view> images = {big};
  auto r = h.service().EmbedEncoded(InferRoute::kRest, images);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, FailureKind::kBadImage);
  EXPECT_EQ(r.failure().image_index, 0);
  EXPECT_EQ(r.failure().status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(h.tensor().fail.count, 1u);  // REST counts in the tensor model
}

TEST(ModelServiceTest, NonFiniteValueNamesItsImageAndElement) {
  ServiceHarness h;
  for (float v : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity()}) {
    auto px = Pixels(3);
    const std::size_t bad = 2 * kPerImage + 1ull * S * S + 4ull * S + 5;  // image 2, channel 1, y 4, x 5
    px[bad] = v;
    auto r = h.service().EmbedPixels(InferRoute::kKserveTensor, PixelTensor::Chw(std::move(px), 3, S));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure().kind, FailureKind::kNonFinite);
    EXPECT_EQ(r.failure().image_index, 2);
    EXPECT_EQ(r.failure().status.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.failure().status.message(), "non-finite value (NaN or Inf) at element " +
                                                std::to_string(bad) + " (image 2, channel 1, y 4, x 5)");
  }
  EXPECT_EQ(h.tensor().fail.count, 3u);
  EXPECT_EQ(h.tensor().success.count, 0u);
}

TEST(ModelServiceTest, TensorShapeSizeAndCountChecks) {
  ServiceHarness h;  // max_images_per_request = 4
  struct Case {
    PixelTensor tensor;
    FailureKind kind;
    StatusCode code;
  };
  std::vector<float> three(3 * kPerImage);
  std::vector<std::byte> raw_short(kPerImage * sizeof(float) - 4);
  std::vector<Case> cases;
  cases.push_back({{{1, 3, S + 1, S}, Pixels(1)}, FailureKind::kBadShape, StatusCode::kInvalidArgument});
  cases.push_back({{{3, S, S}, Pixels(1)}, FailureKind::kBadShape, StatusCode::kInvalidArgument});
  cases.push_back(
      {{{0, 3, S, S}, std::vector<float>{}}, FailureKind::kBadShape, StatusCode::kInvalidArgument});
  cases.push_back({{{5, 3, S, S}, Pixels(5)}, FailureKind::kTooManyImages, StatusCode::kOutOfRange});
  // A huge batch dimension is refused by the count before any size is computed.
  cases.push_back({{{1ll << 62, 3, S, S}, Pixels(1)}, FailureKind::kTooManyImages, StatusCode::kOutOfRange});
  cases.push_back({{{2, 3, S, S}, three}, FailureKind::kBadSize, StatusCode::kInvalidArgument});
  cases.push_back({{{1, 3, S, S}, std::span<const std::byte>(raw_short)},
                   FailureKind::kBadSize,
                   StatusCode::kInvalidArgument});
  for (auto& c : cases) {
    auto r = h.service().EmbedPixels(InferRoute::kKserveTensor, std::move(c.tensor));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure().kind, c.kind) << FailureKindName(r.failure().kind) << ": " << r.status().ToString();
    EXPECT_EQ(r.failure().status.code(), c.code) << r.status().ToString();
    EXPECT_FALSE(r.failure().image_index.has_value());
  }
  EXPECT_EQ(h.tensor().fail.count, cases.size());
  EXPECT_EQ(Failures(h.tensor(), metrics::FailureReason::kOther), cases.size());
  EXPECT_EQ(h.engine()->calls(), 1);  // warm-up only
}

TEST(ModelServiceTest, ImageCountLimitsForEncodedImages) {
  ServiceHarness h;
  const std::string jpeg = MakeJpeg(8, 8, 4);
  const std::vector<std::string_view> five(5, jpeg);
  auto r = h.service().EmbedEncoded(InferRoute::kKserveImage, five);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, FailureKind::kTooManyImages);
  EXPECT_EQ(r.failure().status.message(), "too many images in one request: 5 (limit 4)");
  auto none = h.service().EmbedEncoded(InferRoute::kKserveImage, {});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.failure().kind, FailureKind::kNoImages);
  EXPECT_EQ(h.image().fail.count, 2u);
}

TEST(ModelServiceTest, NotReadyAndDrainingAreRefusedAndCountedAsRejected) {
  ServiceHarness h({}, /*load=*/false);
  const std::string jpeg = MakeJpeg(8, 8, 5);
  const std::vector<std::string_view> images = {jpeg};
  auto r = h.service().EmbedEncoded(InferRoute::kRest, images);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, FailureKind::kNotReady);
  EXPECT_EQ(r.failure().status.code(), StatusCode::kUnavailable);
  // Shape cannot be judged before the engine is known: admission comes first.
  auto p = h.service().EmbedPixels(InferRoute::kKserveTensor, PixelTensor{{1, 2, 3}, std::vector<float>{}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.failure().kind, FailureKind::kNotReady);
  auto admitted = h.service().Admit(InferRoute::kKserveImage, 1);
  ASSERT_TRUE(admitted.has_value());
  EXPECT_EQ(admitted->kind, FailureKind::kNotReady);
  EXPECT_EQ(Failures(h.tensor(), metrics::FailureReason::kRejected), 2u);
  EXPECT_EQ(Failures(h.image(), metrics::FailureReason::kRejected), 1u);

  h.Load();
  EXPECT_FALSE(h.service().Admit(InferRoute::kKserveTensor, 1).has_value());
  ASSERT_TRUE(h.service().EmbedEncoded(InferRoute::kRest, images).ok());

  // Draining: readiness goes off, but requests still arriving (ones the
  // front end already took) are served until Shutdown.
  h.service().StopAccepting();
  EXPECT_FALSE(h.service().serving());
  EXPECT_TRUE(h.service().ready());
  EXPECT_FALSE(h.service().Admit(InferRoute::kRest, 1).has_value());
  ASSERT_TRUE(h.service().EmbedPixels(InferRoute::kKserveTensor, PixelTensor::Chw(Pixels(1), 1, S)).ok());

  ASSERT_TRUE(h.service().Shutdown(std::chrono::seconds(5)).ok());
  auto d = h.service().EmbedPixels(InferRoute::kKserveTensor, PixelTensor::Chw(Pixels(1), 1, S));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.failure().kind, FailureKind::kDraining);
  EXPECT_EQ(d.failure().status.code(), StatusCode::kUnavailable);
  auto a = h.service().Admit(InferRoute::kRest);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->kind, FailureKind::kDraining);
  EXPECT_EQ(Failures(h.tensor(), metrics::FailureReason::kRejected), 4u);
  EXPECT_EQ(h.tensor().success.count, 2u);
}

TEST(ModelServiceTest, AdmitChecksTheImageCountBeforeAnyDecoding) {
  ServiceHarness h;
  EXPECT_FALSE(h.service().Admit(InferRoute::kRest, 4).has_value());
  auto over = h.service().Admit(InferRoute::kRest, 5);
  ASSERT_TRUE(over.has_value());
  EXPECT_EQ(over->kind, FailureKind::kTooManyImages);
  EXPECT_EQ(over->status.code(), StatusCode::kOutOfRange);
  auto zero = h.service().Admit(InferRoute::kRest, 0);
  ASSERT_TRUE(zero.has_value());
  EXPECT_EQ(zero->kind, FailureKind::kNoImages);
  EXPECT_EQ(h.tensor().fail.count, 2u);
}

TEST(ModelServiceTest, RefuseCountsOneFailureAndKeepsTheFrontEndsStatus) {
  ServiceHarness h;
  const auto arrival = std::chrono::steady_clock::now();
  EmbedFailure f = h.service().Refuse(InferRoute::kKserveImage, InvalidArgumentError("bad wire"), arrival);
  EXPECT_EQ(f.kind, FailureKind::kRefused);
  EXPECT_EQ(f.status, InvalidArgumentError("bad wire"));
  EXPECT_EQ(h.image().fail.count, 1u);
  EXPECT_EQ(Failures(h.image(), metrics::FailureReason::kOther), 1u);
  EXPECT_EQ(h.tensor().fail.count, 0u);
}

TEST(ModelServiceTest, AsyncCompletesExactlyOnceOnAWorkerThread) {
  ServiceHarness h;
  EngineGate gate;
  gate.Install(h.engine());
  std::atomic<int> calls{0};
  std::promise<std::pair<EmbedResult, std::thread::id>> got;
  auto future = got.get_future();
  const auto caller = std::this_thread::get_id();
  h.service().EmbedPixelsAsync(InferRoute::kKserveTensor, PixelTensor::Chw(Pixels(2), 2, S),
                               [&](EmbedResult r) {
                                 if (calls.fetch_add(1) == 0)
                                   got.set_value({std::move(r), std::this_thread::get_id()});
                               });
  // The call returned while the batch is still held in the engine: nothing
  // waited on a future, and the callback has not run yet.
  ASSERT_TRUE(gate.WaitEntered(1));
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(h.tensor().pending_request_count, 1);
  gate.Release();
  auto [result, thread] = future.get();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->result.num_images, 2);
  EXPECT_NE(thread, caller);
  // Shutdown joins the workers: no late second call can follow.
  ASSERT_TRUE(h.service().Shutdown(std::chrono::seconds(5)).ok());
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(h.tensor().success.count, 1u);
}

TEST(ModelServiceTest, AsyncFailureBeforeTheQueueCompletesOnceBeforeReturning) {
  ServiceHarness h;
  int calls = 0;
  std::optional<EmbedResult> got;
  const std::vector<std::string_view> none;
  h.service().EmbedEncodedAsync(InferRoute::kKserveImage, none, [&](EmbedResult r) {
    ++calls;
    got.emplace(std::move(r));
  });
  EXPECT_EQ(calls, 1);  // on this thread, before the call returned
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->failure().kind, FailureKind::kNoImages);
}

// Images are decoded on the decode pool, in parallel: the answer comes from a
// pool thread, once; the lowest bad index is named whatever order the decodes
// finish in; good images give the embeddings they give one by one.
TEST(ModelServiceTest, EncodedImagesDecodeInParallelOnThePoolLowestBadIndexWins) {
  ServiceHarness h([](ModelServiceOptions& o) {
    o.decode_threads = 3;
    o.max_images_per_request = 8;
  });
  std::vector<std::string> jpegs;
  for (int i = 0; i < 6; ++i) jpegs.push_back(MakeJpeg(24 + 8 * i, 20, i));
  const std::string broken = "definitely not an image";
  const std::string truncated = jpegs[0].substr(0, jpegs[0].size() / 3);

  auto run = [&](const std::vector<std::string_view>& images) {
    std::atomic<int> calls{0};
    std::promise<std::pair<EmbedResult, std::thread::id>> got;
    auto future = got.get_future();
    h.service().EmbedEncodedAsync(InferRoute::kKserveImage, images, [&](EmbedResult r) {
      if (calls.fetch_add(1) == 0) got.set_value({std::move(r), std::this_thread::get_id()});
    });
    auto out = future.get();
    EXPECT_NE(out.second, std::this_thread::get_id());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(calls.load(), 1);
    return std::move(out.first);
  };
  std::vector<std::string_view> all(jpegs.begin(), jpegs.end());
  auto together = run(all);
  ASSERT_TRUE(together.ok()) << together.status().ToString();
  for (int i = 0; i < 6; ++i) {
    auto alone = run({jpegs[i]});
    ASSERT_TRUE(alone.ok());
    EXPECT_EQ(alone->result.embeddings,
              std::vector<float>(together->result.embeddings.begin() + D * i, together->result.embeddings.begin() + D * (i + 1)))
        << i;
  }
  for (int round = 0; round < 10; ++round) {
    std::vector<std::string_view> mixed(all);
    mixed[4] = broken;
    mixed[2] = truncated;
    auto r = run(mixed);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure().kind, FailureKind::kBadImage);
    EXPECT_EQ(r.failure().image_index, 2) << round;
  }
  EXPECT_EQ(h.image().fail.count, 10u);
  EXPECT_EQ(h.image().success.count, 7u);
}

// Shutdown waits for decodes in flight: each request taken is answered.
TEST(ModelServiceTest, ShutdownAnswersEveryRequestWhoseImagesAreStillDecoding) {
  ServiceHarness h([](ModelServiceOptions& o) { o.decode_threads = 1; });
  const std::string jpeg = MakeJpeg(600, 400, 3);
  const std::vector<std::string_view> images = {jpeg, jpeg, jpeg, jpeg};
  std::atomic<int> answered{0};
  constexpr int kRequests = 6;
  for (int i = 0; i < kRequests; ++i) {
    h.service().EmbedEncodedAsync(InferRoute::kKserveImage, images, [&](EmbedResult) { answered.fetch_add(1); });
  }
  EXPECT_LT(answered.load(), kRequests);  // 24 decodes of 600x400 on one thread take a while
  ASSERT_TRUE(h.service().Shutdown(std::chrono::seconds(10)).ok());
  EXPECT_EQ(answered.load(), kRequests);
}

TEST(ModelServiceTest, QueueFullIsTheBatchersFailureCountedOnceAsRejected) {
  ServiceHarness h([](ModelServiceOptions& o) { o.kserve_batching.max_queue_size = 1; });
  EngineGate gate;
  gate.Install(h.engine());
  std::atomic<int> done{0};
  auto count = [&](EmbedResult r) {
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    done.fetch_add(1);
  };
  h.service().EmbedPixelsAsync(InferRoute::kKserveTensor, PixelTensor::Chw(Pixels(1), 1, S),
                               count);  // running
  ASSERT_TRUE(gate.WaitEntered(1));
  h.service().EmbedPixelsAsync(InferRoute::kKserveTensor, PixelTensor::Chw(Pixels(1), 1, S),
                               count);  // queued
  auto full = h.service().EmbedPixels(InferRoute::kKserveTensor, PixelTensor::Chw(Pixels(1), 1, S));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.failure().kind, FailureKind::kBatcher);
  EXPECT_EQ(full.failure().status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(h.tensor().fail.count, 1u);
  EXPECT_EQ(Failures(h.tensor(), metrics::FailureReason::kRejected), 1u);
  gate.Release();
  ASSERT_TRUE(h.service().Shutdown(std::chrono::seconds(5)).ok());
  EXPECT_EQ(done.load(), 2);
  EXPECT_EQ(h.tensor().success.count, 2u);
  EXPECT_EQ(h.tensor().fail.count, 1u);
}

TEST(ModelServiceTest, EngineErrorIsTheBatchersFailureCountedOnceAsBackend) {
  ServiceHarness h;
  h.engine()->set_hook([](int) { return InternalError("device lost"); });
  auto r = h.service().EmbedPixels(InferRoute::kRest, PixelTensor::Chw(Pixels(1), 1, S));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, FailureKind::kBatcher);
  EXPECT_EQ(r.failure().status.code(), StatusCode::kInternal);
  EXPECT_EQ(h.tensor().fail.count, 1u);
  EXPECT_EQ(Failures(h.tensor(), metrics::FailureReason::kBackend), 1u);
}

TEST(ModelServiceTest, ConcurrentAsyncRequestsEachCompleteOnce) {
  ServiceHarness h([](ModelServiceOptions& o) { o.instance_count = 2; });
  constexpr int kThreads = 4, kPerThread = 25;
  std::vector<std::atomic<int>> calls(kThreads * kPerThread);
  std::atomic<int> finished{0};
  std::promise<void> all_done;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int id = t * kPerThread + i;
        // Every fifth request is bad: failures and successes interleave.
        std::vector<float> px = Pixels(1, 0.01f * (id % 50));
        if (id % 5 == 0) px[3] = std::numeric_limits<float>::quiet_NaN();
        h.service().EmbedPixelsAsync(InferRoute::kKserveTensor, PixelTensor::Chw(std::move(px), 1, S),
                                     [&, id](EmbedResult r) {
                                       EXPECT_EQ(r.ok(), id % 5 != 0) << r.status().ToString();
                                       calls[id].fetch_add(1);
                                       if (finished.fetch_add(1) + 1 == kThreads * kPerThread)
                                         all_done.set_value();
                                     });
      }
    });
  }
  for (auto& th : threads) th.join();
  all_done.get_future().wait();
  ASSERT_TRUE(h.service().Shutdown(std::chrono::seconds(5)).ok());
  for (auto& c : calls) EXPECT_EQ(c.load(), 1);
  const auto s = h.tensor();
  EXPECT_EQ(s.success.count, 80u);
  EXPECT_EQ(s.fail.count, 20u);
  EXPECT_EQ(s.pending_request_count, 0);
}

}  // namespace
}  // namespace clipserve::service
