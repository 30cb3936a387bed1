// Randomness is injected: components draw from a RandomSource so tests can fix the sequence.
#pragma once

#include <cstdint>
#include <memory>

namespace streamgate {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // A new independent generator seed; hot paths seed a thread-local fast generator from it.
  [[nodiscard]] virtual std::uint64_t NextSeed() = 0;
};

// Seeds from the OS (std::random_device). Thread-safe.
[[nodiscard]] std::shared_ptr<RandomSource> MakeSystemRandom();
// A deterministic sequence from `seed`. Thread-safe.
[[nodiscard]] std::shared_ptr<RandomSource> MakeSeededRandom(std::uint64_t seed);

}  // namespace streamgate
