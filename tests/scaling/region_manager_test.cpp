#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "streamgate/scaling/region.hpp"
#include "support/fake_prober.hpp"
#include "support/gated_prober.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::scaling {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using testing::FakeProber;
using testing::GatedProber;
using testing::ManualClock;

Region MakeRegion(std::string id, int port, int priority = 0, bool primary = false) {
  Region r;
  r.id = std::move(id);
  r.name = r.id + " name";
  r.location = "somewhere";
  r.endpoint = "http://127.0.0.1:" + std::to_string(port);
  r.priority = priority;
  r.primary = primary;
  return r;
}

class RegionManagerTest : public ::testing::Test {
 protected:
  RegionManagerTest() {
    options_.interval = milliseconds(1000);
    options_.rise = 2;
    options_.fall = 2;
    options_.degraded_latency = milliseconds(100);
    manager_ = std::make_unique<MultiRegionManager>(options_, prober_, clock_);
    manager_->SetEventListener([this](const RegionEvent& e) { events_.push_back(e); });
  }

  void RegisterThree() {
    ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("us-east-1", 9101, 1, true)));
    ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("eu-west-1", 9102, 2)));
    ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("ap-southeast-1", 9103, 3)));
  }

  void Sweep() {
    auto report = manager_->PerformHealthCheck();
    ASSERT_TRUE(report.has_value()) << report.error().ToString();
  }

  std::string PrimaryId() {
    auto primary = manager_->GetPrimaryRegion();
    return primary ? primary->id : "";
  }

  HealthStatus StatusOf(std::string_view id) { return manager_->GetRegion(id)->health_status; }

  HealthCheckOptions options_;
  std::shared_ptr<FakeProber> prober_ = std::make_shared<FakeProber>();
  ManualClock clock_;
  std::unique_ptr<MultiRegionManager> manager_;
  std::vector<RegionEvent> events_;
};

TEST_F(RegionManagerTest, RegisterAndGet) {
  RegisterThree();
  auto region = manager_->GetRegion("eu-west-1");
  ASSERT_TRUE(region.has_value());
  EXPECT_EQ(region->name, "eu-west-1 name");
  EXPECT_EQ(region->endpoint, "http://127.0.0.1:9102");
  EXPECT_EQ(region->priority, 2);
  EXPECT_TRUE(region->active);
  EXPECT_FALSE(region->primary);
  EXPECT_EQ(region->health_status, HealthStatus::kUnknown);
  EXPECT_FALSE(region->last_health_check.has_value());
  EXPECT_EQ(manager_->GetRegionCount(), 3u);
  EXPECT_EQ(manager_->GetActiveRegionCount(), 3u);
}

TEST_F(RegionManagerTest, ListKeepsRegistrationOrder) {
  RegisterThree();
  auto regions = manager_->ListRegions();
  ASSERT_EQ(regions.size(), 3u);
  EXPECT_EQ(regions[0].id, "us-east-1");
  EXPECT_EQ(regions[1].id, "eu-west-1");
  EXPECT_EQ(regions[2].id, "ap-southeast-1");
  EXPECT_TRUE(regions[0].primary);
}

TEST_F(RegionManagerTest, RegisterRejectsBadInput) {
  auto empty = manager_->RegisterRegion(MakeRegion("", 1));
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);

  auto slash = manager_->RegisterRegion(MakeRegion("a/b", 1));
  ASSERT_FALSE(slash);
  EXPECT_EQ(slash.error().code(), ErrorCode::kInvalidArgument);

  for (const char* bad : {"ftp://x", "not a url", "http://", "tcp://host", "http://h:99999", ""}) {
    Region r = MakeRegion("r", 1);
    r.endpoint = bad;
    auto status = manager_->RegisterRegion(r);
    ASSERT_FALSE(status) << bad;
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_NE(status.error().message().find("invalid endpoint"), std::string::npos);
  }
  EXPECT_EQ(manager_->GetRegionCount(), 0u);

  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("r", 1)));
  auto dup = manager_->RegisterRegion(MakeRegion("r", 2));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(manager_->GetRegion("r")->endpoint, "http://127.0.0.1:1");  // first one kept
}

TEST_F(RegionManagerTest, AcceptsHttpsAndTcpEndpoints) {
  Region https = MakeRegion("a", 1);
  https.endpoint = "https://example.com/health";
  Region tcp = MakeRegion("b", 1);
  tcp.endpoint = "tcp://10.0.0.1:5432";
  EXPECT_TRUE(manager_->RegisterRegion(https));
  EXPECT_TRUE(manager_->RegisterRegion(tcp));
}

