#include "admin/region_routes.hpp"

#include <array>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "admin/json_http.hpp"

namespace streamgate::admin {
namespace {

using scaling::HealthStatus;
using scaling::MultiRegionManager;
using scaling::Region;

double Milliseconds(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1e3; }
double Seconds(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1e6; }

// The region as it is now, or the manager's error: every write answers with the fresh state.
net::HttpResponse RegionResponse(const MultiRegionManager& regions, std::string_view id,
                                 int status = 200) {
  Result<Region> region = regions.GetRegion(id);
  if (!region) return ErrorResponse(region.error());
  return JsonResponse(status, RegionToJson(*region));
}

net::HttpResponse ListRegions(const MultiRegionManager& regions) {
  nlohmann::json out = nlohmann::json::array();
  for (const Region& region : regions.ListRegions()) out.push_back(RegionToJson(region));
  return JsonResponse(200, out);
}

net::HttpResponse CreateRegion(MultiRegionManager& regions, const net::HttpRequest& request) {
  Result<nlohmann::json> body = ParseJsonObject(request.body);
  if (!body) return ErrorResponse(body.error());
  Region region;
  JsonObjectReader in(*body);
  in.String("id", region.id);
  // The manager names an unnamed region after its id; location is informational.
  in.String("name", region.name, JsonObjectReader::kOptional);
  in.String("location", region.location, JsonObjectReader::kOptional);
  in.String("endpoint", region.endpoint);
  in.Int("priority", region.priority, JsonObjectReader::kOptional);
  in.Bool("active", region.active, JsonObjectReader::kOptional);
  in.Bool("primary", region.primary, JsonObjectReader::kOptional);
  if (Status status = in.Finish(); !status) return ErrorResponse(status.error());

  const std::string id = region.id;
  if (Status status = regions.RegisterRegion(std::move(region)); !status) {
    return ErrorResponse(status.error());
  }
  net::HttpResponse response = RegionResponse(regions, id, 201);
  if (response.status == 201) response.headers.emplace_back("Location", "/api/v1/regions/" + id);
  return response;
}

net::HttpResponse GetPrimary(const MultiRegionManager& regions) {
  Result<Region> primary = regions.GetPrimaryRegion();
  if (!primary) return ErrorResponse(primary.error());
  return JsonResponse(200, RegionToJson(*primary));
}

net::HttpResponse SetPrimary(MultiRegionManager& regions, const net::HttpRequest& request) {
  Result<nlohmann::json> body = ParseJsonObject(request.body);
  if (!body) return ErrorResponse(body.error());
  std::string id;
  JsonObjectReader in(*body);
  in.String("id", id);
  if (Status status = in.Finish(); !status) return ErrorResponse(status.error());
  if (Status status = regions.SetPrimaryRegion(id); !status) return ErrorResponse(status.error());
  return RegionResponse(regions, id);
}

net::HttpResponse RegionMetrics(const MultiRegionManager& regions, std::string_view id) {
  Result<scaling::RegionMetrics> metrics = regions.GetRegionMetrics(id);
  if (!metrics) return ErrorResponse(metrics.error());
  return JsonResponse(200, RegionMetricsToJson(*metrics));
}

}  // namespace

std::vector<Route> RegionRoutes(MultiRegionManager& regions) {
  MultiRegionManager* m = &regions;
  // "primary" precedes "{id}" so that it is not taken for a region id. Region ids cannot contain
  // '/' (the manager rejects them), so "{id}" is one segment and a longer path is not found.
  return {
      {"GET", "/api/v1/regions",
       [m](const net::HttpRequest&, const PathParams&) { return ListRegions(*m); }},
      {"POST", "/api/v1/regions",
       [m](const net::HttpRequest& request, const PathParams&) {
         return CreateRegion(*m, request);
       }},
      {"GET", "/api/v1/regions/primary",
       [m](const net::HttpRequest&, const PathParams&) { return GetPrimary(*m); }},
      {"PUT", "/api/v1/regions/primary",
       [m](const net::HttpRequest& request, const PathParams&) { return SetPrimary(*m, request); }},
      {"POST", "/api/v1/regions/{id}/activate",
       [m](const net::HttpRequest&, const PathParams& params) {
         if (Status status = m->ActivateRegion(params.Get("id")); !status) {
           return ErrorResponse(status.error());
         }
         return RegionResponse(*m, params.Get("id"));
       }},
      {"POST", "/api/v1/regions/{id}/deactivate",
       [m](const net::HttpRequest&, const PathParams& params) {
         if (Status status = m->DeactivateRegion(params.Get("id")); !status) {
           return ErrorResponse(status.error());
         }
         return RegionResponse(*m, params.Get("id"));
       }},
      {"GET", "/api/v1/regions/{id}/metrics",
       [m](const net::HttpRequest&, const PathParams& params) {
         return RegionMetrics(*m, params.Get("id"));
       }},
      {"GET", "/api/v1/regions/{id}",
       [m](const net::HttpRequest&, const PathParams& params) {
         return RegionResponse(*m, params.Get("id"));
       }},
  };
}

nlohmann::json RegionToJson(const Region& region) {
  return {
      {"id", region.id},
      {"name", region.name},
      {"location", region.location},
      {"endpoint", region.endpoint},
      {"priority", region.priority},
      {"active", region.active},
      {"primary", region.primary},
      {"health_status", scaling::ToString(region.health_status)},
      {"avg_latency_ms", Milliseconds(region.avg_latency)},
      {"last_health_check", Rfc3339OrNull(region.last_health_check)},
  };
}

nlohmann::json RegionMetricsToJson(const scaling::RegionMetrics& metrics) {
  return {
      {"region_id", metrics.region_id},
      {"health_status", scaling::ToString(metrics.health_status)},
      {"active", metrics.active},
      {"primary", metrics.primary},
      {"total_requests", metrics.total_requests},
      {"failed_requests", metrics.failed_requests},
      {"error_rate", metrics.error_rate},
      {"avg_request_latency_ms", Milliseconds(metrics.avg_request_latency)},
      {"p99_request_latency_ms", Milliseconds(metrics.p99_request_latency)},
      {"avg_latency_ms", Milliseconds(metrics.avg_latency)},
      {"p99_latency_ms", Milliseconds(metrics.p99_latency)},
      {"last_latency_ms", Milliseconds(metrics.last_latency)},
      {"health_checks", metrics.health_checks},
      {"failed_health_checks", metrics.failed_health_checks},
      {"consecutive_successes", metrics.consecutive_successes},
      {"consecutive_failures", metrics.consecutive_failures},
      {"status_changes", metrics.status_changes},
      {"last_probe_detail", metrics.last_probe_detail},
      {"last_health_check", Rfc3339OrNull(metrics.last_health_check)},
  };
}

void WriteRegionMetrics(const MultiRegionManager& regions, metrics::PrometheusWriter& out) {
  using metrics::MetricType;
  constexpr std::array kStatuses = {HealthStatus::kUnknown, HealthStatus::kHealthy,
                                    HealthStatus::kDegraded, HealthStatus::kUnhealthy};

  // Declared up front so that every family has HELP/TYPE even with no regions registered.
  out.Family("streamgate_region_healthy", "1 if the region's health status is healthy, else 0.",
             MetricType::kGauge);
  out.Family("streamgate_region_health_status",
             "Health status of the region: 1 for the current status, 0 for the others.",
             MetricType::kGauge);
  out.Family("streamgate_region_active", "1 if the region is active, else 0.", MetricType::kGauge);
  out.Family("streamgate_region_primary", "1 if the region is the primary, else 0.",
             MetricType::kGauge);
  out.Family("streamgate_region_requests_total", "Requests recorded for the region.",
             MetricType::kCounter);
  out.Family("streamgate_region_request_errors_total", "Failed requests recorded for the region.",
             MetricType::kCounter);
  out.Family("streamgate_region_latency_seconds",
             "Mean health-probe latency over the recent sample window.", MetricType::kGauge);
  out.Family("streamgate_region_latency_p99_seconds",
             "99th percentile health-probe latency over the recent sample window.",
             MetricType::kGauge);
  out.Family("streamgate_region_health_checks_total", "Health probes of the region.",
             MetricType::kCounter);
  out.Family("streamgate_region_health_check_failures_total", "Failed health probes of the region.",
             MetricType::kCounter);
  out.Family("streamgate_region_status_changes_total", "Health status changes of the region.",
             MetricType::kCounter);

  for (const auto& [id, m] : regions.GetAllMetrics()) {
    const metrics::Label region_label{"region", id};
    const std::span<const metrics::Label> region(&region_label, 1);
    out.Sample("streamgate_region_healthy", region, m.health_status == HealthStatus::kHealthy);
    for (HealthStatus status : kStatuses) {
      out.Sample("streamgate_region_health_status",
                 {region_label, {"status", scaling::ToString(status)}}, m.health_status == status);
    }
    out.Sample("streamgate_region_active", region, m.active);
    out.Sample("streamgate_region_primary", region, m.primary);
    out.Sample("streamgate_region_requests_total", region, m.total_requests);
    out.Sample("streamgate_region_request_errors_total", region, m.failed_requests);
    out.Sample("streamgate_region_latency_seconds", region, Seconds(m.avg_latency));
    out.Sample("streamgate_region_latency_p99_seconds", region, Seconds(m.p99_latency));
    out.Sample("streamgate_region_health_checks_total", region, m.health_checks);
    out.Sample("streamgate_region_health_check_failures_total", region, m.failed_health_checks);
    out.Sample("streamgate_region_status_changes_total", region, m.status_changes);
  }

  const scaling::MultiRegionStats stats = regions.GetStats();
  out.Family("streamgate_regions", "Registered regions.", MetricType::kGauge);
  out.Sample("streamgate_regions", {}, stats.regions);
  out.Family("streamgate_regions_active", "Active regions.", MetricType::kGauge);
  out.Sample("streamgate_regions_active", {}, stats.active_regions);
  out.Family("streamgate_failovers_total", "Primary changes made by the manager itself.",
             MetricType::kCounter);
  out.Sample("streamgate_failovers_total", {}, stats.failovers);
  out.Family("streamgate_primary_changes_total", "Primary region changes, manual or automatic.",
             MetricType::kCounter);
  out.Sample("streamgate_primary_changes_total", {}, stats.primary_changes);
  out.Family("streamgate_health_check_sweeps_total", "Health-check sweeps over all regions.",
             MetricType::kCounter);
  out.Sample("streamgate_health_check_sweeps_total", {}, stats.health_check_sweeps);
  out.Family("streamgate_health_check_sweep_duration_seconds",
             "Duration of the last health-check sweep.", MetricType::kGauge);
  out.Sample("streamgate_health_check_sweep_duration_seconds", {},
             Seconds(stats.last_sweep_duration));
}

}  // namespace streamgate::admin
