#include "admin/cdn_routes.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/admin_api.hpp"
#include "streamgate/scaling/cdn.hpp"
#include "streamgate/scaling/region.hpp"
#include "support/admin_requests.hpp"
#include "support/fake_cdn.hpp"
#include "support/fake_prober.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::admin {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::Lines;
using testing::MakeRequest;
using testing::ManualClock;

using TableFetcher = testing::FakeContentFetcher;
using RecordingPurger = testing::FakePurger;

json Body(const net::HttpResponse& response) {
  EXPECT_EQ(response.content_type, "application/json");
  json parsed = json::parse(response.body, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << response.body;
  return parsed;
}

void ExpectError(const net::HttpResponse& response, int status, std::string_view code,
                 std::string_view message_part, std::string_view context = "") {
  EXPECT_EQ(response.status, status) << context << " -> " << response.body;
  const json body = Body(response);
  ASSERT_TRUE(body.is_object()) << context;
  EXPECT_EQ(body.value("code", ""), code) << context << " -> " << response.body;
  EXPECT_NE(body.value("error", "").find(message_part), std::string::npos)
      << context << " -> " << response.body;
}

// A real CDNManager on a manual clock, with a table fetcher and a recording purger.
class CdnRoutesTest : public ::testing::Test {
 protected:
  CdnRoutesTest() {
    regions_ = std::make_unique<scaling::MultiRegionManager>(
        scaling::HealthCheckOptions{}, std::make_shared<testing::FakeProber>(), clock_);
    scaling::CDNConfig config;
    config.max_cache_size = 1 << 20;
    config.default_ttl = 3600s;
    config.shards = 1;
    manager_ = std::make_unique<scaling::CDNManager>(
        config, scaling::CDNDependencies{.fetcher = fetcher_, .purger = purger_, .clock = &clock_});
    AdminApiOptions api_options;
    api_options.cdn = manager_.get();
    api_ = std::make_unique<AdminApi>(*regions_, std::move(api_options));
  }

  net::HttpResponse Call(std::string method, std::string target, std::string body = "") {
    return api_->Handle(MakeRequest(std::move(method), std::move(target), std::move(body)));
  }

  // Caches two objects the way the proxy keys them ("<host><target>", url "http://" + key).
  void CacheTwo() {
    fetcher_->Serve("http://origin.test/videos/a.mp4", std::string(1000, 'a'),
                    {{"ETag", "\"v1\""}, {"Surrogate-Key", "videos season-1"}});
    fetcher_->Serve("http://origin.test/img/b.png", std::string(200, 'b'));
    ASSERT_TRUE(
        manager_
            ->CacheContent("origin.test/videos/a.mp4", "http://origin.test/videos/a.mp4", 60s, 0)
            .has_value());
    clock_.Advance(5s);
    ASSERT_TRUE(
        manager_->CacheContent("origin.test/img/b.png", "http://origin.test/img/b.png", 0s, 200)
            .has_value());
  }

  std::vector<std::string> Keys() {
    std::vector<std::string> keys;
    for (const scaling::CDNCache& c : manager_->ListCachedContent()) keys.push_back(c.key);
    return keys;
  }

  ManualClock clock_;
  std::shared_ptr<TableFetcher> fetcher_ = std::make_shared<TableFetcher>();
  std::shared_ptr<RecordingPurger> purger_ = std::make_shared<RecordingPurger>();
  std::unique_ptr<scaling::MultiRegionManager> regions_;
  std::unique_ptr<scaling::CDNManager> manager_;
  std::unique_ptr<AdminApi> api_;
};

TEST_F(CdnRoutesTest, ListsContentWithMetadata) {
  CacheTwo();
  const net::HttpResponse response = Call("GET", "/api/v1/cdn/content");
  ASSERT_EQ(response.status, 200) << response.body;
  const json list = Body(response);
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 2u);
  // Sorted by key.
  const json& image = list[0];
  const json& video = list[1];
  EXPECT_EQ(image["key"], "origin.test/img/b.png");
  EXPECT_EQ(image["ttl"], 3600);  // ttl 0: the default
  EXPECT_EQ(image["size"], 200);
  EXPECT_EQ(video["key"], "origin.test/videos/a.mp4");
  EXPECT_EQ(video["url"], "http://origin.test/videos/a.mp4");
  EXPECT_EQ(video["status"], 200);
  EXPECT_EQ(video["size"], 1000);
  EXPECT_EQ(video["ttl"], 60);
  EXPECT_EQ(video["fresh"], true);
  EXPECT_EQ(video["etag"], "\"v1\"");
  EXPECT_EQ(video["surrogate_keys"], json({"videos", "season-1"}));
  // ManualClock's wall time starts at 1'803'600'000 s since the epoch.
  EXPECT_EQ(video["cached_at"], "2027-02-26T00:00:00.000Z");
  EXPECT_EQ(video["expires_at"], "2027-02-26T00:01:00.000Z");
  EXPECT_EQ(image["cached_at"], "2027-02-26T00:00:05.000Z");
  EXPECT_FALSE(video.contains("body"));
}

