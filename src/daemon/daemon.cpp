#include "daemon/daemon.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_api.hpp"
#include "admin/dashboard_routes.hpp"
#include "config/tls_config.hpp"
#include "daemon/admin_token.hpp"
#include "daemon/config_diff.hpp"
#include "daemon/runtime_state.hpp"
#include "metrics/prometheus.hpp"
#include "net/http_server.hpp"
#include "proxy/proxy_server.hpp"
#include "streamgate/geo/geo_locator.hpp"
#include "streamgate/net/tls.hpp"

namespace streamgate::daemon {
namespace {

scaling::LoadBalancerOptions BalancerOptions(const config::Config& config) {
  scaling::LoadBalancerOptions options;
  options.health_check = config.health_check;
  options.outlier_detection = config.load_balancer.outlier_detection;
  options.panic_threshold = config.load_balancer.panic_threshold;
  for (const config::RegionConfig& region : config.regions) {
    if (region.countries.empty() && region.continents.empty() && !region.latitude) continue;
    scaling::GeoRegion geo;
    geo.region_id = region.id;
    geo.countries = region.countries;
    geo.continents = region.continents;
    geo.latitude = region.latitude.value_or(0.0);
    geo.longitude = region.longitude.value_or(0.0);
    options.geo_regions.push_back(std::move(geo));
  }
  return options;
}

proxy::ProxyOptions ProxyOptionsFrom(const config::Config& config, scaling::CDNManager* cdn,
                                     std::shared_ptr<proxy::AccessLog> access_log) {
  proxy::ProxyOptions options;
  options.access_log = std::move(access_log);
  for (const config::ListenerConfig& listener : config.listeners) {
    options.listeners.push_back({listener.name, listener.listen.host, listener.listen.port});
    if (listener.tls) options.listeners.back().tls = listener.tls->options;
  }
  for (const config::BackendConfig& backend : config.backends) {
    if (backend.tls && backend.tls->options.enabled) {
      options.backend_tls[backend.id] = backend.tls->options;
    }
  }
  options.threads = config.proxy.threads;
  options.connect_timeout = config.proxy.connect_timeout;
  options.request_header_timeout = config.proxy.request_header_timeout;
  options.idle_timeout = config.proxy.idle_timeout;
  options.upstream_timeout = config.proxy.upstream_timeout;
  options.max_header_bytes = config.proxy.max_header_bytes;
  options.max_header_count = config.proxy.max_header_count;
  options.retries = config.load_balancer.retries;
  options.fail_on_5xx = config.load_balancer.count_5xx_as_failure;
  options.trusted_proxies = config.load_balancer.trusted_proxies;
  if (cdn != nullptr) {
    options.cache_store = &cdn->store();
    options.cache.default_ttl = config.cdn->manager.default_ttl;
    options.cache.keep_for_revalidation = config.cdn->keep_for_revalidation;
    options.cache.hosts = config.cdn->hosts;
    options.cache.path_prefixes = config.cdn->path_prefixes;
  }
  return options;
}

void WriteProxyMetrics(const proxy::ProxyStats& stats, metrics::PrometheusWriter& out) {
  std::string_view family;
  for (const proxy::ProxyMetricSample& sample : proxy::ProxyMetricSamples(stats)) {
    if (sample.family != family) {
      family = sample.family;
      out.Family(sample.family, sample.help,
                 sample.counter ? metrics::MetricType::kCounter : metrics::MetricType::kGauge);
    }
    if (sample.label_name.empty()) {
      out.Sample(sample.family, {}, sample.value);
    } else {
      out.Sample(sample.family, {{sample.label_name, sample.label_value}}, sample.value);
    }
  }
}

// The backends' prober, replaceable on reload (a backend may have gained TLS, or its CA file
// changed). Probes are infrequent, so a lock per sweep costs nothing.
class SwitchableProber final : public Prober {
 public:
  explicit SwitchableProber(std::shared_ptr<Prober> inner) : inner_(std::move(inner)) {}
  std::vector<ProbeResult> ProbeAll(std::span<const Endpoint> targets,
                                    const ProbeOptions& options) override {
    std::shared_ptr<Prober> inner;
    {
      std::lock_guard lock(mu_);
      inner = inner_;
    }
    return inner->ProbeAll(targets, options);
  }
  void Set(std::shared_ptr<Prober> inner) {
    std::lock_guard lock(mu_);
    inner_ = std::move(inner);
  }

