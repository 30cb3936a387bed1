#include "scaling/health_state.hpp"

#include <gtest/gtest.h>

#include "scaling/latency_window.hpp"

namespace streamgate::scaling {
namespace {

using std::chrono::milliseconds;

TEST(HealthStateTest, FirstSuccessIsHealthyFirstFailureDegraded) {
  HealthThresholds t{.rise = 2, .fall = 3, .degraded_latency = milliseconds(100)};
  EXPECT_EQ(ApplyProbe({}, true, milliseconds(1), t).status, HealthStatus::kHealthy);
  EXPECT_EQ(ApplyProbe({}, true, milliseconds(101), t).status, HealthStatus::kDegraded);
  EXPECT_EQ(ApplyProbe({}, false, milliseconds(1), t).status, HealthStatus::kDegraded);
}

TEST(HealthStateTest, FallOneGoesStraightToUnhealthy) {
  HealthThresholds t{.rise = 1, .fall = 1, .degraded_latency = milliseconds(100)};
  auto c = ApplyProbe({.status = HealthStatus::kHealthy}, false, milliseconds(1), t);
  EXPECT_EQ(c.status, HealthStatus::kUnhealthy);
  c = ApplyProbe(c, true, milliseconds(1), t);
  EXPECT_EQ(c.status, HealthStatus::kHealthy);  // rise 1
}

TEST(HealthStateTest, AFailureResetsRiseProgress) {
  HealthThresholds t{.rise = 2, .fall = 1, .degraded_latency = milliseconds(100)};
  HealthCounters c{.status = HealthStatus::kUnhealthy};
  c = ApplyProbe(c, true, milliseconds(1), t);
  c = ApplyProbe(c, false, milliseconds(1), t);
  c = ApplyProbe(c, true, milliseconds(1), t);
  EXPECT_EQ(c.status, HealthStatus::kUnhealthy);
  c = ApplyProbe(c, true, milliseconds(1), t);
  EXPECT_EQ(c.status, HealthStatus::kHealthy);
}

TEST(LatencyWindowTest, MeanAndPercentile) {
  LatencyWindow w(100);
  EXPECT_EQ(w.Mean().count(), 0);
  EXPECT_EQ(w.Percentile(99).count(), 0);
  for (int i = 1; i <= 100; ++i) w.Add(std::chrono::microseconds(i));
  EXPECT_EQ(w.Mean().count(), 50);  // 50.5 truncated
  EXPECT_EQ(w.Percentile(99).count(), 99);
  EXPECT_EQ(w.Percentile(100).count(), 100);
  EXPECT_EQ(w.Percentile(50).count(), 50);
  w.Add(std::chrono::microseconds(1000));  // replaces the oldest (1)
  EXPECT_EQ(w.size(), 100u);
  EXPECT_EQ(w.Percentile(100).count(), 1000);
}

}  // namespace
}  // namespace streamgate::scaling
