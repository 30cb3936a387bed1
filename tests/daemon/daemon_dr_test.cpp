// The daemon with a `disaster_recovery:` section: the backup scheduler on the daemon's clock
// (a fake engine and the manual clock), and the real repository engine driven through the admin
// API over HTTP.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/daemon.hpp"
#include "support/fake_backup_engine.hpp"
#include "support/http_client.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::daemon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using testing::FakeBackupEngine;

// True once `done` holds, polling in real time for up to 5 s (work runs on the daemon's threads).
bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Long enough for many scheduler ticks (5 ms in these tests), to see that nothing happens.
void LetTheSchedulerRun() { std::this_thread::sleep_for(150ms); }

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("sg-daemon-dr-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A daemon config (admin on port 0) with one plan "site" of `source`, inactive so that only
// admin calls back it up, never the scheduler.
config::Config ApiOnlyPlanConfig(const fs::path& source, const fs::path& repository,
                                 const fs::path& scratch) {
  config::Config config;
  config.admin.listen = {"127.0.0.1", 0};
  config::DisasterRecoveryConfig dr;
  config::DisasterRecoveryPlanConfig entry;
  entry.plan.id = "site";
  entry.plan.sources = {source.string()};
  entry.plan.repository = repository.string();
  entry.plan.active = false;
  dr.plans.push_back(entry);
  dr.scratch_directory = scratch.string();
  config.disaster_recovery = dr;
  return config;
}

// A blocking admin call with a long timeout: backups and restores answer when done.
testing::ClientResponse AdminCall(Daemon& daemon, std::string_view method, std::string_view target,
                                  std::string_view body = {}) {
  auto response = testing::HttpRequestBlocking(method, "127.0.0.1", daemon.admin_port(), target,
                                               body, {}, std::chrono::seconds(60));
  EXPECT_TRUE(response) << response.error().ToString();
  return response ? *response : testing::ClientResponse{};
}

class DaemonDisasterRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() / "site" / "index.html", "<h1>hello</h1>\n");
    config_.admin.listen = {"127.0.0.1", 0};
    config::DisasterRecoveryConfig dr;
    config::DisasterRecoveryPlanConfig entry;
    entry.plan.id = "site";
    entry.plan.strategy = scaling::BackupStrategy::kIncremental;
    entry.plan.backup_interval = 1h;
    entry.plan.rpo = 2h;  // later than the interval, so the interval decides
    entry.plan.rto = 30min;
    entry.plan.sources = {(dir_.path() / "site").string()};
    entry.plan.repository = (dir_.path() / "repo").string();
    dr.plans.push_back(entry);
    dr.scratch_directory = dir_.path().string();
    config_.disaster_recovery = dr;
    deps_.clock = &clock_;
    deps_.scheduler_tick = 5ms;
    deps_.backup_engine = engine_;
  }

  void TearDown() override { daemon_.reset(); }

  void StartDaemon() {
    auto daemon = Daemon::Start(config_, deps_);
    ASSERT_TRUE(daemon) << daemon.error().ToString();
    daemon_ = std::move(*daemon);
  }

  scaling::DisasterRecoveryPlan& plan() { return config_.disaster_recovery->plans[0].plan; }

  testing::ClientResponse Admin(std::string_view method, std::string_view target,
                                std::string_view body = {}) {
    auto response =
        testing::HttpRequestBlocking(method, "127.0.0.1", daemon_->admin_port(), target, body);
    EXPECT_TRUE(response) << response.error().ToString();
    return response ? *response : testing::ClientResponse{};
  }

  TempDir dir_;
  testing::ManualClock clock_;
  std::shared_ptr<FakeBackupEngine> engine_ =
      std::make_shared<FakeBackupEngine>(clock_, /*files_per_point=*/2);
  config::Config config_;
  DaemonDependencies deps_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonDisasterRecoveryTest, ADuePlanIsBackedUpAndNotAgainUntilItsIntervalPasses) {
  StartDaemon();
  ASSERT_NE(daemon_->disaster_recovery(), nullptr);
  // No point yet: due at once.
  ASSERT_TRUE(WaitFor([&] { return engine_->backups() == 1; })) << engine_->backups();
  scaling::DisasterRecoveryManager& manager = *daemon_->disaster_recovery();
  ASSERT_EQ(manager.ListRecoveryPoints("site").size(), 1u);
  EXPECT_EQ(manager.ListRecoveryPoints("site")[0].id, "p1");

  LetTheSchedulerRun();
  EXPECT_EQ(engine_->backups(), 1);
  clock_.Advance(59min);
  LetTheSchedulerRun();
  EXPECT_EQ(engine_->backups(), 1);
  clock_.Advance(1min);  // the newest point is now one interval old
  ASSERT_TRUE(WaitFor([&] { return engine_->backups() == 2; })) << engine_->backups();
  LetTheSchedulerRun();
  EXPECT_EQ(engine_->backups(), 2);
  EXPECT_EQ(manager.ListRecoveryPoints("site").size(), 2u);
  EXPECT_EQ(manager.GetRecoveryStats().backups_succeeded, 2u);
  EXPECT_TRUE(engine_->restores().empty());  // test_interval 0: no recovery tests
}

