// streamgatectl against a live daemon: real admin listener on loopback, real demo origins.
#include "ctl/ctl.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "daemon/daemon.hpp"
#include "net/demo_origin.hpp"

namespace streamgate::ctl {
namespace {

using nlohmann::json;

class CtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* ids[] = {"us-east-1", "eu-west-1"};
    for (int i = 0; i < 2; ++i) {
      net::DemoOriginOptions options;
      options.id = ids[i];
      auto origin = net::DemoOrigin::Start(options);
      ASSERT_TRUE(origin) << origin.error().ToString();
      origins_.push_back(std::move(*origin));
      config::RegionConfig region;
      region.id = ids[i];
      region.name = std::string("Region ") + ids[i];
      region.endpoint = "http://127.0.0.1:" + std::to_string(origins_.back()->port());
      region.priority = i + 1;
      region.primary = (i == 0);
      config_.regions.push_back(region);
      config::BackendConfig backend;
      backend.id = std::string("web-") + ids[i];
      backend.address = "127.0.0.1";
      backend.port = origins_.back()->port();
      backend.region = ids[i];
      config_.backends.push_back(backend);
    }
    config_.admin.listen = {"127.0.0.1", 0};
    config_.admin.token = "ctl-test-token";
    auto daemon = daemon::Daemon::Start(config_);
    ASSERT_TRUE(daemon) << daemon.error().ToString();
    daemon_ = std::move(*daemon);
    env_.admin_url = "http://127.0.0.1:" + std::to_string(daemon_->admin_port());
  }

  struct Run {
    int code = -1;
    std::string out;
    std::string err;
  };
  Run Ctl(const std::vector<std::string>& args, const CtlEnvironment* env = nullptr) {
    std::ostringstream out;
    std::ostringstream err;
    Run run;
    run.code = RunCtl(args, out, err, env != nullptr ? *env : env_);
    run.out = out.str();
    run.err = err.str();
    return run;
  }

  config::Config config_;
  std::vector<std::unique_ptr<net::DemoOrigin>> origins_;
  std::unique_ptr<daemon::Daemon> daemon_;
  CtlEnvironment env_;
};

TEST_F(CtlTest, ListsRegionsAsATableAndAsJson) {
  Run table = Ctl({"regions", "list"});
  ASSERT_EQ(table.code, kExitOk) << table.err;
  std::istringstream lines(table.out);
  std::string header;
  std::getline(lines, header);
  EXPECT_TRUE(header.starts_with("ID ")) << table.out;
  EXPECT_NE(header.find("HEALTH_STATUS"), std::string::npos) << header;
  EXPECT_NE(header.find("PRIMARY"), std::string::npos) << header;
  std::string first;
  std::string second;
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_TRUE(first.starts_with("us-east-1 ")) << table.out;
  EXPECT_NE(first.find("Region us-east-1"), std::string::npos) << first;
  EXPECT_NE(first.find("true"), std::string::npos) << first;  // primary
  EXPECT_TRUE(second.starts_with("eu-west-1 ")) << table.out;

  Run as_json = Ctl({"--json", "regions", "get", "eu-west-1"});
  ASSERT_EQ(as_json.code, kExitOk) << as_json.err;
  const json region = json::parse(as_json.out);
  EXPECT_EQ(region["id"], "eu-west-1");
  EXPECT_EQ(region["primary"], false);

  Run one = Ctl({"regions", "get", "us-east-1"});
  EXPECT_NE(one.out.find("id: us-east-1\n"), std::string::npos) << one.out;
}

TEST_F(CtlTest, ChangesNeedTheTokenAndReachTheDaemon) {
  CtlEnvironment no_token = env_;
  no_token.token.clear();
  Run refused = Ctl({"regions", "set-primary", "eu-west-1"}, &no_token);
  EXPECT_EQ(refused.code, kExitUnauthorized);
  EXPECT_NE(refused.err.find("--token or set STREAMGATE_ADMIN_TOKEN"), std::string::npos)
      << refused.err;
  EXPECT_EQ(daemon_->regions().GetPrimaryRegion()->id, "us-east-1");

  Run moved = Ctl({"--token", "ctl-test-token", "regions", "set-primary", "eu-west-1"}, &no_token);
  ASSERT_EQ(moved.code, kExitOk) << moved.err;
  EXPECT_EQ(daemon_->regions().GetPrimaryRegion()->id, "eu-west-1");

  env_.token = "ctl-test-token";  // as if from STREAMGATE_ADMIN_TOKEN
  ASSERT_EQ(Ctl({"lb", "set-strategy", "least_conn"}).code, kExitOk);
  EXPECT_EQ(daemon_->balancer()->GetStrategy(), scaling::LoadBalancingStrategy::kLeastConnections);
  ASSERT_EQ(Ctl({"backends", "deactivate", "web-eu-west-1"}).code, kExitOk);
  EXPECT_FALSE(daemon_->balancer()->GetBackend("web-eu-west-1")->active);
  Run backends = Ctl({"backends", "list"});
  ASSERT_EQ(backends.code, kExitOk) << backends.err;
  EXPECT_NE(backends.out.find("web-us-east-1"), std::string::npos) << backends.out;
  EXPECT_NE(backends.out.find("CONNECTIONS"), std::string::npos) << backends.out;
}