 private:
  std::mutex mu_;
  std::shared_ptr<Prober> inner_;
};

scaling::Region ToRegion(const config::RegionConfig& rc) {
  scaling::Region region;
  region.id = rc.id;
  region.name = rc.name;
  region.location = rc.location;
  region.endpoint = rc.endpoint;
  region.priority = rc.priority;
  region.active = rc.active;
  region.primary = rc.primary;
  return region;
}

scaling::Backend ToBackend(const config::BackendConfig& bc) {
  scaling::Backend backend;
  backend.id = bc.id;
  backend.address = bc.address;
  backend.port = bc.port;
  backend.region = bc.region;
  backend.weight = bc.weight;
  backend.health_path = bc.health_path;
  backend.use_tcp_check = bc.tcp_check;
  backend.active = bc.active;
  return backend;
}

std::string IdOf(const config::RegionConfig& entry) { return entry.id; }
std::string IdOf(const config::BackendConfig& entry) { return entry.id; }
std::string IdOf(const config::DisasterRecoveryPlanConfig& entry) { return entry.plan.id; }

// Puts entry `id` of `applied` back as it is in `before`: removes a refused addition, restores
// a refused change or removal.
template <typename Entry>
void RevertEntry(std::vector<Entry>& applied, const std::vector<Entry>& before,
                 const std::string& id) {
  auto now =
      std::find_if(applied.begin(), applied.end(), [&](const Entry& e) { return IdOf(e) == id; });
  auto old =
      std::find_if(before.begin(), before.end(), [&](const Entry& e) { return IdOf(e) == id; });
  if (old == before.end()) {
    if (now != applied.end()) applied.erase(now);
  } else if (now == applied.end()) {
    applied.push_back(*old);
  } else {
    *now = *old;
  }
}

// True when `entry`'s `active` is what `before` said: the file did not change it.
template <typename Entry>
bool SameActive(const std::vector<Entry>& before, const Entry& entry) {
  auto old = std::find_if(before.begin(), before.end(),
                          [&](const Entry& e) { return IdOf(e) == IdOf(entry); });
  return old != before.end() && old->active == entry.active;
}

std::string PrimaryOf(const config::Config& config) {
  for (const config::RegionConfig& region : config.regions) {
    if (region.primary) return region.id;
  }
  return "";
}

std::string JoinIssues(const std::vector<config::ConfigIssue>& issues) {
  std::string text;
  for (const config::ConfigIssue& issue : issues) {
    if (!text.empty()) text += "\n";
    text += issue.ToString();
  }
  return text;
}

class DaemonImpl final : public Daemon {
 public:
  DaemonImpl(const config::Config& config, DaemonDependencies deps)
      : started_(config),
        current_(config),
        deps_(std::move(deps)),
        clock_(deps_.clock != nullptr ? *deps_.clock : RealClock()),
        prober_(deps_.prober != nullptr ? deps_.prober : MakeNetworkProber(clock_)),
        regions_(config.health_check, prober_, clock_) {}

  ~DaemonImpl() override { Stop(); }

