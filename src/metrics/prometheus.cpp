#include "metrics/prometheus.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <system_error>

namespace streamgate::metrics {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

template <typename T>
std::string ToChars(T value) {
  // 32 bytes hold any int64/uint64 and the shortest round-trip form of any double.
  std::array<char, 32> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  if (ec != std::errc()) return "NaN";  // cannot happen with this buffer size
  return std::string(buffer.data(), end);
}

// Below 2^53 every integer is exactly representable, so printing it as an integer is exact;
// above it, the exponent form is the honest one.
constexpr double kMaxExactInteger = 9007199254740992.0;

}  // namespace

std::string_view ToString(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kSummary:
      return "summary";
    case MetricType::kUntyped:
      return "untyped";
  }
  return "untyped";
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name.front()) || name.front() == ':')) return false;
  for (char c : name) {
    if (!IsNameStart(c) && !IsDigit(c) && c != ':') return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name.front())) return false;
  for (char c : name) {
    if (!IsNameStart(c) && !IsDigit(c)) return false;
  }
  return true;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < kMaxExactInteger) {
    // Also maps -0.0 to "0".
    return ToChars(static_cast<std::int64_t>(value));
  }
  return ToChars(value);
}

std::string FormatValue(std::int64_t value) { return ToChars(value); }
std::string FormatValue(std::uint64_t value) { return ToChars(value); }

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
        break;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
        break;
    }
  }
  return out;
}

void PrometheusWriter::Family(std::string_view name, std::string_view help, MetricType type) {
  if (!IsValidMetricName(name)) {
    ++rejected_;
    return;
  }
  auto it = family_index_.find(name);
  if (it == family_index_.end()) {
    family_index_.emplace(std::string(name), families_.size());
    families_.push_back(FamilyData{.name = std::string(name),
                                   .help = std::string(help),
                                   .type = type,
                                   .declared = true,
                                   .samples = {}});
    return;
  }
  FamilyData& family = families_[it->second];
  if (!family.declared) {
    // Sampled before it was declared: adopt the declaration, keep the position.
    family.help = std::string(help);
    family.type = type;
    family.declared = true;
  } else if (family.type != type) {
    ++rejected_;
  }
}

void PrometheusWriter::Sample(std::string_view name, Labels labels, double value) {
  Append(name, labels, FormatValue(value));
}

PrometheusWriter::FamilyData& PrometheusWriter::FamilyForSample(std::string_view sample_name) {
  if (auto it = family_index_.find(sample_name); it != family_index_.end()) {
    return families_[it->second];
  }
  // Histogram and summary samples carry a suffix after the family name.
  struct Suffix {
    std::string_view text;
    bool histogram;
    bool summary;
  };
  static constexpr std::array<Suffix, 3> kSuffixes = {{
      {"_bucket", true, false},
      {"_sum", true, true},
      {"_count", true, true},
  }};
  for (const Suffix& suffix : kSuffixes) {
    if (!sample_name.ends_with(suffix.text)) continue;
    auto it = family_index_.find(sample_name.substr(0, sample_name.size() - suffix.text.size()));
    if (it == family_index_.end()) continue;
    FamilyData& family = families_[it->second];
    if ((family.type == MetricType::kHistogram && suffix.histogram) ||
        (family.type == MetricType::kSummary && suffix.summary)) {
      return family;
    }
  }
  family_index_.emplace(std::string(sample_name), families_.size());
  families_.push_back(FamilyData{.name = std::string(sample_name),
                                 .help = {},
                                 .type = MetricType::kUntyped,
                                 .declared = false,
                                 .samples = {}});
  return families_.back();
}

void PrometheusWriter::Append(std::string_view name, Labels labels, std::string_view value) {
  if (!IsValidMetricName(name)) {
    ++rejected_;
    return;
  }
  std::size_t index = 0;
  for (const Label& label : labels) {
    if (!IsValidLabelName(label.first)) {
      ++rejected_;
      return;
    }
    for (std::size_t j = 0; j < index; ++j) {
      if (labels.begin()[j].first == label.first) {
        ++rejected_;
        return;
      }
    }
    ++index;
  }

  std::string& out = FamilyForSample(name).samples;
  out += name;
  if (!labels.empty()) {
    out += '{';
    bool first = true;
    for (const auto& [label_name, label_value] : labels) {
      if (!first) out += ',';
      first = false;
      out += label_name;
      out += "=\"";
      out += EscapeLabelValue(label_value);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

std::string PrometheusWriter::Take() {
  std::string out;
  for (const FamilyData& family : families_) {
    if (family.declared) {
      if (!family.help.empty()) {
        out += "# HELP ";
        out += family.name;
        out += ' ';
        out += EscapeHelp(family.help);
        out += '\n';
      }
      out += "# TYPE ";
      out += family.name;
      out += ' ';
      out += ToString(family.type);
      out += '\n';
    }
    out += family.samples;
  }
  families_.clear();
  family_index_.clear();
  rejected_ = 0;
  return out;
}

}  // namespace streamgate::metrics
