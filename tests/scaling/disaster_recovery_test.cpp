#include "streamgate/scaling/disaster_recovery.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "support/fake_backup_engine.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::scaling {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::FakeBackupEngine;
using Role = RepositoryRole;

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

class DisasterRecoveryManagerTest : public ::testing::Test {
 protected:
  DisasterRecoveryManagerTest()
      : engine_(std::make_shared<FakeBackupEngine>(clock_)),
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
  std::shared_ptr<FakeBackupEngine> engine_;
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
  EXPECT_EQ(engine_->deleted(Role::kPrimary), std::vector<std::string>{point->id});
  EXPECT_EQ(manager_.GetRecoveryPointCount(), 0u);
  EXPECT_EQ(manager_.DeleteRecoveryPoint(point->id).error().code(), ErrorCode::kNotFound);
  engine_->FailBackups(Error(ErrorCode::kIo, "disk full"));
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
  EXPECT_EQ(engine_->deleted(Role::kPrimary), std::vector<std::string>{"p1"});
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
  ASSERT_EQ(engine_->restores().size(), 1u);
  EXPECT_EQ(engine_->restores()[0].find("primary:p1->" + scratch_.path().string()), 0u);
  EXPECT_TRUE(fs::is_empty(scratch_.path()));  // the scratch restore is removed
  engine_->SetVerifyMismatch(true);
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

// ---- secondary region ------------------------------------------------------------------------

class DisasterRecoverySecondaryTest : public DisasterRecoveryManagerTest {
 protected:
  DisasterRecoveryPlan PlanWithSecondary(std::string id = "plan-1") {
    DisasterRecoveryPlan plan = Plan(std::move(id));
    plan.secondary_repository = (repo_.path() / "copy").string();
    return plan;
  }
};

TEST_F(DisasterRecoverySecondaryTest, RolesAndSourcesParse) {
  EXPECT_EQ(ParseRepositoryRole("secondary").value(), RepositoryRole::kSecondary);
  EXPECT_EQ(ToString(RepositoryRole::kPrimary), "primary");
  EXPECT_EQ(ParseRepositoryRole("tertiary").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseRecoverySource("auto").value(), RecoverySource::kAuto);
  EXPECT_EQ(ToString(RecoverySource::kSecondary), "secondary");
  EXPECT_NE(ParseRecoverySource("nearest").error().message().find("auto, primary or secondary"),
            std::string::npos);
  EXPECT_TRUE(IsRepositoryOutage(Error(ErrorCode::kUnavailable, "")));
  EXPECT_TRUE(IsRepositoryOutage(Error(ErrorCode::kNotFound, "")));
  EXPECT_FALSE(IsRepositoryOutage(Error(ErrorCode::kCorrupted, "")));
  EXPECT_FALSE(IsRepositoryOutage(Error(ErrorCode::kInvalidArgument, "")));
}

TEST_F(DisasterRecoverySecondaryTest, ASecondaryMustDifferFromThePrimaryAndNameItsRegion) {
  DisasterRecoveryPlan same = PlanWithSecondary();
  same.secondary_repository = same.repository + "/";
  EXPECT_EQ(manager_.CreatePlan(same).error().message(),
            "plan 'plan-1': secondary_repository must differ from repository");
  DisasterRecoveryPlan dotted = PlanWithSecondary();
  dotted.secondary_repository = (repo_.path() / "x" / ".." / "repo").string();
  EXPECT_EQ(manager_.CreatePlan(dotted).error().code(), ErrorCode::kInvalidArgument);
  DisasterRecoveryPlan regionless = PlanWithSecondary();
  regionless.secondary_region.clear();
  EXPECT_EQ(manager_.CreatePlan(regionless).error().message(),
            "plan 'plan-1': secondary_repository needs a secondary_region");
  DisasterRecoveryPlan urls = PlanWithSecondary();
  urls.repository = "s3://backups/rp-1";
  urls.secondary_repository = "s3://backups/rp-1/";
  EXPECT_EQ(manager_.CreatePlan(urls).error().code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(manager_.CreatePlan(PlanWithSecondary()).has_value());
  EXPECT_EQ(manager_.GetPlan("plan-1")->secondary_repository, (repo_.path() / "copy").string());
}

TEST_F(DisasterRecoverySecondaryTest, EachBackupIsCopiedAndPointsKnowTheirRegions) {
  ASSERT_TRUE(manager_.CreatePlan(PlanWithSecondary()).has_value());
  auto first = manager_.CreateRecoveryPoint("plan-1");
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->in_primary);
  EXPECT_TRUE(first->in_secondary);
  EXPECT_EQ(engine_->copies(), 1);
  EXPECT_EQ(engine_->point_ids("plan-1", Role::kSecondary), std::vector<std::string>{"p1"});
  clock_.Advance(10min);
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  EXPECT_EQ(engine_->copies(), 2);
  const RecoveryStats stats = manager_.GetRecoveryStats();
  EXPECT_EQ(stats.copies_succeeded, 2u);
  ASSERT_EQ(stats.per_plan.size(), 1u);
  const auto& plan = stats.per_plan[0];
  ASSERT_TRUE(plan.last_copy.has_value());
  EXPECT_EQ(plan.last_copy->points_copied, std::vector<std::string>{"p2"});  // only the new one
  EXPECT_EQ(plan.last_copy->chunks_sent, 10u);
  EXPECT_EQ(plan.last_copy->bytes_sent, 100u);
  EXPECT_EQ(plan.last_copy->duration, 7ms);
  EXPECT_EQ(plan.last_copy->finished_at, clock_.WallNow());
  EXPECT_TRUE(plan.last_copy_error.empty());
  ASSERT_TRUE(plan.secondary.has_value());
  EXPECT_EQ(plan.secondary->points, 2u);
  EXPECT_EQ(plan.secondary->region, "eu-west-1");
  EXPECT_EQ(plan.primary.region, "us-east-1");
  EXPECT_FALSE(manager_.ShouldCopy("plan-1"));  // everything is there

  // On demand, with nothing new: nothing sent.
  auto again = manager_.CopyToSecondary("plan-1");
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_TRUE(again->points_copied.empty());
  EXPECT_EQ(again->bytes_sent, 0u);
  EXPECT_EQ(again->plan_id, "plan-1");
  EXPECT_EQ(manager_.CopyToSecondary("nope").error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(manager_.CreatePlan(Plan("plain")).has_value());
  EXPECT_EQ(manager_.CopyToSecondary("plain").error().code(), ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plain").has_value());
  EXPECT_EQ(engine_->copies(), 3);  // a plan without a secondary is never copied
  EXPECT_FALSE(manager_.GetRecoveryStats().per_plan[0].secondary.has_value());  // "plain"
}

TEST_F(DisasterRecoverySecondaryTest, AFailedCopyIsRecordedAndTheNextCopySendsEverythingMissing) {
  ASSERT_TRUE(manager_.CreatePlan(PlanWithSecondary()).has_value());
  engine_->FailCopies(Error(ErrorCode::kUnavailable, "eu-west-1 unreachable"));
  auto point = manager_.CreateRecoveryPoint("plan-1");
  ASSERT_TRUE(point.has_value()) << "a failed copy must not fail the backup";
  EXPECT_FALSE(point->in_secondary);
  RecoveryStats stats = manager_.GetRecoveryStats();
  EXPECT_EQ(stats.backups_succeeded, 1u);
  EXPECT_EQ(stats.copies_failed, 1u);
  EXPECT_EQ(stats.per_plan[0].last_copy_error, "unavailable: eu-west-1 unreachable");
  EXPECT_EQ(stats.per_plan[0].last_copy_attempt, clock_.WallNow());
  EXPECT_FALSE(stats.per_plan[0].last_copy.has_value());
  EXPECT_EQ(stats.per_plan[0].secondary->points, 0u);
  // The scheduler may retry after a minute, not at once.
  EXPECT_FALSE(manager_.ShouldCopy("plan-1"));
  clock_.Advance(60s);
  EXPECT_TRUE(manager_.ShouldCopy("plan-1"));
  EXPECT_EQ(manager_.CopyToSecondary("plan-1").error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(manager_.GetRecoveryStats().per_plan[0].copies_failed, 2u);

  // The next backup's copy sends both points.
  engine_->FailCopies(std::nullopt);
  clock_.Advance(10min);
  auto second = manager_.CreateRecoveryPoint("plan-1");
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->in_secondary);
  stats = manager_.GetRecoveryStats();
  EXPECT_EQ(stats.per_plan[0].last_copy->points_copied, (std::vector<std::string>{"p1", "p2"}));
  EXPECT_TRUE(stats.per_plan[0].last_copy_error.empty());
  EXPECT_EQ(stats.per_plan[0].copies_succeeded, 1u);
  EXPECT_TRUE(manager_.GetRecoveryPoint("p1")->in_secondary);
  EXPECT_FALSE(manager_.ShouldCopy("plan-1"));
}

TEST_F(DisasterRecoverySecondaryTest, AutoRecoveryFallsBackWhenThePrimaryIsUnreachable) {
  ASSERT_TRUE(manager_.CreatePlan(PlanWithSecondary()).has_value());
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  const std::string target = (scratch_.path() / "restore").string();
  auto normal = manager_.InitiateRecovery("p1", target);
  ASSERT_TRUE(normal.has_value());
  EXPECT_EQ(normal->read_from, RepositoryRole::kPrimary);
  EXPECT_EQ(normal->region, "us-east-1");
  EXPECT_TRUE(normal->fallback_reason.empty());

  for (ErrorCode outage :
       {ErrorCode::kUnavailable, ErrorCode::kTimeout, ErrorCode::kIo, ErrorCode::kNotFound}) {
    engine_->FailRestores(Role::kPrimary, Error(outage, "us-east-1 is down"));
    auto report = manager_.InitiateRecovery("p1", target, RecoverySource::kAuto);
    ASSERT_TRUE(report.has_value()) << report.error().ToString();
    EXPECT_EQ(report->read_from, RepositoryRole::kSecondary);
    EXPECT_EQ(report->region, "eu-west-1");
    EXPECT_EQ(report->fallback_reason, "primary repository unreachable: " +
                                           std::string(ToString(outage)) + ": us-east-1 is down");
    // Asked for the primary only: no fallback.
    EXPECT_EQ(manager_.InitiateRecovery("p1", target, RecoverySource::kPrimary).error().code(),
              outage);
  }
  const std::vector<std::string> restores = engine_->restores();
  EXPECT_EQ(restores[1], "primary:p1->" + target);
  EXPECT_EQ(restores[2], "secondary:p1->" + target);
  // Both regions down: the error names both.
  engine_->FailRestores(Role::kSecondary, Error(ErrorCode::kTimeout, "eu-west-1 too"));
  auto both = manager_.InitiateRecovery("p1", target);
  ASSERT_FALSE(both.has_value());
  EXPECT_EQ(both.error().code(), ErrorCode::kTimeout);
  EXPECT_EQ(both.error().message(),
            "recovery point p1: primary: us-east-1 is down; secondary: eu-west-1 too");
  engine_->FailRestores(Role::kSecondary, std::nullopt);
  engine_->FailRestores(Role::kPrimary, std::nullopt);
  auto explicit_secondary = manager_.InitiateRecovery("p1", target, RecoverySource::kSecondary);
  ASSERT_TRUE(explicit_secondary.has_value());
  EXPECT_EQ(explicit_secondary->read_from, RepositoryRole::kSecondary);
  EXPECT_TRUE(explicit_secondary->fallback_reason.empty());
}

TEST_F(DisasterRecoverySecondaryTest, NoFallbackWhenThePointIsCorruptOrThereIsNoSecondary) {
  ASSERT_TRUE(manager_.CreatePlan(PlanWithSecondary()).has_value());
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  const std::string target = (scratch_.path() / "restore").string();
  engine_->FailRestores(Role::kPrimary, Error(ErrorCode::kCorrupted, "chunk 12ab does not match"));
  auto corrupt = manager_.InitiateRecovery("p1", target);
  ASSERT_FALSE(corrupt.has_value());
  EXPECT_EQ(corrupt.error().code(), ErrorCode::kCorrupted);
  EXPECT_EQ(engine_->restores(), std::vector<std::string>{"primary:p1->" + target});

  ASSERT_TRUE(manager_.CreatePlan(Plan("plain")).has_value());
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plain").has_value());  // p2
  engine_->FailRestores(Role::kPrimary, Error(ErrorCode::kUnavailable, "down"));
  EXPECT_EQ(manager_.InitiateRecovery("p2", target).error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(manager_.InitiateRecovery("p2", target, RecoverySource::kSecondary).error().code(),
            ErrorCode::kFailedPrecondition);
}

TEST_F(DisasterRecoverySecondaryTest, APlanAdoptsSecondaryOnlyPointsWhenThePrimaryIsGone) {
  ASSERT_TRUE(manager_.CreatePlan(PlanWithSecondary()).has_value());
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  clock_.Advance(1min);
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  engine_->Wipe("plan-1", Role::kPrimary);

  DisasterRecoveryManager restarted(5, DisasterRecoveryDependencies{engine_, &clock_, ""});
  ASSERT_TRUE(restarted.CreatePlan(PlanWithSecondary()).has_value());
  const std::vector<RecoveryPoint> points = restarted.ListRecoveryPoints("plan-1");
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].id, "p1");
  EXPECT_FALSE(points[1].in_primary);
  EXPECT_TRUE(points[1].in_secondary);
  EXPECT_EQ(points[1].location, (repo_.path() / "copy").string());
  const std::string target = (scratch_.path() / "restore").string();
  auto report = restarted.InitiateRecovery("p2", target);
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_EQ(report->read_from, RepositoryRole::kSecondary);
  EXPECT_EQ(report->fallback_reason, "the primary repository does not hold this point");
  EXPECT_EQ(engine_->restores().back(), "secondary:p2->" + target);  // the primary not tried
  EXPECT_FALSE(restarted.ShouldCopy("plan-1"));  // nothing in the primary to copy

  // A primary that cannot even be listed does not stop the plan when a secondary answers.
  engine_->FailListing(Role::kPrimary, Error(ErrorCode::kUnavailable, "us-east-1 down"));
  DisasterRecoveryManager outage(5, DisasterRecoveryDependencies{engine_, &clock_, ""});
  ASSERT_TRUE(outage.CreatePlan(PlanWithSecondary()).has_value());
  EXPECT_EQ(outage.ListRecoveryPoints("plan-1").size(), 2u);
  // Without a secondary it does, naming the repository.
  DisasterRecoveryManager plain(5, DisasterRecoveryDependencies{engine_, &clock_, ""});
  auto failed = plain.CreatePlan(Plan());
  ASSERT_FALSE(failed.has_value());
  EXPECT_NE(failed.error().message().find("reading repository"), std::string::npos);
  // Corrupt (not an outage) primary listing fails the plan even with a secondary.
  engine_->FailListing(Role::kPrimary, Error(ErrorCode::kCorrupted, "bad catalog"));
  DisasterRecoveryManager corrupt(5, DisasterRecoveryDependencies{engine_, &clock_, ""});
  EXPECT_EQ(corrupt.CreatePlan(PlanWithSecondary()).error().code(), ErrorCode::kCorrupted);
}

TEST_F(DisasterRecoverySecondaryTest, TestRecoveryCanTargetTheSecondary) {
  ASSERT_TRUE(manager_.CreatePlan(PlanWithSecondary()).has_value());
  auto none = manager_.TestRecovery("plan-1", RepositoryRole::kSecondary);
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->passed);
  EXPECT_EQ(none->message, "no recovery point in the secondary repository to test");
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());  // p1, copied
  clock_.Advance(5min);
  engine_->FailCopies(Error(ErrorCode::kUnavailable, "down"));
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());  // p2, not copied
  clock_.Advance(5min);
  auto result = manager_.TestRecovery("plan-1", RepositoryRole::kSecondary);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->passed) << result->message;
  EXPECT_EQ(result->region, RepositoryRole::kSecondary);
  EXPECT_EQ(result->point_id, "p1");  // the newest point the secondary holds
  EXPECT_EQ(result->point_age, 10min);
  EXPECT_EQ(engine_->restores().back().find("secondary:p1->" + scratch_.path().string()), 0u);
  EXPECT_EQ(engine_->verified().back(), Role::kSecondary);
  auto primary = manager_.TestRecovery("plan-1");
  EXPECT_EQ(primary->point_id, "p2");
  EXPECT_EQ(primary->region, RepositoryRole::kPrimary);
  ASSERT_TRUE(manager_.CreatePlan(Plan("plain")).has_value());
  EXPECT_EQ(manager_.TestRecovery("plain", RepositoryRole::kSecondary).error().code(),
            ErrorCode::kFailedPrecondition);
}

