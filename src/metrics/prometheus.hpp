// Writer for the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// The format requires every sample of a family to follow that family's single # HELP / # TYPE
// pair. Collectors naturally loop per object ("for each region, write its gauges"), so the writer
// buffers samples per family and Take() emits each family once, grouped, in the order families
// were first declared (or first sampled).
//
//   PrometheusWriter out;
//   out.Family("streamgate_region_healthy", "1 if the region is healthy.", MetricType::kGauge);
//   out.Sample("streamgate_region_healthy", {{"region", "eu-west"}}, 1);
//   std::string text = out.Take();
//
// Not thread-safe: build one writer per scrape.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace streamgate::metrics {

// Content-Type of a scrape response in this format.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kCounter, kGauge, kHistogram, kSummary, kUntyped };

// The # TYPE keyword: "counter", "gauge", "histogram", "summary", "untyped".
[[nodiscard]] std::string_view ToString(MetricType type);

using Label = std::pair<std::string_view, std::string_view>;  // name, value

// A non-owning list of labels: `{{"region", id}, {"status", "ok"}}` at a call site, or a span /
// vector of labels built at run time. Use it only as a parameter type: the array behind a braced
// list lives until the end of the full expression, not beyond.
class Labels {
 public:
  Labels() = default;
  Labels(std::initializer_list<Label> labels)  // NOLINT(google-explicit-constructor)
      : labels_(labels.begin(), labels.size()) {}
  Labels(std::span<const Label> labels) : labels_(labels) {}  // NOLINT(google-explicit-constructor)
  Labels(const std::vector<Label>& labels)                    // NOLINT(google-explicit-constructor)
      : labels_(labels) {}

  [[nodiscard]] auto begin() const { return labels_.begin(); }
  [[nodiscard]] auto end() const { return labels_.end(); }
  [[nodiscard]] std::size_t size() const { return labels_.size(); }
  [[nodiscard]] bool empty() const { return labels_.empty(); }

 private:
  std::span<const Label> labels_;
};

// [a-zA-Z_:][a-zA-Z0-9_:]*
[[nodiscard]] bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*
[[nodiscard]] bool IsValidLabelName(std::string_view name);

// Sample values as the format spells them: "NaN", "+Inf", "-Inf"; integral values below 2^53
// without exponent or decimals ("1000000000000000", not "1e+15"); others in the shortest form
// that reads back to the same double ("0.25", "1.5e-07", "1e+300").
[[nodiscard]] std::string FormatValue(double value);
[[nodiscard]] std::string FormatValue(std::int64_t value);
[[nodiscard]] std::string FormatValue(std::uint64_t value);

// Label values: backslash, double quote and newline escaped. Help text: backslash and newline.
[[nodiscard]] std::string EscapeLabelValue(std::string_view value);
[[nodiscard]] std::string EscapeHelp(std::string_view help);

class PrometheusWriter {
 public:
  // Declares a family. Declaring a name again is a no-op, so collectors may declare inside
  // loops; a second declaration with a different type is rejected (see rejected()). An empty
  // `help` omits the # HELP line.
  void Family(std::string_view name, std::string_view help, MetricType type);

  // Adds a sample. `name` is the family name, or for histogram / summary families the family
  // name plus "_bucket" (histogram only), "_sum" or "_count". A sample of an undeclared family
  // is written without # HELP / # TYPE, which the format reads as untyped.
  void Sample(std::string_view name, Labels labels, double value);
  template <std::integral T>
  void Sample(std::string_view name, Labels labels, T value) {
    // Integers keep full precision; a counter past 2^53 would lose digits through double.
    if constexpr (std::is_same_v<T, bool>) {
      Append(name, labels, FormatValue(std::uint64_t{value ? 1U : 0U}));
    } else if constexpr (std::is_signed_v<T>) {
      Append(name, labels, FormatValue(static_cast<std::int64_t>(value)));
    } else {
      Append(name, labels, FormatValue(static_cast<std::uint64_t>(value)));
    }
  }

  // The exposition text so far; resets the writer (rejected() included).
  [[nodiscard]] std::string Take();

  // Family/Sample calls dropped so far: invalid metric or label names, a label name repeated in
  // one sample, or a family re-declared with another type. Names come from code, so this is a
  // bug detector for tests rather than a runtime condition; the calls themselves never fail.
  [[nodiscard]] std::size_t rejected() const { return rejected_; }

 private:
  struct FamilyData {
    std::string name;
    std::string help;
    MetricType type = MetricType::kUntyped;
    bool declared = false;  // false: only sampled, so no # HELP / # TYPE lines
    std::string samples;    // rendered sample lines
  };

  void Append(std::string_view name, Labels labels, std::string_view value);
  FamilyData& FamilyForSample(std::string_view sample_name);

  std::vector<FamilyData> families_;                              // in first-seen order
  std::map<std::string, std::size_t, std::less<>> family_index_;  // name -> index in families_
  std::size_t rejected_ = 0;
};

}  // namespace streamgate::metrics
