// Global load balancer: picks a backend for each request by round-robin, least-connections,
// latency, the client's geo-location or a consistent hash; tracks connections, latency and
// outcomes; health-checks backends (active) and ejects failing ones (passive outlier
// detection). Mirrors the spec's GlobalLoadBalancer.
//
// Hot path: Pick() reads an immutable snapshot of the backend set and per-backend atomics; it
// takes no lock and does not allocate. Control calls (register, update, remove, activate,
// health checks) build and publish a new snapshot. An updated or removed backend's old entry is
// retired, not freed, so a BackendHandle stays valid for the balancer's whole life.
//
// Availability: a backend takes traffic when it is active, not unhealthy by active checks and
// not ejected. When the available share of active backends falls below `panic_threshold`, the
// balancer ignores health and ejection and spreads over every active backend (logged), since
// serving from a few overloaded or possibly-fine backends beats serving from none.
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
#include "streamgate/common/random.hpp"
#include "streamgate/geo/geo_locator.hpp"
#include "streamgate/health/prober.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::scaling {

enum class LoadBalancingStrategy {
  kRoundRobin,        // "round_robin": even, smooth-weighted when weights differ
  kLeastConnections,  // "least_conn": fewest active connections per unit of weight
  kLatencyBased,      // "latency_based": lowest peak-EWMA latency x (outstanding + 1)
  kGeoLocation,       // "geo_location": the region serving the client's country/continent
  kConsistentHash,    // "consistent_hash": Maglev table over the request's hash key
};

[[nodiscard]] std::string_view ToString(LoadBalancingStrategy strategy);
[[nodiscard]] Result<LoadBalancingStrategy> ParseLoadBalancingStrategy(std::string_view name);

struct Backend {
  // Set by the caller at registration.
  std::string id;              // unique, non-empty, no '/' or whitespace
  std::string address;         // IP address or host name
  std::uint16_t port = 0;      // 1..65535
  std::string region;          // region id; geo routing groups backends by it
  std::uint32_t weight = 1;    // 1..10000
  std::string health_path;     // "" uses the balancer's health_check.path
  bool use_tcp_check = false;  // probe by TCP connect instead of HTTP GET
  bool active = true;

  // Filled in by the balancer on read; ignored at registration.
  HealthStatus health_status = HealthStatus::kUnknown;
  bool ejected = false;
  std::uint64_t connections = 0;
};

struct BackendMetrics {
  std::string backend_id;
  std::string region;
  HealthStatus health_status = HealthStatus::kUnknown;
  bool active = true;
  bool ejected = false;
  std::uint64_t connections = 0;  // in flight now
  std::uint64_t total_requests = 0;
  std::uint64_t failed_requests = 0;
  double error_rate = 0.0;
  std::chrono::microseconds avg_latency{0};   // mean over all recorded requests
  std::chrono::microseconds ewma_latency{0};  // the latency_based score's latency term
  std::uint64_t ejections = 0;
  std::uint64_t health_checks = 0;
  std::uint64_t failed_health_checks = 0;
  std::string last_probe_detail;
  std::optional<WallTime> last_health_check;
  // Request latency histogram: counts[i] = requests with latency <= bounds[i] (cumulative,
  // Prometheus-style); the last bound is +Inf.
  std::vector<std::chrono::microseconds> latency_bucket_bounds;
  std::vector<std::uint64_t> latency_bucket_counts;
  std::chrono::microseconds latency_sum{0};
};

// What a request offers the strategies that need it. geo_location without a locator, address
// or database entry, and consistent_hash with an empty key, fall back to round-robin.
struct RequestContext {
  std::string_view client_address;  // the client's IP (after trusted X-Forwarded-For)
  std::string_view hash_key;        // consistent_hash key; the proxy passes the path
};