  Status Init(const config::Config& config) {
    for (const config::RegionConfig& rc : config.regions) {
      if (auto status = regions_.RegisterRegion(ToRegion(rc)); !status) return status;
    }
    if (config.cdn && config.cdn->enabled) {
      if (auto status = StartCdn(*config.cdn); !status) return status;
    }
    if (config.disaster_recovery) {
      if (auto status = StartDisasterRecovery(*config.disaster_recovery); !status) return status;
    }
    if (!config.backends.empty() || !config.listeners.empty()) {
      if (auto status = StartBalancer(config); !status) return status;
    }
    Result<std::string> admin_token =
        ResolveAdminToken(config.admin, config.source_file, std::getenv("STREAMGATE_ADMIN_TOKEN"));
    if (!admin_token) return std::unexpected(admin_token.error());
    admin::AdminApiOptions admin_api_options;
    admin_api_options.token = std::move(*admin_token);
    admin_api_options.protect_reads = config.admin.protect_reads;
    admin_api_options.load_balancer = balancer_.get();
    if (!config.data_dir.empty()) {
      if (auto status = StartRuntimeState(config); !status) return status;
      admin_api_options.on_change = [this](const net::HttpRequest& request) {
        runtime_state_->OnApiChange(request);
      };
    }
    admin_api_options.cdn = cdn_.get();
    admin_api_options.disaster_recovery = dr_.get();
    dashboard_ =
        std::make_unique<admin::DashboardHistory>(&regions_, balancer_.get(), cdn_.get(), clock_);
    admin_api_options.dashboard = dashboard_.get();
    admin_api_options.reload = [this] { return Reload(); };
    if (proxy_) {
      admin_api_options.extra_metrics = [this](metrics::PrometheusWriter& out) {
        WriteProxyMetrics(proxy_->stats(), out);
        std::shared_ptr<proxy::AccessLog> access_log;
        {
          std::lock_guard lock(reload_mu_);  // a reload may replace it
          access_log = access_log_;
        }
        if (access_log) {
          out.Family("streamgate_access_log_dropped_total",
                     "Access-log lines dropped because the disk did not keep up.",
                     metrics::MetricType::kCounter);
          out.Sample("streamgate_access_log_dropped_total", {}, access_log->dropped());
        }
      };
    }
    admin_api_ = std::make_unique<admin::AdminApi>(regions_, std::move(admin_api_options));
    net::HttpServerOptions admin_options;
    admin_options.host = config.admin.listen.host;
    admin_options.port = config.admin.listen.port;
    admin_options.threads = 1;
    if (config.admin.tls) admin_options.tls = config.admin.tls->options;
    auto server = net::HttpServer::Start(admin_options, [this](const net::HttpRequest& request) {
      return admin_api_->Handle(request);
    });
    if (!server) {
      return MakeError(server.error().code(),
                       fmt::format("admin listener {}:{}: {}", admin_options.host,
                                   admin_options.port, server.error().message()));
    }
    admin_server_ = std::move(*server);

    schedulers_.emplace_back([this] {
      RunScheduler([this] { return regions_.ShouldHealthCheck(); },
                   [this] { return regions_.PerformHealthCheck(); }, "region");
    });
    if (balancer_) {
      schedulers_.emplace_back([this] {
        RunScheduler([this] { return balancer_->ShouldHealthCheck(); },
                     [this] { return balancer_->PerformHealthCheck(); }, "backend");
      });
    }
    if (cdn_) {
      // The first deadline is taken here, not on the new thread, so it cannot drift late.
      const std::chrono::milliseconds interval = config.cdn->expiry_interval;
      schedulers_.emplace_back([this, interval, first = clock_.Now() + interval] {
        RunPeriodically(first, interval, [this] {
          const std::size_t removed = cdn_->PurgeExpired();
          if (removed > 0) spdlog::debug("cdn: {} expired entries removed", removed);
        });
      });
    }
    // The dashboard's history: a sample now, then every interval (admin/dashboard_routes.hpp).
    schedulers_.emplace_back([this, first = clock_.Now()] {
      RunPeriodically(first, dashboard_->options().interval, [this] { dashboard_->Record(); });
    });
    if (dr_) {
      schedulers_.emplace_back([this, test_interval = config.disaster_recovery->test_interval] {
        RunBackups(test_interval);
      });
    }
    spdlog::info("streamgate: {} regions, {} backends, admin API on {}:{}",
                 regions_.GetRegionCount(), balancer_ ? balancer_->GetBackendCount() : 0,
                 admin_options.host, admin_server_->port());
    return {};
  }

  std::uint16_t admin_port() const override { return admin_server_->port(); }
  std::uint16_t proxy_port(std::size_t index) const override {
    return proxy_ ? proxy_->port(index) : 0;
  }
  scaling::MultiRegionManager& regions() override { return regions_; }
  scaling::GlobalLoadBalancer* balancer() override { return balancer_.get(); }
  scaling::CDNManager* cdn() override { return cdn_.get(); }
  scaling::DisasterRecoveryManager* disaster_recovery() override { return dr_.get(); }

  Result<admin::ReloadSummary> Reload() override {
    if (current_source_file().empty()) {
      return MakeError(ErrorCode::kFailedPrecondition,
                       "the daemon was not started from a config file; nothing to re-read");
    }
    auto next = config::LoadConfigFile(current_source_file());
    if (!next) {
      spdlog::error("reload refused, the running config stays:\n{}", JoinIssues(next.error()));
      return InvalidArgument(JoinIssues(next.error()));
    }
    return Reload(*next);
  }

