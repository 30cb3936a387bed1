// Runtime state across a daemon restart: what the admin API changed comes back; what the config
// file changes afterwards still takes effect where the API did not touch it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "daemon/daemon.hpp"
#include "net/demo_origin.hpp"
#include "support/http_client.hpp"

namespace streamgate::daemon {
namespace {

class DaemonStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("daemon-state-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    auto origin = net::DemoOrigin::Start({});
    ASSERT_TRUE(origin) << origin.error().ToString();
    origin_ = std::move(*origin);
    const std::string endpoint = "http://127.0.0.1:" + std::to_string(origin_->port());
    for (const char* id : {"us-east-1", "eu-west-1", "ap-south-1"}) {
      config::RegionConfig region;
      region.id = id;
      region.name = id;
      region.endpoint = endpoint;
      region.primary = std::string(id) == "us-east-1";
      config_.regions.push_back(region);
      config::BackendConfig backend;
      backend.id = std::string("web-") + id;
      backend.address = "127.0.0.1";
      backend.port = origin_->port();
      backend.region = id;
      config_.backends.push_back(backend);
    }
    config_.admin.listen = {"127.0.0.1", 0};
    config_.data_dir = (dir_ / "data").string();
  }
  void TearDown() override {
    daemon_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Start() {
    daemon_.reset();
    auto daemon = Daemon::Start(config_);
    ASSERT_TRUE(daemon) << daemon.error().ToString();
    daemon_ = std::move(*daemon);
  }
  int Call(const std::string& method, const std::string& target, const std::string& body = "") {
    auto response =
        testing::HttpRequestBlocking(method, "127.0.0.1", daemon_->admin_port(), target, body);
    EXPECT_TRUE(response) << response.error().ToString();
    return response ? response->status : 0;
  }

  std::filesystem::path dir_;
  std::unique_ptr<net::DemoOrigin> origin_;
  config::Config config_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonStateTest, AdminChangesSurviveARestart) {
  Start();
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(origin_->port());
  ASSERT_EQ(Call("POST", "/api/v1/regions",
                 R"({"id":"sa-east-1","name":"Sao Paulo","endpoint":")" + endpoint + R"("})"),
            201);
  ASSERT_EQ(Call("POST", "/api/v1/regions/ap-south-1/deactivate"), 200);
  ASSERT_EQ(Call("PUT", "/api/v1/regions/primary", R"({"id":"eu-west-1"})"), 200);
  ASSERT_EQ(Call("PUT", "/api/v1/lb/strategy", R"({"strategy":"least_conn"})"), 200);
  ASSERT_EQ(Call("POST", "/api/v1/backends/web-eu-west-1/deactivate"), 200);
  ASSERT_EQ(Call("POST", "/api/v1/backends",
                 R"({"id":"web-extra","address":"127.0.0.1","port":)" +
                     std::to_string(origin_->port()) + R"(,"region":"us-east-1","weight":3})"),
            201);

  Start();  // a new daemon on the same config and data_dir
  auto& regions = daemon_->regions();
  ASSERT_TRUE(regions.GetRegion("sa-east-1")) << "region added through the API is back";
  EXPECT_EQ(regions.GetRegion("sa-east-1")->endpoint, endpoint);
  EXPECT_FALSE(regions.GetRegion("ap-south-1")->active);
  EXPECT_EQ(regions.GetPrimaryRegion()->id, "eu-west-1");
  auto* lb = daemon_->balancer();
  ASSERT_NE(lb, nullptr);
  EXPECT_EQ(lb->GetStrategy(), scaling::LoadBalancingStrategy::kLeastConnections);
  EXPECT_FALSE(lb->GetBackend("web-eu-west-1")->active);
  ASSERT_TRUE(lb->GetBackend("web-extra"));
  EXPECT_EQ(lb->GetBackend("web-extra")->weight, 3u);

  // Undoing a change through the API removes it from what is saved.
  ASSERT_EQ(Call("POST", "/api/v1/regions/ap-south-1/activate"), 200);
  Start();
  EXPECT_TRUE(daemon_->regions().GetRegion("ap-south-1")->active);
}

TEST_F(DaemonStateTest, TheConfigFileStillDecidesWhatTheApiDidNotTouch) {
  Start();
  ASSERT_EQ(Call("POST", "/api/v1/regions/ap-south-1/deactivate"), 200);
  daemon_.reset();

  // The operator edits the file: another strategy, a backend turned off, a region removed.
  config_.load_balancer.strategy = scaling::LoadBalancingStrategy::kLatencyBased;
  config_.backends[0].active = false;
  config_.regions.erase(config_.regions.begin() + 2);  // ap-south-1
  config_.backends.erase(config_.backends.begin() + 2);
  Start();
  EXPECT_EQ(daemon_->balancer()->GetStrategy(), scaling::LoadBalancingStrategy::kLatencyBased);
  EXPECT_FALSE(daemon_->balancer()->GetBackend("web-us-east-1")->active);
  EXPECT_FALSE(daemon_->regions().GetRegion("ap-south-1"))
      << "a region the file no longer names stays removed";
}

TEST_F(DaemonStateTest, AnUnreadableStateStoreStopsTheStart) {
  std::filesystem::create_directories(config_.data_dir);
  std::ofstream(std::filesystem::path(config_.data_dir) / "state.db")
      << "not a database, and long enough to be looked at as one by SQLite.........";
  auto daemon = Daemon::Start(config_);
  ASSERT_FALSE(daemon);
  EXPECT_NE(daemon.error().message().find("state.db"), std::string::npos)
      << daemon.error().message();
}

}  // namespace
}  // namespace streamgate::daemon
