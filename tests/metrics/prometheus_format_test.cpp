// /metrics as Prometheus reads it: a parser for the text exposition format 0.0.4, written for
// this test (not the writer's own code), checks the scrape of a daemon that has every manager
// configured (regions, a balancer behind the proxy, the CDN edge cache, a disaster-recovery plan
// on a temporary directory) after some traffic, backups and a recovery test.
//
// What the parser holds the text to:
//   - every line is `# HELP name text`, `# TYPE name type`, another `# ` comment, or a sample
//     `name{label="value",...} value [timestamp]`; no empty lines; a final newline;
//   - metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, label
//     values and help text use only the escapes \\ \" \n (\" not in help);
//   - each family has at most one HELP and exactly one TYPE, both before its samples, and its
//     samples are together; no series (name and label set) appears twice;
//   - counters are named *_total, their samples carry the family's name, values >= 0;
//   - histograms have, per label set, `_bucket` samples with increasing `le` ending in "+Inf"
//     and non-decreasing counts, a `_sum`, and a `_count` equal to the "+Inf" bucket.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "daemon/daemon.hpp"
#include "metrics/prometheus.hpp"
#include "net/demo_origin.hpp"
#include "support/http_client.hpp"

namespace streamgate::metrics {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---- the parser ------------------------------------------------------------------------------

struct ParsedSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  std::size_t line = 0;
};

struct ParsedFamily {
  std::string name;
  std::string type;  // "" when no # TYPE line named it
  std::optional<std::string> help;
  std::vector<ParsedSample> samples;
};

struct Exposition {
  std::vector<ParsedFamily> families;  // in order of first appearance
  std::vector<std::string> errors;     // "line N: ..." (or "family X: ...")

  [[nodiscard]] const ParsedFamily* Find(std::string_view name) const {
    for (const auto& family : families) {
      if (family.name == name) return &family;
    }
    return nullptr;
  }
};

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(std::string_view name) {
  return IsMetricName(name) && name.find(':') == std::string_view::npos;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':';
}

// "NaN", "+Inf", "-Inf" or a decimal / exponent float, the whole token.
std::optional<double> ParseValue(std::string_view token) {
  if (token == "NaN") return std::nan("");
  if (token == "+Inf") return HUGE_VAL;
  if (token == "-Inf") return -HUGE_VAL;
  if (token.empty() || token.find_first_not_of("0123456789+-.eE") != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string copy(token);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return value;
}

bool IsTimestamp(std::string_view token) {
  if (!token.empty() && token[0] == '-') token.remove_prefix(1);
  return !token.empty() && token.find_first_not_of("0123456789") == std::string_view::npos;
}

// Escapes allowed: backslash followed by one of `allowed`.
bool EscapesValid(std::string_view text, std::string_view allowed) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') continue;
    if (i + 1 >= text.size() || allowed.find(text[i + 1]) == std::string_view::npos) return false;
    ++i;
  }
  return true;
}

