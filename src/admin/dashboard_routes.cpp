#include "admin/dashboard_routes.hpp"

#include <stdexcept>
#include <utility>

#include "admin/json_http.hpp"

namespace streamgate::admin {
namespace {

// Scripts, styles, images and fetches from the admin listener only: the page works offline and
// cannot be made to load code from elsewhere; it may not be framed (clickjacking).
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

constexpr std::string_view kAssetPrefix = "/dashboard/";

const EmbeddedFile* FindFile(std::string_view name) {
  for (const EmbeddedFile& file : DashboardFiles()) {
    if (file.name == name) return &file;
  }
  return nullptr;
}

bool EtagMatches(std::string_view header, std::string_view etag) {
  // If-None-Match: "*" or a comma-separated list of (possibly weak) validators.
  std::size_t begin = 0;
  while (begin <= header.size()) {
    std::size_t end = header.find(',', begin);
    if (end == std::string_view::npos) end = header.size();
    std::string_view item = header.substr(begin, end - begin);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == "*" || item == etag) return true;
    begin = end + 1;
  }
  return false;
}

net::HttpResponse ServeFile(const net::HttpRequest& request, std::string_view name) {
  const EmbeddedFile* file = FindFile(name);
  if (file == nullptr) {
    return ErrorResponse(404, "not_found", "no such dashboard file: " + std::string(name));
  }
  net::HttpResponse response;
  response.content_type = std::string(ContentTypeFor(file->name));
  response.headers = {
      {"Cache-Control", "no-cache"},
      {"ETag", std::string(file->etag)},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
  };
  if (file->name.ends_with(".html")) {
    response.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
  }
  if (const auto header = request.Header("If-None-Match");
      header && EtagMatches(*header, file->etag)) {
    response.status = 304;
    return response;
  }
  response.status = 200;
  response.body = std::string(file->content);
  return response;
}

nlohmann::json RateOrNull(std::uint64_t now, std::uint64_t before, double seconds) {
  if (now < before || seconds <= 0) return nullptr;
  return static_cast<double>(now - before) / seconds;
}

}  // namespace

std::string_view ContentTypeFor(std::string_view file_name) {
  struct Type {
    std::string_view extension;
    std::string_view content_type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".json", "application/json"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const Type& type : kTypes) {
    if (file_name.ends_with(type.extension)) return type.content_type;
  }
  return "application/octet-stream";
}

bool IsDashboardAssetPath(std::string_view path) {
  return path == "/" || path.starts_with(kAssetPrefix);
}

DashboardHistory::DashboardHistory(const scaling::MultiRegionManager* regions,
                                   const scaling::GlobalLoadBalancer* balancer,
                                   const scaling::CDNManager* cdn, const Clock& clock,
                                   DashboardHistoryOptions options)
    : regions_(regions), balancer_(balancer), cdn_(cdn), clock_(clock), options_(options) {
  if (options_.interval <= std::chrono::milliseconds::zero()) {
    throw std::invalid_argument("dashboard history: interval must be positive");
  }
  if (options_.capacity == 0) {
    throw std::invalid_argument("dashboard history: capacity must be at least 1");
  }
}

void DashboardHistory::Record() {
  // Read the managers outside the lock: they have their own.
  Sample sample;
  sample.at = clock_.Now();
  sample.wall = clock_.WallNow();
  if (regions_ != nullptr) {
    for (const scaling::Region& region : regions_->ListRegions()) {
      sample.regions[region.id] = RegionSample{
          .status = std::string(scaling::ToString(region.health_status)),
          .primary = region.primary,
          .latency_ms = std::chrono::duration<double, std::milli>(region.avg_latency).count()};
    }
  }
  if (balancer_ != nullptr) {
    auto& backends = sample.backends.emplace();
    for (const auto& [id, metrics] : balancer_->GetAllMetrics()) {
      backends[id] = BackendSample{.connections = metrics.connections,
                                   .requests = metrics.total_requests,
                                   .errors = metrics.failed_requests};
    }
  }
  if (cdn_ != nullptr) sample.cdn = CdnSample{.metrics = cdn_->GetMetrics()};

  std::lock_guard lock(mu_);
  samples_.push_back(std::move(sample));
  while (samples_.size() > options_.capacity) samples_.pop_front();
}

