#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "scaling/health_state.hpp"
#include "scaling/latency_window.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::scaling {

std::string_view ToString(HealthStatus status) {
  switch (status) {
    case HealthStatus::kUnknown:
      return "unknown";
    case HealthStatus::kHealthy:
      return "healthy";
    case HealthStatus::kDegraded:
      return "degraded";
    case HealthStatus::kUnhealthy:
      return "unhealthy";
  }
  return "unknown";
}

Status ValidateHealthCheckOptions(const HealthCheckOptions& options) {
  using std::chrono::milliseconds;
  if (options.interval <= milliseconds(0))
    return InvalidArgument("health check interval must be > 0");
  if (options.timeout <= milliseconds(0))
    return InvalidArgument("health check timeout must be > 0");
  if (options.degraded_latency <= milliseconds(0)) {
    return InvalidArgument("degraded_latency must be > 0");
  }
  if (options.rise < 1) return InvalidArgument("rise must be >= 1");
  if (options.fall < 1) return InvalidArgument("fall must be >= 1");
  if (options.latency_window < 1) return InvalidArgument("latency_window must be >= 1");
  if (options.path.empty() || options.path.front() != '/') {
    return InvalidArgument("health check path must start with '/'");
  }
  return {};
}

namespace {

struct RegionState {
  RegionState(Region r, Endpoint e, std::size_t window)
      : region(std::move(r)),
        endpoint(std::move(e)),
        probe_latency(window),
        request_latency(window) {}

  Region region;  // caller-set fields only; the rest is filled on read
  Endpoint endpoint;
  // Changes when the region is registered or its endpoint changes: a sweep applies a probe
  // result only to the target it probed.
  std::uint64_t target_serial = 0;
  HealthCounters health;
  LatencyWindow probe_latency;
  LatencyWindow request_latency;
  std::chrono::microseconds last_latency{0};
  std::uint64_t total_requests = 0;
  std::uint64_t failed_requests = 0;
  std::uint64_t health_checks = 0;
  std::uint64_t failed_health_checks = 0;
  std::uint64_t status_changes = 0;
  std::string last_probe_detail;
  std::optional<WallTime> last_health_check;
};

// Transparent hashing so lookups by string_view do not allocate.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

Status ValidateRegionId(std::string_view id) {
  if (id.empty()) return InvalidArgument("region id must not be empty");
  if (id.size() > 128) return InvalidArgument("region id must be at most 128 characters");
  for (char c : id) {
    if (c == '/' || std::isspace(static_cast<unsigned char>(c)) ||
        std::iscntrl(static_cast<unsigned char>(c))) {
      return InvalidArgument(
          fmt::format("region id '{}' must not contain '/', whitespace or control characters", id));
    }
  }
  return {};
}

// Lower is better: healthy before degraded before never-probed; unhealthy is never chosen.
int StatusRank(HealthStatus status) {
  switch (status) {
    case HealthStatus::kHealthy:
      return 0;
    case HealthStatus::kDegraded:
      return 1;
    case HealthStatus::kUnknown:
      return 2;
    case HealthStatus::kUnhealthy:
      return 3;
  }
  return 3;
}

}  // namespace

struct MultiRegionManager::State {
  mutable std::shared_mutex mu;
  std::vector<std::unique_ptr<RegionState>> regions;  // registration order
  std::unordered_map<std::string, RegionState*, StringHash, std::equal_to<>> by_id;
  std::string primary_id;
  std::string preferred_primary_id;
  std::optional<MonoTime> last_sweep_start;
  std::uint64_t sweeps = 0;
  std::uint64_t failovers = 0;
  std::uint64_t primary_changes = 0;
  std::chrono::microseconds last_sweep_duration{0};
  bool reported_no_candidate = false;
  std::uint64_t next_target_serial = 1;

  std::mutex sweep_mu;  // one PerformHealthCheck at a time
  std::mutex listener_mu;
  std::function<void(const RegionEvent&)> listener;

  RegionState* Find(std::string_view id) const {
    auto it = by_id.find(id);
    return it == by_id.end() ? nullptr : it->second;
  }

