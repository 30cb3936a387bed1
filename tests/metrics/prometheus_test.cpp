#include "metrics/prometheus.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace streamgate::metrics {
namespace {

TEST(PrometheusFormatValue, Integers) {
  EXPECT_EQ(FormatValue(std::uint64_t{0}), "0");
  EXPECT_EQ(FormatValue(std::numeric_limits<std::uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(FormatValue(std::int64_t{-42}), "-42");
}

TEST(PrometheusFormatValue, IntegralDoublesHaveNoExponentOrDecimals) {
  EXPECT_EQ(FormatValue(0.0), "0");
  EXPECT_EQ(FormatValue(-0.0), "0");
  EXPECT_EQ(FormatValue(3.0), "3");
  EXPECT_EQ(FormatValue(-7.0), "-7");
  EXPECT_EQ(FormatValue(1e15), "1000000000000000");
  EXPECT_EQ(FormatValue(9007199254740991.0), "9007199254740991");
}

TEST(PrometheusFormatValue, FractionsAndHugeValuesRoundTrip) {
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(-1.5), "-1.5");
  EXPECT_EQ(FormatValue(0.000123), "0.000123");
  EXPECT_EQ(FormatValue(1.5e-7), "1.5e-07");
  EXPECT_EQ(FormatValue(1e300), "1e+300");
  EXPECT_EQ(FormatValue(9007199254740992.0), "9007199254740992");  // shortest form, exact
}

TEST(PrometheusFormatValue, SpecialValues) {
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(PrometheusEscape, LabelValues) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue(R"(a\b"c)"
                             "\n"
                             "d"),
            R"(a\\b\"c\nd)");
}

TEST(PrometheusEscape, HelpKeepsQuotes) {
  EXPECT_EQ(EscapeHelp("say \"hi\"\\ now\nplease"), "say \"hi\"\\\\ now\\nplease");
}

