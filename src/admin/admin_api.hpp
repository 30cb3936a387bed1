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
// Status codes: malformed body, wrong field types and unknown fields 400; manager errors by
// code (invalid_argument 400, not_found 404, already_exists / failed_precondition 409, others
// 500); unknown path 404; known path with another method 405 + Allow. Region ids never contain
// '/' (the manager rejects them), so a deeper path is simply 404; percent-encoding is not
// decoded; a region literally named "primary" is reachable only through the list.
//
// Thread-safe: the route table is fixed at construction and the manager is thread-safe.
#pragma once

#include <functional>
#include <vector>

#include "admin/router.hpp"
#include "metrics/prometheus.hpp"
#include "net/http_types.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::admin {

class AdminApi {
 public:
  // `regions` must outlive the API.
  explicit AdminApi(scaling::MultiRegionManager& regions);
  // Handlers refer to this object, so it stays where it was built.
  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  // Never throws: a failure inside a handler becomes a 500 JSON error.
  [[nodiscard]] net::HttpResponse Handle(const net::HttpRequest& request) const;

 private:
  // Features add a route table in the constructor and, for /metrics, a collector.
  using MetricsCollector = std::function<void(metrics::PrometheusWriter&)>;

  [[nodiscard]] net::HttpResponse Metrics() const;

  std::vector<MetricsCollector> collectors_;
  Router router_;
};

}  // namespace streamgate::admin
