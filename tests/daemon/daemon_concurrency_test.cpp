// The daemon end to end: real origins on loopback, the network prober, the real clock, the admin
// API over HTTP. Waits are on manager events with deadlines, never on fixed sleeps.
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "daemon/daemon.hpp"
#include "net/demo_origin.hpp"
#include "support/http_client.hpp"

namespace streamgate::daemon {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* ids[] = {"us-east-1", "eu-west-1", "ap-southeast-1"};
    for (int i = 0; i < 3; ++i) {
      net::DemoOriginOptions options;
      options.id = ids[i];
      auto origin = net::DemoOrigin::Start(options);
      ASSERT_TRUE(origin) << origin.error().ToString();
      origins_.push_back(std::move(*origin));
      config::RegionConfig region;
      region.id = ids[i];
      region.name = ids[i];
      region.location = "loopback";
      region.endpoint = "http://127.0.0.1:" + std::to_string(origins_.back()->port());
      region.priority = i + 1;
      region.primary = (i == 0);
      config_.regions.push_back(region);
    }
    config_.admin.listen = {"127.0.0.1", 0};
    config_.health_check.interval = 1s;
    config_.health_check.timeout = 500ms;
    config_.health_check.rise = 2;
    config_.health_check.fall = 2;
    config_.health_check.degraded_latency = 200ms;
  }

  // The daemon's threads call the listener, which uses the members below: stop it first.
  void TearDown() override { daemon_.reset(); }

  void StartDaemon() {
    auto daemon = Daemon::Start(config_);
    ASSERT_TRUE(daemon) << daemon.error().ToString();
    daemon_ = std::move(*daemon);
    daemon_->regions().SetEventListener([this](const scaling::RegionEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      changed_.notify_all();
    });
  }

  // Forgets past events, so the next wait sees only what follows.
  void ClearEvents() {
    std::lock_guard lock(mu_);
    events_.clear();
  }

  // Waits (up to `deadline`) for an event matching `pred`; returns whether one came.
  template <typename Pred>
  bool WaitForEvent(Pred pred, std::chrono::milliseconds deadline) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, deadline, [&] { return std::ranges::any_of(events_, pred); });
  }

  // Waits for the region to be in `status`, either seen as an event or already current: the
  // first sweep runs inside Daemon::Start, before the test can install its listener.
  // Generous by default: a loaded CI machine (sanitizers, parallel tests) can delay sweeps.
  bool WaitForStatus(const std::string& id, scaling::HealthStatus status,
                     std::chrono::milliseconds deadline = 15s) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, deadline, [&] {
      const bool seen = std::ranges::any_of(events_, [&](const scaling::RegionEvent& e) {
        return e.kind == scaling::RegionEvent::Kind::kStatusChanged && e.region_id == id &&
               e.to == status;
      });
      if (seen) return true;
      auto region = daemon_->regions().GetRegion(id);
      return region && region->health_status == status;
    });
  }

  json GetJson(const std::string& target) {
    auto response = testing::HttpGet("127.0.0.1", daemon_->admin_port(), target);
    EXPECT_TRUE(response) << response.error().ToString();
    if (!response) return nullptr;
    EXPECT_EQ(response->status, 200) << target << ": " << response->body;
    return json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  }

  config::Config config_;
  std::vector<std::unique_ptr<net::DemoOrigin>> origins_;
  std::unique_ptr<Daemon> daemon_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<scaling::RegionEvent> events_;
};

TEST_F(DaemonTest, KillingThePrimaryOriginFailsOverWithinThreeSeconds) {
  StartDaemon();
  ASSERT_TRUE(WaitForStatus("us-east-1", scaling::HealthStatus::kHealthy));
  ASSERT_TRUE(WaitForStatus("eu-west-1", scaling::HealthStatus::kHealthy));
  EXPECT_EQ(GetJson("/api/v1/regions/primary")["id"], "us-east-1");

  ClearEvents();
  const auto killed_at = std::chrono::steady_clock::now();
  origins_[0]->Stop();
  const bool failed_over = WaitForEvent(
      [](const scaling::RegionEvent& e) {
        return e.kind == scaling::RegionEvent::Kind::kPrimaryChanged &&
               e.previous_primary == "us-east-1";
      },
      5s);
  const auto elapsed = std::chrono::steady_clock::now() - killed_at;
  ASSERT_TRUE(failed_over);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  std::printf("failover after killing the primary origin: %lld ms (interval 1s, fall 2)\n",
              static_cast<long long>(ms));
  EXPECT_LT(elapsed, 3s);

  json primary = GetJson("/api/v1/regions/primary");
  EXPECT_NE(primary["id"], "us-east-1");
  EXPECT_EQ(primary["health_status"], "healthy");
  json old = GetJson("/api/v1/regions/us-east-1");
  EXPECT_EQ(old["health_status"], "unhealthy");
  EXPECT_EQ(old["primary"], false);
}