TEST_F(DisasterRecoverySecondaryTest, EachRegionsNewestPointIsMeasuredAgainstTheRpo) {
  ASSERT_TRUE(manager_.CreatePlan(PlanWithSecondary()).has_value());  // RPO 60 min
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());    // both regions
  clock_.Advance(30min);
  engine_->FailCopies(Error(ErrorCode::kIo, "link down"));
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());  // primary only
  clock_.Advance(40min);
  const RecoveryStats::PerPlan plan = manager_.GetRecoveryStats().per_plan.at(0);
  EXPECT_EQ(plan.primary.points, 2u);
  EXPECT_EQ(plan.primary.newest_point_age, std::chrono::seconds(40min));
  EXPECT_TRUE(plan.primary.rpo_met);
  ASSERT_TRUE(plan.secondary.has_value());
  EXPECT_EQ(plan.secondary->points, 1u);
  EXPECT_EQ(plan.secondary->newest_point_age, std::chrono::seconds(70min));
  EXPECT_FALSE(plan.secondary->rpo_met);  // the secondary is 70 minutes behind a 60-minute RPO
  EXPECT_EQ(plan.secondary->repository, (repo_.path() / "copy").string());
  EXPECT_TRUE(plan.rpo_met);  // the plan's newest point overall
}

TEST_F(DisasterRecoverySecondaryTest, RetentionAndDeletionApplyToBothRegions) {
  DisasterRecoveryPlan plan = PlanWithSecondary();
  plan.retention_days = 2;
  ASSERT_TRUE(manager_.CreatePlan(plan).has_value());
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());  // p1
  clock_.Advance(72h);
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());  // p2; p1 expires
  EXPECT_EQ(engine_->deleted(Role::kPrimary), std::vector<std::string>{"p1"});
  EXPECT_EQ(engine_->deleted(Role::kSecondary), std::vector<std::string>{"p1"});
  EXPECT_EQ(engine_->point_ids("plan-1", Role::kSecondary), std::vector<std::string>{"p2"});
  // A point never copied is deleted from the primary only.
  engine_->FailCopies(Error(ErrorCode::kIo, "down"));
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());  // p3
  ASSERT_TRUE(manager_.DeleteRecoveryPoint("p3").has_value());
  EXPECT_EQ(engine_->deleted(Role::kSecondary), std::vector<std::string>{"p1"});
  ASSERT_TRUE(manager_.DeleteRecoveryPoint("p2").has_value());
  EXPECT_EQ(engine_->deleted(Role::kPrimary), (std::vector<std::string>{"p1", "p3", "p2"}));
  EXPECT_EQ(engine_->deleted(Role::kSecondary), (std::vector<std::string>{"p1", "p2"}));
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

