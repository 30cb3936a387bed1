#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cdn/cdn_metrics.hpp"
#include "net/demo_origin.hpp"
#include "streamgate/scaling/cdn.hpp"
#include "support/fake_cdn.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::scaling {
namespace {

using namespace std::chrono_literals;
using cdn::FetchedContent;
using testing::ManualClock;

using FakeFetcher = testing::FakeContentFetcher;
using testing::FakePurger;

class CDNManagerTest : public ::testing::Test {
 protected:
  CDNManagerTest() {
    config_.max_cache_size = 1 << 20;
    config_.default_ttl = 3600s;
    config_.max_object_fraction = 0.1;
    config_.shards = 4;
    Rebuild();
  }

  void Rebuild() {
    CDNDependencies deps;
    deps.fetcher = fetcher_;
    deps.purger = purger_;
    deps.clock = &clock_;
    manager_ = std::make_unique<CDNManager>(config_, deps);
  }

  CDNConfig config_;
  ManualClock clock_;
  std::shared_ptr<FakeFetcher> fetcher_ = std::make_shared<FakeFetcher>();
  std::shared_ptr<FakePurger> purger_ = std::make_shared<FakePurger>();
  std::unique_ptr<CDNManager> manager_;
};

constexpr const char* kUrl = "https://origin.test/videos/1.mp4";

TEST_F(CDNManagerTest, CacheContentFetchesAndStoresTheBytes) {
  fetcher_->Serve(kUrl, std::string(500, 'v'),
                  {{"Content-Type", "video/mp4"},
                   {"ETag", "\"abc\""},
                   {"Last-Modified", "Tue, 01 Jun 2027 10:00:00 GMT"},
                   {"Surrogate-Key", "video  show-1"},
                   {"Connection", "keep-alive"}});
  ASSERT_TRUE(manager_->CacheContent("video-1", kUrl, 600s, 500));

  auto cached = manager_->GetCachedContent("video-1");
  ASSERT_TRUE(cached.has_value()) << cached.error().ToString();
  EXPECT_EQ(cached->key, "video-1");
  EXPECT_EQ(cached->url, kUrl);
  EXPECT_EQ(cached->size, 500u);
  EXPECT_EQ(cached->ttl, 600s);
  EXPECT_EQ(cached->cached_at, clock_.WallNow());
  EXPECT_EQ(cached->expires_at, clock_.WallNow() + 600s);
  EXPECT_TRUE(cached->fresh);
  EXPECT_EQ(cached->etag, "\"abc\"");
  EXPECT_EQ(cached->last_modified, "Tue, 01 Jun 2027 10:00:00 GMT");
  EXPECT_EQ(cached->surrogate_keys, (std::vector<std::string>{"video", "show-1"}));
  ASSERT_NE(cached->entry, nullptr);
  EXPECT_EQ(cached->entry->body, std::string(500, 'v'));
  EXPECT_EQ(cached->entry->status, 200);
  // Hop-by-hop headers are not replayed.
  for (const auto& [name, value] : cached->entry->headers) EXPECT_NE(name, "Connection");
  EXPECT_EQ(cached->entry->headers.front(),
            (std::pair<std::string, std::string>{"Content-Type", "video/mp4"}));
}

TEST_F(CDNManagerTest, SizeIsCheckedAgainstWhatArrives) {
  fetcher_->Serve(kUrl, std::string(100, 'a'));
  auto smaller = manager_->CacheContent("k", kUrl, 60s, 50);
  ASSERT_FALSE(smaller.has_value());
  EXPECT_EQ(smaller.error().code(), ErrorCode::kCorrupted);
  auto larger = manager_->CacheContent("k", kUrl, 60s, 200);
  ASSERT_FALSE(larger.has_value());
  EXPECT_EQ(larger.error().code(), ErrorCode::kCorrupted);
  EXPECT_NE(larger.error().message().find("expected 200 bytes, got 100"), std::string::npos);
  EXPECT_TRUE(manager_->CacheContent("k", kUrl, 60s, 0).has_value());  // size not known
  EXPECT_EQ(manager_->GetCacheCount(), 1u);
}

TEST_F(CDNManagerTest, ArgumentsAreValidatedBeforeAnyFetch) {
  EXPECT_EQ(manager_->CacheContent("", kUrl, 60s, 1).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_->CacheContent("k", "ftp://x/y", 60s, 1).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_->CacheContent("k", "http://", 60s, 1).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_->CacheContent("k", "http://a b/", 60s, 1).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_->CacheContent("k", kUrl, -1s, 1).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_->CacheContent("k\n", kUrl, 60s, 1).error().code(),
            ErrorCode::kInvalidArgument);
  // Larger than the admission limit (10% of 1 MiB): refused without downloading.
  auto big = manager_->CacheContent("k", kUrl, 60s, 200'000);
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(fetcher_->calls(), 0);
}

TEST_F(CDNManagerTest, OriginFailuresAreReported) {
  auto missing = manager_->CacheContent("k", "http://origin.test/missing", 60s, 0);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(missing.error().message().find("404"), std::string::npos);
  fetcher_->Fail(kUrl, Error(ErrorCode::kTimeout, "GET: timed out"));
  EXPECT_EQ(manager_->CacheContent("k", kUrl, 60s, 0).error().code(), ErrorCode::kTimeout);
  EXPECT_EQ(manager_->GetCacheCount(), 0u);
}

TEST_F(CDNManagerTest, TtlZeroMeansDefaultAndEntriesExpire) {
  fetcher_->Serve(kUrl, "abc");
  ASSERT_TRUE(manager_->CacheContent("default", kUrl, 0s, 3));
  ASSERT_TRUE(manager_->CacheContent("short", kUrl, 10s, 3));
  EXPECT_EQ(manager_->GetCachedContent("default")->ttl, 3600s);
  clock_.Advance(11s);
  auto expired = manager_->GetCachedContent("short");
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(manager_->GetCachedContent("default").has_value());
  EXPECT_EQ(manager_->GetMetrics().expirations, 1u);
  clock_.Advance(3600s);
  EXPECT_EQ(manager_->PurgeExpired(), 1u);
  EXPECT_EQ(manager_->GetCacheCount(), 0u);
}

TEST_F(CDNManagerTest, InvalidationsReachTheExternalCdn) {
  fetcher_->Serve(kUrl, "1", {{"Surrogate-Key", "show-1"}});
  fetcher_->Serve("https://origin.test/videos/2.mp4", "2", {{"Surrogate-Key", "show-2"}});
  fetcher_->Serve("https://origin.test/img/3.png", "3", {{"Surrogate-Key", "show-1"}});
  ASSERT_TRUE(manager_->CacheContent("v1", kUrl, 60s, 1));
  ASSERT_TRUE(manager_->CacheContent("v2", "https://origin.test/videos/2.mp4", 60s, 1));
  ASSERT_TRUE(manager_->CacheContent("i3", "https://origin.test/img/3.png", 60s, 1));
  ASSERT_TRUE(
      manager_->CacheContent("v4", "https://origin.test/videos/4.mp4", 60s, 0).error().code() ==
      ErrorCode::kUnavailable);

  ASSERT_TRUE(manager_->InvalidateCache("v1"));
  auto missing = manager_->InvalidateCache("v1");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  auto by_tag = manager_->InvalidateSurrogateKey("show-1");
  ASSERT_TRUE(by_tag.has_value());
  EXPECT_EQ(*by_tag, 1u);  // i3 (v1 is gone already)
  auto by_prefix = manager_->InvalidatePrefix("https://origin.test/videos/");
  ASSERT_TRUE(by_prefix.has_value());
  EXPECT_EQ(*by_prefix, 1u);
  ASSERT_TRUE(manager_->InvalidateAll());

  const std::vector<std::string> expected = {
      std::string("urls:") + kUrl,
      "tags:show-1",
      "prefixes:https://origin.test/videos/",
      "all:",
  };
  EXPECT_EQ(purger_->Calls(), expected);
  EXPECT_EQ(manager_->GetMetrics().invalidations, 3u);
  EXPECT_EQ(manager_->GetMetrics().purges, 4u);
  EXPECT_FALSE(manager_->InvalidatePrefix("").has_value());
  EXPECT_FALSE(manager_->InvalidateSurrogateKey("a b").has_value());
}

TEST_F(CDNManagerTest, PurgeFailureIsReportedButTheLocalEntryIsGone) {
  fetcher_->Serve(kUrl, "x");
  ASSERT_TRUE(manager_->CacheContent("k", kUrl, 60s, 1));
  purger_->set_fail(true);
  auto status = manager_->InvalidateCache("k");
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(status.error().message().find("removed locally"), std::string::npos);
  EXPECT_EQ(manager_->GetCacheCount(), 0u);
  EXPECT_EQ(manager_->GetMetrics().purge_failures, 1u);
  EXPECT_FALSE(manager_->InvalidateAll().has_value());
}

TEST_F(CDNManagerTest, WithoutAProviderInvalidationIsLocal) {
  purger_ = nullptr;
  Rebuild();
  fetcher_->Serve(kUrl, "x");
  ASSERT_TRUE(manager_->CacheContent("k", kUrl, 60s, 1));
  EXPECT_TRUE(manager_->InvalidateCache("k").has_value());
  EXPECT_TRUE(manager_->InvalidateAll().has_value());
  EXPECT_EQ(manager_->GetMetrics().purges, 0u);
}

TEST_F(CDNManagerTest, MetricsCountHitsBandwidthAndUtilisation) {
  fetcher_->Serve(kUrl, std::string(1000, 'x'));
  ASSERT_TRUE(manager_->CacheContent("k", kUrl, 60s, 1000));
  ASSERT_TRUE(manager_->GetCachedContent("k").has_value());
  ASSERT_TRUE(manager_->GetCachedContent("k").has_value());
  ASSERT_TRUE(manager_->GetCachedContent("k").has_value());
  ASSERT_FALSE(manager_->GetCachedContent("other").has_value());
  manager_->UpdateBandwidth(500);

  const CDNMetrics m = manager_->GetMetrics();
  EXPECT_EQ(m.cache_hits, 3u);
  EXPECT_EQ(m.cache_misses, 1u);
  EXPECT_EQ(m.total_requests, 4u);
  EXPECT_DOUBLE_EQ(m.hit_rate, 0.75);
  EXPECT_DOUBLE_EQ(manager_->GetCacheHitRate(), 0.75);
  EXPECT_EQ(m.bytes_served_from_cache, 3000u);
  EXPECT_EQ(m.bytes_from_origin, 1500u);
  EXPECT_EQ(m.total_bandwidth, 4500u);
  EXPECT_EQ(m.cache_count, 1u);
  EXPECT_EQ(manager_->GetCacheCount(), 1u);
  EXPECT_GT(m.cache_size, 1000u);  // body plus metadata
  EXPECT_LT(m.cache_size, 1500u);
  EXPECT_EQ(manager_->GetCacheSize(), m.cache_size);
  EXPECT_EQ(m.max_cache_size, 1u << 20);
  EXPECT_DOUBLE_EQ(m.utilization, static_cast<double>(m.cache_size) / (1 << 20));
  EXPECT_DOUBLE_EQ(manager_->GetCacheUtilization(), m.utilization);
}

TEST_F(CDNManagerTest, MetricsExportAsPrometheusText) {
  fetcher_->Serve(kUrl, std::string(10, 'x'));
  ASSERT_TRUE(manager_->CacheContent("k", kUrl, 60s, 10));
  ASSERT_TRUE(manager_->GetCachedContent("k").has_value());
  metrics::PrometheusWriter out;
  cdn::WriteCdnMetrics(*manager_, out);
  EXPECT_EQ(out.rejected(), 0u);
  const std::string text = out.Take();
  EXPECT_NE(text.find("# TYPE streamgate_cdn_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("streamgate_cdn_requests_total{result=\"hit\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("streamgate_cdn_requests_total{result=\"miss\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("streamgate_cdn_bytes_total{source=\"cache\"} 10\n"), std::string::npos);
  EXPECT_NE(text.find("streamgate_cdn_cache_objects 1\n"), std::string::npos);
  EXPECT_NE(text.find("streamgate_cdn_hit_ratio 1\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE streamgate_cdn_cache_utilization gauge"), std::string::npos);
}

TEST_F(CDNManagerTest, ListShowsEverythingSortedWithoutCountingHits) {
  fetcher_->Serve(kUrl, "x");
  for (const char* k : {"c", "a", "b"}) ASSERT_TRUE(manager_->CacheContent(k, kUrl, 60s, 1));
  std::vector<std::string> keys;
  for (const CDNCache& c : manager_->ListCachedContent()) keys.push_back(c.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(manager_->GetMetrics().total_requests, 0u);
}

TEST_F(CDNManagerTest, PrefetchReportsEachUrlAndBoundsConcurrency) {
  config_.prefetch_concurrency = 3;
  Rebuild();
  std::vector<std::string> urls;
  for (int i = 0; i < 9; ++i) {
    urls.push_back("https://origin.test/seg/" + std::to_string(i) + ".ts");
    fetcher_->Serve(urls.back(), std::string(100 + i, 's'));
  }
  urls.push_back("https://origin.test/seg/missing.ts");
  urls.push_back("not a url");
  fetcher_->HoldUntilParallel(3, 10);

  auto report = manager_->PrefetchContent(urls);
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->results.size(), urls.size());
  EXPECT_EQ(report->succeeded, 9u);
  EXPECT_EQ(report->failed, 2u);
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(report->results[i].url, urls[i]);
    EXPECT_TRUE(report->results[i].status.has_value());
    EXPECT_EQ(report->results[i].bytes, 100u + i);
  }
  EXPECT_EQ(report->results[9].status.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(report->results[10].status.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(fetcher_->max_in_flight(), 3);  // concurrent, and never more than the bound
  EXPECT_EQ(manager_->GetCacheCount(), 9u);
  EXPECT_EQ(manager_->GetCachedContent(urls[4])->size, 104u);  // the URL is the key
  EXPECT_EQ(manager_->GetMetrics().prefetched, 9u);
  EXPECT_EQ(manager_->GetMetrics().prefetch_failures, 2u);

  // Already cached: not fetched again.
  const int calls = fetcher_->calls();
  auto again = manager_->PrefetchContent(std::span<const std::string>(urls.data(), 2));
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->results[0].already_cached);
  EXPECT_EQ(fetcher_->calls(), calls);

  EXPECT_EQ(manager_->PrefetchContent({}).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(CDNManagerTest, PrefetchDoesNotFlushHotContent) {
  config_.max_cache_size = 100'000;
  config_.shards = 1;
  config_.max_object_fraction = 0.1;
  config_.prefetch_share = 0.2;
  config_.eviction_policy = cdn::PolicyKind::kLru;  // the policy that would flush everything
  Rebuild();
  for (int i = 0; i < 10; ++i) {
    const std::string url = "https://origin.test/hot/" + std::to_string(i);
    fetcher_->Serve(url, std::string(9'000, 'h'));
    ASSERT_TRUE(manager_->CacheContent("hot" + std::to_string(i), url, 60s, 9'000));
    ASSERT_TRUE(manager_->GetCachedContent("hot" + std::to_string(i)).has_value());
  }
  std::vector<std::string> cold;
  for (int i = 0; i < 10; ++i) {
    cold.push_back("https://origin.test/cold/" + std::to_string(i));
    fetcher_->Serve(cold.back(), std::string(9'000, 'c'));
  }
  auto report = manager_->PrefetchContent(cold);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->succeeded, 2u);  // 20% of 100 kB: two 9 kB objects
  EXPECT_EQ(report->failed, 8u);
  int hot_left = 0;
  for (const CDNCache& c : manager_->ListCachedContent()) hot_left += c.key.starts_with("hot");
  EXPECT_GE(hot_left, 8);
}

TEST_F(CDNManagerTest, ConfigIsValidated) {
  CDNConfig config;
  EXPECT_TRUE(ValidateCDNConfig(config).has_value());
  config.provider = CDNProvider::kCloudflare;
  EXPECT_FALSE(ValidateCDNConfig(config).has_value());  // no api key
  config.api_key = "token";
  EXPECT_FALSE(ValidateCDNConfig(config).has_value());  // no zone
  config.zone_id = "zone";
  EXPECT_TRUE(ValidateCDNConfig(config).has_value());
  config.provider = CDNProvider::kFastly;
  EXPECT_FALSE(ValidateCDNConfig(config).has_value());  // no service
  config = CDNConfig{};
  config.default_ttl = 0s;
  EXPECT_FALSE(ValidateCDNConfig(config).has_value());
  config = CDNConfig{};
  config.prefetch_concurrency = 0;
  EXPECT_FALSE(ValidateCDNConfig(config).has_value());
  config = CDNConfig{};
  config.max_cache_size = 0;
  EXPECT_FALSE(ValidateCDNConfig(config).has_value());
  EXPECT_THROW(CDNManager(config, CDNDependencies{fetcher_, nullptr, &clock_}),
               std::invalid_argument);
  EXPECT_THROW(CDNManager(CDNConfig{}, CDNDependencies{nullptr, nullptr, &clock_}),
               std::invalid_argument);
}

TEST_F(CDNManagerTest, PurgerConfigCarriesTheProviderSettings) {
  CDNConfig config;
  EXPECT_EQ(ToPurgerConfig(config).provider, "none");
  config.provider = CDNProvider::kFastly;
  config.api_key = "key";
  config.service_id = "svc";
  config.base_url = "http://127.0.0.1:1";
  config.purge_max_attempts = 5;
  const cdn::PurgerConfig p = ToPurgerConfig(config);
  EXPECT_EQ(p.provider, "fastly");
  EXPECT_EQ(p.api_key, "key");
  EXPECT_EQ(p.service_id, "svc");
  EXPECT_EQ(p.base_url, "http://127.0.0.1:1");
  EXPECT_EQ(p.max_attempts, 5);
  for (CDNProvider provider :
       {CDNProvider::kLocal, CDNProvider::kCloudflare, CDNProvider::kFastly}) {
    EXPECT_EQ(ParseCDNProvider(ToString(provider)), provider);
  }
  EXPECT_FALSE(ParseCDNProvider("akamai").has_value());
}

// ---- With a real origin on loopback ----

class CDNManagerOriginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    net::DemoOriginOptions options;
    options.threads = 2;
    auto origin = net::DemoOrigin::Start(options);
    ASSERT_TRUE(origin.has_value()) << origin.error().ToString();
    origin_ = std::move(*origin);
  }
  std::string Url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(origin_->port()) + std::string(path);
  }
  std::unique_ptr<net::DemoOrigin> origin_;
};

TEST_F(CDNManagerOriginTest, SpecFormCachesRealBytes) {
  CDNManager manager(CDNConfig{}, 4 << 20);  // HTTP fetcher, real clock, no provider
  EXPECT_EQ(manager.GetMetrics().max_cache_size, 4u << 20);
  ASSERT_TRUE(manager.CacheContent("seg-1", Url("/bytes/1000"), 60s, 1000));
  auto cached = manager.GetCachedContent("seg-1");
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->size, 1000u);
  EXPECT_EQ(cached->entry->body.size(), 1000u);

  auto wrong = manager.CacheContent("seg-2", Url("/bytes/1000"), 60s, 999);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kCorrupted);
  auto short_body = manager.CacheContent("seg-2", Url("/bytes/10"), 60s, 999);
  ASSERT_FALSE(short_body.has_value());
  EXPECT_EQ(short_body.error().code(), ErrorCode::kCorrupted);
  auto not_found = manager.CacheContent("seg-3", Url("/nope"), 60s, 0);
  ASSERT_FALSE(not_found.has_value());
  EXPECT_EQ(not_found.error().code(), ErrorCode::kUnavailable);
}

TEST_F(CDNManagerOriginTest, PrefetchFetchesConcurrentlyFromTheOrigin) {
  CDNConfig config;
  config.prefetch_concurrency = 4;
  CDNManager manager(config, 8 << 20);
  std::vector<std::string> urls;
  for (int i = 1; i <= 12; ++i) urls.push_back(Url("/bytes/" + std::to_string(i * 1000)));
  urls.push_back(Url("/missing"));
  auto report = manager.PrefetchContent(urls);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->succeeded, 12u);
  EXPECT_EQ(report->failed, 1u);
  EXPECT_EQ(manager.GetCachedContent(urls[2])->size, 3000u);
}

TEST_F(CDNManagerOriginTest, StoppedOriginIsUnavailable) {
  CDNManager manager(CDNConfig{}, 1 << 20);
  const std::string url = Url("/bytes/10");
  origin_->Stop();
  auto status = manager.CacheContent("k", url, 60s, 10);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
}

TEST(HttpFetcherTest, StopsReadingPastTheLimit) {
  auto origin = net::DemoOrigin::Start({});
  ASSERT_TRUE(origin.has_value());
  auto fetcher = cdn::MakeHttpFetcher();
  const std::string base = "http://127.0.0.1:" + std::to_string((*origin)->port());
  auto full = fetcher->Fetch(base + "/bytes/5000", 5000);
  ASSERT_TRUE(full.has_value()) << full.error().ToString();
  EXPECT_EQ(full->status, 200);
  EXPECT_EQ(full->body.size(), 5000u);
  EXPECT_FALSE(full->truncated);
  EXPECT_TRUE(full->Header("x-origin-id").has_value());

  auto cut = fetcher->Fetch(base + "/bytes/5000", 100);
  ASSERT_TRUE(cut.has_value());
  EXPECT_TRUE(cut->truncated);
  EXPECT_EQ(cut->body.size(), 100u);

  auto missing = fetcher->Fetch(base + "/nope", 100);
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 404);

  EXPECT_EQ(fetcher->Fetch("gopher://x/", 1).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace streamgate::scaling