TEST_F(RegionManagerTest, UnknownIdsAreNotFound) {
  RegisterThree();
  EXPECT_EQ(manager_->GetRegion("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(manager_->SetPrimaryRegion("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(manager_->ActivateRegion("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(manager_->DeactivateRegion("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(manager_->UpdateRegionLatency("nope", microseconds(1)).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(manager_->RecordRequest("nope", microseconds(1), true).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(manager_->GetRegionMetrics("nope").error().code(), ErrorCode::kNotFound);
}

TEST_F(RegionManagerTest, NegativeLatencyIsRejected) {
  RegisterThree();
  EXPECT_EQ(manager_->UpdateRegionLatency("us-east-1", microseconds(-1)).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_->RecordRequest("us-east-1", microseconds(-1), true).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(RegionManagerTest, NoPrimaryWithoutRegions) {
  auto primary = manager_->GetPrimaryRegion();
  ASSERT_FALSE(primary);
  EXPECT_EQ(primary.error().code(), ErrorCode::kNotFound);
}

TEST_F(RegionManagerTest, FirstActiveRegionBecomesPrimaryWhenNoneConfigured) {
  Region inactive = MakeRegion("a", 1);
  inactive.active = false;
  ASSERT_TRUE(manager_->RegisterRegion(inactive));
  EXPECT_FALSE(manager_->GetPrimaryRegion());
  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("b", 2)));
  EXPECT_EQ(PrimaryId(), "b");
  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("c", 3, 0, /*primary=*/true)));
  EXPECT_EQ(PrimaryId(), "c");
}

TEST_F(RegionManagerTest, SetPrimaryRegion) {
  RegisterThree();
  ASSERT_TRUE(manager_->SetPrimaryRegion("eu-west-1"));
  EXPECT_EQ(PrimaryId(), "eu-west-1");
  EXPECT_TRUE(manager_->GetRegion("eu-west-1")->primary);
  EXPECT_FALSE(manager_->GetRegion("us-east-1")->primary);
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().kind, RegionEvent::Kind::kPrimaryChanged);
  EXPECT_EQ(events_.back().previous_primary, "us-east-1");
  EXPECT_EQ(events_.back().reason, "set by operator");
  EXPECT_EQ(manager_->GetStats().failovers, 0u);  // an operator's choice is not a failover
}

TEST_F(RegionManagerTest, SetPrimaryRejectsInactiveRegion) {
  RegisterThree();
  ASSERT_TRUE(manager_->DeactivateRegion("ap-southeast-1"));
  auto status = manager_->SetPrimaryRegion("ap-southeast-1");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(PrimaryId(), "us-east-1");
}

TEST_F(RegionManagerTest, ActivateAndDeactivate) {
  RegisterThree();
  ASSERT_TRUE(manager_->DeactivateRegion("eu-west-1"));
  EXPECT_FALSE(manager_->GetRegion("eu-west-1")->active);
  EXPECT_EQ(manager_->GetActiveRegionCount(), 2u);
  auto active = manager_->GetActiveRegions();
  ASSERT_EQ(active.size(), 2u);
  EXPECT_EQ(active[0].id, "us-east-1");
  EXPECT_EQ(active[1].id, "ap-southeast-1");
  ASSERT_TRUE(manager_->ActivateRegion("eu-west-1"));
  EXPECT_EQ(manager_->GetActiveRegionCount(), 3u);
  EXPECT_EQ(manager_->GetStats().active_regions, 3u);
}

TEST_F(RegionManagerTest, DeactivatingPrimaryFailsOverAtOnce) {
  RegisterThree();
  prober_->SetUp("127.0.0.1:9101", milliseconds(5));
  prober_->SetUp("127.0.0.1:9102", milliseconds(30));
  prober_->SetUp("127.0.0.1:9103", milliseconds(20));
  Sweep();
  ASSERT_TRUE(manager_->DeactivateRegion("us-east-1"));
  EXPECT_EQ(PrimaryId(), "ap-southeast-1");  // lowest latency among the rest
  EXPECT_EQ(events_.back().reason.find("primary 'us-east-1' was deactivated"), 0u);
  EXPECT_EQ(manager_->GetStats().failovers, 1u);
}

TEST_F(RegionManagerTest, DeactivatingOnlyRegionKeepsItAsInactivePrimary) {
  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("solo", 1)));
  ASSERT_TRUE(manager_->DeactivateRegion("solo"));
  auto primary = manager_->GetPrimaryRegion();
  ASSERT_TRUE(primary);
  EXPECT_EQ(primary->id, "solo");
  EXPECT_FALSE(primary->active);  // as in the spec's example: the caller can see it is down
}

TEST_F(RegionManagerTest, HealthCheckUsesOptionsAndMarksHealthy) {
  RegisterThree();
  for (int port : {9101, 9102, 9103}) {
    prober_->SetUp("127.0.0.1:" + std::to_string(port), milliseconds(10));
  }
  auto report = manager_->PerformHealthCheck();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->probed, 3u);
  EXPECT_EQ(report->healthy, 3u);
  EXPECT_EQ(report->status_changes, 3u);
  EXPECT_FALSE(report->new_primary.has_value());
  EXPECT_EQ(prober_->last_options().timeout, options_.timeout);
  EXPECT_EQ(prober_->last_options().http_path, "/healthz");
  auto region = manager_->GetRegion("us-east-1");
  EXPECT_EQ(region->health_status, HealthStatus::kHealthy);
  EXPECT_EQ(region->avg_latency, milliseconds(10));
  EXPECT_EQ(region->last_health_check, clock_.WallNow());
}