  Region Snapshot(const RegionState& s) const {
    Region r = s.region;
    r.primary = (r.id == primary_id);
    r.health_status = s.health.status;
    r.avg_latency = s.probe_latency.Mean();
    r.last_health_check = s.last_health_check;
    return r;
  }

  RegionMetrics Metrics(const RegionState& s) const {
    RegionMetrics m;
    m.region_id = s.region.id;
    m.health_status = s.health.status;
    m.active = s.region.active;
    m.primary = (s.region.id == primary_id);
    m.total_requests = s.total_requests;
    m.failed_requests = s.failed_requests;
    m.error_rate = s.total_requests == 0 ? 0.0
                                         : static_cast<double>(s.failed_requests) /
                                               static_cast<double>(s.total_requests);
    m.avg_request_latency = s.request_latency.Mean();
    m.p99_request_latency = s.request_latency.Percentile(99);
    m.avg_latency = s.probe_latency.Mean();
    m.p99_latency = s.probe_latency.Percentile(99);
    m.last_latency = s.last_latency;
    m.health_checks = s.health_checks;
    m.failed_health_checks = s.failed_health_checks;
    m.consecutive_successes = s.health.consecutive_successes;
    m.consecutive_failures = s.health.consecutive_failures;
    m.status_changes = s.status_changes;
    m.last_probe_detail = s.last_probe_detail;
    m.last_health_check = s.last_health_check;
    return m;
  }

  // Makes `next` the primary (caller holds `mu` exclusively) and queues the event.
  void ChangePrimary(const std::string& next, std::string reason, bool automatic,
                     std::vector<RegionEvent>& events) {
    RegionEvent e;
    e.kind = RegionEvent::Kind::kPrimaryChanged;
    e.region_id = next;
    e.previous_primary = primary_id;
    e.reason = std::move(reason);
    primary_id = next;
    ++primary_changes;
    if (automatic) ++failovers;
    reported_no_candidate = false;
    events.push_back(std::move(e));
  }

  // The best region to take over from the current primary, or null.
  RegionState* BestCandidate() const {
    RegionState* best = nullptr;
    auto key = [](const RegionState& s) {
      return std::make_tuple(StatusRank(s.health.status), s.probe_latency.Mean(), s.region.priority,
                             std::string_view(s.region.id));
    };
    for (const auto& s : regions) {
      if (!s->region.active || s->health.status == HealthStatus::kUnhealthy) continue;
      if (s->region.id == primary_id) continue;
      if (best == nullptr || key(*s) < key(*best)) best = s.get();
    }
    return best;
  }

  // Fails over or back when policy says so (caller holds `mu` exclusively).
  void ReconsiderPrimary(bool failback, std::vector<RegionEvent>& events) {
    RegionState* primary = Find(primary_id);
    RegionState* preferred = Find(preferred_primary_id);
    if (failback && preferred != nullptr && preferred != primary && preferred->region.active &&
        preferred->health.status == HealthStatus::kHealthy) {
      ChangePrimary(preferred->region.id,
                    fmt::format("failback to preferred primary '{}'", preferred->region.id),
                    /*automatic=*/true, events);
      return;
    }
    std::string why;
    if (primary == nullptr) {
      why = "there was no primary";
    } else if (!primary->region.active) {
      why = fmt::format("primary '{}' was deactivated", primary->region.id);
    } else if (primary->health.status == HealthStatus::kUnhealthy) {
      why = fmt::format("primary '{}' is unhealthy ({} failed probes in a row, last: {})",
                        primary->region.id, primary->health.consecutive_failures,
                        primary->last_probe_detail);
    } else {
      return;  // the primary is fine
    }
    RegionState* best = BestCandidate();
    if (best == nullptr) {
      if (!reported_no_candidate && primary != nullptr) {
        spdlog::warn("region failover needed ({}) but no active region is eligible", why);
        reported_no_candidate = true;
      }
      return;
    }
    ChangePrimary(best->region.id,
                  fmt::format("{}; '{}' is {} with {}us average latency", why, best->region.id,
                              ToString(best->health.status), best->probe_latency.Mean().count()),
                  /*automatic=*/primary != nullptr, events);
  }
};

