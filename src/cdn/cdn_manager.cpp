#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "streamgate/scaling/cdn.hpp"

namespace streamgate::scaling {

std::string_view ToString(CDNProvider provider) {
  switch (provider) {
    case CDNProvider::kLocal:
      return "local";
    case CDNProvider::kCloudflare:
      return "cloudflare";
    case CDNProvider::kFastly:
      return "fastly";
  }
  return "local";
}

Result<CDNProvider> ParseCDNProvider(std::string_view name) {
  for (CDNProvider p : {CDNProvider::kLocal, CDNProvider::kCloudflare, CDNProvider::kFastly}) {
    if (name == ToString(p)) return p;
  }
  return InvalidArgument(
      fmt::format("unknown CDN provider '{}' (expected local, cloudflare or fastly)", name));
}

namespace {

cdn::StoreOptions StoreOptionsFor(const CDNConfig& config) {
  cdn::StoreOptions options;
  options.capacity_bytes = config.max_cache_size;
  options.shards = config.shards;
  options.policy = config.eviction_policy;
  options.max_object_fraction = config.max_object_fraction;
  options.prefetch_share = config.prefetch_share;
  return options;
}

bool HasControlOrSpace(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return std::iscntrl(static_cast<unsigned char>(c)) || c == ' ';
  });
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) return InvalidArgument("cache key must not be empty");
  if (key.size() > 2048) return InvalidArgument("cache key must be at most 2048 characters");
  if (std::any_of(key.begin(), key.end(),
                  [](char c) { return std::iscntrl(static_cast<unsigned char>(c)); })) {
    return InvalidArgument("cache key must not contain control characters");
  }
  return {};
}

Status ValidateUrl(std::string_view url) {
  const bool http = url.starts_with("http://") || url.starts_with("https://");
  const std::size_t host_start = url.find("://") + 3;
  if (!http || url.size() <= host_start || url[host_start] == '/') {
    return InvalidArgument(fmt::format("'{}' is not an absolute http:// or https:// URL", url));
  }
  if (HasControlOrSpace(url)) {
    return InvalidArgument(fmt::format("URL '{}' contains whitespace or control characters", url));
  }
  return {};
}

// Response headers worth replaying with the bytes (hop-by-hop and per-connection ones dropped).
bool KeepHeader(std::string_view name) {
  static constexpr std::string_view kKeep[] = {
      "content-type",        "content-encoding", "content-language",
      "cache-control",       "expires",          "etag",
      "last-modified",       "surrogate-key",    "vary",
      "content-disposition", "accept-ranges",
  };
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(std::begin(kKeep), std::end(kKeep), lower) != std::end(kKeep);
}

std::vector<std::string> SplitTags(std::string_view value) {
  std::vector<std::string> tags;
  std::size_t pos = 0;
  while (pos < value.size()) {
    const std::size_t start = value.find_first_not_of(" \t", pos);
    if (start == std::string_view::npos) break;
    std::size_t end = value.find_first_of(" \t", start);
    if (end == std::string_view::npos) end = value.size();
    tags.emplace_back(value.substr(start, end - start));
    pos = end;
  }
  return tags;
}

}  // namespace

Status ValidateCDNConfig(const CDNConfig& config) {
  if (auto store = cdn::ValidateStoreOptions(StoreOptionsFor(config)); !store) return store;
  if (config.default_ttl.count() <= 0) return InvalidArgument("default_ttl must be > 0");
  if (config.prefetch_concurrency < 1 || config.prefetch_concurrency > 256) {
    return InvalidArgument("prefetch_concurrency must be in [1, 256]");
  }
  if (config.fetch_timeout.count() <= 0) return InvalidArgument("fetch_timeout must be > 0");
  if (config.purge_max_attempts < 1) return InvalidArgument("purge_max_attempts must be >= 1");
  if (config.provider != CDNProvider::kLocal && config.api_key.empty()) {
    return InvalidArgument(fmt::format("provider {} needs an api_key", ToString(config.provider)));
  }
  if (config.provider == CDNProvider::kCloudflare && config.zone_id.empty()) {
    return InvalidArgument("provider cloudflare needs a zone_id");
  }
  if (config.provider == CDNProvider::kFastly && config.service_id.empty()) {
    return InvalidArgument("provider fastly needs a service_id");
  }
  return {};
}

