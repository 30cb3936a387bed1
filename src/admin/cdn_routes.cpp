#include "admin/cdn_routes.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

#include "admin/json_http.hpp"

namespace streamgate::admin {
namespace {

using scaling::CDNCache;
using scaling::CDNManager;

// A prefetch request is one admin call holding a connection; keep it bounded.
constexpr std::size_t kMaxPrefetchUrls = 1000;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The entry as CDNManager::ListCachedContent shows it, without counting a hit (an admin read is
// not traffic) and including entries kept past expiry for revalidation.
Result<CDNCache> PeekContent(const CDNManager& manager, std::string_view key) {
  const cdn::EntryPtr entry =
      manager.store().Lookup(key, cdn::LookupOptions{.allow_stale = true, .count = false});
  if (entry == nullptr) return NotFound(fmt::format("'{}' is not cached", key));
  const auto lifetime = entry->expires - entry->stored_at;
  CDNCache view;
  view.key = entry->key;
  view.url = entry->url;
  view.size = entry->body.size();
  view.ttl = std::chrono::duration_cast<std::chrono::seconds>(lifetime);
  view.cached_at = entry->stored_wall;
  view.expires_at = entry->stored_wall + std::chrono::duration_cast<WallTime::duration>(lifetime);
  view.fresh = entry->IsFresh(manager.store().clock().Now());
  view.etag = entry->etag;
  view.last_modified = entry->last_modified;
  view.surrogate_keys = entry->surrogate_keys;
  view.entry = entry;
  return view;
}

Result<std::string> KeyParam(const PathParams& params) {
  Result<std::string> key = PercentDecode(params.Get("key"));
  if (!key) return key;
  if (key->empty()) return InvalidArgument("cache key must not be empty");
  return key;
}

net::HttpResponse ListContent(const CDNManager& manager) {
  nlohmann::json out = nlohmann::json::array();
  for (const CDNCache& content : manager.ListCachedContent()) {
    out.push_back(CdnContentToJson(content));
  }
  return JsonResponse(200, out);
}

net::HttpResponse GetContent(const CDNManager& manager, const PathParams& params) {
  Result<std::string> key = KeyParam(params);
  if (!key) return ErrorResponse(key.error());
  Result<CDNCache> content = PeekContent(manager, *key);
  if (!content) return ErrorResponse(content.error());
  return JsonResponse(200, CdnContentToJson(*content));
}

net::HttpResponse DeleteContent(CDNManager& manager, const PathParams& params) {
  Result<std::string> key = KeyParam(params);
  if (!key) return ErrorResponse(key.error());
  if (Status status = manager.InvalidateCache(*key); !status) return ErrorResponse(status.error());
  return JsonResponse(200, {{"invalidated", *key}});
}

net::HttpResponse DeleteAll(CDNManager& manager) {
  if (Status status = manager.InvalidateAll(); !status) return ErrorResponse(status.error());
  return JsonResponse(200, {{"invalidated", "all"}});
}

net::HttpResponse Purge(CDNManager& manager, const net::HttpRequest& request) {
  Result<nlohmann::json> body = ParseJsonObject(request.body);
  if (!body) return ErrorResponse(body.error());
  std::string prefix;
  std::string surrogate_key;
  JsonObjectReader in(*body);
  in.String("prefix", prefix, JsonObjectReader::kOptional);
  in.String("surrogate_key", surrogate_key, JsonObjectReader::kOptional);
  if (Status status = in.Finish(); !status) return ErrorResponse(status.error());
  const bool by_prefix = body->contains("prefix");
  if (by_prefix == body->contains("surrogate_key")) {
    return ErrorResponse(400, ToString(ErrorCode::kInvalidArgument),
                         "give exactly one of 'prefix' and 'surrogate_key'");
  }
  if (by_prefix) {
    // Entries are matched on the URL they came from; the proxy's are "http://<host><path>".
    if (!prefix.starts_with("http://") && !prefix.starts_with("https://")) {
      return ErrorResponse(400, ToString(ErrorCode::kInvalidArgument),
                           fmt::format("field 'prefix' must be a URL prefix starting with "
                                       "http:// or https://, such as "
                                       "http://example.com/videos/, got '{}'",
                                       prefix));
    }
    Result<std::size_t> removed = manager.InvalidatePrefix(prefix);
    if (!removed) return ErrorResponse(removed.error());
    return JsonResponse(200, {{"prefix", prefix}, {"removed", *removed}});
  }
  Result<std::size_t> removed = manager.InvalidateSurrogateKey(surrogate_key);
  if (!removed) return ErrorResponse(removed.error());
  return JsonResponse(200, {{"surrogate_key", surrogate_key}, {"removed", *removed}});
}

net::HttpResponse Prefetch(CDNManager& manager, const net::HttpRequest& request) {
  Result<nlohmann::json> body = ParseJsonObject(request.body);
  if (!body) return ErrorResponse(body.error());
  std::vector<std::string> urls;
  JsonObjectReader in(*body);
  in.StringList("urls", urls);
  if (Status status = in.Finish(); !status) return ErrorResponse(status.error());
  if (urls.size() > kMaxPrefetchUrls) {
    return ErrorResponse(400, ToString(ErrorCode::kInvalidArgument),
                         fmt::format("field 'urls' may hold at most {} URLs, got {}",
                                     kMaxPrefetchUrls, urls.size()));
  }
  Result<scaling::PrefetchReport> report = manager.PrefetchContent(urls);
  if (!report) return ErrorResponse(report.error());
  return JsonResponse(200, PrefetchReportToJson(*report));
}

std::vector<Route> ConfiguredRoutes(CDNManager* cdn) {
  return {
      {"GET", "/api/v1/cdn/metrics",
       [cdn](const net::HttpRequest&, const PathParams&) {
         return JsonResponse(200, CdnMetricsToJson(cdn->GetMetrics()));
       }},
      {"GET", "/api/v1/cdn/content",
       [cdn](const net::HttpRequest&, const PathParams&) { return ListContent(*cdn); }},
      {"DELETE", "/api/v1/cdn/content",
       [cdn](const net::HttpRequest&, const PathParams&) { return DeleteAll(*cdn); }},
      {"GET", "/api/v1/cdn/content/{key...}",
       [cdn](const net::HttpRequest&, const PathParams& params) {
         return GetContent(*cdn, params);
       }},
      {"DELETE", "/api/v1/cdn/content/{key...}",
       [cdn](const net::HttpRequest&, const PathParams& params) {
         return DeleteContent(*cdn, params);
       }},
      {"POST", "/api/v1/cdn/purge",
       [cdn](const net::HttpRequest& request, const PathParams&) { return Purge(*cdn, request); }},
      {"POST", "/api/v1/cdn/prefetch",
       [cdn](const net::HttpRequest& request, const PathParams&) {
         return Prefetch(*cdn, request);
       }},
  };
}

}  // namespace

std::vector<Route> CdnRoutes(CDNManager* manager) {
  // One table for both cases, so the unconfigured API matches exactly the same paths/methods.
  std::vector<Route> routes = ConfiguredRoutes(manager);
  if (manager == nullptr) {
    for (Route& route : routes) {
      route.handler = [](const net::HttpRequest&, const PathParams&) {
        return ErrorResponse(404, ToString(ErrorCode::kNotFound),
                             "cdn not configured (add a cdn: section to the config)");
      };
    }
  }
  return routes;
}

nlohmann::json CdnContentToJson(const CDNCache& content) {
  return {
      {"key", content.key},
      {"url", content.url},
      {"status", content.entry != nullptr ? content.entry->status : 0},
      {"size", content.size},
      {"ttl", content.ttl.count()},
      {"cached_at", FormatRfc3339(content.cached_at)},
      {"expires_at", FormatRfc3339(content.expires_at)},
      {"fresh", content.fresh},
      {"etag", content.etag},
      {"last_modified", content.last_modified},
      {"surrogate_keys", content.surrogate_keys},
  };
}

nlohmann::json CdnMetricsToJson(const scaling::CDNMetrics& m) {
  return {
      {"cache_hits", m.cache_hits},
      {"cache_misses", m.cache_misses},
      {"total_requests", m.total_requests},
      {"hit_rate", m.hit_rate},
      {"bytes_served_from_cache", m.bytes_served_from_cache},
      {"bytes_from_origin", m.bytes_from_origin},
      {"total_bandwidth", m.total_bandwidth},
      {"cache_size", m.cache_size},
      {"max_cache_size", m.max_cache_size},
      {"cache_count", m.cache_count},
      {"utilization", m.utilization},
      {"evictions", m.evictions},
      {"expirations", m.expirations},
      {"invalidations", m.invalidations},
      {"rejected", m.rejected},
      {"prefetched", m.prefetched},
      {"prefetch_failures", m.prefetch_failures},
      {"purges", m.purges},
      {"purge_failures", m.purge_failures},
  };
}

nlohmann::json PrefetchReportToJson(const scaling::PrefetchReport& report) {
  nlohmann::json results = nlohmann::json::array();
  for (const scaling::PrefetchResult& r : report.results) {
    nlohmann::json item = {
        {"url", r.url},
        {"ok", r.status.has_value()},
        {"bytes", r.bytes},
        {"already_cached", r.already_cached},
    };
    if (!r.status) {
      item["error"] = r.status.error().message();
      item["code"] = ToString(r.status.error().code());
    }
    results.push_back(std::move(item));
  }
  return {{"succeeded", report.succeeded}, {"failed", report.failed}, {"results", results}};
}

Result<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const bool complete = i + 2 < text.size();
    const int high = complete ? HexValue(text[i + 1]) : -1;
    const int low = complete ? HexValue(text[i + 2]) : -1;
    if (high < 0 || low < 0) {
      return InvalidArgument(
          fmt::format("'{}' has a '%' not followed by two hex digits at offset {}", text, i));
    }
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

}  // namespace streamgate::admin