MultiRegionManager::MultiRegionManager(std::chrono::milliseconds health_check_interval)
    : MultiRegionManager(
          [&] {
            HealthCheckOptions options;
            options.interval = health_check_interval;
            return options;
          }(),
          MakeNetworkProber(RealClock()), RealClock()) {}

MultiRegionManager::MultiRegionManager(HealthCheckOptions options, std::shared_ptr<Prober> prober,
                                       const Clock& clock)
    : options_(std::move(options)),
      prober_(std::move(prober)),
      clock_(clock),
      state_(std::make_unique<State>()) {
  if (auto valid = ValidateHealthCheckOptions(options_); !valid) {
    throw std::invalid_argument(valid.error().message());
  }
  if (prober_ == nullptr) throw std::invalid_argument("MultiRegionManager needs a prober");
  // spdlog creates its registry on first use; doing that here, before any thread of ours logs,
  // keeps the (uninstrumented) lazy initialisation out of TSan's view of concurrent calls.
  (void)spdlog::default_logger_raw();
}

MultiRegionManager::~MultiRegionManager() = default;

namespace {

void Emit(std::mutex& listener_mu, const std::function<void(const RegionEvent&)>& listener,
          const std::vector<RegionEvent>& events) {
  for (const RegionEvent& e : events) {
    if (e.kind == RegionEvent::Kind::kPrimaryChanged) {
      spdlog::warn("primary region changed from '{}' to '{}': {}", e.previous_primary, e.region_id,
                   e.reason);
    } else {
      spdlog::info("region '{}' is now {} (was {}): {}", e.region_id, ToString(e.to),
                   ToString(e.from), e.reason);
    }
  }
  std::lock_guard lock(listener_mu);
  if (!listener) return;
  for (const RegionEvent& e : events) listener(e);
}

}  // namespace

Status MultiRegionManager::RegisterRegion(Region region) {
  if (auto valid = ValidateRegionId(region.id); !valid) return valid;
  auto endpoint = ParseEndpoint(region.endpoint);
  if (!endpoint) {
    return InvalidArgument(fmt::format("region '{}': invalid endpoint '{}': {}", region.id,
                                       region.endpoint, endpoint.error().message()));
  }
  if (region.name.empty()) region.name = region.id;
  const bool wants_primary = region.primary;
  // Health and latency belong to the manager; whatever the caller put there is not trusted.
  region.primary = false;
  region.health_status = HealthStatus::kUnknown;
  region.avg_latency = {};
  region.last_health_check.reset();

  std::vector<RegionEvent> events;
  {
    std::unique_lock lock(state_->mu);
    if (state_->by_id.contains(region.id)) {
      return AlreadyExists(fmt::format("region '{}' is already registered", region.id));
    }
    const std::string id = region.id;
    const bool active = region.active;
    auto s = std::make_unique<RegionState>(std::move(region), std::move(*endpoint),
                                           options_.latency_window);
    s->target_serial = state_->next_target_serial++;
    state_->by_id.emplace(id, s.get());
    state_->regions.push_back(std::move(s));
    if (wants_primary) {
      state_->preferred_primary_id = id;
      if (state_->primary_id != id) {
        state_->ChangePrimary(id, "configured as primary", /*automatic=*/false, events);
      }
    } else if (state_->primary_id.empty() && active) {
      state_->ChangePrimary(id, "first active region registered", /*automatic=*/false, events);
    }
  }
  Emit(state_->listener_mu, state_->listener, events);
  return {};
}

Result<Region> MultiRegionManager::GetRegion(std::string_view region_id) const {
  std::shared_lock lock(state_->mu);
  const RegionState* s = state_->Find(region_id);
  if (s == nullptr) return NotFound(fmt::format("region '{}' is not registered", region_id));
  return state_->Snapshot(*s);
}

std::vector<Region> MultiRegionManager::ListRegions() const {
  std::shared_lock lock(state_->mu);
  std::vector<Region> out;
  out.reserve(state_->regions.size());
  for (const auto& s : state_->regions) out.push_back(state_->Snapshot(*s));
  return out;
}