// Two real repositories standing for two regions: the copy sends only what the secondary lacks,
// and with the primary directory gone a restore reads the secondary, byte for byte. Needs
// Repository::OpenOrCreateMirror and CopyTo (src/backup/copy.cpp).
TEST_F(DisasterRecoveryEngineTest, CopiesToTheSecondaryAndRestoresFromItWhenThePrimaryIsGone) {
  std::mt19937 random(11);
  std::string big(2 << 20, '\0');
  for (char& c : big) c = static_cast<char>(random());
  WriteFile(source_.path() / "data" / "segment.bin", big);
  WriteFile(source_.path() / "data" / "log.txt", "one\n");

  DisasterRecoveryManager manager(
      10, DisasterRecoveryDependencies{MakeRepositoryBackupEngine(RealClock()), nullptr,
                                       target_.path().string()});
  DisasterRecoveryPlan plan;
  plan.id = "files";
  plan.sources = {source_.path().string()};
  plan.repository = (repo_.path() / "us-east-1").string();
  plan.secondary_repository = (repo_.path() / "eu-west-1").string();
  plan.primary_region = "us-east-1";
  plan.secondary_region = "eu-west-1";
  ASSERT_TRUE(manager.CreatePlan(plan).has_value());
  auto first = manager.CreateRecoveryPoint("files");
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  RecoveryStats::PerPlan figures = manager.GetRecoveryStats().per_plan.at(0);
  ASSERT_TRUE(figures.last_copy.has_value()) << figures.last_copy_error;
  EXPECT_TRUE(first->in_secondary);
  EXPECT_EQ(figures.last_copy->points_copied, std::vector<std::string>{first->id});
  EXPECT_GT(figures.last_copy->chunks_sent, 0u);
  const std::uint64_t first_bytes = figures.last_copy->bytes_sent;
  EXPECT_GE(first_bytes, first->stored_size / 2);  // the stored (compressed) chunks travel

  WriteFile(source_.path() / "data" / "log.txt", "one\ntwo\n");
  auto second = manager.CreateRecoveryPoint("files");
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  figures = manager.GetRecoveryStats().per_plan.at(0);
  ASSERT_TRUE(figures.last_copy.has_value()) << figures.last_copy_error;
  EXPECT_EQ(figures.last_copy->points_copied, std::vector<std::string>{second->id});
  EXPECT_LT(figures.last_copy->bytes_sent, first_bytes / 10);  // only the changed file
  EXPECT_GT(figures.last_copy->chunks_present, 0u);
  auto nothing = manager.CopyToSecondary("files");
  ASSERT_TRUE(nothing.has_value()) << nothing.error().ToString();
  EXPECT_TRUE(nothing->points_copied.empty());
  EXPECT_EQ(nothing->chunks_sent, 0u);
  EXPECT_EQ(nothing->bytes_sent, 0u);

  auto test = manager.TestRecovery("files", RepositoryRole::kSecondary);
  ASSERT_TRUE(test.has_value());
  EXPECT_TRUE(test->passed) << test->message;
  EXPECT_EQ(test->point_id, second->id);

  fs::remove_all(plan.repository);  // the primary region is gone
  const fs::path restore = target_.path() / "restore";
  auto report = manager.InitiateRecovery(second->id, restore.string(), RecoverySource::kAuto);
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_EQ(report->read_from, RepositoryRole::kSecondary);
  EXPECT_EQ(report->region, "eu-west-1");
  EXPECT_NE(report->fallback_reason.find("primary repository unreachable"), std::string::npos)
      << report->fallback_reason;
  const fs::path root = restore / source_.path().filename();
  EXPECT_TRUE(ReadFile(root / "data" / "segment.bin") == big);
  EXPECT_EQ(ReadFile(root / "data" / "log.txt"), "one\ntwo\n");
  auto primary_only = manager.InitiateRecovery(second->id, (target_.path() / "p").string(),
                                               RecoverySource::kPrimary);
  ASSERT_FALSE(primary_only.has_value());
  EXPECT_TRUE(IsRepositoryOutage(primary_only.error())) << primary_only.error().ToString();
}

