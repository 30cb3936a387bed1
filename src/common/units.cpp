#include "streamgate/common/units.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string_view>

namespace streamgate {
namespace {

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

// Largest first: ParseDuration requires compound durations in this order, and FormatDuration
// picks the first unit that divides exactly.
constexpr std::array<Unit, 7> kDurationUnits = {{
    {"d", 86'400'000'000'000ULL},
    {"h", 3'600'000'000'000ULL},
    {"m", 60'000'000'000ULL},
    {"s", 1'000'000'000ULL},
    {"ms", 1'000'000ULL},
    {"us", 1'000ULL},
    {"ns", 1ULL},
}};

constexpr std::array<Unit, 10> kSizeUnits = {{
    {"", 1ULL},
    {"B", 1ULL},
    {"KB", 1'000ULL},
    {"MB", 1'000'000ULL},
    {"GB", 1'000'000'000ULL},
    {"TB", 1'000'000'000'000ULL},
    {"KiB", 1ULL << 10},
    {"MiB", 1ULL << 20},
    {"GiB", 1ULL << 30},
    {"TiB", 1ULL << 40},
}};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool HasSpace(std::string_view text) {
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) return true;
  }
  return false;
}

// The run of decimal digits starting at some position; length 0 when there is none.
struct Number {
  std::uint64_t value = 0;
  bool overflow = false;
  std::size_t length = 0;
};

Number ReadNumber(std::string_view text, std::size_t pos) {
  Number number;
  std::size_t end = pos;
  while (end < text.size() && IsDigit(text[end])) ++end;
  number.length = end - pos;
  if (number.length == 0) return number;
  auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + end, number.value);
  number.overflow = ec == std::errc::result_out_of_range;
  return number;
}

// Explains the character where a number was expected.
std::string NotANumber(char c) {
  if (c == '-' || c == '+') return "a sign is not allowed";
  return fmt::format("unexpected character '{}' (expected a number)", c);
}

}  // namespace

Result<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  auto fail = [text](std::string_view why) {
    return InvalidArgument(fmt::format("invalid duration '{}': {}", text, why));
  };
  if (text.empty()) return fail("empty value");
  if (HasSpace(text)) return fail("spaces are not allowed");

  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t total = 0;
  std::size_t previous_unit = 0;  // index into kDurationUnits + 1; 0 before the first part
  std::size_t pos = 0;
  while (pos < text.size()) {
    const Number number = ReadNumber(text, pos);
    if (number.length == 0) return fail(NotANumber(text[pos]));
    if (number.overflow) return fail("number is too large");
    pos += number.length;

    const std::size_t unit_start = pos;
    while (pos < text.size() && IsAlpha(text[pos])) ++pos;
    const std::string_view unit_name = text.substr(unit_start, pos - unit_start);
    if (unit_name.empty()) {
      if (unit_start == text.size()) return fail("missing unit (ns, us, ms, s, m, h or d)");
      if (text[unit_start] == '.') return fail("fractions are not allowed; use a smaller unit");
      return fail(fmt::format("unexpected character '{}'", text[unit_start]));
    }

    std::size_t unit_index = kDurationUnits.size();
    for (std::size_t i = 0; i < kDurationUnits.size(); ++i) {
      if (kDurationUnits[i].name == unit_name) unit_index = i;
    }
    if (unit_index == kDurationUnits.size()) {
      return fail(fmt::format("unknown unit '{}' (expected ns, us, ms, s, m, h or d)", unit_name));
    }
    // Requiring "1h30m" order (each unit once) turns typos like "1m1m" into errors.
    if (unit_index + 1 <= previous_unit) {
      return fail("units must go from largest to smallest, each used once");
    }
    previous_unit = unit_index + 1;

    const std::uint64_t factor = kDurationUnits[unit_index].factor;
    if (number.value > kMax / factor) return fail("out of range");
    const std::uint64_t part = number.value * factor;
    if (part > kMax - total) return fail("out of range");
    total += part;
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

Result<std::uint64_t> ParseSize(std::string_view text) {
  auto fail = [text](std::string_view why) {
    return InvalidArgument(fmt::format("invalid size '{}': {}", text, why));
  };
  if (text.empty()) return fail("empty value");
  if (HasSpace(text)) return fail("spaces are not allowed");

  const Number number = ReadNumber(text, 0);
  if (number.length == 0) return fail(NotANumber(text[0]));
  if (number.overflow) return fail("number is too large");
  const std::string_view unit_name = text.substr(number.length);
  if (!unit_name.empty() && unit_name.front() == '.') {
    return fail("fractions are not allowed; use a smaller unit");
  }
  for (const Unit& unit : kSizeUnits) {
    if (unit.name != unit_name) continue;
    if (number.value > std::numeric_limits<std::uint64_t>::max() / unit.factor) {
      return fail("out of range");
    }
    return number.value * unit.factor;
  }
  return fail(fmt::format("unknown unit '{}' (expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)",
                          unit_name));
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  const std::int64_t count = d.count();
  if (count == 0) return "0s";
  // Negate in unsigned arithmetic so that the minimum int64 value does not overflow.
  const std::uint64_t magnitude =
      count < 0 ? 0 - static_cast<std::uint64_t>(count) : static_cast<std::uint64_t>(count);
  const std::string_view sign = count < 0 ? "-" : "";
  for (const Unit& unit : kDurationUnits) {
    if (magnitude % unit.factor == 0) {
      return fmt::format("{}{}{}", sign, magnitude / unit.factor, unit.name);
    }
  }
  return fmt::format("{}{}ns", sign, magnitude);  // unreachable: ns divides everything
}

}  // namespace streamgate