class Parser {
 public:
  Exposition Parse(std::string_view text) {
    if (!text.empty() && text.back() != '\n') Error(0, "the text does not end with a newline");
    std::size_t line_number = 0;
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      ParseLine(++line_number, text.substr(start, end - start));
      start = end + 1;
    }
    for (const auto& family : out_.families) CheckFamily(family);
    return std::move(out_);
  }

 private:
  void Error(std::size_t line, const std::string& message) {
    out_.errors.push_back("line " + std::to_string(line) + ": " + message);
  }

  ParsedFamily& FamilyNamed(const std::string& name) {
    auto [it, inserted] = index_.emplace(name, out_.families.size());
    if (inserted) out_.families.push_back(ParsedFamily{name, "", std::nullopt, {}});
    return out_.families[it->second];
  }

  // A family's samples form one block: a line about another family ends the current block.
  void Touch(std::size_t line, const std::string& family, bool sample) {
    if (family == current_) return;
    if (!current_.empty()) closed_.insert(current_);
    current_ = sample ? family : "";
    if (sample && closed_.contains(family)) {
      Error(line, "samples of '" + family + "' are not together (the format needs one block)");
    }
  }

  void ParseLine(std::size_t line, std::string_view text) {
    if (text.empty()) return Error(line, "empty line");
    if (text[0] == '#') return ParseComment(line, text);
    ParseSample(line, text);
  }

  void ParseComment(std::size_t line, std::string_view text) {
    const bool help = text.starts_with("# HELP ");
    const bool type = text.starts_with("# TYPE ");
    if (!help && !type) {
      if (text.size() > 1 && text[1] != ' ') Error(line, "a comment must start with '# '");
      return;
    }
    std::string_view rest = text.substr(7);
    const std::size_t space = rest.find(' ');
    const std::string name(rest.substr(0, space));
    const std::string_view argument =
        space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
    if (!IsMetricName(name)) return Error(line, "invalid metric name '" + name + "'");
    Touch(line, name, false);
    ParsedFamily& family = FamilyNamed(name);
    if (help) {
      if (family.help) Error(line, "second # HELP for '" + name + "'");
      if (!family.samples.empty()) Error(line, "# HELP for '" + name + "' after its samples");
      if (!EscapesValid(argument, "\\n")) Error(line, "bad escape in the help of '" + name + "'");
      family.help = std::string(argument);
      return;
    }
    static const std::set<std::string_view> kTypes = {"counter", "gauge", "histogram", "summary",
                                                      "untyped"};
    if (!kTypes.contains(argument)) {
      return Error(line, "unknown type '" + std::string(argument) + "' for '" + name + "'");
    }
    if (!family.type.empty()) Error(line, "second # TYPE for '" + name + "'");
    if (!family.samples.empty()) Error(line, "# TYPE for '" + name + "' after its samples");
    family.type = std::string(argument);
  }

  void ParseSample(std::size_t line, std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && IsNameChar(text[i])) ++i;
    ParsedSample sample;
    sample.name = std::string(text.substr(0, i));
    sample.line = line;
    if (!IsMetricName(sample.name)) {
      return Error(line, "not a comment or a sample: '" + std::string(text) + "'");
    }
    if (i < text.size() && text[i] == '{') {
      ++i;
      while (true) {
        if (i < text.size() && text[i] == '}') {
          ++i;
          break;
        }
        std::size_t name_end = i;
        while (name_end < text.size() && IsNameChar(text[name_end])) ++name_end;
        const std::string label(text.substr(i, name_end - i));
        if (!IsLabelName(label)) return Error(line, "invalid label name '" + label + "'");
        if (name_end + 1 >= text.size() || text[name_end] != '=' || text[name_end + 1] != '"') {
          return Error(line, "label '" + label + "' needs =\"value\"");
        }
        std::size_t j = name_end + 2;
        std::string value;
        bool closed = false;
        while (j < text.size()) {
          if (text[j] == '\\') {
            if (j + 1 >= text.size() ||
                std::string_view("\\\"n").find(text[j + 1]) == std::string_view::npos) {
              return Error(line, "bad escape in the value of label '" + label + "'");
            }
            value += text[j + 1] == 'n' ? '\n' : text[j + 1];
            j += 2;
          } else if (text[j] == '"') {
            closed = true;
            ++j;
            break;
          } else if (text[j] == '\n') {
            return Error(line, "raw newline in a label value");
          } else {
            value += text[j++];
          }
        }
        if (!closed) return Error(line, "unterminated value of label '" + label + "'");
        if (!sample.labels.emplace(label, value).second) {
          return Error(line, "label '" + label + "' repeated");
        }
        i = j;
        if (i < text.size() && text[i] == ',')
          ++i;
        else if (i >= text.size() || text[i] != '}')
          return Error(line, "expected ',' or '}'");
      }
    }
    if (i >= text.size() || text[i] != ' ') return Error(line, "expected ' ' before the value");
    std::string_view rest = text.substr(i + 1);
    const std::size_t space = rest.find(' ');
    const std::optional<double> value = ParseValue(rest.substr(0, space));
    if (!value) return Error(line, "bad value '" + std::string(rest.substr(0, space)) + "'");
    if (space != std::string_view::npos && !IsTimestamp(rest.substr(space + 1))) {
      return Error(line, "bad timestamp '" + std::string(rest.substr(space + 1)) + "'");
    }
    sample.value = *value;

    // Which family: its own name, or a histogram/summary it is a _bucket/_sum/_count of.
    std::string family_name = sample.name;
    auto own = index_.find(family_name);
    if (own == index_.end() || out_.families[own->second].type.empty()) {
      for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if (!sample.name.ends_with(suffix)) continue;
        const std::string base = sample.name.substr(0, sample.name.size() - suffix.size());
        auto it = index_.find(base);
        if (it == index_.end()) continue;
        const std::string& type = out_.families[it->second].type;
        if (type == "histogram" || (type == "summary" && suffix != "_bucket")) family_name = base;
      }
    }
    Touch(line, family_name, true);
    ParsedFamily& family = FamilyNamed(family_name);
    if (family.type.empty()) Error(line, "sample '" + sample.name + "' has no # TYPE before it");

    std::string series = sample.name + "{";
    for (const auto& [label, label_value] : sample.labels) {
      series += label + "=" + label_value + ",";
    }
    if (!series_.insert(series).second) Error(line, "series " + series + "} appears twice");
    family.samples.push_back(std::move(sample));
  }

  void FamilyError(const ParsedFamily& family, const std::string& message) {
    out_.errors.push_back("family " + family.name + ": " + message);
  }

  void CheckFamily(const ParsedFamily& family) {
    if (family.type == "counter") {
      if (!family.name.ends_with("_total")) FamilyError(family, "a counter not named *_total");
      for (const auto& sample : family.samples) {
        if (sample.name != family.name) FamilyError(family, "sample named " + sample.name);
        if (!(sample.value >= 0)) FamilyError(family, "negative or NaN counter value");
      }
    } else if (family.type == "gauge" || family.type == "untyped") {
      for (const auto& sample : family.samples) {
        if (sample.name != family.name) FamilyError(family, "sample named " + sample.name);
      }
    } else if (family.type == "histogram") {
      CheckHistogram(family);
    }
  }

  void CheckHistogram(const ParsedFamily& family) {
    struct Series {
      std::vector<std::pair<double, double>> buckets;  // le, count, in order
      std::optional<double> sum;
      std::optional<double> count;
    };
    std::map<std::string, Series> by_labels;
    for (const auto& sample : family.samples) {
      auto labels = sample.labels;
      const auto le = labels.find("le");
      std::optional<double> bound;
      if (le != labels.end()) {
        bound = ParseValue(le->second);
        labels.erase(le);
      }
      std::string key;
      for (const auto& [label, value] : labels) key += label + "=" + value + ",";
      Series& series = by_labels[key];
      if (sample.name == family.name + "_bucket") {
        if (!bound) {
          FamilyError(family,
                      "a _bucket without a valid le (line " + std::to_string(sample.line) + ")");
          continue;
        }
        series.buckets.emplace_back(*bound, sample.value);
      } else if (sample.name == family.name + "_sum") {
        series.sum = sample.value;
      } else if (sample.name == family.name + "_count") {
        series.count = sample.value;
      } else {
        FamilyError(family, "histogram sample named " + sample.name);
      }
    }
    if (by_labels.empty()) FamilyError(family, "no samples");
    for (const auto& [key, series] : by_labels) {
      const std::string where = " {" + key + "}";
      if (series.buckets.empty() || !std::isinf(series.buckets.back().first)) {
        FamilyError(family, "no le=\"+Inf\" bucket last" + where);
      }
      for (std::size_t i = 1; i < series.buckets.size(); ++i) {
        if (!(series.buckets[i].first > series.buckets[i - 1].first)) {
          FamilyError(family, "le bounds not increasing" + where);
        }
        if (series.buckets[i].second < series.buckets[i - 1].second) {
          FamilyError(family, "bucket counts decrease" + where);
        }
      }
      if (!series.sum) FamilyError(family, "no _sum" + where);
      if (!series.count) {
        FamilyError(family, "no _count" + where);
      } else if (!series.buckets.empty() && series.buckets.back().second != *series.count) {
        FamilyError(family, "_count differs from the +Inf bucket" + where);
      }
    }
  }

  Exposition out_;
  std::map<std::string, std::size_t> index_;
  std::set<std::string> closed_;
  std::string current_;
  std::set<std::string> series_;
};