TEST_F(DaemonDisasterRecoveryTest, TheRpoDecidesWhenItIsShorterThanTheInterval) {
  plan().backup_interval = 24h;
  plan().rpo = 90min;
  StartDaemon();
  ASSERT_TRUE(WaitFor([&] { return engine_->backups() == 1; }));
  clock_.Advance(89min);
  LetTheSchedulerRun();
  EXPECT_EQ(engine_->backups(), 1);
  clock_.Advance(1min);
  ASSERT_TRUE(WaitFor([&] { return engine_->backups() == 2; })) << engine_->backups();
}

TEST_F(DaemonDisasterRecoveryTest, RecoveryTestsRunEveryTestInterval) {
  plan().backup_interval = 24h;
  plan().rpo = 24h * 60;
  config_.disaster_recovery->test_interval = 6h;
  StartDaemon();
  scaling::DisasterRecoveryManager& manager = *daemon_->disaster_recovery();
  ASSERT_TRUE(WaitFor([&] { return engine_->backups() == 1; }));
  LetTheSchedulerRun();
  EXPECT_TRUE(manager.GetTestResults("site").empty());  // the first one is an interval away

  clock_.Advance(6h);
  ASSERT_TRUE(WaitFor([&] { return manager.GetTestResults("site").size() == 1; }));
  const scaling::RecoveryTestResult first = manager.GetTestResults("site")[0];
  EXPECT_TRUE(first.passed) << first.message;
  EXPECT_EQ(first.point_id, "p1");
  EXPECT_EQ(first.point_age, std::chrono::seconds(6h));
  EXPECT_EQ(engine_->restores().size(), 1u);

  clock_.Advance(5h);
  LetTheSchedulerRun();
  EXPECT_EQ(manager.GetTestResults("site").size(), 1u);
  clock_.Advance(1h);
  ASSERT_TRUE(WaitFor([&] { return manager.GetTestResults("site").size() == 2; }));
  EXPECT_EQ(manager.GetRecoveryStats().tests_passed, 2u);
  EXPECT_EQ(engine_->backups(), 1);  // 12 h: no backup due yet
}

TEST_F(DaemonDisasterRecoveryTest, AFailedBackupIsRetriedAfterAMinuteNotEveryTick) {
  engine_->FailBackups(Error(ErrorCode::kIo, "disk full"));
  StartDaemon();
  ASSERT_TRUE(WaitFor([&] { return engine_->backups() == 1; }));
  LetTheSchedulerRun();
  EXPECT_EQ(engine_->backups(), 1);
  engine_->FailBackups(std::nullopt);
  clock_.Advance(59s);
  LetTheSchedulerRun();
  EXPECT_EQ(engine_->backups(), 1);
  clock_.Advance(1s);
  ASSERT_TRUE(WaitFor([&] { return engine_->backups() == 2; }));
  const scaling::RecoveryStats stats = daemon_->disaster_recovery()->GetRecoveryStats();
  EXPECT_EQ(stats.backups_failed, 1u);
  EXPECT_EQ(stats.backups_succeeded, 1u);
}

TEST_F(DaemonDisasterRecoveryTest, InactivePlansAreNotScheduledButCanBeBackedUpByHand) {
  plan().active = false;
  StartDaemon();
  LetTheSchedulerRun();
  EXPECT_EQ(engine_->backups(), 0);
  const testing::ClientResponse backup = Admin("POST", "/api/v1/dr/plans/site/backup");
  EXPECT_EQ(backup.status, 201) << backup.body;
  EXPECT_EQ(engine_->backups(), 1);
  // Activated through the API, the scheduler takes it from there.
  EXPECT_EQ(Admin("POST", "/api/v1/dr/plans/site/activate").status, 200);
  clock_.Advance(1h);
  ASSERT_TRUE(WaitFor([&] { return engine_->backups() == 2; }));
}

