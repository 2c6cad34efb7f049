#include "http/rate_limiter.h"

#include <gtest/gtest.h>

namespace flashwire::http {
namespace {

TEST(RateLimiter, AllowsABurstThenTheAverageRate) {
  ManualClock clock(1000);
  RateLimiter limiter(clock, /*per_minute=*/60, /*burst=*/3);
  EXPECT_TRUE(limiter.allow("a"));
  EXPECT_TRUE(limiter.allow("a"));
  EXPECT_TRUE(limiter.allow("a"));
  EXPECT_FALSE(limiter.allow("a"));
  EXPECT_EQ(limiter.retry_after("a"), 1);
  EXPECT_TRUE(limiter.allow("b")) << "clients are limited separately";
  clock.advance(1);
  EXPECT_TRUE(limiter.allow("a"));
  EXPECT_FALSE(limiter.allow("a"));
  clock.advance(3600);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.allow("a"));
  EXPECT_FALSE(limiter.allow("a")) << "a long pause refills only up to the burst";
}

TEST(RateLimiter, StaysBoundedUnderManyClients) {
  ManualClock clock(0);
  RateLimiter limiter(clock, 60, 2, /*max_keys=*/100);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.allow("client-" + std::to_string(i)));
  EXPECT_TRUE(limiter.allow("client-999"));
  EXPECT_FALSE(limiter.allow("client-999")) << "a recent client keeps its bucket";
}

}  // namespace
}  // namespace flashwire::http
