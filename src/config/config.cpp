#include "config/config.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>

#include "streamgate/common/endpoint.hpp"
#include "streamgate/common/units.hpp"

namespace streamgate::config {
namespace {

// A value together with where it came from: the dotted path used in messages
// ("regions[2].endpoint") and its 1-based line. YAML::Node is a cheap handle and is held by
// value because yaml-cpp iterators hand out temporaries.
struct Value {
  YAML::Node node;
  std::string path;
  int line = 0;
};

class Parser;

// One known key of a map section and the function that parses its value into `T`. Each section
// is a table of these, so the set of known keys (and thus the unknown-key check) lives in one
// place and adding a key is one row.
template <typename T>
struct Field {
  std::string_view key;
  void (*parse)(Parser& parser, const Value& value, T& out);
};

int LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.line < 0 ? 0 : mark.line + 1;
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return fmt::format("'{}'", node.Scalar());
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Undefined:
      break;
  }
  return "an undefined value";
}

std::string Join(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// "admin.listen" for named sections, "listen" at the top level.
std::string ChildPath(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
}

bool IsIpAddress(int family, const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(family, host.c_str(), buffer) == 1;
}

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  void Report(int line, std::string message) {
    issues_.push_back(ConfigIssue{file_, line, std::move(message)});
  }
  void Report(const Value& value, std::string_view problem) {
    Report(value.line, fmt::format("{}: {}", value.path, problem));
  }

  [[nodiscard]] bool ok() const { return issues_.empty(); }
  // Cross-entry checks run after the entries they compare, so sort to read top to bottom.
  [[nodiscard]] std::vector<ConfigIssue> TakeIssues() {
    std::stable_sort(issues_.begin(), issues_.end(),
                     [](const ConfigIssue& a, const ConfigIssue& b) { return a.line < b.line; });
    return std::move(issues_);
  }

  // Parses the map in `value` key by key through `fields`; a null value leaves `out` at its
  // defaults. Reports non-maps, unknown keys and duplicate keys (yaml-cpp keeps both copies of a
  // duplicate, and silently using one would hide a mistake). Returns the keys present.
  template <typename T>
  std::map<std::string, int> ParseFields(const Value& value, std::span<const Field<T>> fields,
                                         T& out) {
    std::map<std::string, int> seen;  // key -> line
    if (value.node.IsNull()) return seen;
    const std::string where = value.path.empty() ? "at top level" : "in " + value.path;
    if (!value.node.IsMap()) {
      Report(value.line,
             fmt::format("{}: expected a map, got {}", value.path.empty() ? "document" : value.path,
                         Describe(value.node)));
      return seen;
    }
    for (auto it = value.node.begin(); it != value.node.end(); ++it) {
      // Copies: `it->first` lives in a temporary that dies with this statement.
      const YAML::Node key_node = it->first;
      const YAML::Node child = it->second;
      const int key_line = LineOf(key_node);
      if (!key_node.IsScalar()) {
        Report(key_line, fmt::format("keys {} must be plain strings", where));
        continue;
      }
      const std::string& key = key_node.Scalar();
      if (auto [previous, inserted] = seen.emplace(key, key_line); !inserted) {
        Report(key_line, fmt::format("duplicate key '{}' {} (first at line {})", key, where,
                                     previous->second));
        continue;
      }
      const Field<T>* field = nullptr;
      for (const Field<T>& candidate : fields) {
        if (candidate.key == key) field = &candidate;
      }
      if (field == nullptr) {
        std::vector<std::string_view> known;
        for (const Field<T>& candidate : fields) known.push_back(candidate.key);
        Report(key_line,
               fmt::format("unknown key '{}' {} (expected one of: {})", key, where, Join(known)));
        continue;
      }
      // yaml-cpp marks an empty value at the token after it, so point at the key instead.
      const int line = child.IsNull() ? key_line : LineOf(child);
      field->parse(*this, Value{child, ChildPath(value.path, key), line}, out);
    }
    return seen;
  }

  [[nodiscard]] std::optional<std::string> String(const Value& value) {
    if (!value.node.IsScalar()) {
      Report(value, fmt::format("expected a string, got {}", Describe(value.node)));
      return std::nullopt;
    }
    return value.node.Scalar();
  }

  [[nodiscard]] std::optional<std::int64_t> Integer(const Value& value, std::int64_t min,
                                                    std::int64_t max) {
    if (!value.node.IsScalar()) {
      Report(value, fmt::format("expected a whole number, got {}", Describe(value.node)));
      return std::nullopt;
    }
    const std::string& text = value.node.Scalar();
    std::int64_t number = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec == std::errc::invalid_argument || ptr != text.data() + text.size()) {
      Report(value, fmt::format("expected a whole number, got '{}'", text));
      return std::nullopt;
    }
    if (ec == std::errc::result_out_of_range) {
      Report(value, fmt::format("must be at {} {}, got {}", text.front() == '-' ? "least" : "most",
                                text.front() == '-' ? min : max, text));
      return std::nullopt;
    }
    if (number < min || number > max) {
      Report(value, fmt::format("must be at {} {}, got {}", number < min ? "least" : "most",
                                number < min ? min : max, text));
      return std::nullopt;
    }
    return number;
  }

  // YAML 1.2 core-schema booleans only: "yes"/"on" are more often a typo than an intent.
  [[nodiscard]] std::optional<bool> Bool(const Value& value) {
    if (value.node.IsScalar()) {
      const std::string& text = value.node.Scalar();
      if (text == "true" || text == "True" || text == "TRUE") return true;
      if (text == "false" || text == "False" || text == "FALSE") return false;
    }
    Report(value, fmt::format("expected true or false, got {}", Describe(value.node)));
    return std::nullopt;
  }

  // A duration of a whole number of milliseconds greater than zero. Sub-millisecond parts are
  // rejected rather than truncated, so "500us" never quietly turns into 0.
  [[nodiscard]] std::optional<std::chrono::milliseconds> PositiveMillis(const Value& value) {
    if (!value.node.IsScalar()) {
      Report(value, fmt::format("expected a duration such as 5s, got {}", Describe(value.node)));
      return std::nullopt;
    }
    const Result<std::chrono::nanoseconds> parsed = ParseDuration(value.node.Scalar());
    if (!parsed) {
      Report(value, parsed.error().message());
      return std::nullopt;
    }
    if (*parsed % std::chrono::milliseconds(1) != std::chrono::nanoseconds(0)) {
      Report(value, fmt::format("'{}' is not a whole number of milliseconds", value.node.Scalar()));
      return std::nullopt;
    }
    if (parsed->count() == 0) {
      Report(value, "must be greater than 0");
      return std::nullopt;
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);
  }

 private:
  std::string file_;
  std::vector<ConfigIssue> issues_;
};

