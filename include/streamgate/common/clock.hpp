// Time is injected: components read it from a Clock so tests can drive it by hand.
#pragma once

#include <chrono>

namespace streamgate {

using MonoTime = std::chrono::steady_clock::time_point;  // for intervals and deadlines
using WallTime = std::chrono::system_clock::time_point;  // for timestamps shown to people

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual MonoTime Now() const = 0;
  [[nodiscard]] virtual WallTime WallNow() const = 0;
};

// The process's real clocks (steady and system). Lives for the whole program.
[[nodiscard]] const Clock& RealClock();

}  // namespace streamgate
