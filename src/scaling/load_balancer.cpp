#include "streamgate/scaling/load_balancer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cctype>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "scaling/health_state.hpp"
#include "scaling/load_balancer_tables.hpp"

namespace streamgate::scaling {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

// Availability bits of a backend; a backend takes traffic only when none is set.
constexpr std::uint8_t kInactive = 1;
constexpr std::uint8_t kUnhealthy = 2;
constexpr std::uint8_t kEjected = 4;
// Removed or replaced (with kInactive, so it leaves the counts and is never picked again).
constexpr std::uint8_t kRetired = 8;

constexpr std::size_t kMaxIdLength = 128;
constexpr std::uint32_t kMaxWeight = 10'000;

// Prometheus-style upper bounds in microseconds; the last bucket (+Inf) is implicit.
constexpr std::array<std::int64_t, 12> kBucketBounds = {1'000,   2'500,     5'000,     10'000,
                                                        25'000,  50'000,    100'000,   250'000,
                                                        500'000, 1'000'000, 2'500'000, 5'000'000};
constexpr std::size_t kBucketCount = kBucketBounds.size() + 1;

std::size_t BucketFor(std::int64_t latency_us) {
  for (std::size_t i = 0; i < kBucketBounds.size(); ++i) {
    if (latency_us <= kBucketBounds[i]) return i;
  }
  return kBucketBounds.size();
}

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

// What a backend has measured. Shared by every entry the backend has had: UpdateBackend
// replaces the entry, not the history, so handles to a retired entry still count connections
// and requests where the current entry (and least_conn) sees them.
struct BackendStats {
  // Read by picks.
  std::atomic<std::uint64_t> connections{0};
  std::atomic<double> ewma_us{-1.0};  // < 0: no request measured yet
  std::atomic<std::int64_t> ejected_until_ns{0};

  // Written per recorded request.
  alignas(64) std::atomic<std::int64_t> ewma_stamp_ns{0};
  std::atomic<std::uint32_t> consecutive_failures{0};
  std::atomic<std::uint64_t> total_requests{0};
  std::atomic<std::uint64_t> failed_requests{0};
  std::atomic<std::uint64_t> latency_sum_us{0};
  std::atomic<std::uint64_t> ejections{0};
  std::array<std::atomic<std::uint64_t>, kBucketCount> buckets{};
};

// One registered backend. Never freed before the balancer, so snapshots and handles hold raw
// pointers: UpdateBackend and RemoveBackend retire an entry (kRetired, kept to the end) instead
// of freeing it. Configuration is immutable; everything else is atomic or guarded by State::mu
// (health-check bookkeeping only).
class BackendEntry {
 public:
  // `shared` is the stats of the entry this one replaces; null for a new backend.
  BackendEntry(Backend b, Endpoint target, BackendStats* shared)
      : config(std::move(b)),
        probe_target(std::move(target)),
        weight(config.weight),
        stats(shared != nullptr ? shared : &own_stats) {}

  const Backend config;  // caller-set fields only
  const Endpoint probe_target;

  // Read by every pick: kept together on one cache line.
  alignas(64) const std::uint32_t weight;
  std::atomic<std::uint8_t> flags{kInactive};
  BackendStats* const stats;
  // The entry that replaced this one (UpdateBackend): outlier ejection through an old handle
  // lands there. Null while current, and for a removed backend.
  std::atomic<BackendEntry*> successor{nullptr};
  std::atomic<HealthStatus> health_status{HealthStatus::kUnknown};

  // Guarded by State::mu.
  HealthCounters health;
  std::uint64_t health_checks = 0;
  std::uint64_t failed_health_checks = 0;
  std::string last_probe_detail;
  std::optional<WallTime> last_health_check;

  BackendStats own_stats;  // `stats` of the backend's first entry
};

const std::string& BackendHandle::id() const { return entry->config.id; }
const std::string& BackendHandle::address() const { return entry->config.address; }
std::uint16_t BackendHandle::port() const { return entry->config.port; }
const std::string& BackendHandle::region() const { return entry->config.region; }

std::string_view ToString(LoadBalancingStrategy strategy) {
  switch (strategy) {
    case LoadBalancingStrategy::kRoundRobin:
      return "round_robin";
    case LoadBalancingStrategy::kLeastConnections:
      return "least_conn";
    case LoadBalancingStrategy::kLatencyBased:
      return "latency_based";
    case LoadBalancingStrategy::kGeoLocation:
      return "geo_location";
    case LoadBalancingStrategy::kConsistentHash:
      return "consistent_hash";
  }
  return "round_robin";
}

Result<LoadBalancingStrategy> ParseLoadBalancingStrategy(std::string_view name) {
  for (auto s : {LoadBalancingStrategy::kRoundRobin, LoadBalancingStrategy::kLeastConnections,
                 LoadBalancingStrategy::kLatencyBased, LoadBalancingStrategy::kGeoLocation,
                 LoadBalancingStrategy::kConsistentHash}) {
    if (ToString(s) == name) return s;
  }
  return InvalidArgument(fmt::format(
      "unknown load balancing strategy '{}' (expected round_robin, least_conn, latency_based, "
      "geo_location or consistent_hash)",
      name));
}

namespace {

// A region's backends for geo_location; indexes are into Snapshot::active.
struct GeoGroup {
  std::string_view region_id;
  bool has_position = false;
  lb::UnitVector position;
  std::vector<std::uint32_t> schedule;
};

// What a pick reads: built under State::mu, published whole, never changed afterwards (the
// cursors are the only mutable part).
struct Snapshot {
  LoadBalancingStrategy strategy = LoadBalancingStrategy::kRoundRobin;
  std::unordered_map<std::string_view, BackendEntry*> by_id;  // every registered backend
  std::vector<BackendEntry*> active;                          // registration order
  std::vector<std::uint32_t> schedule;                        // SWRR over `active`
  std::vector<std::uint32_t> maglev;                          // consistent_hash only
  std::vector<GeoGroup> geo_groups;                           // geo_location only
  std::vector<std::vector<std::uint16_t>> by_country;         // country -> geo_groups
  std::vector<std::vector<std::uint16_t>> by_continent;       // continent -> geo_groups
  std::unique_ptr<std::atomic<std::uint64_t>[]> geo_cursors;
};

// Per-thread view of one balancer's snapshot, so a pick costs no shared_ptr refcount traffic.
// `owner` is a process-unique balancer id (not `this`, which a later balancer may reuse).
struct ThreadCache {
  std::uint64_t owner = 0;
  std::uint64_t version = 0;
  std::shared_ptr<const Snapshot> snapshot;
  std::uint64_t rng = 0;  // splitmix64 state, seeded from the balancer's RandomSource
};
thread_local ThreadCache t_cache;

std::atomic<std::uint64_t> g_next_instance_id{1};

std::uint64_t NextRandom(ThreadCache& tc) {
  std::uint64_t z = (tc.rng += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Uniform in [0, n) without a division (Lemire's multiply-shift).
std::size_t RandomBelow(ThreadCache& tc, std::size_t n) {
  return static_cast<std::size_t>(((NextRandom(tc) >> 32) * static_cast<std::uint64_t>(n)) >> 32);
}

Status ValidateBackend(const Backend& b) {
  if (b.id.empty()) return InvalidArgument("backend id must not be empty");
  if (b.id.size() > kMaxIdLength) {
    return InvalidArgument(fmt::format("backend id must be at most {} characters", kMaxIdLength));
  }
  for (char c : b.id) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || std::isspace(u) || std::iscntrl(u)) {
      return InvalidArgument(fmt::format(
          "backend id '{}' must not contain '/', whitespace or control characters", b.id));
    }
  }
  if (b.address.empty()) return InvalidArgument(fmt::format("backend '{}': empty address", b.id));
  for (char c : b.address) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isspace(u) || std::iscntrl(u) || c == '/' || c == '@' || c == '?' || c == '#' ||
        c == '[' || c == ']') {
      return InvalidArgument(fmt::format("backend '{}': invalid address '{}'", b.id, b.address));
    }
  }
  if (b.port == 0) return InvalidArgument(fmt::format("backend '{}': port must be 1..65535", b.id));
  if (b.weight == 0 || b.weight > kMaxWeight) {
    return InvalidArgument(
        fmt::format("backend '{}': weight {} is outside 1..{}", b.id, b.weight, kMaxWeight));
  }
  if (!b.health_path.empty() && b.health_path.front() != '/') {
    return InvalidArgument(
        fmt::format("backend '{}': health_path '{}' must start with '/'", b.id, b.health_path));
  }
  for (char c : b.health_path) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isspace(u) || std::iscntrl(u) || c == '#') {
      return InvalidArgument(
          fmt::format("backend '{}': invalid health_path '{}'", b.id, b.health_path));
    }
  }
  return {};
}