  Result<admin::ReloadSummary> Reload(const config::Config& next) override {
    std::lock_guard reload_lock(reload_mu_);
    if (stopping()) return MakeError(ErrorCode::kFailedPrecondition, "the daemon is stopping");
    auto summary = ApplyReload(next);
    if (!summary) {
      spdlog::error("reload refused, the running config stays: {}", summary.error().message());
      return summary;
    }
    spdlog::info("reload: {} change(s) applied, {} failed, {} need a restart",
                 summary->applied.size(), summary->failed.size(), summary->restart_required.size());
    for (const std::string& line : summary->applied) spdlog::info("reload: {}", line);
    for (const std::string& line : summary->failed) spdlog::error("reload: {}", line);
    for (const std::string& line : summary->restart_required) {
      spdlog::warn("reload: {} changed; restart the daemon to apply it", line);
    }
    return summary;
  }

  void Drain(std::optional<std::chrono::milliseconds> drain_timeout) override {
    std::chrono::milliseconds timeout{0};
    {
      std::lock_guard lock(reload_mu_);
      timeout = drain_timeout.value_or(current_.proxy.drain_timeout);
    }
    if (proxy_ && !stopping()) {
      const std::uint64_t open = proxy_->stats().connections_active;
      spdlog::info("draining: {} client connection(s) open; waiting up to {} ms", open,
                   timeout.count());
      const std::uint64_t cut = proxy_->Drain(timeout);
      if (cut > 0) {
        spdlog::warn("drain timeout: {} connection(s) still busy were closed", cut);
      } else {
        spdlog::info("drained: every client connection closed");
      }
    }
    Stop();
  }

  void Stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    // Data plane first, so no request is mid-flight when the balancer goes away.
    if (proxy_) proxy_->Stop();
    for (std::thread& t : schedulers_) {
      if (t.joinable()) t.join();
    }
    if (admin_server_) admin_server_->Stop();
  }

 private:
  Status StartBalancer(const config::Config& config) {
    scaling::LoadBalancerDependencies deps;
    deps.prober = prober_;
    // TLS backends are probed over TLS with their own settings (unless a test injected a prober).
    if (deps_.prober == nullptr) {
      auto prober = BackendProber(config);
      if (!prober) return std::unexpected(prober.error());
      backend_prober_ = std::make_shared<SwitchableProber>(std::move(*prober));
      deps.prober = backend_prober_;
    }
    deps.clock = &clock_;
    deps.random = deps_.random != nullptr ? deps_.random : MakeSystemRandom();
    if (!config.load_balancer.geoip_database.empty()) {
      auto geo = geo::OpenMaxMindDatabase(config.load_balancer.geoip_database);
      if (!geo) {
        return MakeError(geo.error().code(),
                         fmt::format("load_balancer.geoip_database: {}", geo.error().message()));
      }
      deps.geo = std::move(*geo);
    }
    balancer_ = std::make_unique<scaling::GlobalLoadBalancer>(config.load_balancer.strategy,
                                                              BalancerOptions(config), deps);
    for (const config::BackendConfig& bc : config.backends) {
      if (auto status = balancer_->RegisterBackend(ToBackend(bc)); !status) return status;
    }
    if (config.listeners.empty()) return {};
    if (!config.log.access_log.empty()) {
      auto access_log = proxy::AccessLog::Open(config.log.access_log, config.log.format);
      if (!access_log) {
        return MakeError(access_log.error().code(),
                         "log.access_log: " + access_log.error().message());
      }
      access_log_ = std::move(*access_log);
    }
    auto proxy =
        proxy::ProxyServer::Start(ProxyOptionsFrom(config, cdn_.get(), access_log_), *balancer_);
    if (!proxy) {
      return MakeError(proxy.error().code(),
                       fmt::format("proxy listeners: {}", proxy.error().message()));
    }
    proxy_ = std::move(*proxy);
    for (std::size_t i = 0; i < config.listeners.size(); ++i) {
      spdlog::info("proxy listener '{}' on {}:{}", config.listeners[i].name,
                   config.listeners[i].listen.host, proxy_->port(i));
    }
    return {};
  }