std::size_t DashboardHistory::size() const {
  std::lock_guard lock(mu_);
  return samples_.size();
}

nlohmann::json DashboardHistory::SampleToJson(const Sample& sample, const Sample* previous) {
  const double seconds =
      previous == nullptr ? 0.0 : std::chrono::duration<double>(sample.at - previous->at).count();
  nlohmann::json regions = nlohmann::json::object();
  for (const auto& [id, region] : sample.regions) {
    regions[id] = {
        {"status", region.status}, {"primary", region.primary}, {"latency_ms", region.latency_ms}};
  }
  nlohmann::json backends;  // null without a balancer
  if (sample.backends) {
    backends = nlohmann::json::object();
    for (const auto& [id, backend] : *sample.backends) {
      nlohmann::json requests = nullptr;
      nlohmann::json errors = nullptr;
      if (previous != nullptr && previous->backends) {
        if (auto before = previous->backends->find(id); before != previous->backends->end()) {
          requests = RateOrNull(backend.requests, before->second.requests, seconds);
          errors = RateOrNull(backend.errors, before->second.errors, seconds);
        }
      }
      backends[id] = {{"connections", backend.connections},
                      {"requests_per_second", requests},
                      {"errors_per_second", errors}};
    }
  }
  nlohmann::json cdn;  // null without a CDN manager
  if (sample.cdn) {
    const scaling::CDNMetrics& now = sample.cdn->metrics;
    cdn = {{"hit_rate", nullptr},
           {"hit_rate_total", now.hit_rate},
           {"requests_per_second", nullptr},
           {"bandwidth_bytes_per_second", nullptr},
           {"cache_bytes_per_second", nullptr},
           {"origin_bytes_per_second", nullptr},
           {"cache_size", now.cache_size},
           {"cache_count", now.cache_count}};
    if (previous != nullptr && previous->cdn) {
      const scaling::CDNMetrics& before = previous->cdn->metrics;
      const bool monotonic =
          now.cache_hits >= before.cache_hits && now.total_requests >= before.total_requests;
      if (monotonic) {
        const std::uint64_t requests = now.total_requests - before.total_requests;
        if (requests > 0) {
          cdn["hit_rate"] = static_cast<double>(now.cache_hits - before.cache_hits) /
                            static_cast<double>(requests);
        }
      }
      cdn["requests_per_second"] = RateOrNull(now.total_requests, before.total_requests, seconds);
      cdn["bandwidth_bytes_per_second"] =
          RateOrNull(now.total_bandwidth, before.total_bandwidth, seconds);
      cdn["cache_bytes_per_second"] =
          RateOrNull(now.bytes_served_from_cache, before.bytes_served_from_cache, seconds);
      cdn["origin_bytes_per_second"] =
          RateOrNull(now.bytes_from_origin, before.bytes_from_origin, seconds);
    }
  }
  return {{"time", FormatRfc3339(sample.wall)},
          {"regions", std::move(regions)},
          {"backends", std::move(backends)},
          {"cdn", std::move(cdn)}};
}

nlohmann::json DashboardHistory::ToJson() const {
  nlohmann::json samples = nlohmann::json::array();
  {
    std::lock_guard lock(mu_);
    const Sample* previous = nullptr;
    for (const Sample& sample : samples_) {
      samples.push_back(SampleToJson(sample, previous));
      previous = &sample;
    }
  }
  return {{"interval_seconds", std::chrono::duration<double>(options_.interval).count()},
          {"capacity", options_.capacity},
          {"samples", std::move(samples)}};
}

std::vector<Route> DashboardRoutes(const DashboardHistory* history) {
  return {
      {"GET", "/",
       [](const net::HttpRequest& request, const PathParams&) {
         return ServeFile(request, "index.html");
       }},
      {"GET", "/dashboard/{file...}",
       [](const net::HttpRequest& request, const PathParams& params) {
         return ServeFile(request, params.Get("file"));
       }},
      {"GET", "/api/v1/dashboard/history",
       [history](const net::HttpRequest&, const PathParams&) {
         if (history == nullptr) {
           return ErrorResponse(404, "not_found", "dashboard history not kept by this server");
         }
         net::HttpResponse response = JsonResponse(200, history->ToJson());
         response.headers.emplace_back("Cache-Control", "no-store");
         return response;
       }},
  };
}

}  // namespace streamgate::admin