void ValidateOptions(const LoadBalancerOptions& o) {
  if (auto valid = ValidateHealthCheckOptions(o.health_check); !valid) {
    throw std::invalid_argument(valid.error().message());
  }
  const auto& od = o.outlier_detection;
  if (od.enabled) {
    if (od.consecutive_failures < 1) {
      throw std::invalid_argument("outlier_detection.consecutive_failures must be >= 1");
    }
    if (od.base_ejection_time <= milliseconds(0)) {
      throw std::invalid_argument("outlier_detection.base_ejection_time must be > 0");
    }
    if (od.max_ejection_time < od.base_ejection_time) {
      throw std::invalid_argument(
          "outlier_detection.max_ejection_time must be >= base_ejection_time");
    }
  }
  if (!(o.panic_threshold >= 0.0 && o.panic_threshold <= 1.0)) {
    throw std::invalid_argument("panic_threshold must be in [0, 1]");
  }
  if (o.ewma_decay <= milliseconds(0)) throw std::invalid_argument("ewma_decay must be > 0");
  std::unordered_set<std::string_view> ids;
  for (const GeoRegion& r : o.geo_regions) {
    if (r.region_id.empty()) throw std::invalid_argument("geo region id must not be empty");
    if (!ids.insert(r.region_id).second) {
      throw std::invalid_argument(fmt::format("geo region '{}' is listed twice", r.region_id));
    }
    if (!(r.latitude >= -90.0 && r.latitude <= 90.0) ||
        !(r.longitude >= -180.0 && r.longitude <= 180.0)) {
      throw std::invalid_argument(
          fmt::format("geo region '{}': latitude/longitude out of range", r.region_id));
    }
    for (const auto& c : r.countries) {
      if (!lb::CountryIndex(c)) {
        throw std::invalid_argument(fmt::format(
            "geo region '{}': country '{}' is not an upper-case ISO 3166-1 alpha-2 code",
            r.region_id, c));
      }
    }
    for (const auto& c : r.continents) {
      if (!lb::ContinentIndex(c)) {
        throw std::invalid_argument(
            fmt::format("geo region '{}': unknown continent '{}' (AF, AN, AS, EU, NA, OC, SA)",
                        r.region_id, c));
      }
    }
  }
}

}  // namespace

struct GlobalLoadBalancer::State {
  LoadBalancerOptions options;
  std::shared_ptr<Prober> prober;
  const Clock* clock = nullptr;
  std::shared_ptr<RandomSource> random;
  std::shared_ptr<const geo::GeoLocator> geo;
  const std::uint64_t instance_id = g_next_instance_id.fetch_add(1);
  std::atomic<LoadBalancingStrategy> strategy{LoadBalancingStrategy::kRoundRobin};

  // Control plane: the entry list, id index and health bookkeeping.
  mutable std::mutex mu;
  std::vector<std::unique_ptr<BackendEntry>> entries;  // registration order
  // Entries replaced or removed: kept until the balancer dies, since handles and snapshots
  // still in use point at them.
  std::vector<std::unique_ptr<BackendEntry>> retired;
  std::unordered_map<std::string, BackendEntry*, StringHash, std::equal_to<>> by_id;
  std::optional<MonoTime> last_sweep_start;
  std::mutex sweep_mu;  // one PerformHealthCheck at a time

  // Publication: `current` changes only with `version`, both under publish_mu.
  mutable std::mutex publish_mu;
  std::shared_ptr<const Snapshot> current;
  alignas(64) std::atomic<std::uint64_t> version{0};

  alignas(64) std::atomic<std::uint64_t> rr_cursor{0};

  // Counts of active and available backends, kept by UpdateFlags, for the O(1) panic test.
  alignas(64) std::atomic<std::int64_t> active_count{0};
  std::atomic<std::int64_t> available_count{0};
  std::atomic<bool> in_panic{false};

  alignas(64) std::atomic<std::uint64_t> panic_selections{0};
  std::atomic<std::uint64_t> no_backend_errors{0};
  std::atomic<std::uint64_t> total_ejections{0};