Exposition ParseExposition(std::string_view text) { return Parser().Parse(text); }

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

// ---- the parser itself: it must accept good text and catch each kind of mistake -----------

constexpr std::string_view kGood =
    "# HELP http_requests_total Requests \\\\ by code.\\nSecond line.\n"
    "# TYPE http_requests_total counter\n"
    "http_requests_total{code=\"200\",path=\"/a\\\"b\\\\c\\n\"} 1027\n"
    "http_requests_total{code=\"500\",path=\"/\",} 3 1395066363000\n"
    "# TYPE temperature gauge\n"
    "temperature -3.5e-2\n"
    "# A free comment.\n"
    "# TYPE latency_seconds histogram\n"
    "latency_seconds_bucket{le=\"0.1\"} 1\n"
    "latency_seconds_bucket{le=\"1\"} 4\n"
    "latency_seconds_bucket{le=\"+Inf\"} 5\n"
    "latency_seconds_sum 6.5\n"
    "latency_seconds_count 5\n"
    "# TYPE up gauge\n"
    "up NaN\n";

TEST(PrometheusTextParser, AcceptsWellFormedText) {
  const Exposition parsed = ParseExposition(kGood);
  EXPECT_TRUE(parsed.errors.empty()) << Join(parsed.errors);
  ASSERT_EQ(parsed.families.size(), 4U);
  const ParsedFamily* requests = parsed.Find("http_requests_total");
  ASSERT_NE(requests, nullptr);
  EXPECT_EQ(requests->type, "counter");
  EXPECT_EQ(*requests->help, "Requests \\\\ by code.\\nSecond line.");
  ASSERT_EQ(requests->samples.size(), 2U);
  EXPECT_EQ(requests->samples[0].labels.at("path"), "/a\"b\\c\n");
  EXPECT_EQ(requests->samples[1].value, 3);
  const ParsedFamily* latency = parsed.Find("latency_seconds");
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(latency->samples.size(), 5U);
}

