#include "config/config.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
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
  int key_line = 0;  // the line of the key this value belongs to (0 for list items and the root)
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

int LineOf(const YAML::Mark& mark) { return mark.line < 0 ? 0 : mark.line + 1; }
int LineOf(const YAML::Node& node) { return LineOf(node.Mark()); }

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
  [[nodiscard]] std::size_t issue_count() const { return issues_.size(); }
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
      field->parse(*this, Value{child, ChildPath(value.path, key), line, key_line}, out);
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

  // A duration of whole seconds (HTTP freshness is counted in seconds), > 0 unless allow_zero.
  [[nodiscard]] std::optional<std::chrono::seconds> WholeSeconds(const Value& value,
                                                                 bool allow_zero) {
    if (!value.node.IsScalar()) {
      Report(value, fmt::format("expected a duration such as 1h, got {}", Describe(value.node)));
      return std::nullopt;
    }
    const Result<std::chrono::nanoseconds> parsed = ParseDuration(value.node.Scalar());
    if (!parsed) {
      Report(value, parsed.error().message());
      return std::nullopt;
    }
    if (*parsed % std::chrono::seconds(1) != std::chrono::nanoseconds(0)) {
      Report(value, fmt::format("'{}' is not a whole number of seconds", value.node.Scalar()));
      return std::nullopt;
    }
    if (parsed->count() == 0 && !allow_zero) {
      Report(value, "must be greater than 0");
      return std::nullopt;
    }
    return std::chrono::duration_cast<std::chrono::seconds>(*parsed);
  }

  [[nodiscard]] std::optional<double> Double(const Value& value, double min, double max) {
    if (!value.node.IsScalar()) {
      Report(value, fmt::format("expected a number, got {}", Describe(value.node)));
      return std::nullopt;
    }
    const std::string& text = value.node.Scalar();
    double number = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      Report(value, fmt::format("expected a number, got '{}'", text));
      return std::nullopt;
    }
    if (number < min || number > max) {
      Report(value, fmt::format("must be between {} and {}, got {}", min, max, text));
      return std::nullopt;
    }
    return number;
  }

  // A byte size such as 16KiB or 1GiB.
  [[nodiscard]] std::optional<std::uint64_t> Size(const Value& value) {
    if (!value.node.IsScalar()) {
      Report(value, fmt::format("expected a size such as 16KiB, got {}", Describe(value.node)));
      return std::nullopt;
    }
    const Result<std::uint64_t> parsed = ParseSize(value.node.Scalar());
    if (!parsed) {
      Report(value, parsed.error().message());
      return std::nullopt;
    }
    return *parsed;
  }

  // A sequence of strings; a single string is not accepted, so `[US]` and `US` never differ
  // silently.
  [[nodiscard]] std::optional<std::vector<std::string>> StringList(const Value& value) {
    if (!value.node.IsSequence()) {
      Report(value, fmt::format("expected a list such as [a, b], got {}", Describe(value.node)));
      return std::nullopt;
    }
    std::vector<std::string> out;
    std::size_t index = 0;
    for (auto it = value.node.begin(); it != value.node.end(); ++it, ++index) {
      const Value item{*it, fmt::format("{}[{}]", value.path, index), LineOf(*it)};
      std::optional<std::string> text = String(item);
      if (!text) return std::nullopt;
      out.push_back(std::move(*text));
    }
    return out;
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

// Defined with the listeners; `admin.tls` has the same shape as a listener's `tls`.
void ParseServerTls(Parser& p, const Value& v, std::optional<ListenerTlsConfig>& out);

constexpr Field<AdminConfig> kAdminFields[] = {
    {"listen",
     [](Parser& p, const Value& v, AdminConfig& out) {
       const std::optional<std::string> text = p.String(v);
       if (!text) return;
       Result<ListenAddress> address = ParseListenAddress(*text);
       if (!address) return p.Report(v, address.error().message());
       out.listen = std::move(*address);
     }},
    {"token",
     [](Parser& p, const Value& v, AdminConfig& out) {
       std::optional<std::string> text = p.String(v);
       if (!text) return;
       if (text->empty()) return p.Report(v, "must not be empty (leave it out for no token)");
       out.token = std::move(*text);
     }},
    {"token_file",
     [](Parser& p, const Value& v, AdminConfig& out) {
       std::optional<std::string> text = p.String(v);
       if (!text) return;
       if (text->empty()) return p.Report(v, "must not be empty");
       out.token_file = std::move(*text);
     }},
    {"protect_reads",
     [](Parser& p, const Value& v, AdminConfig& out) { Assign(p.Bool(v), out.protect_reads); }},
    {"tls", [](Parser& p, const Value& v, AdminConfig& out) { ParseServerTls(p, v, out.tls); }},
};

void ParseAdmin(Parser& parser, const Value& value, Config& config) {
  config.admin.line = value.key_line;
  const std::map<std::string, int> lines =
      parser.ParseFields<AdminConfig>(value, kAdminFields, config.admin);
  if (lines.contains("token") && lines.contains("token_file")) {
    parser.Report(lines.at("token_file"), "admin: give token or token_file, not both");
  }
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
    {"countries",
     [](Parser& p, const Value& v, RegionEntry& out) {
       std::optional<std::vector<std::string>> codes = p.StringList(v);
       if (!codes) return;
       for (std::string& code : *codes) {
         if (code.size() != 2 || !std::isalpha(static_cast<unsigned char>(code[0])) ||
             !std::isalpha(static_cast<unsigned char>(code[1]))) {
           return p.Report(v, fmt::format("'{}' is not an ISO 3166-1 alpha-2 country code", code));
         }
         for (char& c : code) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
       }
       out.region.countries = std::move(*codes);
     }},
    {"continents",
     [](Parser& p, const Value& v, RegionEntry& out) {
       std::optional<std::vector<std::string>> codes = p.StringList(v);
       if (!codes) return;
       static constexpr std::string_view kContinents[] = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"};
       for (std::string& code : *codes) {
         for (char& c : code) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
         if (std::ranges::find(kContinents, code) == std::end(kContinents)) {
           return p.Report(v, fmt::format("'{}' is not a continent code (AF, AN, AS, EU, NA, "
                                          "OC, SA)",
                                          code));
         }
       }
       out.region.continents = std::move(*codes);
     }},
    {"latitude", [](Parser& p, const Value& v,
                    RegionEntry& out) { Assign(p.Double(v, -90.0, 90.0), out.region.latitude); }},
    {"longitude",
     [](Parser& p, const Value& v, RegionEntry& out) {
       Assign(p.Double(v, -180.0, 180.0), out.region.longitude);
     }},
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

// ---- shared helpers for list sections -------------------------------------------------------

// Parses `value` as a sequence of maps through `fields`, calling `finish(entry, item, keys)`
// after each entry so the section can check required keys and cross-entry rules.
template <typename T, typename Finish>
std::vector<T> ParseList(Parser& parser, const Value& value, std::span<const Field<T>> fields,
                         std::string_view what, Finish finish) {
  std::vector<T> entries;
  if (value.node.IsNull()) return entries;
  if (!value.node.IsSequence()) {
    parser.Report(value,
                  fmt::format("expected a sequence of {}, got {}", what, Describe(value.node)));
    return entries;
  }
  std::size_t index = 0;
  for (auto it = value.node.begin(); it != value.node.end(); ++it, ++index) {
    const Value item{*it, fmt::format("{}[{}]", value.path, index), LineOf(*it)};
    if (!item.node.IsMap()) {
      parser.Report(item, fmt::format("expected a map, got {}", Describe(item.node)));
      continue;
    }
    T& entry = entries.emplace_back();
    const std::map<std::string, int> keys = parser.ParseFields<T>(item, fields, entry);
    finish(entry, item, keys);
  }
  return entries;
}

void RequireKeys(Parser& parser, const Value& item, const std::map<std::string, int>& keys,
                 std::initializer_list<std::string_view> required) {
  for (std::string_view key : required) {
    if (!keys.contains(std::string(key))) {
      parser.Report(item, fmt::format("missing required key '{}'", key));
    }
  }
}

// Reports a repeated `key` (an id or name) at `line`, naming the first definition's line.
void CheckUnique(Parser& parser, std::map<std::string, int>& first_line, const std::string& key,
                 int line, const std::string& path, std::string_view what) {
  if (key.empty()) return;
  auto [first, inserted] = first_line.emplace(key, line);
  if (!inserted) {
    parser.Report(line, fmt::format("{}: duplicate {} '{}' (first defined at line {})", path, what,
                                    key, first->second));
  }
}

void ParseId(Parser& p, const Value& v, std::string& out) {
  std::optional<std::string> id = p.String(v);
  if (!id) return;
  if (id->empty()) return p.Report(v, "must not be empty");
  for (char c : *id) {
    if (!IsIdChar(c)) {
      return p.Report(v,
                      fmt::format("'{}' may only contain letters, digits, '-', '_' and '.'", *id));
    }
  }
  out = std::move(*id);
}

// ---- listeners ------------------------------------------------------------------------------

// A file path: a non-empty string (existence and contents are check-config's business).
void ParsePath(Parser& p, const Value& v, std::string& out) {
  std::optional<std::string> path = p.String(v);
  if (!path) return;
  if (path->empty()) return p.Report(v, "must not be empty");
  out = std::move(*path);
}

struct CertificateEntry {
  net::TlsCertificateFiles files;
};

constexpr Field<CertificateEntry> kCertificateFields[] = {
    {"cert",
     [](Parser& p, const Value& v, CertificateEntry& out) { ParsePath(p, v, out.files.cert); }},
    {"key",
     [](Parser& p, const Value& v, CertificateEntry& out) { ParsePath(p, v, out.files.key); }},
    {"ocsp_staple", [](Parser& p, const Value& v,
                       CertificateEntry& out) { ParsePath(p, v, out.files.ocsp_staple); }},
};

constexpr Field<ListenerTlsConfig> kListenerTlsFields[] = {
    {"certificates",
     [](Parser& p, const Value& v, ListenerTlsConfig& out) {
       std::vector<CertificateEntry> entries = ParseList<CertificateEntry>(
           p, v, kCertificateFields, "certificates",
           [&](CertificateEntry&, const Value& item, const std::map<std::string, int>& keys) {
             RequireKeys(p, item, keys, {"cert", "key"});
             out.certificate_lines.push_back(item.line);
           });
       if (entries.empty() && v.node.IsSequence()) {
         p.Report(v, "must list at least one {cert, key}");
       }
       for (CertificateEntry& entry : entries) out.options.certificates.push_back(entry.files);
     }},
    {"min_version",
     [](Parser& p, const Value& v, ListenerTlsConfig& out) {
       const std::optional<std::string> text = p.String(v);
       if (!text) return;
       if (*text == "1.2") {
         out.options.min_version = net::TlsVersion::kTls12;
       } else if (*text == "1.3") {
         out.options.min_version = net::TlsVersion::kTls13;
       } else {
         p.Report(v, fmt::format("expected \"1.2\" or \"1.3\", got '{}'", *text));
       }
     }},
    {"ciphers",
     [](Parser& p, const Value& v, ListenerTlsConfig& out) {
       const std::optional<std::string> text = p.String(v);
       if (!text) return;
       if (text->empty()) return p.Report(v, "must not be empty");
       out.options.ciphers = *text;
     }},
    {"alpn",
     [](Parser& p, const Value& v, ListenerTlsConfig& out) {
       std::optional<std::vector<std::string>> names = p.StringList(v);
       if (!names) return;
       for (const std::string& name : *names) {
         if (name != "http/1.1" && name != "http/1.0") {
           return p.Report(v, fmt::format("only http/1.1 and http/1.0 are served, got '{}'", name));
         }
       }
       out.options.alpn = std::move(*names);
     }},
    {"session_lifetime",
     [](Parser& p, const Value& v, ListenerTlsConfig& out) {
       Assign(p.WholeSeconds(v, /*allow_zero=*/false), out.options.session_lifetime);
     }},
    {"session_ticket_rotation",
     [](Parser& p, const Value& v, ListenerTlsConfig& out) {
       Assign(p.WholeSeconds(v, /*allow_zero=*/false), out.options.session_ticket_rotation);
     }},
    {"client_ca",
     [](Parser& p, const Value& v, ListenerTlsConfig& out) {
       ParsePath(p, v, out.options.client_ca_file);
       out.client_ca_line = v.line;
     }},
};

// A server-side `tls:` section: a listener's or the admin listener's.
void ParseServerTls(Parser& p, const Value& v, std::optional<ListenerTlsConfig>& out) {
  ListenerTlsConfig& tls = out.emplace();
  tls.line = v.key_line > 0 ? v.key_line : v.line;
  const std::map<std::string, int> keys =
      p.ParseFields<ListenerTlsConfig>(v, kListenerTlsFields, tls);
  if ((v.node.IsMap() && !keys.contains("certificates")) || v.node.IsNull()) {
    p.Report(v, "missing required key 'certificates'");
  }
  // The ring keeps the newest ticket key and the kKeys - 1 before it; a longer lifetime would
  // promise resumptions the ring cannot honour.
  const auto reach =
      tls.options.session_ticket_rotation * static_cast<int>(net::kSessionTicketKeysKept - 1);
  if (tls.options.session_lifetime > reach) {
    p.Report(keys.contains("session_lifetime") ? keys.at("session_lifetime") : tls.line,
             fmt::format("{}: session_lifetime ({}s) is longer than the {} session-ticket "
                         "rotations ({}s) a ticket key is kept for; raise "
                         "session_ticket_rotation or lower session_lifetime",
                         v.path, tls.options.session_lifetime.count(),
                         net::kSessionTicketKeysKept - 1, reach.count()));
  }
}

void ParseListenerTls(Parser& p, const Value& v, ListenerConfig& out) {
  ParseServerTls(p, v, out.tls);
}

constexpr Field<ListenerConfig> kListenerFields[] = {
    {"name", [](Parser& p, const Value& v, ListenerConfig& out) { ParseId(p, v, out.name); }},
    {"listen",
     [](Parser& p, const Value& v, ListenerConfig& out) {
       const std::optional<std::string> text = p.String(v);
       if (!text) return;
       Result<ListenAddress> address = ParseListenAddress(*text);
       if (!address) return p.Report(v, address.error().message());
       out.listen = std::move(*address);
     }},
    {"tls", ParseListenerTls},
};

void ParseListeners(Parser& parser, const Value& value, Config& config) {
  std::map<std::string, int> names;
  config.listeners = ParseList<ListenerConfig>(
      parser, value, kListenerFields, "listeners",
      [&](ListenerConfig& entry, const Value& item, const std::map<std::string, int>& keys) {
        entry.line = item.line;
        RequireKeys(parser, item, keys, {"name", "listen"});
        CheckUnique(parser, names, entry.name, item.line, item.path, "listener name");
      });
}

// ---- backends -------------------------------------------------------------------------------

constexpr Field<BackendTlsConfig> kBackendTlsFields[] = {
    {"enabled", [](Parser& p, const Value& v,
                   BackendTlsConfig& out) { Assign(p.Bool(v), out.options.enabled); }},
    {"verify", [](Parser& p, const Value& v,
                  BackendTlsConfig& out) { Assign(p.Bool(v), out.options.verify); }},
    {"ca_file",
     [](Parser& p, const Value& v, BackendTlsConfig& out) {
       ParsePath(p, v, out.options.ca_file);
       out.ca_file_line = v.line;
     }},
    {"server_name",
     [](Parser& p, const Value& v, BackendTlsConfig& out) {
       ParsePath(p, v, out.options.server_name);  // any non-empty name
     }},
    {"client_cert",
     [](Parser& p, const Value& v, BackendTlsConfig& out) {
       ParsePath(p, v, out.options.client_cert);
       out.client_cert_line = v.line;
     }},
    {"client_key", [](Parser& p, const Value& v,
                      BackendTlsConfig& out) { ParsePath(p, v, out.options.client_key); }},
};

void ParseBackendTls(Parser& p, const Value& v, BackendConfig& out) {
  BackendTlsConfig& tls = out.tls.emplace();
  tls.options.enabled = true;  // a `tls:` section means TLS unless `enabled: false`
  tls.line = v.key_line > 0 ? v.key_line : v.line;
  const std::map<std::string, int> keys =
      p.ParseFields<BackendTlsConfig>(v, kBackendTlsFields, tls);
  if (keys.contains("client_cert") != keys.contains("client_key")) {
    p.Report(v, "client_cert and client_key go together (mutual TLS needs both)");
  }
}

constexpr Field<BackendConfig> kBackendFields[] = {
    {"id", [](Parser& p, const Value& v, BackendConfig& out) { ParseId(p, v, out.id); }},
    {"address",
     [](Parser& p, const Value& v, BackendConfig& out) {
       std::optional<std::string> address = p.String(v);
       if (!address) return;
       if (address->empty()) return p.Report(v, "must not be empty");
       out.address = std::move(*address);
     }},
    {"port", [](Parser& p, const Value& v,
                BackendConfig& out) { Assign(p.Integer(v, 1, 65535), out.port); }},
    {"region", [](Parser& p, const Value& v, BackendConfig& out) { ParseId(p, v, out.region); }},
    {"weight", [](Parser& p, const Value& v,
                  BackendConfig& out) { Assign(p.Integer(v, 1, 10000), out.weight); }},
    {"health_path",
     [](Parser& p, const Value& v, BackendConfig& out) {
       std::optional<std::string> path = p.String(v);
       if (!path) return;
       if (path->empty() || path->front() != '/') {
         return p.Report(v, fmt::format("must start with '/', got '{}'", *path));
       }
       out.health_path = std::move(*path);
     }},
    {"tcp_check",
     [](Parser& p, const Value& v, BackendConfig& out) { Assign(p.Bool(v), out.tcp_check); }},
    {"active",
     [](Parser& p, const Value& v, BackendConfig& out) { Assign(p.Bool(v), out.active); }},
    {"tls", ParseBackendTls},
};

void ParseBackends(Parser& parser, const Value& value, Config& config) {
  std::map<std::string, int> ids;
  config.backends = ParseList<BackendConfig>(
      parser, value, kBackendFields, "backends",
      [&](BackendConfig& entry, const Value& item, const std::map<std::string, int>& keys) {
        entry.line = item.line;
        RequireKeys(parser, item, keys, {"id", "address", "port"});
        CheckUnique(parser, ids, entry.id, item.line, item.path, "backend id");
      });
}

// ---- load_balancer --------------------------------------------------------------------------

struct OutlierEntry {
  scaling::OutlierDetectionOptions* options;
  bool* count_5xx;
};

constexpr Field<OutlierEntry> kOutlierFields[] = {
    {"enabled",
     [](Parser& p, const Value& v, OutlierEntry& out) { Assign(p.Bool(v), out.options->enabled); }},
    {"consecutive_failures",
     [](Parser& p, const Value& v, OutlierEntry& out) {
       Assign(p.Integer(v, 1, 1'000'000), out.options->consecutive_failures);
     }},
    {"base_ejection_time",
     [](Parser& p, const Value& v, OutlierEntry& out) {
       Assign(p.PositiveMillis(v), out.options->base_ejection_time);
     }},
    {"max_ejection_time",
     [](Parser& p, const Value& v, OutlierEntry& out) {
       Assign(p.PositiveMillis(v), out.options->max_ejection_time);
     }},
    {"count_5xx",
     [](Parser& p, const Value& v, OutlierEntry& out) { Assign(p.Bool(v), *out.count_5xx); }},
};

constexpr Field<LoadBalancerConfig> kLoadBalancerFields[] = {
    {"strategy",
     [](Parser& p, const Value& v, LoadBalancerConfig& out) {
       std::optional<std::string> name = p.String(v);
       if (!name) return;
       Result<scaling::LoadBalancingStrategy> strategy = scaling::ParseLoadBalancingStrategy(*name);
       if (!strategy) return p.Report(v, strategy.error().message());
       out.strategy = *strategy;
     }},
    {"outlier_detection",
     [](Parser& p, const Value& v, LoadBalancerConfig& out) {
       OutlierEntry entry{&out.outlier_detection, &out.count_5xx_as_failure};
       p.ParseFields<OutlierEntry>(v, kOutlierFields, entry);
       if (out.outlier_detection.max_ejection_time < out.outlier_detection.base_ejection_time) {
         p.Report(v, "max_ejection_time must not be shorter than base_ejection_time");
       }
     }},
    {"retries", [](Parser& p, const Value& v,
                   LoadBalancerConfig& out) { Assign(p.Integer(v, 0, 10), out.retries); }},
    {"panic_threshold",
     [](Parser& p, const Value& v, LoadBalancerConfig& out) {
       Assign(p.Double(v, 0.0, 1.0), out.panic_threshold);
     }},
    {"geoip_database", [](Parser& p, const Value& v,
                          LoadBalancerConfig& out) { Assign(p.String(v), out.geoip_database); }},
    {"trusted_proxies",
     [](Parser& p, const Value& v, LoadBalancerConfig& out) {
       std::optional<std::vector<std::string>> list = p.StringList(v);
       if (!list) return;
       for (const std::string& entry : *list) {
         const std::string address = entry.substr(0, entry.find('/'));
         if (!IsIpAddress(AF_INET, address) && !IsIpAddress(AF_INET6, address)) {
           return p.Report(v, fmt::format("'{}' is not an IP address or CIDR", entry));
         }
       }
       out.trusted_proxies = std::move(*list);
     }},
};

void ParseLoadBalancer(Parser& parser, const Value& value, Config& config) {
  parser.ParseFields<LoadBalancerConfig>(value, kLoadBalancerFields, config.load_balancer);
  if (config.load_balancer.strategy == scaling::LoadBalancingStrategy::kGeoLocation &&
      config.load_balancer.geoip_database.empty()) {
    parser.Report(value, "strategy geo_location needs geoip_database");
  }
}

// ---- proxy ----------------------------------------------------------------------------------

constexpr Field<ProxyConfig> kProxyFields[] = {
    {"threads", [](Parser& p, const Value& v,
                   ProxyConfig& out) { Assign(p.Integer(v, 0, 256), out.threads); }},
    {"connect_timeout", [](Parser& p, const Value& v,
                           ProxyConfig& out) { Assign(p.PositiveMillis(v), out.connect_timeout); }},
    {"request_header_timeout",
     [](Parser& p, const Value& v, ProxyConfig& out) {
       Assign(p.PositiveMillis(v), out.request_header_timeout);
     }},
    {"idle_timeout", [](Parser& p, const Value& v,
                        ProxyConfig& out) { Assign(p.PositiveMillis(v), out.idle_timeout); }},
    {"upstream_timeout",
     [](Parser& p, const Value& v, ProxyConfig& out) {
       Assign(p.PositiveMillis(v), out.upstream_timeout);
     }},
    {"max_header_bytes",
     [](Parser& p, const Value& v, ProxyConfig& out) {
       const std::optional<std::uint64_t> size = p.Size(v);
       if (!size) return;
       if (*size < 1024 || *size > 1024 * 1024) {
         return p.Report(v, "must be between 1KiB and 1MiB");
       }
       out.max_header_bytes = *size;
     }},
    {"max_header_count",
     [](Parser& p, const Value& v, ProxyConfig& out) {
       Assign(p.Integer(v, 1, 1000), out.max_header_count);
     }},
    {"drain_timeout", [](Parser& p, const Value& v,
                         ProxyConfig& out) { Assign(p.PositiveMillis(v), out.drain_timeout); }},
};

void ParseProxy(Parser& parser, const Value& value, Config& config) {
  parser.ParseFields<ProxyConfig>(value, kProxyFields, config.proxy);
}

// ---- cdn ------------------------------------------------------------------------------------

// The section plus the lines the cross-key checks (api_key vs api_key_env) point at.
struct CdnEntry {
  CdnConfig cdn;
  int api_key_line = 0;
  int api_key_env_line = 0;
};

// Credentials and ids go into URLs and headers: no whitespace or control characters.
bool HasSpaceOrControl(std::string_view text) {
  return std::ranges::any_of(text, [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f;
  });
}

// A non-empty string without whitespace or control characters.
std::optional<std::string> Token(Parser& p, const Value& v) {
  std::optional<std::string> text = p.String(v);
  if (!text) return std::nullopt;
  if (text->empty()) {
    p.Report(v, "must not be empty");
    return std::nullopt;
  }
  if (HasSpaceOrControl(*text)) {
    p.Report(v, "must not contain spaces or control characters");
    return std::nullopt;
  }
  return text;
}

bool IsEnvName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::ranges::all_of(
      name, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

constexpr Field<CdnEntry> kCdnFields[] = {
    {"enabled",
     [](Parser& p, const Value& v, CdnEntry& out) { Assign(p.Bool(v), out.cdn.enabled); }},
    {"provider",
     [](Parser& p, const Value& v, CdnEntry& out) {
       std::optional<std::string> name = p.String(v);
       if (!name) return;
       Result<scaling::CDNProvider> provider = scaling::ParseCDNProvider(*name);
       if (!provider) return p.Report(v, provider.error().message());
       out.cdn.manager.provider = *provider;
     }},
    {"api_key",
     [](Parser& p, const Value& v, CdnEntry& out) {
       out.api_key_line = v.line;
       Assign(Token(p, v), out.cdn.manager.api_key);
     }},
    {"api_key_env",
     [](Parser& p, const Value& v, CdnEntry& out) {
       out.api_key_env_line = v.line;
       std::optional<std::string> name = p.String(v);
       if (!name) return;
       if (!IsEnvName(*name)) {
         return p.Report(v, fmt::format("'{}' is not an environment variable name (letters, "
                                        "digits and '_', not starting with a digit)",
                                        *name));
       }
       out.cdn.api_key_env = std::move(*name);
     }},
    {"zone_id", [](Parser& p, const Value& v,
                   CdnEntry& out) { Assign(Token(p, v), out.cdn.manager.zone_id); }},
    {"service_id", [](Parser& p, const Value& v,
                      CdnEntry& out) { Assign(Token(p, v), out.cdn.manager.service_id); }},
    {"base_url",
     [](Parser& p, const Value& v, CdnEntry& out) {
       std::optional<std::string> url = Token(p, v);
       if (!url) return;
       if (!url->starts_with("http://") && !url->starts_with("https://")) {
         return p.Report(v, fmt::format("'{}' is not an http:// or https:// URL", *url));
       }
       out.cdn.manager.base_url = std::move(*url);
     }},
    {"max_cache_size",
     [](Parser& p, const Value& v, CdnEntry& out) {
       const std::optional<std::uint64_t> size = p.Size(v);
       if (!size) return;
       if (*size == 0) return p.Report(v, "must be greater than 0");
       out.cdn.manager.max_cache_size = *size;
     }},
    {"default_ttl",
     [](Parser& p, const Value& v, CdnEntry& out) {
       Assign(p.WholeSeconds(v, /*allow_zero=*/false), out.cdn.manager.default_ttl);
     }},
    {"max_object_fraction",
     [](Parser& p, const Value& v, CdnEntry& out) {
       const std::optional<double> fraction = p.Double(v, 0.0, 1.0);
       if (!fraction) return;
       if (*fraction == 0.0) return p.Report(v, "must be greater than 0");
       out.cdn.manager.max_object_fraction = *fraction;
     }},
    {"eviction_policy",
     [](Parser& p, const Value& v, CdnEntry& out) {
       std::optional<std::string> name = p.String(v);
       if (!name) return;
       Result<cdn::PolicyKind> policy = cdn::ParsePolicyKind(*name);
       if (!policy) return p.Report(v, policy.error().message());
       out.cdn.manager.eviction_policy = *policy;
     }},
    {"shards",
     [](Parser& p, const Value& v, CdnEntry& out) {
       const std::optional<std::int64_t> shards = p.Integer(v, 1, 1024);
       if (!shards) return;
       if (!std::has_single_bit(static_cast<std::uint64_t>(*shards))) {
         return p.Report(v, fmt::format("must be a power of two, got {}", *shards));
       }
       out.cdn.manager.shards = static_cast<std::size_t>(*shards);
     }},
    {"prefetch_concurrency",
     [](Parser& p, const Value& v, CdnEntry& out) {
       Assign(p.Integer(v, 1, 256), out.cdn.manager.prefetch_concurrency);
     }},
    {"prefetch_share",
     [](Parser& p, const Value& v, CdnEntry& out) {
       Assign(p.Double(v, 0.0, 1.0), out.cdn.manager.prefetch_share);
     }},
    {"fetch_timeout",
     [](Parser& p, const Value& v, CdnEntry& out) {
       Assign(p.PositiveMillis(v), out.cdn.manager.fetch_timeout);
     }},
    {"purge_timeout",
     [](Parser& p, const Value& v, CdnEntry& out) {
       Assign(p.PositiveMillis(v), out.cdn.manager.purge_timeout);
     }},
    {"purge_max_attempts",
     [](Parser& p, const Value& v, CdnEntry& out) {
       Assign(p.Integer(v, 1, 10), out.cdn.manager.purge_max_attempts);
     }},
    {"keep_for_revalidation",
     [](Parser& p, const Value& v, CdnEntry& out) {
       Assign(p.WholeSeconds(v, /*allow_zero=*/true), out.cdn.keep_for_revalidation);
     }},
    {"expiry_interval",
     [](Parser& p, const Value& v, CdnEntry& out) {
       Assign(p.PositiveMillis(v), out.cdn.expiry_interval);
     }},
    {"hosts",
     [](Parser& p, const Value& v, CdnEntry& out) {
       std::optional<std::vector<std::string>> hosts = p.StringList(v);
       if (!hosts) return;
       for (const std::string& host : *hosts) {
         if (host.empty() || HasSpaceOrControl(host) || host.find('/') != std::string::npos) {
           return p.Report(v, fmt::format("'{}' is not a Host value such as example.com or "
                                          "127.0.0.1:8080",
                                          host));
         }
       }
       out.cdn.hosts = std::move(*hosts);
     }},
    {"paths",
     [](Parser& p, const Value& v, CdnEntry& out) {
       std::optional<std::vector<std::string>> paths = p.StringList(v);
       if (!paths) return;
       for (const std::string& path : *paths) {
         if (path.empty() || path.front() != '/' || HasSpaceOrControl(path)) {
           return p.Report(v, fmt::format("'{}' is not a path prefix starting with '/'", path));
         }
       }
       out.cdn.path_prefixes = std::move(*paths);
     }},
};

void ParseCdn(Parser& parser, const Value& value, Config& config) {
  const std::size_t issues_before = parser.issue_count();
  CdnEntry entry;
  entry.cdn.line = value.key_line > 0 ? value.key_line : value.line;
  parser.ParseFields<CdnEntry>(value, kCdnFields, entry);
  CdnConfig& cdn = entry.cdn;
  if (entry.api_key_line > 0 && entry.api_key_env_line > 0) {
    parser.Report(entry.api_key_env_line, "cdn.api_key_env: give api_key or api_key_env, not both");
  }
  // A disabled section is only checked for form: its secret may well be absent on purpose.
  if (cdn.enabled && !cdn.api_key_env.empty() && entry.api_key_line == 0) {
    const char* secret = std::getenv(cdn.api_key_env.c_str());
    if (secret == nullptr || *secret == '\0') {
      parser.Report(entry.api_key_env_line,
                    fmt::format("cdn.api_key_env: environment variable {} is {}", cdn.api_key_env,
                                secret == nullptr ? "not set" : "empty"));
    } else if (HasSpaceOrControl(secret)) {
      // Never echo the secret itself; a trailing newline from a secrets file is the usual cause.
      parser.Report(entry.api_key_env_line,
                    fmt::format("cdn.api_key_env: environment variable {} contains spaces or "
                                "control characters (a trailing newline?)",
                                cdn.api_key_env));
    } else {
      cdn.manager.api_key = secret;
    }
  }
  // Rules that span keys (credentials per provider, shards against size), once the keys are
  // fine; ValidateCDNConfig is the manager's own check, so its messages stay the single source.
  if (cdn.enabled && parser.issue_count() == issues_before) {
    if (Status valid = scaling::ValidateCDNConfig(cdn.manager); !valid) {
      parser.Report(cdn.line, fmt::format("cdn: {}", valid.error().message()));
    }
  }
  config.cdn = std::move(cdn);
}

// ---- disaster_recovery ----------------------------------------------------------------------

// A duration of whole minutes greater than zero (RPO and RTO are kept in minutes).
std::optional<std::chrono::minutes> PositiveMinutes(Parser& p, const Value& v) {
  const std::optional<std::chrono::seconds> seconds = p.WholeSeconds(v, /*allow_zero=*/false);
  if (!seconds) return std::nullopt;
  if (*seconds % std::chrono::minutes(1) != std::chrono::seconds(0)) {
    p.Report(v, fmt::format("'{}' is not a whole number of minutes", v.node.Scalar()));
    return std::nullopt;
  }
  return std::chrono::duration_cast<std::chrono::minutes>(*seconds);
}

// A non-empty path; relative ones are resolved against the config file by LoadConfigFile.
std::optional<std::string> PathValue(Parser& p, const Value& v) {
  std::optional<std::string> path = p.String(v);
  if (!path) return std::nullopt;
  if (path->empty()) {
    p.Report(v, "must not be empty");
    return std::nullopt;
  }
  if (path->find('\0') != std::string::npos) {
    p.Report(v, "must not contain NUL characters");
    return std::nullopt;
  }
  return path;
}

// A non-empty list of non-empty paths.
std::optional<std::vector<std::string>> PathList(Parser& p, const Value& v, bool allow_empty) {
  std::optional<std::vector<std::string>> paths = p.StringList(v);
  if (!paths) return std::nullopt;
  if (paths->empty() && !allow_empty) {
    p.Report(v, "must name at least one path");
    return std::nullopt;
  }
  for (const std::string& path : *paths) {
    if (path.empty()) {
      p.Report(v, "paths must not be empty");
      return std::nullopt;
    }
  }
  return paths;
}

using DrPlanEntry = DisasterRecoveryPlanConfig;

// A location as written, for comparing two of them: URLs without a trailing '/', paths
// lexically normalised (relative ones are relative to the same file, so they compare too).
std::string ComparableLocation(const std::string& location) {
  std::string text = location.find("://") != std::string::npos
                         ? location
                         : std::filesystem::path(location).lexically_normal().string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

// A secondary repository is another region's copy: not the primary itself, and in a named region.
void CheckSecondaryRepository(Parser& p, const DrPlanEntry& entry, const Value& item) {
  const scaling::DisasterRecoveryPlan& plan = entry.plan;
  if (plan.secondary_repository.empty()) return;
  const std::string where = item.path + ".secondary_repository";
  if (!plan.repository.empty() &&
      ComparableLocation(plan.secondary_repository) == ComparableLocation(plan.repository)) {
    p.Report(entry.secondary_repository_line,
             fmt::format("{}: must differ from repository '{}'", where, plan.repository));
  }
  if (plan.secondary_region.empty()) {
    p.Report(entry.secondary_repository_line,
             fmt::format("{}: needs a secondary_region (the region the copy lives in)", where));
  }
}

constexpr Field<DrPlanEntry> kDrPlanFields[] = {
    {"id", [](Parser& p, const Value& v, DrPlanEntry& out) { ParseId(p, v, out.plan.id); }},
    {"name",
     [](Parser& p, const Value& v, DrPlanEntry& out) { Assign(p.String(v), out.plan.name); }},
    {"strategy",
     [](Parser& p, const Value& v, DrPlanEntry& out) {
       std::optional<std::string> name = p.String(v);
       if (!name) return;
       Result<scaling::BackupStrategy> strategy = scaling::ParseBackupStrategy(*name);
       if (!strategy) return p.Report(v, strategy.error().message());
       out.plan.strategy = *strategy;
     }},
    {"interval",
     [](Parser& p, const Value& v, DrPlanEntry& out) {
       Assign(p.WholeSeconds(v, /*allow_zero=*/false), out.plan.backup_interval);
     }},
    {"retention_days",
     [](Parser& p, const Value& v, DrPlanEntry& out) {
       Assign(p.Integer(v, 1, 36'500), out.plan.retention_days);
     }},
    {"rpo", [](Parser& p, const Value& v,
               DrPlanEntry& out) { Assign(PositiveMinutes(p, v), out.plan.rpo); }},
    {"rto", [](Parser& p, const Value& v,
               DrPlanEntry& out) { Assign(PositiveMinutes(p, v), out.plan.rto); }},
    {"primary_region",
     [](Parser& p, const Value& v, DrPlanEntry& out) {
       out.primary_region_line = v.line;
       ParseId(p, v, out.plan.primary_region);
     }},
    {"secondary_region",
     [](Parser& p, const Value& v, DrPlanEntry& out) {
       out.secondary_region_line = v.line;
       ParseId(p, v, out.plan.secondary_region);
     }},
    {"sources",
     [](Parser& p, const Value& v, DrPlanEntry& out) {
       Assign(PathList(p, v, /*allow_empty=*/false), out.plan.sources);
     }},
    {"excludes",
     [](Parser& p, const Value& v, DrPlanEntry& out) {
       Assign(PathList(p, v, /*allow_empty=*/true), out.plan.excludes);
     }},
    {"repository", [](Parser& p, const Value& v,
                      DrPlanEntry& out) { Assign(PathValue(p, v), out.plan.repository); }},
    {"secondary_repository",
     [](Parser& p, const Value& v, DrPlanEntry& out) {
       out.secondary_repository_line = v.line;
       Assign(PathValue(p, v), out.plan.secondary_repository);
     }},
    {"active",
     [](Parser& p, const Value& v, DrPlanEntry& out) { Assign(p.Bool(v), out.plan.active); }},
};

constexpr Field<DisasterRecoveryConfig> kDisasterRecoveryFields[] = {
    {"max_recovery_points",
     [](Parser& p, const Value& v, DisasterRecoveryConfig& out) {
       Assign(p.Integer(v, 1, 1'000'000), out.max_recovery_points);
     }},
    {"scratch_directory",
     [](Parser& p, const Value& v, DisasterRecoveryConfig& out) {
       Assign(PathValue(p, v), out.scratch_directory);
     }},
    {"test_interval",
     [](Parser& p, const Value& v, DisasterRecoveryConfig& out) {
       Assign(p.WholeSeconds(v, /*allow_zero=*/true), out.test_interval);
     }},
    {"plans",
     [](Parser& p, const Value& v, DisasterRecoveryConfig& out) {
       std::map<std::string, int> ids;
       out.plans = ParseList<DrPlanEntry>(
           p, v, kDrPlanFields, "plans",
           [&](DrPlanEntry& entry, const Value& item, const std::map<std::string, int>& keys) {
             entry.line = item.line;
             RequireKeys(p, item, keys, {"id", "sources", "repository"});
             CheckUnique(p, ids, entry.plan.id, item.line, item.path, "plan id");
             CheckSecondaryRepository(p, entry, item);
           });
     }},
};

void ParseDisasterRecovery(Parser& parser, const Value& value, Config& config) {
  DisasterRecoveryConfig dr;
  dr.line = value.key_line > 0 ? value.key_line : value.line;
  parser.ParseFields<DisasterRecoveryConfig>(value, kDisasterRecoveryFields, dr);
  config.disaster_recovery = std::move(dr);
}

// Rules that span sections, checked once everything is parsed.
void CheckReferences(Parser& parser, const Config& config) {
  if (config.regions.empty()) return;  // backends and plans without regions are allowed
  auto known = [&](const std::string& id) {
    return std::ranges::any_of(config.regions, [&](const RegionConfig& r) { return r.id == id; });
  };
  for (const BackendConfig& backend : config.backends) {
    if (backend.region.empty()) continue;
    if (!known(backend.region)) {
      parser.Report(backend.line,
                    fmt::format("backend '{}': unknown region '{}'", backend.id, backend.region));
    }
  }
  if (!config.disaster_recovery) return;
  for (const DisasterRecoveryPlanConfig& entry : config.disaster_recovery->plans) {
    const scaling::DisasterRecoveryPlan& plan = entry.plan;
    if (!plan.primary_region.empty() && !known(plan.primary_region)) {
      parser.Report(entry.primary_region_line, fmt::format("plan '{}': unknown primary_region '{}'",
                                                           plan.id, plan.primary_region));
    }
    if (!plan.secondary_region.empty() && !known(plan.secondary_region)) {
      parser.Report(
          entry.secondary_region_line,
          fmt::format("plan '{}': unknown secondary_region '{}'", plan.id, plan.secondary_region));
    }
  }
}

// ---- top level ------------------------------------------------------------------------------

// ---- log ------------------------------------------------------------------------------------

// A string that must be one of `choices`.
void Choice(Parser& p, const Value& v, std::initializer_list<std::string_view> choices,
            std::string& out) {
  std::optional<std::string> text = p.String(v);
  if (!text) return;
  for (std::string_view choice : choices) {
    if (*text == choice) {
      out = std::move(*text);
      return;
    }
  }
  p.Report(v, fmt::format("'{}' is not one of: {}", *text, fmt::join(choices, ", ")));
}

constexpr Field<LogConfig> kLogFields[] = {
    {"format",
     [](Parser& p, const Value& v, LogConfig& out) {
       Choice(p, v, {"text", "json"}, out.format);
     }},
    {"level",
     [](Parser& p, const Value& v, LogConfig& out) {
       Choice(p, v, {"trace", "debug", "info", "warn", "error"}, out.level);
     }},
    {"access_log",
     [](Parser& p, const Value& v, LogConfig& out) {
       std::optional<std::string> text = p.String(v);
       if (!text) return;
       if (text->empty()) return p.Report(v, "must not be empty (leave it out for none)");
       out.access_log = std::move(*text);
     }},
};

void ParseLog(Parser& parser, const Value& value, Config& config) {
  parser.ParseFields<LogConfig>(value, kLogFields, config.log);
}

void ParseDataDir(Parser& parser, const Value& value, Config& config) {
  std::optional<std::string> text = parser.String(value);
  if (!text) return;
  if (text->empty()) return parser.Report(value, "must not be empty (leave it out for none)");
  config.data_dir = std::move(*text);
}

// Adding a section (listeners, backends, ...) is one Parse function and one row here.
constexpr Field<Config> kTopLevelFields[] = {
    {"admin", ParseAdmin},
    {"health_check", ParseHealthCheck},
    {"regions", ParseRegions},
    {"listeners", ParseListeners},
    {"backends", ParseBackends},
    {"load_balancer", ParseLoadBalancer},
    {"proxy", ParseProxy},
    {"cdn", ParseCdn},
    {"disaster_recovery", ParseDisasterRecovery},
    {"data_dir", ParseDataDir},
    {"log", ParseLog},
};

// Records where each YAML document starts; everything else is ignored.
class DocumentStarts final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::vector<YAML::Mark> starts;
};

// Loads the single document in `yaml_text`; nullopt (with the issue reported) on syntax errors
// and when there is more than one document. YAML::LoadAll is not used: yaml-cpp 0.7 loops
// forever, allocating, when a document starts with a stray token such as ',' (it keeps emitting
// empty documents at the same position; yaml-cpp issue #1040, fixed upstream after 0.7). So the
// documents are first walked without building nodes, a bounded number of times, and a document
// that starts where the previous one did is reported as the syntax error it is.
std::optional<YAML::Node> LoadSingleDocument(Parser& parser, std::string_view yaml_text) {
  const std::string text(yaml_text);
  try {
    std::istringstream stream(text);
    YAML::Parser events(stream);
    DocumentStarts handler;
    // Three documents are enough to tell "one", "several" and "stuck at the second" apart.
    while (handler.starts.size() < 3 && events.HandleNextDocument(handler)) {
      const std::size_t n = handler.starts.size();
      if (n >= 2 && handler.starts[n - 1].pos == handler.starts[n - 2].pos) {
        const YAML::Mark& mark = handler.starts[n - 1];
        const auto pos = static_cast<std::size_t>(mark.pos);
        parser.Report(LineOf(mark),
                      pos < text.size()
                          ? fmt::format("YAML syntax error: unexpected '{}'", text[pos])
                          : std::string("YAML syntax error: unexpected end of input"));
        return std::nullopt;
      }
    }
    if (handler.starts.empty()) return YAML::Node();  // nothing but comments: all defaults
    if (handler.starts.size() > 1) {
      parser.Report(LineOf(handler.starts[1]), "expected one YAML document, found more than one");
      return std::nullopt;
    }
    return YAML::Load(text);  // one document, so Load cannot hit the loop above
  } catch (const YAML::ParserException& e) {
    parser.Report(LineOf(e.mark), fmt::format("YAML syntax error: {}", e.msg));
    return std::nullopt;
  }
}

void ParseDocument(Parser& parser, std::string_view yaml_text, Config& config) {
  const std::optional<YAML::Node> root = LoadSingleDocument(parser, yaml_text);
  if (!root) return;
  parser.ParseFields<Config>(Value{*root, "", LineOf(*root)}, kTopLevelFields, config);
  CheckReferences(parser, config);
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
    parser.Report(LineOf(e.mark), fmt::format("cannot read YAML: {}", e.msg));
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
  auto config = ParseConfig(text.str(), file_name);
  // Relative paths (database, backup sources and repositories) are relative to the config
  // file, not to the daemon's cwd.
  auto resolve = [&path](std::string& value, bool absolute) {
    if (value.empty()) return;
    const std::filesystem::path p(value);
    if (!p.is_relative()) return;
    std::filesystem::path resolved = path.parent_path() / p;
    std::error_code error;
    // Backup locations show up in the admin API and in recovery points: make them absolute.
    if (absolute) {
      if (std::filesystem::path full = std::filesystem::absolute(resolved, error); !error) {
        resolved = std::move(full);
      }
    }
    value = resolved.lexically_normal().string();
  };
  if (config) {
    resolve(config->admin.token_file, true);
    resolve(config->data_dir, true);
    if (config->log.access_log != "stdout") resolve(config->log.access_log, true);
    resolve(config->load_balancer.geoip_database, false);
    // TLS files of listeners, the admin listener and backends.
    auto resolve_server_tls = [&resolve](std::optional<ListenerTlsConfig>& tls) {
      if (!tls) return;
      for (net::TlsCertificateFiles& files : tls->options.certificates) {
        resolve(files.cert, false);
        resolve(files.key, false);
        resolve(files.ocsp_staple, false);
      }
      resolve(tls->options.client_ca_file, false);
    };
    for (ListenerConfig& listener : config->listeners) resolve_server_tls(listener.tls);
    resolve_server_tls(config->admin.tls);
    for (BackendConfig& backend : config->backends) {
      if (!backend.tls) continue;
      resolve(backend.tls->options.ca_file, false);
      resolve(backend.tls->options.client_cert, false);
      resolve(backend.tls->options.client_key, false);
    }
    if (config->disaster_recovery) {
      resolve(config->disaster_recovery->scratch_directory, true);
      for (DisasterRecoveryPlanConfig& entry : config->disaster_recovery->plans) {
        for (std::string& source : entry.plan.sources) resolve(source, true);
        // URLs (s3://bucket/prefix, file:///srv/repo) are locations, not relative paths.
        for (std::string* location : {&entry.plan.repository, &entry.plan.secondary_repository}) {
          if (location->find("://") == std::string::npos) resolve(*location, true);
        }
      }
    }
  }
  return config;
}

}  // namespace streamgate::config