TEST_F(DaemonTest, OriginGoesDownComesBackAndTurnsSlow) {
  StartDaemon();
  ASSERT_TRUE(WaitForStatus("eu-west-1", scaling::HealthStatus::kHealthy));
  const std::uint16_t port = origins_[1]->port();

  ClearEvents();
  origins_[1]->Stop();
  ASSERT_TRUE(WaitForStatus("eu-west-1", scaling::HealthStatus::kUnhealthy));

  ClearEvents();
  net::DemoOriginOptions options;
  options.id = "eu-west-1";
  options.port = port;  // back on the same address
  auto restarted = net::DemoOrigin::Start(options);
  ASSERT_TRUE(restarted) << restarted.error().ToString();
  origins_[1] = std::move(*restarted);
  ASSERT_TRUE(WaitForStatus("eu-west-1", scaling::HealthStatus::kHealthy));
  auto metrics = daemon_->regions().GetRegionMetrics("eu-west-1");
  EXPECT_GE(metrics->consecutive_successes, 2u);  // rise

  ClearEvents();
  origins_[1]->SetLatency(300ms);  // above degraded_latency, below the timeout
  ASSERT_TRUE(WaitForStatus("eu-west-1", scaling::HealthStatus::kDegraded));
  EXPECT_GE(daemon_->regions().GetRegionMetrics("eu-west-1")->last_latency, 300ms);

  ClearEvents();
  origins_[1]->SetLatency(0ms);
  origins_[1]->SetHealthy(false);  // 503 from /healthz
  ASSERT_TRUE(WaitForStatus("eu-west-1", scaling::HealthStatus::kUnhealthy));
  EXPECT_EQ(daemon_->regions().GetRegionMetrics("eu-west-1")->last_probe_detail, "HTTP 503");
  EXPECT_EQ(daemon_->regions().GetPrimaryRegion()->id, "us-east-1");  // never the primary
}

TEST_F(DaemonTest, AdminApiServesRegionsAndMetrics) {
  StartDaemon();
  ASSERT_TRUE(WaitForStatus("ap-southeast-1", scaling::HealthStatus::kHealthy));
  json regions = GetJson("/api/v1/regions");
  ASSERT_TRUE(regions.is_array());
  ASSERT_EQ(regions.size(), 3u);
  EXPECT_EQ(regions[0]["id"], "us-east-1");
  EXPECT_EQ(regions[0]["primary"], true);

  auto metrics = testing::HttpGet("127.0.0.1", daemon_->admin_port(), "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("streamgate_region_healthy{region=\"ap-southeast-1\"} 1"),
            std::string::npos)
      << metrics->body;

  auto bad = testing::HttpRequestBlocking("PUT", "127.0.0.1", daemon_->admin_port(),
                                          "/api/v1/regions/primary", "{not json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto moved = testing::HttpRequestBlocking("PUT", "127.0.0.1", daemon_->admin_port(),
                                            "/api/v1/regions/primary", R"({"id":"eu-west-1"})");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->status, 200);
  EXPECT_EQ(daemon_->regions().GetPrimaryRegion()->id, "eu-west-1");
}