struct BadCase {
  const char* what;
  std::string text;
  const char* error;  // a substring of the error expected
};

class PrometheusTextParserRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(PrometheusTextParserRejects, ReportsTheMistake) {
  const Exposition parsed = ParseExposition(GetParam().text);
  ASSERT_FALSE(parsed.errors.empty()) << GetParam().what;
  EXPECT_NE(Join(parsed.errors).find(GetParam().error), std::string::npos)
      << GetParam().what << ": " << Join(parsed.errors);
}

INSTANTIATE_TEST_SUITE_P(
    Mistakes, PrometheusTextParserRejects,
    ::testing::Values(
        BadCase{"no final newline", "# TYPE a gauge\na 1", "does not end with a newline"},
        BadCase{"empty line", "# TYPE a gauge\n\na 1\n", "empty line"},
        BadCase{"bad metric name", "# TYPE 1a gauge\n", "invalid metric name"},
        BadCase{"bad sample name", "# TYPE a gauge\na-b 1\n", "expected ' ' before the value"},
        BadCase{"garbage", "hello world\n", "bad value"},
        BadCase{"bad label name", "# TYPE a gauge\na{1x=\"v\"} 1\n", "invalid label name"},
        BadCase{"unquoted label", "# TYPE a gauge\na{x=v} 1\n", "needs =\"value\""},
        BadCase{"bad label escape", "# TYPE a gauge\na{x=\"\\t\"} 1\n", "bad escape"},
        BadCase{"unterminated label", "# TYPE a gauge\na{x=\"v} 1\n", "unterminated"},
        BadCase{"repeated label", "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", "repeated"},
        BadCase{"bad value", "# TYPE a gauge\na 1,5\n", "bad value"},
        BadCase{"bad timestamp", "# TYPE a gauge\na 1 soon\n", "bad timestamp"},
        BadCase{"bad help escape", "# HELP a x\\ty\n# TYPE a gauge\na 1\n", "bad escape"},
        BadCase{"unknown type", "# TYPE a meter\n", "unknown type"},
        BadCase{"no TYPE", "a 1\n", "has no # TYPE"},
        BadCase{"TYPE twice", "# TYPE a gauge\n# TYPE a gauge\na 1\n", "second # TYPE"},
        BadCase{"HELP twice", "# HELP a x\n# HELP a y\n# TYPE a gauge\n", "second # HELP"},
        BadCase{"TYPE after samples", "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n",
                "after its samples"},
        BadCase{"interleaved", "# TYPE a gauge\n# TYPE b gauge\na{x=\"1\"} 1\nb 1\na{x=\"2\"} 2\n",
                "not together"},
        BadCase{"duplicate series", "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n", "twice"},
        BadCase{"counter without _total", "# TYPE requests counter\nrequests 1\n",
                "not named *_total"},
        BadCase{"negative counter", "# TYPE a_total counter\na_total -1\n", "negative"},
        BadCase{"histogram without +Inf",
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf"},
        BadCase{"histogram without _count",
                "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n", "no _count"},
        BadCase{"histogram without _sum",
                "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", "no _sum"},
        BadCase{"histogram count mismatch",
                "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
                "differs from the +Inf"},
        BadCase{"histogram decreasing",
                "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\n"
                "h_count 2\n",
                "decrease"},
        BadCase{"histogram bucket without le",
                "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n", "without a valid le"}),
    [](const ::testing::TestParamInfo<BadCase>& param_info) {
      std::string name = param_info.param.what;
      std::replace_if(
          name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
      return name;
    });

// ---- the daemon's /metrics --------------------------------------------------------------------

// True once `done` holds, polling for up to 10 s (work runs on the daemon's threads).
bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class DaemonMetricsFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sg-metrics-format-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "site");
    std::ofstream(dir_ / "site" / "index.html") << "<h1>hello</h1>\n";
    for (const char* id : {"us", "eu"}) {
      net::DemoOriginOptions options;
      options.id = id;
      options.cache_max_age = 60s;
      auto origin = net::DemoOrigin::Start(options);
      ASSERT_TRUE(origin) << origin.error().ToString();
      origins_.push_back(std::move(*origin));
    }
  }

  void TearDown() override {
    if (daemon_) daemon_->Stop();
    daemon_.reset();
    origins_.clear();
    fs::remove_all(dir_);
  }

  std::string ConfigYaml() const {
    const std::string us = std::to_string(origins_[0]->port());
    const std::string eu = std::to_string(origins_[1]->port());
    const std::string dir = dir_.string();
    return "admin: { listen: 127.0.0.1:0 }\n"
           "health_check: { interval: 100ms, timeout: 1s, rise: 1, fall: 1 }\n"
           "regions:\n"
           "  - { id: us-east-1, endpoint: \"http://127.0.0.1:" +
           us +
           "\", primary: true }\n"
           "  - { id: eu-west-1, endpoint: \"http://127.0.0.1:" +
           eu +
           "\" }\n"
           "listeners: [ { name: public, listen: \"127.0.0.1:0\" } ]\n"
           "backends:\n"
           "  - { id: web-us-1, address: 127.0.0.1, port: " +
           us +
           ", region: us-east-1 }\n"
           "  - { id: web-eu-1, address: 127.0.0.1, port: " +
           eu +
           ", region: eu-west-1 }\n"
           "cdn: { enabled: true, max_cache_size: 16MiB, paths: [/bytes/] }\n"
           "disaster_recovery:\n"
           "  scratch_directory: " +
           dir +
           "\n"
           "  plans:\n"
           "    - { id: site, strategy: full, interval: 1h, rpo: 2h, rto: 30m,\n"
           "        primary_region: us-east-1, secondary_region: eu-west-1,\n"
           "        sources: [" +
           dir + "/site], repository: " + dir +
           "/repo,\n"
           "        secondary_repository: " +
           dir + "/repo-eu }\n";
  }

  fs::path dir_;
  std::vector<std::unique_ptr<net::DemoOrigin>> origins_;
  std::unique_ptr<daemon::Daemon> daemon_;
};

