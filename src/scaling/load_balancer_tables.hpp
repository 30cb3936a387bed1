// Pure builders for the per-snapshot tables of GlobalLoadBalancer: the smooth weighted
// round-robin schedule, the Maglev lookup table and geo helpers. No state, no locks: the
// balancer calls them while building a snapshot, tests call them directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace streamgate::scaling::lb {

// Longest schedule built; larger weight sums are scaled down (each weight stays >= 1).
inline constexpr std::size_t kMaxScheduleLength = 1 << 20;

// One cycle of smooth weighted round-robin over positions 0..weights.size()-1: position i
// appears weights[i] times (after dividing by the common gcd and any scaling to fit
// kMaxScheduleLength) and picks of each position are spread evenly. Equal weights give
// 0, 1, ..., n-1.
[[nodiscard]] std::vector<std::uint32_t> BuildSmoothSchedule(
    std::span<const std::uint32_t> weights);

// Smallest prime >= max(65537, 100 * backends): Maglev needs a prime size, and 100 slots per
// backend keeps the imbalance between backends around 1%.
[[nodiscard]] std::size_t MaglevTableSize(std::size_t backends);

// Maglev lookup table of `size` slots (a prime) holding positions into `ids`. Each backend
// fills slots along its own permutation (offset and skip from its id's hash) in turns
// proportional to its weight, so removing one backend moves few keys of the others.
[[nodiscard]] std::vector<std::uint32_t> BuildMaglevTable(std::span<const std::string_view> ids,
                                                          std::span<const std::uint32_t> weights,
                                                          std::size_t size);

// XXH3 64-bit hash: the key hash for consistent_hash lookups.
[[nodiscard]] std::uint64_t HashKey(std::string_view key);

// "IE" -> 0..675; nullopt unless two upper-case ASCII letters.
[[nodiscard]] std::optional<std::size_t> CountryIndex(std::string_view iso_code);
inline constexpr std::size_t kCountrySlots = 26 * 26;
// "AF", "AN", "AS", "EU", "NA", "OC", "SA" -> 0..6.
[[nodiscard]] std::optional<std::size_t> ContinentIndex(std::string_view code);
inline constexpr std::size_t kContinentSlots = 7;

// A point on the unit sphere. Ordering regions by descending dot product with the client's
// vector orders them as geo::GreatCircleKm would, without trigonometry per region.
struct UnitVector {
  double x = 0.0;
  double y = 0.0;
  double z = 0.0;
  [[nodiscard]] double Dot(const UnitVector& o) const { return x * o.x + y * o.y + z * o.z; }
};
[[nodiscard]] UnitVector ToUnitVector(double latitude_deg, double longitude_deg);

}  // namespace streamgate::scaling::lb
