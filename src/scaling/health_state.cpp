#include "scaling/health_state.hpp"

namespace streamgate::scaling {

HealthCounters ApplyProbe(HealthCounters counters, bool ok, std::chrono::microseconds latency,
                          const HealthThresholds& thresholds) {
  if (ok) {
    ++counters.consecutive_successes;
    counters.consecutive_failures = 0;
    const HealthStatus up =
        latency > thresholds.degraded_latency ? HealthStatus::kDegraded : HealthStatus::kHealthy;
    // An unhealthy target must prove itself `rise` times before it takes traffic again.
    if (counters.status != HealthStatus::kUnhealthy ||
        counters.consecutive_successes >= thresholds.rise) {
      counters.status = up;
    }
    return counters;
  }
  ++counters.consecutive_failures;
  counters.consecutive_successes = 0;
  if (counters.consecutive_failures >= thresholds.fall) {
    counters.status = HealthStatus::kUnhealthy;
  } else if (counters.status != HealthStatus::kUnhealthy) {
    // Failing but not yet past `fall`: still usable, but no longer trusted as healthy.
    counters.status = HealthStatus::kDegraded;
  }
  return counters;
}

}  // namespace streamgate::scaling
