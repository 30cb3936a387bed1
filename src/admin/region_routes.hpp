// Admin API for the MultiRegionManager: the /api/v1/regions route table, JSON forms of regions
// and their metrics, and the region families of /metrics.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "admin/router.hpp"
#include "metrics/prometheus.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::admin {

// GET/POST /api/v1/regions, GET/PUT /api/v1/regions/primary, GET /api/v1/regions/{id},
// POST /api/v1/regions/{id}/activate and /deactivate, GET /api/v1/regions/{id}/metrics.
// POST takes {"id", "endpoint", and optionally "name", "location", "priority", "active",
// "primary"}; PUT primary takes {"id"}. Unknown fields and wrong types are 400.
// The handlers keep a reference to `regions`, which must outlive the router.
[[nodiscard]] std::vector<Route> RegionRoutes(scaling::MultiRegionManager& regions);

// id, name, location, endpoint, priority, active, primary, health_status, avg_latency_ms,
// last_health_check (RFC 3339 or null).
[[nodiscard]] nlohmann::json RegionToJson(const scaling::Region& region);
// Every RegionMetrics field; durations as *_ms doubles.
[[nodiscard]] nlohmann::json RegionMetricsToJson(const scaling::RegionMetrics& metrics);

// Per-region families (label region="<id>") and manager-wide ones:
//   streamgate_region_healthy                      gauge    1 when healthy, else 0
//   streamgate_region_health_status{status=...}    gauge    one series per status
//                                                           (unknown/healthy/degraded/unhealthy),
//                                                           1 for the current one, 0 otherwise
//   streamgate_region_active, _primary             gauge    1 / 0
//   streamgate_region_requests_total               counter  RecordRequest calls
//   streamgate_region_request_errors_total         counter  ... with success = false
//   streamgate_region_latency_seconds              gauge    mean probe latency (window)
//   streamgate_region_latency_p99_seconds          gauge    p99 probe latency (window)
//   streamgate_region_health_checks_total          counter
//   streamgate_region_health_check_failures_total  counter
//   streamgate_region_status_changes_total         counter
//   streamgate_regions, streamgate_regions_active  gauge
//   streamgate_failovers_total                     counter  primary changes made by the manager
//   streamgate_primary_changes_total               counter  all primary changes
//   streamgate_health_check_sweeps_total           counter
//   streamgate_health_check_sweep_duration_seconds gauge    duration of the last sweep
// Regions appear in id order.
void WriteRegionMetrics(const scaling::MultiRegionManager& regions, metrics::PrometheusWriter& out);

}  // namespace streamgate::admin
