#include "admin/backend_routes.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "admin/json_http.hpp"

namespace streamgate::admin {
namespace {

using scaling::Backend;
using scaling::BackendMetrics;
using scaling::GlobalLoadBalancer;
using scaling::HealthStatus;

constexpr int kMaxPort = 65535;

double Milliseconds(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1e3; }
double Seconds(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1e6; }

// BackendMetrics marks the last (+Inf) bucket with the largest duration; the last entry is +Inf
// whatever it holds, since a histogram without one is not a histogram.
bool IsInfiniteBound(const BackendMetrics& m, std::size_t i) {
  return i + 1 == m.latency_bucket_bounds.size() ||
         m.latency_bucket_bounds[i] == std::chrono::microseconds::max();
}

// Bounds and counts come from one call, but a mismatch must not read past either vector.
std::size_t BucketCount(const BackendMetrics& m) {
  return std::min(m.latency_bucket_bounds.size(), m.latency_bucket_counts.size());
}

// The backend as it is now, or the balancer's error: every write answers with the fresh state.
net::HttpResponse BackendResponse(const GlobalLoadBalancer& lb, std::string_view id,
                                  int status = 200) {
  Result<Backend> backend = lb.GetBackend(id);
  if (!backend) return ErrorResponse(backend.error());
  Result<BackendMetrics> metrics = lb.GetBackendMetrics(id);
  return JsonResponse(status, BackendToJson(*backend, metrics ? &*metrics : nullptr));
}

net::HttpResponse ListBackends(const GlobalLoadBalancer& lb) {
  // Two reads, not one atomic view: a request recorded in between shows up in the counters but
  // not in the state, which is harmless for a listing.
  const std::vector<Backend> backends = lb.ListBackends();
  const std::map<std::string, BackendMetrics> metrics = lb.GetAllMetrics();
  nlohmann::json out = nlohmann::json::array();
  for (const Backend& backend : backends) {
    auto it = metrics.find(backend.id);
    out.push_back(BackendToJson(backend, it != metrics.end() ? &it->second : nullptr));
  }
  return JsonResponse(200, out);
}

net::HttpResponse CreateBackend(GlobalLoadBalancer& lb, const net::HttpRequest& request) {
  Result<nlohmann::json> body = ParseJsonObject(request.body);
  if (!body) return ErrorResponse(body.error());
  Backend backend;
  int port = 0;
  int weight = static_cast<int>(backend.weight);
  JsonObjectReader in(*body);
  in.String("id", backend.id);
  in.String("address", backend.address);
  in.Int("port", port);
  in.String("region", backend.region, JsonObjectReader::kOptional);
  in.Int("weight", weight, JsonObjectReader::kOptional);
  in.String("health_path", backend.health_path, JsonObjectReader::kOptional);
  in.Bool("tcp_check", backend.use_tcp_check, JsonObjectReader::kOptional);
  in.Bool("active", backend.active, JsonObjectReader::kOptional);
  if (Status status = in.Finish(); !status) return ErrorResponse(status.error());
  // Only what the narrower fields cannot hold is checked here; the balancer owns the rules
  // (port 0, weight 0 or above its maximum), so its messages stay the single source.
  if (port < 0 || port > kMaxPort) {
    return ErrorResponse(400, ToString(ErrorCode::kInvalidArgument),
                         "field 'port' must be between 1 and 65535");
  }
  if (weight < 0) {
    return ErrorResponse(400, ToString(ErrorCode::kInvalidArgument),
                         "field 'weight' must be a positive integer");
  }
  backend.port = static_cast<std::uint16_t>(port);
  backend.weight = static_cast<std::uint32_t>(weight);

  const std::string id = backend.id;
  if (Status status = lb.RegisterBackend(std::move(backend)); !status) {
    return ErrorResponse(status.error());
  }
  net::HttpResponse response = BackendResponse(lb, id, 201);
  if (response.status == 201) response.headers.emplace_back("Location", "/api/v1/backends/" + id);
  return response;
}

net::HttpResponse BackendMetricsResponse(const GlobalLoadBalancer& lb, std::string_view id) {
  Result<BackendMetrics> metrics = lb.GetBackendMetrics(id);
  if (!metrics) return ErrorResponse(metrics.error());
  return JsonResponse(200, BackendMetricsToJson(*metrics));
}

net::HttpResponse StrategyResponse(const GlobalLoadBalancer& lb) {
  return JsonResponse(200, {{"strategy", scaling::ToString(lb.GetStrategy())}});
}

net::HttpResponse SetStrategy(GlobalLoadBalancer& lb, const net::HttpRequest& request) {
  Result<nlohmann::json> body = ParseJsonObject(request.body);
  if (!body) return ErrorResponse(body.error());
  std::string name;
  JsonObjectReader in(*body);
  in.String("strategy", name);
  if (Status status = in.Finish(); !status) return ErrorResponse(status.error());
  Result<scaling::LoadBalancingStrategy> strategy = scaling::ParseLoadBalancingStrategy(name);
  if (!strategy) return ErrorResponse(strategy.error());
  lb.SetStrategy(*strategy);
  return StrategyResponse(lb);
}

std::vector<Route> ConfiguredRoutes(GlobalLoadBalancer* lb) {
  return {
      {"GET", "/api/v1/backends",
       [lb](const net::HttpRequest&, const PathParams&) { return ListBackends(*lb); }},
      {"POST", "/api/v1/backends",
       [lb](const net::HttpRequest& request, const PathParams&) {
         return CreateBackend(*lb, request);
       }},
      {"GET", "/api/v1/backends/{id}",
       [lb](const net::HttpRequest&, const PathParams& params) {
         return BackendResponse(*lb, params.Get("id"));
       }},
      {"POST", "/api/v1/backends/{id}/activate",
       [lb](const net::HttpRequest&, const PathParams& params) {
         if (Status status = lb->ActivateBackend(params.Get("id")); !status) {
           return ErrorResponse(status.error());
         }
         return BackendResponse(*lb, params.Get("id"));
       }},
      {"POST", "/api/v1/backends/{id}/deactivate",
       [lb](const net::HttpRequest&, const PathParams& params) {
         if (Status status = lb->DeactivateBackend(params.Get("id")); !status) {
           return ErrorResponse(status.error());
         }
         return BackendResponse(*lb, params.Get("id"));
       }},
      {"GET", "/api/v1/backends/{id}/metrics",
       [lb](const net::HttpRequest&, const PathParams& params) {
         return BackendMetricsResponse(*lb, params.Get("id"));
       }},
      {"GET", "/api/v1/lb/strategy",
       [lb](const net::HttpRequest&, const PathParams&) { return StrategyResponse(*lb); }},
      {"PUT", "/api/v1/lb/strategy",
       [lb](const net::HttpRequest& request, const PathParams&) {
         return SetStrategy(*lb, request);
       }},
      {"GET", "/api/v1/lb/stats",
       [lb](const net::HttpRequest&, const PathParams&) {
         return JsonResponse(200, LoadBalancerStatsToJson(lb->GetStats()));
       }},
  };
}

}  // namespace

std::vector<Route> BackendRoutes(GlobalLoadBalancer* balancer) {
  // One table for both cases, so the unconfigured API matches exactly the same paths/methods.
  std::vector<Route> routes = ConfiguredRoutes(balancer);
  if (balancer == nullptr) {
    for (Route& route : routes) {
      route.handler = [](const net::HttpRequest&, const PathParams&) {
        return ErrorResponse(404, ToString(ErrorCode::kNotFound), "load balancer not configured");
      };
    }
  }
  return routes;
}

nlohmann::json BackendToJson(const Backend& backend, const BackendMetrics* metrics) {
  return {
      {"id", backend.id},
      {"address", backend.address},
      {"port", backend.port},
      {"region", backend.region},
      {"weight", backend.weight},
      {"health_path", backend.health_path},
      {"tcp_check", backend.use_tcp_check},
      {"active", backend.active},
      {"health_status", scaling::ToString(backend.health_status)},
      {"ejected", backend.ejected},
      {"connections", backend.connections},
      {"requests", metrics != nullptr ? metrics->total_requests : 0},
      {"errors", metrics != nullptr ? metrics->failed_requests : 0},
      {"avg_latency_ms", metrics != nullptr ? Milliseconds(metrics->avg_latency) : 0.0},
  };
}

nlohmann::json BackendMetricsToJson(const BackendMetrics& metrics) {
  nlohmann::json bounds = nlohmann::json::array();
  nlohmann::json counts = nlohmann::json::array();
  for (std::size_t i = 0; i < BucketCount(metrics); ++i) {
    if (IsInfiniteBound(metrics, i)) {
      bounds.push_back("+Inf");
    } else {
      bounds.push_back(Milliseconds(metrics.latency_bucket_bounds[i]));
    }
    counts.push_back(metrics.latency_bucket_counts[i]);
  }
  return {
      {"backend_id", metrics.backend_id},
      {"region", metrics.region},
      {"health_status", scaling::ToString(metrics.health_status)},
      {"active", metrics.active},
      {"ejected", metrics.ejected},
      {"connections", metrics.connections},
      {"total_requests", metrics.total_requests},
      {"failed_requests", metrics.failed_requests},
      {"error_rate", metrics.error_rate},
      {"avg_latency_ms", Milliseconds(metrics.avg_latency)},
      {"ewma_latency_ms", Milliseconds(metrics.ewma_latency)},
      {"ejections", metrics.ejections},
      {"health_checks", metrics.health_checks},
      {"failed_health_checks", metrics.failed_health_checks},
      {"last_probe_detail", metrics.last_probe_detail},
      {"last_health_check", Rfc3339OrNull(metrics.last_health_check)},
      {"latency_histogram",
       {{"bounds_ms", std::move(bounds)},
        {"counts", std::move(counts)},
        {"sum_ms", Milliseconds(metrics.latency_sum)}}},
  };
}

nlohmann::json LoadBalancerStatsToJson(const scaling::LoadBalancerStats& stats) {
  return {
      {"backends", stats.backends},
      {"active_backends", stats.active_backends},
      {"available_backends", stats.available_backends},
      {"panic", stats.panic},
      {"panic_selections", stats.panic_selections},
      {"no_backend_errors", stats.no_backend_errors},
      {"ejections", stats.ejections},
  };
}

void WriteBackendMetrics(const GlobalLoadBalancer& balancer, metrics::PrometheusWriter& out) {
  using metrics::MetricType;

  // Declared up front so that every family has HELP/TYPE even with no backends registered.
  out.Family("streamgate_backend_requests_total", "Requests recorded for the backend.",
             MetricType::kCounter);
  out.Family("streamgate_backend_request_errors_total", "Failed requests recorded for the backend.",
             MetricType::kCounter);
  out.Family("streamgate_backend_active_connections", "Connections to the backend in flight.",
             MetricType::kGauge);
  out.Family("streamgate_backend_active", "1 if the backend is active, else 0.",
             MetricType::kGauge);
  out.Family("streamgate_backend_healthy", "1 if the backend's health status is healthy, else 0.",
             MetricType::kGauge);
  out.Family("streamgate_backend_ejected", "1 while outlier detection has the backend ejected.",
             MetricType::kGauge);
  out.Family("streamgate_backend_ejections_total", "Outlier ejections of the backend.",
             MetricType::kCounter);
  out.Family("streamgate_backend_latency_seconds", "Request latency of the backend.",
             MetricType::kHistogram);

  for (const auto& [id, m] : balancer.GetAllMetrics()) {
    const std::array<metrics::Label, 2> labels = {{{"backend", id}, {"region", m.region}}};
    const metrics::Labels backend{std::span<const metrics::Label>(labels)};
    out.Sample("streamgate_backend_requests_total", backend, m.total_requests);
    out.Sample("streamgate_backend_request_errors_total", backend, m.failed_requests);
    out.Sample("streamgate_backend_active_connections", backend, m.connections);
    out.Sample("streamgate_backend_active", backend, m.active);
    out.Sample("streamgate_backend_healthy", backend, m.health_status == HealthStatus::kHealthy);
    out.Sample("streamgate_backend_ejected", backend, m.ejected);
    out.Sample("streamgate_backend_ejections_total", backend, m.ejections);

    // _count must equal the +Inf bucket, so it is taken from the buckets rather than from
    // total_requests, which is read separately and may already be one ahead.
    std::uint64_t count = 0;
    bool wrote_inf = false;
    for (std::size_t i = 0; i < BucketCount(m) && !wrote_inf; ++i) {
      wrote_inf = IsInfiniteBound(m, i);
      const std::string le = wrote_inf ? std::string("+Inf")
                                       : metrics::FormatValue(Seconds(m.latency_bucket_bounds[i]));
      count = m.latency_bucket_counts[i];
      out.Sample("streamgate_backend_latency_seconds_bucket", {labels[0], labels[1], {"le", le}},
                 count);
    }
    if (!wrote_inf) {
      // No +Inf bucket reported (no buckets at all): the format still requires one.
      count = m.total_requests;
      out.Sample("streamgate_backend_latency_seconds_bucket",
                 {labels[0], labels[1], {"le", "+Inf"}}, count);
    }
    out.Sample("streamgate_backend_latency_seconds_sum", backend, Seconds(m.latency_sum));
    out.Sample("streamgate_backend_latency_seconds_count", backend, count);
  }

  const scaling::LoadBalancerStats stats = balancer.GetStats();
  out.Family("streamgate_backends", "Registered backends.", MetricType::kGauge);
  out.Sample("streamgate_backends", {}, stats.backends);
  out.Family("streamgate_backends_active", "Active backends.", MetricType::kGauge);
  out.Sample("streamgate_backends_active", {}, stats.active_backends);
  out.Family("streamgate_backends_available",
             "Backends taking traffic: active, not unhealthy and not ejected.", MetricType::kGauge);
  out.Sample("streamgate_backends_available", {}, stats.available_backends);
  out.Family("streamgate_lb_panic",
             "1 while too few backends are available and the balancer ignores health.",
             MetricType::kGauge);
  out.Sample("streamgate_lb_panic", {}, stats.panic);
  out.Family("streamgate_lb_panic_selections_total", "Backends picked in panic mode.",
             MetricType::kCounter);
  out.Sample("streamgate_lb_panic_selections_total", {}, stats.panic_selections);
  out.Family("streamgate_lb_no_backend_total", "Picks that found no backend available.",
             MetricType::kCounter);
  out.Sample("streamgate_lb_no_backend_total", {}, stats.no_backend_errors);
}

}  // namespace streamgate::admin
