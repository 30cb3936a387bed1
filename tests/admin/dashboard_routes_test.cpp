#include "admin/dashboard_routes.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "admin/admin_api.hpp"
#include "streamgate/common/random.hpp"
#include "streamgate/scaling/cdn.hpp"
#include "streamgate/scaling/load_balancer.hpp"
#include "streamgate/scaling/region.hpp"
#include "support/admin_requests.hpp"
#include "support/fake_cdn.hpp"
#include "support/fake_prober.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::admin {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::HeaderOf;
using testing::MakeRequest;
using testing::ManualClock;

std::string_view FileContent(std::string_view name) {
  for (const EmbeddedFile& file : DashboardFiles()) {
    if (file.name == name) return file.content;
  }
  return {};
}

scaling::Region MakeRegion(std::string id, std::string endpoint, int priority) {
  scaling::Region region;
  region.id = std::move(id);
  region.endpoint = std::move(endpoint);
  region.priority = priority;
  return region;
}

scaling::Backend MakeBackend(std::string id, std::uint16_t port) {
  scaling::Backend backend;
  backend.id = std::move(id);
  backend.address = "127.0.0.1";
  backend.port = port;
  return backend;
}

// Real managers on a manual clock: two regions, two backends, a CDN with one origin object.
class DashboardTest : public ::testing::Test {
 protected:
  DashboardTest() {
    prober_->SetUp("127.0.0.1:9101", 3ms);
    prober_->SetUp("127.0.0.1:9102", 7ms);
    regions_ = std::make_unique<scaling::MultiRegionManager>(scaling::HealthCheckOptions{}, prober_,
                                                             clock_);
    EXPECT_TRUE(regions_->RegisterRegion(MakeRegion("us-east-1", "http://127.0.0.1:9101", 1)));
    EXPECT_TRUE(regions_->RegisterRegion(MakeRegion("eu-west-1", "http://127.0.0.1:9102", 2)));
    balancer_ = std::make_unique<scaling::GlobalLoadBalancer>(
        scaling::LoadBalancingStrategy::kRoundRobin, scaling::LoadBalancerOptions{},
        scaling::LoadBalancerDependencies{
            .prober = prober_, .clock = &clock_, .random = MakeSeededRandom(7), .geo = nullptr});
    EXPECT_TRUE(balancer_->RegisterBackend(MakeBackend("web-1", 9101)));
    EXPECT_TRUE(balancer_->RegisterBackend(MakeBackend("web-2", 9102)));
    scaling::CDNConfig config;
    config.max_cache_size = 1 << 20;
    config.shards = 1;
    cdn_ = std::make_unique<scaling::CDNManager>(
        config, scaling::CDNDependencies{.fetcher = fetcher_, .purger = nullptr, .clock = &clock_});
    fetcher_->Serve("http://origin.test/a", std::string(1000, 'a'));
    history_ = std::make_unique<DashboardHistory>(regions_.get(), balancer_.get(), cdn_.get(),
                                                  clock_, DashboardHistoryOptions{5s, 4});
  }

  void MakeApi(AdminApiOptions options) {
    options.dashboard = history_.get();
    api_ = std::make_unique<AdminApi>(*regions_, std::move(options));
  }

  net::HttpResponse Get(std::string target, net::HeaderList headers = {}) {
    if (api_ == nullptr) MakeApi({});
    net::HttpRequest request = MakeRequest("GET", std::move(target));
    request.headers = std::move(headers);
    return api_->Handle(request);
  }

  ManualClock clock_;
  std::shared_ptr<testing::FakeProber> prober_ = std::make_shared<testing::FakeProber>();
  std::shared_ptr<testing::FakeContentFetcher> fetcher_ =
      std::make_shared<testing::FakeContentFetcher>();
  std::unique_ptr<scaling::MultiRegionManager> regions_;
  std::unique_ptr<scaling::GlobalLoadBalancer> balancer_;
  std::unique_ptr<scaling::CDNManager> cdn_;
  std::unique_ptr<DashboardHistory> history_;
  std::unique_ptr<AdminApi> api_;
};

// --- Files ------------------------------------------------------------------------------------

