#include "streamgate/scaling/load_balancer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "scaling/load_balancer_tables.hpp"
#include "support/fake_geo_locator.hpp"
#include "support/fake_prober.hpp"
#include "support/gated_prober.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::scaling {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using testing::FakeGeoLocator;
using testing::FakeProber;
using testing::GatedProber;
using testing::ManualClock;

Backend MakeBackend(std::string id, std::uint16_t port, std::string region = "r1",
                    std::uint32_t weight = 1) {
  Backend b;
  b.id = std::move(id);
  b.address = "127.0.0.1";
  b.port = port;
  b.region = std::move(region);
  b.weight = weight;
  return b;
}

GeoRegion Geo(std::string id, std::vector<std::string> countries = {},
              std::vector<std::string> continents = {}, double latitude = 0, double longitude = 0) {
  GeoRegion r;
  r.region_id = std::move(id);
  r.countries = std::move(countries);
  r.continents = std::move(continents);
  r.latitude = latitude;
  r.longitude = longitude;
  return r;
}

RequestContext Client(std::string_view ip) {
  RequestContext ctx;
  ctx.client_address = ip;
  return ctx;
}

RequestContext Key(std::string_view key) {
  RequestContext ctx;
  ctx.hash_key = key;
  return ctx;
}

LoadBalancerDependencies Deps(std::shared_ptr<Prober> prober, const Clock* clock = nullptr) {
  LoadBalancerDependencies deps;
  deps.prober = std::move(prober);
  deps.clock = clock;
  return deps;
}

// Records what was probed, so tests can check the URL each backend gets.
class RecordingProber final : public Prober {
 public:
  std::vector<ProbeResult> ProbeAll(std::span<const Endpoint> targets,
                                    const ProbeOptions&) override {
    std::lock_guard lock(mu_);
    seen_.assign(targets.begin(), targets.end());
    return std::vector<ProbeResult>(targets.size(), ProbeResult{.ok = true, .detail = "HTTP 200"});
  }
  std::vector<Endpoint> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Endpoint> seen_;
};

class LoadBalancerTest : public ::testing::Test {
 protected:
  LoadBalancerTest() {
    options_.health_check.interval = milliseconds(1000);
    options_.health_check.rise = 2;
    options_.health_check.fall = 2;
    options_.outlier_detection.consecutive_failures = 3;
    options_.outlier_detection.base_ejection_time = milliseconds(1000);
    options_.outlier_detection.max_ejection_time = milliseconds(3000);
    options_.panic_threshold = 0.0;
  }

  GlobalLoadBalancer& Make(LoadBalancingStrategy strategy) {
    LoadBalancerDependencies deps;
    deps.prober = prober_;
    deps.clock = &clock_;
    deps.random = MakeSeededRandom(42);
    deps.geo = geo_;
    lb_ = std::make_unique<GlobalLoadBalancer>(strategy, options_, deps);
    return *lb_;
  }

  void AddBackends(int n, std::string region = "r1") {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(lb_->RegisterBackend(
          MakeBackend("b" + std::to_string(i), static_cast<std::uint16_t>(9000 + i), region)));
    }
  }

  std::string PickId(const RequestContext& ctx = {}) {
    auto picked = lb_->Pick(ctx);
    EXPECT_TRUE(picked.has_value()) << picked.error().ToString();
    return picked ? picked->id() : "";
  }

  std::map<std::string, int> Count(int picks, const RequestContext& ctx = {}) {
    std::map<std::string, int> counts;
    for (int i = 0; i < picks; ++i) ++counts[PickId(ctx)];
    return counts;
  }

  void Fail(std::string_view id, int times) {
    for (int i = 0; i < times; ++i) ASSERT_TRUE(lb_->RecordRequest(id, microseconds(100), false));
  }

  LoadBalancerOptions options_;
  std::shared_ptr<FakeProber> prober_ = std::make_shared<FakeProber>();
  std::shared_ptr<FakeGeoLocator> geo_ = std::make_shared<FakeGeoLocator>();
  ManualClock clock_;
  std::unique_ptr<GlobalLoadBalancer> lb_;
};

// --- Names, options, registration ---

TEST(LoadBalancingStrategyTest, ParsesAndPrintsEveryName) {
  for (std::string_view name :
       {"round_robin", "least_conn", "latency_based", "geo_location", "consistent_hash"}) {
    auto parsed = ParseLoadBalancingStrategy(name);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_EQ(ToString(*parsed), name);
  }
  auto bad = ParseLoadBalancingStrategy("random");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(LoadBalancerTest, ConstructorRejectsInvalidOptions) {
  auto expect_throw = [&](auto mutate) {
    LoadBalancerOptions o = options_;
    mutate(o);
    EXPECT_THROW(GlobalLoadBalancer(LoadBalancingStrategy::kRoundRobin, o, Deps(prober_)),
                 std::invalid_argument);
  };
  expect_throw([](auto& o) { o.health_check.interval = milliseconds(0); });
  expect_throw([](auto& o) { o.health_check.path = "healthz"; });
  expect_throw([](auto& o) { o.outlier_detection.consecutive_failures = 0; });
  expect_throw([](auto& o) { o.outlier_detection.base_ejection_time = milliseconds(0); });
  expect_throw([](auto& o) { o.outlier_detection.max_ejection_time = milliseconds(10); });
  expect_throw([](auto& o) { o.panic_threshold = 1.5; });
  expect_throw([](auto& o) { o.panic_threshold = -0.1; });
  expect_throw([](auto& o) { o.ewma_decay = milliseconds(0); });
  expect_throw([](auto& o) { o.geo_regions = {Geo("")}; });
  expect_throw([](auto& o) { o.geo_regions = {Geo("a"), Geo("a")}; });
  expect_throw([](auto& o) { o.geo_regions = {Geo("a", {}, {}, 91)}; });
  expect_throw([](auto& o) { o.geo_regions = {Geo("a", {"ie"})}; });
  expect_throw([](auto& o) { o.geo_regions = {Geo("a", {}, {"XX"})}; });
  EXPECT_NO_THROW(GlobalLoadBalancer(LoadBalancingStrategy::kRoundRobin, options_, Deps(prober_)));
}

TEST_F(LoadBalancerTest, SpecConstructorUsesDefaults) {
  GlobalLoadBalancer lb(LoadBalancingStrategy::kLeastConnections, milliseconds(5000));
  EXPECT_EQ(lb.GetStrategy(), LoadBalancingStrategy::kLeastConnections);
  EXPECT_EQ(lb.options().health_check.interval, milliseconds(5000));
  EXPECT_EQ(lb.GetBackendCount(), 0U);
}

TEST_F(LoadBalancerTest, RegisterValidatesBackends) {
  Make(LoadBalancingStrategy::kRoundRobin);
  auto rejects = [&](Backend b, ErrorCode code) {
    auto status = lb_->RegisterBackend(std::move(b));
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), code) << status.error().ToString();
  };
  Backend b = MakeBackend("ok", 9000);
  b.id = "";
  rejects(b, ErrorCode::kInvalidArgument);
  const std::vector<std::string> bad_ids = {"a/b", "a b", "a\tb", std::string("a\x01") + "b",
                                            std::string(129, 'x')};
  for (const std::string& id : bad_ids) {
    b = MakeBackend(id, 9000);
    rejects(b, ErrorCode::kInvalidArgument);
  }
  b = MakeBackend("ok", 9000);
  b.address = "";
  rejects(b, ErrorCode::kInvalidArgument);
  b.address = "host name";
  rejects(b, ErrorCode::kInvalidArgument);
  b = MakeBackend("ok", 0);
  rejects(b, ErrorCode::kInvalidArgument);
  b = MakeBackend("ok", 9000, "r1", 0);
  rejects(b, ErrorCode::kInvalidArgument);
  b = MakeBackend("ok", 9000, "r1", 10'001);
  rejects(b, ErrorCode::kInvalidArgument);
  b = MakeBackend("ok", 9000);
  b.health_path = "healthz";
  rejects(b, ErrorCode::kInvalidArgument);

  EXPECT_TRUE(lb_->RegisterBackend(MakeBackend("ok", 9000, "r1", 10'000)));
  rejects(MakeBackend("ok", 9001), ErrorCode::kAlreadyExists);
  Backend v6 = MakeBackend("v6", 9002);
  v6.address = "::1";
  EXPECT_TRUE(lb_->RegisterBackend(v6));
  EXPECT_EQ(lb_->GetBackendCount(), 2U);
}

TEST_F(LoadBalancerTest, RegisterBackendsIsAllOrNothing) {
  Make(LoadBalancingStrategy::kRoundRobin);
  ASSERT_TRUE(lb_->RegisterBackend(MakeBackend("b0", 9000)));
  auto dup_in_batch = lb_->RegisterBackends({MakeBackend("x", 1), MakeBackend("x", 2)});
  ASSERT_FALSE(dup_in_batch.has_value());
  EXPECT_EQ(dup_in_batch.error().code(), ErrorCode::kAlreadyExists);
  auto dup_existing = lb_->RegisterBackends({MakeBackend("y", 1), MakeBackend("b0", 2)});
  ASSERT_FALSE(dup_existing.has_value());
  auto invalid = lb_->RegisterBackends({MakeBackend("z", 1), MakeBackend("w", 0)});
  ASSERT_FALSE(invalid.has_value());
  EXPECT_EQ(lb_->GetBackendCount(), 1U);
  ASSERT_TRUE(lb_->RegisterBackends({MakeBackend("y", 1), MakeBackend("z", 2)}));
  EXPECT_EQ(lb_->GetBackendCount(), 3U);
}

TEST_F(LoadBalancerTest, GetAndListBackendsReportState) {
  Make(LoadBalancingStrategy::kRoundRobin);
  Backend b = MakeBackend("b0", 9000, "eu", 7);
  b.health_path = "/ready";
  b.health_status = HealthStatus::kUnhealthy;  // ignored: the balancer owns it
  b.connections = 99;
  ASSERT_TRUE(lb_->RegisterBackend(b));
  Backend inactive = MakeBackend("b1", 9001);
  inactive.active = false;
  ASSERT_TRUE(lb_->RegisterBackend(inactive));

  auto got = lb_->GetBackend("b0");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->address, "127.0.0.1");
  EXPECT_EQ(got->port, 9000);
  EXPECT_EQ(got->region, "eu");
  EXPECT_EQ(got->weight, 7U);
  EXPECT_EQ(got->health_path, "/ready");
  EXPECT_EQ(got->health_status, HealthStatus::kUnknown);
  EXPECT_EQ(got->connections, 0U);
  EXPECT_TRUE(got->active);
  EXPECT_FALSE(got->ejected);

  auto all = lb_->ListBackends();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].id, "b0");
  EXPECT_EQ(all[1].id, "b1");
  EXPECT_FALSE(all[1].active);
  EXPECT_EQ(lb_->GetBackendCount(), 2U);
  EXPECT_EQ(lb_->GetActiveBackendCount(), 1U);
}