std::vector<Region> MultiRegionManager::GetActiveRegions() const {
  std::shared_lock lock(state_->mu);
  std::vector<Region> out;
  for (const auto& s : state_->regions) {
    if (s->region.active) out.push_back(state_->Snapshot(*s));
  }
  return out;
}

Result<Region> MultiRegionManager::GetPrimaryRegion() const {
  std::shared_lock lock(state_->mu);
  const RegionState* s = state_->Find(state_->primary_id);
  if (s == nullptr) return NotFound("no primary region is set");
  return state_->Snapshot(*s);
}

Status MultiRegionManager::SetPrimaryRegion(std::string_view region_id) {
  std::vector<RegionEvent> events;
  {
    std::unique_lock lock(state_->mu);
    RegionState* s = state_->Find(region_id);
    if (s == nullptr) return NotFound(fmt::format("region '{}' is not registered", region_id));
    if (!s->region.active) {
      return FailedPrecondition(
          fmt::format("region '{}' is inactive; activate it before making it primary", region_id));
    }
    state_->preferred_primary_id = s->region.id;
    if (state_->primary_id != s->region.id) {
      state_->ChangePrimary(s->region.id, "set by operator", /*automatic=*/false, events);
    }
  }
  Emit(state_->listener_mu, state_->listener, events);
  return {};
}

Status MultiRegionManager::ActivateRegion(std::string_view region_id) {
  std::vector<RegionEvent> events;
  {
    std::unique_lock lock(state_->mu);
    RegionState* s = state_->Find(region_id);
    if (s == nullptr) return NotFound(fmt::format("region '{}' is not registered", region_id));
    s->region.active = true;
    // A primary left inactive for lack of alternatives (or none at all) can now be replaced.
    state_->ReconsiderPrimary(options_.failback, events);
  }
  Emit(state_->listener_mu, state_->listener, events);
  return {};
}

Status MultiRegionManager::DeactivateRegion(std::string_view region_id) {
  std::vector<RegionEvent> events;
  {
    std::unique_lock lock(state_->mu);
    RegionState* s = state_->Find(region_id);
    if (s == nullptr) return NotFound(fmt::format("region '{}' is not registered", region_id));
    s->region.active = false;
    if (state_->primary_id == s->region.id) state_->ReconsiderPrimary(false, events);
  }
  Emit(state_->listener_mu, state_->listener, events);
  return {};
}

Status MultiRegionManager::UpdateRegion(Region region) {
  auto endpoint = ParseEndpoint(region.endpoint);
  if (!endpoint) {
    return InvalidArgument(fmt::format("region '{}': invalid endpoint '{}': {}", region.id,
                                       region.endpoint, endpoint.error().message()));
  }
  if (region.name.empty()) region.name = region.id;
  std::vector<RegionEvent> events;
  {
    std::unique_lock lock(state_->mu);
    RegionState* s = state_->Find(region.id);
    if (s == nullptr) return NotFound(fmt::format("region '{}' is not registered", region.id));
    const bool was_active = s->region.active;
    if (region.endpoint != s->region.endpoint) {
      // A different target: what was measured of the old one says nothing about it.
      const HealthStatus before = s->health.status;
      s->endpoint = std::move(*endpoint);
      s->target_serial = state_->next_target_serial++;
      s->health = HealthCounters{};
      s->probe_latency = LatencyWindow(options_.latency_window);
      s->last_latency = {};
      s->last_probe_detail.clear();
      s->last_health_check.reset();
      if (before != s->health.status) {
        ++s->status_changes;
        RegionEvent e;
        e.kind = RegionEvent::Kind::kStatusChanged;
        e.region_id = s->region.id;
        e.from = before;
        e.to = s->health.status;
        e.reason =
            fmt::format("endpoint changed from '{}' to '{}'", s->region.endpoint, region.endpoint);
        events.push_back(std::move(e));
      }
    }
    s->region.name = std::move(region.name);
    s->region.location = std::move(region.location);
    s->region.endpoint = std::move(region.endpoint);
    s->region.priority = region.priority;
    s->region.active = region.active;
    // As ActivateRegion / DeactivateRegion would.
    if (was_active && !region.active && state_->primary_id == s->region.id) {
      state_->ReconsiderPrimary(false, events);
    } else if (!was_active && region.active) {
      state_->ReconsiderPrimary(options_.failback, events);
    }
  }
  Emit(state_->listener_mu, state_->listener, events);
  return {};
}

