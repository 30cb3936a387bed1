#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "streamgate/state/state_store.hpp"

namespace streamgate::state {
namespace {

class SqliteStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::path(::testing::TempDir()) /
        ("state-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static RuntimeState Sample() {
    RuntimeState state;
    scaling::Region region;
    region.id = "eu-west-1";
    region.name = "Ireland";
    region.location = "Dublin";
    region.endpoint = "http://10.0.0.1:8080/healthz";
    region.priority = 2;
    region.active = false;
    state.regions.push_back({region, true});
    state.primary = "eu-west-1";
    scaling::Backend backend;
    backend.id = "web-9";
    backend.address = "10.0.0.9";
    backend.port = 8081;
    backend.region = "eu-west-1";
    backend.weight = 7;
    backend.health_path = "/ready";
    backend.use_tcp_check = true;
    backend.active = false;
    state.backends.push_back({backend, false});
    state.strategy = scaling::LoadBalancingStrategy::kLeastConnections;
    scaling::DisasterRecoveryPlan plan;
    plan.id = "media";
    plan.name = "Media";
    plan.strategy = scaling::BackupStrategy::kDifferential;
    plan.backup_interval = std::chrono::seconds(3600);
    plan.retention_days = 9;
    plan.rpo = std::chrono::minutes(90);
    plan.rto = std::chrono::minutes(30);
    plan.primary_region = "us-east-1";
    plan.secondary_region = "eu-west-1";
    plan.sources = {"/srv/media", "/srv/db"};
    plan.excludes = {"media/tmp"};
    plan.repository = "/backups/media";
    plan.active = false;
    state.plans.push_back({plan, true});
    state.saved_at = WallTime(std::chrono::seconds(1'800'000'000));
    return state;
  }

  std::filesystem::path dir_;
};

TEST_F(SqliteStateStoreTest, NothingSavedYetThenARoundTripKeepsEveryField) {
  auto store = OpenSqliteStateStore(dir_ / "sub" / "state.db");  // directories are created
  ASSERT_TRUE(store) << store.error().ToString();
  auto empty = (*store)->Load();
  ASSERT_TRUE(empty) << empty.error().ToString();
  EXPECT_FALSE(empty->has_value());

  ASSERT_TRUE((*store)->Save(Sample()));
  store->reset();  // reopen: what was saved is on disk
  auto reopened = OpenSqliteStateStore(dir_ / "sub" / "state.db");
  ASSERT_TRUE(reopened);
  auto loaded = (*reopened)->Load();
  ASSERT_TRUE(loaded && loaded->has_value()) << (loaded ? "" : loaded.error().ToString());
  const RuntimeState& state = **loaded;
  const RuntimeState expected = Sample();
  ASSERT_EQ(state.regions.size(), 1u);
  EXPECT_EQ(state.regions[0].region.endpoint, expected.regions[0].region.endpoint);
  EXPECT_EQ(state.regions[0].region.priority, 2);
  EXPECT_FALSE(state.regions[0].region.active);
  EXPECT_TRUE(state.regions[0].from_api);
  EXPECT_EQ(state.primary, "eu-west-1");
  ASSERT_EQ(state.backends.size(), 1u);
  EXPECT_EQ(state.backends[0].backend.weight, 7u);
  EXPECT_EQ(state.backends[0].backend.health_path, "/ready");
  EXPECT_TRUE(state.backends[0].backend.use_tcp_check);
  EXPECT_FALSE(state.backends[0].from_api);
  EXPECT_EQ(state.strategy, scaling::LoadBalancingStrategy::kLeastConnections);
  ASSERT_EQ(state.plans.size(), 1u);
  const scaling::DisasterRecoveryPlan& plan = state.plans[0].plan;
  EXPECT_EQ(plan.strategy, scaling::BackupStrategy::kDifferential);
  EXPECT_EQ(plan.rpo, std::chrono::minutes(90));
  EXPECT_EQ(plan.sources, expected.plans[0].plan.sources);
  EXPECT_EQ(plan.excludes, expected.plans[0].plan.excludes);
  EXPECT_EQ(plan.secondary_region, "eu-west-1");
  EXPECT_FALSE(plan.active);
  EXPECT_EQ(state.saved_at, expected.saved_at);
}

TEST_F(SqliteStateStoreTest, SaveReplacesTheWholeState) {
  auto store = OpenSqliteStateStore(dir_ / "state.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->Save(Sample()));
  RuntimeState smaller;
  smaller.primary = "";
  ASSERT_TRUE((*store)->Save(smaller));
  auto loaded = (*store)->Load();
  ASSERT_TRUE(loaded && loaded->has_value());
  EXPECT_TRUE((*loaded)->regions.empty());
  EXPECT_TRUE((*loaded)->backends.empty());
  EXPECT_TRUE((*loaded)->plans.empty());
  EXPECT_FALSE((*loaded)->strategy.has_value());
}

TEST_F(SqliteStateStoreTest, UnreadableStoresAreClearErrors) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "garbage.db") << "this is not an SQLite database, not even close........";
  auto garbage = OpenSqliteStateStore(dir_ / "garbage.db");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message().find("garbage.db"), std::string::npos)
      << garbage.error().message();

  auto store = OpenSqliteStateStore(dir_ / "future.db");
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->Save(Sample()));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "future.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto loaded = (*store)->Load();
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), ErrorCode::kCorrupted);
  EXPECT_NE(loaded.error().message().find("schema version 99"), std::string::npos);

  EXPECT_FALSE(OpenSqliteStateStore(""));
}

}  // namespace
}  // namespace streamgate::state