TEST_F(DaemonMetricsFormatTest, ScrapeWithEveryManagerParses) {
  auto config = config::ParseConfig(ConfigYaml(), "metrics-format.yaml");
  ASSERT_TRUE(config) << (config ? "" : config.error().front().ToString());
  auto started = daemon::Daemon::Start(*config);
  ASSERT_TRUE(started) << started.error().ToString();
  daemon_ = std::move(*started);
  ASSERT_NE(daemon_->balancer(), nullptr);
  ASSERT_NE(daemon_->cdn(), nullptr);
  ASSERT_NE(daemon_->disaster_recovery(), nullptr);

  // Traffic through the proxy: cache misses then hits, an uncached path, a 404.
  for (int i = 0; i < 4; ++i) {
    for (const char* target : {"/bytes/1000", "/bytes/2000", "/id", "/missing"}) {
      auto response = testing::HttpGet("127.0.0.1", daemon_->proxy_port(), target);
      ASSERT_TRUE(response) << response.error().ToString();
    }
  }
  // A health sweep, the scheduled first backup (and its copy), a recovery test.
  auto& regions = daemon_->regions();
  ASSERT_TRUE(WaitFor([&] {
    auto metrics = regions.GetRegionMetrics("us-east-1");
    return metrics && metrics->health_checks > 0;
  }));
  auto* dr = daemon_->disaster_recovery();
  ASSERT_TRUE(WaitFor([&] { return dr->GetRecoveryPointCount() > 0; }));
  auto test = dr->TestRecovery("site");
  ASSERT_TRUE(test) << test.error().ToString();

  auto scrape = testing::HttpGet("127.0.0.1", daemon_->admin_port(), "/metrics");
  ASSERT_TRUE(scrape) << scrape.error().ToString();
  ASSERT_EQ(scrape->status, 200);
  EXPECT_EQ(scrape->Header("Content-Type").value_or(""), kPrometheusContentType);

  const Exposition parsed = ParseExposition(scrape->body);
  EXPECT_TRUE(parsed.errors.empty()) << Join(parsed.errors) << "\n--- scrape ---\n" << scrape->body;

  // Every area reports, with samples.
  for (std::string_view name :
       {"streamgate_region_healthy", "streamgate_region_health_checks_total",
        "streamgate_failovers_total", "streamgate_backend_requests_total",
        "streamgate_backend_latency_seconds", "streamgate_lb_no_backend_total",
        "streamgate_cdn_requests_total", "streamgate_cdn_hit_ratio", "streamgate_dr_backups_total",
        "streamgate_dr_rpo_met", "streamgate_dr_last_test_passed",
        "streamgate_proxy_requests_total"}) {
    const ParsedFamily* family = parsed.Find(name);
    ASSERT_NE(family, nullptr) << "no family " << name;
    EXPECT_FALSE(family->samples.empty()) << name;
    EXPECT_TRUE(family->help.has_value()) << name << " has no # HELP";
  }
  // Figures follow the traffic: the backend histogram counted the proxied requests.
  const ParsedFamily* latency = parsed.Find("streamgate_backend_latency_seconds");
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(latency->type, "histogram");
  double requests = 0;
  for (const auto& sample : latency->samples) {
    if (sample.name == "streamgate_backend_latency_seconds_count") requests += sample.value;
  }
  EXPECT_GT(requests, 0);

  // The example Grafana dashboard asks only for families the daemon exports.
  const fs::path dashboard =
      fs::path(STREAMGATE_SOURCE_DIR) / "examples" / "grafana" / "streamgate-dashboard.json";
  std::ifstream in(dashboard);
  ASSERT_TRUE(in) << dashboard;
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(json.is_discarded()) << dashboard << " is not valid JSON";
  std::vector<std::string> expressions;
  std::function<void(const nlohmann::json&)> collect = [&](const nlohmann::json& node) {
    if (node.is_object()) {
      for (const auto& [key, value] : node.items()) {
        if (key == "expr" && value.is_string()) expressions.push_back(value.get<std::string>());
        collect(value);
      }
    } else if (node.is_array()) {
      for (const auto& value : node) collect(value);
    }
  };
  collect(json);
  ASSERT_GE(expressions.size(), 10U);
  const std::regex metric_name("streamgate_[a-zA-Z0-9_:]+");
  std::set<std::string> used;
  for (const auto& expression : expressions) {
    for (std::sregex_iterator it(expression.begin(), expression.end(), metric_name), end; it != end;
         ++it) {
      std::string name = it->str();
      for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        const std::string base = name.substr(0, name.size() - std::min(name.size(), suffix.size()));
        const ParsedFamily* family = parsed.Find(base);
        if (name.ends_with(suffix) && family != nullptr && family->type == "histogram") name = base;
      }
      used.insert(name);
    }
  }
  for (const auto& name : used) {
    EXPECT_NE(parsed.Find(name), nullptr) << "the dashboard uses " << name << ", not exported";
  }
}

}  // namespace
}  // namespace streamgate::metrics