// ---- UpdatePlan / RemovePlan (config reload) ---------------------------------------------------

TEST_F(DisasterRecoveryManagerTest, UpdatePlanReplacesSettingsAndKeepsPointsAndTests) {
  ASSERT_TRUE(manager_.CreatePlan(Plan()).has_value());
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  ASSERT_TRUE(manager_.TestRecovery("plan-1").has_value());
  // Same repository: nothing is read again (the fake's catalog is emptied behind its back).
  engine_->Wipe("plan-1", Role::kPrimary);
  DisasterRecoveryPlan changed = Plan();
  changed.name.clear();  // named after its id, as CreatePlan does
  changed.strategy = BackupStrategy::kIncremental;
  changed.rpo = 30min;
  changed.retention_days = 7;
  changed.active = false;
  ASSERT_TRUE(manager_.UpdatePlan(changed).has_value());
  auto plan = manager_.GetPlan("plan-1");
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->name, "plan-1");
  EXPECT_EQ(plan->strategy, BackupStrategy::kIncremental);
  EXPECT_EQ(plan->rpo, 30min);
  EXPECT_EQ(plan->retention_days, 7);
  EXPECT_FALSE(plan->active);
  EXPECT_FALSE(manager_.ShouldBackup("plan-1"));
  EXPECT_EQ(manager_.ListRecoveryPoints("plan-1").size(), 1u);
  EXPECT_EQ(manager_.GetTestResults("plan-1").size(), 1u);
  EXPECT_EQ(manager_.GetRecoveryStats().per_plan.at(0).primary.points, 1u);
  // The next backup uses the new settings.
  changed.active = true;
  ASSERT_TRUE(manager_.UpdatePlan(changed).has_value());
  EXPECT_EQ(manager_.CreateRecoveryPoint("plan-1")->strategy, BackupStrategy::kIncremental);
}

