// Config reload of backup plans (UpdatePlan, RemovePlan, CreatePlan again) racing backups,
// copies, restores, recovery tests and retention from other threads. Runs under TSan in CI.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "streamgate/scaling/disaster_recovery.hpp"
#include "support/fake_backup_engine.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::scaling {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(DisasterRecoveryReloadConcurrencyTest, ReloadsRaceOperations) {
  const fs::path dir =
      fs::temp_directory_path() / ("sg-dr-reload-concurrency-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "source");
  testing::ManualClock clock;
  auto engine = std::make_shared<testing::FakeBackupEngine>(clock);
  // A small point limit, so retention deletes across plans while they are reloaded.
  DisasterRecoveryManager manager(
      6, DisasterRecoveryDependencies{engine, &clock, (dir / "scratch").string()});
  constexpr int kPlans = 3;
  auto plan_of = [&](int i, int variant) {
    DisasterRecoveryPlan plan;
    plan.id = "plan-" + std::to_string(i);
    plan.strategy = BackupStrategy::kFull;
    plan.sources = {(dir / "source").string()};
    plan.repository = (dir / ("repo-" + std::to_string(i))).string();
    plan.primary_region = "us";
    plan.secondary_region = "eu";
    plan.rpo = std::chrono::minutes(30 + variant % 7);
    // Every other variant moves the secondary, so UpdatePlan re-adopts points.
    if (variant % 2 == 0) {
      plan.secondary_repository =
          (dir / ("copy-" + std::to_string(i) + "-" + std::to_string(variant % 4))).string();
    }
    return plan;
  };
  for (int i = 0; i < kPlans; ++i) ASSERT_TRUE(manager.CreatePlan(plan_of(i, 0)).has_value());

  std::atomic<bool> stop{false};
  std::atomic<int> unexpected{0};
  std::atomic<int> backups{0};
  std::atomic<int> reloads{0};  // updates and removals applied
  // Errors a concurrent reload may cause; anything else is a bug.
  auto expected = [](const Error& e) {
    return e.code() == ErrorCode::kFailedPrecondition || e.code() == ErrorCode::kNotFound ||
           e.code() == ErrorCode::kAlreadyExists;
  };
  auto check = [&](const auto& result) {
    if (!result && !expected(result.error())) ++unexpected;
  };
  std::vector<std::thread> threads;
  threads.emplace_back([&] {  // the scheduler: backups, copies, tests
    for (int round = 0; round < 300; ++round) {
      const std::string id = "plan-" + std::to_string(round % kPlans);
      auto point = manager.CreateRecoveryPoint(id);
      check(point);
      if (point) ++backups;
      if (manager.ShouldCopy(id)) check(manager.CopyToSecondary(id));
      if (round % 5 == 0) check(manager.TestRecovery(id));
      clock.Advance(1min);
    }
    stop = true;
  });
  threads.emplace_back([&] {  // an operator restoring and deleting points
    int round = 0;
    while (!stop.load() || round < 100) {
      const std::string id = "plan-" + std::to_string(round % kPlans);
      const auto points = manager.ListRecoveryPoints(id);
      if (!points.empty()) {
        const fs::path target = dir / ("restore-" + std::to_string(round % 4));
        check(manager.InitiateRecovery(points.back().id, target.string()));
        if (round % 9 == 0) check(manager.DeleteRecoveryPoint(points.front().id));
      }
      (void)manager.GetRecoveryStats();
      (void)manager.ShouldBackup(id);
      ++round;
    }
  });
  threads.emplace_back([&] {  // config reloads
    int round = 0;
    while (!stop.load() || round < 100) {
      const int i = round % kPlans;
      if (round % 5 == 4) {
        auto removed = manager.RemovePlan("plan-" + std::to_string(i));
        check(removed);
        if (removed) {
          ++reloads;
          // Re-created from its repositories, as a reload that dropped and re-added it.
          if (!manager.CreatePlan(plan_of(i, round))) ++unexpected;
        }
      } else {
        auto updated = manager.UpdatePlan(plan_of(i, round));
        check(updated);
        if (updated) ++reloads;
      }
      ++round;
      std::this_thread::yield();
    }
  });
  for (auto& t : threads) t.join();

  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_GT(backups.load(), 0);
  EXPECT_GT(reloads.load(), 0);
  EXPECT_EQ(manager.GetPlanCount(), static_cast<std::size_t>(kPlans));
  // Whatever the interleaving, every plan can be reloaded and backed up once things are quiet.
  for (int i = 0; i < kPlans; ++i) {
    ASSERT_TRUE(manager.UpdatePlan(plan_of(i, 1)).has_value());
    auto point = manager.CreateRecoveryPoint("plan-" + std::to_string(i));
    ASSERT_TRUE(point.has_value()) << point.error().ToString();
  }
  std::set<std::string> ids;
  for (int i = 0; i < kPlans; ++i) {
    for (const auto& point : manager.ListRecoveryPoints("plan-" + std::to_string(i))) {
      EXPECT_TRUE(ids.insert(point.id).second) << point.id << " listed twice";
    }
  }
  EXPECT_LE(manager.GetRecoveryPointCount(), 6u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace streamgate::scaling