TEST_F(CdnRoutesTest, GetsOneEntryByEncodedOrPlainKeyWithoutCountingAHit) {
  CacheTwo();
  const scaling::CDNMetrics before = manager_->GetMetrics();
  for (const std::string target : {"/api/v1/cdn/content/origin.test%2Fvideos%2Fa.mp4",
                                   "/api/v1/cdn/content/origin.test/videos/a.mp4",
                                   "/api/v1/cdn/content/origin.test%2fvideos/a%2Emp4"}) {
    const net::HttpResponse response = Call("GET", target);
    ASSERT_EQ(response.status, 200) << target << ": " << response.body;
    const json entry = Body(response);
    EXPECT_EQ(entry["key"], "origin.test/videos/a.mp4") << target;
    EXPECT_EQ(entry["size"], 1000) << target;
  }
  const scaling::CDNMetrics after = manager_->GetMetrics();
  EXPECT_EQ(after.cache_hits, before.cache_hits);
  EXPECT_EQ(after.cache_misses, before.cache_misses);

  ExpectError(Call("GET", "/api/v1/cdn/content/origin.test%2Fnothing"), 404, "not_found",
              "'origin.test/nothing' is not cached");
  ExpectError(Call("GET", "/api/v1/cdn/content/bad%2"), 400, "invalid_argument",
              "not followed by two hex digits");
  ExpectError(Call("GET", "/api/v1/cdn/content/bad%zz"), 400, "invalid_argument", "hex digits");
}

// The proxy keeps stale entries with validators for revalidation: they are listed, not fresh.
TEST_F(CdnRoutesTest, StaleEntriesShowAsNotFresh) {
  cdn::CacheObject object;
  object.key = "127.0.0.1:8080/bytes/10";
  object.url = "http://127.0.0.1:8080/bytes/10";
  object.body = std::string(10, 'x');
  object.etag = "\"e\"";
  ASSERT_TRUE(manager_->store().Insert(object, {.ttl = 10s, .keep_stale = 600s}).has_value());
  clock_.Advance(20s);
  const json entry = Body(Call("GET", "/api/v1/cdn/content/127.0.0.1%3A8080%2Fbytes%2F10"));
  EXPECT_EQ(entry["fresh"], false);
  EXPECT_EQ(entry["ttl"], 10);
  const json list = Body(Call("GET", "/api/v1/cdn/content"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["fresh"], false);
}

TEST_F(CdnRoutesTest, DeletesOneEntryAndPurgesItsUrl) {
  CacheTwo();
  const net::HttpResponse response =
      Call("DELETE", "/api/v1/cdn/content/origin.test%2Fvideos%2Fa.mp4");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["invalidated"], "origin.test/videos/a.mp4");
  EXPECT_EQ(Keys(), std::vector<std::string>{"origin.test/img/b.png"});
  EXPECT_EQ(purger_->Calls(), std::vector<std::string>{"urls:http://origin.test/videos/a.mp4"});
  ExpectError(Call("GET", "/api/v1/cdn/content/origin.test%2Fvideos%2Fa.mp4"), 404, "not_found",
              "is not cached");
  ExpectError(Call("DELETE", "/api/v1/cdn/content/origin.test%2Fvideos%2Fa.mp4"), 404, "not_found",
              "is not cached");
  EXPECT_EQ(manager_->GetMetrics().invalidations, 1u);
}

TEST_F(CdnRoutesTest, DeletesEverything) {
  CacheTwo();
  const net::HttpResponse response = Call("DELETE", "/api/v1/cdn/content");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["invalidated"], "all");
  EXPECT_TRUE(Keys().empty());
  EXPECT_EQ(purger_->Calls(), std::vector<std::string>{"all:"});
}

TEST_F(CdnRoutesTest, AFailedExternalPurgeIsReportedButTheEntryIsGone) {
  CacheTwo();
  purger_->set_fail(true);
  ExpectError(Call("DELETE", "/api/v1/cdn/content/origin.test/img/b.png"), 500, "unavailable",
              "removed locally, but the fake purge");
  EXPECT_EQ(Keys(), std::vector<std::string>{"origin.test/videos/a.mp4"});
  EXPECT_EQ(manager_->GetMetrics().purge_failures, 1u);
}

