// Prometheus families for the CDN manager; the admin API's /metrics appends them (wired by the
// daemon through AdminApiOptions::extra_metrics).
#pragma once

#include "metrics/prometheus.hpp"
#include "streamgate/scaling/cdn.hpp"

namespace streamgate::cdn {

// streamgate_cdn_requests_total{result="hit|miss"}, streamgate_cdn_hit_ratio,
// streamgate_cdn_bytes_total{source="cache|origin"}, streamgate_cdn_cache_bytes,
// streamgate_cdn_cache_max_bytes, streamgate_cdn_cache_objects, streamgate_cdn_cache_utilization,
// streamgate_cdn_evictions_total, streamgate_cdn_expirations_total,
// streamgate_cdn_invalidations_total, streamgate_cdn_admission_rejections_total,
// streamgate_cdn_prefetches_total{result="ok|error"}, streamgate_cdn_purges_total{result=...}.
void WriteCdnMetrics(const scaling::CDNMetrics& metrics, metrics::PrometheusWriter& out);
void WriteCdnMetrics(const scaling::CDNManager& manager, metrics::PrometheusWriter& out);

}  // namespace streamgate::cdn
