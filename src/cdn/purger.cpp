// MakePurger: checks a PurgerConfig and builds the provider's adapter (or the "none" purger).
#include "streamgate/cdn/purger.hpp"

#include <algorithm>
#include <cctype>
#include <thread>
#include <utility>

#include "cdn/purger_http.hpp"

namespace streamgate::cdn {
namespace {

using purger_internal::HttpOptions;
using std::chrono::milliseconds;

// Documented per-request maxima (see PurgerConfig::max_items_per_request).
constexpr std::size_t kCloudflareItemsPerRequest = 100;
constexpr std::size_t kFastlyKeysPerRequest = 256;

constexpr std::string_view kCloudflareApi = "https://api.cloudflare.com";
constexpr std::string_view kFastlyApi = "https://api.fastly.com";

// Accepts every valid call and does nothing: the same argument checks as the real adapters, so a
// caller's bug does not hide until a provider is configured.
class NonePurger final : public Purger {
 public:
  std::string_view provider() const override { return "none"; }
  Status PurgeUrls(std::span<const std::string> urls) override {
    return purger_internal::ValidateUrls(urls);
  }
  Status PurgeTags(std::span<const std::string> tags) override {
    return purger_internal::ValidateItems("tags", tags);
  }
  Status PurgePrefixes(std::span<const std::string> prefixes) override {
    return purger_internal::ValidateItems("prefixes", prefixes);
  }
  Status PurgeAll() override { return {}; }
};

// Zone and service ids go into a URL path: keep them to what the providers issue.
Status ValidateId(std::string_view field, std::string_view provider, std::string_view id) {
  if (id.empty()) {
    return InvalidArgument("cdn " + std::string(provider) + ": " + std::string(field) +
                           " is required");
  }
  const bool ok = std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
  });
  if (!ok) {
    return InvalidArgument("cdn " + std::string(provider) + ": " + std::string(field) +
                           " may hold only letters, digits, '-' and '_'");
  }
  return {};
}

Status ValidateApiKey(std::string_view provider, std::string_view key) {
  if (key.empty()) return InvalidArgument("cdn " + std::string(provider) + ": api_key is required");
  // The key goes into a header: CR/LF or spaces would break (or forge) it. Never echo the key.
  const bool ok = std::all_of(key.begin(), key.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
  });
  if (!ok) {
    return InvalidArgument("cdn " + std::string(provider) +
                           ": api_key contains whitespace or control characters");
  }
  return {};
}

Result<std::string> ResolveBaseUrl(std::string_view provider, std::string_view configured,
                                   std::string_view default_url) {
  std::string url(configured.empty() ? default_url : configured);
  while (!url.empty() && url.back() == '/') url.pop_back();
  const bool http = url.starts_with("http://") || url.starts_with("https://");
  const bool clean = std::none_of(url.begin(), url.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || c == '?' || c == '#';
  });
  const std::size_t host_start = url.find("://") + 3;
  if (!http || !clean || url.size() <= host_start) {
    return InvalidArgument("cdn " + std::string(provider) + ": base_url '" +
                           std::string(configured) +
                           "' must be an http:// or https:// URL without query or fragment");
  }
  return url;
}

Result<HttpOptions> ResolveHttpOptions(const PurgerConfig& config, std::string_view default_url) {
  const std::string& provider = config.provider;
  if (auto key = ValidateApiKey(provider, config.api_key); !key)
    return std::unexpected(key.error());
  if (config.max_attempts < 1 || config.max_attempts > 20) {
    return InvalidArgument("cdn " + provider + ": max_attempts must be in [1, 20], got " +
                           std::to_string(config.max_attempts));
  }
  if (config.timeout <= milliseconds::zero()) {
    return InvalidArgument("cdn " + provider + ": timeout must be > 0");
  }
  if (config.backoff_initial < milliseconds::zero() || config.backoff_max < milliseconds::zero() ||
      config.max_retry_after < milliseconds::zero()) {
    return InvalidArgument("cdn " + provider +
                           ": backoff_initial, backoff_max and max_retry_after must be >= 0");
  }
  auto base = ResolveBaseUrl(provider, config.base_url, default_url);
  if (!base) return std::unexpected(base.error());

  HttpOptions options;
  options.provider = provider;
  options.base_url = std::move(*base);
  options.max_attempts = config.max_attempts;
  options.timeout = config.timeout;
  options.backoff_initial = config.backoff_initial;
  options.backoff_max = std::max(config.backoff_max, config.backoff_initial);
  options.max_retry_after = config.max_retry_after;
  options.sleep =
      config.sleep ? config.sleep : [](milliseconds d) { std::this_thread::sleep_for(d); };
  options.clock = config.clock != nullptr ? config.clock : &RealClock();
  return options;
}

}  // namespace

Result<std::unique_ptr<Purger>> MakePurger(const PurgerConfig& config) {
  if (config.provider == "none") return std::make_unique<NonePurger>();

  if (config.provider == "cloudflare") {
    if (auto zone = ValidateId("zone_id", "cloudflare", config.zone_id); !zone) {
      return std::unexpected(zone.error());
    }
    auto options = ResolveHttpOptions(config, kCloudflareApi);
    if (!options) return std::unexpected(options.error());
    options->auth_header = "Authorization: Bearer " + config.api_key;
    const std::size_t per_request = config.max_items_per_request != 0 ? config.max_items_per_request
                                                                      : kCloudflareItemsPerRequest;
    return purger_internal::MakeCloudflarePurger(std::move(*options), config.zone_id, per_request);
  }

  if (config.provider == "fastly") {
    if (auto service = ValidateId("service_id", "fastly", config.service_id); !service) {
      return std::unexpected(service.error());
    }
    auto options = ResolveHttpOptions(config, kFastlyApi);
    if (!options) return std::unexpected(options.error());
    options->auth_header = "Fastly-Key: " + config.api_key;
    const std::size_t per_request =
        config.max_items_per_request != 0
            ? std::min(config.max_items_per_request, kFastlyKeysPerRequest)
            : kFastlyKeysPerRequest;
    return purger_internal::MakeFastlyPurger(std::move(*options), config.service_id, per_request,
                                             config.soft_purge);
  }

  if (config.provider.empty()) {
    return InvalidArgument("cdn: provider is required (cloudflare, fastly or none)");
  }
  return InvalidArgument("cdn: unknown provider '" + purger_internal::Snippet(config.provider, 40) +
                         "' (expected cloudflare, fastly or none)");
}

}  // namespace streamgate::cdn