TEST_F(DisasterRecoveryManagerTest, UpdatePlanValidatesAndLeavesThePlanAloneOnError) {
  ASSERT_TRUE(manager_.CreatePlan(Plan()).has_value());
  EXPECT_EQ(manager_.UpdatePlan(Plan("nope")).error().code(), ErrorCode::kNotFound);
  DisasterRecoveryPlan bad = Plan();
  bad.retention_days = 0;
  EXPECT_EQ(manager_.UpdatePlan(bad).error().code(), ErrorCode::kInvalidArgument);
  DisasterRecoveryPlan same = Plan();
  same.secondary_repository = same.repository;
  EXPECT_EQ(manager_.UpdatePlan(same).error().code(), ErrorCode::kInvalidArgument);
  // A new repository that cannot be read (not an outage): the plan keeps its old one.
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  engine_->FailListing(Role::kPrimary, Error(ErrorCode::kCorrupted, "bad catalog"));
  DisasterRecoveryPlan moved = Plan();
  moved.repository = (repo_.path() / "elsewhere").string();
  auto failed = manager_.UpdatePlan(moved);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), ErrorCode::kCorrupted);
  EXPECT_EQ(manager_.GetPlan("plan-1")->repository, Plan().repository);
  EXPECT_EQ(manager_.ListRecoveryPoints("plan-1").size(), 1u);
  engine_->FailListing(Role::kPrimary, std::nullopt);
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());  // not stuck reconfiguring
}

