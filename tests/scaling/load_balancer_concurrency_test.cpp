// Picks, connection counting and request recording from several threads while the control
// plane registers, (de)activates, health-checks and switches strategy. Runs under TSan in CI.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "streamgate/scaling/load_balancer.hpp"
#include "support/fake_geo_locator.hpp"
#include "support/fake_prober.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::scaling {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

Backend MakeBackend(int i, std::string region) {
  Backend b;
  b.id = "b" + std::to_string(i);
  b.address = "127.0.0.1";
  b.port = static_cast<std::uint16_t>(9000 + i);
  b.region = std::move(region);
  b.weight = static_cast<std::uint32_t>(1 + i % 3);
  return b;
}

TEST(LoadBalancerConcurrencyTest, PicksRecordsAndControlCallsRace) {
  LoadBalancerOptions options;
  options.outlier_detection.consecutive_failures = 3;
  options.outlier_detection.base_ejection_time = milliseconds(5);
  options.panic_threshold = 0.5;
  options.exact_scan_limit = 4;
  options.geo_regions.resize(2);
  options.geo_regions[0].region_id = "eu";
  options.geo_regions[0].countries = {"IE"};
  options.geo_regions[1].region_id = "us";
  options.geo_regions[1].continents = {"NA"};
  options.geo_regions[1].latitude = 38.9;
  options.geo_regions[1].longitude = -77.0;
  auto prober = std::make_shared<testing::FakeProber>();
  auto geo = std::make_shared<testing::FakeGeoLocator>();
  geo->Set("1.1.1.1", "IE", "EU", 53.3, -6.2);
  geo->Set("2.2.2.2", "US", "NA");
  testing::ManualClock clock;
  LoadBalancerDependencies deps;
  deps.prober = prober;
  deps.clock = &clock;
  deps.random = MakeSeededRandom(7);
  deps.geo = geo;
  GlobalLoadBalancer lb(LoadBalancingStrategy::kRoundRobin, options, deps);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(lb.RegisterBackend(MakeBackend(i, i % 2 == 0 ? "eu" : "us")));
    prober->SetUp("127.0.0.1:" + std::to_string(9000 + i), microseconds(100));
  }

  constexpr int kWorkers = 3;
  constexpr int kPicksPerWorker = 4000;
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};  // control rounds done; workers overlap at least 30
  std::atomic<std::uint64_t> recorded{0};
  std::atomic<std::uint64_t> unexpected_errors{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      const std::string keys[] = {"/a", "/b", "/c", "/d"};
      const char* clients[] = {"1.1.1.1", "2.2.2.2", "9.9.9.9"};
      for (int i = 0; i < kPicksPerWorker || rounds.load() < 30; ++i) {
        RequestContext ctx;
        ctx.client_address = clients[i % 3];
        ctx.hash_key = keys[(i + w) % 4];
        auto picked = (i % 5 == 0) ? lb.PickOther(ctx, BackendHandle{}) : lb.Pick(ctx);
        if (!picked) {
          if (picked.error().code() != ErrorCode::kUnavailable) ++unexpected_errors;
          continue;
        }
        lb.IncrementConnections(*picked);
        // Backend 3 always fails, so it is ejected and returns again and again.
        const bool ok = picked->id() != "b3" && i % 17 != 0;
        lb.RecordRequest(*picked, microseconds(100 + (i % 50) * 10), ok);
        ++recorded;
        lb.DecrementConnections(*picked);
        if (i % 100 == 0) {
          (void)lb.RecordRequest("b1", microseconds(200), true);
          ++recorded;
        }
      }
    });
  }
  std::thread control([&] {
    const LoadBalancingStrategy strategies[] = {
        LoadBalancingStrategy::kRoundRobin, LoadBalancingStrategy::kLeastConnections,
        LoadBalancingStrategy::kLatencyBased, LoadBalancingStrategy::kGeoLocation,
        LoadBalancingStrategy::kConsistentHash};
    int round = 0;
    int next_id = 100;
    while (!stop.load()) {
      lb.SetStrategy(strategies[round % 5]);
      const std::string id = "b" + std::to_string(round % 8);
      (void)lb.DeactivateBackend(id);
      if (round % 3 == 0) prober->SetDown("127.0.0.1:" + std::to_string(9000 + round % 8));
      (void)lb.PerformHealthCheck();
      clock.Advance(milliseconds(2));
      (void)lb.ActivateBackend(id);
      prober->SetUp("127.0.0.1:" + std::to_string(9000 + round % 8), microseconds(100));
      if (round % 10 == 0 && next_id < 120) {
        (void)lb.RegisterBackend(MakeBackend(next_id++, "us"));
      }
      (void)lb.GetStats();
      (void)lb.GetAllMetrics();
      (void)lb.ListBackends();
      ++round;
      rounds.store(round);
      std::this_thread::yield();
    }
  });
  for (auto& t : workers) t.join();
  stop = true;
  control.join();

  EXPECT_EQ(unexpected_errors.load(), 0U);
  std::uint64_t total = 0;
  for (const auto& [id, m] : lb.GetAllMetrics()) {
    EXPECT_EQ(m.connections, 0U) << id;  // every increment was matched
    total += m.total_requests;
  }
  EXPECT_EQ(total, recorded.load());
  EXPECT_GT(lb.GetBackendMetrics("b3")->ejections, 0U);
}

TEST(LoadBalancerConcurrencyTest, RoundRobinStaysExactAcrossThreads) {
  LoadBalancerOptions options;
  LoadBalancerDependencies deps;
  deps.prober = std::make_shared<testing::FakeProber>();
  GlobalLoadBalancer lb(LoadBalancingStrategy::kRoundRobin, options, deps);
  constexpr int kBackends = 5;
  for (int i = 0; i < kBackends; ++i) {
    Backend b = MakeBackend(i, "eu");
    b.weight = 1;
    ASSERT_TRUE(lb.RegisterBackend(b));
  }
  constexpr int kThreads = 4;
  constexpr int kPicks = 5000;
  std::vector<std::map<std::string, int>> counts(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPicks; ++i) {
        auto picked = lb.Pick({});
        if (picked) ++counts[static_cast<std::size_t>(t)][picked->id()];
      }
    });
  }
  for (auto& t : threads) t.join();
  std::map<std::string, int> total;
  for (const auto& c : counts) {
    for (const auto& [id, n] : c) total[id] += n;
  }
  // One shared cursor: every slot of the schedule is handed out exactly once.
  for (const auto& [id, n] : total) EXPECT_EQ(n, kThreads * kPicks / kBackends) << id;
}

}  // namespace
}  // namespace streamgate::scaling