TEST_F(RegionManagerTest, ShouldHealthCheckFollowsInterval) {
  RegisterThree();
  EXPECT_TRUE(manager_->ShouldHealthCheck());
  Sweep();
  EXPECT_FALSE(manager_->ShouldHealthCheck());
  clock_.Advance(milliseconds(999));
  EXPECT_FALSE(manager_->ShouldHealthCheck());
  clock_.Advance(milliseconds(1));
  EXPECT_TRUE(manager_->ShouldHealthCheck());
}

TEST_F(RegionManagerTest, FallThenRise) {
  RegisterThree();
  prober_->SetUp("127.0.0.1:9102", milliseconds(10));
  Sweep();
  EXPECT_EQ(StatusOf("eu-west-1"), HealthStatus::kHealthy);

  prober_->SetDown("127.0.0.1:9102");
  Sweep();  // one failure, fall is 2
  EXPECT_EQ(StatusOf("eu-west-1"), HealthStatus::kDegraded);
  Sweep();
  EXPECT_EQ(StatusOf("eu-west-1"), HealthStatus::kUnhealthy);
  Sweep();
  EXPECT_EQ(StatusOf("eu-west-1"), HealthStatus::kUnhealthy);

  prober_->SetUp("127.0.0.1:9102", milliseconds(10));
  Sweep();  // one success, rise is 2
  EXPECT_EQ(StatusOf("eu-west-1"), HealthStatus::kUnhealthy);
  Sweep();
  EXPECT_EQ(StatusOf("eu-west-1"), HealthStatus::kHealthy);

  auto metrics = manager_->GetRegionMetrics("eu-west-1");
  EXPECT_EQ(metrics->health_checks, 6u);
  EXPECT_EQ(metrics->failed_health_checks, 3u);
  EXPECT_EQ(metrics->status_changes, 4u);  // unknown->healthy->degraded->unhealthy->healthy
  EXPECT_EQ(metrics->consecutive_successes, 2u);
  EXPECT_EQ(metrics->consecutive_failures, 0u);
}

TEST_F(RegionManagerTest, SlowSuccessIsDegraded) {
  RegisterThree();
  prober_->SetUp("127.0.0.1:9101", milliseconds(150));  // threshold is 100ms
  Sweep();
  EXPECT_EQ(StatusOf("us-east-1"), HealthStatus::kDegraded);
  prober_->SetUp("127.0.0.1:9101", milliseconds(20));
  Sweep();
  EXPECT_EQ(StatusOf("us-east-1"), HealthStatus::kHealthy);
  EXPECT_EQ(PrimaryId(), "us-east-1");  // degraded is not a reason to fail over
}

