// A clock that moves only when the test says so.
#pragma once

#include <atomic>
#include <chrono>

#include "streamgate/common/clock.hpp"

namespace streamgate::testing {

class ManualClock final : public Clock {
 public:
  MonoTime Now() const override { return MonoTime(mono_.load()); }
  WallTime WallNow() const override { return WallTime(wall_.load()); }

  void Advance(std::chrono::nanoseconds d) {
    mono_ += d;
    wall_ += std::chrono::duration_cast<WallTime::duration>(d);
  }

 private:
  // Starts far from zero so "time since epoch" bugs show.
  std::atomic<MonoTime::duration> mono_{std::chrono::hours(1000)};
  std::atomic<WallTime::duration> wall_{std::chrono::seconds(1'800'000'000)};
};

}  // namespace streamgate::testing