  // The network prober, or one that speaks TLS to the backends configured with it.
  Result<std::shared_ptr<Prober>> BackendProber(const config::Config& config) {
    std::vector<net::TlsProbeTarget> tls_targets;
    for (const config::BackendConfig& bc : config.backends) {
      if (bc.tls && bc.tls->options.enabled && !bc.tcp_check) {
        tls_targets.push_back({bc.address, bc.port, bc.tls->options});
      }
    }
    if (tls_targets.empty()) return prober_;
    auto tls_prober = net::MakeTlsAwareProber(clock_, std::move(tls_targets));
    if (!tls_prober) {
      return MakeError(tls_prober.error().code(),
                       fmt::format("backend health checks: {}", tls_prober.error().message()));
    }
    return std::move(*tls_prober);
  }

  std::string current_source_file() {
    std::lock_guard lock(reload_mu_);
    return current_.source_file;
  }

  // Reload's work, under reload_mu_. Everything that can fail on the new files (TLS, the
  // token, the probers) is built before anything is applied, so an error changes nothing.
  Result<admin::ReloadSummary> ApplyReload(const config::Config& next) {
    const config::TlsFileCheck tls = config::CheckTlsFiles(next, clock_.WallNow());
    if (!tls.issues.empty()) return InvalidArgument(JoinIssues(tls.issues));
    Result<std::string> token =
        ResolveAdminToken(next.admin, next.source_file, std::getenv("STREAMGATE_ADMIN_TOKEN"));
    if (!token) return std::unexpected(token.error());
    ConfigDiff diff = DiffConfigs(current_, next);
    // Settings a restart would change are compared with what the daemon started with, so they
    // are reported on every reload until the restart.
    diff.restart_required = DiffConfigs(started_, next).restart_required;

    std::shared_ptr<Prober> new_prober;
    if (backend_prober_) {
      auto prober = BackendProber(next);
      if (!prober) return std::unexpected(prober.error());
      new_prober = std::move(*prober);
    }
    // The access log: another target opens a new one; the same one is reopened (log rotation).
    std::shared_ptr<proxy::AccessLog> access_log = access_log_;
    if (proxy_ && next.log.access_log != current_.log.access_log) {
      access_log.reset();
      if (!next.log.access_log.empty()) {
        auto opened = proxy::AccessLog::Open(next.log.access_log, started_.log.format);
        if (!opened) {
          return MakeError(opened.error().code(), "log.access_log: " + opened.error().message());
        }
        access_log = std::move(*opened);
      }
    }
    admin::ReloadSummary summary;
    if (proxy_) {
      // The running listeners stay as started (moving, adding or removing one needs a
      // restart); each takes the TLS settings the file now gives the listener of its name.
      config::Config proxy_config = next;
      proxy_config.listeners = started_.listeners;
      for (config::ListenerConfig& listener : proxy_config.listeners) {
        for (const config::ListenerConfig& wanted : next.listeners) {
          if (wanted.name == listener.name) listener.tls = wanted.tls;
        }
      }
      Status reconfigured =
          proxy_->Reconfigure(ProxyOptionsFrom(proxy_config, cdn_.get(), access_log));
      if (!reconfigured) {
        return MakeError(reconfigured.error().code(), "proxy: " + reconfigured.error().message());
      }
      summary.applied.push_back("proxy settings and TLS certificates re-read");
      if (access_log != access_log_) {
        summary.applied.push_back(next.log.access_log.empty()
                                      ? "access log off"
                                      : "access log now written to " + next.log.access_log);
      } else if (access_log_) {
        if (Status reopened = access_log_->Reopen(); reopened) {
          summary.applied.push_back("access log reopened");
        } else {
          summary.failed.push_back("access log: " + reopened.error().message());
        }
      }
      access_log_ = std::move(access_log);
    }
    if (new_prober) backend_prober_->Set(std::move(new_prober));
    if (next.admin.tls && started_.admin.tls) {
      Status reloaded = admin_server_->ReloadTls(next.admin.tls->options);
      if (reloaded) {
        summary.applied.push_back("admin TLS certificates re-read");
      } else {
        summary.failed.push_back("admin.tls: " + reloaded.error().message());
      }
    }
    admin_api_->SetToken(*token, next.admin.protect_reads);

    // What is applied becomes the base of the next reload. A change a manager refuses (say, a
    // plan busy with a backup) is put back as it was, so the next reload sees it and retries.
    config::Config applied = next;
    auto record = [&summary](const std::string& what, const Status& status) {
      if (status) {
        summary.applied.push_back(what);
      } else {
        summary.failed.push_back(what + ": " + status.error().message());
      }
      return status.has_value();
    };
    for (const config::RegionConfig& rc : diff.regions_added) {
      scaling::Region region = ToRegion(rc);
      region.primary = false;  // set below, once every region is there
      if (!record(fmt::format("region '{}' added", rc.id),
                  regions_.RegisterRegion(std::move(region)))) {
        RevertEntry(applied.regions, current_.regions, rc.id);
      }
    }
    for (const config::RegionConfig& rc : diff.regions_changed) {
      scaling::Region region = ToRegion(rc);
      // The file did not touch `active`: an API (de)activation stays.
      if (SameActive(current_.regions, rc)) {
        if (auto live = regions_.GetRegion(rc.id)) region.active = live->active;
      }
      if (!record(fmt::format("region '{}' changed", rc.id), regions_.UpdateRegion(region))) {
        RevertEntry(applied.regions, current_.regions, rc.id);
      }
    }
    if (diff.primary && !record(fmt::format("primary region set to '{}'", *diff.primary),
                                regions_.SetPrimaryRegion(*diff.primary))) {
      for (config::RegionConfig& rc : applied.regions) rc.primary = rc.id == PrimaryOf(current_);
    }
    for (const std::string& id : diff.regions_removed) {
      if (!record(fmt::format("region '{}' removed", id), regions_.RemoveRegion(id))) {
        RevertEntry(applied.regions, current_.regions, id);
      }
    }
    if (balancer_) {
      for (const config::BackendConfig& bc : diff.backends_added) {
        if (!record(fmt::format("backend '{}' added", bc.id),
                    balancer_->RegisterBackend(ToBackend(bc)))) {
          RevertEntry(applied.backends, current_.backends, bc.id);
        }
      }
      for (const config::BackendConfig& bc : diff.backends_changed) {
        scaling::Backend backend = ToBackend(bc);
        if (SameActive(current_.backends, bc)) {
          if (auto live = balancer_->GetBackend(bc.id)) backend.active = live->active;
        }
        if (!record(fmt::format("backend '{}' changed", bc.id),
                    balancer_->UpdateBackend(std::move(backend)))) {
          RevertEntry(applied.backends, current_.backends, bc.id);
        }
      }
      for (const std::string& id : diff.backends_removed) {
        if (!record(fmt::format("backend '{}' removed", id), balancer_->RemoveBackend(id))) {
          RevertEntry(applied.backends, current_.backends, id);
        }
      }
      if (diff.strategy) {
        balancer_->SetStrategy(*diff.strategy);
        summary.applied.push_back(
            fmt::format("strategy set to {}", scaling::ToString(*diff.strategy)));
      }
    }
    if (dr_ && applied.disaster_recovery && current_.disaster_recovery) {
      auto& plans_after = applied.disaster_recovery->plans;
      const auto& plans_before = current_.disaster_recovery->plans;
      for (const auto& plan : diff.plans_added) {
        if (!record(fmt::format("plan '{}' added", plan.id), dr_->CreatePlan(plan))) {
          RevertEntry(plans_after, plans_before, plan.id);
        }
      }
      for (const auto& plan : diff.plans_changed) {
        scaling::DisasterRecoveryPlan updated = plan;
        const auto old = std::find_if(plans_before.begin(), plans_before.end(),
                                      [&](const auto& e) { return e.plan.id == plan.id; });
        if (old != plans_before.end() && old->plan.active == plan.active) {
          if (auto live = dr_->GetPlan(plan.id)) updated.active = live->active;
        }
        if (!record(fmt::format("plan '{}' changed", plan.id), dr_->UpdatePlan(updated))) {
          RevertEntry(plans_after, plans_before, plan.id);
        }
      }
      for (const std::string& id : diff.plans_removed) {
        if (!record(fmt::format("plan '{}' removed (its repository is kept)", id),
                    dr_->RemovePlan(id))) {
          RevertEntry(plans_after, plans_before, id);
        }
      }
    }
    if (diff.log_level_changed && !deps_.log_level_fixed) {
      spdlog::set_level(spdlog::level::from_str(next.log.level));
      summary.applied.push_back("log level set to " + next.log.level);
    }
    if (runtime_state_) runtime_state_->Rebase(applied, diff.primary.has_value());
    summary.restart_required = std::move(diff.restart_required);
    current_ = std::move(applied);
    return summary;
  }