TEST_F(RegionManagerTest, StatusChangesAreReportedWithReason) {
  RegisterThree();
  events_.clear();
  prober_->SetDown("127.0.0.1:9103");
  Sweep();
  ASSERT_GE(events_.size(), 1u);
  auto it = std::ranges::find_if(events_, [](const RegionEvent& e) {
    return e.region_id == "ap-southeast-1" && e.kind == RegionEvent::Kind::kStatusChanged;
  });
  ASSERT_NE(it, events_.end());
  EXPECT_EQ(it->from, HealthStatus::kUnknown);
  EXPECT_EQ(it->to, HealthStatus::kDegraded);
  EXPECT_NE(it->reason.find("Connection refused"), std::string::npos);
}

TEST_F(RegionManagerTest, UnhealthyPrimaryFailsOverToFastestHealthyRegion) {
  RegisterThree();
  prober_->SetUp("127.0.0.1:9101", milliseconds(5));
  prober_->SetUp("127.0.0.1:9102", milliseconds(40));
  prober_->SetUp("127.0.0.1:9103", milliseconds(20));
  Sweep();
  EXPECT_EQ(PrimaryId(), "us-east-1");

  prober_->SetDown("127.0.0.1:9101");
  Sweep();
  EXPECT_EQ(PrimaryId(), "us-east-1");  // degraded, not yet past fall
  auto report = manager_->PerformHealthCheck();
  ASSERT_TRUE(report);
  ASSERT_TRUE(report->new_primary.has_value());
  EXPECT_EQ(*report->new_primary, "ap-southeast-1");
  EXPECT_EQ(PrimaryId(), "ap-southeast-1");
  EXPECT_EQ(manager_->GetStats().failovers, 1u);
  EXPECT_TRUE(manager_->GetRegionMetrics("ap-southeast-1")->primary);

  const RegionEvent& e = events_.back();
  EXPECT_EQ(e.kind, RegionEvent::Kind::kPrimaryChanged);
  EXPECT_EQ(e.previous_primary, "us-east-1");
  EXPECT_NE(e.reason.find("primary 'us-east-1' is unhealthy"), std::string::npos);
}

TEST_F(RegionManagerTest, FailoverPrefersHealthyOverFasterDegraded) {
  RegisterThree();
  prober_->SetUp("127.0.0.1:9101", milliseconds(5));
  prober_->SetUp("127.0.0.1:9102", milliseconds(50));
  prober_->SetUp("127.0.0.1:9103", milliseconds(20));
  Sweep();
  prober_->SetDown("127.0.0.1:9101");
  prober_->SetDown("127.0.0.1:9103");  // degraded after one failure, lower average latency
  Sweep();
  Sweep();
  EXPECT_EQ(PrimaryId(), "eu-west-1");
}

TEST_F(RegionManagerTest, LatencyTiesBreakByPriorityThenId) {
  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("primary", 1, 0, true)));
  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("zeta", 2, 5)));
  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("beta", 3, 5)));
  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("alpha", 4, 9)));
  for (int port : {2, 3, 4}) prober_->SetUp("127.0.0.1:" + std::to_string(port), milliseconds(7));
  prober_->SetDown("127.0.0.1:1");
  Sweep();
  Sweep();
  EXPECT_EQ(PrimaryId(), "beta");  // priority 5 beats 9; "beta" < "zeta"
}

TEST_F(RegionManagerTest, NoEligibleRegionKeepsPrimary) {
  RegisterThree();
  for (int port : {9101, 9102, 9103}) prober_->SetDown("127.0.0.1:" + std::to_string(port));
  Sweep();
  Sweep();
  EXPECT_EQ(PrimaryId(), "us-east-1");
  EXPECT_EQ(manager_->GetStats().failovers, 0u);
  prober_->SetUp("127.0.0.1:9102", milliseconds(10));
  Sweep();  // eu-west-1 is unhealthy until it rises twice
  EXPECT_EQ(PrimaryId(), "us-east-1");
  Sweep();
  EXPECT_EQ(PrimaryId(), "eu-west-1");
}

TEST_F(RegionManagerTest, InactiveRegionsAreNotFailoverTargets) {
  RegisterThree();
  prober_->SetUp("127.0.0.1:9102", milliseconds(1));
  prober_->SetUp("127.0.0.1:9103", milliseconds(50));
  ASSERT_TRUE(manager_->DeactivateRegion("eu-west-1"));
  prober_->SetDown("127.0.0.1:9101");
  Sweep();
  Sweep();
  EXPECT_EQ(PrimaryId(), "ap-southeast-1");
}

