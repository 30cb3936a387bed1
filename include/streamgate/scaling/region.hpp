// Multi-region manager: regions with endpoints, real health checks, automatic failover of the
// primary region and per-region metrics. Mirrors the spec's MultiRegionManager.
//
// Health model (per region, driven by PerformHealthCheck):
//   unknown   -> never probed.
//   healthy   -> last probe succeeded within the latency threshold (and, after being
//                unhealthy, `rise` probes in a row succeeded).
//   degraded  -> last probe succeeded but slower than `degraded_latency`, or probes are failing
//                but fewer than `fall` in a row.
//   unhealthy -> `fall` probes in a row failed; stays so until `rise` successes in a row.
//
// Failover: after each sweep (and on deactivation), if the primary is inactive or unhealthy the
// best active region becomes primary: healthy before degraded, then lowest average probe
// latency, then lowest priority number, then id. With `failback`, the preferred primary (the
// configured one, or the last one set by SetPrimaryRegion) is restored once it is healthy.
// When no region is set as primary, the first active region registered becomes primary.
//
// Thread-safe: every call may be made from any thread. Probes run without holding the lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"
#include "streamgate/health/prober.hpp"

namespace streamgate::scaling {

enum class HealthStatus { kUnknown, kHealthy, kDegraded, kUnhealthy };

// "unknown", "healthy", "degraded", "unhealthy".
[[nodiscard]] std::string_view ToString(HealthStatus status);

struct Region {
  // Set by the caller at registration.
  std::string id;  // unique, non-empty
  std::string name;
  std::string location;
  std::string endpoint;  // http://, https:// or tcp:// URL that health checks probe
  int priority = 0;      // failover tie-break: lower is preferred
  bool active = true;

  // Filled in by the manager on every read; ignored at registration.
  bool primary = false;
  HealthStatus health_status = HealthStatus::kUnknown;
  std::chrono::microseconds avg_latency{0};  // mean of the probe-latency window
  std::optional<WallTime> last_health_check;
};

struct RegionMetrics {
  std::string region_id;
  HealthStatus health_status = HealthStatus::kUnknown;
  bool active = true;
  bool primary = false;

  // From RecordRequest.
  std::uint64_t total_requests = 0;
  std::uint64_t failed_requests = 0;
  double error_rate = 0.0;  // failed / total, 0 when there were none
  std::chrono::microseconds avg_request_latency{0};
  std::chrono::microseconds p99_request_latency{0};

  // From health probes and UpdateRegionLatency, over the last `latency_window` samples.
  std::chrono::microseconds avg_latency{0};
  std::chrono::microseconds p99_latency{0};
  std::chrono::microseconds last_latency{0};

