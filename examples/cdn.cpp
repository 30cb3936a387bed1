// CDN manager, following the spec's Usage section: cache content from an origin, read it back,
// watch the hit rate and bandwidth, invalidate, and prefetch.
//
// A local origin serves the "videos". With provider kLocal the manager is a pure edge cache;
// with kCloudflare or kFastly (and an API key) invalidations also purge that CDN's edges.
#include "streamgate/scaling/cdn.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "local_origin.hpp"

using namespace std::chrono_literals;
using streamgate::ErrorCode;
using streamgate::scaling::CDNConfig;
using streamgate::scaling::CDNManager;
using streamgate::scaling::CDNProvider;

namespace {

bool Check(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "example failed: %s\n", what);
  return ok;
}

void PrintMetrics(const CDNManager& cm) {
  const auto metrics = cm.GetMetrics();
  std::printf("Cache Hit Rate: %.2f%% (%llu hits, %llu misses)\n", metrics.hit_rate * 100.0,
              static_cast<unsigned long long>(metrics.cache_hits),
              static_cast<unsigned long long>(metrics.cache_misses));
  std::printf("Total Bandwidth: %llu bytes (%llu from cache, %llu from origin)\n",
              static_cast<unsigned long long>(metrics.total_bandwidth),
              static_cast<unsigned long long>(metrics.bytes_served_from_cache),
              static_cast<unsigned long long>(metrics.bytes_from_origin));
  std::printf("Cache Utilization: %.4f%% (%llu objects)\n", cm.GetCacheUtilization() * 100.0,
              static_cast<unsigned long long>(metrics.cache_count));
}

}  // namespace

int main() {
  const std::string video1(512 * 1024, 'a');
  const std::string video2(256 * 1024, 'b');
  examples::LocalOrigin origin({{"/video1.mp4", video1}, {"/video2.mp4", video2}});

  // Create the CDN manager with a 64 MiB cache (the spec shows 1 GiB and CloudFlare).
  CDNConfig config;
  config.provider = CDNProvider::kLocal;  // kCloudflare: config.api_key, config.zone_id
  CDNManager cm(config, 64ULL * 1024 * 1024);

  // Cache content: fetched from the origin now, checked against the expected size.
  if (auto status = cm.CacheContent("video-1", origin.Url("/video1.mp4"), 3600s, video1.size());
      !status) {
    std::fprintf(stderr, "cache video-1: %s\n", status.error().ToString().c_str());
    return 1;
  }
  std::printf("Cached video-1 (%zu bytes)\n", video1.size());

  // Monitor cache performance: three reads hit, one unknown key misses.
  bool ok = true;
  for (int i = 0; i < 3; ++i) {
    auto cached = cm.GetCachedContent("video-1");
    if (!cached) {
      std::fprintf(stderr, "get video-1: %s\n", cached.error().ToString().c_str());
      return 1;
    }
    if (i == 0) {
      std::printf("Got %s: %llu bytes, ttl %llds, from %s\n", cached->key.c_str(),
                  static_cast<unsigned long long>(cached->size),
                  static_cast<long long>(cached->ttl.count()), cached->url.c_str());
    }
  }
  auto missing = cm.GetCachedContent("video-9");
  ok &= Check(!missing && missing.error().code() == ErrorCode::kNotFound, "video-9 is a miss");
  PrintMetrics(cm);
  ok &= Check(cm.GetCacheHitRate() == 0.75, "3 hits out of 4 lookups");

  // Manage the cache: invalidate one key, prefetch two URLs, invalidate everything.
  if (auto status = cm.InvalidateCache("video-1"); !status) {
    std::fprintf(stderr, "invalidate: %s\n", status.error().ToString().c_str());
    return 1;
  }
  ok &= Check(!cm.GetCachedContent("video-1"), "video-1 is gone after invalidation");
  std::printf("\nInvalidated video-1; prefetching...\n");

  const std::vector<std::string> urls = {origin.Url("/video1.mp4"), origin.Url("/video2.mp4")};
  auto report = cm.PrefetchContent(urls);
  if (!report) {
    std::fprintf(stderr, "prefetch: %s\n", report.error().ToString().c_str());
    return 1;
  }
  for (const auto& result : report->results) {
    std::printf("  %s: %s (%llu bytes)\n", result.url.c_str(),
                result.status ? "prefetched" : result.status.error().ToString().c_str(),
                static_cast<unsigned long long>(result.bytes));
  }
  ok &= Check(report->succeeded == 2, "both URLs prefetched");
  ok &= Check(cm.GetCacheCount() == 2, "two objects cached");
  // Prefetched content is cached under its URL.
  ok &= Check(cm.GetCachedContent(urls[1]).has_value(), "a prefetched URL hits");
  PrintMetrics(cm);

  if (auto status = cm.InvalidateAll(); !status) {
    std::fprintf(stderr, "invalidate all: %s\n", status.error().ToString().c_str());
    return 1;
  }
  std::printf("\nInvalidated everything: %zu objects left\n", cm.GetCacheCount());
  ok &= Check(cm.GetCacheCount() == 0, "the cache is empty");
  return ok ? 0 : 1;
}
