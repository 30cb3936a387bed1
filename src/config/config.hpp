// The daemon's YAML configuration, parsed once into plain structs. Every value is validated up
// front and every problem is reported with its file and line, so a bad config fails at startup
// with a full list of what to fix instead of at the first use of a bad value.
//
// Schema (see config/streamgate.example.yaml): top-level `admin`, `health_check` and `regions`,
// all optional. Unknown keys are errors everywhere, so typos never silently fall back to
// defaults.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "streamgate/common/error.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::config {

struct ConfigIssue {
  std::string file;
  int line = 0;  // 1-based; 0 when the problem is not tied to a line (e.g. unreadable file)
  std::string message;

  // "file:line: message"
  [[nodiscard]] std::string ToString() const;

  friend bool operator==(const ConfigIssue&, const ConfigIssue&) = default;
};

struct ListenAddress {
  std::string host;        // name or address; IPv6 without brackets
  std::uint16_t port = 0;  // 0 lets the OS pick a free port

  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

struct AdminConfig {
  ListenAddress listen{"127.0.0.1", 9901};
};

struct RegionConfig {
  std::string id;
  std::string name;
  std::string location;
  std::string endpoint;  // as written; validated with ParseEndpoint
  int priority = 0;
  bool primary = false;
  bool active = true;
  int line = 0;  // where the region's entry starts, for later diagnostics
};

struct Config {
  std::string source_file;
  AdminConfig admin;
  scaling::HealthCheckOptions health_check;
  std::vector<RegionConfig> regions;  // in file order
};

// Parses and validates `yaml_text`; `file_name` is only used in issues. Returns every problem
// found, not just the first, ordered by line.
[[nodiscard]] std::expected<Config, std::vector<ConfigIssue>> ParseConfig(
    std::string_view yaml_text, std::string_view file_name);

// Reads and parses `path`. An unreadable file yields one issue with line 0.
[[nodiscard]] std::expected<Config, std::vector<ConfigIssue>> LoadConfigFile(
    const std::filesystem::path& path);

// "127.0.0.1:9901", "[::1]:80", "localhost:8080". The port is required; 0 means any free port.
[[nodiscard]] Result<ListenAddress> ParseListenAddress(std::string_view text);

// "127.0.0.1:9901", with IPv6 hosts bracketed.
[[nodiscard]] std::string ToString(const ListenAddress& address);

}  // namespace streamgate::config