  // The CDN manager on the daemon's clock, so the edge cache's freshness follows it too.
  // Opens <data_dir>/state.db and applies the admin API's saved changes over the config.
  Status StartRuntimeState(const config::Config& config) {
    const std::filesystem::path file = std::filesystem::path(config.data_dir) / "state.db";
    auto store = state::OpenSqliteStateStore(file);
    if (!store) return std::unexpected(store.error());
    runtime_state_ = std::make_unique<RuntimeStateKeeper>(std::move(*store), config, regions_,
                                                          balancer_.get(), dr_.get(), clock_);
    return runtime_state_->Restore();
  }

  Status StartCdn(const config::CdnConfig& config) {
    scaling::CDNDependencies deps;
    deps.clock = &clock_;
    deps.fetcher = deps_.cdn_fetcher;
    if (deps.fetcher == nullptr) {
      cdn::HttpFetcherOptions fetch;
      fetch.timeout = config.manager.fetch_timeout;
      deps.fetcher = cdn::MakeHttpFetcher(fetch);
    }
    deps.purger = deps_.cdn_purger;
    if (deps.purger == nullptr && config.manager.provider != scaling::CDNProvider::kLocal) {
      auto purger = cdn::MakePurger(scaling::ToPurgerConfig(config.manager));
      if (!purger) {
        return MakeError(
            purger.error().code(),
            fmt::format("cdn: {} purger: {}", scaling::ToString(config.manager.provider),
                        purger.error().message()));
      }
      deps.purger = std::move(*purger);
    }
    cdn_ = std::make_unique<scaling::CDNManager>(config.manager, std::move(deps));
    spdlog::info("cdn: provider {}, {} bytes, {} eviction, default ttl {}s",
                 scaling::ToString(config.manager.provider), config.manager.max_cache_size,
                 cdn::ToString(config.manager.eviction_policy), config.manager.default_ttl.count());
    return {};
  }

