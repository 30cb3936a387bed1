// Admin API for the GlobalLoadBalancer: the /api/v1/backends and /api/v1/lb route tables, JSON
// forms of backends, their metrics and the balancer's stats, and the backend families of
// /metrics.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "admin/router.hpp"
#include "metrics/prometheus.hpp"
#include "streamgate/scaling/load_balancer.hpp"

namespace streamgate::admin {

// GET/POST /api/v1/backends, GET /api/v1/backends/{id}, POST /api/v1/backends/{id}/activate and
// /deactivate, GET /api/v1/backends/{id}/metrics, GET/PUT /api/v1/lb/strategy, GET
// /api/v1/lb/stats.
// POST takes {"id", "address", "port", and optionally "region", "weight", "health_path",
// "tcp_check", "active"} and answers 201 + Location; PUT strategy takes {"strategy": name}.
// Unknown fields, wrong types and out-of-range numbers are 400; balancer errors map by code
// (duplicate id 409, unknown id 404).
//
// With `balancer` null (the daemon runs without one) every route still matches, so methods get
// their usual 405, but answers 404 "load balancer not configured": an operator learns why, rather
// than seeing "no such resource" for a documented path.
// The handlers keep the pointer; the balancer must outlive the router.
[[nodiscard]] std::vector<Route> BackendRoutes(scaling::GlobalLoadBalancer* balancer);

// id, address, port, region, weight, health_path, tcp_check, active, health_status, ejected,
// connections, and from `metrics` (0 when null) requests, errors, avg_latency_ms.
[[nodiscard]] nlohmann::json BackendToJson(const scaling::Backend& backend,
                                           const scaling::BackendMetrics* metrics);
// Every BackendMetrics field; durations as *_ms doubles; the histogram as
// "latency_histogram": {"bounds_ms": [1, 2.5, ..., "+Inf"], "counts": [...], "sum_ms": x} with
// cumulative counts. JSON has no infinity, so the last bound is the string "+Inf", as
// Prometheus spells it.
[[nodiscard]] nlohmann::json BackendMetricsToJson(const scaling::BackendMetrics& metrics);
// backends, active_backends, available_backends, panic, panic_selections, no_backend_errors,
// ejections.
[[nodiscard]] nlohmann::json LoadBalancerStatsToJson(const scaling::LoadBalancerStats& stats);

// Per-backend families (labels backend="<id>", region="<region>") and balancer-wide ones:
//   streamgate_backend_requests_total          counter    RecordRequest calls
//   streamgate_backend_request_errors_total    counter    ... with success = false
//   streamgate_backend_active_connections      gauge      connections in flight
//   streamgate_backend_active                  gauge      1 when active, else 0
//   streamgate_backend_healthy                 gauge      1 when healthy, else 0
//   streamgate_backend_ejected                 gauge      1 while ejected by outlier detection
//   streamgate_backend_ejections_total         counter
//   streamgate_backend_latency_seconds         histogram  request latency (_bucket, _sum, _count)
//   streamgate_backends, _backends_active, _backends_available   gauge
//   streamgate_lb_panic                        gauge      1 while in panic mode
//   streamgate_lb_panic_selections_total       counter    picks made in panic mode
//   streamgate_lb_no_backend_total             counter    picks that found no backend
// Backends appear in id order.
void WriteBackendMetrics(const scaling::GlobalLoadBalancer& balancer,
                         metrics::PrometheusWriter& out);

}  // namespace streamgate::admin