TEST_F(DaemonDisasterRecoveryTest, APlanThatCannotBeCreatedFailsStartNamingIt) {
  plan().sources = {(dir_.path() / "missing").string()};
  auto daemon = Daemon::Start(config_, deps_);
  ASSERT_FALSE(daemon);
  EXPECT_EQ(daemon.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(daemon.error().message(), "disaster_recovery: plan 'site': source '" +
                                          (dir_.path() / "missing").string() + "' does not exist")
      << daemon.error().ToString();
}

TEST_F(DaemonDisasterRecoveryTest, AbsentSectionMeansNoManagerAndNoRoutes) {
  config_.disaster_recovery.reset();
  StartDaemon();
  EXPECT_EQ(daemon_->disaster_recovery(), nullptr);
  const testing::ClientResponse response = Admin("GET", "/api/v1/dr/stats");
  EXPECT_EQ(response.status, 404);
  EXPECT_NE(response.body.find("disaster recovery not configured"), std::string::npos)
      << response.body;
  EXPECT_EQ(Admin("GET", "/metrics").body.find("streamgate_dr_"), std::string::npos);
}

TEST_F(DaemonDisasterRecoveryTest, AFailedCopyToTheSecondaryIsRetriedAfterAMinute) {
  plan().secondary_region = "eu-west-1";
  plan().secondary_repository = (dir_.path() / "repo-eu").string();
  engine_->FailCopies(Error(ErrorCode::kUnavailable, "eu-west-1 unreachable"));
  StartDaemon();
  scaling::DisasterRecoveryManager& manager = *daemon_->disaster_recovery();
  ASSERT_TRUE(WaitFor([&] { return engine_->copies() == 1; }));  // right after the backup
  LetTheSchedulerRun();
  EXPECT_EQ(engine_->copies(), 1);
  EXPECT_EQ(engine_->backups(), 1);  // the backup stands
  clock_.Advance(59s);
  LetTheSchedulerRun();
  EXPECT_EQ(engine_->copies(), 1);
  clock_.Advance(1s);
  ASSERT_TRUE(WaitFor([&] { return engine_->copies() == 2; })) << engine_->copies();
  engine_->FailCopies(std::nullopt);
  clock_.Advance(60s);
  ASSERT_TRUE(WaitFor([&] { return engine_->copies() == 3; })) << engine_->copies();
  ASSERT_TRUE(WaitFor([&] { return manager.ListRecoveryPoints("site").at(0).in_secondary; }));
  LetTheSchedulerRun();
  EXPECT_EQ(engine_->copies(), 3);  // copied: nothing more to do
  const scaling::RecoveryStats stats = manager.GetRecoveryStats();
  EXPECT_EQ(stats.copies_failed, 2u);
  EXPECT_EQ(stats.copies_succeeded, 1u);
  EXPECT_EQ(engine_->point_ids("site", scaling::RepositoryRole::kSecondary),
            std::vector<std::string>{"p1"});
}

TEST_F(DaemonDisasterRecoveryTest, ASecondaryEqualToThePrimaryFailsStart) {
  plan().secondary_region = "eu-west-1";
  plan().secondary_repository = plan().repository;
  auto daemon = Daemon::Start(config_, deps_);
  ASSERT_FALSE(daemon);
  EXPECT_EQ(daemon.error().message(),
            "disaster_recovery: plan 'site': secondary_repository must differ from repository");
}

// The repository engine end to end: a backup and a restore through the admin HTTP port, with the
// restored bytes compared to the source.
TEST(DaemonDisasterRecoveryRealEngineTest, BackupAndRestoreThroughTheAdminApi) {
  TempDir dir;
  const fs::path source = dir.path() / "www";
  std::mt19937_64 random(42);
  std::string blob(300 * 1024 + 17, '\0');
  for (char& c : blob) c = static_cast<char>(random() & 0xff);
  const std::map<std::string, std::string> files = {
      {"index.html", "<h1>StreamGate</h1>\n"},
      {"media/blob.bin", blob},
      {"empty.txt", ""},
  };
  for (const auto& [name, content] : files) WriteFile(source / name, content);

  config::Config config = ApiOnlyPlanConfig(source, dir.path() / "repo", dir.path());
  auto started = Daemon::Start(config);
  ASSERT_TRUE(started) << started.error().ToString();
  std::unique_ptr<Daemon> daemon = std::move(*started);
  auto admin = [&](std::string_view method, std::string_view target, std::string_view body = {}) {
    return AdminCall(*daemon, method, target, body);
  };

  const testing::ClientResponse backup = admin("POST", "/api/v1/dr/plans/site/backup");
  ASSERT_EQ(backup.status, 201) << backup.body;
  const json point = json::parse(backup.body);
  EXPECT_EQ(point["plan_id"], "site");
  EXPECT_EQ(point["file_count"], 3) << backup.body;
  EXPECT_EQ(point["logical_size"], blob.size() + files.at("index.html").size()) << backup.body;

  const fs::path target = dir.path() / "restored";
  const testing::ClientResponse restore =
      admin("POST", "/api/v1/dr/recovery-points/" + point["id"].get<std::string>() + "/restore",
            json{{"target", target.string()}}.dump());
  ASSERT_EQ(restore.status, 200) << restore.body;
  for (const auto& [name, content] : files) {
    const fs::path restored = target / "www" / name;  // a source is stored under its base name
    ASSERT_TRUE(fs::is_regular_file(restored)) << restored;
    EXPECT_TRUE(ReadFile(restored) == content) << name << " differs after the restore";
  }

  const testing::ClientResponse metrics = admin("GET", "/metrics");
  EXPECT_NE(metrics.body.find("streamgate_dr_backups_total{result=\"success\"} 1\n"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("streamgate_dr_recovery_points 1\n"), std::string::npos);

  // A restarted daemon finds the point in the repository.
  daemon.reset();
  auto restarted = Daemon::Start(config);
  ASSERT_TRUE(restarted) << restarted.error().ToString();
  const std::vector<scaling::RecoveryPoint> points =
      (*restarted)->disaster_recovery()->ListRecoveryPoints("site");
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].id, point["id"]);
}

