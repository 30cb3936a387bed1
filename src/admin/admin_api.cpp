#include "admin/admin_api.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "admin/backend_routes.hpp"
#include "admin/cdn_routes.hpp"
#include "admin/dashboard_routes.hpp"
#include "admin/dr_routes.hpp"
#include "admin/json_http.hpp"
#include "admin/region_routes.hpp"
#include "cdn/cdn_metrics.hpp"

namespace streamgate::admin {
namespace {

std::string Sha256(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(digest), size);
}

}  // namespace

AdminApi::AdminApi(scaling::MultiRegionManager& regions) : AdminApi(regions, AdminApiOptions{}) {}

AdminApi::AdminApi(scaling::MultiRegionManager& regions, AdminApiOptions options)
    : protect_reads_(options.protect_reads),
      dashboard_(options.dashboard != nullptr),
      on_change_(std::move(options.on_change)) {
  SetToken(options.token, options.protect_reads);
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
  if (options.dashboard != nullptr) router_.Add(DashboardRoutes(options.dashboard));
  router_.Add({{"POST", "/api/v1/reload",
                [reload = std::move(options.reload)](const net::HttpRequest&, const PathParams&) {
                  if (!reload) return ErrorResponse(404, "not_found", "reload not available");
                  Result<ReloadSummary> summary = reload();
                  if (!summary) return ErrorResponse(summary.error());
                  return JsonResponse(200, {{"applied", summary->applied},
                                            {"failed", summary->failed},
                                            {"restart_required", summary->restart_required}});
                }}});
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
    if (!Authorized(request)) {
      net::HttpResponse response =
          ErrorResponse(401, "unauthenticated",
                        "this call needs the admin token: send \"Authorization: Bearer <token>\" "
                        "(streamgatectl --token or STREAMGATE_ADMIN_TOKEN)");
      response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"streamgate\"");
      return response;
    }
    net::HttpResponse response = router_.Dispatch(request);
    if (on_change_ && request.method != "GET" && request.method != "HEAD" &&
        response.status >= 200 && response.status < 300) {
      on_change_(request);
    }
    return response;
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

void AdminApi::SetToken(const std::string& token, bool protect_reads) {
  std::string digest;
  if (!token.empty()) {
    digest = Sha256(token);
    if (digest.empty()) throw std::runtime_error("admin api: SHA-256 unavailable");
  }
  std::lock_guard lock(token_mu_);
  token_digest_ = std::move(digest);
  protect_reads_ = protect_reads;
}

bool AdminApi::Authorized(const net::HttpRequest& request) const {
  std::string expected;
  {
    std::lock_guard lock(token_mu_);
    expected = token_digest_;
  }
  if (expected.empty()) return true;
  const bool reads = request.method == "GET" || request.method == "HEAD";
  if (request.path == "/healthz" || (reads && !protect_reads_)) return true;
  // The dashboard's page asks for the token itself; its files hold no figures.
  if (reads && dashboard_ && IsDashboardAssetPath(request.path)) return true;
  const std::optional<std::string_view> header = request.Header("Authorization");
  constexpr std::string_view kScheme = "Bearer ";
  if (!header || header->size() <= kScheme.size()) return false;
  // The scheme is case-insensitive (RFC 9110 11.1); the token is compared in constant time.
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>((*header)[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return false;
    }
  }
  const std::string digest = Sha256(header->substr(kScheme.size()));
  return digest.size() == expected.size() &&
         CRYPTO_memcmp(digest.data(), expected.data(), digest.size()) == 0;
}

}  // namespace streamgate::admin