Status MultiRegionManager::RemoveRegion(std::string_view region_id) {
  std::vector<RegionEvent> events;
  {
    std::unique_lock lock(state_->mu);
    RegionState* s = state_->Find(region_id);
    if (s == nullptr) return NotFound(fmt::format("region '{}' is not registered", region_id));
    const std::string id = s->region.id;
    if (state_->primary_id == id) {
      // The failover an unhealthy primary gets; with no eligible region there is no primary.
      const std::string why = fmt::format("primary '{}' was removed", id);
      if (RegionState* best = state_->BestCandidate(); best != nullptr) {
        state_->ChangePrimary(
            best->region.id,
            fmt::format("{}; '{}' is {} with {}us average latency", why, best->region.id,
                        ToString(best->health.status), best->probe_latency.Mean().count()),
            /*automatic=*/true, events);
      } else {
        state_->ChangePrimary("", fmt::format("{}; no active region is eligible", why),
                              /*automatic=*/false, events);
      }
    }
    if (state_->preferred_primary_id == id) state_->preferred_primary_id.clear();
    state_->by_id.erase(state_->by_id.find(id));
    std::erase_if(state_->regions, [&](const auto& r) { return r.get() == s; });
  }
  Emit(state_->listener_mu, state_->listener, events);
  return {};
}

Status MultiRegionManager::UpdateRegionLatency(std::string_view region_id,
                                               std::chrono::microseconds latency) {
  if (latency.count() < 0) return InvalidArgument("latency must not be negative");
  std::unique_lock lock(state_->mu);
  RegionState* s = state_->Find(region_id);
  if (s == nullptr) return NotFound(fmt::format("region '{}' is not registered", region_id));
  s->probe_latency.Add(latency);
  s->last_latency = latency;
  return {};
}

Status MultiRegionManager::RecordRequest(std::string_view region_id,
                                         std::chrono::microseconds latency, bool success) {
  if (latency.count() < 0) return InvalidArgument("latency must not be negative");
  std::unique_lock lock(state_->mu);
  RegionState* s = state_->Find(region_id);
  if (s == nullptr) return NotFound(fmt::format("region '{}' is not registered", region_id));
  ++s->total_requests;
  if (!success) ++s->failed_requests;
  s->request_latency.Add(latency);
  return {};
}

Result<RegionMetrics> MultiRegionManager::GetRegionMetrics(std::string_view region_id) const {
  std::shared_lock lock(state_->mu);
  const RegionState* s = state_->Find(region_id);
  if (s == nullptr) return NotFound(fmt::format("region '{}' is not registered", region_id));
  return state_->Metrics(*s);
}

std::map<std::string, RegionMetrics> MultiRegionManager::GetAllMetrics() const {
  std::shared_lock lock(state_->mu);
  std::map<std::string, RegionMetrics> out;
  for (const auto& s : state_->regions) out.emplace(s->region.id, state_->Metrics(*s));
  return out;
}

MultiRegionStats MultiRegionManager::GetStats() const {
  std::shared_lock lock(state_->mu);
  MultiRegionStats stats;
  stats.regions = state_->regions.size();
  stats.active_regions = static_cast<std::size_t>(
      std::ranges::count_if(state_->regions, [](const auto& s) { return s->region.active; }));
  stats.health_check_sweeps = state_->sweeps;
  stats.failovers = state_->failovers;
  stats.primary_changes = state_->primary_changes;
  stats.last_sweep_duration = state_->last_sweep_duration;
  return stats;
}

