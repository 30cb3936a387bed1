#include "streamgate/common/random.hpp"

#include <mutex>
#include <random>

namespace streamgate {
namespace {

class SeedSequence final : public RandomSource {
 public:
  explicit SeedSequence(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t NextSeed() override {
    std::lock_guard lock(mu_);
    return engine_();
  }

 private:
  std::mutex mu_;
  std::mt19937_64 engine_;
};

}  // namespace

std::shared_ptr<RandomSource> MakeSystemRandom() {
  std::random_device device;
  const std::uint64_t seed = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  return std::make_shared<SeedSequence>(seed);
}

std::shared_ptr<RandomSource> MakeSeededRandom(std::uint64_t seed) {
  return std::make_shared<SeedSequence>(seed);
}

}  // namespace streamgate