TEST_F(RegionManagerTest, NoFailbackByDefault) {
  RegisterThree();
  prober_->SetUp("127.0.0.1:9102", milliseconds(10));
  prober_->SetUp("127.0.0.1:9103", milliseconds(20));
  prober_->SetDown("127.0.0.1:9101");
  Sweep();
  Sweep();
  ASSERT_EQ(PrimaryId(), "eu-west-1");
  prober_->SetUp("127.0.0.1:9101", milliseconds(1));
  for (int i = 0; i < 4; ++i) Sweep();
  EXPECT_EQ(PrimaryId(), "eu-west-1");
}

TEST_F(RegionManagerTest, FailbackReturnsToPreferredPrimaryOnceHealthy) {
  options_.failback = true;
  manager_ = std::make_unique<MultiRegionManager>(options_, prober_, clock_);
  RegisterThree();
  prober_->SetUp("127.0.0.1:9102", milliseconds(10));
  prober_->SetUp("127.0.0.1:9103", milliseconds(20));
  prober_->SetDown("127.0.0.1:9101");
  Sweep();
  Sweep();
  ASSERT_EQ(PrimaryId(), "eu-west-1");
  prober_->SetUp("127.0.0.1:9101", milliseconds(50));
  Sweep();
  EXPECT_EQ(PrimaryId(), "eu-west-1");  // still unhealthy: needs rise=2
  Sweep();
  EXPECT_EQ(PrimaryId(), "us-east-1");
  EXPECT_EQ(manager_->GetStats().failovers, 2u);
}

TEST_F(RegionManagerTest, UpdateRegionLatencyFeedsLatencyWindow) {
  RegisterThree();
  ASSERT_TRUE(manager_->UpdateRegionLatency("eu-west-1", milliseconds(10)));
  ASSERT_TRUE(manager_->UpdateRegionLatency("eu-west-1", milliseconds(30)));
  auto metrics = manager_->GetRegionMetrics("eu-west-1");
  EXPECT_EQ(metrics->avg_latency, milliseconds(20));
  EXPECT_EQ(metrics->p99_latency, milliseconds(30));
  EXPECT_EQ(metrics->last_latency, milliseconds(30));
  EXPECT_EQ(manager_->GetRegion("eu-west-1")->avg_latency, milliseconds(20));
}

TEST_F(RegionManagerTest, LatencyWindowForgetsOldSamples) {
  options_.latency_window = 4;
  manager_ = std::make_unique<MultiRegionManager>(options_, prober_, clock_);
  RegisterThree();
  ASSERT_TRUE(manager_->UpdateRegionLatency("us-east-1", milliseconds(1000)));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(manager_->UpdateRegionLatency("us-east-1", milliseconds(10)));
  }
  EXPECT_EQ(manager_->GetRegionMetrics("us-east-1")->avg_latency, milliseconds(10));
  EXPECT_EQ(manager_->GetRegionMetrics("us-east-1")->p99_latency, milliseconds(10));
}

TEST_F(RegionManagerTest, RecordRequestFeedsMetrics) {
  RegisterThree();
  for (int i = 1; i <= 100; ++i) {
    ASSERT_TRUE(manager_->RecordRequest("us-east-1", milliseconds(i), i % 10 != 0));
  }
  auto metrics = manager_->GetRegionMetrics("us-east-1");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->total_requests, 100u);
  EXPECT_EQ(metrics->failed_requests, 10u);
  EXPECT_DOUBLE_EQ(metrics->error_rate, 0.1);
  EXPECT_EQ(metrics->avg_request_latency, microseconds(50'500));
  EXPECT_EQ(metrics->p99_request_latency, milliseconds(99));
  // Requests do not touch the probe latency that failover uses.
  EXPECT_EQ(metrics->avg_latency, microseconds(0));
}

TEST_F(RegionManagerTest, GetAllMetricsCoversEveryRegion) {
  RegisterThree();
  ASSERT_TRUE(manager_->RecordRequest("eu-west-1", milliseconds(3), false));
  auto all = manager_->GetAllMetrics();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all.at("eu-west-1").failed_requests, 1u);
  EXPECT_EQ(all.at("us-east-1").total_requests, 0u);
  EXPECT_TRUE(all.at("us-east-1").primary);
}