// Stores a successfully parsed value; on failure the default stays (the issue is reported).
template <typename T, typename U>
void Assign(const std::optional<U>& parsed, T& target) {
  if (parsed.has_value()) target = static_cast<T>(*parsed);
}

// ---- admin ----------------------------------------------------------------------------------

constexpr Field<AdminConfig> kAdminFields[] = {
    {"listen",
     [](Parser& p, const Value& v, AdminConfig& out) {
       const std::optional<std::string> text = p.String(v);
       if (!text) return;
       Result<ListenAddress> address = ParseListenAddress(*text);
       if (!address) return p.Report(v, address.error().message());
       out.listen = std::move(*address);
     }},
};

void ParseAdmin(Parser& parser, const Value& value, Config& config) {
  parser.ParseFields<AdminConfig>(value, kAdminFields, config.admin);
}

// ---- health_check ---------------------------------------------------------------------------

using scaling::HealthCheckOptions;
constexpr std::int64_t kMaxCount = std::numeric_limits<std::uint32_t>::max();
// The window is kept in memory per region; a typo like 1280000000 should not allocate gigabytes.
constexpr std::int64_t kMaxLatencyWindow = 1'000'000;

constexpr Field<HealthCheckOptions> kHealthCheckFields[] = {
    {"interval", [](Parser& p, const Value& v,
                    HealthCheckOptions& out) { Assign(p.PositiveMillis(v), out.interval); }},
    {"timeout", [](Parser& p, const Value& v,
                   HealthCheckOptions& out) { Assign(p.PositiveMillis(v), out.timeout); }},
    {"path",
     [](Parser& p, const Value& v, HealthCheckOptions& out) {
       const std::optional<std::string> path = p.String(v);
       if (!path) return;
       if (path->empty() || path->front() != '/') {
         return p.Report(v, fmt::format("must start with '/', got '{}'", *path));
       }
       for (char c : *path) {
         const auto byte = static_cast<unsigned char>(c);
         if (byte <= 0x20 || byte == 0x7f || c == '#') {
           return p.Report(v, "must not contain spaces, control characters or '#'");
         }
       }
       out.path = *path;
     }},
    {"rise", [](Parser& p, const Value& v,
                HealthCheckOptions& out) { Assign(p.Integer(v, 1, kMaxCount), out.rise); }},
    {"fall", [](Parser& p, const Value& v,
                HealthCheckOptions& out) { Assign(p.Integer(v, 1, kMaxCount), out.fall); }},
    {"degraded_latency",
     [](Parser& p, const Value& v, HealthCheckOptions& out) {
       Assign(p.PositiveMillis(v), out.degraded_latency);
     }},
    {"failback",
     [](Parser& p, const Value& v, HealthCheckOptions& out) { Assign(p.Bool(v), out.failback); }},
    {"latency_window",
     [](Parser& p, const Value& v, HealthCheckOptions& out) {
       Assign(p.Integer(v, 1, kMaxLatencyWindow), out.latency_window);
     }},
};