TEST(PrometheusNames, Validation) {
  EXPECT_TRUE(IsValidMetricName("streamgate_regions"));
  EXPECT_TRUE(IsValidMetricName(":recording:rule_1"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_TRUE(IsValidLabelName("_region9"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("9"));
  EXPECT_FALSE(IsValidLabelName(""));
}

TEST(PrometheusWriter, EmptyWriterWritesNothing) {
  PrometheusWriter out;
  EXPECT_EQ(out.Take(), "");
}

TEST(PrometheusWriter, FamilyWithSamples) {
  PrometheusWriter out;
  out.Family("streamgate_regions", "Registered regions.", MetricType::kGauge);
  out.Sample("streamgate_regions", {}, 3);
  out.Family("http_requests_total", "Requests.", MetricType::kCounter);
  out.Sample("http_requests_total", {{"method", "GET"}, {"code", "200"}}, std::uint64_t{1027});
  out.Sample("http_requests_total", {{"method", "POST"}, {"code", "400"}}, 3);
  EXPECT_EQ(out.Take(),
            "# HELP streamgate_regions Registered regions.\n"
            "# TYPE streamgate_regions gauge\n"
            "streamgate_regions 3\n"
            "# HELP http_requests_total Requests.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{method=\"GET\",code=\"200\"} 1027\n"
            "http_requests_total{method=\"POST\",code=\"400\"} 3\n");
}

TEST(PrometheusWriter, InterleavedSamplesAreGroupedByFamilyAndHeadersWrittenOnce) {
  PrometheusWriter out;
  for (const char* region : {"a", "b"}) {
    out.Family("up", "Up.", MetricType::kGauge);
    out.Family("latency_seconds", "Latency.", MetricType::kGauge);
    out.Sample("up", {{"region", region}}, true);
    out.Sample("latency_seconds", {{"region", region}}, 0.02);
  }
  EXPECT_EQ(out.Take(),
            "# HELP up Up.\n"
            "# TYPE up gauge\n"
            "up{region=\"a\"} 1\n"
            "up{region=\"b\"} 1\n"
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds gauge\n"
            "latency_seconds{region=\"a\"} 0.02\n"
            "latency_seconds{region=\"b\"} 0.02\n");
}

TEST(PrometheusWriter, EscapesLabelValuesAndHelp) {
  PrometheusWriter out;
  out.Family("m", "Help with \\ and\nnewline \"quoted\".", MetricType::kUntyped);
  out.Sample("m", {{"path", "C:\\dir\n\"x\""}}, 1.5);
  EXPECT_EQ(out.Take(),
            "# HELP m Help with \\\\ and\\nnewline \"quoted\".\n"
            "# TYPE m untyped\n"
            "m{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1.5\n");
}

TEST(PrometheusWriter, SpecialValuesInSamples) {
  PrometheusWriter out;
  out.Family("g", "G.", MetricType::kGauge);
  out.Sample("g", {{"k", "nan"}}, std::nan(""));
  out.Sample("g", {{"k", "inf"}}, std::numeric_limits<double>::infinity());
  out.Sample("g", {{"k", "neg"}}, -std::numeric_limits<double>::infinity());
  out.Sample("g", {{"k", "big"}}, std::uint64_t{1} << 60);
  EXPECT_EQ(out.Take(),
            "# HELP g G.\n"
            "# TYPE g gauge\n"
            "g{k=\"nan\"} NaN\n"
            "g{k=\"inf\"} +Inf\n"
            "g{k=\"neg\"} -Inf\n"
            "g{k=\"big\"} 1152921504606846976\n");
}

TEST(PrometheusWriter, EmptyHelpOmitsHelpLine) {
  PrometheusWriter out;
  out.Family("x", "", MetricType::kCounter);
  out.Sample("x", {}, 0);
  EXPECT_EQ(out.Take(), "# TYPE x counter\nx 0\n");
}

TEST(PrometheusWriter, FamilyWithoutSamplesStillDeclared) {
  PrometheusWriter out;
  out.Family("x", "X.", MetricType::kGauge);
  EXPECT_EQ(out.Take(), "# HELP x X.\n# TYPE x gauge\n");
}

TEST(PrometheusWriter, UndeclaredSamplesAreWrittenWithoutHeaders) {
  PrometheusWriter out;
  out.Sample("loose", {}, 2);
  out.Family("declared", "D.", MetricType::kGauge);
  out.Sample("declared", {}, 1);
  out.Sample("loose", {{"k", "v"}}, 3);
  EXPECT_EQ(out.Take(),
            "loose 2\n"
            "loose{k=\"v\"} 3\n"
            "# HELP declared D.\n"
            "# TYPE declared gauge\n"
            "declared 1\n");
}

TEST(PrometheusWriter, DeclarationAfterSampleAdoptsIt) {
  PrometheusWriter out;
  out.Sample("late", {}, 1);
  out.Family("late", "Late.", MetricType::kCounter);
  EXPECT_EQ(out.Take(), "# HELP late Late.\n# TYPE late counter\nlate 1\n");
  EXPECT_EQ(out.rejected(), 0U);
}

TEST(PrometheusWriter, HistogramAndSummarySuffixesJoinTheirFamily) {
  PrometheusWriter out;
  out.Family("req_seconds", "Request time.", MetricType::kHistogram);
  out.Family("rpc_seconds", "RPC time.", MetricType::kSummary);
  out.Sample("req_seconds_bucket", {{"le", "0.1"}}, 4);
  out.Sample("rpc_seconds", {{"quantile", "0.99"}}, 0.5);
  out.Sample("req_seconds_bucket", {{"le", "+Inf"}}, 5);
  out.Sample("req_seconds_sum", {}, 0.75);
  out.Sample("req_seconds_count", {}, 5);
  out.Sample("rpc_seconds_sum", {}, 2.5);
  out.Sample("rpc_seconds_count", {}, 10);
  // A summary has no buckets: this one is a family of its own.
  out.Sample("rpc_seconds_bucket", {}, 1);
  EXPECT_EQ(out.Take(),
            "# HELP req_seconds Request time.\n"
            "# TYPE req_seconds histogram\n"
            "req_seconds_bucket{le=\"0.1\"} 4\n"
            "req_seconds_bucket{le=\"+Inf\"} 5\n"
            "req_seconds_sum 0.75\n"
            "req_seconds_count 5\n"
            "# HELP rpc_seconds RPC time.\n"
            "# TYPE rpc_seconds summary\n"
            "rpc_seconds{quantile=\"0.99\"} 0.5\n"
            "rpc_seconds_sum 2.5\n"
            "rpc_seconds_count 10\n"
            "rpc_seconds_bucket 1\n");
}

TEST(PrometheusWriter, LabelsFromRuntimeContainers) {
  std::vector<Label> labels = {{"a", "1"}, {"b", "2"}};
  PrometheusWriter out;
  out.Sample("v", labels, 1);
  out.Sample("v", std::span<const Label>(labels).first(1), 2);
  EXPECT_EQ(out.Take(), "v{a=\"1\",b=\"2\"} 1\nv{a=\"1\"} 2\n");
}

TEST(PrometheusWriter, RejectsInvalidNamesWithoutWritingThem) {
  PrometheusWriter out;
  out.Family("bad-name", "x", MetricType::kGauge);
  out.Sample("bad-name", {}, 1);
  out.Sample("ok", {{"bad-label", "v"}}, 1);
  out.Sample("ok", {{"dup", "1"}, {"dup", "2"}}, 1);
  out.Family("typed", "T.", MetricType::kGauge);
  out.Family("typed", "T.", MetricType::kCounter);  // conflicting re-declaration
  out.Family("typed", "T.", MetricType::kGauge);    // identical re-declaration is fine
  EXPECT_EQ(out.rejected(), 5U);
  EXPECT_EQ(out.Take(), "# HELP typed T.\n# TYPE typed gauge\n");
  EXPECT_EQ(out.rejected(), 0U);
}

TEST(PrometheusWriter, TakeResets) {
  PrometheusWriter out;
  out.Family("x", "X.", MetricType::kGauge);
  out.Sample("x", {}, 1);
  EXPECT_FALSE(out.Take().empty());
  out.Sample("x", {}, 2);
  EXPECT_EQ(out.Take(), "x 2\n");
}

TEST(PrometheusMetricType, Names) {
  EXPECT_EQ(ToString(MetricType::kCounter), "counter");
  EXPECT_EQ(ToString(MetricType::kGauge), "gauge");
  EXPECT_EQ(ToString(MetricType::kHistogram), "histogram");
  EXPECT_EQ(ToString(MetricType::kSummary), "summary");
  EXPECT_EQ(ToString(MetricType::kUntyped), "untyped");
}

}  // namespace
}  // namespace streamgate::metrics