// Two real local repositories standing for two regions: a backup through the admin API is
// copied to the secondary; with the primary directory removed, a restore (source auto) reads the
// secondary and the files come back byte for byte; a restarted daemon adopts the secondary's
// points. Needs Repository::OpenOrCreateMirror and CopyTo (src/backup/copy.cpp).
TEST(DaemonDisasterRecoveryRealEngineTest, RestoresFromTheSecondaryWhenThePrimaryIsGone) {
  TempDir dir;
  const fs::path source = dir.path() / "www";
  std::mt19937_64 random(7);
  std::string blob(1024 * 1024 + 3, '\0');
  for (char& c : blob) c = static_cast<char>(random() & 0xff);
  const std::map<std::string, std::string> files = {
      {"index.html", "<h1>two regions</h1>\n"},
      {"media/blob.bin", blob},
  };
  for (const auto& [name, content] : files) WriteFile(source / name, content);

  config::Config config = ApiOnlyPlanConfig(source, dir.path() / "us-east-1", dir.path());
  scaling::DisasterRecoveryPlan& plan = config.disaster_recovery->plans[0].plan;
  plan.primary_region = "us-east-1";
  plan.secondary_region = "eu-west-1";
  plan.secondary_repository = (dir.path() / "eu-west-1").string();
  auto started = Daemon::Start(config);
  ASSERT_TRUE(started) << started.error().ToString();
  std::unique_ptr<Daemon> daemon = std::move(*started);
  auto admin = [&](std::string_view method, std::string_view target, std::string_view body = {}) {
    return AdminCall(*daemon, method, target, body);
  };

  const testing::ClientResponse backup = admin("POST", "/api/v1/dr/plans/site/backup");
  ASSERT_EQ(backup.status, 201) << backup.body;
  const json point = json::parse(backup.body);
  EXPECT_EQ(point["in_secondary"], true) << backup.body;
  const std::string id = point["id"];
  const json status = json::parse(admin("GET", "/api/v1/dr/plans/site").body)["status"];
  EXPECT_EQ(status["regions"]["secondary"]["recovery_points"], 1) << status.dump();
  EXPECT_GT(status["last_copy"]["bytes_sent"].get<std::uint64_t>(), 0u) << status.dump();
  const testing::ClientResponse again = admin("POST", "/api/v1/dr/plans/site/copy");
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["bytes_sent"], 0) << again.body;  // nothing missing

  fs::remove_all(dir.path() / "us-east-1");  // the primary region is gone
  const fs::path target = dir.path() / "restored";
  const testing::ClientResponse restore =
      admin("POST", "/api/v1/dr/recovery-points/" + id + "/restore",
            json{{"target", target.string()}, {"source", "auto"}}.dump());
  ASSERT_EQ(restore.status, 200) << restore.body;
  const json report = json::parse(restore.body);
  EXPECT_EQ(report["read_from"], "secondary");
  EXPECT_EQ(report["region"], "eu-west-1");
  EXPECT_TRUE(report["fallback_reason"].is_string()) << restore.body;
  for (const auto& [name, content] : files) {
    const fs::path restored = target / "www" / name;
    ASSERT_TRUE(fs::is_regular_file(restored)) << restored;
    EXPECT_TRUE(ReadFile(restored) == content) << name << " differs after the restore";
  }
  const testing::ClientResponse metrics = admin("GET", "/metrics");
  EXPECT_NE(metrics.body.find("streamgate_dr_copies_total{result=\"success\"} 2\n"),
            std::string::npos)
      << metrics.body;

  // Restarted with the primary still gone, the daemon knows the point from the secondary.
  daemon.reset();
  auto restarted = Daemon::Start(config);
  ASSERT_TRUE(restarted) << restarted.error().ToString();
  const std::vector<scaling::RecoveryPoint> points =
      (*restarted)->disaster_recovery()->ListRecoveryPoints("site");
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].id, id);
  EXPECT_FALSE(points[0].in_primary);
  EXPECT_TRUE(points[0].in_secondary);
}

}  // namespace
}  // namespace streamgate::daemon
