// Process-wide logging set-up from the config's `log:` section: text (spdlog's default pattern)
// or JSON lines, and the level.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

#include "config/config.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::daemon {

// One JSON object per line: {"time":"2026-11-28T15:04:05.123Z","level":"info","msg":"..."}
// (plus "logger" for named loggers). Messages are escaped, so any text stays one valid line.
[[nodiscard]] std::unique_ptr<spdlog::formatter> MakeJsonLineFormatter();

// Applies format and level to every logger, present and future. `level_override` (from the
// command line) wins over the config when non-empty.
[[nodiscard]] Status ConfigureLogging(const config::LogConfig& log,
                                      const std::string& level_override = "");

}  // namespace streamgate::daemon
