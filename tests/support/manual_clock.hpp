// A clock that moves only when the test says so.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "streamgate/common/clock.hpp"

namespace streamgate::testing {

class ManualClock final : public Clock {
 public:
  MonoTime Now() const override { return MonoTime(std::chrono::nanoseconds(nanos_.load())); }
  WallTime WallNow() const override {
    return WallTime(std::chrono::duration_cast<WallTime::duration>(
        std::chrono::nanoseconds(kWallEpochOffset + nanos_.load())));
  }

  void Advance(std::chrono::nanoseconds d) { nanos_ += d.count(); }

 private:
  // Starts far from zero so "time since epoch" bugs show; wall time is a fixed 2027 date.
  static constexpr std::int64_t kWallEpochOffset = 1'800'000'000'000'000'000;
  std::atomic<std::int64_t> nanos_{3'600'000'000'000'000};
};

}  // namespace streamgate::testing
