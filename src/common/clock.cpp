#include "streamgate/common/clock.hpp"

namespace streamgate {
namespace {

class SystemClocks final : public Clock {
 public:
  MonoTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
};

}  // namespace

const Clock& RealClock() {
  static const SystemClocks clock;
  return clock;
}

}  // namespace streamgate