cdn::PurgerConfig ToPurgerConfig(const CDNConfig& config) {
  cdn::PurgerConfig purger;
  purger.provider =
      config.provider == CDNProvider::kLocal ? "none" : std::string(ToString(config.provider));
  purger.api_key = config.api_key;
  purger.zone_id = config.zone_id;
  purger.service_id = config.service_id;
  purger.base_url = config.base_url;
  purger.max_attempts = config.purge_max_attempts;
  purger.timeout = config.purge_timeout;
  return purger;
}

namespace {

CDNDependencies DefaultDependencies(const CDNConfig& config) {
  CDNDependencies deps;
  cdn::HttpFetcherOptions fetch;
  fetch.timeout = config.fetch_timeout;
  deps.fetcher = cdn::MakeHttpFetcher(fetch);
  if (config.provider != CDNProvider::kLocal) {
    auto purger = cdn::MakePurger(ToPurgerConfig(config));
    if (!purger) throw std::invalid_argument(purger.error().message());
    deps.purger = std::move(*purger);
  }
  return deps;
}

CDNConfig WithSize(CDNConfig config, std::uint64_t max_cache_size) {
  config.max_cache_size = max_cache_size;
  if (auto valid = ValidateCDNConfig(config); !valid) {
    throw std::invalid_argument(valid.error().message());
  }
  return config;
}

}  // namespace

CDNManager::CDNManager(CDNConfig config, std::uint64_t max_cache_size)
    : CDNManager(WithSize(config, max_cache_size),
                 DefaultDependencies(WithSize(config, max_cache_size))) {}

CDNManager::CDNManager(CDNConfig config, CDNDependencies dependencies)
    : config_(std::move(config)),
      fetcher_(std::move(dependencies.fetcher)),
      purger_(std::move(dependencies.purger)),
      clock_(dependencies.clock != nullptr ? *dependencies.clock : RealClock()) {
  if (auto valid = ValidateCDNConfig(config_); !valid) {
    throw std::invalid_argument(valid.error().message());
  }
  if (fetcher_ == nullptr) throw std::invalid_argument("CDNManager needs a content fetcher");
  store_ = std::make_unique<cdn::ObjectStore>(StoreOptionsFor(config_), clock_);
}

CDNManager::~CDNManager() = default;

Result<cdn::CacheObject> CDNManager::Fetch(std::string_view key, std::string_view url,
                                           std::uint64_t expected_size) {
  const std::uint64_t limit = store_->max_object_bytes();
  if (expected_size > limit) {
    return FailedPrecondition(
        fmt::format("{} bytes exceed the admission limit of {} bytes ({}% of the cache)",
                    expected_size, limit, config_.max_object_fraction * 100));
  }
  auto fetched = fetcher_->Fetch(std::string(url), expected_size > 0 ? expected_size : limit);
  if (!fetched) return std::unexpected(fetched.error());
  if (fetched->status != 200) {
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("GET {}: origin answered {}", url, fetched->status));
  }
  if (fetched->truncated) {
    if (expected_size > 0) {
      return MakeError(ErrorCode::kCorrupted,
                       fmt::format("GET {}: expected {} bytes, more arrived", url, expected_size));
    }
    return FailedPrecondition(
        fmt::format("GET {}: the body exceeds the admission limit of {} bytes", url, limit));
  }
  if (expected_size > 0 && fetched->body.size() != expected_size) {
    return MakeError(ErrorCode::kCorrupted, fmt::format("GET {}: expected {} bytes, got {}", url,
                                                        expected_size, fetched->body.size()));
  }
  cdn::CacheObject object;
  object.key = std::string(key);
  object.url = std::string(url);
  object.status = 200;
  for (auto& [name, value] : fetched->headers) {
    if (KeepHeader(name)) object.headers.emplace_back(name, value);
  }
  object.etag = std::string(fetched->Header("ETag").value_or(""));
  object.last_modified = std::string(fetched->Header("Last-Modified").value_or(""));
  if (auto tags = fetched->Header("Surrogate-Key")) object.surrogate_keys = SplitTags(*tags);
  object.body = std::move(fetched->body);
  return object;
}