TEST_F(DisasterRecoveryManagerTest, UpdatePlanWithANewRepositoryAdoptsItsPoints) {
  ASSERT_TRUE(manager_.CreatePlan(Plan()).has_value());
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());  // p1
  const fs::path artifact = source_.path() / "dump.sql";
  WriteFile(artifact, "abc");
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1", 3, artifact.string()).has_value());
  ASSERT_TRUE(manager_.TestRecovery("plan-1").has_value());
  // The fake keys its catalogs by plan: wiping it stands for a new, empty repository.
  engine_->Wipe("plan-1", Role::kPrimary);
  DisasterRecoveryPlan moved = Plan();
  moved.repository = (repo_.path() / "new-repo").string();
  ASSERT_TRUE(manager_.UpdatePlan(moved).has_value());
  auto points = manager_.ListRecoveryPoints("plan-1");
  ASSERT_EQ(points.size(), 1u);  // only the registered artifact stays
  EXPECT_EQ(points[0].status, "external");
  EXPECT_EQ(manager_.GetTestResults("plan-1").size(), 1u);
  auto point = manager_.CreateRecoveryPoint("plan-1");
  ASSERT_TRUE(point.has_value());
  EXPECT_EQ(point->location, moved.repository);
}

TEST_F(DisasterRecoveryManagerTest, ANewSecondaryStartsAFreshCopyHistory) {
  DisasterRecoveryPlan plan = Plan();
  plan.secondary_repository = (repo_.path() / "copy").string();
  ASSERT_TRUE(manager_.CreatePlan(plan).has_value());
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  ASSERT_TRUE(manager_.GetRecoveryPoint("p1")->in_secondary);
  ASSERT_FALSE(manager_.ShouldCopy("plan-1"));
  engine_->Wipe("plan-1", Role::kSecondary);  // the new secondary is empty
  plan.secondary_repository = (repo_.path() / "copy-2").string();
  ASSERT_TRUE(manager_.UpdatePlan(plan).has_value());
  EXPECT_TRUE(manager_.GetRecoveryPoint("p1")->in_primary);
  EXPECT_FALSE(manager_.GetRecoveryPoint("p1")->in_secondary);
  const auto figures = manager_.GetRecoveryStats().per_plan.at(0);
  EXPECT_FALSE(figures.last_copy.has_value());
  EXPECT_FALSE(figures.last_copy_attempt.has_value());
  EXPECT_EQ(figures.copies_succeeded, 1u);  // counts are history: they stay
  EXPECT_TRUE(manager_.ShouldCopy("plan-1"));
  ASSERT_TRUE(manager_.CopyToSecondary("plan-1").has_value());
  EXPECT_TRUE(manager_.GetRecoveryPoint("p1")->in_secondary);
  // Dropping the secondary: points are no longer counted there.
  plan.secondary_repository.clear();
  ASSERT_TRUE(manager_.UpdatePlan(plan).has_value());
  EXPECT_FALSE(manager_.GetRecoveryPoint("p1")->in_secondary);
  EXPECT_FALSE(manager_.GetRecoveryStats().per_plan.at(0).secondary.has_value());
}