  [[nodiscard]] std::int64_t NowNs() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock->Now().time_since_epoch())
        .count();
  }

  // Sets/clears availability bits; returns the bits before. Counters move by the exact
  // old->new difference of this CAS, so they never drift under concurrent updates.
  std::uint8_t UpdateFlags(BackendEntry& e, std::uint8_t set, std::uint8_t clear) {
    std::uint8_t old = e.flags.load(std::memory_order_relaxed);
    std::uint8_t next = 0;
    do {
      next = static_cast<std::uint8_t>((old | set) & ~clear);
    } while (!e.flags.compare_exchange_weak(old, next, std::memory_order_acq_rel,
                                            std::memory_order_relaxed));
    if (old != next) {
      const int active_delta = int{(next & kInactive) == 0} - int{(old & kInactive) == 0};
      const int available_delta = int{next == 0} - int{old == 0};
      if (active_delta != 0) active_count.fetch_add(active_delta, std::memory_order_relaxed);
      if (available_delta != 0) {
        available_count.fetch_add(available_delta, std::memory_order_relaxed);
      }
    }
    return old;
  }

  // An ejected backend returns once its time is up; checked lazily by whoever looks at it.
  bool TryReturnFromEjection(BackendEntry& e) {
    if (NowNs() < e.stats->ejected_until_ns.load(std::memory_order_relaxed)) return false;
    const std::uint8_t old = UpdateFlags(e, 0, kEjected);
    if ((old & kEjected) != 0) {
      e.stats->consecutive_failures.store(0, std::memory_order_relaxed);
      spdlog::info("backend '{}' returns from outlier ejection", e.config.id);
    }
    return e.flags.load(std::memory_order_acquire) == 0;
  }

  void Eject(BackendEntry& e, std::uint32_t failures) {
    const auto& od = options.outlier_detection;
    const std::uint64_t prior = e.stats->ejections.fetch_add(1, std::memory_order_relaxed);
    auto duration = od.max_ejection_time;
    if (prior < 32) {
      const auto doubled = od.base_ejection_time * (std::int64_t{1} << prior);
      if (doubled < od.max_ejection_time) duration = doubled;
    }
    e.stats->ejected_until_ns.store(
        NowNs() + std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count(),
        std::memory_order_relaxed);
    UpdateFlags(e, kEjected, 0);
    // Counting restarts: after it returns, `consecutive_failures` new failures eject again.
    e.stats->consecutive_failures.store(0, std::memory_order_relaxed);
    total_ejections.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("backend '{}' ejected for {}ms: {} consecutive failed requests (ejection #{})",
                 e.config.id, duration.count(), failures, prior + 1);
  }

  bool CheckPanic() {
    if (options.panic_threshold <= 0.0) return false;
    const auto active = active_count.load(std::memory_order_relaxed);
    const auto available = available_count.load(std::memory_order_relaxed);
    const bool panic = active > 0 && static_cast<double>(available) <
                                         options.panic_threshold * static_cast<double>(active);
    if (panic != in_panic.load(std::memory_order_relaxed) &&
        in_panic.exchange(panic, std::memory_order_relaxed) != panic) {
      if (panic) {
        spdlog::warn(
            "load balancer entering panic mode: {} of {} active backends available "
            "(threshold {}); spreading over all active backends",
            available, active, options.panic_threshold);
      } else {
        spdlog::info("load balancer leaving panic mode: {} of {} active backends available",
                     available, active);
      }
    }
    return panic;
  }

  ThreadCache& Cache() {
    ThreadCache& tc = t_cache;
    const std::uint64_t v = version.load(std::memory_order_acquire);
    if (tc.owner != instance_id || tc.version != v) [[unlikely]] {
      Refresh(tc);
    }
    return tc;
  }

  void Refresh(ThreadCache& tc) {
    if (tc.owner != instance_id) {
      tc.rng = random->NextSeed();
      tc.owner = instance_id;
    }
    std::lock_guard lock(publish_mu);
    tc.snapshot = current;
    tc.version = version.load(std::memory_order_relaxed);
  }

  // Builds and publishes a snapshot of the current entries (caller holds `mu`).
  void Publish() {
    auto s = std::make_shared<Snapshot>();
    s->strategy = strategy.load();
    s->by_id.reserve(entries.size());
    std::vector<std::uint32_t> weights;
    for (const auto& e : entries) {
      s->by_id.emplace(e->config.id, e.get());
      if ((e->flags.load() & kInactive) == 0) {
        s->active.push_back(e.get());
        weights.push_back(e->weight);
      }
    }
    s->schedule = lb::BuildSmoothSchedule(weights);
    if (s->strategy == LoadBalancingStrategy::kConsistentHash && !s->active.empty()) {
      std::vector<std::string_view> ids;
      ids.reserve(s->active.size());
      for (const BackendEntry* e : s->active) ids.push_back(e->config.id);
      s->maglev = lb::BuildMaglevTable(ids, weights, lb::MaglevTableSize(ids.size()));
    }
    if (s->strategy == LoadBalancingStrategy::kGeoLocation) BuildGeo(*s);
    std::lock_guard lock(publish_mu);
    current = std::move(s);
    version.fetch_add(1, std::memory_order_release);
  }

  void BuildGeo(Snapshot& s) const {
    std::unordered_map<std::string_view, std::size_t> group_of;
    s.by_country.assign(lb::kCountrySlots, {});
    s.by_continent.assign(lb::kContinentSlots, {});
    for (const GeoRegion& r : options.geo_regions) {
      const auto g = static_cast<std::uint16_t>(s.geo_groups.size());
      group_of.emplace(r.region_id, g);
      s.geo_groups.push_back(
          GeoGroup{r.region_id, true, lb::ToUnitVector(r.latitude, r.longitude), {}});
      for (const auto& c : r.countries) s.by_country[*lb::CountryIndex(c)].push_back(g);
      for (const auto& c : r.continents) s.by_continent[*lb::ContinentIndex(c)].push_back(g);
    }
    std::vector<std::vector<std::uint32_t>> members;
    members.resize(s.geo_groups.size());
    for (std::size_t i = 0; i < s.active.size(); ++i) {
      const std::string_view region = s.active[i]->config.region;
      auto [it, added] = group_of.emplace(region, s.geo_groups.size());
      // Regions without geography are reached only by failover, after every located region.
      if (added) {
        s.geo_groups.push_back(GeoGroup{region, false, {}, {}});
        members.emplace_back();
      }
      members[it->second].push_back(static_cast<std::uint32_t>(i));
    }
    for (std::size_t g = 0; g < s.geo_groups.size(); ++g) {
      std::vector<std::uint32_t> weights;
      for (std::uint32_t i : members[g]) weights.push_back(s.active[i]->weight);
      for (std::uint32_t pos : lb::BuildSmoothSchedule(weights)) {
        s.geo_groups[g].schedule.push_back(members[g][pos]);
      }
    }
    s.geo_cursors = std::make_unique<std::atomic<std::uint64_t>[]>(s.geo_groups.size());
  }

  // A new entry (inactive, not in the counts yet) for a validated backend; `shared` is the
  // stats of the entry it replaces, null for a new backend. Caller holds `mu`.
  std::unique_ptr<BackendEntry> MakeEntry(Backend b, BackendStats* shared) const {
    Endpoint target;
    target.scheme = b.use_tcp_check ? EndpointScheme::kTcp : EndpointScheme::kHttp;
    target.host = b.address;
    target.port = b.port;
    if (!b.use_tcp_check) {
      target.path = b.health_path.empty() ? options.health_check.path : b.health_path;
    }
    // Only caller-set fields are kept; status fields are the balancer's.
    b.active = true;
    b.health_status = HealthStatus::kUnknown;
    b.ejected = false;
    b.connections = 0;
    return std::make_unique<BackendEntry>(std::move(b), std::move(target), shared);
  }

  BackendEntry* FindEntry(std::string_view id) const {
    auto it = by_id.find(id);
    return it == by_id.end() ? nullptr : it->second;
  }

  // Same lookup without `mu`, through the published snapshot (data-plane calls by id).
  BackendEntry* FindFast(std::string_view id) {
    const Snapshot& s = *Cache().snapshot;
    auto it = s.by_id.find(id);
    return it == s.by_id.end() ? nullptr : it->second;
  }

  Backend ToBackend(BackendEntry& e) {
    Backend b = e.config;
    const std::uint8_t f = e.flags.load();
    if ((f & kEjected) != 0) TryReturnFromEjection(e);
    b.active = (e.flags.load() & kInactive) == 0;
    b.health_status = e.health_status.load();
    b.ejected = (e.flags.load() & kEjected) != 0;
    b.connections = e.stats->connections.load();
    return b;
  }

  BackendMetrics Metrics(BackendEntry& e) {
    if ((e.flags.load() & kEjected) != 0) TryReturnFromEjection(e);
    BackendMetrics m;
    m.backend_id = e.config.id;
    m.region = e.config.region;
    m.health_status = e.health_status.load();
    const std::uint8_t f = e.flags.load();
    m.active = (f & kInactive) == 0;
    m.ejected = (f & kEjected) != 0;
    m.connections = e.stats->connections.load();
    m.total_requests = e.stats->total_requests.load();
    m.failed_requests = e.stats->failed_requests.load();
    m.error_rate = m.total_requests == 0 ? 0.0
                                         : static_cast<double>(m.failed_requests) /
                                               static_cast<double>(m.total_requests);
    const std::uint64_t sum = e.stats->latency_sum_us.load();
    m.latency_sum = microseconds(static_cast<std::int64_t>(sum));
    m.avg_latency = m.total_requests == 0
                        ? microseconds(0)
                        : microseconds(static_cast<std::int64_t>(sum / m.total_requests));
    m.ewma_latency = microseconds(std::llround(std::max(0.0, e.stats->ewma_us.load())));
    m.ejections = e.stats->ejections.load();
    m.health_checks = e.health_checks;
    m.failed_health_checks = e.failed_health_checks;
    m.last_probe_detail = e.last_probe_detail;
    m.last_health_check = e.last_health_check;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBucketCount; ++i) {
      cumulative += e.stats->buckets[i].load();
      m.latency_bucket_bounds.push_back(i < kBucketBounds.size() ? microseconds(kBucketBounds[i])
                                                                 : microseconds::max());
      m.latency_bucket_counts.push_back(cumulative);
    }
    return m;
  }

  // --- Strategies. `usable(e)` says whether e may take this request. ---

  template <typename Usable>
  static BackendEntry* PickScheduled(const std::vector<BackendEntry*>& active,
                                     const std::vector<std::uint32_t>& schedule,
                                     std::atomic<std::uint64_t>& cursor, Usable&& usable) {
    const std::size_t len = schedule.size();
    if (len == 0) return nullptr;
    std::size_t pos =
        static_cast<std::size_t>(cursor.fetch_add(1, std::memory_order_relaxed) % len);
    for (std::size_t i = 0; i < len; ++i) {
      BackendEntry* e = active[schedule[pos]];
      if (usable(e)) return e;
      if (++pos == len) pos = 0;
    }
    return nullptr;
  }

  // The first usable entry at or after `start` (wrapping), other than `skip`.
  template <typename Usable>
  static BackendEntry* ProbeFrom(const std::vector<BackendEntry*>& active, std::size_t start,
                                 const BackendEntry* skip, Usable& usable) {
    const std::size_t n = active.size();
    for (std::size_t i = 0; i < n; ++i) {
      BackendEntry* e = active[start];
      if (e != skip && usable(e)) return e;
      if (++start == n) start = 0;
    }
    return nullptr;
  }

  // Exact scan (from a random start so ties spread) up to exact_scan_limit backends, else
  // power of two choices. `better(a, b)` is a strict order; `prepare` sees the candidates.
  template <typename Usable, typename Better>
  BackendEntry* PickByLoad(ThreadCache& tc, const Snapshot& s, Usable& usable,
                           Better&& better) const {
    const std::size_t n = s.active.size();
    if (n <= std::max<std::size_t>(options.exact_scan_limit, 2)) {
      std::size_t pos = RandomBelow(tc, n);
      BackendEntry* best = nullptr;
      for (std::size_t i = 0; i < n; ++i) {
        BackendEntry* e = s.active[pos];
        if (usable(e) && (best == nullptr || better(*e, *best))) best = e;
        if (++pos == n) pos = 0;
      }
      return best;
    }
    const std::size_t i = RandomBelow(tc, n);
    std::size_t j = RandomBelow(tc, n - 1);
    if (j >= i) ++j;
    BackendEntry* a = ProbeFrom(s.active, i, nullptr, usable);
    if (a == nullptr) return nullptr;
    BackendEntry* b = ProbeFrom(s.active, j, a, usable);
    if (b == nullptr) return a;
    return better(*b, *a) ? b : a;
  }

  template <typename Usable>
  BackendEntry* PickLeastConn(ThreadCache& tc, const Snapshot& s, Usable& usable) const {
    // (connections + 1) / weight, compared by cross-multiplying; equal weights order by
    // connections alone, and weights still matter when everything is idle.
    return PickByLoad(tc, s, usable, [](const BackendEntry& a, const BackendEntry& b) {
      const std::uint64_t ca = a.stats->connections.load(std::memory_order_relaxed) + 1;
      const std::uint64_t cb = b.stats->connections.load(std::memory_order_relaxed) + 1;
      return ca * b.weight < cb * a.weight;
    });
  }

  template <typename Usable>
  BackendEntry* PickLatency(ThreadCache& tc, const Snapshot& s, Usable& usable) const {
    // Unmeasured backends borrow the best measured EWMA among the candidates (optimistic), so
    // they get probed but not flooded: their outstanding count still raises their score.
    double neutral = -1.0;
    const std::size_t n = s.active.size();
    if (n <= std::max<std::size_t>(options.exact_scan_limit, 2)) {
      for (BackendEntry* e : s.active) {
        const double ew = e->stats->ewma_us.load(std::memory_order_relaxed);
        if (ew >= 0.0 && (neutral < 0.0 || ew < neutral) && usable(e)) neutral = ew;
      }
    }
    auto score = [&neutral](const BackendEntry& e, double fallback) {
      double ew = e.stats->ewma_us.load(std::memory_order_relaxed);
      if (ew < 0.0) ew = neutral >= 0.0 ? neutral : fallback;
      const auto outstanding = e.stats->connections.load(std::memory_order_relaxed);
      return ew * static_cast<double>(outstanding + 1) / static_cast<double>(e.weight);
    };
    return PickByLoad(tc, s, usable, [&score](const BackendEntry& a, const BackendEntry& b) {
      // Under P2C an unmeasured candidate borrows the other's EWMA (1us when neither has one).
      const double ea = a.stats->ewma_us.load(std::memory_order_relaxed);
      const double eb = b.stats->ewma_us.load(std::memory_order_relaxed);
      const double fa = eb >= 0.0 ? eb : 1.0;
      const double fb = ea >= 0.0 ? ea : 1.0;
      return score(a, fa) < score(b, fb);
    });
  }

  template <typename Usable>
  BackendEntry* PickGeo(const Snapshot& s, const RequestContext& ctx, Usable& usable) {
    auto round_robin = [&] { return PickScheduled(s.active, s.schedule, rr_cursor, usable); };
    if (geo == nullptr || ctx.client_address.empty() || s.geo_groups.empty()) {
      return round_robin();
    }
    const std::optional<geo::GeoLocation> where = geo->Lookup(ctx.client_address);
    if (!where) return round_robin();
    std::optional<lb::UnitVector> client;
    if (where->latitude && where->longitude) {
      client = lb::ToUnitVector(*where->latitude, *where->longitude);
    }
    const auto& groups = s.geo_groups;
    auto closeness = [&](const lb::UnitVector& origin, std::size_t g) {
      return groups[g].has_position ? groups[g].position.Dot(origin) : -3.0;
    };
    // Among matching regions, the nearest to the client (config order without coordinates).
    auto choose = [&](const std::vector<std::uint16_t>& list) -> std::optional<std::size_t> {
      if (list.empty()) return std::nullopt;
      std::size_t best = list.front();
      if (client) {
        for (std::uint16_t g : list) {
          if (closeness(*client, g) > closeness(*client, best)) best = g;
        }
      }
      return best;
    };
    std::optional<std::size_t> first;
    if (auto c = lb::CountryIndex(where->country)) first = choose(s.by_country[*c]);
    if (!first) {
      if (auto c = lb::ContinentIndex(where->continent)) first = choose(s.by_continent[*c]);
    }
    if (!first && client) {
      std::size_t best = 0;
      for (std::size_t g = 1; g < groups.size(); ++g) {
        if (closeness(*client, g) > closeness(*client, best)) best = g;
      }
      first = best;
    }
    if (!first) return round_robin();  // nothing known about where the client is
    auto try_group = [&](std::size_t g) {
      return PickScheduled(s.active, groups[g].schedule, s.geo_cursors[g], usable);
    };
    if (BackendEntry* e = try_group(*first)) return e;

    // Failover: the other regions by distance from the client (or from the first region).
    std::optional<lb::UnitVector> origin = client;
    if (!origin && groups[*first].has_position) origin = groups[*first].position;
    if (!origin) {
      for (std::size_t g = 0; g < groups.size(); ++g) {
        if (g == *first) continue;
        if (BackendEntry* e = try_group(g)) return e;
      }
      return nullptr;
    }
    // Selection without scratch memory: each step takes the closest region strictly after the
    // previous one in (closeness desc, index asc) order.
    double last_close = 4.0;
    std::size_t last_index = 0;
    for (std::size_t step = 1; step < groups.size(); ++step) {
      std::optional<std::size_t> next;
      double next_close = -4.0;
      for (std::size_t g = 0; g < groups.size(); ++g) {
        if (g == *first) continue;
        const double c = closeness(*origin, g);
        const bool after_last = c < last_close || (c == last_close && g > last_index);
        if (after_last && (!next || c > next_close)) {
          next = g;
          next_close = c;
        }
      }
      if (!next) break;
      if (BackendEntry* e = try_group(*next)) return e;
      last_close = next_close;
      last_index = *next;
    }
    return nullptr;
  }

  template <typename Usable>
  BackendEntry* PickHash(const Snapshot& s, const RequestContext& ctx, Usable& usable) {
    if (ctx.hash_key.empty() || s.maglev.empty()) {
      // No key to be consistent about: spread evenly instead of piling onto one backend.
      return PickScheduled(s.active, s.schedule, rr_cursor, usable);
    }
    const std::size_t size = s.maglev.size();
    std::size_t slot = static_cast<std::size_t>(lb::HashKey(ctx.hash_key) % size);
    for (std::size_t i = 0; i < size; ++i) {
      BackendEntry* e = s.active[s.maglev[slot]];
      if (usable(e)) return e;
      if (++slot == size) slot = 0;
    }
    return nullptr;
  }

  BackendEntry* Choose(ThreadCache& tc, const Snapshot& s, const RequestContext& ctx,
                       const BackendEntry* exclude, bool panic) {
    auto usable = [this, exclude, panic](BackendEntry* e) {
      if (e == exclude) return false;
      const std::uint8_t f = e->flags.load(std::memory_order_acquire);
      if (f == 0) return true;
      if (panic) return (f & kInactive) == 0;
      return f == kEjected && TryReturnFromEjection(*e);
    };
    switch (s.strategy) {
      case LoadBalancingStrategy::kRoundRobin:
        return PickScheduled(s.active, s.schedule, rr_cursor, usable);
      case LoadBalancingStrategy::kLeastConnections:
        return PickLeastConn(tc, s, usable);
      case LoadBalancingStrategy::kLatencyBased:
        return PickLatency(tc, s, usable);
      case LoadBalancingStrategy::kGeoLocation:
        return PickGeo(s, ctx, usable);
      case LoadBalancingStrategy::kConsistentHash:
        return PickHash(s, ctx, usable);
    }
    return nullptr;
  }

  Result<BackendHandle> PickImpl(const RequestContext& ctx, const BackendEntry* exclude) {
    try {
      ThreadCache& tc = Cache();
      const Snapshot& s = *tc.snapshot;
      BackendEntry* e = nullptr;
      bool panic = false;
      if (!s.active.empty()) {
        panic = CheckPanic();
        e = Choose(tc, s, ctx, exclude, panic);
        if (e == nullptr && exclude != nullptr) e = Choose(tc, s, ctx, nullptr, panic);
      }
      if (e == nullptr) {
        no_backend_errors.fetch_add(1, std::memory_order_relaxed);
        return MakeError(ErrorCode::kUnavailable, "no backend available");
      }
      if (panic) {
        panic_selections.fetch_add(1, std::memory_order_relaxed);
        // Ejections still expire while panic ignores them, so panic can end.
        if ((e->flags.load(std::memory_order_relaxed) & kEjected) != 0) TryReturnFromEjection(*e);
      }
      return BackendHandle{e};
    } catch (const std::exception& ex) {
      // Only allocation or a throwing GeoLocator can get here; the data plane never throws.
      return MakeError(ErrorCode::kInternal, fmt::format("pick failed: {}", ex.what()));
    }
  }

  void Record(BackendEntry& e, microseconds latency, bool success) {
    const std::int64_t us = std::max<std::int64_t>(latency.count(), 0);
    e.stats->total_requests.fetch_add(1, std::memory_order_relaxed);
    e.stats->latency_sum_us.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
    e.stats->buckets[BucketFor(us)].fetch_add(1, std::memory_order_relaxed);
    UpdateEwma(e, static_cast<double>(us));
    if (success) {
      if (e.stats->consecutive_failures.load(std::memory_order_relaxed) != 0) {
        e.stats->consecutive_failures.store(0, std::memory_order_relaxed);
      }
      return;
    }
    e.stats->failed_requests.fetch_add(1, std::memory_order_relaxed);
    const auto& od = options.outlier_detection;
    if (!od.enabled) return;
    // A handle to a replaced entry ejects the backend's current entry; a removed one no one.
    BackendEntry& now_entry = Current(e);
    const std::uint8_t f = now_entry.flags.load(std::memory_order_acquire);
    // Failures of requests still in flight to an ejected backend do not count again.
    if ((f & (kEjected | kRetired)) != 0) return;
    const std::uint32_t failures =
        e.stats->consecutive_failures.fetch_add(1, std::memory_order_acq_rel) + 1;
    // Exactly one failure reaches the threshold, so exactly one thread ejects.
    if (failures == od.consecutive_failures) Eject(now_entry, failures);
  }

  // The entry that stands for e's backend now: e itself unless UpdateBackend replaced it.
  static BackendEntry& Current(BackendEntry& e) {
    BackendEntry* latest = &e;
    while (BackendEntry* next = latest->successor.load(std::memory_order_acquire)) latest = next;
    return *latest;
  }

  // Peak EWMA: a slower sample takes over at once; faster ones pull it down with time
  // constant ewma_decay, so one slow response is remembered for a while, not forever.
  void UpdateEwma(BackendEntry& e, double sample_us) {
    const std::int64_t now = NowNs();
    const std::int64_t prev = e.stats->ewma_stamp_ns.exchange(now, std::memory_order_relaxed);
    const double dt = prev == 0 ? 0.0 : static_cast<double>(std::max<std::int64_t>(now - prev, 0));
    const double tau = static_cast<double>(std::chrono::nanoseconds(options.ewma_decay).count());
    const double keep = std::exp(-dt / tau);
    double old = e.stats->ewma_us.load(std::memory_order_relaxed);
    double next = 0.0;
    do {
      next = (old < 0.0 || sample_us >= old) ? sample_us : old * keep + sample_us * (1.0 - keep);
    } while (!e.stats->ewma_us.compare_exchange_weak(old, next, std::memory_order_relaxed));
  }
};