TEST_F(DaemonTest, ProxiesRequestsToConfiguredBackends) {
  for (std::size_t i = 0; i < origins_.size(); ++i) {
    config::BackendConfig backend;
    backend.id = "web-" + std::to_string(i);
    backend.address = "127.0.0.1";
    backend.port = origins_[i]->port();
    backend.region = config_.regions[i].id;
    config_.backends.push_back(backend);
  }
  config::ListenerConfig listener;
  listener.name = "public";
  listener.listen = {"127.0.0.1", 0};
  config_.listeners.push_back(listener);
  config_.proxy.threads = 2;
  StartDaemon();
  ASSERT_NE(daemon_->balancer(), nullptr);
  ASSERT_NE(daemon_->proxy_port(), 0);

  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    auto response = testing::HttpGet("127.0.0.1", daemon_->proxy_port(), "/id");
    ASSERT_TRUE(response) << response.error().ToString();
    ASSERT_EQ(response->status, 200);
    ++seen[response->body];
  }
  // Round-robin over three healthy origins: each gets a third.
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& [id, count] : seen) EXPECT_EQ(count, 10) << id;
  EXPECT_EQ(daemon_->balancer()->GetBackendMetrics("web-0")->total_requests, 10u);
}

// Geo routing end to end: the shipped GeoIP database, clients named by a trusted
// X-Forwarded-For, real origins; then the client's region loses its backend.
TEST_F(DaemonTest, GeoLocationRoutesByCountryAndContinentAndFailsOverToTheNextRegion) {
  const std::filesystem::path db =
      std::filesystem::path(STREAMGATE_SOURCE_DIR) / "data/geoip/geo-whois-asn-country.mmdb";
  ASSERT_TRUE(std::filesystem::exists(db)) << db << " is missing: run scripts/fetch-geoip";
  config_.regions[0].countries = {"US"};  // us-east-1, Virginia
  config_.regions[0].continents = {"NA"};
  config_.regions[0].latitude = 38.9;
  config_.regions[0].longitude = -77.4;
  config_.regions[1].countries = {"IE"};  // eu-west-1, Ireland
  config_.regions[1].continents = {"EU"};
  config_.regions[1].latitude = 53.3;
  config_.regions[1].longitude = -6.3;
  config_.regions[2].countries = {"SG"};  // ap-southeast-1, Singapore
  config_.regions[2].continents = {"AS"};
  config_.regions[2].latitude = 1.35;
  config_.regions[2].longitude = 103.8;
  for (std::size_t i = 0; i < origins_.size(); ++i) {
    config::BackendConfig backend;
    backend.id = "web-" + config_.regions[i].id;
    backend.address = "127.0.0.1";
    backend.port = origins_[i]->port();
    backend.region = config_.regions[i].id;
    config_.backends.push_back(backend);
  }
  config_.listeners.push_back({"public", {"127.0.0.1", 0}, 0});
  config_.load_balancer.strategy = scaling::LoadBalancingStrategy::kGeoLocation;
  config_.load_balancer.geoip_database = db.string();
  config_.load_balancer.trusted_proxies = {"127.0.0.1"};
  config_.load_balancer.outlier_detection.consecutive_failures = 2;
  StartDaemon();

  auto origin_for = [&](const std::string& client) -> std::string {
    auto response = testing::HttpRequestBlocking("GET", "127.0.0.1", daemon_->proxy_port(), "/id",
                                                 {}, {{"X-Forwarded-For", client}});
    if (!response) return "error: " + response.error().ToString();
    if (response->status != 200) return "status " + std::to_string(response->status);
    return response->body;
  };
  // Repeated and interleaved, so a round-robin fallback could not pass by chance.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(origin_for("8.8.8.8"), "us-east-1") << i;      // US: country match
    EXPECT_EQ(origin_for("193.0.6.139"), "eu-west-1") << i;  // NL: continent EU
  }

  // Ireland's origin dies: European clients go to the next region by distance (Virginia is
  // nearer to the Netherlands than Singapore), with no failed request.
  origins_[1]->Stop();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(origin_for("193.0.6.139"), "us-east-1") << i;
  EXPECT_TRUE(daemon_->balancer()->GetBackendMetrics("web-eu-west-1")->ejected);
  EXPECT_EQ(origin_for("8.8.8.8"), "us-east-1");
}

TEST_F(DaemonTest, StartFailsCleanlyWhenAdminPortIsTaken) {
  StartDaemon();
  config::Config clash = config_;
  clash.admin.listen.port = daemon_->admin_port();
  auto second = Daemon::Start(clash);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find("admin listener"), std::string::npos);
}

}  // namespace
}  // namespace streamgate::daemon
