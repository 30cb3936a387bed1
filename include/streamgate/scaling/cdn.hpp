// CDN manager: StreamGate as a CDN edge. Mirrors the spec's CDNManager (API reference, "CDN
// Manager"): content cached with TTLs, invalidated, listed, prefetched, with hit rate, bandwidth
// and utilisation. The bytes live in a cdn::ObjectStore (sharded, byte-bounded, S3-FIFO by
// default), which the proxy shares through store() for its own HTTP caching.
//
//   * CacheContent fetches the bytes from `url` (ContentFetcher; HTTP GET in production) and
//     checks them against the size given.
//   * Invalidations remove local entries and, with a provider configured, purge the external
//     CDN too (cdn::Purger): by URL, everything, URL prefix, or surrogate key.
//   * PrefetchContent fetches concurrently (at most prefetch_concurrency at once); prefetched
//     entries stay "cold" until hit, and cold content may displace at most prefetch_share of
//     the cache.
//
// Thread-safe: every call may be made from any thread; lookups take no global lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "streamgate/cdn/content_fetcher.hpp"
#include "streamgate/cdn/eviction.hpp"
#include "streamgate/cdn/object_store.hpp"
#include "streamgate/cdn/purger.hpp"
#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::scaling {

enum class CDNProvider { kLocal, kCloudflare, kFastly };  // kLocal: no external CDN

// "local", "cloudflare", "fastly".
[[nodiscard]] std::string_view ToString(CDNProvider provider);
[[nodiscard]] Result<CDNProvider> ParseCDNProvider(std::string_view name);

