// Config reload racing the data plane: UpdateBackend and RemoveBackend (and re-registration)
// while several threads pick, count connections and record requests through their handles.
// Runs under TSan in CI (the "concurrency" label).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "streamgate/scaling/load_balancer.hpp"
#include "support/fake_prober.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::scaling {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

Backend MakeBackend(const std::string& id, int port, std::uint32_t weight = 1) {
  Backend b;
  b.id = id;
  b.address = "127.0.0.1";
  b.port = static_cast<std::uint16_t>(port);
  b.region = "eu";
  b.weight = weight;
  return b;
}

TEST(LoadBalancerReloadConcurrencyTest, UpdatesAndRemovalsRacePicksAndCounters) {
  LoadBalancerOptions options;
  options.outlier_detection.consecutive_failures = 3;
  options.outlier_detection.base_ejection_time = milliseconds(5);
  options.panic_threshold = 0.3;
  options.exact_scan_limit = 4;
  auto prober = std::make_shared<testing::FakeProber>();
  testing::ManualClock clock;
  LoadBalancerDependencies deps;
  deps.prober = prober;
  deps.clock = &clock;
  deps.random = MakeSeededRandom(11);
  GlobalLoadBalancer lb(LoadBalancingStrategy::kLeastConnections, options, deps);
  // s*: updated again and again, never removed; v*: removed and registered again.
  constexpr std::array<const char*, 4> kStable = {"s0", "s1", "s2", "s3"};
  constexpr std::array<const char*, 4> kVolatile = {"v0", "v1", "v2", "v3"};
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(lb.RegisterBackend(MakeBackend(kStable[i], 9000 + i)));
    ASSERT_TRUE(lb.RegisterBackend(MakeBackend(kVolatile[i], 9100 + i)));
  }
  for (int port = 9000; port < 9300; ++port) {
    prober->SetUp("127.0.0.1:" + std::to_string(port), microseconds(100));
  }

  constexpr int kWorkers = 3;
  constexpr int kPicksPerWorker = 4000;
  constexpr int kMinRounds = 40;
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  std::atomic<std::uint64_t> unexpected_errors{0};
  // Requests recorded on the stable backends, by handle or id: their totals must match exactly.
  std::atomic<std::uint64_t> stable_recorded{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; i < kPicksPerWorker || rounds.load() < kMinRounds; ++i) {
        auto picked = (i % 7 == 0) ? lb.PickOther({}, BackendHandle{}) : lb.Pick({});
        if (!picked) {
          if (picked.error().code() != ErrorCode::kUnavailable) ++unexpected_errors;
          continue;
        }
        lb.IncrementConnections(*picked);
        // Keep the request "in flight" across a few more picks so updates land in between.
        if (i % 3 == 0) std::this_thread::yield();
        const std::string& id = picked->id();
        // s3 always fails, so it is ejected and returns across its updates.
        const bool ok = id != "s3" && (i + w) % 19 != 0;
        lb.RecordRequest(*picked, microseconds(100 + (i % 40) * 10), ok);
        if (id.front() == 's') ++stable_recorded;
        lb.DecrementConnections(*picked);
        if (i % 50 == 0) {
          if (!lb.RecordRequest(kStable[static_cast<std::size_t>(i / 50) % 4], microseconds(300),
                                true)) {
            ++unexpected_errors;
          }
          ++stable_recorded;
          (void)lb.GetBackendMetrics("v1");
        }
      }
    });
  }
  std::thread control([&] {
    int round = 0;
    while (!stop.load()) {
      const auto k = static_cast<std::size_t>(round % 4);
      // A stable backend gets a new weight, and every other round a new port (new target).
      const int port = 9000 + static_cast<int>(k) + ((round / 4) % 2 == 0 ? 0 : 200);
      if (!lb.UpdateBackend(
              MakeBackend(kStable[k], port, static_cast<std::uint32_t>(1 + round % 3)))) {
        ++unexpected_errors;
      }
      // A volatile one leaves, another one changes, and the first comes back.
      if (!lb.RemoveBackend(kVolatile[k])) ++unexpected_errors;
      const auto other = static_cast<std::size_t>((round + 1) % 4);
      Backend changed = MakeBackend(kVolatile[other], 9100 + static_cast<int>(other), 2);
      changed.active = round % 5 != 0;
      if (!lb.UpdateBackend(changed)) ++unexpected_errors;
      if (round % 4 == 0) (void)lb.PerformHealthCheck();
      if (round % 6 == 0) {
        lb.SetStrategy(round % 12 == 0 ? LoadBalancingStrategy::kLatencyBased
                                       : LoadBalancingStrategy::kLeastConnections);
      }
      clock.Advance(milliseconds(2));
      if (!lb.RegisterBackend(MakeBackend(kVolatile[k], 9100 + static_cast<int>(k)))) {
        ++unexpected_errors;
      }
      (void)lb.GetStats();
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
  EXPECT_GE(rounds.load(), kMinRounds);
  std::uint64_t stable_total = 0;
  for (const auto& [id, m] : lb.GetAllMetrics()) {
    // Every increment was matched by a decrement through the same handle, whichever entry it
    // pointed at: least_conn's counts end at zero.
    EXPECT_EQ(m.connections, 0U) << id;
    if (id.front() == 's') stable_total += m.total_requests;
  }
  // Counters carried across every update: nothing recorded on a stable backend is lost.
  EXPECT_EQ(stable_total, stable_recorded.load());
  EXPECT_GT(lb.GetBackendMetrics("s3")->ejections, 0U);
  auto stats = lb.GetStats();
  EXPECT_EQ(stats.backends, 8U);
  EXPECT_EQ(lb.ListBackends().size(), 8U);
}

}  // namespace
}  // namespace streamgate::scaling