Status CDNManager::CacheContent(std::string_view key, std::string_view url,
                                std::chrono::seconds ttl, std::uint64_t size) {
  if (auto valid = ValidateKey(key); !valid) return valid;
  if (auto valid = ValidateUrl(url); !valid) return valid;
  if (ttl.count() < 0) return InvalidArgument("ttl must not be negative");
  auto object = Fetch(key, url, size);
  if (!object) return std::unexpected(object.error());
  cdn::InsertOptions insert;
  insert.ttl = ttl.count() == 0 ? config_.default_ttl : ttl;
  auto stored = store_->Insert(std::move(*object), insert);
  if (!stored) return std::unexpected(stored.error());
  return {};
}

CDNCache CDNManager::ToView(const cdn::EntryPtr& entry) const {
  CDNCache view;
  view.key = entry->key;
  view.url = entry->url;
  view.size = entry->body.size();
  view.ttl = std::chrono::duration_cast<std::chrono::seconds>(entry->expires - entry->stored_at);
  view.cached_at = entry->stored_wall;
  view.expires_at = entry->stored_wall + std::chrono::duration_cast<WallTime::duration>(
                                             entry->expires - entry->stored_at);
  view.fresh = entry->IsFresh(clock_.Now());
  view.etag = entry->etag;
  view.last_modified = entry->last_modified;
  view.surrogate_keys = entry->surrogate_keys;
  view.entry = entry;
  return view;
}

Result<CDNCache> CDNManager::GetCachedContent(std::string_view key) {
  if (auto valid = ValidateKey(key); !valid) return std::unexpected(valid.error());
  cdn::EntryPtr entry = store_->Lookup(key);
  if (entry == nullptr) return NotFound(fmt::format("'{}' is not cached", key));
  return ToView(entry);
}

Status CDNManager::Purge(std::string_view what, const std::function<Status(cdn::Purger&)>& call) {
  if (purger_ == nullptr) return {};
  purges_.fetch_add(1, std::memory_order_relaxed);
  auto status = call(*purger_);
  if (!status) {
    purge_failures_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("cdn: {} purge of {} failed: {}", purger_->provider(), what,
                 status.error().ToString());
    return MakeError(status.error().code(),
                     fmt::format("removed locally, but the {} purge of {} failed: {}",
                                 purger_->provider(), what, status.error().message()));
  }
  return {};
}

Status CDNManager::InvalidateCache(std::string_view key) {
  if (auto valid = ValidateKey(key); !valid) return valid;
  cdn::EntryPtr removed = store_->Invalidate(key);
  if (removed == nullptr) return NotFound(fmt::format("'{}' is not cached", key));
  if (removed->url.empty()) return {};
  const std::vector<std::string> urls = {removed->url};
  return Purge(removed->url, [&urls](cdn::Purger& p) { return p.PurgeUrls(urls); });
}

Status CDNManager::InvalidateAll() {
  store_->InvalidateAll();
  return Purge("everything", [](cdn::Purger& p) { return p.PurgeAll(); });
}

Result<std::size_t> CDNManager::InvalidatePrefix(std::string_view url_prefix) {
  if (url_prefix.empty()) return InvalidArgument("URL prefix must not be empty");
  if (HasControlOrSpace(url_prefix)) {
    return InvalidArgument("URL prefix must not contain whitespace or control characters");
  }
  const std::size_t removed = store_->InvalidateUrlPrefix(url_prefix);
  const std::vector<std::string> prefixes = {std::string(url_prefix)};
  auto purged = Purge(fmt::format("prefix {}", url_prefix),
                      [&prefixes](cdn::Purger& p) { return p.PurgePrefixes(prefixes); });
  if (!purged) return std::unexpected(purged.error());
  return removed;
}

Result<std::size_t> CDNManager::InvalidateSurrogateKey(std::string_view surrogate_key) {
  if (surrogate_key.empty()) return InvalidArgument("surrogate key must not be empty");
  if (HasControlOrSpace(surrogate_key)) {
    return InvalidArgument("surrogate key must not contain whitespace or control characters");
  }
  const std::size_t removed = store_->InvalidateSurrogateKey(surrogate_key);
  const std::vector<std::string> tags = {std::string(surrogate_key)};
  auto purged = Purge(fmt::format("surrogate key {}", surrogate_key),
                      [&tags](cdn::Purger& p) { return p.PurgeTags(tags); });
  if (!purged) return std::unexpected(purged.error());
  return removed;
}