  std::uint64_t health_checks = 0;
  std::uint64_t failed_health_checks = 0;
  std::uint32_t consecutive_successes = 0;
  std::uint32_t consecutive_failures = 0;
  std::uint64_t status_changes = 0;
  std::string last_probe_detail;  // "HTTP 200", "timeout", ...
  std::optional<WallTime> last_health_check;
};

struct HealthCheckOptions {
  std::chrono::milliseconds interval{30'000};
  std::chrono::milliseconds timeout{2'000};
  std::string path = "/healthz";  // for http(s) endpoints that carry no path
  std::uint32_t rise = 2;
  std::uint32_t fall = 3;
  std::chrono::milliseconds degraded_latency{1'000};  // a success slower than this is degraded
  bool failback = false;
  std::size_t latency_window = 128;  // samples kept for average and p99
};

// OK when every option is usable: interval, timeout and degraded_latency > 0, rise and fall
// >= 1, latency_window >= 1, path starting with '/'.
[[nodiscard]] Status ValidateHealthCheckOptions(const HealthCheckOptions& options);

// What one PerformHealthCheck did.
struct HealthCheckReport {
  std::size_t probed = 0;
  std::size_t healthy = 0;
  std::size_t status_changes = 0;
  std::optional<std::string> new_primary;  // set when the primary changed in this sweep
  std::chrono::microseconds duration{0};
};

// A status or primary change, with the reason, as passed to the event listener.
struct RegionEvent {
  enum class Kind { kStatusChanged, kPrimaryChanged };
  Kind kind = Kind::kStatusChanged;
  std::string region_id;  // the region whose status changed, or the new primary
  HealthStatus from = HealthStatus::kUnknown;
  HealthStatus to = HealthStatus::kUnknown;
  std::string previous_primary;  // for kPrimaryChanged ("" when there was none)
  std::string reason;
};

struct MultiRegionStats {
  std::size_t regions = 0;
  std::size_t active_regions = 0;
  std::uint64_t health_check_sweeps = 0;
  std::uint64_t failovers = 0;  // primary changes made by the manager itself
  std::uint64_t primary_changes = 0;
  std::chrono::microseconds last_sweep_duration{0};
};

class MultiRegionManager {
 public:
  // Spec form: probes over the network with the real clock and default options.
  explicit MultiRegionManager(std::chrono::milliseconds health_check_interval);
  // Full form. `clock` must outlive the manager. Throws std::invalid_argument when `options`
  // fail ValidateHealthCheckOptions or `prober` is null (construction is never on a hot path).
  MultiRegionManager(HealthCheckOptions options, std::shared_ptr<Prober> prober,
                     const Clock& clock = RealClock());
  ~MultiRegionManager();
  MultiRegionManager(const MultiRegionManager&) = delete;
  MultiRegionManager& operator=(const MultiRegionManager&) = delete;

  // Region management. Register rejects an empty or duplicate id and an invalid endpoint;
  // `region.primary == true` makes it the (preferred) primary.
  [[nodiscard]] Status RegisterRegion(Region region);
  [[nodiscard]] Result<Region> GetRegion(std::string_view region_id) const;
  [[nodiscard]] std::vector<Region> ListRegions() const;       // in registration order
  [[nodiscard]] std::vector<Region> GetActiveRegions() const;  // in registration order
  [[nodiscard]] Result<Region> GetPrimaryRegion() const;       // not_found when none
  // The region must be active; it also becomes the preferred primary for failback.
  [[nodiscard]] Status SetPrimaryRegion(std::string_view region_id);
  // Replaces the caller-set fields (name, location, endpoint, priority, active) of a registered
  // region (config reload); `region.primary` is ignored (see SetPrimaryRegion). Health, latency
  // and metrics stay, except that a new endpoint is a new target: its health becomes unknown
  // (a status event) and its probe-latency window empties. Deactivating the primary fails over
  // as DeactivateRegion does. Errors: InvalidArgument (endpoint), NotFound.
  [[nodiscard]] Status UpdateRegion(Region region);
  // Forgets a region. Removing the primary fails over first as an unhealthy primary would;
  // with no eligible region left there is no primary (a kPrimaryChanged event to ""). A sweep
  // running meanwhile drops what it probed of the region. Errors: NotFound.
  [[nodiscard]] Status RemoveRegion(std::string_view region_id);

  // Region operations. Deactivating the primary fails over at once.
  [[nodiscard]] Status ActivateRegion(std::string_view region_id);
  [[nodiscard]] Status DeactivateRegion(std::string_view region_id);
  // Adds an externally measured latency sample to the probe-latency window.
  [[nodiscard]] Status UpdateRegionLatency(std::string_view region_id,
                                           std::chrono::microseconds latency);
  [[nodiscard]] Status RecordRequest(std::string_view region_id, std::chrono::microseconds latency,
                                     bool success);

  // Metrics.
  [[nodiscard]] Result<RegionMetrics> GetRegionMetrics(std::string_view region_id) const;
  [[nodiscard]] std::map<std::string, RegionMetrics> GetAllMetrics() const;
  [[nodiscard]] MultiRegionStats GetStats() const;

  // Health checks. ShouldHealthCheck is true when `interval` has passed since the last sweep
  // started (or none ran). PerformHealthCheck probes every region concurrently, updates
  // statuses, and fails over; concurrent calls run one after the other.
  [[nodiscard]] bool ShouldHealthCheck() const;
  [[nodiscard]] Result<HealthCheckReport> PerformHealthCheck();

  // Statistics.
  [[nodiscard]] std::size_t GetRegionCount() const;
  [[nodiscard]] std::size_t GetActiveRegionCount() const;

  [[nodiscard]] const HealthCheckOptions& options() const { return options_; }

  // Called (without the manager's lock held) for every status and primary change.
  void SetEventListener(std::function<void(const RegionEvent&)> listener);

 private:
  struct State;
  HealthCheckOptions options_;
  std::shared_ptr<Prober> prober_;
  const Clock& clock_;
  std::unique_ptr<State> state_;
};

}  // namespace streamgate::scaling
