#include "admin/dr_routes.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "admin/router.hpp"
#include "support/admin_requests.hpp"

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
