#include "scaling/load_balancer_tables.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <queue>
#include <tuple>

namespace streamgate::scaling::lb {
namespace {

// nginx's smooth weighted round-robin costs O(n) per slot; above this many steps the
// heap-based stride scheduler (same proportions, slightly less smooth) is used instead.
constexpr std::uint64_t kMaxSmoothWork = std::uint64_t{1} << 24;

std::vector<std::uint32_t> NginxSmooth(std::span<const std::uint64_t> w, std::uint64_t total) {
  std::vector<std::int64_t> current(w.size(), 0);
  std::vector<std::uint32_t> out;
  out.reserve(total);
  for (std::uint64_t step = 0; step < total; ++step) {
    std::size_t best = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      current[i] += static_cast<std::int64_t>(w[i]);
      if (current[i] > current[best]) best = i;
    }
    current[best] -= static_cast<std::int64_t>(total);
    out.push_back(static_cast<std::uint32_t>(best));
  }
  return out;
}

// Stride scheduling: the k-th pick of i is due at (k + 0.5) / w[i]; take picks by due time.
std::vector<std::uint32_t> StrideSchedule(std::span<const std::uint64_t> w, std::uint64_t total) {
  using Due = std::tuple<double, std::uint32_t, std::uint64_t>;  // time, position, k
  std::priority_queue<Due, std::vector<Due>, std::greater<>> heap;
  for (std::size_t i = 0; i < w.size(); ++i) {
    heap.emplace(0.5 / static_cast<double>(w[i]), static_cast<std::uint32_t>(i), 0);
  }
  std::vector<std::uint32_t> out;
  out.reserve(total);
  while (out.size() < total) {
    auto [due, i, k] = heap.top();
    heap.pop();
    out.push_back(i);
    if (k + 1 < w[i]) {
      heap.emplace((static_cast<double>(k + 1) + 0.5) / static_cast<double>(w[i]), i, k + 1);
    }
  }
  return out;
}

bool IsPrime(std::size_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (std::size_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

}  // namespace

std::vector<std::uint32_t> BuildSmoothSchedule(std::span<const std::uint32_t> weights) {
  const std::size_t n = weights.size();
  if (n == 0) return {};
  std::uint64_t g = 0;
  for (std::uint32_t w : weights) g = std::gcd(g, std::uint64_t{std::max<std::uint32_t>(w, 1)});
  std::vector<std::uint64_t> w(n);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    w[i] = std::max<std::uint64_t>(weights[i], 1) / g;
    total += w[i];
  }
  if (total == n) {
    std::vector<std::uint32_t> out(n);
    std::iota(out.begin(), out.end(), 0U);
    return out;
  }
  if (total > kMaxScheduleLength) {
    // Proportions stay within rounding; weight 1 backends keep one slot per cycle.
    const double scale = static_cast<double>(kMaxScheduleLength) / static_cast<double>(total);
    total = 0;
    for (auto& x : w) {
      x = std::max<std::uint64_t>(
          1, static_cast<std::uint64_t>(std::llround(static_cast<double>(x) * scale)));
      total += x;
    }
  }
  if (total * n <= kMaxSmoothWork) return NginxSmooth(w, total);
  return StrideSchedule(w, total);
}

std::size_t MaglevTableSize(std::size_t backends) {
  std::size_t n = std::max<std::size_t>(65537, backends * 100);
  while (!IsPrime(n)) ++n;
  return n;
}

std::vector<std::uint32_t> BuildMaglevTable(std::span<const std::string_view> ids,
                                            std::span<const std::uint32_t> weights,
                                            std::size_t size) {
  const std::size_t n = ids.size();
  constexpr std::uint32_t kEmpty = 0xFFFFFFFFU;
  if (n == 0 || size == 0) return {};
  std::vector<std::uint32_t> table(size, kEmpty);
  std::vector<std::uint64_t> position(n);  // where each backend's permutation is now
  std::vector<std::uint64_t> skip(n);
  std::uint32_t max_weight = 1;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t h1 = XXH3_64bits_withSeed(ids[i].data(), ids[i].size(), 0x5bd1e995);
    const std::uint64_t h2 = XXH3_64bits_withSeed(ids[i].data(), ids[i].size(), 0x9e3779b9);
    position[i] = h1 % size;
    skip[i] = h2 % (size - 1) + 1;
    max_weight = std::max(max_weight, weights[i]);
  }
  std::size_t filled = 0;
  for (std::uint64_t round = 0; filled < size; ++round) {
    for (std::size_t i = 0; i < n && filled < size; ++i) {
      // Backend i takes a turn in this round when its weight share crosses an integer.
      const std::uint64_t w = std::max<std::uint32_t>(weights[i], 1);
      if ((round + 1) * w / max_weight == round * w / max_weight) continue;
      while (table[position[i]] != kEmpty) position[i] = (position[i] + skip[i]) % size;
      table[position[i]] = static_cast<std::uint32_t>(i);
      position[i] = (position[i] + skip[i]) % size;
      ++filled;
    }
  }
  return table;
}

std::uint64_t HashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

std::optional<std::size_t> CountryIndex(std::string_view iso_code) {
  if (iso_code.size() != 2) return std::nullopt;
  const char a = iso_code[0];
  const char b = iso_code[1];
  if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z') return std::nullopt;
  return static_cast<std::size_t>(a - 'A') * 26 + static_cast<std::size_t>(b - 'A');
}

std::optional<std::size_t> ContinentIndex(std::string_view code) {
  static constexpr std::string_view kCodes[kContinentSlots] = {"AF", "AN", "AS", "EU",
                                                               "NA", "OC", "SA"};
  for (std::size_t i = 0; i < kContinentSlots; ++i) {
    if (kCodes[i] == code) return i;
  }
  return std::nullopt;
}

UnitVector ToUnitVector(double latitude_deg, double longitude_deg) {
  constexpr double kRad = 3.14159265358979323846 / 180.0;
  const double lat = latitude_deg * kRad;
  const double lon = longitude_deg * kRad;
  return UnitVector{std::cos(lat) * std::cos(lon), std::cos(lat) * std::sin(lon), std::sin(lat)};
}

}  // namespace streamgate::scaling::lb
