// Purging content at an external CDN (Cloudflare, Fastly) so that its edges drop their copies.
// The CDN manager calls the configured purger whenever content is invalidated locally.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>

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
};

class Purger {
 public:
  virtual ~Purger() = default;
  [[nodiscard]] virtual std::string_view provider() const = 0;
  // Each call is one logical purge; an empty list is an InvalidArgument error.
  [[nodiscard]] virtual Status PurgeUrls(std::span<const std::string> urls) = 0;
  // Surrogate keys (Fastly) / cache tags (Cloudflare).
  [[nodiscard]] virtual Status PurgeTags(std::span<const std::string> tags) = 0;
  // URL prefixes such as "example.com/videos/"; FailedPrecondition where a provider lacks it.
  [[nodiscard]] virtual Status PurgePrefixes(std::span<const std::string> prefixes) = 0;
  [[nodiscard]] virtual Status PurgeAll() = 0;
};

// The adapter for config.provider; InvalidArgument for an unknown provider or a missing
// credential. "none" gives a purger that accepts every call and does nothing.
[[nodiscard]] Result<std::unique_ptr<Purger>> MakePurger(const PurgerConfig& config);

}  // namespace streamgate::cdn