TEST_F(LoadBalancerTest, UnknownIdsAreNotFound) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(1);
  auto code = [](const auto& r) { return r.error().code(); };
  EXPECT_EQ(code(lb_->GetBackend("nope")), ErrorCode::kNotFound);
  EXPECT_EQ(code(lb_->IncrementConnections("nope")), ErrorCode::kNotFound);
  EXPECT_EQ(code(lb_->DecrementConnections("nope")), ErrorCode::kNotFound);
  EXPECT_EQ(code(lb_->RecordRequest("nope", microseconds(1), true)), ErrorCode::kNotFound);
  EXPECT_EQ(code(lb_->ActivateBackend("nope")), ErrorCode::kNotFound);
  EXPECT_EQ(code(lb_->DeactivateBackend("nope")), ErrorCode::kNotFound);
  EXPECT_EQ(code(lb_->GetBackendMetrics("nope")), ErrorCode::kNotFound);
  EXPECT_EQ(code(lb_->RecordRequest("b0", microseconds(-1), true)), ErrorCode::kInvalidArgument);
}

TEST_F(LoadBalancerTest, NoActiveBackendIsUnavailable) {
  Make(LoadBalancingStrategy::kRoundRobin);
  for (auto strategy :
       {LoadBalancingStrategy::kRoundRobin, LoadBalancingStrategy::kConsistentHash}) {
    lb_->SetStrategy(strategy);
    auto picked = lb_->Pick({});
    ASSERT_FALSE(picked.has_value());
    EXPECT_EQ(picked.error().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(picked.error().message(), "no backend available");
  }
  AddBackends(2);
  ASSERT_TRUE(lb_->DeactivateBackend("b0"));
  ASSERT_TRUE(lb_->DeactivateBackend("b1"));
  auto selected = lb_->SelectBackend();
  ASSERT_FALSE(selected.has_value());
  EXPECT_EQ(selected.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(lb_->GetStats().no_backend_errors, 3U);
  ASSERT_TRUE(lb_->ActivateBackend("b1"));
  EXPECT_EQ(PickId(), "b1");
}

TEST_F(LoadBalancerTest, SelectBackendReturnsACopy) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(1);
  ASSERT_TRUE(lb_->IncrementConnections("b0"));
  auto selected = lb_->SelectBackend();
  ASSERT_TRUE(selected.has_value());
  EXPECT_EQ(selected->id, "b0");
  EXPECT_EQ(selected->port, 9000);
  EXPECT_EQ(selected->connections, 1U);
  auto with_context = lb_->SelectBackend(Client("1.2.3.4"));
  ASSERT_TRUE(with_context.has_value());
  EXPECT_EQ(with_context->id, "b0");
}

TEST_F(LoadBalancerTest, HandleExposesBackendFields) {
  Make(LoadBalancingStrategy::kRoundRobin);
  ASSERT_TRUE(lb_->RegisterBackend(MakeBackend("b0", 9000, "eu")));
  auto picked = lb_->Pick({});
  ASSERT_TRUE(picked.has_value());
  EXPECT_EQ(picked->id(), "b0");
  EXPECT_EQ(picked->address(), "127.0.0.1");
  EXPECT_EQ(picked->port(), 9000);
  EXPECT_EQ(picked->region(), "eu");
}

TEST_F(LoadBalancerTest, SetStrategySwitchesBehaviour) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(3);
  EXPECT_EQ(lb_->GetStrategy(), LoadBalancingStrategy::kRoundRobin);
  lb_->SetStrategy(LoadBalancingStrategy::kConsistentHash);
  EXPECT_EQ(lb_->GetStrategy(), LoadBalancingStrategy::kConsistentHash);
  const std::string first = PickId(Key("/video/1"));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(PickId(Key("/video/1")), first);
}

// --- round_robin ---

TEST_F(LoadBalancerTest, RoundRobinSpreadsEvenly) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(7);
  auto counts = Count(7 * 50);
  ASSERT_EQ(counts.size(), 7U);
  for (const auto& [id, n] : counts) EXPECT_EQ(n, 50) << id;
}

