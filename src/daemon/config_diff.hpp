// What a reload changes: the differences between the running config and a new one, sorted into
// what the daemon applies live and what only a restart can change. A pure function, so the
// rules are tested without a daemon (tests/daemon/config_diff_test.cpp).
//
// Applied live: regions, backends and backup plans added, removed or changed; the primary the
// file names; the balancing strategy; everything the proxy's Reconfigure takes (timeouts,
// limits, retries, trusted proxies, TLS of listeners and backends, certificates re-read on
// every reload); the admin token; the log level; the access log. A restart is needed for:
// addresses the daemon listens on (admin, proxy listeners added, removed, renamed or moved),
// turning admin.tls on or off (its certificates are re-read like the listeners'),
// proxy threads, data_dir, the health-check options, the balancer's outlier detection, panic
// threshold, GeoIP database and region geography, the `cdn:` section, the log format, and the
// `disaster_recovery:` settings other than its plans.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace streamgate::daemon {

struct ConfigDiff {
  std::vector<config::RegionConfig> regions_added;
  std::vector<config::RegionConfig> regions_changed;
  std::vector<std::string> regions_removed;
  std::optional<std::string> primary;  // the file names another primary than before
  std::vector<config::BackendConfig> backends_added;
  std::vector<config::BackendConfig> backends_changed;
  std::vector<std::string> backends_removed;
  std::optional<scaling::LoadBalancingStrategy> strategy;  // changed in the file
  std::vector<scaling::DisasterRecoveryPlan> plans_added;
  std::vector<scaling::DisasterRecoveryPlan> plans_changed;
  std::vector<std::string> plans_removed;
  bool log_level_changed = false;
  bool access_log_changed = false;
  // One line per setting that differs but needs a restart, e.g. "proxy.threads (4 -> 2)".
  std::vector<std::string> restart_required;

  [[nodiscard]] bool empty() const;
};

// `running` is the config the daemon applied last (its file at start or the last reload).
[[nodiscard]] ConfigDiff DiffConfigs(const config::Config& running, const config::Config& next);

}  // namespace streamgate::daemon