std::vector<CDNCache> CDNManager::ListCachedContent() const {
  std::vector<CDNCache> all;
  for (const cdn::EntryPtr& entry : store_->List()) all.push_back(ToView(entry));
  return all;
}

std::size_t CDNManager::PurgeExpired() { return store_->PurgeExpired(); }

CDNMetrics CDNManager::GetMetrics() const {
  const cdn::StoreStats s = store_->Stats();
  CDNMetrics m;
  m.cache_hits = s.hits;
  m.cache_misses = s.misses;
  m.total_requests = s.hits + s.misses;
  m.hit_rate = m.total_requests == 0
                   ? 0.0
                   : static_cast<double>(s.hits) / static_cast<double>(m.total_requests);
  m.bytes_served_from_cache = s.bytes_served;
  m.bytes_from_origin = s.bytes_from_origin;
  m.total_bandwidth = s.bytes_served + s.bytes_from_origin;
  m.cache_size = s.bytes;
  m.max_cache_size = config_.max_cache_size;
  m.cache_count = s.entries;
  m.utilization = static_cast<double>(s.bytes) / static_cast<double>(config_.max_cache_size);
  m.evictions = s.evictions;
  m.expirations = s.expirations;
  m.invalidations = s.invalidations;
  m.rejected = s.rejected;
  m.prefetched = prefetched_.load(std::memory_order_relaxed);
  m.prefetch_failures = prefetch_failures_.load(std::memory_order_relaxed);
  m.purges = purges_.load(std::memory_order_relaxed);
  m.purge_failures = purge_failures_.load(std::memory_order_relaxed);
  return m;
}

void CDNManager::UpdateBandwidth(std::uint64_t bytes) { store_->RecordOriginBytes(bytes); }

std::uint64_t CDNManager::GetCacheSize() const { return store_->size_bytes(); }

std::size_t CDNManager::GetCacheCount() const { return store_->count(); }

double CDNManager::GetCacheUtilization() const {
  return static_cast<double>(store_->size_bytes()) / static_cast<double>(config_.max_cache_size);
}

double CDNManager::GetCacheHitRate() const { return GetMetrics().hit_rate; }

PrefetchResult CDNManager::PrefetchOne(const std::string& url) {
  PrefetchResult result;
  result.url = url;
  auto fail = [&](Error error) {
    result.status = std::unexpected(std::move(error));
    prefetch_failures_.fetch_add(1, std::memory_order_relaxed);
    return result;
  };
  if (auto valid = ValidateUrl(url); !valid) return fail(valid.error());
  if (store_->Lookup(url, cdn::LookupOptions{.allow_stale = false, .count = false}) != nullptr) {
    result.already_cached = true;
    return result;
  }
  auto object = Fetch(url, url, 0);
  if (!object) return fail(object.error());
  const std::uint64_t bytes = object->body.size();
  cdn::InsertOptions insert;
  insert.ttl = config_.default_ttl;
  insert.prefetch = true;
  auto stored = store_->Insert(std::move(*object), insert);
  if (!stored) return fail(stored.error());
  result.bytes = bytes;
  prefetched_.fetch_add(1, std::memory_order_relaxed);
  return result;
}

Result<PrefetchReport> CDNManager::PrefetchContent(std::span<const std::string> urls) {
  if (urls.empty()) return InvalidArgument("prefetch needs at least one URL");
  PrefetchReport report;
  report.results.resize(urls.size());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next.fetch_add(1); i < urls.size(); i = next.fetch_add(1)) {
      report.results[i] = PrefetchOne(urls[i]);
    }
  };
  const std::size_t workers = std::min(config_.prefetch_concurrency, urls.size());
  {
    std::vector<std::jthread> threads;
    threads.reserve(workers - 1);
    try {
      for (std::size_t i = 1; i < workers; ++i) threads.emplace_back(work);
    } catch (const std::system_error& e) {
      // Fewer threads than asked for: the ones running (and this one) finish the list.
      spdlog::warn("cdn: prefetch runs with {} threads: {}", threads.size() + 1, e.what());
    }
    work();  // the calling thread is one of the workers
  }
  for (const PrefetchResult& r : report.results) {
    if (r.status) {
      ++report.succeeded;
    } else {
      ++report.failed;
    }
  }
  return report;
}

}  // namespace streamgate::scaling
