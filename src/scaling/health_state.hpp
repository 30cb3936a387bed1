// The rise/fall state machine of one health-checked target, shared by regions and (later)
// backends. Pure: it sees probe outcomes and returns the next status.
#pragma once

#include <chrono>
#include <cstdint>

#include "streamgate/scaling/region.hpp"

namespace streamgate::scaling {

struct HealthCounters {
  HealthStatus status = HealthStatus::kUnknown;
  std::uint32_t consecutive_successes = 0;
  std::uint32_t consecutive_failures = 0;
};

struct HealthThresholds {
  std::uint32_t rise = 2;
  std::uint32_t fall = 3;
  std::chrono::microseconds degraded_latency{1'000'000};
};

// Applies one probe outcome; returns the counters after it.
[[nodiscard]] HealthCounters ApplyProbe(HealthCounters counters, bool ok,
                                        std::chrono::microseconds latency,
                                        const HealthThresholds& thresholds);

}  // namespace streamgate::scaling
