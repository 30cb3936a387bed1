#include "admin/dr_routes.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "admin/router.hpp"
#include "support/admin_requests.hpp"
#include "support/fake_backup_engine.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::admin {
namespace {

namespace fs = std::filesystem;
using testing::Lines;
using testing::MakeRequest;

class DisasterRecoveryRoutesTest : public ::testing::Test {
 protected:
  DisasterRecoveryRoutesTest()
      : root_(fs::temp_directory_path() /
              ("sg-dr-routes-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())),
        manager_(10, scaling::DisasterRecoveryDependencies{
                         scaling::MakeRepositoryBackupEngine(RealClock()), nullptr,
                         (root_ / "scratch").string()}) {
    fs::remove_all(root_);
    fs::create_directories(root_ / "source" / "www");
    fs::create_directories(root_ / "scratch");
    std::ofstream(root_ / "source" / "www" / "index.html") << "<h1>hello</h1>";
    router_.Add(DisasterRecoveryRoutes(&manager_));
  }
  ~DisasterRecoveryRoutesTest() override { fs::remove_all(root_); }

  net::HttpResponse Call(std::string method, std::string target, std::string body = "") {
    return router_.Dispatch(MakeRequest(std::move(method), std::move(target), std::move(body)));
  }
  static nlohmann::json Json(const net::HttpResponse& response) {
    return nlohmann::json::parse(response.body);
  }
  std::string PlanBody(std::string_view strategy = "incremental") {
    return nlohmann::json{{"id", "site"},
                          {"sources", {(root_ / "source").string()}},
                          {"repository", (root_ / "repo").string()},
                          {"strategy", strategy},
                          {"backup_interval", "6h"},
                          {"rpo_minutes", 30}}
        .dump();
  }

  fs::path root_;
  scaling::DisasterRecoveryManager manager_;
  Router router_;
};

TEST_F(DisasterRecoveryRoutesTest, PlansAreCreatedWithValidationAndListed) {
  EXPECT_EQ(Call("POST", "/api/v1/dr/plans", PlanBody("weekly")).status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/dr/plans", R"({"id": "x"})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/dr/plans", "{not json").status, 400);
  const net::HttpResponse created = Call("POST", "/api/v1/dr/plans", PlanBody());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(testing::HeaderOf(created, "Location"), "/api/v1/dr/plans/site");
  EXPECT_EQ(Json(created)["backup_interval_seconds"], 6 * 3600);
  EXPECT_EQ(Json(created)["rpo_minutes"], 30);
  EXPECT_EQ(Call("POST", "/api/v1/dr/plans", PlanBody()).status, 409);
  EXPECT_EQ(Json(Call("GET", "/api/v1/dr/plans")).size(), 1u);
  EXPECT_EQ(Json(Call("POST", "/api/v1/dr/plans/site/deactivate"))["active"], false);
  EXPECT_EQ(Json(Call("POST", "/api/v1/dr/plans/site/activate"))["active"], true);
  EXPECT_EQ(Call("GET", "/api/v1/dr/plans/nope").status, 404);
}

TEST_F(DisasterRecoveryRoutesTest, BackupRestoreTestAndDeleteThroughTheApi) {
  ASSERT_EQ(Call("POST", "/api/v1/dr/plans", PlanBody()).status, 201);
  const net::HttpResponse backup = Call("POST", "/api/v1/dr/plans/site/backup");
  ASSERT_EQ(backup.status, 201) << backup.body;
  const std::string point = Json(backup)["id"];
  EXPECT_EQ(Json(backup)["file_count"], 1);
  EXPECT_EQ(Json(Call("GET", "/api/v1/dr/plans/site/recovery-points")).size(), 1u);
  EXPECT_EQ(Json(Call("GET", "/api/v1/dr/recovery-points/" + point))["plan_id"], "site");

  const fs::path target = root_ / "restored";
  EXPECT_EQ(Call("POST", "/api/v1/dr/recovery-points/" + point + "/restore", "{}").status, 400);
  const net::HttpResponse restored =
      Call("POST", "/api/v1/dr/recovery-points/" + point + "/restore",
           nlohmann::json{{"target", target.string()}}.dump());
  ASSERT_EQ(restored.status, 200) << restored.body;
  std::ifstream in(target / "source" / "www" / "index.html");
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), "<h1>hello</h1>");

  const net::HttpResponse test = Call("POST", "/api/v1/dr/plans/site/test");
  ASSERT_EQ(test.status, 200);
  EXPECT_EQ(Json(test)["passed"], true) << test.body;
  EXPECT_EQ(Json(test)["rpo_met"], true);
  const nlohmann::json stats = Json(Call("GET", "/api/v1/dr/stats"));
  EXPECT_EQ(stats["recovery_points"], 1);
  EXPECT_EQ(stats["tests_passed"], 1);
  EXPECT_EQ(stats["per_plan"][0]["last_test"]["passed"], true);

  metrics::PrometheusWriter writer;
  WriteDisasterRecoveryMetrics(manager_, writer);
  const auto lines = Lines(writer.Take());
  auto has = [&](const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  };
  EXPECT_TRUE(has(R"(streamgate_dr_recovery_points 1)"));
  EXPECT_TRUE(has(R"(streamgate_dr_last_test_passed{plan="site"} 1)"));
  EXPECT_TRUE(has(R"(streamgate_dr_rpo_seconds{plan="site"} 1800)"));
  EXPECT_TRUE(has(R"(streamgate_dr_backups_total{result="success"} 1)"));

  EXPECT_EQ(Call("DELETE", "/api/v1/dr/recovery-points/" + point).status, 204);
  EXPECT_EQ(Call("GET", "/api/v1/dr/recovery-points/" + point).status, 404);
}

// Secondary regions through the API, on the fake engine and a manual clock.
class DisasterRecoverySecondaryRoutesTest : public ::testing::Test {
 protected:
  DisasterRecoverySecondaryRoutesTest()
      : root_(fs::temp_directory_path() /
              ("sg-dr-routes2-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())),
        engine_(std::make_shared<testing::FakeBackupEngine>(clock_)),
        manager_(10, scaling::DisasterRecoveryDependencies{engine_, &clock_,
                                                           (root_ / "scratch").string()}) {
    fs::remove_all(root_);
    fs::create_directories(root_ / "source");
    fs::create_directories(root_ / "scratch");
    router_.Add(DisasterRecoveryRoutes(&manager_));
  }
  ~DisasterRecoverySecondaryRoutesTest() override { fs::remove_all(root_); }

  net::HttpResponse Call(std::string method, std::string target, std::string body = "") {
    return router_.Dispatch(MakeRequest(std::move(method), std::move(target), std::move(body)));
  }
  static nlohmann::json Json(const net::HttpResponse& response) {
    return nlohmann::json::parse(response.body);
  }
  net::HttpResponse CreatePlan(bool with_secondary = true) {
    nlohmann::json body = {{"id", "site"},
                           {"sources", {(root_ / "source").string()}},
                           {"repository", (root_ / "us").string()},
                           {"primary_region", "us-east-1"},
                           {"secondary_region", "eu-west-1"},
                           {"rpo_minutes", 60}};
    if (with_secondary) body["secondary_repository"] = (root_ / "eu").string();
    return Call("POST", "/api/v1/dr/plans", body.dump());
  }

  fs::path root_;
  testing::ManualClock clock_;
  std::shared_ptr<testing::FakeBackupEngine> engine_;
  scaling::DisasterRecoveryManager manager_;
  Router router_;
};

TEST_F(DisasterRecoverySecondaryRoutesTest, PlansShowBothRegionsAndValidateTheSecondary) {
  nlohmann::json same = {{"id", "bad"},
                         {"sources", {(root_ / "source").string()}},
                         {"repository", (root_ / "us").string()},
                         {"secondary_region", "eu-west-1"},
                         {"secondary_repository", (root_ / "us").string()}};
  const net::HttpResponse rejected = Call("POST", "/api/v1/dr/plans", same.dump());
  EXPECT_EQ(rejected.status, 400);
  EXPECT_NE(rejected.body.find("secondary_repository must differ from repository"),
            std::string::npos)
      << rejected.body;
  const net::HttpResponse created = CreatePlan();
  ASSERT_EQ(created.status, 201) << created.body;
  const nlohmann::json plan = Json(created);
  EXPECT_EQ(plan["secondary_repository"], (root_ / "eu").string());
  EXPECT_EQ(plan["regions"]["primary"]["region"], "us-east-1");
  EXPECT_EQ(plan["regions"]["secondary"]["repository"], (root_ / "eu").string());
  EXPECT_EQ(plan["status"]["regions"]["secondary"]["recovery_points"], 0);
  EXPECT_TRUE(plan["status"]["last_copy"].is_null());
}

TEST_F(DisasterRecoverySecondaryRoutesTest, CopyRestoreFromARegionTestARegionAndFigures) {
  ASSERT_EQ(CreatePlan().status, 201);
  engine_->FailCopies(Error(ErrorCode::kUnavailable, "eu-west-1 unreachable"));
  const net::HttpResponse backup = Call("POST", "/api/v1/dr/plans/site/backup");
  ASSERT_EQ(backup.status, 201) << backup.body;  // the copy failed, the backup did not
  EXPECT_EQ(Json(backup)["in_secondary"], false);
  EXPECT_EQ(Json(backup)["regions"], nlohmann::json::array({"primary"}));
  const net::HttpResponse failed = Call("POST", "/api/v1/dr/plans/site/copy");
  EXPECT_EQ(failed.status, 500);
  EXPECT_NE(failed.body.find("eu-west-1 unreachable"), std::string::npos);
  nlohmann::json status = Json(Call("GET", "/api/v1/dr/plans/site"))["status"];
  EXPECT_EQ(status["last_copy_error"], "unavailable: eu-west-1 unreachable");
  EXPECT_EQ(status["copies_failed"], 2);

  engine_->FailCopies(std::nullopt);
  clock_.Advance(std::chrono::minutes(30));
  const net::HttpResponse copy = Call("POST", "/api/v1/dr/plans/site/copy");
  ASSERT_EQ(copy.status, 200) << copy.body;
  EXPECT_EQ(Json(copy)["points_copied"], nlohmann::json::array({"p1"}));
  EXPECT_EQ(Json(copy)["bytes_sent"], 100);
  EXPECT_EQ(Json(copy)["chunks_sent"], 10);
  EXPECT_EQ(Call("POST", "/api/v1/dr/plans/nope/copy").status, 404);
  EXPECT_EQ(Json(Call("GET", "/api/v1/dr/recovery-points/p1"))["in_secondary"], true);

  // Restores: auto falls back and says why; an unknown source is a 400.
  const std::string target = (root_ / "restored").string();
  EXPECT_EQ(Call("POST", "/api/v1/dr/recovery-points/p1/restore",
                 nlohmann::json{{"target", target}, {"source", "nearest"}}.dump())
                .status,
            400);
  engine_->FailRestores(scaling::RepositoryRole::kPrimary,
                        Error(ErrorCode::kUnavailable, "us-east-1 down"));
  const net::HttpResponse restored = Call("POST", "/api/v1/dr/recovery-points/p1/restore",
                                          nlohmann::json{{"target", target}}.dump());
  ASSERT_EQ(restored.status, 200) << restored.body;
  EXPECT_EQ(Json(restored)["read_from"], "secondary");
  EXPECT_EQ(Json(restored)["region"], "eu-west-1");
  EXPECT_EQ(Json(restored)["fallback_reason"],
            "primary repository unreachable: unavailable: us-east-1 down");
  EXPECT_EQ(Call("POST", "/api/v1/dr/recovery-points/p1/restore",
                 nlohmann::json{{"target", target}, {"source", "primary"}}.dump())
                .status,
            500);
  engine_->FailRestores(scaling::RepositoryRole::kPrimary, std::nullopt);
  const net::HttpResponse from_primary =
      Call("POST", "/api/v1/dr/recovery-points/p1/restore",
           nlohmann::json{{"target", target}, {"source", "primary"}}.dump());
  ASSERT_EQ(from_primary.status, 200) << from_primary.body;
  EXPECT_TRUE(Json(from_primary)["fallback_reason"].is_null());

  // Tests: the primary by default, the secondary on request.
  EXPECT_EQ(Json(Call("POST", "/api/v1/dr/plans/site/test"))["region"], "primary");
  const net::HttpResponse test =
      Call("POST", "/api/v1/dr/plans/site/test", R"({"region": "secondary"})");
  ASSERT_EQ(test.status, 200) << test.body;
  EXPECT_EQ(Json(test)["region"], "secondary");
  EXPECT_EQ(Json(test)["passed"], true);
  EXPECT_EQ(Call("POST", "/api/v1/dr/plans/site/test", R"({"region": "moon"})").status, 400);

  // Figures: the secondary's point is as old as the primary's (it is the same point).
  clock_.Advance(std::chrono::minutes(45));  // p1 is 75 minutes old now
  const nlohmann::json stats = Json(Call("GET", "/api/v1/dr/stats"));
  EXPECT_EQ(stats["copies_succeeded"], 1);
  const nlohmann::json& regions = stats["per_plan"][0]["regions"];
  EXPECT_EQ(regions["primary"]["newest_point_age_seconds"], 75 * 60);
  EXPECT_EQ(regions["secondary"]["newest_point_age_seconds"], 75 * 60);
  EXPECT_EQ(regions["secondary"]["rpo_met"], false);
  EXPECT_EQ(stats["per_plan"][0]["last_copy"]["bytes_sent"], 100);

  metrics::PrometheusWriter writer;
  WriteDisasterRecoveryMetrics(manager_, writer);
  const auto lines = Lines(writer.Take());
  auto has = [&](const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  };
  EXPECT_TRUE(has(R"(streamgate_dr_copies_total{result="success"} 1)"));
  EXPECT_TRUE(has(R"(streamgate_dr_copies_total{result="failure"} 2)"));
  EXPECT_TRUE(has(
      R"(streamgate_dr_region_point_age_seconds{plan="site",role="secondary",region="eu-west-1"} 4500)"));
  EXPECT_TRUE(
      has(R"(streamgate_dr_region_rpo_met{plan="site",role="primary",region="us-east-1"} 0)"));
  EXPECT_TRUE(has(
      R"(streamgate_dr_region_recovery_points{plan="site",role="secondary",region="eu-west-1"} 1)"));
  EXPECT_TRUE(has(R"(streamgate_dr_last_copy_bytes{plan="site"} 100)"));
  EXPECT_TRUE(has(R"(streamgate_dr_last_copy_chunks{plan="site"} 10)"));
  EXPECT_TRUE(has(R"(streamgate_dr_last_copy_duration_seconds{plan="site"} 0.007)"));
  EXPECT_TRUE(has(R"(streamgate_dr_last_copy_failed{plan="site"} 0)"));
}

TEST_F(DisasterRecoverySecondaryRoutesTest, APlanWithoutASecondaryRefusesCopiesAndSecondaryReads) {
  ASSERT_EQ(CreatePlan(/*with_secondary=*/false).status, 201);
  EXPECT_TRUE(Json(Call("GET", "/api/v1/dr/plans/site"))["regions"]["secondary"].is_null());
  ASSERT_EQ(Call("POST", "/api/v1/dr/plans/site/backup").status, 201);
  EXPECT_EQ(engine_->copies(), 0);
  EXPECT_EQ(Call("POST", "/api/v1/dr/plans/site/copy").status, 409);
  EXPECT_EQ(Call("POST", "/api/v1/dr/plans/site/test", R"({"region": "secondary"})").status, 409);
  EXPECT_EQ(Call("POST", "/api/v1/dr/recovery-points/p1/restore",
                 nlohmann::json{{"target", (root_ / "r").string()}, {"source", "secondary"}}.dump())
                .status,
            409);
  metrics::PrometheusWriter writer;
  WriteDisasterRecoveryMetrics(manager_, writer);
  const std::string text = writer.Take();
  EXPECT_EQ(text.find("role=\"secondary\""), std::string::npos);
  EXPECT_EQ(text.find("streamgate_dr_last_copy_bytes{"), std::string::npos);
}

TEST(DisasterRecoveryRoutesUnconfiguredTest, EveryRouteSaysSo) {
  Router router;
  router.Add(DisasterRecoveryRoutes(nullptr));
  const net::HttpResponse response = router.Dispatch(MakeRequest("GET", "/api/v1/dr/plans"));
  EXPECT_EQ(response.status, 404);
  EXPECT_NE(response.body.find("disaster recovery not configured"), std::string::npos);
  EXPECT_EQ(router.Dispatch(MakeRequest("PUT", "/api/v1/dr/plans")).status, 405);
}

}  // namespace
}  // namespace streamgate::admin
