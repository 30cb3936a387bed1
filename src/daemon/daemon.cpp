#include "daemon/daemon.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "admin/admin_api.hpp"
#include "net/http_server.hpp"

namespace streamgate::daemon {
namespace {

class DaemonImpl final : public Daemon {
 public:
  DaemonImpl(const config::Config& config, DaemonDependencies deps)
      : deps_(std::move(deps)),
        clock_(deps_.clock != nullptr ? *deps_.clock : RealClock()),
        regions_(config.health_check,
                 deps_.prober != nullptr ? deps_.prober : MakeNetworkProber(clock_), clock_),
        admin_api_(regions_) {}

  ~DaemonImpl() override { Stop(); }

  Status Init(const config::Config& config) {
    for (const config::RegionConfig& rc : config.regions) {
      scaling::Region region;
      region.id = rc.id;
      region.name = rc.name;
      region.location = rc.location;
      region.endpoint = rc.endpoint;
      region.priority = rc.priority;
      region.active = rc.active;
      region.primary = rc.primary;
      if (auto status = regions_.RegisterRegion(std::move(region)); !status) return status;
    }
    net::HttpServerOptions admin_options;
    admin_options.host = config.admin.listen.host;
    admin_options.port = config.admin.listen.port;
    admin_options.threads = 1;
    auto server = net::HttpServer::Start(
        admin_options, [this](const net::HttpRequest& request) { return admin_api_.Handle(request); });
    if (!server) {
      return MakeError(server.error().code(),
                       fmt::format("admin listener {}:{}: {}", admin_options.host,
                                   admin_options.port, server.error().message()));
    }
    admin_server_ = std::move(*server);
    scheduler_ = std::thread([this] { RunScheduler(); });
    spdlog::info("streamgate: {} regions, admin API on {}:{}", regions_.GetRegionCount(),
                 admin_options.host, admin_server_->port());
    return {};
  }

  std::uint16_t admin_port() const override { return admin_server_->port(); }
  scaling::MultiRegionManager& regions() override { return regions_; }

  void Stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    if (scheduler_.joinable()) scheduler_.join();
    if (admin_server_) admin_server_->Stop();
  }

 private:
  // Control-plane loop: health checks when due. A sweep's probes have their own timeouts, so a
  // stop waits at most one probe timeout.
  void RunScheduler() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      if (regions_.ShouldHealthCheck()) {
        auto report = regions_.PerformHealthCheck();
        if (!report) spdlog::error("health check failed: {}", report.error().ToString());
      }
      lock.lock();
      wake_.wait_for(lock, deps_.scheduler_tick, [this] { return stopping_; });
    }
  }

  DaemonDependencies deps_;
  const Clock& clock_;
  scaling::MultiRegionManager regions_;
  admin::AdminApi admin_api_;
  std::unique_ptr<net::HttpServer> admin_server_;
  std::thread scheduler_;
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
  auto daemon = std::make_unique<DaemonImpl>(config, std::move(deps));
  if (auto status = daemon->Init(config); !status) return std::unexpected(status.error());
  return daemon;
}

}  // namespace streamgate::daemon
