#include "daemon/config_diff.hpp"

#include <fmt/format.h>

#include <map>
#include <tuple>

namespace streamgate::daemon {
namespace {

// Field-wise equality of what a reload can see; `line` and other diagnostics are left out, so
// moving an entry in the file changes nothing.
auto Key(const config::RegionConfig& r) {
  return std::tie(r.id, r.name, r.location, r.endpoint, r.priority, r.active);
}
auto Geography(const config::RegionConfig& r) {
  return std::tie(r.countries, r.continents, r.latitude, r.longitude);
}
auto Key(const config::BackendConfig& b) {
  return std::tie(b.id, b.address, b.port, b.region, b.weight, b.health_path, b.tcp_check,
                  b.active);
}
auto Key(const scaling::DisasterRecoveryPlan& p) {
  return std::tie(p.id, p.name, p.strategy, p.backup_interval, p.retention_days, p.rpo, p.rto,
                  p.primary_region, p.secondary_region, p.sources, p.excludes, p.repository,
                  p.secondary_repository, p.active);
}
auto Key(const scaling::HealthCheckOptions& h) {
  return std::tie(h.interval, h.timeout, h.path, h.rise, h.fall, h.degraded_latency, h.failback,
                  h.latency_window);
}
auto Key(const scaling::OutlierDetectionOptions& o) {
  return std::tie(o.enabled, o.consecutive_failures, o.base_ejection_time, o.max_ejection_time);
}
auto Key(const scaling::CDNConfig& c) {
  return std::tie(c.provider, c.api_key, c.zone_id, c.service_id, c.base_url, c.purge_max_attempts,
                  c.purge_timeout, c.max_cache_size, c.default_ttl, c.max_object_fraction, c.shards,
                  c.eviction_policy, c.prefetch_concurrency, c.prefetch_share, c.fetch_timeout);
}
bool SameCdn(const std::optional<config::CdnConfig>& a, const std::optional<config::CdnConfig>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->enabled == b->enabled && Key(a->manager) == Key(b->manager) &&
         a->keep_for_revalidation == b->keep_for_revalidation && a->hosts == b->hosts &&
         a->path_prefixes == b->path_prefixes && a->expiry_interval == b->expiry_interval;
}

std::string PrimaryOf(const config::Config& config) {
  for (const config::RegionConfig& region : config.regions) {
    if (region.primary) return region.id;
  }
  return "";
}

// Added, changed and removed entries of two id-keyed lists (order kept from `next`).
template <typename Entry, typename IdOf, typename Same>
void DiffById(const std::vector<Entry>& running, const std::vector<Entry>& next, IdOf id_of,
              Same same, std::vector<Entry>& added, std::vector<Entry>& changed,
              std::vector<std::string>& removed) {
  std::map<std::string, const Entry*> before;
  for (const Entry& entry : running) before.emplace(id_of(entry), &entry);
  for (const Entry& entry : next) {
    auto it = before.find(id_of(entry));
    if (it == before.end()) {
      added.push_back(entry);
    } else {
      if (!same(*it->second, entry)) changed.push_back(entry);
      before.erase(it);
    }
  }
  for (const Entry& entry : running) {
    if (before.contains(id_of(entry))) removed.push_back(id_of(entry));
  }
}

std::vector<scaling::DisasterRecoveryPlan> PlansOf(const config::Config& config) {
  std::vector<scaling::DisasterRecoveryPlan> plans;
  if (config.disaster_recovery) {
    for (const auto& entry : config.disaster_recovery->plans) plans.push_back(entry.plan);
  }
  return plans;
}

std::string ListenerText(const config::ListenerConfig& listener) {
  return listener.name + "@" + config::ToString(listener.listen);
}

}  // namespace

bool ConfigDiff::empty() const {
  return regions_added.empty() && regions_changed.empty() && regions_removed.empty() && !primary &&
         backends_added.empty() && backends_changed.empty() && backends_removed.empty() &&
         !strategy && plans_added.empty() && plans_changed.empty() && plans_removed.empty() &&
         !log_level_changed && !access_log_changed && restart_required.empty();
}

ConfigDiff DiffConfigs(const config::Config& running, const config::Config& next) {
  ConfigDiff diff;
  auto restart = [&diff](std::string what) { diff.restart_required.push_back(std::move(what)); };

  DiffById(
      running.regions, next.regions, [](const auto& r) { return r.id; },
      [](const auto& a, const auto& b) { return Key(a) == Key(b); }, diff.regions_added,
      diff.regions_changed, diff.regions_removed);
  if (const std::string primary = PrimaryOf(next);
      !primary.empty() && primary != PrimaryOf(running)) {
    diff.primary = primary;
  }
  DiffById(
      running.backends, next.backends, [](const auto& b) { return b.id; },
      [](const auto& a, const auto& b) { return Key(a) == Key(b); }, diff.backends_added,
      diff.backends_changed, diff.backends_removed);
  if (running.load_balancer.strategy != next.load_balancer.strategy) {
    diff.strategy = next.load_balancer.strategy;
  }
  DiffById(
      PlansOf(running), PlansOf(next), [](const auto& p) { return p.id; },
      [](const auto& a, const auto& b) { return Key(a) == Key(b); }, diff.plans_added,
      diff.plans_changed, diff.plans_removed);
  diff.log_level_changed = running.log.level != next.log.level;
  diff.access_log_changed = running.log.access_log != next.log.access_log;

  // What the running components were built with and cannot change.
  if (running.admin.listen != next.admin.listen) {
    restart(fmt::format("admin.listen ({} -> {})", config::ToString(running.admin.listen),
                        config::ToString(next.admin.listen)));
  }
  if (running.admin.tls.has_value() != next.admin.tls.has_value()) {
    restart(next.admin.tls ? "admin.tls (HTTPS turned on)" : "admin.tls (HTTPS turned off)");
  }
  if (running.data_dir != next.data_dir) {
    restart(fmt::format("data_dir ('{}' -> '{}')", running.data_dir, next.data_dir));
  }
  if (running.log.format != next.log.format) {
    restart(fmt::format("log.format ({} -> {})", running.log.format, next.log.format));
  }
  bool listeners_same = running.listeners.size() == next.listeners.size();
  for (std::size_t i = 0; listeners_same && i < running.listeners.size(); ++i) {
    listeners_same = ListenerText(running.listeners[i]) == ListenerText(next.listeners[i]);
  }
  if (!listeners_same) {
    std::vector<std::string> before;
    std::vector<std::string> after;
    for (const auto& l : running.listeners) before.push_back(ListenerText(l));
    for (const auto& l : next.listeners) after.push_back(ListenerText(l));
    restart(
        fmt::format("listeners ([{}] -> [{}])", fmt::join(before, ", "), fmt::join(after, ", ")));
  }
  if (running.proxy.threads != next.proxy.threads) {
    restart(fmt::format("proxy.threads ({} -> {})", running.proxy.threads, next.proxy.threads));
  }
  // No balancer (no backends and no listeners) cannot grow one, and the other way round.
  const bool balanced_before = !running.backends.empty() || !running.listeners.empty();
  const bool balanced_after = !next.backends.empty() || !next.listeners.empty();
  if (balanced_before != balanced_after) {
    restart(balanced_after ? "backends (the running daemon has no load balancer)"
                           : "backends (every backend and listener removed)");
  }
  if (Key(running.health_check) != Key(next.health_check)) restart("health_check");
  const auto& lb_before = running.load_balancer;
  const auto& lb_after = next.load_balancer;
  if (Key(lb_before.outlier_detection) != Key(lb_after.outlier_detection) ||
      lb_before.count_5xx_as_failure != lb_after.count_5xx_as_failure) {
    restart("load_balancer.outlier_detection");
  }
  if (lb_before.panic_threshold != lb_after.panic_threshold) {
    restart("load_balancer.panic_threshold");
  }
  if (lb_before.geoip_database != lb_after.geoip_database) {
    restart("load_balancer.geoip_database");
  }
  // Geography feeds the balancer's geo tables, built once.
  std::map<std::string, const config::RegionConfig*> regions_before;
  for (const auto& r : running.regions) regions_before.emplace(r.id, &r);
  for (const auto& r : next.regions) {
    auto it = regions_before.find(r.id);
    const bool located = !r.countries.empty() || !r.continents.empty() || r.latitude;
    if ((it == regions_before.end() && located) ||
        (it != regions_before.end() && Geography(*it->second) != Geography(r))) {
      restart(fmt::format("regions.{} geography (countries, continents, coordinates)", r.id));
    }
  }
  if (!SameCdn(running.cdn, next.cdn)) restart("cdn");
  const auto& dr_before = running.disaster_recovery;
  const auto& dr_after = next.disaster_recovery;
  if (dr_before.has_value() != dr_after.has_value()) {
    restart(dr_after ? "disaster_recovery (added)" : "disaster_recovery (removed)");
    diff.plans_added.clear();
    diff.plans_changed.clear();
    diff.plans_removed.clear();
  } else if (dr_before && (dr_before->max_recovery_points != dr_after->max_recovery_points ||
                           dr_before->scratch_directory != dr_after->scratch_directory ||
                           dr_before->test_interval != dr_after->test_interval)) {
    restart("disaster_recovery (max_recovery_points, scratch_directory or test_interval)");
  }
  return diff;
}

}  // namespace streamgate::daemon