TEST_F(CdnRoutesTest, PurgesByPrefixAndBySurrogateKey) {
  CacheTwo();
  net::HttpResponse response =
      Call("POST", "/api/v1/cdn/purge", R"({"prefix": "http://origin.test/img/"})");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["removed"], 1);
  EXPECT_EQ(Body(response)["prefix"], "http://origin.test/img/");
  EXPECT_EQ(Keys(), std::vector<std::string>{"origin.test/videos/a.mp4"});

  response = Call("POST", "/api/v1/cdn/purge", R"({"prefix": "http://elsewhere.test/"})");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["removed"], 0);

  response = Call("POST", "/api/v1/cdn/purge", R"({"surrogate_key": "season-1"})");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["removed"], 1);
  EXPECT_EQ(Body(response)["surrogate_key"], "season-1");
  EXPECT_TRUE(Keys().empty());
  EXPECT_EQ(purger_->Calls(),
            (std::vector<std::string>{"prefixes:http://origin.test/img/",
                                      "prefixes:http://elsewhere.test/", "tags:season-1"}));
}

TEST_F(CdnRoutesTest, PurgeRejectsBadBodies) {
  const std::pair<std::string, std::string> cases[] = {
      {"{not json", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {"{}", "exactly one of 'prefix' and 'surrogate_key'"},
      {R"({"prefix": "http://a/", "surrogate_key": "t"})", "exactly one of"},
      {R"({"prefix": 5})", "field 'prefix' must be a string"},
      {R"({"prefix": "http://a/", "force": true})", "unknown field 'force'"},
      {R"({"prefix": "origin.test/img/"})", "starting with http:// or https://"},
      {R"({"prefix": ""})", "starting with http://"},
      {R"({"surrogate_key": ""})", "surrogate key must not be empty"},
      {R"({"surrogate_key": "a b"})", "whitespace"},
  };
  for (const auto& [body, message] : cases) {
    ExpectError(Call("POST", "/api/v1/cdn/purge", body), 400, "invalid_argument", message, body);
  }
  EXPECT_TRUE(purger_->Calls().empty());
}

TEST_F(CdnRoutesTest, PrefetchReportsEachUrl) {
  fetcher_->Serve("http://origin.test/a", "aaaa");
  fetcher_->Serve("http://origin.test/b", "bb");
  ASSERT_TRUE(manager_->CacheContent("http://origin.test/b", "http://origin.test/b", 0s, 0));
  const net::HttpResponse response = Call(
      "POST", "/api/v1/cdn/prefetch",
      R"({"urls": ["http://origin.test/a", "http://origin.test/b", "http://origin.test/missing",
                   "not a url"]})");
  ASSERT_EQ(response.status, 200) << response.body;
  const json report = Body(response);
  EXPECT_EQ(report["succeeded"], 2);
  EXPECT_EQ(report["failed"], 2);
  const json& results = report["results"];
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0]["url"], "http://origin.test/a");
  EXPECT_EQ(results[0]["ok"], true);
  EXPECT_EQ(results[0]["bytes"], 4);
  EXPECT_EQ(results[0]["already_cached"], false);
  EXPECT_FALSE(results[0].contains("error"));
  EXPECT_EQ(results[1]["ok"], true);
  EXPECT_EQ(results[1]["already_cached"], true);
  EXPECT_EQ(results[2]["ok"], false);
  EXPECT_EQ(results[2]["code"], "unavailable");
  EXPECT_NE(results[2]["error"].get<std::string>().find("origin answered 404"), std::string::npos);
  EXPECT_EQ(results[3]["ok"], false);
  EXPECT_EQ(results[3]["code"], "invalid_argument");
  // The prefetched URL is cached under itself.
  EXPECT_EQ(Call("GET", "/api/v1/cdn/content/http%3A%2F%2Forigin.test%2Fa").status, 200);
  EXPECT_EQ(manager_->GetMetrics().prefetched, 1u);
}

