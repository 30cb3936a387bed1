// The admin HTTP API as a pure request -> response function: no sockets, so it is unit-tested by
// calling Handle directly, and the daemon plugs Handle into net::HttpServer.
//
// Routes (JSON unless noted; errors are {"error": message, "code": error_code_name}):
//   GET  /healthz                            200 {"status":"ok"}
//   GET  /metrics                            200 Prometheus text format 0.0.4
//   GET  /api/v1/regions                     200 [region...]
//   POST /api/v1/regions                     201 region (+ Location)
//   GET  /api/v1/regions/primary             200 region; 404 when there is none
//   PUT  /api/v1/regions/primary {"id":..}   200 region
//   GET  /api/v1/regions/{id}                200 region
//   POST /api/v1/regions/{id}/activate       200 region
//   POST /api/v1/regions/{id}/deactivate     200 region
//   GET  /api/v1/regions/{id}/metrics        200 region metrics
//   GET  /api/v1/backends                    200 [backend...]
//   POST /api/v1/backends                    201 backend (+ Location)
//   GET  /api/v1/backends/{id}               200 backend
//   POST /api/v1/backends/{id}/activate      200 backend
//   POST /api/v1/backends/{id}/deactivate    200 backend
//   GET  /api/v1/backends/{id}/metrics       200 backend metrics
//   GET  /api/v1/lb/strategy                 200 {"strategy": name}
//   PUT  /api/v1/lb/strategy {"strategy":..} 200 {"strategy": name}; unknown name 400
//   GET  /api/v1/lb/stats                    200 balancer stats
//   GET  /api/v1/cdn/metrics                 200 CDN metrics
//   GET  /api/v1/cdn/content                 200 [content...]; DELETE: invalidate everything
//   GET  /api/v1/cdn/content/{key}           200 content metadata; DELETE: invalidate it
//   POST /api/v1/cdn/purge {"prefix"|"surrogate_key"}  200 {"removed": n}
//   POST /api/v1/cdn/prefetch {"urls": [..]} 200 per-URL results
//   /api/v1/dr/...                           disaster recovery plans, backups, restores and
//                                            recovery tests (see dr_routes.hpp)
//   GET  /, /dashboard/{file}                the live dashboard's page (no token needed) and
//   GET  /api/v1/dashboard/history           its samples, with AdminApiOptions::dashboard
//   POST /api/v1/reload                      200 {"applied", "failed", "restart_required"};
//                                            an invalid config 400 and nothing changes
// Without a load balancer the backend and lb routes answer 404 "load balancer not configured";
// without a CDN manager the cdn routes answer 404 "cdn not configured" (see cdn_routes.hpp);
// without a DisasterRecoveryManager the dr routes answer 404 "disaster recovery not configured".
// Authentication: with a token configured, state changes (and with protect_reads all calls but
// /healthz) without "Authorization: Bearer <token>" answer 401 + WWW-Authenticate.
// Status codes: malformed body, wrong field types and unknown fields 400; manager errors by
// code (invalid_argument 400, not_found 404, already_exists / failed_precondition 409, others
// 500); unknown path 404; known path with another method 405 + Allow. Region ids never contain
// '/' (the manager rejects them), so a deeper path is simply 404; percent-encoding is not
// decoded; a region literally named "primary" is reachable only through the list.
//
// Thread-safe: the route table is fixed at construction, the manager and balancer are
// thread-safe, and the extra metrics collector must be too (scrapes may overlap).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "admin/router.hpp"
#include "metrics/prometheus.hpp"
#include "net/http_types.hpp"
#include "streamgate/scaling/cdn.hpp"
#include "streamgate/scaling/disaster_recovery.hpp"
#include "streamgate/scaling/load_balancer.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::admin {

class DashboardHistory;  // admin/dashboard_routes.hpp

// What a config reload did (see daemon/config_diff.hpp for what applies live).
struct ReloadSummary {
  std::vector<std::string> applied;           // e.g. "backend 'us-3' added"
  std::vector<std::string> failed;            // changes the managers refused, with why
  std::vector<std::string> restart_required;  // settings that changed but need a restart
};

// Optional collaborators. A plain struct so the daemon can name what it passes and later
// features (cache, backups) add a field without another constructor.
struct AdminApiOptions {
  // Serves /api/v1/backends, /api/v1/lb and the backend families of /metrics; must outlive the
  // API. Null: those routes answer 404 "load balancer not configured".
  scaling::GlobalLoadBalancer* load_balancer = nullptr;
  // Serves /api/v1/cdn and the streamgate_cdn_* families of /metrics; must outlive the API.
  // Null: those routes answer 404 "cdn not configured".
  scaling::CDNManager* cdn = nullptr;
  // Serves /api/v1/dr and the streamgate_dr_* families of /metrics; must outlive the API.
  // Null: those routes answer 404 "disaster recovery not configured".
  scaling::DisasterRecoveryManager* disaster_recovery = nullptr;
  // Called on every /metrics scrape after the built-in families (the daemon writes proxy stats).
  std::function<void(metrics::PrometheusWriter&)> extra_metrics;
  // Non-empty: calls that change state (any method but GET and HEAD), and with protect_reads
  // every call but /healthz, need "Authorization: Bearer <token>"; otherwise 401.
  std::string token;
  bool protect_reads = false;
  // Called after every state-changing call that succeeded (2xx), e.g. to persist the change.
  std::function<void(const net::HttpRequest&)> on_change;
  // Serves the live dashboard at / (files built into the binary, readable without the token)
  // and this history at /api/v1/dashboard/history (see dashboard_routes.hpp); must outlive the
  // API. Null: no dashboard.
  const DashboardHistory* dashboard = nullptr;
  // Serves POST /api/v1/reload: re-reads the config file and applies it. Null: 404.
  std::function<Result<ReloadSummary>()> reload;
};

class AdminApi {
 public:
  // `regions` must outlive the API.
  explicit AdminApi(scaling::MultiRegionManager& regions);
  AdminApi(scaling::MultiRegionManager& regions, AdminApiOptions options);
  // Handlers refer to this object, so it stays where it was built.
  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  // Never throws: a failure inside a handler becomes a 500 JSON error.
  [[nodiscard]] net::HttpResponse Handle(const net::HttpRequest& request) const;
  // A reloaded config's token (empty: none) and protect_reads, for the calls that follow.
  void SetToken(const std::string& token, bool protect_reads);

  // (method, pattern) of every route served; docs/openapi.yaml is checked against it.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> Routes() const {
    return router_.Routes();
  }

 private:
  // Features add a route table in the constructor and, for /metrics, a collector.
  using MetricsCollector = std::function<void(metrics::PrometheusWriter&)>;

  [[nodiscard]] net::HttpResponse Metrics() const;
  [[nodiscard]] bool Authorized(const net::HttpRequest& request) const;

  // SHA-256 of the token, so the comparison takes the same time whatever the guess's length.
  mutable std::mutex token_mu_;
  std::string token_digest_;  // empty: no token; guarded by token_mu_
  std::atomic<bool> protect_reads_{false};
  bool dashboard_ = false;  // serves the dashboard's files, which need no token
  std::function<void(const net::HttpRequest&)> on_change_;
  std::vector<MetricsCollector> collectors_;
  Router router_;
};

}  // namespace streamgate::admin