TEST_F(DisasterRecoveryManagerTest, RemovePlanForgetsThePlanButNotItsRepository) {
  ASSERT_TRUE(manager_.CreatePlan(Plan()).has_value());
  ASSERT_TRUE(manager_.CreatePlan(Plan("plan-2")).has_value());
  ASSERT_TRUE(manager_.CreateRecoveryPoint("plan-1").has_value());
  ASSERT_TRUE(manager_.RemovePlan("plan-1").has_value());
  EXPECT_EQ(manager_.GetPlan("plan-1").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(manager_.GetRecoveryPoint("p1").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(manager_.GetPlanCount(), 1u);
  EXPECT_EQ(manager_.GetRecoveryPointCount(), 0u);
  EXPECT_EQ(manager_.GetRecoveryStats().per_plan.size(), 1u);
  EXPECT_FALSE(manager_.ShouldBackup("plan-1"));
  EXPECT_EQ(manager_.RemovePlan("plan-1").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(engine_->deleted(Role::kPrimary).empty());
  EXPECT_EQ(engine_->point_ids("plan-1", Role::kPrimary), std::vector<std::string>{"p1"});
  // Created again on the same repository, the plan adopts its points.
  ASSERT_TRUE(manager_.CreatePlan(Plan()).has_value());
  EXPECT_EQ(manager_.ListRecoveryPoints("plan-1").size(), 1u);
}

// Delegates to the fake engine; the first call of the gated kind blocks until released.
class GatedEngine final : public BackupEngine {
 public:
  enum class Kind { kNone, kBackup, kList, kRestore, kCopy };
  explicit GatedEngine(std::shared_ptr<FakeBackupEngine> inner) : inner_(std::move(inner)) {}

  void Gate(Kind kind) {
    std::lock_guard lock(mu_);
    gated_ = kind;
    entered_ = false;
    released_ = false;
  }
  void WaitEntered() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return entered_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    gated_ = Kind::kNone;
    cv_.notify_all();
  }

  Result<BackupOutcome> Backup(const DisasterRecoveryPlan& plan) override {
    Wait(Kind::kBackup);
    return inner_->Backup(plan);
  }
  Result<std::vector<BackupOutcome>> ListPoints(const DisasterRecoveryPlan& plan,
                                                RepositoryRole role) override {
    Wait(Kind::kList);
    return inner_->ListPoints(plan, role);
  }
  Result<RestoreReport> Restore(const DisasterRecoveryPlan& plan, RepositoryRole role,
                                const std::string& point_id, const std::string& target) override {
    Wait(Kind::kRestore);
    return inner_->Restore(plan, role, point_id, target);
  }
  Result<VerifyOutcome> Verify(const DisasterRecoveryPlan& plan, RepositoryRole role,
                               const std::string& point_id, const std::string& dir) override {
    return inner_->Verify(plan, role, point_id, dir);
  }
  Status DeletePoints(const DisasterRecoveryPlan& plan, RepositoryRole role,
                      const std::vector<std::string>& ids) override {
    return inner_->DeletePoints(plan, role, ids);
  }
  Result<CopyReport> CopyToSecondary(const DisasterRecoveryPlan& plan) override {
    Wait(Kind::kCopy);
    return inner_->CopyToSecondary(plan);
  }

 private:
  void Wait(Kind kind) {
    std::unique_lock lock(mu_);
    if (gated_ != kind) return;
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
  }

  std::shared_ptr<FakeBackupEngine> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  Kind gated_ = Kind::kNone;
  bool entered_ = false;
  bool released_ = false;
};

class DisasterRecoveryReloadTest : public DisasterRecoveryManagerTest {
 protected:
  DisasterRecoveryReloadTest()
      : gated_(std::make_shared<GatedEngine>(engine_)),
        gated_manager_(5, DisasterRecoveryDependencies{gated_, &clock_, scratch_.path().string()}) {
  }

  // Runs `operation` on a thread until it reaches the gated engine call, then checks that
  // UpdatePlan and RemovePlan refuse; lets it finish, and checks that they work again.
  template <typename Operation>
  void ExpectRefusedWhile(GatedEngine::Kind kind, Operation operation) {
    gated_->Gate(kind);
    std::thread running(operation);
    gated_->WaitEntered();
    const auto before = gated_manager_.GetPlan("plan-1")->rpo;
    DisasterRecoveryPlan changed = PlanWithSecondary();
    changed.rpo = before + 1min;
    EXPECT_EQ(gated_manager_.UpdatePlan(changed).error().code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ(gated_manager_.RemovePlan("plan-1").error().code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ(gated_manager_.GetPlan("plan-1")->rpo, before);
    gated_->Release();
    running.join();
    ASSERT_TRUE(gated_manager_.UpdatePlan(changed).has_value());
    EXPECT_EQ(gated_manager_.GetPlan("plan-1")->rpo, before + 1min);
  }

  DisasterRecoveryPlan PlanWithSecondary() {
    DisasterRecoveryPlan plan = Plan();
    plan.secondary_repository = (repo_.path() / "copy").string();
    return plan;
  }

  std::shared_ptr<GatedEngine> gated_;
  DisasterRecoveryManager gated_manager_;
};

TEST_F(DisasterRecoveryReloadTest, UpdateAndRemoveRefuseWhileABackupRuns) {
  ASSERT_TRUE(gated_manager_.CreatePlan(PlanWithSecondary()).has_value());
  ExpectRefusedWhile(GatedEngine::Kind::kBackup,
                     [&] { EXPECT_TRUE(gated_manager_.CreateRecoveryPoint("plan-1")); });
  // The copy after a backup counts as part of it.
  ExpectRefusedWhile(GatedEngine::Kind::kCopy,
                     [&] { EXPECT_TRUE(gated_manager_.CreateRecoveryPoint("plan-1")); });
  EXPECT_EQ(gated_manager_.ListRecoveryPoints("plan-1").size(), 2u);
  ASSERT_TRUE(gated_manager_.RemovePlan("plan-1").has_value());
}

TEST_F(DisasterRecoveryReloadTest, UpdateAndRemoveRefuseWhileACopyRestoreOrTestRuns) {
  ASSERT_TRUE(gated_manager_.CreatePlan(PlanWithSecondary()).has_value());
  ASSERT_TRUE(gated_manager_.CreateRecoveryPoint("plan-1").has_value());
  ExpectRefusedWhile(GatedEngine::Kind::kCopy,
                     [&] { EXPECT_TRUE(gated_manager_.CopyToSecondary("plan-1")); });
  const std::string target = (scratch_.path() / "restore").string();
  ExpectRefusedWhile(GatedEngine::Kind::kRestore,
                     [&] { EXPECT_TRUE(gated_manager_.InitiateRecovery("p1", target)); });
  ExpectRefusedWhile(GatedEngine::Kind::kRestore, [&] {
    auto result = gated_manager_.TestRecovery("plan-1");
    ASSERT_TRUE(result);
    EXPECT_TRUE(result->passed) << result->message;
  });
  EXPECT_EQ(gated_manager_.GetTestResults("plan-1").size(), 1u);
}

TEST_F(DisasterRecoveryReloadTest, WhileNewRepositoriesAreReadNoBackupStartsButRestoresDo) {
  ASSERT_TRUE(gated_manager_.CreatePlan(PlanWithSecondary()).has_value());
  ASSERT_TRUE(gated_manager_.CreateRecoveryPoint("plan-1").has_value());
  clock_.Advance(48h);
  ASSERT_TRUE(gated_manager_.ShouldBackup("plan-1"));
  gated_->Gate(GatedEngine::Kind::kList);
  DisasterRecoveryPlan moved = PlanWithSecondary();
  moved.repository = (repo_.path() / "moved").string();
  Status updated = NotFound("not run");
  std::thread reload([&] { updated = gated_manager_.UpdatePlan(moved); });
  gated_->WaitEntered();
  EXPECT_FALSE(gated_manager_.ShouldBackup("plan-1"));
  EXPECT_FALSE(gated_manager_.ShouldCopy("plan-1"));
  EXPECT_EQ(gated_manager_.CreateRecoveryPoint("plan-1").error().code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(gated_manager_.CopyToSecondary("plan-1").error().code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(gated_manager_.DeleteRecoveryPoint("p1").error().code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(gated_manager_.RemovePlan("plan-1").error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(gated_manager_.UpdatePlan(moved).error().code(), ErrorCode::kFailedPrecondition);
  // A restore in an emergency does not wait for a reload: it reads the old settings.
  EXPECT_TRUE(gated_manager_.InitiateRecovery("p1", (scratch_.path() / "r").string()));
  gated_->Release();
  reload.join();
  ASSERT_TRUE(updated.has_value()) << updated.error().ToString();
  EXPECT_EQ(gated_manager_.GetPlan("plan-1")->repository, moved.repository);
  EXPECT_TRUE(gated_manager_.ShouldBackup("plan-1"));
  ASSERT_TRUE(gated_manager_.CreateRecoveryPoint("plan-1").has_value());
}

// On the real engine: a plan moved to another repository adopts that repository's points, and
// moved back, the first one's again; a removed plan re-created adopts them too.
TEST_F(DisasterRecoveryEngineTest, UpdatePlanMovesBetweenRealRepositories) {
  WriteFile(source_.path() / "data" / "log.txt", "one\n");
  DisasterRecoveryManager manager(
      10, DisasterRecoveryDependencies{MakeRepositoryBackupEngine(RealClock()), nullptr,
                                       target_.path().string()});
  DisasterRecoveryPlan plan;
  plan.id = "files";
  plan.strategy = BackupStrategy::kFull;
  plan.sources = {source_.path().string()};
  plan.repository = (repo_.path() / "a").string();
  ASSERT_TRUE(manager.CreatePlan(plan).has_value());
  auto in_a = manager.CreateRecoveryPoint("files");
  ASSERT_TRUE(in_a.has_value()) << in_a.error().ToString();

  plan.repository = (repo_.path() / "b").string();
  ASSERT_TRUE(manager.UpdatePlan(plan).has_value());
  EXPECT_TRUE(manager.ListRecoveryPoints("files").empty());
  auto in_b = manager.CreateRecoveryPoint("files");
  ASSERT_TRUE(in_b.has_value()) << in_b.error().ToString();
  EXPECT_EQ(in_b->location, plan.repository);

  plan.repository = (repo_.path() / "a").string();
  ASSERT_TRUE(manager.UpdatePlan(plan).has_value());
  auto points = manager.ListRecoveryPoints("files");
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].id, in_a->id);
  const fs::path restore = target_.path() / "restore";
  ASSERT_TRUE(manager.InitiateRecovery(in_a->id, restore.string()).has_value());
  EXPECT_EQ(ReadFile(restore / source_.path().filename() / "data" / "log.txt"), "one\n");

  ASSERT_TRUE(manager.RemovePlan("files").has_value());
  EXPECT_EQ(manager.GetRecoveryPointCount(), 0u);
  ASSERT_TRUE(manager.CreatePlan(plan).has_value());
  ASSERT_EQ(manager.ListRecoveryPoints("files").size(), 1u);
  EXPECT_EQ(manager.ListRecoveryPoints("files")[0].id, in_a->id);
}

}  // namespace
}  // namespace streamgate::scaling