TEST_F(CtlTest, ErrorsSayWhatWentWrongWithDistinctExitCodes) {
  Run missing = Ctl({"regions", "get", "nowhere"});
  EXPECT_EQ(missing.code, kExitRefused);
  EXPECT_NE(missing.err.find("HTTP 404 not_found"), std::string::npos) << missing.err;

  Run no_cdn = Ctl({"cdn", "metrics"});
  EXPECT_EQ(no_cdn.code, kExitRefused);
  EXPECT_NE(no_cdn.err.find("cdn not configured"), std::string::npos) << no_cdn.err;

  Run usage = Ctl({"regions", "frobnicate"});
  EXPECT_EQ(usage.code, kExitUsage);
  EXPECT_NE(usage.err.find("streamgatectl --help"), std::string::npos) << usage.err;
  EXPECT_EQ(Ctl({"cdn", "purge"}).code, kExitUsage);  // needs --all, --prefix or --surrogate-key

  CtlEnvironment closed = env_;
  daemon_.reset();  // nothing listens on the admin port any more
  Run unreachable = Ctl({"regions", "list"}, &closed);
  EXPECT_EQ(unreachable.code, kExitUnreachable);
  EXPECT_NE(unreachable.err.find("is the daemon running?"), std::string::npos) << unreachable.err;
}

TEST_F(CtlTest, ReloadReportsWhatChangedOrWhyNot) {
  // This daemon was started from a Config in memory: nothing to re-read, said plainly.
  Run refused = Ctl({"--token", "ctl-test-token", "reload"});
  EXPECT_EQ(refused.code, kExitRefused);
  EXPECT_NE(refused.err.find("not started from a config file"), std::string::npos) << refused.err;

  // From a file: one line per change.
  const std::string file = ::testing::TempDir() + "/ctl-reload.yaml";
  std::ofstream(file) << "admin: {listen: 127.0.0.1:0, token: ctl-test-token}\n"
                         "regions:\n  - {id: us-east-1, endpoint: http://127.0.0.1:"
                      << origins_[0]->port() << ", primary: true}\n"
                      << "  - {id: sa-east-1, endpoint: http://127.0.0.1:" << origins_[1]->port()
                      << "}\n";
  auto config = config::LoadConfigFile(file);
  ASSERT_TRUE(config) << config.error().front().ToString();
  daemon_.reset();
  auto daemon = daemon::Daemon::Start(*config);
  ASSERT_TRUE(daemon) << daemon.error().ToString();
  daemon_ = std::move(*daemon);
  env_.admin_url = "http://127.0.0.1:" + std::to_string(daemon_->admin_port());
  std::ofstream(file, std::ios::app)
      << "  - {id: ap-south-1, endpoint: http://127.0.0.1:" << origins_[1]->port() << "}\n";
  Run reloaded = Ctl({"--token", "ctl-test-token", "reload"});
  ASSERT_EQ(reloaded.code, kExitOk) << reloaded.err;
  EXPECT_EQ(reloaded.out, "applied: region 'ap-south-1' added\n");
  EXPECT_TRUE(daemon_->regions().GetRegion("ap-south-1"));
}

TEST_F(CtlTest, MetricsHealthAndHelp) {
  Run metrics = Ctl({"metrics"});
  ASSERT_EQ(metrics.code, kExitOk) << metrics.err;
  EXPECT_NE(metrics.out.find("streamgate_region_healthy{region=\"us-east-1\"}"), std::string::npos);
  Run health = Ctl({"health"});
  EXPECT_EQ(health.code, kExitOk);
  EXPECT_EQ(health.out, "status: ok\n");

  Run help = Ctl({"--help"});
  EXPECT_EQ(help.code, kExitOk);
  for (const char* resource : {"regions", "backends", "lb", "cdn", "dr", "reload"}) {
    EXPECT_NE(help.out.find(resource), std::string::npos) << resource;
  }
  Run dr_help = Ctl({"dr", "--help"});
  EXPECT_EQ(dr_help.code, kExitOk);
  EXPECT_NE(dr_help.out.find("restore"), std::string::npos) << dr_help.out;
}

}  // namespace
}  // namespace streamgate::ctl
