// The daemon with a `cdn:` section, end to end: a real demo origin, the proxy's edge cache in the
// CDN manager's store, and the admin API over HTTP.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "daemon/daemon.hpp"
#include "net/demo_origin.hpp"
#include "support/fake_cdn.hpp"
#include "support/http_client.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::daemon {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

using RecordingPurger = testing::FakePurger;

class DaemonCdnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    net::DemoOriginOptions options;
    options.id = "origin-1";
    auto origin = net::DemoOrigin::Start(options);
    ASSERT_TRUE(origin) << origin.error().ToString();
    origin_ = std::move(*origin);
    config_.admin.listen = {"127.0.0.1", 0};
    config_.health_check.interval = 1s;
    config_.health_check.timeout = 500ms;
    config::BackendConfig backend;
    backend.id = "web-1";
    backend.address = "127.0.0.1";
    backend.port = origin_->port();
    config_.backends.push_back(backend);
    config_.listeners.push_back({"public", {"127.0.0.1", 0}, 0});
    config_.proxy.threads = 2;
    config::CdnConfig cdn;
    cdn.manager.max_cache_size = 64 << 20;
    cdn.manager.default_ttl = 3600s;  // the demo origin sends no Cache-Control by default
    config_.cdn = cdn;
  }

  void TearDown() override { daemon_.reset(); }

  void StartDaemon(DaemonDependencies deps = {}) {
    auto daemon = Daemon::Start(config_, std::move(deps));
    ASSERT_TRUE(daemon) << daemon.error().ToString();
    daemon_ = std::move(*daemon);
  }

  // GETs `target` through the proxy; returns the X-Cache value ("<none>" without one).
  std::string XCache(const std::string& target, std::size_t expected_size) {
    auto response = testing::HttpGet("127.0.0.1", daemon_->proxy_port(), target);
    if (!response) return "error: " + response.error().ToString();
    EXPECT_EQ(response->status, 200) << target;
    EXPECT_EQ(response->body.size(), expected_size) << target;
    return std::string(response->Header("X-Cache").value_or("<none>"));
  }

  testing::ClientResponse Admin(std::string_view method, std::string_view target,
                                std::string_view body = {}) {
    auto response =
        testing::HttpRequestBlocking(method, "127.0.0.1", daemon_->admin_port(), target, body);
    EXPECT_TRUE(response) << response.error().ToString();
    return response ? *response : testing::ClientResponse{};
  }

  json AdminJson(std::string_view method, std::string_view target, std::string_view body = {}) {
    const testing::ClientResponse response = Admin(method, target, body);
    EXPECT_EQ(response.status, 200) << method << " " << target << ": " << response.body;
    return json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  }

  std::string Key(const std::string& target) const {
    return "127.0.0.1:" + std::to_string(daemon_->proxy_port()) + target;
  }

  config::Config config_;
  std::unique_ptr<net::DemoOrigin> origin_;
  testing::ManualClock clock_;  // for tests that inject it; outlives the daemon
  std::unique_ptr<Daemon> daemon_;
};

bool HasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST_F(DaemonCdnTest, MissThenHitThenAdminDeleteMakesItMissAgain) {
  StartDaemon();
  ASSERT_NE(daemon_->cdn(), nullptr);
  EXPECT_EQ(XCache("/bytes/1024", 1024), "MISS");
  EXPECT_EQ(XCache("/bytes/1024", 1024), "HIT");
  EXPECT_EQ(XCache("/bytes/1024", 1024), "HIT");

  // The admin API sees the proxy's entry under "<host><target>", with its url.
  const std::string key = Key("/bytes/1024");
  const json list = AdminJson("GET", "/api/v1/cdn/content");
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 1u) << list.dump();
  EXPECT_EQ(list[0]["key"], key);
  EXPECT_EQ(list[0]["url"], "http://" + key);
  EXPECT_EQ(list[0]["size"], 1024);
  EXPECT_EQ(list[0]["ttl"], 3600);
  EXPECT_EQ(list[0]["fresh"], true);
  EXPECT_EQ(AdminJson("GET", "/api/v1/cdn/content/" + key)["size"], 1024);

  const json metrics = AdminJson("GET", "/api/v1/cdn/metrics");
  EXPECT_EQ(metrics["cache_hits"], 2);
  EXPECT_EQ(metrics["cache_count"], 1);
  EXPECT_EQ(metrics["bytes_served_from_cache"], 2048);
  EXPECT_GT(metrics["utilization"].get<double>(), 0.0);

  // Percent-encoded, as a client library would send it.
  std::string encoded;
  for (char c : key) encoded += c == '/' ? "%2F" : c == ':' ? "%3A" : std::string(1, c);
  EXPECT_EQ(AdminJson("DELETE", "/api/v1/cdn/content/" + encoded)["invalidated"], key);
  EXPECT_EQ(Admin("GET", "/api/v1/cdn/content/" + encoded).status, 404);
  EXPECT_EQ(XCache("/bytes/1024", 1024), "MISS");
  EXPECT_EQ(XCache("/bytes/1024", 1024), "HIT");
}

