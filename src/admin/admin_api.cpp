#include "admin/admin_api.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <string>
#include <utility>

#include "admin/backend_routes.hpp"
#include "admin/cdn_routes.hpp"
#include "admin/dr_routes.hpp"
#include "admin/json_http.hpp"
#include "admin/region_routes.hpp"
#include "cdn/cdn_metrics.hpp"

namespace streamgate::admin {

AdminApi::AdminApi(scaling::MultiRegionManager& regions) : AdminApi(regions, AdminApiOptions{}) {}

AdminApi::AdminApi(scaling::MultiRegionManager& regions, AdminApiOptions options) {
  router_.Add({
      {"GET", "/healthz",
       [](const net::HttpRequest&, const PathParams&) {
         return JsonResponse(200, {{"status", "ok"}});
       }},
      {"GET", "/metrics", [this](const net::HttpRequest&, const PathParams&) { return Metrics(); }},
  });
  router_.Add(RegionRoutes(regions));
  router_.Add(BackendRoutes(options.load_balancer));
  router_.Add(CdnRoutes(options.cdn));
  router_.Add(DisasterRecoveryRoutes(options.disaster_recovery));
  collectors_.emplace_back(
      [&regions](metrics::PrometheusWriter& out) { WriteRegionMetrics(regions, out); });
  if (options.load_balancer != nullptr) {
    collectors_.emplace_back([lb = options.load_balancer](metrics::PrometheusWriter& out) {
      WriteBackendMetrics(*lb, out);
    });
  }
  if (options.cdn != nullptr) {
    collectors_.emplace_back([manager = options.cdn](metrics::PrometheusWriter& out) {
      cdn::WriteCdnMetrics(*manager, out);
    });
  }
  if (options.disaster_recovery != nullptr) {
    collectors_.emplace_back([manager = options.disaster_recovery](metrics::PrometheusWriter& out) {
      WriteDisasterRecoveryMetrics(*manager, out);
    });
  }
  if (options.extra_metrics) collectors_.push_back(std::move(options.extra_metrics));
}

net::HttpResponse AdminApi::Handle(const net::HttpRequest& request) const {
  // The server must get an answer whatever a handler does (a bad_alloc, a JSON type error from
  // a bug), so nothing escapes; the detail goes to the log, not to the client.
  try {
    return router_.Dispatch(request);
  } catch (const std::exception& e) {
    spdlog::error("admin api: {} {} failed: {}", request.method, request.target, e.what());
  } catch (...) {
    spdlog::error("admin api: {} {} failed with an unknown exception", request.method,
                  request.target);
  }
  try {
    return ErrorResponse(500, "internal", "internal error");
  } catch (...) {
    // Even building the JSON failed (out of memory): answer with as little as possible.
    net::HttpResponse response;
    response.status = 500;
    return response;
  }
}

net::HttpResponse AdminApi::Metrics() const {
  metrics::PrometheusWriter out;
  for (const MetricsCollector& collect : collectors_) collect(out);
  if (out.rejected() > 0) {
    spdlog::warn("admin api: {} metric samples rejected (invalid names)", out.rejected());
  }
  net::HttpResponse response;
  response.status = 200;
  response.content_type = std::string(metrics::kPrometheusContentType);
  response.body = out.Take();
  return response;
}

}  // namespace streamgate::admin