TEST_F(LoadBalancerTest, SmoothWeightedRoundRobinIsProportionalAndInterleaved) {
  Make(LoadBalancingStrategy::kRoundRobin);
  ASSERT_TRUE(lb_->RegisterBackend(MakeBackend("a", 9000, "r1", 5)));
  ASSERT_TRUE(lb_->RegisterBackend(MakeBackend("b", 9001, "r1", 1)));
  ASSERT_TRUE(lb_->RegisterBackend(MakeBackend("c", 9002, "r1", 1)));
  std::vector<std::string> seq;
  for (int i = 0; i < 70; ++i) seq.push_back(PickId());
  // Exact counts in every cycle of 7.
  for (int cycle = 0; cycle < 10; ++cycle) {
    std::map<std::string, int> counts;
    for (int i = 0; i < 7; ++i) ++counts[seq[static_cast<std::size_t>(cycle * 7 + i)]];
    EXPECT_EQ(counts["a"], 5);
    EXPECT_EQ(counts["b"], 1);
    EXPECT_EQ(counts["c"], 1);
  }
  // Smooth: b and c are never back to back with themselves, and `a` never runs longer than
  // nginx's smooth WRR allows (4 in a row across a cycle boundary; a plain WRR gives 5).
  std::map<std::string, int> longest;
  int run = 0;
  for (std::size_t i = 0; i < seq.size(); ++i) {
    run = (i > 0 && seq[i] == seq[i - 1]) ? run + 1 : 1;
    longest[seq[i]] = std::max(longest[seq[i]], run);
  }
  EXPECT_LE(longest["a"], 4);
  EXPECT_EQ(longest["b"], 1);
  EXPECT_EQ(longest["c"], 1);
  // Every window of 7 picks holds exactly one b and one c: their picks are evenly spaced.
  for (std::size_t start = 0; start + 7 <= seq.size(); ++start) {
    EXPECT_EQ(std::count(seq.begin() + static_cast<long>(start),
                         seq.begin() + static_cast<long>(start + 7), "b"),
              1);
  }
}

TEST_F(LoadBalancerTest, RoundRobinSkipsUnavailableBackends) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(3);
  ASSERT_TRUE(lb_->DeactivateBackend("b1"));
  Fail("b2", 3);  // ejected
  auto counts = Count(30);
  EXPECT_EQ(counts.size(), 1U);
  EXPECT_EQ(counts["b0"], 30);
}

// --- least_conn ---

TEST_F(LoadBalancerTest, LeastConnPicksTheIdlestAmongFew) {
  Make(LoadBalancingStrategy::kLeastConnections);
  AddBackends(4);
  const std::vector<int> conns = {3, 1, 2, 1};
  for (std::size_t i = 0; i < conns.size(); ++i) {
    for (int c = 0; c < conns[i]; ++c) {
      ASSERT_TRUE(lb_->IncrementConnections("b" + std::to_string(i)));
    }
  }
  auto counts = Count(200);
  // Ties between the idlest two are spread; nothing busier is ever picked.
  EXPECT_EQ(counts["b0"], 0);
  EXPECT_EQ(counts["b2"], 0);
  EXPECT_GT(counts["b1"], 50);
  EXPECT_GT(counts["b3"], 50);
}

TEST_F(LoadBalancerTest, LeastConnFollowsConnectionsAsTheyChange) {
  Make(LoadBalancingStrategy::kLeastConnections);
  AddBackends(3);
  // Each pick opens a connection: the three fill up evenly.
  std::map<std::string, int> counts;
  for (int i = 0; i < 30; ++i) {
    auto picked = lb_->Pick({});
    ASSERT_TRUE(picked.has_value());
    lb_->IncrementConnections(*picked);
    ++counts[picked->id()];
  }
  for (const auto& [id, n] : counts) EXPECT_EQ(n, 10) << id;
}

TEST_F(LoadBalancerTest, LeastConnWeighsConnectionsByWeight) {
  Make(LoadBalancingStrategy::kLeastConnections);
  ASSERT_TRUE(lb_->RegisterBackend(MakeBackend("big", 9000, "r1", 4)));
  ASSERT_TRUE(lb_->RegisterBackend(MakeBackend("small", 9001, "r1", 1)));
  std::map<std::string, int> counts;
  for (int i = 0; i < 50; ++i) {
    auto picked = lb_->Pick({});
    ASSERT_TRUE(picked.has_value());
    lb_->IncrementConnections(*picked);
    ++counts[picked->id()];
  }
  EXPECT_EQ(counts["big"], 40);
  EXPECT_EQ(counts["small"], 10);
}

TEST_F(LoadBalancerTest, PowerOfTwoChoicesNeverPicksTheBusiestOfTwo) {
  options_.exact_scan_limit = 2;
  Make(LoadBalancingStrategy::kLeastConnections);
  AddBackends(20);
  for (int c = 0; c < 5; ++c) ASSERT_TRUE(lb_->IncrementConnections("b7"));
  for (int c = 0; c < 3; ++c) ASSERT_TRUE(lb_->IncrementConnections("b8"));
  auto counts = Count(4000);
  EXPECT_EQ(counts["b7"], 0);  // the busiest loses every pairing
  // b8 wins only when paired with b7 (about 1 in 190 pairs); never more than an idle one.
  EXPECT_LT(counts["b8"], 60);
  for (int i = 0; i < 20; ++i) {
    if (i == 7 || i == 8) continue;
    EXPECT_GT(counts["b" + std::to_string(i)], 100) << i;
  }
}

TEST_F(LoadBalancerTest, ConnectionsNeverGoBelowZero) {
  Make(LoadBalancingStrategy::kLeastConnections);
  AddBackends(1);
  ASSERT_TRUE(lb_->DecrementConnections("b0"));
  EXPECT_EQ(lb_->GetBackend("b0")->connections, 0U);
  ASSERT_TRUE(lb_->IncrementConnections("b0"));
  ASSERT_TRUE(lb_->IncrementConnections("b0"));
  ASSERT_TRUE(lb_->DecrementConnections("b0"));
  EXPECT_EQ(lb_->GetBackendMetrics("b0")->connections, 1U);
  lb_->IncrementConnections(BackendHandle{});  // a null handle is ignored
  lb_->DecrementConnections(BackendHandle{});
  lb_->RecordRequest(BackendHandle{}, microseconds(1), true);
}

// --- latency_based ---

