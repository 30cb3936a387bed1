// Human units in config and on the command line: durations ("500ms", "30s", "24h") and
// byte sizes ("512", "64KiB", "1GiB", "10MB").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "streamgate/common/error.hpp"

namespace streamgate {

// Units: ns, us, ms, s, m, h, d; a sequence like "1h30m" is allowed. No sign, no bare number.
[[nodiscard]] Result<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// Units: B (or none), KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB (powers of 1024).
[[nodiscard]] Result<std::uint64_t> ParseSize(std::string_view text);

// Shortest exact form: 1500ms -> "1500ms", 30s -> "30s", 90m -> "90m".
[[nodiscard]] std::string FormatDuration(std::chrono::nanoseconds d);

}  // namespace streamgate