GlobalLoadBalancer::GlobalLoadBalancer(LoadBalancingStrategy strategy,
                                       std::chrono::milliseconds health_check_interval)
    : GlobalLoadBalancer(
          strategy,
          [&] {
            LoadBalancerOptions options;
            options.health_check.interval = health_check_interval;
            return options;
          }(),
          LoadBalancerDependencies{}) {}

GlobalLoadBalancer::GlobalLoadBalancer(LoadBalancingStrategy strategy, LoadBalancerOptions options,
                                       LoadBalancerDependencies deps)
    : state_(std::make_unique<State>()) {
  ValidateOptions(options);
  State& s = *state_;
  s.options = std::move(options);
  s.clock = deps.clock != nullptr ? deps.clock : &RealClock();
  s.prober = deps.prober != nullptr ? std::move(deps.prober) : MakeNetworkProber(*s.clock);
  s.random = deps.random != nullptr ? std::move(deps.random) : MakeSystemRandom();
  s.geo = std::move(deps.geo);
  s.strategy.store(strategy);
  // Build spdlog's lazily created registry here, before data-plane threads log ejections: the
  // uninstrumented libspdlog's static-init guard is invisible to TSan.
  (void)spdlog::default_logger_raw();
  std::lock_guard lock(s.mu);
  s.Publish();
}

