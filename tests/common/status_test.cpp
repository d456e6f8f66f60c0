#include "common/status.h"

#include <gtest/gtest.h>

#include <memory>

#include "common/clock.h"

namespace clipserve {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckPositive(int x) {
  if (x <= 0) return OutOfRangeError("not positive");
  return Status::Ok();
}

Status CheckBoth(int a, int b) {
  RETURN_IF_ERROR(CheckPositive(a));
  RETURN_IF_ERROR(CheckPositive(b).WithPrefix("b"));
  return Status::Ok();
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().ToString(), "OK");
  Status s = NotFoundError("no model 'x'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: no model 'x'");
  EXPECT_EQ(s.WithPrefix("load").message(), "load: no model 'x'");
  EXPECT_TRUE(Status().WithPrefix("x").ok());
}

TEST(StatusTest, StatusOrPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  StatusOr<int> bad = Quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "odd: 3");
  EXPECT_EQ(CheckBoth(1, 2), Status::Ok());
  EXPECT_EQ(CheckBoth(0, 2).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(CheckBoth(1, -1).message(), "b: not positive");
}

TEST(StatusTest, StatusOrHoldsMoveOnly) {
  StatusOr<std::unique_ptr<int>> p = std::make_unique<int>(7);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> v = std::move(p).value();
  EXPECT_EQ(*v, 7);
}

TEST(ClockTest, FakeClockMovesOnlyWhenTold) {
  FakeClock clock;
  SteadyTime t0 = clock.Now();
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(std::chrono::microseconds(250));
  EXPECT_EQ(ElapsedUs(t0, clock.Now()), 250);
}

}  // namespace
}  // namespace clipserve