  // The manager on the daemon's clock with every configured plan. Plans are checked here (a
  // source that does not exist fails Start) and adopt the points their repositories hold.
  Status StartDisasterRecovery(const config::DisasterRecoveryConfig& config) {
    scaling::DisasterRecoveryDependencies deps;
    deps.engine = deps_.backup_engine != nullptr ? deps_.backup_engine
                                                 : scaling::MakeRepositoryBackupEngine(clock_);
    deps.clock = &clock_;
    deps.scratch_directory = config.scratch_directory;
    dr_ = std::make_unique<scaling::DisasterRecoveryManager>(config.max_recovery_points,
                                                             std::move(deps));
    for (const config::DisasterRecoveryPlanConfig& entry : config.plans) {
      if (auto status = dr_->CreatePlan(entry.plan); !status) {
        const std::string& message = status.error().message();
        const std::string named = fmt::format("plan '{}'", entry.plan.id);
        return MakeError(
            status.error().code(),
            fmt::format("disaster_recovery: {}",
                        message.starts_with(named) ? message : named + ": " + message));
      }
    }
    spdlog::info("disaster recovery: {} plans, {} recovery points in their repositories",
                 dr_->GetPlanCount(), dr_->GetRecoveryPointCount());
    return {};
  }

  bool stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  // The backup scheduler: every tick, a backup of each plan the manager says is due
  // (ShouldBackup: active, and its newest point older than its interval or RPO), one at a time
  // on this thread, and a recovery test of each active plan every `test_interval` (0: never;
  // the first one test_interval after the plan is first seen). Plans created through the admin
  // API are picked up on the next tick. A failed backup is retried after kRetryDelay (or the
  // plan's interval, if shorter) rather than on every tick. A plan with a secondary repository
  // is copied there after each backup (by the manager); a copy that failed, or points from before
  // a restart, are copied again when ShouldCopy says so (a minute after a failure). Stop is
  // checked between plans, so it waits for the backup, copy or test in progress only.
  void RunBackups(std::chrono::seconds test_interval) {
    static constexpr std::chrono::seconds kRetryDelay{60};
    struct Schedule {
      MonoTime next_test{};
      MonoTime retry_at{};  // after a failed backup
    };
    std::map<std::string, Schedule> schedules;
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      for (const scaling::DisasterRecoveryPlan& plan : dr_->ListPlans()) {
        if (stopping()) break;
        auto [it, inserted] = schedules.try_emplace(plan.id);
        Schedule& schedule = it->second;
        if (inserted) schedule.next_test = clock_.Now() + test_interval;
        if (clock_.Now() >= schedule.retry_at && dr_->ShouldBackup(plan.id)) {
          auto point = dr_->CreateRecoveryPoint(plan.id);
          // FailedPrecondition: an admin request is running this plan's backup right now.
          if (!point && point.error().code() != ErrorCode::kFailedPrecondition) {
            const auto delay =
                std::min<std::chrono::nanoseconds>(kRetryDelay, plan.backup_interval);
            schedule.retry_at = clock_.Now() + delay;
            spdlog::warn("disaster recovery: plan '{}' backup failed; retrying in {}s", plan.id,
                         std::chrono::duration_cast<std::chrono::seconds>(delay).count());
          }
        }
        if (!stopping() && dr_->ShouldCopy(plan.id)) {
          (void)dr_->CopyToSecondary(plan.id);  // the manager logs and records the outcome
        }
        if (test_interval.count() > 0 && plan.active && clock_.Now() >= schedule.next_test &&
            !stopping()) {
          auto result = dr_->TestRecovery(plan.id);  // the manager logs and records the outcome
          if (!result) spdlog::warn("disaster recovery test: {}", result.error().ToString());
          schedule.next_test = clock_.Now() + test_interval;
        }
      }
      lock.lock();
      wake_.wait_for(lock, deps_.scheduler_tick, [this] { return stopping_; });
    }
  }

