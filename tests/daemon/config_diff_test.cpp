// What a reload applies live and what it reports as needing a restart.
#include "daemon/config_diff.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace streamgate::daemon {
namespace {

config::ListenerConfig Listener(const std::string& name, std::uint16_t port) {
  config::ListenerConfig listener;
  listener.name = name;
  listener.listen = {"127.0.0.1", port};
  return listener;
}

config::Config Base() {
  config::Config config;
  for (const char* id : {"us-east-1", "eu-west-1"}) {
    config::RegionConfig region;
    region.id = id;
    region.name = id;
    region.endpoint = "http://127.0.0.1:9101";
    region.primary = std::string(id) == "us-east-1";
    config.regions.push_back(region);
    config::BackendConfig backend;
    backend.id = std::string("web-") + id;
    backend.address = "127.0.0.1";
    backend.port = 9101;
    backend.region = id;
    config.backends.push_back(backend);
  }
  config.listeners.push_back(Listener("public", 8080));
  config::DisasterRecoveryConfig dr;
  config::DisasterRecoveryPlanConfig plan;
  plan.plan.id = "plan-1";
  plan.plan.sources = {"/srv/data"};
  plan.plan.repository = "/backup/repo";
  dr.plans.push_back(plan);
  config.disaster_recovery = dr;
  return config;
}

bool Mentions(const std::vector<std::string>& lines, std::string_view text) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& line) { return line.find(text) != std::string::npos; });
}

TEST(ConfigDiffTest, SameConfigIsEmptyEvenWhenEntriesMoveInTheFile) {
  config::Config next = Base();
  for (auto& region : next.regions) region.line += 10;
  next.listeners[0].line = 40;
  EXPECT_TRUE(DiffConfigs(Base(), next).empty());
}

TEST(ConfigDiffTest, RegionsAddedChangedRemovedAndTheNewPrimary) {
  config::Config next = Base();
  next.regions[1].priority = 7;    // eu-west-1 changed
  next.regions[1].primary = true;  // and is the primary now
  next.regions[0].primary = false;
  next.regions.erase(next.regions.begin());  // us-east-1 removed
  config::RegionConfig added;
  added.id = "ap-south-1";
  added.endpoint = "http://127.0.0.1:9102";
  next.regions.push_back(added);
  next.backends.clear();  // keep the balancer question out of this test
  next.listeners.push_back(Listener("second", 8081));
  config::Config running = Base();
  running.backends.clear();
  running.listeners = next.listeners;

  const ConfigDiff diff = DiffConfigs(running, next);
  ASSERT_EQ(diff.regions_added.size(), 1u);
  EXPECT_EQ(diff.regions_added[0].id, "ap-south-1");
  ASSERT_EQ(diff.regions_changed.size(), 1u);
  EXPECT_EQ(diff.regions_changed[0].id, "eu-west-1");
  EXPECT_EQ(diff.regions_removed, std::vector<std::string>{"us-east-1"});
  EXPECT_EQ(diff.primary, "eu-west-1");
  EXPECT_TRUE(diff.restart_required.empty());
}

TEST(ConfigDiffTest, BackendsStrategyPlansAndLogLevel) {
  config::Config next = Base();
  next.backends[0].weight = 5;
  next.backends.pop_back();
  config::BackendConfig added = next.backends[0];
  added.id = "web-3";
  next.backends.push_back(added);
  next.load_balancer.strategy = scaling::LoadBalancingStrategy::kLeastConnections;
  next.disaster_recovery->plans[0].plan.rpo = std::chrono::minutes(5);
  next.log.level = "debug";

  const ConfigDiff diff = DiffConfigs(Base(), next);
  ASSERT_EQ(diff.backends_changed.size(), 1u);
  EXPECT_EQ(diff.backends_changed[0].weight, 5u);
  ASSERT_EQ(diff.backends_added.size(), 1u);
  EXPECT_EQ(diff.backends_added[0].id, "web-3");
  EXPECT_EQ(diff.backends_removed, std::vector<std::string>{"web-eu-west-1"});
  EXPECT_EQ(diff.strategy, scaling::LoadBalancingStrategy::kLeastConnections);
  ASSERT_EQ(diff.plans_changed.size(), 1u);
  EXPECT_EQ(diff.plans_changed[0].rpo, std::chrono::minutes(5));
  EXPECT_TRUE(diff.log_level_changed);
  EXPECT_TRUE(diff.restart_required.empty());
}

TEST(ConfigDiffTest, WhatOnlyARestartChangesIsNamed) {
  config::Config next = Base();
  next.admin.listen.port = 9902;
  next.listeners[0].listen.port = 8081;
  next.proxy.threads = 3;
  next.data_dir = "/var/lib/other";
  next.health_check.interval = std::chrono::seconds(5);
  next.log.format = "json";
  next.regions[0].countries = {"US"};
  next.cdn.emplace();
  next.disaster_recovery->test_interval = std::chrono::hours(1);
  next.admin.tls.emplace();

  const ConfigDiff diff = DiffConfigs(Base(), next);
  for (const char* what :
       {"admin.listen (127.0.0.1:9901 -> 127.0.0.1:9902)", "listeners", "proxy.threads (0 -> 3)",
        "data_dir", "health_check", "log.format", "regions.us-east-1 geography", "cdn",
        "disaster_recovery (", "admin.tls (HTTPS turned on)"}) {
    EXPECT_TRUE(Mentions(diff.restart_required, what)) << what;
  }
  EXPECT_EQ(diff.restart_required.size(), 10u);
  // Live settings next to them are still applied.
  EXPECT_TRUE(diff.regions_changed.empty());
}

TEST(ConfigDiffTest, AddingOrRemovingTheWholeDisasterRecoverySectionNeedsARestart) {
  config::Config next = Base();
  next.disaster_recovery.reset();
  const ConfigDiff diff = DiffConfigs(Base(), next);
  EXPECT_TRUE(Mentions(diff.restart_required, "disaster_recovery (removed)"));
  EXPECT_TRUE(diff.plans_removed.empty()) << "no manager to remove plans from live";
}

TEST(ConfigDiffTest, ProxyTimeoutsAndTrustedProxiesAreNotRestartReasons) {
  config::Config next = Base();
  next.proxy.idle_timeout = std::chrono::seconds(5);
  next.proxy.drain_timeout = std::chrono::seconds(3);
  next.load_balancer.retries = 3;
  next.load_balancer.trusted_proxies = {"10.0.0.0/8"};
  const ConfigDiff diff = DiffConfigs(Base(), next);
  EXPECT_TRUE(diff.restart_required.empty());
}

}  // namespace
}  // namespace streamgate::daemon
