// The running gateway: builds the components from a Config, runs the health-check scheduler
// and serves the admin API until Stop().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "config/config.hpp"
#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"
#include "streamgate/health/prober.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::daemon {

struct DaemonDependencies {
  std::shared_ptr<Prober> prober;  // null: probe over the network
  const Clock* clock = nullptr;    // null: the real clock
  // How often the scheduler asks ShouldHealthCheck (real time); bounds how late a sweep starts.
  std::chrono::milliseconds scheduler_tick{50};
};

class Daemon {
 public:
  // Registers the configured regions, binds the admin listener and starts the scheduler.
  [[nodiscard]] static Result<std::unique_ptr<Daemon>> Start(const config::Config& config,
                                                             DaemonDependencies deps = {});
  virtual ~Daemon() = default;

  [[nodiscard]] virtual std::uint16_t admin_port() const = 0;
  [[nodiscard]] virtual scaling::MultiRegionManager& regions() = 0;
  // Stops the scheduler and the admin server; idempotent, safe from any thread but its own.
  virtual void Stop() = 0;
};

}  // namespace streamgate::daemon