TEST_F(CdnRoutesTest, PrefetchRejectsBadBodies) {
  std::string many = R"({"urls": [)";
  for (int i = 0; i < 1001; ++i)
    many += std::string(i > 0 ? "," : "") + "\"http://o/" + std::to_string(i) + "\"";
  many += "]}";
  const std::pair<std::string, std::string> cases[] = {
      {"{}", "missing field 'urls'"},
      {R"({"urls": "http://a/"})", "field 'urls' must be an array of strings"},
      {R"({"urls": [1]})", "must be an array of strings"},
      {R"({"urls": []})", "at least one URL"},
      {R"({"urls": ["http://a/"], "ttl": 5})", "unknown field 'ttl'"},
      {many, "at most 1000 URLs, got 1001"},
  };
  for (const auto& [body, message] : cases) {
    ExpectError(Call("POST", "/api/v1/cdn/prefetch", body), 400, "invalid_argument", message,
                body.substr(0, 60));
  }
  EXPECT_EQ(fetcher_->calls(), 0);
}

TEST_F(CdnRoutesTest, MetricsAsJsonAndPrometheus) {
  CacheTwo();
  ASSERT_TRUE(manager_->GetCachedContent("origin.test/img/b.png").has_value());  // hit
  ASSERT_FALSE(manager_->GetCachedContent("origin.test/none").has_value());      // miss
  const net::HttpResponse response = Call("GET", "/api/v1/cdn/metrics");
  ASSERT_EQ(response.status, 200) << response.body;
  const json m = Body(response);
  EXPECT_EQ(m["cache_hits"], 1);
  EXPECT_EQ(m["cache_misses"], 1);
  EXPECT_EQ(m["total_requests"], 2);
  EXPECT_DOUBLE_EQ(m["hit_rate"].get<double>(), 0.5);
  EXPECT_EQ(m["bytes_served_from_cache"], 200);
  EXPECT_EQ(m["bytes_from_origin"], 1200);
  EXPECT_EQ(m["total_bandwidth"], 1400);
  EXPECT_EQ(m["cache_count"], 2);
  EXPECT_EQ(m["max_cache_size"], 1 << 20);
  EXPECT_GT(m["cache_size"].get<std::uint64_t>(), 1200u);  // bodies plus metadata
  EXPECT_DOUBLE_EQ(m["utilization"].get<double>(),
                   m["cache_size"].get<double>() / static_cast<double>(1 << 20));
  for (const char* field : {"evictions", "expirations", "invalidations", "rejected", "prefetched",
                            "prefetch_failures", "purges", "purge_failures"}) {
    EXPECT_TRUE(m.contains(field)) << field;
  }

  const net::HttpResponse scrape = Call("GET", "/metrics");
  ASSERT_EQ(scrape.status, 200);
  const std::vector<std::string> lines = Lines(scrape.body);
  auto has = [&](std::string_view line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  };
  EXPECT_TRUE(has("streamgate_cdn_requests_total{result=\"hit\"} 1")) << scrape.body;
  EXPECT_TRUE(has("streamgate_cdn_requests_total{result=\"miss\"} 1")) << scrape.body;
  EXPECT_TRUE(has("streamgate_cdn_cache_objects 2")) << scrape.body;
}

TEST_F(CdnRoutesTest, WrongMethodIs405) {
  const net::HttpResponse response = Call("PUT", "/api/v1/cdn/content");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(testing::HeaderOf(response, "Allow"), "DELETE, GET");
  EXPECT_EQ(Call("GET", "/api/v1/cdn/purge").status, 405);
  EXPECT_EQ(Call("POST", "/api/v1/cdn/metrics").status, 405);
  EXPECT_EQ(Call("GET", "/api/v1/cdn/nothing").status, 404);
}

TEST(CdnRoutesUnconfiguredTest, EveryRouteSaysCdnNotConfigured) {
  ManualClock clock;
  scaling::MultiRegionManager regions(scaling::HealthCheckOptions{},
                                      std::make_shared<testing::FakeProber>(), clock);
  AdminApi api(regions);
  const std::pair<std::string, std::string> routes[] = {
      {"GET", "/api/v1/cdn/metrics"},      {"GET", "/api/v1/cdn/content"},
      {"DELETE", "/api/v1/cdn/content"},   {"GET", "/api/v1/cdn/content/a%2Fb"},
      {"DELETE", "/api/v1/cdn/content/a"}, {"POST", "/api/v1/cdn/purge"},
      {"POST", "/api/v1/cdn/prefetch"},
  };
  for (const auto& [method, target] : routes) {
    ExpectError(api.Handle(MakeRequest(method, target, "{}")), 404, "not_found",
                "cdn not configured", method + " " + target);
  }
  EXPECT_EQ(api.Handle(MakeRequest("PUT", "/api/v1/cdn/content")).status, 405);
  const net::HttpResponse scrape = api.Handle(MakeRequest("GET", "/metrics"));
  EXPECT_EQ(scrape.body.find("streamgate_cdn_"), std::string::npos);
}

TEST(PercentDecodeTest, DecodesAndRejects) {
  EXPECT_EQ(PercentDecode("a%2Fb%3a%20c+d"), "a/b: c+d");
  EXPECT_EQ(PercentDecode(""), "");
  EXPECT_EQ(PercentDecode("%41%42"), "AB");
  EXPECT_FALSE(PercentDecode("%").has_value());
  EXPECT_FALSE(PercentDecode("%4").has_value());
  EXPECT_FALSE(PercentDecode("x%g1").has_value());
}

}  // namespace
}  // namespace streamgate::admin