GlobalLoadBalancer::~GlobalLoadBalancer() = default;

Status GlobalLoadBalancer::RegisterBackend(Backend backend) {
  std::vector<Backend> one;
  one.push_back(std::move(backend));
  return RegisterBackends(std::move(one));
}

Status GlobalLoadBalancer::RegisterBackends(std::vector<Backend> backends) {
  std::unordered_set<std::string_view> batch;
  for (const Backend& b : backends) {
    if (auto valid = ValidateBackend(b); !valid) return valid;
    if (!batch.insert(b.id).second) {
      return AlreadyExists(fmt::format("backend '{}' is listed twice", b.id));
    }
  }
  State& s = *state_;
  std::lock_guard lock(s.mu);
  for (const Backend& b : backends) {
    if (s.by_id.contains(b.id)) {
      return AlreadyExists(fmt::format("backend '{}' is already registered", b.id));
    }
  }
  for (Backend& b : backends) {
    const bool active = b.active;
    auto entry = s.MakeEntry(std::move(b), nullptr);
    if (active) s.UpdateFlags(*entry, 0, kInactive);
    s.by_id.emplace(entry->config.id, entry.get());
    s.entries.push_back(std::move(entry));
  }
  s.Publish();
  return {};
}

Status GlobalLoadBalancer::UpdateBackend(Backend backend) {
  if (auto valid = ValidateBackend(backend); !valid) return valid;
  State& s = *state_;
  std::lock_guard lock(s.mu);
  auto it =
      std::ranges::find_if(s.entries, [&](const auto& e) { return e->config.id == backend.id; });
  if (it == s.entries.end()) {
    return NotFound(fmt::format("backend '{}' is not registered", backend.id));
  }
  BackendEntry& old = **it;
  // Health describes the probe target: it carries over only while that stays the same.
  const bool same_target = old.config.address == backend.address &&
                           old.config.port == backend.port &&
                           old.config.health_path == backend.health_path &&
                           old.config.use_tcp_check == backend.use_tcp_check;
  const bool active = backend.active;
  auto entry = s.MakeEntry(std::move(backend), old.stats);
  entry->health_checks = old.health_checks;
  entry->failed_health_checks = old.failed_health_checks;
  if (same_target) {
    entry->health = old.health;
    entry->health_status.store(old.health_status.load());
    entry->last_probe_detail = old.last_probe_detail;
    entry->last_health_check = old.last_health_check;
  }
  // From here on an ejection through a handle to the old entry lands on the new one.
  old.successor.store(entry.get(), std::memory_order_release);
  const std::uint8_t before = old.flags.load(std::memory_order_acquire);
  std::uint8_t wanted = active ? 0 : kInactive;
  if ((before & kEjected) != 0) wanted |= kEjected;
  if (same_target && (before & kUnhealthy) != 0) wanted |= kUnhealthy;
  // The new entry joins the counts before the old one leaves them, so panic mode does not
  // see a backend missing for an instant.
  s.UpdateFlags(*entry, wanted, (wanted & kInactive) != 0 ? 0 : kInactive);
  const std::uint8_t retired = s.UpdateFlags(old, kRetired | kInactive, 0);
  // An ejection that resolved to the old entry just before the swap still counts.
  if ((retired & kEjected) != 0 && (wanted & kEjected) == 0) s.UpdateFlags(*entry, kEjected, 0);
  s.by_id.find(entry->config.id)->second = entry.get();
  s.retired.push_back(std::move(*it));
  *it = std::move(entry);
  s.Publish();
  return {};
}