bool MultiRegionManager::ShouldHealthCheck() const {
  std::shared_lock lock(state_->mu);
  return !state_->last_sweep_start.has_value() ||
         clock_.Now() - *state_->last_sweep_start >= options_.interval;
}

Result<HealthCheckReport> MultiRegionManager::PerformHealthCheck() {
  std::lock_guard sweep_lock(state_->sweep_mu);
  const MonoTime started = clock_.Now();
  std::vector<std::string> ids;
  std::vector<std::uint64_t> serials;
  std::vector<Endpoint> targets;
  {
    std::unique_lock lock(state_->mu);
    state_->last_sweep_start = started;
    ids.reserve(state_->regions.size());
    serials.reserve(state_->regions.size());
    targets.reserve(state_->regions.size());
    for (const auto& s : state_->regions) {
      ids.push_back(s->region.id);
      serials.push_back(s->target_serial);
      targets.push_back(s->endpoint);
    }
  }

  ProbeOptions probe_options;
  probe_options.timeout = options_.timeout;
  probe_options.http_path = options_.path;
  // The probes run without the lock so reads and the data plane never wait on the network.
  std::vector<ProbeResult> results = prober_->ProbeAll(targets, probe_options);
  if (results.size() != targets.size()) {
    return MakeError(ErrorCode::kInternal, fmt::format("prober returned {} results for {} targets",
                                                       results.size(), targets.size()));
  }

  HealthCheckReport report;
  report.probed = targets.size();
  std::vector<RegionEvent> events;
  {
    std::unique_lock lock(state_->mu);
    const WallTime now_wall = clock_.WallNow();
    const HealthThresholds thresholds{options_.rise, options_.fall, options_.degraded_latency};
    for (std::size_t i = 0; i < ids.size(); ++i) {
      RegionState* s = state_->Find(ids[i]);
      // Removed, or its endpoint changed, while probing: the result is for a target that is gone.
      if (s == nullptr || s->target_serial != serials[i]) continue;
      const ProbeResult& r = results[i];
      ++s->health_checks;
      if (!r.ok) ++s->failed_health_checks;
      s->last_probe_detail = r.detail;
      s->last_health_check = now_wall;
      if (r.ok) {
        // Only successful probes say how fast the region answers; a refused connect is instant.
        s->probe_latency.Add(r.latency);
        s->last_latency = r.latency;
      }
      const HealthStatus before = s->health.status;
      s->health = ApplyProbe(s->health, r.ok, r.latency, thresholds);
      if (s->health.status == HealthStatus::kHealthy) ++report.healthy;
      if (s->health.status != before) {
        ++s->status_changes;
        ++report.status_changes;
        RegionEvent e;
        e.kind = RegionEvent::Kind::kStatusChanged;
        e.region_id = s->region.id;
        e.from = before;
        e.to = s->health.status;
        e.reason =
            r.ok ? fmt::format("{} in {}us", r.detail, r.latency.count())
                 : fmt::format("{} ({} failed in a row)", r.detail, s->health.consecutive_failures);
        events.push_back(std::move(e));
      }
    }
    const std::string primary_before = state_->primary_id;
    state_->ReconsiderPrimary(options_.failback, events);
    if (state_->primary_id != primary_before) report.new_primary = state_->primary_id;
    ++state_->sweeps;
    report.duration = std::chrono::duration_cast<std::chrono::microseconds>(clock_.Now() - started);
    state_->last_sweep_duration = report.duration;
  }
  Emit(state_->listener_mu, state_->listener, events);
  return report;
}

std::size_t MultiRegionManager::GetRegionCount() const {
  std::shared_lock lock(state_->mu);
  return state_->regions.size();
}

std::size_t MultiRegionManager::GetActiveRegionCount() const {
  std::shared_lock lock(state_->mu);
  return static_cast<std::size_t>(
      std::ranges::count_if(state_->regions, [](const auto& s) { return s->region.active; }));
}

void MultiRegionManager::SetEventListener(std::function<void(const RegionEvent&)> listener) {
  std::lock_guard lock(state_->listener_mu);
  state_->listener = std::move(listener);
}

}  // namespace streamgate::scaling