// Passive health: consecutive failures eject a backend for a while.
struct OutlierDetectionOptions {
  bool enabled = true;
  std::uint32_t consecutive_failures = 5;
  std::chrono::milliseconds base_ejection_time{30'000};  // doubled per repeated ejection
  std::chrono::milliseconds max_ejection_time{300'000};
};

// One region's geography, for geo_location. A client goes to the region listing its country,
// else its continent, else the nearest one; if that region has no available backend, to the
// others by distance from the client. Backends of regions not listed here serve last.
struct GeoRegion {
  std::string region_id;
  std::vector<std::string> countries;   // ISO 3166-1 alpha-2, e.g. "IE"
  std::vector<std::string> continents;  // "EU", "NA", "AS", "AF", "OC", "SA", "AN"
  double latitude = 0.0;
  double longitude = 0.0;
};

struct LoadBalancerOptions {
  HealthCheckOptions health_check;
  OutlierDetectionOptions outlier_detection;
  double panic_threshold = 0.5;  // in [0, 1]; 0 disables panic mode
  std::vector<GeoRegion> geo_regions;
  std::size_t exact_scan_limit = 16;  // least_conn/latency scan all up to this many, else P2C
  std::chrono::milliseconds ewma_decay{10'000};  // latency_based: time constant of the EWMA
};

// A backend picked for one request; valid for the balancer's life. Pass it back to the
// handle-taking calls below to skip the id lookup on the hot path.
class BackendEntry;
struct BackendHandle {
  const BackendEntry* entry = nullptr;
  [[nodiscard]] const std::string& id() const;
  [[nodiscard]] const std::string& address() const;
  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] const std::string& region() const;
};

struct LoadBalancerDependencies {
  std::shared_ptr<Prober> prober;              // null: MakeNetworkProber(clock)
  const Clock* clock = nullptr;                // null: RealClock()
  std::shared_ptr<RandomSource> random;        // null: seeded from the OS
  std::shared_ptr<const geo::GeoLocator> geo;  // null: geo_location falls back to RR
};

struct LoadBalancerStats {
  std::size_t backends = 0;
  std::size_t active_backends = 0;
  std::size_t available_backends = 0;
  bool panic = false;
  std::uint64_t panic_selections = 0;
  std::uint64_t no_backend_errors = 0;
  std::uint64_t ejections = 0;  // outlier ejections over all backends
};

class GlobalLoadBalancer {
 public:
  // Spec form: network probes, real clock, default options.
  GlobalLoadBalancer(LoadBalancingStrategy strategy,
                     std::chrono::milliseconds health_check_interval);
  // Throws std::invalid_argument for invalid options (construction is not a hot path).
  GlobalLoadBalancer(LoadBalancingStrategy strategy, LoadBalancerOptions options,
                     LoadBalancerDependencies deps);
  ~GlobalLoadBalancer();
  GlobalLoadBalancer(const GlobalLoadBalancer&) = delete;
  GlobalLoadBalancer& operator=(const GlobalLoadBalancer&) = delete;

  // Backend management.
  // Rejects an empty, duplicate or malformed id ('/', whitespace, control characters, > 128
  // chars), an empty or malformed address, port 0, weight 0 or > 10000, and a health_path that
  // does not start with '/'.
  [[nodiscard]] Status RegisterBackend(Backend backend);
  // All or nothing; publishes one snapshot, so large sets (consistent_hash tables) build once.
  [[nodiscard]] Status RegisterBackends(std::vector<Backend> backends);
  // Replaces the caller-set fields of a registered backend (config reload). Its counters,
  // latency figures, connections in flight and ejection carry over; its health too unless
  // address, port, health_path or use_tcp_check changed (then it is unknown until probed).
  // Handles picked before stay valid and keep counting on the backend (connections, requests,
  // ejection), so least_conn sees in-flight requests of either form. Errors: InvalidArgument
  // as RegisterBackend, NotFound.
  [[nodiscard]] Status UpdateBackend(Backend backend);
  // The backend is no longer picked, listed, counted or probed, from this call on. Handles
  // picked before stay valid; what they record is dropped. Errors: NotFound.
  [[nodiscard]] Status RemoveBackend(std::string_view backend_id);
  [[nodiscard]] Result<Backend> GetBackend(std::string_view backend_id) const;
  [[nodiscard]] std::vector<Backend> ListBackends() const;  // registration order

  // Load balancing. The spec form returns a copy; Pick is the allocation-free hot path.
  // Errors: unavailable when no active backend exists.
  [[nodiscard]] Result<Backend> SelectBackend();
  [[nodiscard]] Result<Backend> SelectBackend(const RequestContext& context);
  [[nodiscard]] Result<BackendHandle> Pick(const RequestContext& context);
  // Like Pick, but never returns `exclude` unless it is the only choice (retries).
  [[nodiscard]] Result<BackendHandle> PickOther(const RequestContext& context,
                                                BackendHandle exclude);
  void SetStrategy(LoadBalancingStrategy strategy);
  [[nodiscard]] LoadBalancingStrategy GetStrategy() const;

  // Connection management.
  [[nodiscard]] Status IncrementConnections(std::string_view backend_id);
  [[nodiscard]] Status DecrementConnections(std::string_view backend_id);  // never below 0
  void IncrementConnections(BackendHandle backend);
  void DecrementConnections(BackendHandle backend);

  // Request tracking: feeds metrics, the latency EWMA and outlier detection.
  [[nodiscard]] Status RecordRequest(std::string_view backend_id, std::chrono::microseconds latency,
                                     bool success);
  void RecordRequest(BackendHandle backend, std::chrono::microseconds latency, bool success);

  // Backend operations.
  [[nodiscard]] Status ActivateBackend(std::string_view backend_id);
  [[nodiscard]] Status DeactivateBackend(std::string_view backend_id);

  // Metrics.
  [[nodiscard]] Result<BackendMetrics> GetBackendMetrics(std::string_view backend_id) const;
  [[nodiscard]] std::map<std::string, BackendMetrics> GetAllMetrics() const;
  [[nodiscard]] LoadBalancerStats GetStats() const;

  // Health checks (same rise/fall model as regions).
  [[nodiscard]] bool ShouldHealthCheck() const;
  [[nodiscard]] Result<HealthCheckReport> PerformHealthCheck();

  // Statistics.
  [[nodiscard]] std::size_t GetBackendCount() const;
  [[nodiscard]] std::size_t GetActiveBackendCount() const;

  [[nodiscard]] const LoadBalancerOptions& options() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace streamgate::scaling