Status GlobalLoadBalancer::RemoveBackend(std::string_view backend_id) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  auto by_id = s.by_id.find(backend_id);
  if (by_id == s.by_id.end()) {
    return NotFound(fmt::format("backend '{}' is not registered", backend_id));
  }
  BackendEntry* entry = by_id->second;
  // Inactive and retired: stale snapshots skip it from now on, and it leaves the counts.
  s.UpdateFlags(*entry, kRetired | kInactive, 0);
  s.by_id.erase(by_id);
  auto it = std::ranges::find_if(s.entries, [&](const auto& e) { return e.get() == entry; });
  s.retired.push_back(std::move(*it));
  s.entries.erase(it);
  s.Publish();
  return {};
}

Result<Backend> GlobalLoadBalancer::GetBackend(std::string_view backend_id) const {
  std::lock_guard lock(state_->mu);
  BackendEntry* e = state_->FindEntry(backend_id);
  if (e == nullptr) return NotFound(fmt::format("backend '{}' is not registered", backend_id));
  return state_->ToBackend(*e);
}

std::vector<Backend> GlobalLoadBalancer::ListBackends() const {
  std::lock_guard lock(state_->mu);
  std::vector<Backend> out;
  out.reserve(state_->entries.size());
  for (const auto& e : state_->entries) out.push_back(state_->ToBackend(*e));
  return out;
}

