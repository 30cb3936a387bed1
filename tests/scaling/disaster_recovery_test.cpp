#include "streamgate/scaling/disaster_recovery.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "support/manual_clock.hpp"

namespace streamgate::scaling {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A temp directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("sg-dr-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

void WriteFile(const fs::path& path, std::string_view content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Records calls; points get ids p1, p2, ... with the clock's time.
class FakeEngine final : public BackupEngine {
 public:
  explicit FakeEngine(const Clock& clock) : clock_(clock) {}

  Result<BackupOutcome> Backup(const DisasterRecoveryPlan& plan) override {
    if (fail_backup) return MakeError(ErrorCode::kIo, "disk full");
    BackupOutcome outcome;
    outcome.point_id = "p" + std::to_string(++next_);
    outcome.performed = plan.strategy;
    outcome.created_at = clock_.WallNow();
    outcome.logical_bytes = 1000;
    outcome.stored_bytes = 100;
    outcome.file_count = 3;
    stored[plan.id].push_back(outcome);
    return outcome;
  }
  Result<std::vector<BackupOutcome>> ListPoints(const DisasterRecoveryPlan& plan) override {
    return stored[plan.id];
  }
  Result<RestoreReport> Restore(const DisasterRecoveryPlan&, const std::string& point_id,
                                const std::string& target) override {
    restores.push_back(point_id + "->" + target);
    fs::create_directories(target);
    return RestoreReport{point_id, target, 3, 1000, 5ms};
  }
  Result<VerifyOutcome> Verify(const DisasterRecoveryPlan&, const std::string&,
                               const std::string&) override {
    VerifyOutcome outcome{3, 1000, {}};
    if (verify_mismatch) outcome.mismatches.push_back("data/a: content differs");
    return outcome;
  }
  Status DeletePoints(const DisasterRecoveryPlan& plan,
                      const std::vector<std::string>& ids) override {
    for (const auto& id : ids) {
      deleted.push_back(id);
      std::erase_if(stored[plan.id], [&](const BackupOutcome& o) { return o.point_id == id; });
    }
    return {};
  }

  bool fail_backup = false;
  bool verify_mismatch = false;
  std::vector<std::string> restores;
  std::vector<std::string> deleted;
  std::map<std::string, std::vector<BackupOutcome>> stored;

 private:
  const Clock& clock_;
  int next_ = 0;
};

class DisasterRecoveryManagerTest : public ::testing::Test {
 protected:
  DisasterRecoveryManagerTest()
      : engine_(std::make_shared<FakeEngine>(clock_)),
        manager_(5, DisasterRecoveryDependencies{engine_, &clock_, scratch_.path().string()}) {
    WriteFile(source_.path() / "a.txt", "a");
  }

  DisasterRecoveryPlan Plan(std::string id = "plan-1") {
    DisasterRecoveryPlan plan;
    plan.id = std::move(id);
    plan.name = "Primary Backup";
    plan.strategy = BackupStrategy::kFull;
    plan.backup_interval = 24h;
    plan.retention_days = 30;
    plan.rpo = 60min;
    plan.rto = 120min;
    plan.primary_region = "us-east-1";
    plan.secondary_region = "eu-west-1";
    plan.sources = {source_.path().string()};
    plan.repository = (repo_.path() / "repo").string();
    return plan;
  }

  testing::ManualClock clock_;
  TempDir source_;
  TempDir repo_;
  TempDir scratch_;
  std::shared_ptr<FakeEngine> engine_;
  DisasterRecoveryManager manager_;
};

TEST_F(DisasterRecoveryManagerTest, PlansAreValidatedCreatedListedAndToggled) {
  ASSERT_TRUE(manager_.CreatePlan(Plan()).has_value());
  EXPECT_EQ(manager_.CreatePlan(Plan()).error().code(), ErrorCode::kAlreadyExists);
  auto bad = [&](auto mutate) {
    DisasterRecoveryPlan plan = Plan("bad");
    mutate(plan);
    auto status = manager_.CreatePlan(plan);
    return status ? std::string("accepted") : status.error().message();
  };
  EXPECT_EQ(bad([](auto& p) { p.id.clear(); }), "plan id must not be empty");
  EXPECT_NE(bad([](auto& p) { p.backup_interval = 0s; }).find("interval"), std::string::npos);
  EXPECT_NE(bad([](auto& p) { p.rpo = -1min; }).find("RPO"), std::string::npos);
  EXPECT_NE(bad([](auto& p) { p.rto = 0min; }).find("RTO"), std::string::npos);
  EXPECT_NE(bad([](auto& p) { p.retention_days = 0; }).find("retention"), std::string::npos);
  EXPECT_NE(bad([](auto& p) { p.sources.clear(); }).find("source"), std::string::npos);
  EXPECT_NE(bad([](auto& p) { p.sources = {"/nonexistent/sg"}; }).find("does not exist"),
            std::string::npos);
  EXPECT_NE(bad([](auto& p) { p.repository.clear(); }).find("repository"), std::string::npos);
  EXPECT_EQ(ParseBackupStrategy("weekly").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseBackupStrategy("differential").value(), BackupStrategy::kDifferential);

  EXPECT_EQ(manager_.GetPlanCount(), 1u);
  EXPECT_EQ(manager_.GetPlan("plan-1")->secondary_region, "eu-west-1");
  EXPECT_EQ(manager_.GetPlan("nope").error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(manager_.DeactivatePlan("plan-1").has_value());
  EXPECT_FALSE(manager_.GetPlan("plan-1")->active);
  EXPECT_FALSE(manager_.ShouldBackup("plan-1"));
  ASSERT_TRUE(manager_.ActivatePlan("plan-1").has_value());
  EXPECT_TRUE(manager_.ShouldBackup("plan-1"));
  EXPECT_EQ(manager_.ActivatePlan("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(manager_.ListPlans().size(), 1u);
}

TEST_F(DisasterRecoveryManagerTest, ShouldBackupFollowsTheIntervalAndTheRpo) {
  DisasterRecoveryPlan plan = Plan();
  plan.backup_interval = 6h;
  plan.rpo = 30min;
  ASSERT_TRUE(manager_.CreatePlan(plan).has_value());
  EXPECT_TRUE(manager_.ShouldBackup("plan-1"));  // no point yet
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  EXPECT_FALSE(manager_.ShouldBackup("plan-1"));
  clock_.Advance(29min);
  EXPECT_FALSE(manager_.ShouldBackup("plan-1"));
  clock_.Advance(1min);  // the RPO, shorter than the interval, decides
  EXPECT_TRUE(manager_.ShouldBackup("plan-1"));
  EXPECT_FALSE(manager_.ShouldBackup("unknown"));
}

TEST_F(DisasterRecoveryManagerTest, RecoveryPointsAreCreatedFetchedListedAndDeleted) {
  ASSERT_TRUE(manager_.CreatePlan(Plan()).has_value());
  auto point = manager_.CreateRecoveryPoint("plan-1");
  ASSERT_TRUE(point.has_value());
  EXPECT_EQ(point->plan_id, "plan-1");
  EXPECT_EQ(point->logical_size, 1000u);
  EXPECT_EQ(point->stored_size, 100u);
  EXPECT_EQ(manager_.GetRecoveryPoint(point->id)->file_count, 3u);
  EXPECT_EQ(manager_.CreateRecoveryPoint("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(manager_.ListRecoveryPoints("plan-1").size(), 1u);
  EXPECT_EQ(manager_.GetTotalBackupSize(), 100u);
  ASSERT_TRUE(manager_.DeleteRecoveryPoint(point->id).has_value());
  EXPECT_EQ(engine_->deleted, std::vector<std::string>{point->id});
  EXPECT_EQ(manager_.GetRecoveryPointCount(), 0u);
  EXPECT_EQ(manager_.DeleteRecoveryPoint(point->id).error().code(), ErrorCode::kNotFound);
  engine_->fail_backup = true;
  EXPECT_EQ(manager_.CreateRecoveryPoint("plan-1").error().code(), ErrorCode::kIo);
  EXPECT_EQ(manager_.GetRecoveryStats().backups_failed, 1u);
}

TEST_F(DisasterRecoveryManagerTest, ExternalArtifactsMustExistWithTheirSizeAndAreHashed) {
  ASSERT_TRUE(manager_.CreatePlan(Plan()).has_value());
  const fs::path artifact = source_.path() / "dump.sql";
  WriteFile(artifact, "abc");
  EXPECT_EQ(manager_.CreateRecoveryPoint("plan-1", 4, artifact.string()).error().code(),
            ErrorCode::kCorrupted);
  EXPECT_EQ(manager_.CreateRecoveryPoint("plan-1", 3, "/nonexistent/x").error().code(),
            ErrorCode::kNotFound);
  auto point = manager_.CreateRecoveryPoint("plan-1", 3, artifact.string());
  ASSERT_TRUE(point.has_value());
  EXPECT_EQ(point->status, "external");
  EXPECT_EQ(point->sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // A recovery test re-hashes it; a changed artifact fails the test.
  EXPECT_TRUE(manager_.TestRecovery("plan-1")->passed);
  WriteFile(artifact, "abd");
  const auto failed = manager_.TestRecovery("plan-1");
  EXPECT_FALSE(failed->passed);
  EXPECT_NE(failed->message.find("SHA-256"), std::string::npos);
}

TEST_F(DisasterRecoveryManagerTest, RetentionDropsOldAndSurplusPointsButNeverTheNewest) {
  DisasterRecoveryPlan plan = Plan();
  plan.retention_days = 2;
  ASSERT_TRUE(manager_.CreatePlan(plan).has_value());
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());  // p1
  clock_.Advance(72h);
  // p1 is now 3 days old: the next backup's retention removes it.
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());  // p2
  EXPECT_EQ(engine_->deleted, std::vector<std::string>{"p1"});
  // Alone and old, the newest point stays.
  clock_.Advance(72h);
  ASSERT_TRUE(manager_.DeactivatePlan("plan-1").has_value());
  DisasterRecoveryPlan other = Plan("plan-2");
  ASSERT_TRUE(manager_.CreatePlan(other).has_value());
  for (int i = 0; i < 6; ++i) {
    clock_.Advance(1min);
    ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-2").has_value());
  }
  // Max 5 points over all plans: plan-1 keeps p2 (its newest), plan-2 its 4 newest.
  EXPECT_EQ(manager_.GetRecoveryPointCount(), 5u);
  EXPECT_EQ(manager_.ListRecoveryPoints("plan-1").size(), 1u);
  EXPECT_EQ(manager_.ListRecoveryPoints("plan-2").front().id, "p5");
  EXPECT_EQ(manager_.GetRecoveryStats().points_deleted_by_retention, 3u);
}

TEST_F(DisasterRecoveryManagerTest, TestRecoveryReportsRtoAndRpoAndKeepsResults) {
  ASSERT_TRUE(manager_.CreatePlan(Plan()).has_value());
  auto none = manager_.TestRecovery("plan-1");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->passed);
  EXPECT_EQ(manager_.TestRecovery("nope").error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  clock_.Advance(90min);
  auto result = manager_.TestRecovery("plan-1");
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->passed) << result->message;
  EXPECT_TRUE(result->rto_met);
  EXPECT_EQ(result->point_age, 90min);
  EXPECT_FALSE(result->rpo_met);  // 90 minutes old against a 60-minute RPO
  ASSERT_EQ(engine_->restores.size(), 1u);
  EXPECT_EQ(engine_->restores[0].find("p1->" + scratch_.path().string()), 0u);
  EXPECT_TRUE(fs::is_empty(scratch_.path()));  // the scratch restore is removed
  engine_->verify_mismatch = true;
  EXPECT_FALSE(manager_.TestRecovery("plan-1")->passed);
  EXPECT_EQ(manager_.GetTestResults("plan-1").size(), 3u);
  const RecoveryStats stats = manager_.GetRecoveryStats();
  EXPECT_EQ(stats.tests_run, 3u);
  EXPECT_EQ(stats.tests_passed, 1u);
  ASSERT_EQ(stats.per_plan.size(), 1u);
  EXPECT_FALSE(stats.per_plan[0].last_test->passed);
}

TEST_F(DisasterRecoveryManagerTest, ARecreatedPlanAdoptsThePointsItsRepositoryHolds) {
  ASSERT_TRUE(manager_.CreatePlan(Plan()).has_value());
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  DisasterRecoveryManager restarted(5, DisasterRecoveryDependencies{engine_, &clock_, ""});
  ASSERT_TRUE(restarted.CreatePlan(Plan()).has_value());
  EXPECT_EQ(restarted.ListRecoveryPoints("plan-1").size(), 1u);
  EXPECT_EQ(restarted.InitiateRecovery("p1", "").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(restarted.InitiateRecovery("zz", "/tmp/x").error().code(), ErrorCode::kNotFound);
}

// The manager on the real repository engine: backups that restore byte for byte.
class DisasterRecoveryEngineTest : public ::testing::Test {
 protected:
  TempDir source_;
  TempDir repo_;
  TempDir target_;
};

TEST_F(DisasterRecoveryEngineTest, FullThenIncrementalRestoreByteIdenticalAndTestsPass) {
  std::mt19937 random(7);
  std::string big(3 << 20, '\0');
  for (char& c : big) c = static_cast<char>(random());
  WriteFile(source_.path() / "data" / "segment.bin", big);
  WriteFile(source_.path() / "data" / "log.txt", "line one\n");
  fs::create_directories(source_.path() / "empty");

  DisasterRecoveryManager manager(
      10, DisasterRecoveryDependencies{MakeRepositoryBackupEngine(RealClock()), nullptr,
                                       target_.path().string()});
  DisasterRecoveryPlan plan;
  plan.id = "files";
  plan.strategy = BackupStrategy::kIncremental;
  plan.sources = {source_.path().string()};
  plan.repository = (repo_.path() / "repo").string();
  ASSERT_TRUE(manager.CreatePlan(plan).has_value());
  auto first = manager.CreateRecoveryPoint("files");
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(first->strategy, BackupStrategy::kFull);  // a first incremental is a full
  EXPECT_GE(first->logical_size, big.size());

  WriteFile(source_.path() / "data" / "log.txt", "line one\nline two\n");
  auto second = manager.CreateRecoveryPoint("files");
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(second->strategy, BackupStrategy::kIncremental);
  EXPECT_LT(second->stored_size, first->stored_size / 10);  // only the change was stored

  const fs::path restore = target_.path() / "restore";
  auto report = manager.InitiateRecovery(second->id, restore.string());
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  const fs::path root = restore / source_.path().filename();
  EXPECT_EQ(ReadFile(root / "data" / "segment.bin"), big);
  EXPECT_EQ(ReadFile(root / "data" / "log.txt"), "line one\nline two\n");
  EXPECT_TRUE(fs::is_directory(root / "empty"));
  // The older point still restores on its own.
  const fs::path older = target_.path() / "older";
  ASSERT_TRUE(manager.InitiateRecovery(first->id, older.string()).has_value());
  EXPECT_EQ(ReadFile(older / source_.path().filename() / "data" / "log.txt"), "line one\n");

  auto test = manager.TestRecovery("files");
  ASSERT_TRUE(test.has_value());
  EXPECT_TRUE(test->passed) << test->message;
  EXPECT_TRUE(test->rto_met);
  EXPECT_GE(test->bytes_verified, big.size());

  // Deleting the first point keeps everything the second needs.
  ASSERT_TRUE(manager.DeleteRecoveryPoint(first->id).has_value());
  const fs::path after = target_.path() / "after";
  ASSERT_TRUE(manager.InitiateRecovery(second->id, after.string()).has_value());
  EXPECT_EQ(ReadFile(after / source_.path().filename() / "data" / "segment.bin"), big);
}

}  // namespace
}  // namespace streamgate::scaling