TEST_F(RegionManagerTest, FailedProbesDoNotCountAsLatency) {
  RegisterThree();
  prober_->SetUp("127.0.0.1:9101", milliseconds(40));
  Sweep();
  prober_->SetDown("127.0.0.1:9101");  // refused in 100us
  Sweep();
  EXPECT_EQ(manager_->GetRegionMetrics("us-east-1")->avg_latency, milliseconds(40));
  EXPECT_EQ(manager_->GetRegionMetrics("us-east-1")->last_probe_detail,
            "connect: Connection refused");
}

TEST_F(RegionManagerTest, CallerCannotForgeManagedFields) {
  Region r = MakeRegion("x", 1);
  r.health_status = HealthStatus::kHealthy;
  r.avg_latency = milliseconds(3);
  ASSERT_TRUE(manager_->RegisterRegion(r));
  EXPECT_EQ(StatusOf("x"), HealthStatus::kUnknown);
  EXPECT_EQ(manager_->GetRegion("x")->avg_latency, microseconds(0));
}

// --- UpdateRegion / RemoveRegion (config reload) ---

TEST_F(RegionManagerTest, UpdateRegionReplacesCallerFieldsAndKeepsHealth) {
  RegisterThree();
  prober_->SetUp("127.0.0.1:9101", milliseconds(5));
  prober_->SetUp("127.0.0.1:9102", milliseconds(10));
  prober_->SetUp("127.0.0.1:9103", milliseconds(20));
  Sweep();
  Sweep();
  ASSERT_EQ(StatusOf("eu-west-1"), HealthStatus::kHealthy);
  ASSERT_TRUE(manager_->RecordRequest("eu-west-1", milliseconds(3), true));
  events_.clear();

  Region changed = MakeRegion("eu-west-1", 9102, 7, /*primary=*/true);  // primary is ignored
  changed.name = "Dublin";
  changed.location = "IE";
  ASSERT_TRUE(manager_->UpdateRegion(changed));

  auto region = manager_->GetRegion("eu-west-1");
  ASSERT_TRUE(region);
  EXPECT_EQ(region->name, "Dublin");
  EXPECT_EQ(region->location, "IE");
  EXPECT_EQ(region->priority, 7);
  EXPECT_FALSE(region->primary);
  EXPECT_EQ(region->health_status, HealthStatus::kHealthy);
  EXPECT_EQ(region->avg_latency, milliseconds(10));
  auto metrics = manager_->GetRegionMetrics("eu-west-1");
  EXPECT_EQ(metrics->total_requests, 1u);
  EXPECT_EQ(metrics->health_checks, 2u);
  EXPECT_EQ(PrimaryId(), "us-east-1");
  EXPECT_TRUE(events_.empty());
  // Registration order is kept.
  EXPECT_EQ(manager_->ListRegions()[1].id, "eu-west-1");
}

TEST_F(RegionManagerTest, UpdateRegionEmptyNameFallsBackToId) {
  RegisterThree();
  Region changed = MakeRegion("eu-west-1", 9102);
  changed.name.clear();
  ASSERT_TRUE(manager_->UpdateRegion(changed));
  EXPECT_EQ(manager_->GetRegion("eu-west-1")->name, "eu-west-1");
}

TEST_F(RegionManagerTest, UpdateRegionWithNewEndpointResetsHealthAndLatency) {
  RegisterThree();
  prober_->SetUp("127.0.0.1:9102", milliseconds(10));
  Sweep();
  Sweep();
  ASSERT_TRUE(manager_->RecordRequest("eu-west-1", milliseconds(3), false));
  events_.clear();

  ASSERT_TRUE(manager_->UpdateRegion(MakeRegion("eu-west-1", 9202, 2)));
  auto region = manager_->GetRegion("eu-west-1");
  EXPECT_EQ(region->endpoint, "http://127.0.0.1:9202");
  EXPECT_EQ(region->health_status, HealthStatus::kUnknown);
  EXPECT_EQ(region->avg_latency, microseconds(0));
  EXPECT_FALSE(region->last_health_check.has_value());
  auto metrics = manager_->GetRegionMetrics("eu-west-1");
  EXPECT_EQ(metrics->total_requests, 1u);  // request metrics stay
  EXPECT_EQ(metrics->failed_requests, 1u);
  EXPECT_EQ(metrics->health_checks, 2u);
  EXPECT_EQ(metrics->consecutive_successes, 0u);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, RegionEvent::Kind::kStatusChanged);
  EXPECT_EQ(events_[0].from, HealthStatus::kHealthy);
  EXPECT_EQ(events_[0].to, HealthStatus::kUnknown);
  EXPECT_NE(events_[0].reason.find("endpoint changed"), std::string::npos);

  // The next sweep probes the new target, not the old one.
  prober_->SetDown("127.0.0.1:9102");
  prober_->SetUp("127.0.0.1:9202", milliseconds(30));
  Sweep();
  metrics = manager_->GetRegionMetrics("eu-west-1");
  EXPECT_EQ(metrics->last_probe_detail, "HTTP 200");
  EXPECT_EQ(metrics->avg_latency, milliseconds(30));
}

