#include "cdn/cdn_metrics.hpp"

namespace streamgate::cdn {

void WriteCdnMetrics(const scaling::CDNMetrics& m, metrics::PrometheusWriter& out) {
  using metrics::MetricType;
  out.Family("streamgate_cdn_requests_total", "Cache lookups by result.", MetricType::kCounter);
  out.Sample("streamgate_cdn_requests_total", {{"result", "hit"}}, m.cache_hits);
  out.Sample("streamgate_cdn_requests_total", {{"result", "miss"}}, m.cache_misses);
  out.Family("streamgate_cdn_hit_ratio", "Hits over lookups since start (0 without lookups).",
             MetricType::kGauge);
  out.Sample("streamgate_cdn_hit_ratio", {}, m.hit_rate);
  out.Family("streamgate_cdn_bytes_total",
             "Body bytes served from the cache, and fetched from origins.", MetricType::kCounter);
  out.Sample("streamgate_cdn_bytes_total", {{"source", "cache"}}, m.bytes_served_from_cache);
  out.Sample("streamgate_cdn_bytes_total", {{"source", "origin"}}, m.bytes_from_origin);
  out.Family("streamgate_cdn_cache_bytes", "Bytes held (bodies and metadata).", MetricType::kGauge);
  out.Sample("streamgate_cdn_cache_bytes", {}, m.cache_size);
  out.Family("streamgate_cdn_cache_max_bytes", "Configured cache size.", MetricType::kGauge);
  out.Sample("streamgate_cdn_cache_max_bytes", {}, m.max_cache_size);
  out.Family("streamgate_cdn_cache_objects", "Objects held.", MetricType::kGauge);
  out.Sample("streamgate_cdn_cache_objects", {}, m.cache_count);
  out.Family("streamgate_cdn_cache_utilization", "Bytes held over the configured size.",
             MetricType::kGauge);
  out.Sample("streamgate_cdn_cache_utilization", {}, m.utilization);
  out.Family("streamgate_cdn_evictions_total", "Objects evicted to make room.",
             MetricType::kCounter);
  out.Sample("streamgate_cdn_evictions_total", {}, m.evictions);
  out.Family("streamgate_cdn_expirations_total", "Objects removed after their TTL.",
             MetricType::kCounter);
  out.Sample("streamgate_cdn_expirations_total", {}, m.expirations);
  out.Family("streamgate_cdn_invalidations_total", "Objects removed by invalidation.",
             MetricType::kCounter);
  out.Sample("streamgate_cdn_invalidations_total", {}, m.invalidations);
  out.Family("streamgate_cdn_admission_rejections_total",
             "Objects not admitted: too large, or beyond the prefetch share.",
             MetricType::kCounter);
  out.Sample("streamgate_cdn_admission_rejections_total", {}, m.rejected);
  out.Family("streamgate_cdn_prefetches_total", "Prefetched URLs by result.", MetricType::kCounter);
  out.Sample("streamgate_cdn_prefetches_total", {{"result", "ok"}}, m.prefetched);
  out.Sample("streamgate_cdn_prefetches_total", {{"result", "error"}}, m.prefetch_failures);
  out.Family("streamgate_cdn_purges_total", "Purge calls to the external CDN by result.",
             MetricType::kCounter);
  // The two counters are read one after the other; never let a race show a negative count.
  const std::uint64_t ok = m.purges >= m.purge_failures ? m.purges - m.purge_failures : 0;
  out.Sample("streamgate_cdn_purges_total", {{"result", "ok"}}, ok);
  out.Sample("streamgate_cdn_purges_total", {{"result", "error"}}, m.purge_failures);
}

void WriteCdnMetrics(const scaling::CDNManager& manager, metrics::PrometheusWriter& out) {
  WriteCdnMetrics(manager.GetMetrics(), out);
}

}  // namespace streamgate::cdn