  // Runs `task` at `first`, then `interval` after each run, by the daemon's clock; checked every
  // scheduler tick.
  void RunPeriodically(MonoTime first, std::chrono::milliseconds interval,
                       const std::function<void()>& task) {
    MonoTime next = first;
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      if (clock_.Now() >= next) {
        task();
        next = clock_.Now() + interval;
      }
      lock.lock();
      wake_.wait_for(lock, deps_.scheduler_tick, [this] { return stopping_; });
    }
  }

  // Control-plane loop: a health check whenever one is due. A sweep's probes carry their own
  // timeouts, so Stop waits at most one probe timeout.
  void RunScheduler(const std::function<bool()>& due,
                    const std::function<Result<scaling::HealthCheckReport>()>& sweep,
                    std::string_view what) {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      if (due()) {
        auto report = sweep();
        if (!report) spdlog::error("{} health check failed: {}", what, report.error().ToString());
      }
      lock.lock();
      wake_.wait_for(lock, deps_.scheduler_tick, [this] { return stopping_; });
    }
  }

  const config::Config started_;  // what needs a restart is compared with this
  std::mutex reload_mu_;          // one reload at a time; guards current_
  config::Config current_;        // the config applied last (start or reload)
  DaemonDependencies deps_;
  const Clock& clock_;
  std::shared_ptr<Prober> prober_;
  std::shared_ptr<SwitchableProber> backend_prober_;  // null when a test injected the prober
  scaling::MultiRegionManager regions_;
  std::unique_ptr<scaling::GlobalLoadBalancer> balancer_;
  std::unique_ptr<scaling::CDNManager> cdn_;  // before proxy_ and admin_api_, which use it
  std::unique_ptr<scaling::DisasterRecoveryManager> dr_;  // before admin_api_, which uses it
  std::shared_ptr<proxy::AccessLog> access_log_;          // null: none; the proxy holds it too
  std::unique_ptr<proxy::ProxyServer> proxy_;
  std::unique_ptr<RuntimeStateKeeper> runtime_state_;   // before admin_api_, which calls it
  std::unique_ptr<admin::DashboardHistory> dashboard_;  // before admin_api_, which serves it
  std::unique_ptr<admin::AdminApi> admin_api_;
  std::unique_ptr<net::HttpServer> admin_server_;
  std::vector<std::thread> schedulers_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::Start(const config::Config& config,
                                              DaemonDependencies deps) {
  if (auto valid = scaling::ValidateHealthCheckOptions(config.health_check); !valid) {
    return std::unexpected(valid.error());
  }
  // Constructors throw only on invalid options; none of that may escape Start.
  try {
    auto daemon = std::make_unique<DaemonImpl>(config, std::move(deps));
    if (auto status = daemon->Init(config); !status) return std::unexpected(status.error());
    return daemon;
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInvalidArgument, e.what());
  }
}

}  // namespace streamgate::daemon
