// Many threads reading, writing and sweeping at once: run under ThreadSanitizer in CI.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "streamgate/scaling/region.hpp"
#include "support/fake_prober.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::scaling {
namespace {

using std::chrono::milliseconds;

TEST(RegionManagerConcurrencyTest, ReadsWritesAndSweepsInParallel) {
  auto prober = std::make_shared<testing::FakeProber>();
  testing::ManualClock clock;
  HealthCheckOptions options;
  options.fall = 1;
  options.rise = 1;
  MultiRegionManager manager(options, prober, clock);
  std::atomic<int> primary_changes{0};
  manager.SetEventListener([&](const RegionEvent& e) {
    if (e.kind == RegionEvent::Kind::kPrimaryChanged) ++primary_changes;
  });
  constexpr int kRegions = 16;
  for (int i = 0; i < kRegions; ++i) {
    Region r;
    r.id = "r" + std::to_string(i);
    r.endpoint = "http://127.0.0.1:" + std::to_string(10000 + i);
    ASSERT_TRUE(manager.RegisterRegion(r));
    prober->SetUp("127.0.0.1:" + std::to_string(10000 + i), milliseconds(i + 1));
  }

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {  // sweeper, flapping the primary's origin
    for (int i = 0; i < 200; ++i) {
      if (i % 2 == 0) {
        prober->SetDown("127.0.0.1:10000");
      } else {
        prober->SetUp("127.0.0.1:10000", milliseconds(1));
      }
      ASSERT_TRUE(manager.PerformHealthCheck());
      clock.Advance(milliseconds(100));
    }
    stop = true;
  });
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      // At least 500 rounds each: on a loaded machine the sweeper may finish before a reader
      // is first scheduled.
      int i = 0;
      while (!stop || i < 500) {
        const std::string id = "r" + std::to_string((i++ + t) % kRegions);
        ASSERT_TRUE(manager.RecordRequest(id, milliseconds(2), i % 7 != 0));
        (void)manager.GetActiveRegions();
        (void)manager.GetPrimaryRegion();
        (void)manager.GetAllMetrics();
        (void)manager.ShouldHealthCheck();
        if (i % 50 == 0) {
          (void)manager.DeactivateRegion(id);
          (void)manager.ActivateRegion(id);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(manager.GetRegionCount(), static_cast<std::size_t>(kRegions));
  EXPECT_EQ(manager.GetStats().health_check_sweeps, 200u);
  EXPECT_GT(primary_changes.load(), 0);
  auto primary = manager.GetPrimaryRegion();
  ASSERT_TRUE(primary);
  std::uint64_t total = 0;
  for (const auto& [id, m] : manager.GetAllMetrics()) total += m.total_requests;
  EXPECT_GT(total, 0u);
}

TEST(RegionManagerConcurrencyTest, ConcurrentSweepsRunOneAfterTheOther) {
  auto prober = std::make_shared<testing::FakeProber>();
  testing::ManualClock clock;
  MultiRegionManager manager(HealthCheckOptions{}, prober, clock);
  Region r;
  r.id = "a";
  r.endpoint = "tcp://127.0.0.1:1";
  ASSERT_TRUE(manager.RegisterRegion(r));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) ASSERT_TRUE(manager.PerformHealthCheck());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(manager.GetStats().health_check_sweeps, 200u);
  EXPECT_EQ(manager.GetRegionMetrics("a")->health_checks, 200u);
  EXPECT_EQ(prober->sweeps(), 200);
}

// Config reload racing sweeps and the data plane: regions removed, registered again and
// re-pointed while sweeps probe them and readers record requests.
TEST(RegionManagerConcurrencyTest, UpdatesAndRemovalsRaceSweeps) {
  auto prober = std::make_shared<testing::FakeProber>();
  testing::ManualClock clock;
  HealthCheckOptions options;
  options.fall = 1;
  options.rise = 1;
  MultiRegionManager manager(options, prober, clock);
  std::atomic<int> events{0};
  manager.SetEventListener([&](const RegionEvent&) { ++events; });
  constexpr int kRegions = 8;
  auto make = [](int i, int port) {
    Region r;
    r.id = "r" + std::to_string(i);
    r.endpoint = "http://127.0.0.1:" + std::to_string(port);
    r.priority = i;
    return r;
  };
  for (int i = 0; i < kRegions; ++i) {
    ASSERT_TRUE(manager.RegisterRegion(make(i, 10000 + i)));
    prober->SetUp("127.0.0.1:" + std::to_string(10000 + i), milliseconds(i + 1));
    prober->SetUp("127.0.0.1:" + std::to_string(11000 + i), milliseconds(i + 2));
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {  // sweeper
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(manager.PerformHealthCheck());
      clock.Advance(milliseconds(100));
    }
    stop = true;
  });
  threads.emplace_back([&] {  // reloads
    int round = 0;
    while (!stop || round < 200) {
      const int i = round % kRegions;
      const std::string id = "r" + std::to_string(i);
      if (round % 3 == 0) {
        ASSERT_TRUE(manager.RemoveRegion(id));
        ASSERT_TRUE(manager.RegisterRegion(make(i, 10000 + i)));
      } else {
        Region r = make(i, (round % 2 == 0 ? 10000 : 11000) + i);
        r.active = round % 7 != 0;
        ASSERT_TRUE(manager.UpdateRegion(r));
      }
      ++round;
    }
  });
  threads.emplace_back([&] {  // data plane and readers; regions may be gone for an instant
    int i = 0;
    while (!stop || i < 500) {
      const std::string id = "r" + std::to_string(i++ % kRegions);
      auto recorded = manager.RecordRequest(id, milliseconds(2), i % 5 != 0);
      if (!recorded) {
        ASSERT_EQ(recorded.error().code(), ErrorCode::kNotFound);
      }
      (void)manager.GetPrimaryRegion();
      (void)manager.GetAllMetrics();
      (void)manager.ListRegions();
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(manager.GetRegionCount(), static_cast<std::size_t>(kRegions));
  EXPECT_GT(events.load(), 0);
  // Every region is back, so there is a primary again after a sweep.
  for (int i = 0; i < kRegions; ++i) {
    Region r = make(i, 10000 + i);
    ASSERT_TRUE(manager.UpdateRegion(r));
  }
  ASSERT_TRUE(manager.PerformHealthCheck());
  EXPECT_TRUE(manager.GetPrimaryRegion().has_value());
}

}  // namespace
}  // namespace streamgate::scaling