TEST_F(DaemonCdnTest, MetricsShowProxyAndCdnCacheCounters) {
  StartDaemon();
  EXPECT_EQ(XCache("/bytes/100", 100), "MISS");
  EXPECT_EQ(XCache("/bytes/100", 100), "HIT");
  EXPECT_EQ(XCache("/bytes/100", 100), "HIT");
  const testing::ClientResponse scrape = Admin("GET", "/metrics");
  ASSERT_EQ(scrape.status, 200);
  for (const std::string line : {
           "streamgate_proxy_cache_responses_total{result=\"hit\"} 2",
           "streamgate_proxy_cache_responses_total{result=\"miss\"} 1",
           "streamgate_proxy_cache_stores_total 1",
           "streamgate_cdn_requests_total{result=\"hit\"} 2",
           "streamgate_cdn_cache_objects 1",
           "streamgate_cdn_bytes_total{source=\"cache\"} 200",
           "streamgate_cdn_cache_max_bytes 67108864",
       }) {
    EXPECT_TRUE(HasLine(scrape.body, line)) << line << "\n" << scrape.body;
  }
}

TEST_F(DaemonCdnTest, PurgeByPrefixRemovesOnlyMatchingEntries) {
  config_.cdn->manager.provider = scaling::CDNProvider::kCloudflare;
  config_.cdn->manager.api_key = "token";
  config_.cdn->manager.zone_id = "zone";
  auto purger = std::make_shared<RecordingPurger>();
  DaemonDependencies deps;
  deps.cdn_purger = purger;
  StartDaemon(deps);
  EXPECT_EQ(XCache("/bytes/10", 10), "MISS");
  EXPECT_EQ(XCache("/bytes/20", 20), "MISS");
  EXPECT_EQ(XCache("/id", 8), "MISS");  // "origin-1"
  ASSERT_EQ(daemon_->cdn()->GetCacheCount(), 3u);

  const std::string prefix = "http://" + Key("/bytes/");
  const json purged = AdminJson("POST", "/api/v1/cdn/purge", json{{"prefix", prefix}}.dump());
  EXPECT_EQ(purged["removed"], 2);
  EXPECT_EQ(daemon_->cdn()->GetCacheCount(), 1u);
  EXPECT_EQ(purger->Calls(), std::vector<std::string>{"prefixes:" + prefix});

  EXPECT_EQ(XCache("/bytes/10", 10), "MISS");
  EXPECT_EQ(XCache("/id", 8), "HIT");

  EXPECT_EQ(AdminJson("DELETE", "/api/v1/cdn/content")["invalidated"], "all");
  EXPECT_EQ(daemon_->cdn()->GetCacheCount(), 0u);
  EXPECT_EQ(XCache("/id", 8), "MISS");
  EXPECT_EQ(purger->Calls().back(), "all:");
}

TEST_F(DaemonCdnTest, PathsLimitWhatIsCached) {
  config_.cdn->path_prefixes = {"/bytes/"};
  StartDaemon();
  EXPECT_EQ(XCache("/id", 8), "<none>");
  EXPECT_EQ(XCache("/id", 8), "<none>");
  EXPECT_EQ(XCache("/bytes/5", 5), "MISS");
  EXPECT_EQ(XCache("/bytes/5", 5), "HIT");
}

TEST_F(DaemonCdnTest, ExpiredEntriesAreSweptOnTheDaemonClock) {
  testing::ManualClock& clock = clock_;
  config_.cdn->keep_for_revalidation = 0s;
  config_.cdn->expiry_interval = 10s;
  DaemonDependencies deps;
  deps.clock = &clock;
  StartDaemon(deps);
  EXPECT_EQ(XCache("/bytes/64?max_age=5", 64), "MISS");  // Cache-Control: public, max-age=5
  EXPECT_EQ(XCache("/bytes/64?max_age=5", 64), "HIT");
  ASSERT_EQ(daemon_->cdn()->GetCacheCount(), 1u);

  clock.Advance(11s);  // past the entry's expiry and one sweep interval
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (daemon_->cdn()->GetMetrics().expirations == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // the sweep runs on the daemon's scheduler thread
  }
  EXPECT_EQ(daemon_->cdn()->GetMetrics().expirations, 1u);
  EXPECT_EQ(daemon_->cdn()->GetCacheCount(), 0u);
  EXPECT_EQ(XCache("/bytes/64?max_age=5", 64), "MISS");
}

TEST_F(DaemonCdnTest, DisabledOrAbsentSectionMeansNoCache) {
  for (bool absent : {false, true}) {
    if (absent) {
      config_.cdn.reset();
    } else {
      config_.cdn->enabled = false;
    }
    StartDaemon();
    EXPECT_EQ(daemon_->cdn(), nullptr);
    EXPECT_EQ(XCache("/bytes/10", 10), "<none>");
    EXPECT_EQ(XCache("/bytes/10", 10), "<none>");
    const testing::ClientResponse response = Admin("GET", "/api/v1/cdn/metrics");
    EXPECT_EQ(response.status, 404);
    EXPECT_NE(response.body.find("cdn not configured"), std::string::npos) << response.body;
    EXPECT_EQ(Admin("GET", "/metrics").body.find("streamgate_cdn_"), std::string::npos);
    daemon_.reset();
  }
}

TEST_F(DaemonCdnTest, AnInvalidCdnConfigFailsStart) {
  config_.cdn->manager.provider = scaling::CDNProvider::kFastly;  // no api_key, no service_id
  auto daemon = Daemon::Start(config_);
  ASSERT_FALSE(daemon);
  EXPECT_NE(daemon.error().message().find("fastly"), std::string::npos)
      << daemon.error().ToString();
}

}  // namespace
}  // namespace streamgate::daemon
