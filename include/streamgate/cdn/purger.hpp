// Purging content at an external CDN (Cloudflare, Fastly) so that its edges drop their copies.
// The CDN manager calls the configured purger whenever content is invalidated locally.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::cdn {

// What a provider adapter needs. Fields a provider does not use are ignored.
struct PurgerConfig {
  std::string provider;    // "cloudflare", "fastly" or "none"
  std::string api_key;     // Cloudflare API token (Bearer) or Fastly API key (Fastly-Key)
  std::string zone_id;     // Cloudflare zone
  std::string service_id;  // Fastly service
  std::string base_url;    // empty: the provider's public API; tests point this at loopback
  int max_attempts = 3;    // per call, counting the first; 429 and 5xx are retried
  std::chrono::milliseconds timeout{10'000};  // per attempt

  // Items per provider request; longer lists are split into several requests. 0: the provider's
  // documented maximum (Cloudflare: 100 files/tags/prefixes per purge_cache call, 500 URLs on
  // Enterprise; older accounts had 30. Fastly: 256 surrogate keys per batch; URLs go one by one).
  std::size_t max_items_per_request = 0;
  // Fastly: mark objects stale instead of removing them (Fastly-Soft-Purge: 1); purge_all is
  // always hard. Pairs well with stale-while-revalidate at the edge.
  bool soft_purge = false;
  // Backoff after a connect error, timeout, 5xx or 429 without Retry-After: initial, doubling,
  // capped at backoff_max. A Retry-After (seconds or HTTP date) is honoured up to max_retry_after.
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{10'000};
  std::chrono::milliseconds max_retry_after{60'000};
  // How the purger waits between attempts (called from the purging thread, so it must be
  // thread-safe); empty: really sleep. Tests record the waits instead.
  std::function<void(std::chrono::milliseconds)> sleep;
  // Wall clock for Retry-After given as an HTTP date; null: RealClock(). Must outlive the purger.
  const Clock* clock = nullptr;
};

// Thread-safe: calls may come from several threads at once; each call uses its own connection.
// A failed call is never half-hidden: when a long list was split, the error says how many
// requests had already succeeded (those items are purged; the rest are not).
class Purger {
 public:
  virtual ~Purger() = default;
  [[nodiscard]] virtual std::string_view provider() const = 0;
  // Each call is one logical purge; an empty list is an InvalidArgument error.
  // URLs are absolute ("https://example.com/a.mp4"); duplicates are sent once.
  [[nodiscard]] virtual Status PurgeUrls(std::span<const std::string> urls) = 0;
  // Surrogate keys (Fastly) / cache tags (Cloudflare).
  [[nodiscard]] virtual Status PurgeTags(std::span<const std::string> tags) = 0;
  // URL prefixes such as "example.com/videos/"; FailedPrecondition where a provider lacks it.
  // A leading "http://" or "https://" is dropped (Cloudflare wants host/path).
  [[nodiscard]] virtual Status PurgePrefixes(std::span<const std::string> prefixes) = 0;
  [[nodiscard]] virtual Status PurgeAll() = 0;
};

// The adapter for config.provider; InvalidArgument for an unknown provider or a missing
// credential. "none" gives a purger that accepts every call and does nothing.
// Errors from a provider map to: 400/422 and other 4xx -> InvalidArgument, 401/403 ->
// FailedPrecondition, 404 -> NotFound, 429/5xx/connect failure -> Unavailable, time-out ->
// Timeout; the message carries the provider's own error text, never the API key.
[[nodiscard]] Result<std::unique_ptr<Purger>> MakePurger(const PurgerConfig& config);

}  // namespace streamgate::cdn