TEST(DashboardFilesTest, ThePageIsBuiltIn) {
  std::set<std::string_view> names;
  for (const EmbeddedFile& file : DashboardFiles()) {
    names.insert(file.name);
    EXPECT_FALSE(file.content.empty()) << file.name;
    EXPECT_TRUE(std::regex_match(std::string(file.etag), std::regex("\"[0-9a-f]{16}\"")))
        << file.etag;
  }
  EXPECT_EQ(names, (std::set<std::string_view>{"index.html", "app.js", "style.css"}));
}

TEST(DashboardFilesTest, ContentTypes) {
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("logo.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("blob"), "application/octet-stream");
}

TEST_F(DashboardTest, RootServesTheIndexWithCachingAndSecurityHeaders) {
  const net::HttpResponse response = Get("/");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(response.body, FileContent("index.html"));
  EXPECT_NE(response.body.find("<title>StreamGate</title>"), std::string::npos);
  EXPECT_EQ(HeaderOf(response, "Cache-Control"), "no-cache");
  EXPECT_EQ(HeaderOf(response, "X-Content-Type-Options"), "nosniff");
  EXPECT_TRUE(std::regex_match(HeaderOf(response, "ETag"), std::regex("\"[0-9a-f]{16}\"")));
  // Only the admin listener's own scripts, styles and fetches: the page works offline.
  const std::string csp = HeaderOf(response, "Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
}

TEST_F(DashboardTest, ScriptAndStyleHaveTheirTypes) {
  const net::HttpResponse js = Get("/dashboard/app.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, FileContent("app.js"));
  EXPECT_EQ(HeaderOf(js, "Cache-Control"), "no-cache");
  const net::HttpResponse css = Get("/dashboard/style.css");
  ASSERT_EQ(css.status, 200);
  EXPECT_EQ(css.content_type, "text/css; charset=utf-8");
  EXPECT_EQ(css.body, FileContent("style.css"));
  EXPECT_NE(HeaderOf(js, "ETag"), HeaderOf(css, "ETag"));
}

TEST_F(DashboardTest, EveryFileTheIndexLoadsIsServedAndNothingComesFromElsewhere) {
  const std::string index(FileContent("index.html"));
  const std::regex reference(R"re((?:src|href)="([^"]*)")re");
  int local = 0;
  for (auto it = std::sregex_iterator(index.begin(), index.end(), reference);
       it != std::sregex_iterator(); ++it) {
    const std::string target = (*it)[1];
    if (target == "data:,") continue;  // the empty favicon, so browsers ask for none
    ASSERT_TRUE(target.starts_with("/dashboard/")) << "loads from elsewhere: " << target;
    EXPECT_EQ(Get(target).status, 200) << target;
    ++local;
  }
  EXPECT_EQ(local, 2);
  // The script names no other origin (the SVG namespace is a name, not a fetch).
  std::string script(FileContent("app.js"));
  const std::string svg_namespace = "'http://www.w3.org/2000/svg'";
  ASSERT_NE(script.find(svg_namespace), std::string::npos);
  script.erase(script.find(svg_namespace), svg_namespace.size());
  EXPECT_EQ(script.find("://"), std::string::npos) << "app.js must not name another origin";
}

TEST_F(DashboardTest, UnknownFilesAre404) {
  for (const char* target : {"/dashboard/nope.js", "/dashboard/../CMakeLists.txt",
                             "/dashboard/index.html/x", "/index.html", "/dashboard/APP.JS"}) {
    const net::HttpResponse response = Get(target);
    EXPECT_EQ(response.status, 404) << target;
    EXPECT_EQ(response.content_type, "application/json") << target;
  }
}

TEST_F(DashboardTest, ConditionalRequestsGet304) {
  const std::string etag = HeaderOf(Get("/dashboard/app.js"), "ETag");
  const net::HttpResponse same = Get("/dashboard/app.js", {{"If-None-Match", etag}});
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.body.empty());
  EXPECT_EQ(HeaderOf(same, "ETag"), etag);
  EXPECT_EQ(Get("/dashboard/app.js", {{"If-None-Match", "\"other\", W/" + etag}}).status, 304);
  EXPECT_EQ(Get("/dashboard/app.js", {{"If-None-Match", "\"0000000000000000\""}}).status, 200);
  // Another file's validator does not match.
  EXPECT_EQ(Get("/dashboard/style.css", {{"If-None-Match", etag}}).status, 200);
}

TEST_F(DashboardTest, WithoutTheOptionThereIsNoDashboard) {
  AdminApi api(*regions_);
  EXPECT_EQ(api.Handle(MakeRequest("GET", "/")).status, 404);
  EXPECT_EQ(api.Handle(MakeRequest("GET", "/dashboard/app.js")).status, 404);
  EXPECT_EQ(api.Handle(MakeRequest("GET", "/api/v1/dashboard/history")).status, 404);
}

TEST_F(DashboardTest, FilesNeedNoTokenButTheHistoryDoes) {
  AdminApiOptions options;
  options.token = "s3cret";
  options.protect_reads = true;
  MakeApi(std::move(options));
  EXPECT_EQ(Get("/").status, 200);
  EXPECT_EQ(Get("/dashboard/app.js").status, 200);
  EXPECT_EQ(Get("/dashboard/nope.js").status, 404);
  EXPECT_EQ(Get("/api/v1/dashboard/history").status, 401);
  EXPECT_EQ(Get("/api/v1/regions").status, 401);
  EXPECT_EQ(Get("/api/v1/dashboard/history", {{"Authorization", "Bearer s3cret"}}).status, 200);
  // Only reads are exempt.
  EXPECT_EQ(api_->Handle(MakeRequest("POST", "/")).status, 401);
}

// --- History ----------------------------------------------------------------------------------

TEST_F(DashboardTest, HistoryRouteIsJsonAndNeverCached) {
  history_->Record();
  const net::HttpResponse response = Get("/api/v1/dashboard/history");
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(HeaderOf(response, "Cache-Control"), "no-store");
  const json body = json::parse(response.body);
  EXPECT_EQ(body["interval_seconds"], 5.0);
  EXPECT_EQ(body["capacity"], 4);
  ASSERT_EQ(body["samples"].size(), 1u);
}

TEST_F(DashboardTest, FirstSampleHasFiguresButNoRates) {
  ASSERT_TRUE(regions_->PerformHealthCheck());
  history_->Record();
  const json sample = history_->ToJson()["samples"][0];
  EXPECT_EQ(sample["time"], "2027-02-26T00:00:00.000Z");
  EXPECT_EQ(sample["regions"]["us-east-1"]["status"], "healthy");
  EXPECT_EQ(sample["regions"]["us-east-1"]["primary"], true);
  EXPECT_DOUBLE_EQ(sample["regions"]["us-east-1"]["latency_ms"].get<double>(), 3.0);
  EXPECT_EQ(sample["regions"]["eu-west-1"]["primary"], false);
  EXPECT_DOUBLE_EQ(sample["regions"]["eu-west-1"]["latency_ms"].get<double>(), 7.0);
  EXPECT_EQ(
      sample["backends"]["web-1"],
      json({{"connections", 0}, {"requests_per_second", nullptr}, {"errors_per_second", nullptr}}));
  EXPECT_TRUE(sample["cdn"]["hit_rate"].is_null());
  EXPECT_TRUE(sample["cdn"]["bandwidth_bytes_per_second"].is_null());
  EXPECT_EQ(sample["cdn"]["cache_count"], 0);
}

TEST_F(DashboardTest, RatesCoverTheIntervalSinceThePreviousSample) {
  history_->Record();
  // Over the next 5 s: web-1 serves 10 requests of which 2 fail, web-2 none; the cache takes one
  // 1000-byte object from the origin, then serves it 3 times and misses once.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(balancer_->RecordRequest("web-1", 2ms, i >= 2));
  ASSERT_TRUE(balancer_->IncrementConnections("web-2"));
  ASSERT_TRUE(cdn_->CacheContent("origin.test/a", "http://origin.test/a", 0s, 0));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cdn_->GetCachedContent("origin.test/a"));
  const scaling::CDNMetrics before_miss = cdn_->GetMetrics();
  EXPECT_FALSE(cdn_->GetCachedContent("origin.test/missing"));
  clock_.Advance(5s);
  history_->Record();

  const json samples = history_->ToJson()["samples"];
  ASSERT_EQ(samples.size(), 2u);
  const json& now = samples[1];
  EXPECT_EQ(now["time"], "2027-02-26T00:00:05.000Z");
  EXPECT_DOUBLE_EQ(now["backends"]["web-1"]["requests_per_second"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(now["backends"]["web-1"]["errors_per_second"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(now["backends"]["web-2"]["requests_per_second"].get<double>(), 0.0);
  EXPECT_EQ(now["backends"]["web-2"]["connections"], 1);
  const json& cdn = now["cdn"];
  // 3 hits of every request the cache saw in the interval (the miss included).
  const scaling::CDNMetrics after = cdn_->GetMetrics();
  ASSERT_EQ(after.cache_hits, 3u);
  ASSERT_EQ(after.total_requests, before_miss.total_requests + 1);
  EXPECT_DOUBLE_EQ(cdn["hit_rate"].get<double>(), 3.0 / static_cast<double>(after.total_requests));
  EXPECT_DOUBLE_EQ(cdn["hit_rate_total"].get<double>(), after.hit_rate);
  EXPECT_DOUBLE_EQ(cdn["cache_bytes_per_second"].get<double>(),
                   static_cast<double>(after.bytes_served_from_cache) / 5.0);
  EXPECT_DOUBLE_EQ(cdn["origin_bytes_per_second"].get<double>(),
                   static_cast<double>(after.bytes_from_origin) / 5.0);
  EXPECT_DOUBLE_EQ(cdn["bandwidth_bytes_per_second"].get<double>(),
                   static_cast<double>(after.total_bandwidth) / 5.0);
  EXPECT_GT(after.bytes_served_from_cache, 0u);
  EXPECT_EQ(cdn["cache_count"], 1);

  // A quiet interval: rates drop to 0, and the interval hit rate has no requests to divide.
  clock_.Advance(5s);
  history_->Record();
  const json quiet = history_->ToJson()["samples"][2];
  EXPECT_DOUBLE_EQ(quiet["backends"]["web-1"]["requests_per_second"].get<double>(), 0.0);
  EXPECT_TRUE(quiet["cdn"]["hit_rate"].is_null());
  EXPECT_DOUBLE_EQ(quiet["cdn"]["bandwidth_bytes_per_second"].get<double>(), 0.0);
}

TEST_F(DashboardTest, ABackendAddedBetweenSamplesHasNoRateYet) {
  history_->Record();
  clock_.Advance(5s);
  ASSERT_TRUE(balancer_->RegisterBackend(MakeBackend("web-3", 9103)));
  history_->Record();
  const json backends = history_->ToJson()["samples"][1]["backends"];
  EXPECT_TRUE(backends["web-3"]["requests_per_second"].is_null());
  EXPECT_FALSE(backends["web-1"]["requests_per_second"].is_null());
}

TEST_F(DashboardTest, KeepsOnlyTheNewestCapacitySamples) {
  for (int i = 0; i < 7; ++i) {
    history_->Record();
    clock_.Advance(5s);
  }
  EXPECT_EQ(history_->size(), 4u);
  const json samples = history_->ToJson()["samples"];
  ASSERT_EQ(samples.size(), 4u);
  EXPECT_EQ(samples[0]["time"], "2027-02-26T00:00:15.000Z");
  EXPECT_EQ(samples[3]["time"], "2027-02-26T00:00:30.000Z");
  // The oldest kept sample has no predecessor left to take rates from.
  EXPECT_TRUE(samples[0]["backends"]["web-1"]["requests_per_second"].is_null());
  EXPECT_FALSE(samples[1]["backends"]["web-1"]["requests_per_second"].is_null());
}

TEST_F(DashboardTest, PartsNotConfiguredAreNull) {
  DashboardHistory history(regions_.get(), nullptr, nullptr, clock_);
  history.Record();
  const json sample = history.ToJson()["samples"][0];
  EXPECT_TRUE(sample["backends"].is_null());
  EXPECT_TRUE(sample["cdn"].is_null());
  EXPECT_EQ(sample["regions"].size(), 2u);
  EXPECT_EQ(history.options().interval, 5s);
  EXPECT_EQ(history.options().capacity, 180u);
}

TEST_F(DashboardTest, RejectsUnusableOptions) {
  EXPECT_THROW(DashboardHistory(nullptr, nullptr, nullptr, clock_, {0s, 10}),
               std::invalid_argument);
  EXPECT_THROW(DashboardHistory(nullptr, nullptr, nullptr, clock_, {5s, 0}), std::invalid_argument);
}

}  // namespace
}  // namespace streamgate::admin