struct CDNConfig {
  // External CDN (what cdn::PurgerConfig needs); ignored for kLocal.
  CDNProvider provider = CDNProvider::kLocal;
  std::string api_key;     // Cloudflare API token or Fastly API key
  std::string zone_id;     // Cloudflare zone
  std::string service_id;  // Fastly service
  std::string base_url;    // "" = the provider's public API
  int purge_max_attempts = 3;
  std::chrono::milliseconds purge_timeout{10'000};

  // Local cache.
  std::uint64_t max_cache_size = 1ULL << 30;  // bytes
  std::chrono::seconds default_ttl{3600};     // when CacheContent gets ttl 0, and for prefetch
  double max_object_fraction = 0.05;          // larger objects are not admitted
  std::size_t shards = 16;
  cdn::PolicyKind eviction_policy = cdn::kDefaultPolicy;

  // Fetching.
  std::size_t prefetch_concurrency = 8;  // fetches in flight per PrefetchContent call
  double prefetch_share = 0.25;          // of the cache that cold prefetches may displace
  std::chrono::milliseconds fetch_timeout{30'000};
};

// OK when the cache settings are usable (see ValidateStoreOptions), default_ttl > 0,
// prefetch_concurrency in [1, 256], and a provider other than kLocal has its credentials.
[[nodiscard]] Status ValidateCDNConfig(const CDNConfig& config);
// The purger configuration for `config.provider` ("none" for kLocal).
[[nodiscard]] cdn::PurgerConfig ToPurgerConfig(const CDNConfig& config);

// One cached object as the spec shows it, with the bytes shared (not copied).
struct CDNCache {
  std::string key;
  std::string url;
  std::uint64_t size = 0;  // body bytes
  std::chrono::seconds ttl{0};
  WallTime cached_at{};
  WallTime expires_at{};
  bool fresh = true;
  std::string etag;
  std::string last_modified;
  std::vector<std::string> surrogate_keys;
  cdn::EntryPtr entry;  // body, headers, status
};

struct CDNMetrics {
  std::uint64_t cache_hits = 0;
  std::uint64_t cache_misses = 0;
  std::uint64_t total_requests = 0;  // hits + misses
  double hit_rate = 0.0;             // hits / requests, 0 without requests
  std::uint64_t bytes_served_from_cache = 0;
  std::uint64_t bytes_from_origin = 0;  // fetched into the cache, plus UpdateBandwidth
  std::uint64_t total_bandwidth = 0;    // served from cache + from origin
  std::uint64_t cache_size = 0;         // bytes charged (bodies plus metadata)
  std::uint64_t max_cache_size = 0;
  std::uint64_t cache_count = 0;
  double utilization = 0.0;  // cache_size / max_cache_size
  std::uint64_t evictions = 0;
  std::uint64_t expirations = 0;
  std::uint64_t invalidations = 0;
  std::uint64_t rejected = 0;  // not admitted: too large, or beyond the prefetch share
  std::uint64_t prefetched = 0;
  std::uint64_t prefetch_failures = 0;
  std::uint64_t purges = 0;  // calls made to the external CDN
  std::uint64_t purge_failures = 0;
};

struct PrefetchResult {
  std::string url;
  Status status;                // the error for this URL, if any
  std::uint64_t bytes = 0;      // body bytes stored
  bool already_cached = false;  // a fresh entry existed; nothing fetched
};

struct PrefetchReport {
  std::vector<PrefetchResult> results;  // in the order of the URLs given
  std::size_t succeeded = 0;
  std::size_t failed = 0;
};

// Collaborators for the full constructor.
struct CDNDependencies {
  std::shared_ptr<cdn::ContentFetcher> fetcher;  // required
  std::shared_ptr<cdn::Purger> purger;           // null: local invalidation only
  const Clock* clock = nullptr;                  // null: RealClock(); must outlive the manager
};

class CDNManager {
 public:
  // Spec form: `max_cache_size` overrides config.max_cache_size; HTTP fetcher, real clock, and
  // the purger for config.provider. Throws std::invalid_argument for an invalid config.
  CDNManager(CDNConfig config, std::uint64_t max_cache_size);
  // Full form. Throws std::invalid_argument for an invalid config or a null fetcher.
  CDNManager(CDNConfig config, CDNDependencies dependencies);
  ~CDNManager();
  CDNManager(const CDNManager&) = delete;
  CDNManager& operator=(const CDNManager&) = delete;

  // Content management.
  // Fetches `url` and stores it under `key` for `ttl` (0: default_ttl). `size` is the expected
  // body size (0: not known); a different size is kCorrupted. Errors: InvalidArgument (key,
  // url, negative ttl), FailedPrecondition (too large to admit), Unavailable/Timeout (origin
  // unreachable or not 200).
  [[nodiscard]] Status CacheContent(std::string_view key, std::string_view url,
                                    std::chrono::seconds ttl, std::uint64_t size);
  // A fresh entry (counted as a hit), or NotFound (counted as a miss).
  [[nodiscard]] Result<CDNCache> GetCachedContent(std::string_view key);
  // NotFound when the key is not cached. The external purge (by the entry's URL) runs after
  // the local removal; its failure is returned (the local entry is gone regardless).
  [[nodiscard]] Status InvalidateCache(std::string_view key);
  [[nodiscard]] Status InvalidateAll();
  // Beyond the spec: by URL prefix and by surrogate key; the count removed locally.
  [[nodiscard]] Result<std::size_t> InvalidatePrefix(std::string_view url_prefix);
  [[nodiscard]] Result<std::size_t> InvalidateSurrogateKey(std::string_view surrogate_key);
  // Every entry (fresh or kept stale), sorted by key; no hits counted.
  [[nodiscard]] std::vector<CDNCache> ListCachedContent() const;
  // Removes entries past their expiry (call periodically); the count removed.
  std::size_t PurgeExpired();

  // Metrics.
  [[nodiscard]] CDNMetrics GetMetrics() const;
  // Bytes fetched from an origin outside the manager (e.g. the proxy's uncacheable answers).
  void UpdateBandwidth(std::uint64_t bytes);
  [[nodiscard]] std::uint64_t GetCacheSize() const;
  [[nodiscard]] std::size_t GetCacheCount() const;
  [[nodiscard]] double GetCacheUtilization() const;
  [[nodiscard]] double GetCacheHitRate() const;

  // Prefetching: the URL is the key. InvalidArgument only for an empty list; per-URL outcomes
  // are in the report.
  [[nodiscard]] Result<PrefetchReport> PrefetchContent(std::span<const std::string> urls);

  // The store behind the manager, for the proxy's HTTP cache.
  [[nodiscard]] cdn::ObjectStore& store() { return *store_; }
  [[nodiscard]] const cdn::ObjectStore& store() const { return *store_; }
  [[nodiscard]] const CDNConfig& config() const { return config_; }

 private:
  [[nodiscard]] Result<cdn::CacheObject> Fetch(std::string_view key, std::string_view url,
                                               std::uint64_t expected_size);
  [[nodiscard]] PrefetchResult PrefetchOne(const std::string& url);
  [[nodiscard]] Status Purge(std::string_view what,
                             const std::function<Status(cdn::Purger&)>& call);
  [[nodiscard]] CDNCache ToView(const cdn::EntryPtr& entry) const;

  CDNConfig config_;
  std::shared_ptr<cdn::ContentFetcher> fetcher_;
  std::shared_ptr<cdn::Purger> purger_;
  const Clock& clock_;
  std::unique_ptr<cdn::ObjectStore> store_;
  std::atomic<std::uint64_t> prefetched_{0};
  std::atomic<std::uint64_t> prefetch_failures_{0};
  std::atomic<std::uint64_t> purges_{0};
  std::atomic<std::uint64_t> purge_failures_{0};
};

}  // namespace streamgate::scaling