TEST_F(LoadBalancerTest, LatencyBasedStarvesASlowBackend) {
  Make(LoadBalancingStrategy::kLatencyBased);
  AddBackends(2);
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(1'000), true));
  ASSERT_TRUE(lb_->RecordRequest("b1", microseconds(10'000), true));
  // Requests in flight: up to 8 at once, the oldest completes before each new pick.
  std::vector<BackendHandle> in_flight;
  std::map<std::string, int> counts;
  for (int i = 0; i < 1000; ++i) {
    if (in_flight.size() == 8) {
      lb_->DecrementConnections(in_flight.front());
      in_flight.erase(in_flight.begin());
    }
    auto picked = lb_->Pick({});
    ASSERT_TRUE(picked.has_value());
    lb_->IncrementConnections(*picked);
    in_flight.push_back(*picked);
    ++counts[picked->id()];
  }
  EXPECT_LT(counts["b1"], 100);  // 10x slower: only worth it past 10 outstanding on b0
  EXPECT_GT(counts["b0"], 900);
}

TEST_F(LoadBalancerTest, LatencyBasedMovesAwayFromABusyFastBackend) {
  Make(LoadBalancingStrategy::kLatencyBased);
  AddBackends(2);
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(1'000), true));
  ASSERT_TRUE(lb_->RecordRequest("b1", microseconds(3'000), true));
  EXPECT_EQ(Count(20)["b0"], 20);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(lb_->IncrementConnections("b0"));
  // 1ms x 6 outstanding > 3ms x 1: the burst pushes traffic to the slower, idle backend.
  EXPECT_EQ(Count(20)["b1"], 20);
}

TEST_F(LoadBalancerTest, PeakEwmaJumpsUpAndDecaysWithTime) {
  options_.ewma_decay = milliseconds(1000);
  Make(LoadBalancingStrategy::kLatencyBased);
  AddBackends(1);
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(1'000), true));
  EXPECT_EQ(lb_->GetBackendMetrics("b0")->ewma_latency, microseconds(1'000));
  clock_.Advance(milliseconds(10));
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(50'000), true));
  EXPECT_EQ(lb_->GetBackendMetrics("b0")->ewma_latency, microseconds(50'000));  // at once
  clock_.Advance(milliseconds(1000));  // one time constant: 1/e of the gap remains
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(1'000), true));
  const auto one_tau = lb_->GetBackendMetrics("b0")->ewma_latency.count();
  EXPECT_NEAR(static_cast<double>(one_tau), 1'000 + 49'000 / 2.718281828, 50);
  clock_.Advance(milliseconds(10'000));
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(1'000), true));
  EXPECT_NEAR(static_cast<double>(lb_->GetBackendMetrics("b0")->ewma_latency.count()), 1'000, 5);
}

TEST_F(LoadBalancerTest, LatencyBasedProbesUnmeasuredBackends) {
  Make(LoadBalancingStrategy::kLatencyBased);
  AddBackends(3);
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(2'000), true));
  ASSERT_TRUE(lb_->RecordRequest("b1", microseconds(4'000), true));
  // b2 has no measurement yet: it is scored like the best measured one, so it gets traffic.
  auto counts = Count(100);
  EXPECT_GT(counts["b2"], 20);
  EXPECT_EQ(counts["b1"], 0);
}

TEST_F(LoadBalancerTest, LatencyBasedWithPowerOfTwoChoicesPrefersFastBackends) {
  options_.exact_scan_limit = 2;
  Make(LoadBalancingStrategy::kLatencyBased);
  AddBackends(10);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(lb_->RecordRequest("b" + std::to_string(i), microseconds(1'000 * (i + 1)), true));
  }
  auto counts = Count(2000);
  EXPECT_EQ(counts["b9"], 0);  // the slowest loses every pairing
  EXPECT_GT(counts["b0"], counts["b5"]);
}

// --- geo_location ---

class LoadBalancerGeoTest : public LoadBalancerTest {
 protected:
  LoadBalancerGeoTest() {
    options_.geo_regions = {
        Geo("eu-west", {"IE", "GB"}, {"EU"}, 53.35, -6.26),  // Dublin
        Geo("eu-central", {"DE"}, {}, 50.11, 8.68),          // Frankfurt
        Geo("us-east", {"US"}, {"NA"}, 38.9, -77.0),         // Washington
        Geo("ap-south", {"IN"}, {"AS"}, 19.07, 72.88),       // Mumbai
    };
    geo_->Set("1.1.1.1", "IE", "EU", 53.3, -6.2);
    geo_->Set("2.2.2.2", "FR", "EU", 48.85, 2.35);   // no country match -> continent EU
    geo_->Set("3.3.3.3", "BR", "SA", -23.5, -46.6);  // no match -> nearest: us-east
    geo_->Set("4.4.4.4", "JP", "XX", 35.7, 139.7);   // nearest: ap-south
    geo_->Set("5.5.5.5", "DE", "EU");                // country match, no coordinates
    geo_->Set("6.6.6.6", "ZZ", "XX");                // nothing known: round-robin
    Make(LoadBalancingStrategy::kGeoLocation);
    int port = 9000;
    for (std::string region : {"eu-west", "eu-central", "us-east", "ap-south"}) {
      for (int i = 0; i < 2; ++i) {
        EXPECT_TRUE(lb_->RegisterBackend(MakeBackend(region + "-" + std::to_string(i),
                                                     static_cast<std::uint16_t>(port++), region)));
      }
    }
  }

  std::set<std::string> RegionsFor(std::string_view ip, int picks = 20) {
    std::set<std::string> regions;
    for (int i = 0; i < picks; ++i) {
      auto picked = lb_->Pick(Client(ip));
      EXPECT_TRUE(picked.has_value());
      if (picked) regions.insert(picked->region());
    }
    return regions;
  }
};

TEST_F(LoadBalancerGeoTest, CountryMatchWins) {
  EXPECT_EQ(RegionsFor("1.1.1.1"), std::set<std::string>{"eu-west"});
  EXPECT_EQ(RegionsFor("5.5.5.5"), std::set<std::string>{"eu-central"});
  // Round-robin inside the region.
  auto counts = Count(10, Client("1.1.1.1"));
  EXPECT_EQ(counts["eu-west-0"], 5);
  EXPECT_EQ(counts["eu-west-1"], 5);
}

TEST_F(LoadBalancerGeoTest, ContinentMatchIsTheFallback) {
  EXPECT_EQ(RegionsFor("2.2.2.2"), std::set<std::string>{"eu-west"});
}

TEST_F(LoadBalancerGeoTest, NearestRegionByDistanceWhenNothingMatches) {
  EXPECT_EQ(RegionsFor("3.3.3.3"), std::set<std::string>{"us-east"});
  EXPECT_EQ(RegionsFor("4.4.4.4"), std::set<std::string>{"ap-south"});
}

TEST_F(LoadBalancerGeoTest, FailsOverToTheNextNearestRegion) {
  ASSERT_TRUE(lb_->DeactivateBackend("eu-west-0"));
  Fail("eu-west-1", 3);  // ejected: eu-west has nothing available
  // From Dublin, Frankfurt is nearer than Washington.
  EXPECT_EQ(RegionsFor("1.1.1.1"), std::set<std::string>{"eu-central"});
  ASSERT_TRUE(lb_->DeactivateBackend("eu-central-0"));
  ASSERT_TRUE(lb_->DeactivateBackend("eu-central-1"));
  EXPECT_EQ(RegionsFor("1.1.1.1"), std::set<std::string>{"us-east"});
  // Without client coordinates the first region's position orders the rest.
  clock_.Advance(milliseconds(1000));  // eu-west-1's ejection ends
  EXPECT_EQ(RegionsFor("5.5.5.5"), std::set<std::string>{"eu-west"});
}

TEST_F(LoadBalancerGeoTest, UnknownClientsAreSpreadOverAllRegions) {
  EXPECT_EQ(RegionsFor("9.9.9.9", 8).size(), 4U);  // not in the database
  EXPECT_EQ(RegionsFor("6.6.6.6", 8).size(), 4U);  // no usable country or position
  EXPECT_EQ(RegionsFor("", 8).size(), 4U);         // no client address
}

TEST_F(LoadBalancerGeoTest, BackendsOfUnlistedRegionsServeAsLastResort) {
  ASSERT_TRUE(lb_->RegisterBackend(MakeBackend("other-0", 9100, "other")));
  for (std::string region : {"eu-west", "eu-central", "us-east", "ap-south"}) {
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(lb_->DeactivateBackend(region + "-" + std::to_string(i)));
    }
  }
  EXPECT_EQ(RegionsFor("1.1.1.1"), std::set<std::string>{"other"});
}

TEST_F(LoadBalancerTest, GeoWithoutLocatorFallsBackToRoundRobin) {
  geo_ = nullptr;
  options_.geo_regions = {Geo("eu", {"IE"}, {"EU"}, 53.35, -6.26)};
  Make(LoadBalancingStrategy::kGeoLocation);
  AddBackends(3, "eu");
  auto counts = Count(9, Client("1.1.1.1"));
  for (const auto& [id, n] : counts) EXPECT_EQ(n, 3) << id;
}

// --- consistent_hash ---

TEST_F(LoadBalancerTest, ConsistentHashKeepsKeysOnTheirBackend) {
  Make(LoadBalancingStrategy::kConsistentHash);
  AddBackends(5);
  std::map<std::string, std::string> first;
  for (int k = 0; k < 200; ++k) {
    const std::string key = "/segment/" + std::to_string(k);
    first[key] = PickId(Key(key));
  }
  std::set<std::string> used;
  for (const auto& [key, id] : first) {
    EXPECT_EQ(PickId(Key(key)), id);
    used.insert(id);
  }
  EXPECT_EQ(used.size(), 5U);
}

TEST_F(LoadBalancerTest, ConsistentHashMovesAboutOneNthWhenABackendLeaves) {
  Make(LoadBalancingStrategy::kConsistentHash);
  constexpr int kBackends = 10;
  constexpr int kKeys = 20'000;
  AddBackends(kBackends);
  std::vector<std::string> before;
  for (int k = 0; k < kKeys; ++k) before.push_back(PickId(Key("key-" + std::to_string(k))));
  ASSERT_TRUE(lb_->DeactivateBackend("b3"));
  int moved = 0;
  int moved_from_others = 0;
  for (int k = 0; k < kKeys; ++k) {
    const std::string now = PickId(Key("key-" + std::to_string(k)));
    EXPECT_NE(now, "b3");
    if (now != before[static_cast<std::size_t>(k)]) {
      ++moved;
      if (before[static_cast<std::size_t>(k)] != "b3") ++moved_from_others;
    }
  }
  const double fraction = static_cast<double>(moved) / kKeys;
  EXPECT_GT(fraction, 0.07);
  EXPECT_LT(fraction, 0.13);                 // ~1/N
  EXPECT_LT(moved_from_others, kKeys / 50);  // Maglev disturbs other backends' keys little
  // Coming back restores the original mapping exactly.
  ASSERT_TRUE(lb_->ActivateBackend("b3"));
  for (int k = 0; k < kKeys; k += 97) {
    EXPECT_EQ(PickId(Key("key-" + std::to_string(k))), before[static_cast<std::size_t>(k)]);
  }
}

TEST_F(LoadBalancerTest, ConsistentHashWalksPastAnUnavailableBackend) {
  Make(LoadBalancingStrategy::kConsistentHash);
  AddBackends(4);
  std::map<std::string, std::string> before;
  for (int k = 0; k < 400; ++k) {
    const std::string key = "k" + std::to_string(k);
    before[key] = PickId(Key(key));
  }
  Fail("b2", 3);  // ejected, still active: the table is unchanged, lookups walk past it
  for (const auto& [key, id] : before) {
    const std::string now = PickId(Key(key));
    if (id == "b2") {
      EXPECT_NE(now, "b2");
    } else {
      EXPECT_EQ(now, id);
    }
  }
}

TEST_F(LoadBalancerTest, ConsistentHashWithoutKeySpreadsEvenly) {
  Make(LoadBalancingStrategy::kConsistentHash);
  AddBackends(4);
  auto counts = Count(40);
  for (const auto& [id, n] : counts) EXPECT_EQ(n, 10) << id;
}

TEST(LoadBalancerTablesTest, MaglevTableSizeIsAPrimeOfAHundredSlotsPerBackend) {
  EXPECT_EQ(lb::MaglevTableSize(3), 65537U);
  const std::size_t big = lb::MaglevTableSize(10'000);
  EXPECT_GE(big, 1'000'000U);
  for (std::size_t d = 2; d * d <= big; ++d) ASSERT_NE(big % d, 0U) << d;
}

TEST(LoadBalancerTablesTest, MaglevTableIsBalancedAndWeighted) {
  std::vector<std::string_view> ids = {"a", "b", "c", "d"};
  std::vector<std::uint32_t> equal = {1, 1, 1, 1};
  auto table = lb::BuildMaglevTable(ids, equal, 65537);
  std::vector<int> counts(4, 0);
  for (auto slot : table) ++counts[slot];
  for (int c : counts) EXPECT_NEAR(c, 65537 / 4, 2);
  std::vector<std::uint32_t> weighted = {3, 1, 1, 1};
  table = lb::BuildMaglevTable(ids, weighted, 65537);
  std::fill(counts.begin(), counts.end(), 0);
  for (auto slot : table) ++counts[slot];
  EXPECT_NEAR(counts[0], 65537 / 2, 300);
}

TEST(LoadBalancerTablesTest, SmoothScheduleHandlesLargeWeights) {
  std::vector<std::uint32_t> weights = {10'000, 1, 3'333};
  auto schedule = lb::BuildSmoothSchedule(weights);
  std::vector<int> counts(3, 0);
  for (auto p : schedule) ++counts[p];
  EXPECT_EQ(counts[0], 10'000);
  EXPECT_EQ(counts[1], 1);
  EXPECT_EQ(counts[2], 3'333);
  std::vector<std::uint32_t> gcd = {4, 2, 2};
  EXPECT_EQ(lb::BuildSmoothSchedule(gcd).size(), 4U);
  std::vector<std::uint32_t> many(3'000, 1);
  many[0] = 10'000;  // too large for nginx's O(n) steps: the stride schedule is used
  schedule = lb::BuildSmoothSchedule(many);
  EXPECT_EQ(schedule.size(), 12'999U);
  EXPECT_EQ(std::count(schedule.begin(), schedule.end(), 0U), 10'000);
}

TEST(LoadBalancerTablesTest, UnitVectorOrderMatchesGreatCircleDistance) {
  struct Point {
    double lat;
    double lon;
  };
  const std::vector<Point> points = {{53.35, -6.26}, {50.11, 8.68},  {38.9, -77.0},
                                     {19.07, 72.88}, {-23.5, -46.6}, {35.7, 139.7},
                                     {-33.9, 151.2}, {64.1, -21.9},  {0.0, 179.9}};
  for (const Point& from : points) {
    const lb::UnitVector origin = lb::ToUnitVector(from.lat, from.lon);
    for (const Point& a : points) {
      for (const Point& b : points) {
        const double km_a = geo::GreatCircleKm(from.lat, from.lon, a.lat, a.lon);
        const double km_b = geo::GreatCircleKm(from.lat, from.lon, b.lat, b.lon);
        if (std::abs(km_a - km_b) < 1.0) continue;
        EXPECT_EQ(
            km_a<km_b, lb::ToUnitVector(a.lat, a.lon).Dot(origin)> lb::ToUnitVector(b.lat, b.lon)
                .Dot(origin));
      }
    }
  }
}

// --- passive outlier detection ---

TEST_F(LoadBalancerTest, ConsecutiveFailuresEjectAndTheBackendReturnsAfterBaseTime) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(2);
  Fail("b0", 2);
  EXPECT_FALSE(lb_->GetBackend("b0")->ejected);
  Fail("b0", 1);
  EXPECT_TRUE(lb_->GetBackend("b0")->ejected);
  EXPECT_EQ(Count(10)["b1"], 10);
  auto m = lb_->GetBackendMetrics("b0");
  EXPECT_EQ(m->ejections, 1U);
  EXPECT_TRUE(m->ejected);
  EXPECT_EQ(lb_->GetStats().ejections, 1U);

  clock_.Advance(milliseconds(999));
  EXPECT_EQ(Count(4)["b1"], 4);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(Count(10)["b0"], 5);
  EXPECT_FALSE(lb_->GetBackend("b0")->ejected);
}

TEST_F(LoadBalancerTest, EjectionTimeDoublesAndIsCapped) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(2);
  Fail("b0", 3);
  clock_.Advance(milliseconds(1000));
  EXPECT_FALSE(lb_->GetBackend("b0")->ejected);
  Fail("b0", 3);  // second ejection: 2s
  clock_.Advance(milliseconds(1000));
  EXPECT_TRUE(lb_->GetBackend("b0")->ejected);
  clock_.Advance(milliseconds(1000));
  EXPECT_FALSE(lb_->GetBackend("b0")->ejected);
  Fail("b0", 3);  // third: 4s, capped at 3s
  clock_.Advance(milliseconds(2999));
  EXPECT_TRUE(lb_->GetBackend("b0")->ejected);
  clock_.Advance(milliseconds(1));
  EXPECT_FALSE(lb_->GetBackend("b0")->ejected);
  EXPECT_EQ(lb_->GetBackendMetrics("b0")->ejections, 3U);
}

TEST_F(LoadBalancerTest, SuccessResetsTheFailureCount) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(2);
  Fail("b0", 2);
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(100), true));
  Fail("b0", 2);
  EXPECT_FALSE(lb_->GetBackend("b0")->ejected);
  Fail("b0", 1);
  EXPECT_TRUE(lb_->GetBackend("b0")->ejected);
}

TEST_F(LoadBalancerTest, OutlierDetectionCanBeDisabled) {
  options_.outlier_detection.enabled = false;
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(2);
  Fail("b0", 20);
  EXPECT_FALSE(lb_->GetBackend("b0")->ejected);
  EXPECT_EQ(lb_->GetBackendMetrics("b0")->failed_requests, 20U);
}

// --- panic ---

TEST_F(LoadBalancerTest, PanicSpreadsOverAllActiveBackends) {
  options_.panic_threshold = 0.5;
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(4);
  Fail("b0", 3);
  EXPECT_FALSE(lb_->GetStats().panic);  // 3 of 4 available
  EXPECT_EQ(Count(9).count("b0"), 0U);
  Fail("b1", 3);
  EXPECT_FALSE(lb_->GetStats().panic);  // 2 of 4 is not below half
  Fail("b2", 3);
  auto counts = Count(8);  // 1 of 4: panic, ejection ignored
  EXPECT_EQ(counts.size(), 4U);
  auto stats = lb_->GetStats();
  EXPECT_TRUE(stats.panic);
  EXPECT_EQ(stats.panic_selections, 8U);
  EXPECT_EQ(stats.available_backends, 1U);
  EXPECT_EQ(stats.active_backends, 4U);
  // Ejections expire: panic ends.
  clock_.Advance(milliseconds(1000));
  EXPECT_EQ(Count(8).size(), 4U);
  stats = lb_->GetStats();
  EXPECT_FALSE(stats.panic);
  EXPECT_EQ(stats.available_backends, 4U);
}

TEST_F(LoadBalancerTest, WithoutPanicAllUnavailableIsAnError) {
  Make(LoadBalancingStrategy::kLeastConnections);
  AddBackends(2);
  Fail("b0", 3);
  Fail("b1", 3);
  auto picked = lb_->Pick({});
  ASSERT_FALSE(picked.has_value());
  EXPECT_EQ(picked.error().code(), ErrorCode::kUnavailable);
}

// --- PickOther ---

TEST_F(LoadBalancerTest, PickOtherAvoidsTheExcludedBackend) {
  for (auto strategy :
       {LoadBalancingStrategy::kRoundRobin, LoadBalancingStrategy::kLeastConnections,
        LoadBalancingStrategy::kLatencyBased, LoadBalancingStrategy::kGeoLocation,
        LoadBalancingStrategy::kConsistentHash}) {
    Make(strategy);
    AddBackends(3);
    for (int i = 0; i < 30; ++i) {
      const RequestContext ctx{.client_address = "1.1.1.1", .hash_key = "k" + std::to_string(i)};
      auto first = lb_->Pick(ctx);
      ASSERT_TRUE(first.has_value());
      auto other = lb_->PickOther(ctx, *first);
      ASSERT_TRUE(other.has_value());
      EXPECT_NE(other->id(), first->id()) << ToString(strategy);
    }
  }
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(1);
  auto only = lb_->Pick({});
  ASSERT_TRUE(only.has_value());
  auto again = lb_->PickOther({}, *only);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->id(), "b0");  // the only choice
}

// --- active health checks ---

TEST_F(LoadBalancerTest, HealthChecksFollowRiseAndFall) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(2);
  prober_->SetUp("127.0.0.1:9000", microseconds(500));
  prober_->SetDown("127.0.0.1:9001");
  EXPECT_TRUE(lb_->ShouldHealthCheck());
  auto report = lb_->PerformHealthCheck();
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->probed, 2U);
  EXPECT_EQ(report->healthy, 1U);
  EXPECT_EQ(lb_->GetBackend("b0")->health_status, HealthStatus::kHealthy);
  EXPECT_EQ(lb_->GetBackend("b1")->health_status, HealthStatus::kDegraded);  // 1 < fall
  EXPECT_FALSE(lb_->ShouldHealthCheck());
  clock_.Advance(milliseconds(1000));
  EXPECT_TRUE(lb_->ShouldHealthCheck());
  ASSERT_TRUE(lb_->PerformHealthCheck());
  EXPECT_EQ(lb_->GetBackend("b1")->health_status, HealthStatus::kUnhealthy);
  EXPECT_EQ(Count(6)["b0"], 6);  // unhealthy takes no traffic

  auto m = lb_->GetBackendMetrics("b1");
  EXPECT_EQ(m->health_checks, 2U);
  EXPECT_EQ(m->failed_health_checks, 2U);
  EXPECT_EQ(m->last_probe_detail, "connect: Connection refused");
  EXPECT_EQ(m->last_health_check, clock_.WallNow());
  EXPECT_EQ(m->health_status, HealthStatus::kUnhealthy);

  prober_->SetUp("127.0.0.1:9001", microseconds(500));
  ASSERT_TRUE(lb_->PerformHealthCheck());
  EXPECT_EQ(lb_->GetBackend("b1")->health_status, HealthStatus::kUnhealthy);  // needs rise=2
  ASSERT_TRUE(lb_->PerformHealthCheck());
  EXPECT_EQ(lb_->GetBackend("b1")->health_status, HealthStatus::kHealthy);
  EXPECT_EQ(Count(6)["b1"], 3);
}

TEST_F(LoadBalancerTest, HealthCheckProbesTheRightUrl) {
  auto recorder = std::make_shared<RecordingProber>();
  options_.health_check.path = "/status";
  lb_ = std::make_unique<GlobalLoadBalancer>(LoadBalancingStrategy::kRoundRobin, options_,
                                             Deps(recorder, &clock_));
  ASSERT_TRUE(lb_->RegisterBackend(MakeBackend("default", 9000)));
  Backend custom = MakeBackend("custom", 9001);
  custom.health_path = "/ready?deep=1";
  ASSERT_TRUE(lb_->RegisterBackend(custom));
  Backend tcp = MakeBackend("tcp", 9002);
  tcp.use_tcp_check = true;
  ASSERT_TRUE(lb_->RegisterBackend(tcp));
  ASSERT_TRUE(lb_->PerformHealthCheck());
  auto seen = recorder->seen();
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[0], (Endpoint{EndpointScheme::kHttp, "127.0.0.1", 9000, "/status"}));
  EXPECT_EQ(seen[1], (Endpoint{EndpointScheme::kHttp, "127.0.0.1", 9001, "/ready?deep=1"}));
  EXPECT_EQ(seen[2], (Endpoint{EndpointScheme::kTcp, "127.0.0.1", 9002, ""}));
}

TEST_F(LoadBalancerTest, AllUnhealthyEntersPanicWhenEnabled) {
  options_.panic_threshold = 0.3;
  options_.health_check.fall = 1;
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(3);
  ASSERT_TRUE(lb_->PerformHealthCheck());  // nothing scripted: every probe fails
  EXPECT_EQ(lb_->GetStats().available_backends, 0U);
  EXPECT_EQ(Count(6).size(), 3U);
  EXPECT_TRUE(lb_->GetStats().panic);
}

// --- metrics ---

TEST_F(LoadBalancerTest, MetricsCountRequestsErrorsAndLatency) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(1);
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(500), true));
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(3'000), true));
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(40'000), false));
  ASSERT_TRUE(lb_->RecordRequest("b0", microseconds(9'000'000), true));
  auto m = lb_->GetBackendMetrics("b0");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->total_requests, 4U);
  EXPECT_EQ(m->failed_requests, 1U);
  EXPECT_DOUBLE_EQ(m->error_rate, 0.25);
  EXPECT_EQ(m->latency_sum, microseconds(9'043'500));
  EXPECT_EQ(m->avg_latency, microseconds(9'043'500 / 4));
  ASSERT_EQ(m->latency_bucket_bounds.size(), 13U);
  ASSERT_EQ(m->latency_bucket_counts.size(), 13U);
  EXPECT_EQ(m->latency_bucket_bounds[0], microseconds(1'000));
  EXPECT_EQ(m->latency_bucket_bounds[12], microseconds::max());
  const std::vector<std::uint64_t> cumulative = {1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 4};
  EXPECT_EQ(m->latency_bucket_counts, cumulative);
  auto all = lb_->GetAllMetrics();
  ASSERT_EQ(all.size(), 1U);
  EXPECT_EQ(all["b0"].total_requests, 4U);
  EXPECT_EQ(all["b0"].region, "r1");
}

TEST_F(LoadBalancerTest, HandleCallsFeedTheSameCounters) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(1);
  auto picked = lb_->Pick({});
  ASSERT_TRUE(picked.has_value());
  lb_->IncrementConnections(*picked);
  EXPECT_EQ(lb_->GetBackendMetrics("b0")->connections, 1U);
  lb_->RecordRequest(*picked, microseconds(700), true);
  lb_->DecrementConnections(*picked);
  auto m = lb_->GetBackendMetrics("b0");
  EXPECT_EQ(m->connections, 0U);
  EXPECT_EQ(m->total_requests, 1U);
  EXPECT_EQ(m->ewma_latency, microseconds(700));
}

TEST_F(LoadBalancerTest, StatsCountBackends) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(3);
  ASSERT_TRUE(lb_->DeactivateBackend("b2"));
  Fail("b1", 3);
  auto stats = lb_->GetStats();
  EXPECT_EQ(stats.backends, 3U);
  EXPECT_EQ(stats.active_backends, 2U);
  EXPECT_EQ(stats.available_backends, 1U);
  EXPECT_FALSE(stats.panic);
  EXPECT_EQ(stats.ejections, 1U);
}

// --- UpdateBackend / RemoveBackend (config reload) ---

// A handle to `id`, picked by round-robin (asserts it comes up within 100 picks).
BackendHandle HandleTo(GlobalLoadBalancer& lb, std::string_view id) {
  for (int i = 0; i < 100; ++i) {
    auto picked = lb.Pick({});
    if (picked && picked->id() == id) return *picked;
  }
  ADD_FAILURE() << "never picked " << id;
  return {};
}

TEST_F(LoadBalancerTest, UpdateBackendReplacesConfigAndKeepsCounters) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(3);
  BackendHandle old = HandleTo(*lb_, "b1");
  lb_->IncrementConnections(old);
  ASSERT_TRUE(lb_->IncrementConnections("b1"));
  ASSERT_TRUE(lb_->RecordRequest("b1", microseconds(2000), true));
  ASSERT_TRUE(lb_->RecordRequest("b1", microseconds(4000), false));

  Backend changed = MakeBackend("b1", 9001, "r2", 3);
  changed.health_path = "/ready";
  ASSERT_TRUE(lb_->UpdateBackend(changed));

  auto got = lb_->GetBackend("b1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->region, "r2");
  EXPECT_EQ(got->weight, 3U);
  EXPECT_EQ(got->health_path, "/ready");
  EXPECT_EQ(got->connections, 2U);
  auto m = lb_->GetBackendMetrics("b1");
  EXPECT_EQ(m->total_requests, 2U);
  EXPECT_EQ(m->failed_requests, 1U);
  EXPECT_EQ(m->latency_sum, microseconds(6000));
  EXPECT_EQ(m->ewma_latency, microseconds(4000));
  auto all = lb_->ListBackends();
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[1].id, "b1");  // same place in registration order
  EXPECT_EQ(lb_->GetBackendCount(), 3U);

  // The old handle stays valid (old config) and counts on the backend.
  EXPECT_EQ(old.id(), "b1");
  EXPECT_EQ(old.region(), "r1");
  lb_->RecordRequest(old, microseconds(1000), true);
  lb_->DecrementConnections(old);
  m = lb_->GetBackendMetrics("b1");
  EXPECT_EQ(m->total_requests, 3U);
  EXPECT_EQ(m->connections, 1U);
  ASSERT_TRUE(lb_->DecrementConnections("b1"));
  EXPECT_EQ(lb_->GetBackend("b1")->connections, 0U);

  // The new weight takes effect: 3 of every 5 picks.
  EXPECT_EQ(Count(50)["b1"], 30);
}

TEST_F(LoadBalancerTest, UpdateBackendKeepsHealthUnlessTheProbeTargetChanged) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(2);
  prober_->SetUp("127.0.0.1:9000", microseconds(500));
  prober_->SetDown("127.0.0.1:9001");
  ASSERT_TRUE(lb_->PerformHealthCheck());
  ASSERT_TRUE(lb_->PerformHealthCheck());
  ASSERT_EQ(lb_->GetBackend("b1")->health_status, HealthStatus::kUnhealthy);

  // Same target: still unhealthy, still no traffic.
  ASSERT_TRUE(lb_->UpdateBackend(MakeBackend("b1", 9001, "r1", 2)));
  EXPECT_EQ(lb_->GetBackend("b1")->health_status, HealthStatus::kUnhealthy);
  EXPECT_EQ(Count(6)["b0"], 6);
  EXPECT_EQ(lb_->GetStats().available_backends, 1U);

  // A new port is a new target: unknown until probed, and it takes traffic again.
  ASSERT_TRUE(lb_->UpdateBackend(MakeBackend("b1", 9101, "r1", 1)));
  EXPECT_EQ(lb_->GetBackend("b1")->health_status, HealthStatus::kUnknown);
  EXPECT_EQ(Count(6)["b1"], 3);
  EXPECT_EQ(lb_->GetStats().available_backends, 2U);
  auto m = lb_->GetBackendMetrics("b1");
  EXPECT_EQ(m->health_checks, 2U);  // the count carries over
  EXPECT_EQ(m->last_probe_detail, "");
  prober_->SetUp("127.0.0.1:9101", microseconds(300));
  ASSERT_TRUE(lb_->PerformHealthCheck());
  m = lb_->GetBackendMetrics("b1");
  EXPECT_EQ(m->health_checks, 3U);
  EXPECT_EQ(m->last_probe_detail, "HTTP 200");
  EXPECT_EQ(m->health_status, HealthStatus::kHealthy);

  // Switching to a TCP check is a new target too.
  prober_->SetDown("127.0.0.1:9101");
  Backend tcp = MakeBackend("b1", 9101);
  tcp.use_tcp_check = true;
  ASSERT_TRUE(lb_->UpdateBackend(tcp));
  EXPECT_EQ(lb_->GetBackend("b1")->health_status, HealthStatus::kUnknown);
}

TEST_F(LoadBalancerTest, UpdateBackendKeepsAnEjection) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(2);
  Fail("b0", 3);
  ASSERT_TRUE(lb_->GetBackend("b0")->ejected);
  ASSERT_TRUE(lb_->UpdateBackend(MakeBackend("b0", 9000, "r1", 2)));
  EXPECT_TRUE(lb_->GetBackend("b0")->ejected);
  EXPECT_EQ(Count(6)["b1"], 6);
  EXPECT_EQ(lb_->GetBackendMetrics("b0")->ejections, 1U);
  clock_.Advance(milliseconds(1000));
  EXPECT_EQ(Count(30)["b0"], 20);  // back, with its new weight
  EXPECT_FALSE(lb_->GetBackend("b0")->ejected);
}

TEST_F(LoadBalancerTest, FailuresThroughAnOldHandleEjectTheCurrentEntry) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(2);
  BackendHandle old = HandleTo(*lb_, "b0");
  lb_->RecordRequest(old, microseconds(100), false);
  ASSERT_TRUE(lb_->UpdateBackend(MakeBackend("b0", 9000, "r1", 2)));
  lb_->RecordRequest(old, microseconds(100), false);
  EXPECT_FALSE(lb_->GetBackend("b0")->ejected);
  lb_->RecordRequest(old, microseconds(100), false);  // the third in a row
  EXPECT_TRUE(lb_->GetBackend("b0")->ejected);
  EXPECT_EQ(Count(6)["b1"], 6);
  EXPECT_EQ(lb_->GetStats().ejections, 1U);
}

TEST_F(LoadBalancerTest, UpdateBackendSetsActive) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(2);
  Backend off = MakeBackend("b0", 9000);
  off.active = false;
  ASSERT_TRUE(lb_->UpdateBackend(off));
  EXPECT_FALSE(lb_->GetBackend("b0")->active);
  EXPECT_EQ(lb_->GetActiveBackendCount(), 1U);
  EXPECT_EQ(lb_->GetStats().active_backends, 1U);
  EXPECT_EQ(Count(6)["b1"], 6);
  ASSERT_TRUE(lb_->UpdateBackend(MakeBackend("b0", 9000)));
  EXPECT_TRUE(lb_->GetBackend("b0")->active);
  EXPECT_EQ(lb_->GetStats().active_backends, 2U);
  EXPECT_EQ(lb_->GetStats().available_backends, 2U);
  EXPECT_EQ(Count(6)["b0"], 3);
}

TEST_F(LoadBalancerTest, UpdateBackendValidatesLikeRegister) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(1);
  EXPECT_EQ(lb_->UpdateBackend(MakeBackend("nope", 9000)).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(lb_->UpdateBackend(MakeBackend("b0", 0)).error().code(), ErrorCode::kInvalidArgument);
  Backend heavy = MakeBackend("b0", 9000, "r1", 10'001);
  EXPECT_EQ(lb_->UpdateBackend(heavy).error().code(), ErrorCode::kInvalidArgument);
  Backend path = MakeBackend("b0", 9000);
  path.health_path = "ready";
  EXPECT_EQ(lb_->UpdateBackend(path).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(lb_->GetBackend("b0")->port, 9000);
}

TEST_F(LoadBalancerTest, LeastConnCountsStayRightAcrossAnUpdate) {
  Make(LoadBalancingStrategy::kLeastConnections);
  AddBackends(2);
  // Two requests in flight on b0, picked before the update.
  BackendHandle first;
  for (int i = 0; i < 100 && first.entry == nullptr; ++i) {
    auto picked = lb_->Pick({});
    ASSERT_TRUE(picked);
    if (picked->id() == "b0") first = *picked;
  }
  ASSERT_NE(first.entry, nullptr);
  const BackendHandle second = first;
  lb_->IncrementConnections(first);
  lb_->IncrementConnections(second);
  ASSERT_TRUE(lb_->UpdateBackend(MakeBackend("b0", 9000, "r2")));
  EXPECT_EQ(lb_->GetBackend("b0")->connections, 2U);
  EXPECT_EQ(Count(10)["b1"], 10);  // b0 is the busier one
  lb_->DecrementConnections(first);
  lb_->DecrementConnections(second);
  EXPECT_EQ(lb_->GetBackend("b0")->connections, 0U);
  // Idle again: both take their share.
  std::map<std::string, int> counts;
  for (int i = 0; i < 20; ++i) {
    auto picked = lb_->Pick({});
    ASSERT_TRUE(picked);
    lb_->IncrementConnections(*picked);
    ++counts[picked->id()];
  }
  EXPECT_EQ(counts["b0"], 10);
  EXPECT_EQ(counts["b1"], 10);
}

TEST_F(LoadBalancerTest, RemoveBackendStopsPickingListingAndCounting) {
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(3);
  BackendHandle old = HandleTo(*lb_, "b1");
  lb_->IncrementConnections(old);
  ASSERT_TRUE(lb_->RemoveBackend("b1"));

  auto counts = Count(30);
  EXPECT_EQ(counts.count("b1"), 0U);
  EXPECT_EQ(counts["b0"], 15);
  auto all = lb_->ListBackends();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].id, "b0");
  EXPECT_EQ(all[1].id, "b2");
  EXPECT_EQ(lb_->GetAllMetrics().count("b1"), 0U);
  auto stats = lb_->GetStats();
  EXPECT_EQ(stats.backends, 2U);
  EXPECT_EQ(stats.active_backends, 2U);
  EXPECT_EQ(stats.available_backends, 2U);
  EXPECT_EQ(lb_->GetBackendCount(), 2U);
  EXPECT_EQ(lb_->GetActiveBackendCount(), 2U);
  auto code = [](const auto& r) { return r.error().code(); };
  EXPECT_EQ(code(lb_->GetBackend("b1")), ErrorCode::kNotFound);
  EXPECT_EQ(code(lb_->IncrementConnections("b1")), ErrorCode::kNotFound);
  EXPECT_EQ(code(lb_->RecordRequest("b1", microseconds(1), true)), ErrorCode::kNotFound);
  EXPECT_EQ(code(lb_->RemoveBackend("b1")), ErrorCode::kNotFound);
  EXPECT_EQ(code(lb_->UpdateBackend(MakeBackend("b1", 9001))), ErrorCode::kNotFound);

  // The in-flight handle is still usable; what it records goes nowhere visible, and failures
  // through it eject nothing.
  EXPECT_EQ(old.id(), "b1");
  for (int i = 0; i < 5; ++i) lb_->RecordRequest(old, microseconds(100), false);
  lb_->DecrementConnections(old);
  EXPECT_EQ(lb_->GetStats().ejections, 0U);

  // Health checks no longer probe it.
  auto report = lb_->PerformHealthCheck();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->probed, 2U);

  // The id can be registered again, from scratch.
  ASSERT_TRUE(lb_->RegisterBackend(MakeBackend("b1", 9001)));
  auto m = lb_->GetBackendMetrics("b1");
  EXPECT_EQ(m->total_requests, 0U);
  EXPECT_EQ(m->connections, 0U);
  EXPECT_EQ(lb_->ListBackends().back().id, "b1");
}

TEST_F(LoadBalancerTest, RemovingBackendsMovesPanicCounts) {
  options_.panic_threshold = 0.5;
  Make(LoadBalancingStrategy::kRoundRobin);
  AddBackends(3);
  Fail("b1", 3);  // ejected
  ASSERT_TRUE(lb_->DeactivateBackend("b2"));
  EXPECT_FALSE(lb_->GetStats().panic);  // 1 of 2 available
  ASSERT_TRUE(lb_->RemoveBackend("b2"));
  EXPECT_EQ(lb_->GetStats().active_backends, 2U);
  ASSERT_TRUE(lb_->RemoveBackend("b0"));
  auto stats = lb_->GetStats();
  EXPECT_EQ(stats.active_backends, 1U);
  EXPECT_EQ(stats.available_backends, 0U);
  EXPECT_TRUE(stats.panic);  // only the ejected b1 is left
  EXPECT_EQ(PickId(), "b1");
}

TEST_F(LoadBalancerTest, ConsistentHashKeepsOtherKeysWhenABackendIsRemoved) {
  Make(LoadBalancingStrategy::kConsistentHash);
  AddBackends(4);
  std::map<std::string, std::string> before;
  for (int i = 0; i < 400; ++i) {
    const std::string key = "/k" + std::to_string(i);
    before[key] = PickId(Key(key));
  }
  ASSERT_TRUE(lb_->RemoveBackend("b2"));
  for (const auto& [key, id] : before) {
    const std::string now = PickId(Key(key));
    EXPECT_NE(now, "b2");
    if (id != "b2") {
      EXPECT_EQ(now, id) << key;
    }
  }
}

TEST_F(LoadBalancerTest, SweepDropsResultsOfBackendsReplacedOrRemovedMeanwhile) {
  auto gated = std::make_shared<GatedProber>(prober_);
  LoadBalancerDependencies deps;
  deps.prober = gated;
  deps.clock = &clock_;
  deps.random = MakeSeededRandom(42);
  lb_ = std::make_unique<GlobalLoadBalancer>(LoadBalancingStrategy::kRoundRobin, options_, deps);
  AddBackends(3);
  for (int port : {9000, 9001, 9002}) {
    prober_->SetUp("127.0.0.1:" + std::to_string(port), microseconds(100));
  }
  Result<HealthCheckReport> report = NotFound("not run");
  std::thread sweeper([&] { report = lb_->PerformHealthCheck(); });
  gated->WaitEntered();
  ASSERT_TRUE(lb_->RemoveBackend("b1"));
  ASSERT_TRUE(lb_->UpdateBackend(MakeBackend("b2", 9002, "r1", 2)));
  gated->Release();
  sweeper.join();
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->healthy, 1U);
  EXPECT_EQ(lb_->GetBackendMetrics("b0")->health_checks, 1U);
  EXPECT_EQ(lb_->GetBackendMetrics("b2")->health_checks, 0U);  // probed as the old entry
  EXPECT_EQ(lb_->GetBackend("b2")->health_status, HealthStatus::kUnknown);
}

}  // namespace
}  // namespace streamgate::scaling