void ParseHealthCheck(Parser& parser, const Value& value, Config& config) {
  parser.ParseFields<HealthCheckOptions>(value, kHealthCheckFields, config.health_check);
}

// ---- regions --------------------------------------------------------------------------------

// A region plus the lines the cross-region checks (duplicate id, second primary) point at.
struct RegionEntry {
  RegionConfig region;
  int id_line = 0;
  int primary_line = 0;
};

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

constexpr Field<RegionEntry> kRegionFields[] = {
    {"id",
     [](Parser& p, const Value& v, RegionEntry& out) {
       std::optional<std::string> id = p.String(v);
       if (!id) return;
       out.id_line = v.line;
       if (id->empty()) return p.Report(v, "must not be empty");
       // Ids appear in admin API paths and metric labels, so keep them to URL-safe characters.
       for (char c : *id) {
         if (!IsIdChar(c)) {
           return p.Report(
               v, fmt::format("'{}' may only contain letters, digits, '-', '_' and '.'", *id));
         }
       }
       out.region.id = std::move(*id);
     }},
    {"name",
     [](Parser& p, const Value& v, RegionEntry& out) { Assign(p.String(v), out.region.name); }},
    {"location",
     [](Parser& p, const Value& v, RegionEntry& out) { Assign(p.String(v), out.region.location); }},
    {"endpoint",
     [](Parser& p, const Value& v, RegionEntry& out) {
       std::optional<std::string> endpoint = p.String(v);
       if (!endpoint) return;
       if (Result<Endpoint> parsed = ParseEndpoint(*endpoint); !parsed) {
         return p.Report(v, parsed.error().message());
       }
       out.region.endpoint = std::move(*endpoint);
     }},
    {"priority",
     [](Parser& p, const Value& v, RegionEntry& out) {
       Assign(p.Integer(v, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()),
              out.region.priority);
     }},
    {"primary",
     [](Parser& p, const Value& v, RegionEntry& out) {
       Assign(p.Bool(v), out.region.primary);
       out.primary_line = v.line;
     }},
    {"active",
     [](Parser& p, const Value& v, RegionEntry& out) { Assign(p.Bool(v), out.region.active); }},
};

void ParseRegions(Parser& parser, const Value& value, Config& config) {
  if (value.node.IsNull()) return;  // "regions:" with every entry commented out
  if (!value.node.IsSequence()) {
    return parser.Report(
        value, fmt::format("expected a sequence of regions, got {}", Describe(value.node)));
  }
  std::map<std::string, int> first_line_of_id;
  // How the first `primary: true` region is named in messages ('id', or its path), and the line.
  std::optional<std::pair<std::string, int>> first_primary;
  std::vector<RegionEntry> entries;
  std::size_t index = 0;
  for (auto it = value.node.begin(); it != value.node.end(); ++it, ++index) {
    const Value item{*it, fmt::format("{}[{}]", value.path, index), LineOf(*it)};
    RegionEntry& entry = entries.emplace_back();
    entry.region.line = item.line;
    if (!item.node.IsMap()) {
      parser.Report(item,
                    fmt::format("expected a map describing a region, got {}", Describe(item.node)));
      continue;
    }
    const std::map<std::string, int> keys =
        parser.ParseFields<RegionEntry>(item, kRegionFields, entry);
    for (std::string_view required : {"id", "endpoint"}) {
      if (!keys.contains(std::string(required))) {
        parser.Report(item, fmt::format("missing required key '{}'", required));
      }
    }
    if (!entry.region.id.empty()) {
      auto [first, inserted] = first_line_of_id.emplace(entry.region.id, entry.id_line);
      if (!inserted) {
        parser.Report(entry.id_line,
                      fmt::format("{}.id: duplicate region id '{}' (first defined at line {})",
                                  item.path, entry.region.id, first->second));
      }
    }
    if (entry.region.primary) {
      if (first_primary.has_value()) {
        parser.Report(entry.primary_line,
                      fmt::format("{}.primary: only one region may be primary; {} at line {} "
                                  "already is",
                                  item.path, first_primary->first, first_primary->second));
      } else {
        first_primary.emplace(
            entry.region.id.empty() ? item.path : fmt::format("'{}'", entry.region.id),
            entry.primary_line);
      }
    }
  }
  config.regions.reserve(entries.size());
  for (RegionEntry& entry : entries) config.regions.push_back(std::move(entry.region));
}

