// The running gateway: builds the components from a Config, runs the health-check schedulers,
// the proxy data plane (with its edge cache when the config has a `cdn:` section), the backup
// scheduler (with a `disaster_recovery:` section) and the admin API until Stop().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "admin/admin_api.hpp"
#include "config/config.hpp"
#include "streamgate/cdn/content_fetcher.hpp"
#include "streamgate/cdn/purger.hpp"
#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"
#include "streamgate/common/random.hpp"
#include "streamgate/health/prober.hpp"
#include "streamgate/scaling/cdn.hpp"
#include "streamgate/scaling/disaster_recovery.hpp"
#include "streamgate/scaling/load_balancer.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::daemon {

struct DaemonDependencies {
  std::shared_ptr<Prober> prober;        // null: probe over the network
  const Clock* clock = nullptr;          // null: the real clock
  std::shared_ptr<RandomSource> random;  // null: seeded from the OS
  // How often the schedulers ask ShouldHealthCheck (real time); bounds how late a sweep starts.
  std::chrono::milliseconds scheduler_tick{50};
  // The CDN manager's collaborators. Null fetcher: HTTP(S) with libcurl. Null purger: the one
  // for cdn.provider (none for local).
  std::shared_ptr<cdn::ContentFetcher> cdn_fetcher;
  std::shared_ptr<cdn::Purger> cdn_purger;
  // Where disaster-recovery backups go. Null: the repository engine (src/backup) on the daemon's
  // clock.
  std::shared_ptr<scaling::BackupEngine> backup_engine;
  // The command line fixed the log level (--log-level): a reload leaves it alone.
  bool log_level_fixed = false;
};

class Daemon {
 public:
  // Registers regions and backends, binds the admin and proxy listeners, starts the schedulers.
  [[nodiscard]] static Result<std::unique_ptr<Daemon>> Start(const config::Config& config,
                                                             DaemonDependencies deps = {});
  virtual ~Daemon() = default;

  [[nodiscard]] virtual std::uint16_t admin_port() const = 0;
  // The bound port of proxy listener `index` (config order); 0 when there is none.
  [[nodiscard]] virtual std::uint16_t proxy_port(std::size_t index = 0) const = 0;
  [[nodiscard]] virtual scaling::MultiRegionManager& regions() = 0;
  // Null when the config has no backends and no listeners.
  [[nodiscard]] virtual scaling::GlobalLoadBalancer* balancer() = 0;
  // The CDN manager whose store the proxy caches in; null without an enabled `cdn:` section.
  [[nodiscard]] virtual scaling::CDNManager* cdn() = 0;
  // The manager whose plans the backup scheduler runs; null without a `disaster_recovery:`
  // section.
  [[nodiscard]] virtual scaling::DisasterRecoveryManager* disaster_recovery() = 0;
  // Re-reads the config file the daemon was started from (Config::source_file), checks it
  // (parse errors with file and line, TLS files, the admin token) and applies what changed
  // (daemon/config_diff.hpp says what applies live and what needs a restart). Open client
  // connections are kept; requests that start afterwards see the new settings. An invalid
  // config is an error and changes nothing. One reload at a time (SIGHUP and the admin API).
  [[nodiscard]] virtual Result<admin::ReloadSummary> Reload() = 0;
  // The same with a config already loaded (tests, or a caller that parsed it).
  [[nodiscard]] virtual Result<admin::ReloadSummary> Reload(const config::Config& next) = 0;
  // Graceful stop (SIGTERM): the proxy stops accepting, closes idle keep-alive connections and
  // lets requests in flight finish for up to `timeout` (then cuts them); then Stop(). Without a
  // timeout: proxy.drain_timeout of the config applied last.
  virtual void Drain(std::optional<std::chrono::milliseconds> timeout = std::nullopt) = 0;
  // Stops the proxy, the schedulers and the admin server; idempotent, from any thread but theirs.
  // Backups cannot be interrupted: Stop waits for the one backup (or recovery test) the backup
  // scheduler is running, if any, and for a backup or restore an admin request is running, but
  // starts no other.
  virtual void Stop() = 0;
};

}  // namespace streamgate::daemon
