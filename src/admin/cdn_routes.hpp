// Admin API for the CDN manager and the proxy's edge cache: the /api/v1/cdn route table and the
// JSON forms of cached content, metrics and prefetch reports.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "admin/router.hpp"
#include "streamgate/common/error.hpp"
#include "streamgate/scaling/cdn.hpp"

namespace streamgate::admin {

// GET    /api/v1/cdn/metrics          200 every CDNMetrics field
// GET    /api/v1/cdn/content          200 [content...] sorted by key (fresh and kept-stale entries)
// DELETE /api/v1/cdn/content          200 {"invalidated": "all"}; also purges the external CDN
// GET    /api/v1/cdn/content/{key}    200 content (metadata, never the bytes); 404 when absent
// DELETE /api/v1/cdn/content/{key}    200 {"invalidated": key}; 404 when absent
// POST   /api/v1/cdn/purge            {"prefix": "http://host/path"} or {"surrogate_key": "tag"}
//                                      200 {"removed": n, ...}
// POST   /api/v1/cdn/prefetch         {"urls": ["http://..."]} 200 {"succeeded", "failed",
//                                      "results": [{"url", "ok", "bytes", "already_cached",
//                                      "error"?, "code"?}]}
//
// Keys are percent-decoded, so the proxy's keys ("127.0.0.1:8080/bytes/1024") are written
// either encoded ("127.0.0.1%3A8080%2Fbytes%2F1024") or as they are: the key pattern takes the
// rest of the path, slashes included. Reads never count as cache hits or misses. An external
// purge that fails after the local removal answers with its error (the local entry is gone).
//
// With `manager` null every route still matches (so methods get their usual 405) but answers
// 404 "cdn not configured", as the backend routes do without a balancer. The manager must
// outlive the router.
[[nodiscard]] std::vector<Route> CdnRoutes(scaling::CDNManager* manager);

// key, url, status, size, ttl (seconds), cached_at, expires_at (RFC 3339), fresh, etag,
// last_modified, surrogate_keys.
[[nodiscard]] nlohmann::json CdnContentToJson(const scaling::CDNCache& content);
// Every CDNMetrics field under its own name.
[[nodiscard]] nlohmann::json CdnMetricsToJson(const scaling::CDNMetrics& metrics);
[[nodiscard]] nlohmann::json PrefetchReportToJson(const scaling::PrefetchReport& report);

// RFC 3986 percent-decoding of a path segment ('+' stays '+'); invalid_argument for a '%' not
// followed by two hex digits.
[[nodiscard]] Result<std::string> PercentDecode(std::string_view text);

}  // namespace streamgate::admin