Result<Backend> GlobalLoadBalancer::SelectBackend() { return SelectBackend(RequestContext{}); }

Result<Backend> GlobalLoadBalancer::SelectBackend(const RequestContext& context) {
  auto picked = state_->PickImpl(context, nullptr);
  if (!picked) return std::unexpected(picked.error());
  return state_->ToBackend(*const_cast<BackendEntry*>(picked->entry));
}

Result<BackendHandle> GlobalLoadBalancer::Pick(const RequestContext& context) {
  return state_->PickImpl(context, nullptr);
}

Result<BackendHandle> GlobalLoadBalancer::PickOther(const RequestContext& context,
                                                    BackendHandle exclude) {
  return state_->PickImpl(context, exclude.entry);
}

void GlobalLoadBalancer::SetStrategy(LoadBalancingStrategy strategy) {
  std::lock_guard lock(state_->mu);
  if (state_->strategy.exchange(strategy) == strategy) return;
  state_->Publish();
}

LoadBalancingStrategy GlobalLoadBalancer::GetStrategy() const { return state_->strategy.load(); }

Status GlobalLoadBalancer::IncrementConnections(std::string_view backend_id) {
  BackendEntry* e = state_->FindFast(backend_id);
  if (e == nullptr) return NotFound(fmt::format("backend '{}' is not registered", backend_id));
  IncrementConnections(BackendHandle{e});
  return {};
}

Status GlobalLoadBalancer::DecrementConnections(std::string_view backend_id) {
  BackendEntry* e = state_->FindFast(backend_id);
  if (e == nullptr) return NotFound(fmt::format("backend '{}' is not registered", backend_id));
  DecrementConnections(BackendHandle{e});
  return {};
}

void GlobalLoadBalancer::IncrementConnections(BackendHandle backend) {
  if (backend.entry == nullptr) return;
  auto* e = const_cast<BackendEntry*>(backend.entry);
  e->stats->connections.fetch_add(1, std::memory_order_relaxed);
}

void GlobalLoadBalancer::DecrementConnections(BackendHandle backend) {
  if (backend.entry == nullptr) return;
  auto* e = const_cast<BackendEntry*>(backend.entry);
  std::uint64_t c = e->stats->connections.load(std::memory_order_relaxed);
  while (c > 0 &&
         !e->stats->connections.compare_exchange_weak(c, c - 1, std::memory_order_relaxed)) {
  }
}

