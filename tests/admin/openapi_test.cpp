// docs/openapi.yaml lists exactly the routes the admin API serves, so the document cannot drift.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <regex>
#include <set>
#include <utility>

#include "admin/admin_api.hpp"
#include "admin/dashboard_routes.hpp"
#include "support/fake_prober.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::admin {
namespace {

TEST(OpenApiTest, TheDocumentListsExactlyTheServedRoutes) {
  testing::ManualClock clock;
  scaling::MultiRegionManager regions(scaling::HealthCheckOptions{},
                                      std::make_shared<testing::FakeProber>(), clock);
  DashboardHistory dashboard(&regions, nullptr, nullptr, clock);  // the daemon always has one
  AdminApiOptions options;
  options.dashboard = &dashboard;
  const AdminApi api(regions, std::move(options));

  std::set<std::string> served;
  for (const auto& [method, pattern] : api.Routes()) {
    // The router's greedy "{key...}" is an ordinary path parameter in OpenAPI.
    served.insert(method + " " + std::regex_replace(pattern, std::regex(R"(\.\.\.\})"), "}"));
  }
  ASSERT_GT(served.size(), 30u);

  const YAML::Node doc = YAML::LoadFile(std::string(STREAMGATE_SOURCE_DIR) + "/docs/openapi.yaml");
  std::set<std::string> documented;
  for (const auto& path : doc["paths"]) {
    for (const auto& operation : path.second) {
      std::string method = operation.first.as<std::string>();
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      documented.insert(method + " " + path.first.as<std::string>());
    }
  }
  for (const std::string& route : served) {
    EXPECT_TRUE(documented.contains(route)) << route << " is served but not in docs/openapi.yaml";
  }
  for (const std::string& route : documented) {
    EXPECT_TRUE(served.contains(route)) << route << " is in docs/openapi.yaml but not served";
  }
}

}  // namespace
}  // namespace streamgate::admin