TEST_F(RegionManagerTest, UpdateRegionRejectsUnknownIdAndBadEndpoint) {
  RegisterThree();
  auto missing = manager_->UpdateRegion(MakeRegion("nowhere", 9999));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  Region bad = MakeRegion("eu-west-1", 9102);
  bad.endpoint = "ftp://127.0.0.1:21";
  auto invalid = manager_->UpdateRegion(bad);
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_->GetRegion("eu-west-1")->endpoint, "http://127.0.0.1:9102");
  EXPECT_EQ(manager_->GetRegionCount(), 3u);
}

TEST_F(RegionManagerTest, UpdateRegionDeactivatingPrimaryFailsOverAndReactivates) {
  RegisterThree();
  Region off = MakeRegion("us-east-1", 9101, 1);
  off.active = false;
  events_.clear();
  ASSERT_TRUE(manager_->UpdateRegion(off));
  EXPECT_NE(PrimaryId(), "us-east-1");
  EXPECT_FALSE(manager_->GetRegion("us-east-1")->active);
  EXPECT_EQ(manager_->GetActiveRegionCount(), 2u);
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().kind, RegionEvent::Kind::kPrimaryChanged);
  EXPECT_NE(events_.back().reason.find("was deactivated"), std::string::npos);

  ASSERT_TRUE(manager_->UpdateRegion(MakeRegion("us-east-1", 9101, 1)));
  EXPECT_TRUE(manager_->GetRegion("us-east-1")->active);
  EXPECT_EQ(manager_->GetActiveRegionCount(), 3u);
}

TEST_F(RegionManagerTest, RemoveRegionForgetsIt) {
  RegisterThree();
  ASSERT_TRUE(manager_->RecordRequest("eu-west-1", milliseconds(3), true));
  ASSERT_TRUE(manager_->RemoveRegion("eu-west-1"));
  EXPECT_EQ(manager_->GetRegion("eu-west-1").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(manager_->GetRegionCount(), 2u);
  EXPECT_EQ(manager_->GetAllMetrics().count("eu-west-1"), 0u);
  auto list = manager_->ListRegions();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "us-east-1");
  EXPECT_EQ(list[1].id, "ap-southeast-1");
  EXPECT_EQ(PrimaryId(), "us-east-1");
  EXPECT_EQ(manager_->RemoveRegion("eu-west-1").error().code(), ErrorCode::kNotFound);
  // Sweeps no longer probe it.
  Sweep();
  EXPECT_EQ(manager_->GetStats().regions, 2u);
  // The id can be registered again, from scratch.
  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("eu-west-1", 9102, 2)));
  EXPECT_EQ(manager_->GetRegionMetrics("eu-west-1")->total_requests, 0u);
}

TEST_F(RegionManagerTest, RemovingPrimaryFailsOverAsAnUnhealthyPrimaryWould) {
  RegisterThree();
  prober_->SetUp("127.0.0.1:9101", milliseconds(5));
  prober_->SetUp("127.0.0.1:9102", milliseconds(40));
  prober_->SetUp("127.0.0.1:9103", milliseconds(20));
  Sweep();
  events_.clear();
  ASSERT_TRUE(manager_->RemoveRegion("us-east-1"));
  EXPECT_EQ(PrimaryId(), "ap-southeast-1");  // the fastest healthy one
  EXPECT_EQ(manager_->GetStats().failovers, 1u);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, RegionEvent::Kind::kPrimaryChanged);
  EXPECT_EQ(events_[0].region_id, "ap-southeast-1");
  EXPECT_EQ(events_[0].previous_primary, "us-east-1");
  EXPECT_NE(events_[0].reason.find("primary 'us-east-1' was removed"), std::string::npos);
}