Status GlobalLoadBalancer::RecordRequest(std::string_view backend_id,
                                         std::chrono::microseconds latency, bool success) {
  if (latency.count() < 0) return InvalidArgument("latency must not be negative");
  BackendEntry* e = state_->FindFast(backend_id);
  if (e == nullptr) return NotFound(fmt::format("backend '{}' is not registered", backend_id));
  state_->Record(*e, latency, success);
  return {};
}

void GlobalLoadBalancer::RecordRequest(BackendHandle backend, std::chrono::microseconds latency,
                                       bool success) {
  if (backend.entry == nullptr) return;
  state_->Record(*const_cast<BackendEntry*>(backend.entry), latency, success);
}

Status GlobalLoadBalancer::ActivateBackend(std::string_view backend_id) {
  std::lock_guard lock(state_->mu);
  BackendEntry* e = state_->FindEntry(backend_id);
  if (e == nullptr) return NotFound(fmt::format("backend '{}' is not registered", backend_id));
  if ((state_->UpdateFlags(*e, 0, kInactive) & kInactive) != 0) state_->Publish();
  return {};
}

Status GlobalLoadBalancer::DeactivateBackend(std::string_view backend_id) {
  std::lock_guard lock(state_->mu);
  BackendEntry* e = state_->FindEntry(backend_id);
  if (e == nullptr) return NotFound(fmt::format("backend '{}' is not registered", backend_id));
  if ((state_->UpdateFlags(*e, kInactive, 0) & kInactive) == 0) state_->Publish();
  return {};
}

Result<BackendMetrics> GlobalLoadBalancer::GetBackendMetrics(std::string_view backend_id) const {
  std::lock_guard lock(state_->mu);
  BackendEntry* e = state_->FindEntry(backend_id);
  if (e == nullptr) return NotFound(fmt::format("backend '{}' is not registered", backend_id));
  return state_->Metrics(*e);
}

std::map<std::string, BackendMetrics> GlobalLoadBalancer::GetAllMetrics() const {
  std::lock_guard lock(state_->mu);
  std::map<std::string, BackendMetrics> out;
  for (const auto& e : state_->entries) out.emplace(e->config.id, state_->Metrics(*e));
  return out;
}

LoadBalancerStats GlobalLoadBalancer::GetStats() const {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  LoadBalancerStats stats;
  stats.backends = s.entries.size();
  for (const auto& e : s.entries) {
    if ((e->flags.load() & kEjected) != 0) s.TryReturnFromEjection(*e);
    const std::uint8_t f = e->flags.load();
    if ((f & kInactive) == 0) ++stats.active_backends;
    if (f == 0) ++stats.available_backends;
  }
  stats.panic = s.CheckPanic();
  stats.panic_selections = s.panic_selections.load();
  stats.no_backend_errors = s.no_backend_errors.load();
  stats.ejections = s.total_ejections.load();
  return stats;
}

bool GlobalLoadBalancer::ShouldHealthCheck() const {
  std::lock_guard lock(state_->mu);
  return !state_->last_sweep_start.has_value() ||
         state_->clock->Now() - *state_->last_sweep_start >= state_->options.health_check.interval;
}

Result<HealthCheckReport> GlobalLoadBalancer::PerformHealthCheck() {
  State& s = *state_;
  std::lock_guard sweep_lock(s.sweep_mu);
  const MonoTime started = s.clock->Now();
  std::vector<BackendEntry*> probed;
  std::vector<Endpoint> targets;
  {
    std::lock_guard lock(s.mu);
    s.last_sweep_start = started;
    for (const auto& e : s.entries) {
      probed.push_back(e.get());
      targets.push_back(e->probe_target);
    }
  }
  const auto& hc = s.options.health_check;
  ProbeOptions probe_options;
  probe_options.timeout = hc.timeout;
  probe_options.http_path = hc.path;
  // Probes run without `mu`: reads and the data plane never wait on the network.
  std::vector<ProbeResult> results = s.prober->ProbeAll(targets, probe_options);
  if (results.size() != targets.size()) {
    return MakeError(ErrorCode::kInternal, fmt::format("prober returned {} results for {} targets",
                                                       results.size(), targets.size()));
  }
  HealthCheckReport report;
  report.probed = targets.size();
  std::vector<std::string> changes;
  {
    std::lock_guard lock(s.mu);
    const WallTime now_wall = s.clock->WallNow();
    const HealthThresholds thresholds{hc.rise, hc.fall, hc.degraded_latency};
    for (std::size_t i = 0; i < probed.size(); ++i) {
      BackendEntry& e = *probed[i];
      // Removed or replaced while probing: the result is for a target that is gone.
      if ((e.flags.load() & kRetired) != 0) continue;
      const ProbeResult& r = results[i];
      ++e.health_checks;
      if (!r.ok) ++e.failed_health_checks;
      e.last_probe_detail = r.detail;
      e.last_health_check = now_wall;
      const HealthStatus before = e.health.status;
      e.health = ApplyProbe(e.health, r.ok, r.latency, thresholds);
      e.health_status.store(e.health.status);
      if (e.health.status == HealthStatus::kHealthy) ++report.healthy;
      if (e.health.status == HealthStatus::kUnhealthy) {
        s.UpdateFlags(e, kUnhealthy, 0);
      } else {
        s.UpdateFlags(e, 0, kUnhealthy);
      }
      if ((e.flags.load() & kEjected) != 0) s.TryReturnFromEjection(e);
      if (e.health.status != before) {
        ++report.status_changes;
        changes.push_back(fmt::format("backend '{}' is now {} (was {}): {}", e.config.id,
                                      ToString(e.health.status), ToString(before),
                                      r.ok ? fmt::format("{} in {}us", r.detail, r.latency.count())
                                           : fmt::format("{} ({} failed in a row)", r.detail,
                                                         e.health.consecutive_failures)));
      }
    }
    report.duration = std::chrono::duration_cast<microseconds>(s.clock->Now() - started);
  }
  for (const auto& line : changes) spdlog::info("{}", line);
  s.CheckPanic();  // log entering/leaving panic promptly, not at the next pick
  return report;
}

std::size_t GlobalLoadBalancer::GetBackendCount() const {
  std::lock_guard lock(state_->mu);
  return state_->entries.size();
}

std::size_t GlobalLoadBalancer::GetActiveBackendCount() const {
  std::lock_guard lock(state_->mu);
  return static_cast<std::size_t>(std::ranges::count_if(
      state_->entries, [](const auto& e) { return (e->flags.load() & kInactive) == 0; }));
}

const LoadBalancerOptions& GlobalLoadBalancer::options() const { return state_->options; }

}  // namespace streamgate::scaling