// ---- top level ------------------------------------------------------------------------------

// Adding a section (listeners, backends, ...) is one Parse function and one row here.
constexpr Field<Config> kTopLevelFields[] = {
    {"admin", ParseAdmin},
    {"health_check", ParseHealthCheck},
    {"regions", ParseRegions},
};

void ParseDocument(Parser& parser, std::string_view yaml_text, Config& config) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml_text));
  } catch (const YAML::ParserException& e) {
    const int line = e.mark.line < 0 ? 0 : e.mark.line + 1;
    return parser.Report(line, fmt::format("YAML syntax error: {}", e.msg));
  }
  if (documents.empty()) return;  // an empty file means all defaults
  if (documents.size() > 1) {
    return parser.Report(LineOf(documents[1]),
                         fmt::format("expected one YAML document, found {}", documents.size()));
  }
  parser.ParseFields<Config>(Value{documents[0], "", LineOf(documents[0])}, kTopLevelFields,
                             config);
}

std::optional<std::uint16_t> ParsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::string ConfigIssue::ToString() const {
  if (line <= 0) return fmt::format("{}: {}", file, message);
  return fmt::format("{}:{}: {}", file, line, message);
}

std::string ToString(const ListenAddress& address) {
  if (address.host.find(':') != std::string::npos) {
    return fmt::format("[{}]:{}", address.host, address.port);
  }
  return fmt::format("{}:{}", address.host, address.port);
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  auto fail = [text](std::string_view why) {
    return InvalidArgument(fmt::format("invalid listen address '{}': {}", text, why));
  };
  if (text.empty()) return fail("empty value");
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) return fail("spaces and control characters are not allowed");
  }

  ListenAddress address;
  std::string_view port_text;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after IPv6 address");
    address.host = std::string(text.substr(1, close - 1));
    if (!IsIpAddress(AF_INET6, address.host)) {
      return fail(fmt::format("invalid IPv6 address '{}'", address.host));
    }
    const std::string_view after = text.substr(close + 1);
    if (after.empty() || after.front() != ':') return fail("missing ':port' after ']'");
    port_text = after.substr(1);
  } else {
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) return fail("missing port, e.g. 127.0.0.1:9901");
    if (text.find(':', colon + 1) != std::string_view::npos) {
      return fail("IPv6 addresses must be enclosed in brackets, e.g. [::1]:9901");
    }
    address.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (address.host.empty()) return fail("missing host (use 0.0.0.0 for all addresses)");
    bool dotted_digits = true;
    for (char c : address.host) {
      const bool digit = c >= '0' && c <= '9';
      const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      if (!digit && !letter && c != '-' && c != '.' && c != '_') {
        return fail(fmt::format("invalid character '{}' in host", c));
      }
      dotted_digits = dotted_digits && (digit || c == '.');
    }
    if (dotted_digits && !IsIpAddress(AF_INET, address.host)) {
      return fail(fmt::format("invalid IPv4 address '{}'", address.host));
    }
  }
  const std::optional<std::uint16_t> port = ParsePort(port_text);
  if (!port) return fail(fmt::format("invalid port '{}' (expected 0-65535)", port_text));
  address.port = *port;
  return address;
}

std::expected<Config, std::vector<ConfigIssue>> ParseConfig(std::string_view yaml_text,
                                                            std::string_view file_name) {
  Parser parser{std::string(file_name)};
  Config config;
  config.source_file = std::string(file_name);
  // yaml-cpp reports problems by throwing, also from accessors; none may escape this API.
  try {
    ParseDocument(parser, yaml_text, config);
  } catch (const YAML::Exception& e) {
    const int line = e.mark.line < 0 ? 0 : e.mark.line + 1;
    parser.Report(line, fmt::format("cannot read YAML: {}", e.msg));
  } catch (const std::exception& e) {
    parser.Report(0, fmt::format("cannot read config: {}", e.what()));
  }
  if (!parser.ok()) return std::unexpected(parser.TakeIssues());
  return config;
}

std::expected<Config, std::vector<ConfigIssue>> LoadConfigFile(const std::filesystem::path& path) {
  const std::string file_name = path.string();
  auto fail = [&file_name](std::string message) {
    return std::unexpected(std::vector<ConfigIssue>{ConfigIssue{file_name, 0, std::move(message)}});
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return fail("cannot read config: is a directory");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // libstdc++ leaves open(2)'s errno in place, which says why (missing, permissions, ...).
    const int error = errno;
    return fail(error == 0
                    ? std::string("cannot read config: cannot open file")
                    : fmt::format("cannot read config: {}",
                                  std::error_code(error, std::generic_category()).message()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail("cannot read config: read error");
  return ParseConfig(text.str(), file_name);
}

}  // namespace streamgate::config