TEST_F(RegionManagerTest, RemovingPreferredPrimaryStopsFailbackToIt) {
  options_.failback = true;
  manager_ = std::make_unique<MultiRegionManager>(options_, prober_, clock_);
  RegisterThree();
  ASSERT_TRUE(manager_->RemoveRegion("us-east-1"));
  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("us-east-1", 9101, 1)));
  prober_->SetUp("127.0.0.1:9101", milliseconds(1));
  prober_->SetUp("127.0.0.1:9102", milliseconds(10));
  prober_->SetUp("127.0.0.1:9103", milliseconds(20));
  const std::string primary = PrimaryId();
  Sweep();
  Sweep();
  EXPECT_EQ(PrimaryId(), primary);  // the re-registered region is not the preferred one
}

TEST_F(RegionManagerTest, RemovingLastRegionLeavesNoPrimary) {
  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("solo", 9101)));
  events_.clear();
  ASSERT_TRUE(manager_->RemoveRegion("solo"));
  EXPECT_EQ(manager_->GetPrimaryRegion().error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(manager_->GetRegionCount(), 0u);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, RegionEvent::Kind::kPrimaryChanged);
  EXPECT_EQ(events_[0].region_id, "");
  EXPECT_EQ(events_[0].previous_primary, "solo");
  // A region registered later becomes primary as usual.
  ASSERT_TRUE(manager_->RegisterRegion(MakeRegion("next", 9102)));
  EXPECT_EQ(PrimaryId(), "next");
}

TEST_F(RegionManagerTest, RemovingPrimaryWithNoEligibleRegionLeavesNoPrimaryUntilOneIs) {
  RegisterThree();
  ASSERT_TRUE(manager_->DeactivateRegion("eu-west-1"));
  ASSERT_TRUE(manager_->DeactivateRegion("ap-southeast-1"));
  ASSERT_TRUE(manager_->RemoveRegion("us-east-1"));
  EXPECT_EQ(manager_->GetPrimaryRegion().error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(manager_->ActivateRegion("ap-southeast-1"));
  EXPECT_EQ(PrimaryId(), "ap-southeast-1");
}

TEST_F(RegionManagerTest, SweepDropsResultsOfRegionsRemovedOrRepointedMeanwhile) {
  auto gated = std::make_shared<GatedProber>(prober_);
  manager_ = std::make_unique<MultiRegionManager>(options_, gated, clock_);
  RegisterThree();
  for (int port : {9101, 9102, 9103, 9203}) {
    prober_->SetDown("127.0.0.1:" + std::to_string(port));
  }
  Result<HealthCheckReport> report = NotFound("not run");
  std::thread sweeper([&] { report = manager_->PerformHealthCheck(); });
  gated->WaitEntered();
  ASSERT_TRUE(manager_->RemoveRegion("eu-west-1"));
  ASSERT_TRUE(manager_->UpdateRegion(MakeRegion("ap-southeast-1", 9203, 3)));
  gated->Release();
  sweeper.join();
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(manager_->GetRegion("eu-west-1").error().code(), ErrorCode::kNotFound);
  // ap-southeast-1 was probed at its old endpoint: that result is not about it.
  auto metrics = manager_->GetRegionMetrics("ap-southeast-1");
  EXPECT_EQ(metrics->health_checks, 0u);
  EXPECT_EQ(metrics->health_status, HealthStatus::kUnknown);
  EXPECT_EQ(manager_->GetRegionMetrics("us-east-1")->health_checks, 1u);
}

TEST(HealthCheckOptionsTest, ValidationRejectsUnusableValues) {
  HealthCheckOptions good;
  EXPECT_TRUE(ValidateHealthCheckOptions(good));
  auto expect_bad = [](HealthCheckOptions o) {
    auto status = ValidateHealthCheckOptions(o);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THROW(MultiRegionManager(o, std::make_shared<FakeProber>()), std::invalid_argument);
  };
  HealthCheckOptions o;
  o.interval = milliseconds(0);
  expect_bad(o);
  o = good;
  o.timeout = milliseconds(-1);
  expect_bad(o);
  o = good;
  o.rise = 0;
  expect_bad(o);
  o = good;
  o.fall = 0;
  expect_bad(o);
  o = good;
  o.latency_window = 0;
  expect_bad(o);
  o = good;
  o.path = "healthz";
  expect_bad(o);
  EXPECT_THROW(MultiRegionManager(good, nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace streamgate::scaling
