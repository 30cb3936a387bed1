// The live dashboard on the admin listener: the page's files, built into the binary, and a
// server-side history of samples so that a freshly opened page already shows the last minutes.
//
//   GET /                            index.html
//   GET /dashboard/{file}            app.js, style.css, ... (404 for anything else)
//   GET /api/v1/dashboard/history    {"interval_seconds", "capacity", "samples": [sample...]}
//
// The files answer without the admin token even with protect_reads (they hold no figures; the
// page asks for the token and sends it on its API calls), with "Cache-Control: no-cache" and an
// ETag, so a browser revalidates (304) and never runs a page older than the binary. A
// Content-Security-Policy allows scripts, styles and fetches from the admin listener only.
// The history is an API read like the others (token rules apply) and is never cached.
//
// A sample holds rates over the interval since the sample before it (null in the first sample,
// or when a counter went backwards, e.g. a backend re-registered):
//   {"time": RFC 3339,
//    "regions":  {id: {"status", "primary", "latency_ms"}},
//    "backends": {id: {"connections", "requests_per_second", "errors_per_second"}},  // or null
//    "cdn": {"hit_rate" (over the interval; null without requests), "hit_rate_total",
//            "requests_per_second", "bandwidth_bytes_per_second", "cache_bytes_per_second",
//            "origin_bytes_per_second", "cache_size", "cache_count"}}                 // or null
// "backends" is null without a load balancer, "cdn" without a CDN manager.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "admin/router.hpp"
#include "streamgate/common/clock.hpp"
#include "streamgate/scaling/cdn.hpp"
#include "streamgate/scaling/load_balancer.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::admin {

// A file built into the binary by cmake/EmbedFiles.cmake.
struct EmbeddedFile {
  std::string_view name;     // relative to src/admin/dashboard/: "app.js"
  std::string_view content;  // the bytes
  std::string_view etag;     // a quoted strong validator
};

// The dashboard's files (defined in the generated embedded_dashboard.cpp).
[[nodiscard]] std::span<const EmbeddedFile> DashboardFiles();

// "text/html; charset=utf-8" for .html, and so on; "application/octet-stream" when unknown.
[[nodiscard]] std::string_view ContentTypeFor(std::string_view file_name);

// True for the paths of the page's files ("/" and "/dashboard/..."), which need no token.
[[nodiscard]] bool IsDashboardAssetPath(std::string_view path);

struct DashboardHistoryOptions {
  std::chrono::milliseconds interval{5'000};  // how often the daemon calls Record
  std::size_t capacity = 180;                 // samples kept: 15 minutes at 5 s
};

// A ring of samples of the managers' counters. Record is called by the daemon every `interval`;
// reads may come from any thread.
class DashboardHistory {
 public:
  // Any source may be null (that part is not configured). The sources and the clock must
  // outlive the history. Throws std::invalid_argument for a zero interval or capacity.
  DashboardHistory(const scaling::MultiRegionManager* regions,
                   const scaling::GlobalLoadBalancer* balancer, const scaling::CDNManager* cdn,
                   const Clock& clock, DashboardHistoryOptions options = {});

  // Takes one sample now, dropping the oldest beyond capacity.
  void Record();

  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] const DashboardHistoryOptions& options() const { return options_; }
  // The document GET /api/v1/dashboard/history answers with (see the top of this file).
  [[nodiscard]] nlohmann::json ToJson() const;

 private:
  struct RegionSample {
    std::string status;
    bool primary = false;
    double latency_ms = 0.0;
  };
  struct BackendSample {
    std::uint64_t connections = 0;
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
  };
  struct CdnSample {
    scaling::CDNMetrics metrics;
  };
  struct Sample {
    MonoTime at;
    WallTime wall;
    std::map<std::string, RegionSample> regions;
    std::optional<std::map<std::string, BackendSample>> backends;
    std::optional<CdnSample> cdn;
  };

  [[nodiscard]] static nlohmann::json SampleToJson(const Sample& sample, const Sample* previous);

  const scaling::MultiRegionManager* regions_;
  const scaling::GlobalLoadBalancer* balancer_;
  const scaling::CDNManager* cdn_;
  const Clock& clock_;
  DashboardHistoryOptions options_;
  mutable std::mutex mu_;
  std::deque<Sample> samples_;  // oldest first
};

// The routes above. `history` may be null: the history route then answers 404 "dashboard
// history not kept". It must outlive the router.
[[nodiscard]] std::vector<Route> DashboardRoutes(const DashboardHistory* history);

}  // namespace streamgate::admin
