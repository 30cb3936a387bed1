#include "config/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace streamgate::config {

// Readable failure output (found by ADL, so it lives in the type's namespace).
void PrintTo(const ConfigIssue& issue, std::ostream* out) { *out << issue.ToString(); }

namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr std::string_view kFile = "test.yaml";

// Located from the source tree (set by CMake) so the test does not depend on the working
// directory; __FILE__ is relative under ccache's base_dir.
std::filesystem::path ExampleConfigPath() {
  return std::filesystem::path(STREAMGATE_SOURCE_DIR) / "config" / "streamgate.example.yaml";
}

// Joins `lines` with newlines, so a test's line N is the Nth string.
std::string Yaml(std::initializer_list<std::string_view> lines) {
  std::string text;
  for (std::string_view line : lines) {
    text += line;
    text += '\n';
  }
  return text;
}

// An issue in test.yaml at `line` whose message contains `substring`.
auto Issue(int line, const std::string& substring) {
  return AllOf(Field("file", &ConfigIssue::file, std::string(kFile)),
               Field("line", &ConfigIssue::line, line),
               Field("message", &ConfigIssue::message, HasSubstr(substring)));
}

Config ParseOk(const std::string& text) {
  auto result = ParseConfig(text, kFile);
  if (!result.has_value()) {
    for (const ConfigIssue& issue : result.error()) ADD_FAILURE() << issue.ToString();
    return Config{};
  }
  return *std::move(result);
}

std::vector<ConfigIssue> ParseErrors(const std::string& text) {
  auto result = ParseConfig(text, kFile);
  EXPECT_FALSE(result.has_value()) << "config was accepted:\n" << text;
  return result.has_value() ? std::vector<ConfigIssue>{} : result.error();
}

// A file in the temp directory, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(std::string_view contents) {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("streamgate_config_test_") + test->name() + "_" +
             std::to_string(::getpid()) + ".yaml");
    std::ofstream(path_) << contents;
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// ---- valid configs -------------------------------------------------------------------------

TEST(ConfigTest, ExampleFileParsesToTheDocumentedValues) {
  const std::filesystem::path path = ExampleConfigPath();
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  auto result = LoadConfigFile(path);
  ASSERT_TRUE(result.has_value()) << result.error().front().ToString();
  const Config& config = *result;

  EXPECT_EQ(config.source_file, path.string());
  EXPECT_EQ(config.admin.listen, (ListenAddress{"127.0.0.1", 9901}));
  EXPECT_EQ(config.health_check.interval, milliseconds(5'000));
  EXPECT_EQ(config.health_check.timeout, milliseconds(1'000));
  EXPECT_EQ(config.health_check.rise, 2u);
  EXPECT_EQ(config.health_check.fall, 2u);
  EXPECT_EQ(config.health_check.path, "/healthz");

  ASSERT_THAT(config.regions, SizeIs(3));
  const RegionConfig& us = config.regions[0];
  EXPECT_EQ(us.id, "us-east-1");
  EXPECT_EQ(us.location, "Virginia");
  EXPECT_EQ(us.endpoint, "http://127.0.0.1:9101");
  EXPECT_EQ(us.priority, 1);
  EXPECT_TRUE(us.primary);
  EXPECT_TRUE(us.active);

  const RegionConfig& eu = config.regions[1];
  EXPECT_EQ(eu.id, "eu-west-1");
  EXPECT_EQ(eu.location, "Ireland");
  EXPECT_EQ(eu.endpoint, "http://127.0.0.1:9102");
  EXPECT_EQ(eu.priority, 2);
  EXPECT_FALSE(eu.primary);
  EXPECT_TRUE(eu.active);

  const RegionConfig& ap = config.regions[2];
  EXPECT_EQ(ap.id, "ap-southeast-1");
  EXPECT_EQ(ap.location, "Singapore");
  EXPECT_EQ(ap.endpoint, "http://127.0.0.1:9103");
  EXPECT_EQ(ap.priority, 3);
  EXPECT_FALSE(ap.primary);
  EXPECT_TRUE(ap.active);

  EXPECT_GT(us.line, 0);
  EXPECT_LT(us.line, eu.line);
  EXPECT_LT(eu.line, ap.line);
}

TEST(ConfigTest, ParsesEveryKey) {
  const Config config = ParseOk(Yaml({
      "admin:",                                                    // 1
      "  listen: '[::1]:8080'",                                    // 2
      "health_check:",                                             // 3
      "  interval: 1m30s",                                         // 4
      "  timeout: 500ms",                                          // 5
      "  path: /status?deep=1",                                    // 6
      "  rise: 5",                                                 // 7
      "  fall: 4",                                                 // 8
      "  degraded_latency: 250ms",                                 // 9
      "  failback: true",                                          // 10
      "  latency_window: 16",                                      // 11
      "regions:",                                                  // 12
      "  - id: a",                                                 // 13
      "    name: Region A",                                        // 14
      "    location: Here",                                        // 15
      "    endpoint: https://a.example:8443/health",               // 16
      "    priority: -1",                                          // 17
      "    primary: false",                                        // 18
      "    active: false",                                         // 19
      "  - {id: b, endpoint: 'tcp://[::1]:7000', primary: True}",  // 20
  }));
  EXPECT_EQ(config.source_file, kFile);
  EXPECT_EQ(config.admin.listen, (ListenAddress{"::1", 8080}));
  EXPECT_EQ(config.health_check.interval, milliseconds(90'000));
  EXPECT_EQ(config.health_check.timeout, milliseconds(500));
  EXPECT_EQ(config.health_check.path, "/status?deep=1");
  EXPECT_EQ(config.health_check.rise, 5u);
  EXPECT_EQ(config.health_check.fall, 4u);
  EXPECT_EQ(config.health_check.degraded_latency, milliseconds(250));
  EXPECT_TRUE(config.health_check.failback);
  EXPECT_EQ(config.health_check.latency_window, 16u);

  ASSERT_THAT(config.regions, SizeIs(2));
  const RegionConfig& a = config.regions[0];
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.name, "Region A");
  EXPECT_EQ(a.location, "Here");
  EXPECT_EQ(a.endpoint, "https://a.example:8443/health");
  EXPECT_EQ(a.priority, -1);
  EXPECT_FALSE(a.primary);
  EXPECT_FALSE(a.active);
  EXPECT_EQ(a.line, 13);

  const RegionConfig& b = config.regions[1];
  EXPECT_EQ(b.id, "b");
  EXPECT_EQ(b.name, "");
  EXPECT_EQ(b.endpoint, "tcp://[::1]:7000");
  EXPECT_EQ(b.priority, 0);
  EXPECT_TRUE(b.primary);
  EXPECT_TRUE(b.active);
  EXPECT_EQ(b.line, 20);
}

TEST(ConfigTest, EmptyInputsKeepDefaults) {
  const scaling::HealthCheckOptions defaults;
  for (const std::string& text :
       {std::string(""), std::string("# only a comment\n"), std::string("{}"),
        Yaml({"admin:", "health_check:", "regions:"}), std::string("regions: []\n")}) {
    const Config config = ParseOk(text);
    EXPECT_EQ(config.admin.listen, (ListenAddress{"127.0.0.1", 9901})) << text;
    EXPECT_EQ(config.health_check.interval, defaults.interval) << text;
    EXPECT_EQ(config.health_check.timeout, defaults.timeout) << text;
    EXPECT_EQ(config.health_check.rise, defaults.rise) << text;
    EXPECT_EQ(config.health_check.fall, defaults.fall) << text;
    EXPECT_EQ(config.health_check.latency_window, defaults.latency_window) << text;
    EXPECT_TRUE(config.regions.empty()) << text;
  }
}

TEST(ConfigTest, QuotedScalarsAreAccepted) {
  const Config config = ParseOk(Yaml({"health_check:", "  rise: '3'", "  failback: \"false\""}));
  EXPECT_EQ(config.health_check.rise, 3u);
  EXPECT_FALSE(config.health_check.failback);
}

// ---- errors --------------------------------------------------------------------------------

TEST(ConfigErrorTest, YamlSyntaxError) {
  EXPECT_THAT(ParseErrors(Yaml({"health_check:", "  rise: [1, 2", "regions: []"})),
              ElementsAre(Issue(3, "YAML syntax error")));
  EXPECT_THAT(ParseErrors(Yaml({"admin:", "\tlisten: 1.2.3.4:5"})),
              ElementsAre(Issue(2, "YAML syntax error")));
}

TEST(ConfigErrorTest, MoreThanOneDocument) {
  EXPECT_THAT(ParseErrors(Yaml({"admin: {}", "---", "regions: []"})),
              ElementsAre(Issue(2, "expected one YAML document, found more than one")));
}

// yaml-cpp 0.7's LoadAll never returns on these (it loops allocating empty documents).
TEST(ConfigErrorTest, StrayTokenAtDocumentStartIsASyntaxErrorNotAHang) {
  EXPECT_THAT(ParseErrors(","), ElementsAre(Issue(1, "YAML syntax error: unexpected ','")));
  EXPECT_THAT(ParseErrors(Yaml({"# comment", ",admin:", "  listen: 127.0.0.1:1"})),
              ElementsAre(Issue(2, "YAML syntax error: unexpected ','")));
  EXPECT_THAT(ParseErrors(Yaml({"admin: {}", "...", ", x"})),
              ElementsAre(Issue(3, "YAML syntax error: unexpected ','")));
}

TEST(ConfigErrorTest, DocumentMustBeAMap) {
  EXPECT_THAT(ParseErrors(Yaml({"- a", "- b"})),
              ElementsAre(Issue(1, "document: expected a map, got a sequence")));
}

TEST(ConfigErrorTest, UnknownKeys) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "admin:",                  // 1
                  "  listen: 127.0.0.1:1",   // 2
                  "  lisen: 127.0.0.1:2",    // 3
                  "health_check:",           // 4
                  "  x: 1",                  // 5
                  "regions:",                // 6
                  "  - id: a",               // 7
                  "    endpoint: http://h",  // 8
                  "    weight: 3",           // 9
                  "listners: []",            // 10
              })),
              ElementsAre(Issue(3,
                                "unknown key 'lisen' in admin (expected one of: listen, token, "
                                "token_file, protect_reads, tls)"),
                          Issue(5, "unknown key 'x' in health_check (expected one of: interval,"),
                          Issue(9, "unknown key 'weight' in regions[0]"),
                          Issue(10,
                                "unknown key 'listners' at top level (expected one of: admin, "
                                "health_check, regions")));
}

TEST(ConfigErrorTest, DuplicateKey) {
  EXPECT_THAT(ParseErrors(Yaml({"health_check:", "  rise: 2", "  fall: 3", "  rise: 4"})),
              ElementsAre(Issue(4, "duplicate key 'rise' in health_check (first at line 2)")));
}

TEST(ConfigErrorTest, WrongTypes) {
  EXPECT_THAT(
      ParseErrors(Yaml({
          "admin: 5",               // 1
          "health_check:",          // 2
          "  rise: \"abc\"",        // 3
          "  fall: [1]",            // 4
          "  failback: yes",        // 5
          "  path: {a: b}",         // 6
          "  interval: [5s]",       // 7
          "  latency_window: 1.5",  // 8
      })),
      ElementsAre(Issue(1, "admin: expected a map, got '5'"),
                  Issue(3, "health_check.rise: expected a whole number, got 'abc'"),
                  Issue(4, "health_check.fall: expected a whole number, got a sequence"),
                  Issue(5, "health_check.failback: expected true or false, got 'yes'"),
                  Issue(6, "health_check.path: expected a string, got a map"),
                  Issue(7,
                        "health_check.interval: expected a duration such as 5s, got a "
                        "sequence"),
                  Issue(8, "health_check.latency_window: expected a whole number, got '1.5'")));
}

TEST(ConfigErrorTest, EmptyValueIsReportedAtItsKey) {
  EXPECT_THAT(ParseErrors(Yaml({"health_check:", "  rise:", "  fall: 2"})),
              ElementsAre(Issue(2, "health_check.rise: expected a whole number, got nothing")));
}

TEST(ConfigErrorTest, RegionsMustBeASequenceOfMaps) {
  EXPECT_THAT(ParseErrors(Yaml({"regions:", "  us: {id: us}"})),
              ElementsAre(Issue(2, "regions: expected a sequence of regions, got a map")));
  EXPECT_THAT(ParseErrors(Yaml({"regions:", "  - us-east-1", "  - [a]"})),
              ElementsAre(Issue(2,
                                "regions[0]: expected a map describing a region, got "
                                "'us-east-1'"),
                          Issue(3,
                                "regions[1]: expected a map describing a region, got a "
                                "sequence")));
}

TEST(ConfigErrorTest, RegionFieldTypes) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "regions:",                  // 1
                  "  - id: a",                 // 2
                  "    endpoint: http://h",    // 3
                  "    name: [x]",             // 4
                  "    priority: high",        // 5
                  "    primary: 1",            // 6
                  "    active: off",           // 7
                  "    priority: 3000000000",  // 8 (also a duplicate key)
              })),
              ElementsAre(Issue(4, "regions[0].name: expected a string, got a sequence"),
                          Issue(5, "regions[0].priority: expected a whole number, got 'high'"),
                          Issue(6, "regions[0].primary: expected true or false, got '1'"),
                          Issue(7, "regions[0].active: expected true or false, got 'off'"),
                          Issue(8, "duplicate key 'priority' in regions[0]")));
  EXPECT_THAT(ParseErrors(Yaml(
                  {"regions:", "  - {id: a, endpoint: 'http://h',", "     priority: 3000000000}"})),
              ElementsAre(Issue(3,
                                "regions[0].priority: must be at most 2147483647, got "
                                "3000000000")));
}

TEST(ConfigErrorTest, BadDurations) {
  EXPECT_THAT(
      ParseErrors(Yaml({
          "health_check:",            // 1
          "  interval: 5 parsecs",    // 2
          "  timeout: 10",            // 3
          "  degraded_latency: -5s",  // 4
      })),
      ElementsAre(Issue(2, "health_check.interval: invalid duration '5 parsecs'"),
                  Issue(3, "health_check.timeout: invalid duration '10': missing unit"),
                  Issue(4, "health_check.degraded_latency: invalid duration '-5s': a sign")));
}

TEST(ConfigErrorTest, DurationsMustBePositive) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "health_check:",           // 1
                  "  interval: 0s",          // 2
                  "  timeout: 0ms",          // 3
                  "  degraded_latency: 0s",  // 4
              })),
              ElementsAre(Issue(2, "health_check.interval: must be greater than 0"),
                          Issue(3, "health_check.timeout: must be greater than 0"),
                          Issue(4, "health_check.degraded_latency: must be greater than 0")));
}

TEST(ConfigErrorTest, DurationsMustBeWholeMilliseconds) {
  EXPECT_THAT(ParseErrors(Yaml({"health_check:", "  interval: 1s500us", "  timeout: 999ns"})),
              ElementsAre(Issue(2,
                                "health_check.interval: '1s500us' is not a whole number of "
                                "milliseconds"),
                          Issue(3,
                                "health_check.timeout: '999ns' is not a whole number of "
                                "milliseconds")));
}

TEST(ConfigErrorTest, TimeoutMayExceedInterval) {
  const Config config = ParseOk(Yaml({"health_check:", "  interval: 1s", "  timeout: 5s"}));
  EXPECT_EQ(config.health_check.timeout, milliseconds(5'000));
}

TEST(ConfigErrorTest, CountsMustBeAtLeastOne) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "health_check:",        // 1
                  "  rise: 0",            // 2
                  "  fall: -1",           // 3
                  "  latency_window: 0",  // 4
              })),
              ElementsAre(Issue(2, "health_check.rise: must be at least 1, got 0"),
                          Issue(3, "health_check.fall: must be at least 1, got -1"),
                          Issue(4, "health_check.latency_window: must be at least 1, got 0")));
}

TEST(ConfigErrorTest, CountsHaveUpperBounds) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "health_check:",                    // 1
                  "  rise: 4294967296",               // 2
                  "  fall: 99999999999999999999999",  // 3
                  "  latency_window: 1000001",        // 4
              })),
              ElementsAre(Issue(2, "health_check.rise: must be at most 4294967295"),
                          Issue(3, "health_check.fall: must be at most 4294967295"),
                          Issue(4, "health_check.latency_window: must be at most 1000000")));
}

TEST(ConfigErrorTest, HealthCheckPathMustBeAnAbsolutePath) {
  EXPECT_THAT(ParseErrors(Yaml({"health_check:", "  path: healthz"})),
              ElementsAre(Issue(2, "health_check.path: must start with '/'")));
  EXPECT_THAT(ParseErrors(Yaml({"health_check:", "  path: '/a b'"})),
              ElementsAre(Issue(2, "health_check.path: must not contain spaces")));
}

TEST(ConfigErrorTest, MissingRegionIdOrEndpoint) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "regions:",                // 1
                  "  - name: no id",         // 2
                  "    endpoint: http://h",  // 3
                  "  - id: no-endpoint",     // 4
                  "  - {}",                  // 5
              })),
              ElementsAre(Issue(2, "regions[0]: missing required key 'id'"),
                          Issue(4, "regions[1]: missing required key 'endpoint'"),
                          Issue(5, "regions[2]: missing required key 'id'"),
                          Issue(5, "regions[2]: missing required key 'endpoint'")));
}

TEST(ConfigErrorTest, BadRegionIds) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "regions:",                                 // 1
                  "  - {id: '', endpoint: 'http://h'}",       // 2
                  "  - {id: us east, endpoint: 'http://h'}",  // 3
                  "  - id:",                                  // 4
                  "    endpoint: http://h",                   // 5
              })),
              ElementsAre(Issue(2, "regions[0].id: must not be empty"),
                          Issue(3, "regions[1].id: 'us east' may only contain letters"),
                          Issue(4, "regions[2].id: expected a string, got nothing")));
}

TEST(ConfigErrorTest, InvalidEndpointIncludesTheReason) {
  EXPECT_THAT(
      ParseErrors(Yaml({
          "regions:",                           // 1
          "  - id: a",                          // 2
          "    endpoint: ftp://files.example",  // 3
          "  - id: b",                          // 4
          "    endpoint: tcp://db.example",     // 5
          "  - id: c",                          // 6
          "    endpoint: http://h:70000",       // 7
      })),
      ElementsAre(Issue(3,
                        "regions[0].endpoint: invalid endpoint 'ftp://files.example': "
                        "unsupported scheme 'ftp'"),
                  Issue(5,
                        "regions[1].endpoint: invalid endpoint 'tcp://db.example': tcp:// "
                        "endpoints need a port"),
                  Issue(7,
                        "regions[2].endpoint: invalid endpoint 'http://h:70000': port 70000 "
                        "is out of range")));
}

TEST(ConfigErrorTest, DuplicateRegionIdNamesTheFirstDefinition) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "regions:",                          // 1
                  "  - id: us-east-1",                 // 2
                  "    endpoint: http://127.0.0.1:1",  // 3
                  "  - id: eu-west-1",                 // 4
                  "    endpoint: http://127.0.0.1:2",  // 5
                  "  - endpoint: http://127.0.0.1:3",  // 6
                  "    id: us-east-1",                 // 7
              })),
              ElementsAre(Issue(7,
                                "regions[2].id: duplicate region id 'us-east-1' (first "
                                "defined at line 2)")));
}

TEST(ConfigErrorTest, AtMostOnePrimary) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "regions:",                                             // 1
                  "  - {id: a, endpoint: 'http://h:1', primary: true}",   // 2
                  "  - {id: b, endpoint: 'http://h:2', primary: false}",  // 3
                  "  - id: c",                                            // 4
                  "    endpoint: http://h:3",                             // 5
                  "    primary: true",                                    // 6
                  "  - {id: d, endpoint: 'http://h:4', primary: true}",   // 7
              })),
              ElementsAre(Issue(6,
                                "regions[2].primary: only one region may be primary; 'a' at "
                                "line 2 already is"),
                          Issue(7,
                                "regions[3].primary: only one region may be primary; 'a' at "
                                "line 2 already is")));
}

TEST(ConfigErrorTest, BadListenAddress) {
  EXPECT_THAT(ParseErrors(Yaml({"admin:", "  listen: localhost"})),
              ElementsAre(Issue(2,
                                "admin.listen: invalid listen address 'localhost': missing "
                                "port")));
  EXPECT_THAT(ParseErrors(Yaml({"admin:", "  listen: 127.0.0.1:99999"})),
              ElementsAre(Issue(2, "invalid port '99999'")));
  EXPECT_THAT(ParseErrors(Yaml({"admin:", "  listen: ::1:80"})), ElementsAre(Issue(2, "brackets")));
  EXPECT_THAT(ParseErrors(Yaml({"admin:", "  listen: [127.0.0.1, 80]"})),
              ElementsAre(Issue(2, "admin.listen: expected a string, got a sequence")));
  // Unquoted, "[::1]:80" starts a YAML flow sequence; the parser points at the line.
  EXPECT_THAT(ParseErrors(Yaml({"admin:", "  listen: [::1]:80"})),
              ElementsAre(Issue(2, "YAML syntax error")));
}

TEST(ConfigErrorTest, ReportsEveryProblemTogether) {
  const std::vector<ConfigIssue> issues = ParseErrors(Yaml({
      "admin:",                                            // 1
      "  listen: nowhere",                                 // 2
      "health_check:",                                     // 3
      "  interval: 0s",                                    // 4
      "  rise: abc",                                       // 5
      "  colour: blue",                                    // 6
      "regions:",                                          // 7
      "  - {id: a, endpoint: 'ftp://h', primary: true}",   // 8
      "  - {id: a, endpoint: 'http://h', primary: true}",  // 9
      "  - {name: x}",                                     // 10
  }));
  EXPECT_THAT(issues, ElementsAre(Issue(2, "admin.listen: invalid listen address 'nowhere'"),
                                  Issue(4, "health_check.interval: must be greater than 0"),
                                  Issue(5, "health_check.rise: expected a whole number"),
                                  Issue(6, "unknown key 'colour' in health_check"),
                                  Issue(8, "regions[0].endpoint: invalid endpoint 'ftp://h'"),
                                  Issue(9,
                                        "regions[1].id: duplicate region id 'a' (first defined at "
                                        "line 8)"),
                                  Issue(9, "regions[1].primary: only one region may be primary"),
                                  Issue(10, "regions[2]: missing required key 'id'"),
                                  Issue(10, "regions[2]: missing required key 'endpoint'")));
  ASSERT_FALSE(issues.empty());
  EXPECT_EQ(issues[0].ToString(),
            "test.yaml:2: admin.listen: invalid listen address 'nowhere': missing port, e.g. "
            "127.0.0.1:9901");
}

TEST(ConfigErrorTest, IssuesAreOrderedByLine) {
  // The duplicate id is found after the region's keys, but is reported in file order.
  EXPECT_THAT(ParseErrors(Yaml({
                  "regions:",                           // 1
                  "  - {id: a, endpoint: 'http://h'}",  // 2
                  "  - id: a",                          // 3
                  "    weight: 1",                      // 4
                  "    endpoint: http://h",             // 5
              })),
              ElementsAre(Issue(3, "duplicate region id 'a' (first defined at line 2)"),
                          Issue(4, "unknown key 'weight' in regions[1]")));
}

// ---- cdn -----------------------------------------------------------------------------------

TEST(CdnConfigTest, ExampleFileEnablesALocalEdgeCache) {
  auto result = LoadConfigFile(ExampleConfigPath());
  ASSERT_TRUE(result.has_value()) << result.error().front().ToString();
  ASSERT_TRUE(result->cdn.has_value());
  const CdnConfig& cdn = *result->cdn;
  EXPECT_TRUE(cdn.enabled);
  EXPECT_EQ(cdn.manager.provider, scaling::CDNProvider::kLocal);
  EXPECT_EQ(cdn.manager.max_cache_size, 256u << 20);
  EXPECT_EQ(cdn.manager.default_ttl, std::chrono::minutes(5));
  EXPECT_EQ(cdn.manager.eviction_policy, cdn::PolicyKind::kS3Fifo);
  EXPECT_EQ(cdn.keep_for_revalidation, std::chrono::minutes(10));
  EXPECT_TRUE(cdn.hosts.empty());
  EXPECT_THAT(cdn.path_prefixes, ElementsAre("/bytes/"));
  EXPECT_TRUE(scaling::ValidateCDNConfig(cdn.manager).has_value());
}

TEST(CdnConfigTest, AbsentSectionMeansNoCache) {
  EXPECT_FALSE(ParseOk(Yaml({"admin: {}"})).cdn.has_value());
}

TEST(CdnConfigTest, EmptySectionEnablesTheDefaults) {
  for (const std::string& text : {std::string("cdn: {}\n"), std::string("cdn:\n")}) {
    const Config config = ParseOk(text);
    ASSERT_TRUE(config.cdn.has_value()) << text;
    EXPECT_TRUE(config.cdn->enabled);
    EXPECT_EQ(config.cdn->line, 1);
    const scaling::CDNConfig defaults;
    EXPECT_EQ(config.cdn->manager.provider, scaling::CDNProvider::kLocal);
    EXPECT_EQ(config.cdn->manager.max_cache_size, defaults.max_cache_size);
    EXPECT_EQ(config.cdn->manager.default_ttl, defaults.default_ttl);
    EXPECT_EQ(config.cdn->manager.eviction_policy, defaults.eviction_policy);
  }
}

// bench/cache_compare.sh writes exactly this.
TEST(CdnConfigTest, BenchmarkFlowMapIsAccepted) {
  const Config config =
      ParseOk("cdn: { provider: local, max_cache_size: 1GiB, default_ttl: 1h }\n");
  ASSERT_TRUE(config.cdn.has_value());
  EXPECT_EQ(config.cdn->manager.max_cache_size, 1ULL << 30);
  EXPECT_EQ(config.cdn->manager.default_ttl, std::chrono::hours(1));
}

TEST(CdnConfigTest, ParsesEveryKey) {
  const Config config = ParseOk(Yaml({
      "cdn:",                                      // 1
      "  enabled: true",                           // 2
      "  provider: fastly",                        // 3
      "  api_key: secret-key",                     // 4
      "  service_id: svc123",                      // 5
      "  zone_id: zone9",                          // 6
      "  base_url: http://127.0.0.1:9/",           // 7
      "  max_cache_size: 64MiB",                   // 8
      "  default_ttl: 1h30m",                      // 9
      "  max_object_fraction: 0.1",                // 10
      "  eviction_policy: sieve",                  // 11
      "  shards: 4",                               // 12
      "  prefetch_concurrency: 3",                 // 13
      "  prefetch_share: 0.5",                     // 14
      "  fetch_timeout: 5s",                       // 15
      "  purge_timeout: 2s",                       // 16
      "  purge_max_attempts: 4",                   // 17
      "  keep_for_revalidation: 0s",               // 18
      "  expiry_interval: 10s",                    // 19
      "  hosts: [cdn.example, '127.0.0.1:8080']",  // 20
      "  paths: [/videos/, /img]",                 // 21
  }));
  ASSERT_TRUE(config.cdn.has_value());
  const CdnConfig& cdn = *config.cdn;
  EXPECT_EQ(cdn.line, 1);
  EXPECT_TRUE(cdn.enabled);
  EXPECT_EQ(cdn.manager.provider, scaling::CDNProvider::kFastly);
  EXPECT_EQ(cdn.manager.api_key, "secret-key");
  EXPECT_EQ(cdn.manager.service_id, "svc123");
  EXPECT_EQ(cdn.manager.zone_id, "zone9");
  EXPECT_EQ(cdn.manager.base_url, "http://127.0.0.1:9/");
  EXPECT_EQ(cdn.manager.max_cache_size, 64u << 20);
  EXPECT_EQ(cdn.manager.default_ttl, std::chrono::seconds(5400));
  EXPECT_DOUBLE_EQ(cdn.manager.max_object_fraction, 0.1);
  EXPECT_EQ(cdn.manager.eviction_policy, cdn::PolicyKind::kSieve);
  EXPECT_EQ(cdn.manager.shards, 4u);
  EXPECT_EQ(cdn.manager.prefetch_concurrency, 3u);
  EXPECT_DOUBLE_EQ(cdn.manager.prefetch_share, 0.5);
  EXPECT_EQ(cdn.manager.fetch_timeout, milliseconds(5'000));
  EXPECT_EQ(cdn.manager.purge_timeout, milliseconds(2'000));
  EXPECT_EQ(cdn.manager.purge_max_attempts, 4);
  EXPECT_EQ(cdn.keep_for_revalidation, std::chrono::seconds(0));
  EXPECT_EQ(cdn.expiry_interval, milliseconds(10'000));
  EXPECT_THAT(cdn.hosts, ElementsAre("cdn.example", "127.0.0.1:8080"));
  EXPECT_THAT(cdn.path_prefixes, ElementsAre("/videos/", "/img"));
}

TEST(CdnConfigErrorTest, EachBadValueIsReportedAtItsLine) {
  EXPECT_THAT(
      ParseErrors(Yaml({
          "cdn:",                         // 1
          "  provider: akamai",           // 2
          "  max_cache_size: lots",       // 3
          "  default_ttl: 1500ms",        // 4
          "  max_object_fraction: 1.5",   // 5
          "  eviction_policy: random",    // 6
          "  prefetch_concurrency: 0",    // 7
          "  prefetch_share: -0.1",       // 8
          "  keep_for_revalidation: 10",  // 9
          "  hosts: example.com",         // 10
          "  paths: [videos/]",           // 11
          "  enabled: yes",               // 12
          "  shards: 3",                  // 13
          "  base_url: ftp://x",          // 14
          "  api_key: 'two words'",       // 15
          "  colour: blue",               // 16
      })),
      ElementsAre(
          Issue(2,
                "cdn.provider: unknown CDN provider 'akamai' (expected local, cloudflare or "
                "fastly)"),
          Issue(3, "cdn.max_cache_size: "),
          Issue(4,
                "cdn.default_ttl: '1500ms' is not a whole "
                "number of seconds"),
          Issue(5, "cdn.max_object_fraction: must be between 0 and 1, got 1.5"),
          Issue(6, "cdn.eviction_policy: "),
          Issue(7, "cdn.prefetch_concurrency: must be at least 1, got 0"),
          Issue(8, "cdn.prefetch_share: must be between 0 and 1, got -0.1"),
          Issue(9, "cdn.keep_for_revalidation: invalid duration '10'"),
          Issue(10, "cdn.hosts: expected a list such as [a, b], got 'example.com'"),
          Issue(11, "cdn.paths: 'videos/' is not a path prefix starting with '/'"),
          Issue(12, "cdn.enabled: expected true or false, got 'yes'"),
          Issue(13, "cdn.shards: must be a power of two, got 3"),
          Issue(14, "cdn.base_url: 'ftp://x' is not an http:// or https:// URL"),
          Issue(15, "cdn.api_key: must not contain spaces"),
          Issue(16, "unknown key 'colour' in cdn (expected one of: enabled, provider")));
}

TEST(CdnConfigErrorTest, ZeroesAreRejected) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "cdn:",                         // 1
                  "  max_cache_size: 0",          // 2
                  "  default_ttl: 0s",            // 3
                  "  max_object_fraction: 0",     // 4
                  "  prefetch_concurrency: 257",  // 5
                  "  expiry_interval: 0s",        // 6
              })),
              ElementsAre(Issue(2, "cdn.max_cache_size: must be greater than 0"),
                          Issue(3, "cdn.default_ttl: must be greater than 0"),
                          Issue(4, "cdn.max_object_fraction: must be greater than 0"),
                          Issue(5, "cdn.prefetch_concurrency: must be at most 256"),
                          Issue(6, "cdn.expiry_interval: must be greater than 0")));
}

TEST(CdnConfigErrorTest, SectionMustBeAMap) {
  EXPECT_THAT(ParseErrors("cdn: [local]\n"),
              ElementsAre(Issue(1, "cdn: expected a map, got a sequence")));
}

// What only ValidateCDNConfig knows (credentials per provider) is reported at `cdn:` itself.
TEST(CdnConfigErrorTest, ManagerValidationIsReportedAtTheSectionLine) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "admin: {}",               // 1
                  "cdn:",                    // 2
                  "  provider: cloudflare",  // 3
                  "  api_key: token",        // 4
              })),
              ElementsAre(Issue(2, "cdn: provider cloudflare needs a zone_id")));
  EXPECT_THAT(ParseErrors(Yaml({"cdn: {provider: fastly}"})),
              ElementsAre(Issue(1, "cdn: provider fastly needs an api_key")));
  // A disabled section is checked for form only.
  const Config config = ParseOk(Yaml({"cdn: {enabled: false, provider: fastly}"}));
  ASSERT_TRUE(config.cdn.has_value());
  EXPECT_FALSE(config.cdn->enabled);
}

// Sets an environment variable for one test and restores the previous state afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value == nullptr) {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(CdnConfigTest, ApiKeyFromTheEnvironment) {
  const ScopedEnv env("STREAMGATE_TEST_CDN_KEY", "from-env");
  const Config config = ParseOk(Yaml({
      "cdn:",                                    // 1
      "  provider: cloudflare",                  // 2
      "  zone_id: z1",                           // 3
      "  api_key_env: STREAMGATE_TEST_CDN_KEY",  // 4
  }));
  ASSERT_TRUE(config.cdn.has_value());
  EXPECT_EQ(config.cdn->manager.api_key, "from-env");
  EXPECT_EQ(config.cdn->api_key_env, "STREAMGATE_TEST_CDN_KEY");
}

TEST(CdnConfigErrorTest, ApiKeyEnvironmentProblems) {
  {
    const ScopedEnv env("STREAMGATE_TEST_CDN_KEY", nullptr);
    EXPECT_THAT(ParseErrors(Yaml({
                    "cdn:",                                    // 1
                    "  provider: fastly",                      // 2
                    "  service_id: s",                         // 3
                    "  api_key_env: STREAMGATE_TEST_CDN_KEY",  // 4
                })),
                ElementsAre(Issue(4,
                                  "cdn.api_key_env: environment variable "
                                  "STREAMGATE_TEST_CDN_KEY is not set")));
    // Disabled: the secret may be absent on purpose.
    EXPECT_TRUE(
        ParseConfig(Yaml({"cdn:", "  enabled: false", "  api_key_env: STREAMGATE_TEST_CDN_KEY"}),
                    kFile)
            .has_value());
  }
  {
    const ScopedEnv env("STREAMGATE_TEST_CDN_KEY", "");
    EXPECT_THAT(ParseErrors(Yaml({"cdn:", "  api_key_env: STREAMGATE_TEST_CDN_KEY"})),
                ElementsAre(Issue(2, "environment variable STREAMGATE_TEST_CDN_KEY is empty")));
  }
  {
    const ScopedEnv env("STREAMGATE_TEST_CDN_KEY", "secret\n");
    const std::vector<ConfigIssue> issues =
        ParseErrors(Yaml({"cdn:", "  api_key_env: STREAMGATE_TEST_CDN_KEY"}));
    EXPECT_THAT(issues, ElementsAre(Issue(2, "contains spaces or control characters")));
    for (const ConfigIssue& issue : issues) {
      EXPECT_EQ(issue.message.find("secret"), std::string::npos) << issue.message;
    }
  }
  const ScopedEnv env("STREAMGATE_TEST_CDN_KEY", "x");
  EXPECT_THAT(ParseErrors(Yaml({
                  "cdn:",                                    // 1
                  "  api_key: inline",                       // 2
                  "  api_key_env: STREAMGATE_TEST_CDN_KEY",  // 3
              })),
              ElementsAre(Issue(3, "cdn.api_key_env: give api_key or api_key_env, not both")));
  EXPECT_THAT(ParseErrors(Yaml({"cdn:", "  api_key_env: 1-bad"})),
              ElementsAre(Issue(2,
                                "cdn.api_key_env: '1-bad' is not an environment variable "
                                "name")));
}

// ---- disaster_recovery ---------------------------------------------------------------------

TEST(DisasterRecoveryConfigTest, AbsentSectionMeansNoManager) {
  EXPECT_FALSE(ParseOk(Yaml({"admin: {}"})).disaster_recovery.has_value());
}

TEST(DisasterRecoveryConfigTest, EmptySectionHasDefaultsAndNoPlans) {
  for (const std::string& text :
       {std::string("disaster_recovery: {}\n"), std::string("disaster_recovery:\n")}) {
    const Config config = ParseOk(text);
    ASSERT_TRUE(config.disaster_recovery.has_value()) << text;
    EXPECT_EQ(config.disaster_recovery->line, 1);
    EXPECT_EQ(config.disaster_recovery->max_recovery_points, 100u);
    EXPECT_EQ(config.disaster_recovery->test_interval, std::chrono::seconds(0));
    EXPECT_TRUE(config.disaster_recovery->scratch_directory.empty());
    EXPECT_TRUE(config.disaster_recovery->plans.empty());
  }
}

TEST(DisasterRecoveryConfigTest, ParsesEveryKey) {
  const Config config = ParseOk(Yaml({
      "regions:",                                           // 1
      "  - {id: us-east-1, endpoint: 'http://a'}",          // 2
      "  - {id: eu-west-1, endpoint: 'http://b'}",          // 3
      "disaster_recovery:",                                 // 4
      "  max_recovery_points: 7",                           // 5
      "  scratch_directory: /var/tmp",                      // 6
      "  test_interval: 24h",                               // 7
      "  plans:",                                           // 8
      "    - id: site",                                     // 9
      "      name: Web content",                            // 10
      "      strategy: differential",                       // 11
      "      interval: 1h30m",                              // 12
      "      retention_days: 30",                           // 13
      "      rpo: 2h",                                      // 14
      "      rto: 30m",                                     // 15
      "      primary_region: us-east-1",                    // 16
      "      secondary_region: eu-west-1",                  // 17
      "      sources: [/srv/www, /etc/streamgate]",         // 18
      "      excludes: [www/cache]",                        // 19
      "      repository: /var/backups/streamgate/site",     // 20
      "      active: false",                                // 21
      "    - {id: db, sources: [/srv/db], repository: r}",  // 22
  }));
  ASSERT_TRUE(config.disaster_recovery.has_value());
  const DisasterRecoveryConfig& dr = *config.disaster_recovery;
  EXPECT_EQ(dr.line, 4);
  EXPECT_EQ(dr.max_recovery_points, 7u);
  EXPECT_EQ(dr.scratch_directory, "/var/tmp");
  EXPECT_EQ(dr.test_interval, std::chrono::hours(24));
  ASSERT_THAT(dr.plans, SizeIs(2));
  const scaling::DisasterRecoveryPlan& site = dr.plans[0].plan;
  EXPECT_EQ(dr.plans[0].line, 9);
  EXPECT_EQ(site.id, "site");
  EXPECT_EQ(site.name, "Web content");
  EXPECT_EQ(site.strategy, scaling::BackupStrategy::kDifferential);
  EXPECT_EQ(site.backup_interval, std::chrono::minutes(90));
  EXPECT_EQ(site.retention_days, 30);
  EXPECT_EQ(site.rpo, std::chrono::minutes(120));
  EXPECT_EQ(site.rto, std::chrono::minutes(30));
  EXPECT_EQ(site.primary_region, "us-east-1");
  EXPECT_EQ(site.secondary_region, "eu-west-1");
  EXPECT_THAT(site.sources, ElementsAre("/srv/www", "/etc/streamgate"));
  EXPECT_THAT(site.excludes, ElementsAre("www/cache"));
  EXPECT_EQ(site.repository, "/var/backups/streamgate/site");
  EXPECT_FALSE(site.active);
  // The second plan keeps the plan defaults; ParseConfig leaves relative paths as written.
  const scaling::DisasterRecoveryPlan& db = dr.plans[1].plan;
  const scaling::DisasterRecoveryPlan defaults;
  EXPECT_EQ(dr.plans[1].line, 22);
  EXPECT_EQ(db.id, "db");
  EXPECT_EQ(db.strategy, defaults.strategy);
  EXPECT_EQ(db.backup_interval, defaults.backup_interval);
  EXPECT_EQ(db.rpo, defaults.rpo);
  EXPECT_EQ(db.rto, defaults.rto);
  EXPECT_EQ(db.retention_days, defaults.retention_days);
  EXPECT_TRUE(db.active);
  EXPECT_EQ(db.repository, "r");
}

TEST(DisasterRecoveryConfigErrorTest, EachBadValueIsReportedAtItsLine) {
  EXPECT_THAT(
      ParseErrors(Yaml({
          "disaster_recovery:",           // 1
          "  max_recovery_points: 0",     // 2
          "  test_interval: soon",        // 3
          "  scratch_directory: ''",      // 4
          "  colour: blue",               // 5
          "  plans:",                     // 6
          "    - id: site",               // 7
          "      strategy: mirror",       // 8
          "      interval: 0s",           // 9
          "      retention_days: 0",      // 10
          "      rpo: 90s",               // 11
          "      rto: 1500ms",            // 12
          "      sources: /srv/www",      // 13
          "      excludes: [a, '']",      // 14
          "      repository: [r]",        // 15
          "      active: yes",            // 16
          "      primary_region: 'a b'",  // 17
          "      size: 3",                // 18
      })),
      ElementsAre(
          Issue(2, "disaster_recovery.max_recovery_points: must be at least 1, got 0"),
          Issue(3, "disaster_recovery.test_interval: invalid duration 'soon'"),
          Issue(4, "disaster_recovery.scratch_directory: must not be empty"),
          Issue(5,
                "unknown key 'colour' in disaster_recovery (expected one of: "
                "max_recovery_points, scratch_directory, test_interval, plans)"),
          Issue(8,
                "disaster_recovery.plans[0].strategy: unknown backup strategy 'mirror' "
                "(expected full, incremental or differential)"),
          Issue(9, "disaster_recovery.plans[0].interval: must be greater than 0"),
          Issue(10, "disaster_recovery.plans[0].retention_days: must be at least 1, got 0"),
          Issue(11, "disaster_recovery.plans[0].rpo: '90s' is not a whole number of minutes"),
          Issue(12, "disaster_recovery.plans[0].rto: '1500ms' is not a whole number of seconds"),
          Issue(13,
                "disaster_recovery.plans[0].sources: expected a list such as [a, b], got "
                "'/srv/www'"),
          Issue(14, "disaster_recovery.plans[0].excludes: paths must not be empty"),
          Issue(15, "disaster_recovery.plans[0].repository: expected a string, got a sequence"),
          Issue(16, "disaster_recovery.plans[0].active: expected true or false, got 'yes'"),
          Issue(17, "disaster_recovery.plans[0].primary_region: 'a b' may only contain"),
          Issue(18, "unknown key 'size' in disaster_recovery.plans[0] (expected one of: id, ")));
}

TEST(DisasterRecoveryConfigErrorTest, MissingKeysDuplicatesAndEmptyLists) {
  EXPECT_THAT(ParseErrors(Yaml({
                  "disaster_recovery:",                                     // 1
                  "  plans:",                                               // 2
                  "    - {id: a, sources: [/x], repository: /r/a}",         // 3
                  "    - {id: a, sources: [/y], repository: /r/b}",         // 4
                  "    - {name: nameless}",                                 // 5
                  "    - {id: c, sources: [], repository: /r/c}",           // 6
                  "    - {id: d, sources: [/z], repository: '', rpo: 0m}",  // 7
                  "    - just-a-string",                                    // 8
              })),
              ElementsAre(Issue(4,
                                "disaster_recovery.plans[1]: duplicate plan id 'a' (first "
                                "defined at line 3)"),
                          Issue(5, "disaster_recovery.plans[2]: missing required key 'id'"),
                          Issue(5, "disaster_recovery.plans[2]: missing required key 'sources'"),
                          Issue(5, "disaster_recovery.plans[2]: missing required key 'repository'"),
                          Issue(6,
                                "disaster_recovery.plans[3].sources: must name at least one "
                                "path"),
                          Issue(7, "disaster_recovery.plans[4].repository: must not be empty"),
                          Issue(7, "disaster_recovery.plans[4].rpo: must be greater than 0"),
                          Issue(8,
                                "disaster_recovery.plans[5]: expected a map, got "
                                "'just-a-string'")));
  EXPECT_THAT(ParseErrors("disaster_recovery: [a]\n"),
              ElementsAre(Issue(1, "disaster_recovery: expected a map, got a sequence")));
  EXPECT_THAT(ParseErrors(Yaml({"disaster_recovery:", "  plans: {id: a}"})),
              ElementsAre(Issue(2, "disaster_recovery.plans: expected a sequence of plans")));
}

TEST(DisasterRecoveryConfigErrorTest, RegionsMustBeDeclaredWhenRegionsExist) {
  const std::string plans = Yaml({
      "disaster_recovery:",               // 1 (or after the regions)
      "  plans:",                         // 2
      "    - id: site",                   // 3
      "      sources: [/srv]",            // 4
      "      repository: /r",             // 5
      "      primary_region: us-east-1",  // 6
      "      secondary_region: mars-1",   // 7
  });
  // Without regions, region names are free-form labels.
  EXPECT_TRUE(ParseConfig(plans, kFile).has_value());
  EXPECT_THAT(ParseErrors(plans + Yaml({"regions:", "  - {id: us-east-1, endpoint: 'http://a'}"})),
              ElementsAre(Issue(7, "plan 'site': unknown secondary_region 'mars-1'")));
  EXPECT_THAT(ParseErrors(plans + Yaml({"regions:", "  - {id: eu-west-1, endpoint: 'http://a'}"})),
              ElementsAre(Issue(6, "plan 'site': unknown primary_region 'us-east-1'"),
                          Issue(7, "plan 'site': unknown secondary_region 'mars-1'")));
}

TEST(DisasterRecoveryConfigTest, RelativePathsAreRelativeToTheConfigFile) {
  const TempFile file(Yaml({
      "disaster_recovery:",
      "  scratch_directory: scratch",
      "  plans:",
      "    - {id: a, sources: [data/www, /abs/src], repository: ../backups/a, excludes: [www/x]}",
  }));
  auto result = LoadConfigFile(file.path());
  ASSERT_TRUE(result.has_value()) << result.error().front().ToString();
  ASSERT_TRUE(result->disaster_recovery.has_value());
  const std::filesystem::path dir = file.path().parent_path();
  const DisasterRecoveryConfig& dr = *result->disaster_recovery;
  EXPECT_EQ(dr.scratch_directory, (dir / "scratch").string());
  ASSERT_THAT(dr.plans, SizeIs(1));
  EXPECT_THAT(dr.plans[0].plan.sources, ElementsAre((dir / "data/www").string(), "/abs/src"));
  EXPECT_EQ(dr.plans[0].plan.repository, (dir / "../backups/a").lexically_normal().string());
  EXPECT_THAT(dr.plans[0].plan.excludes, ElementsAre("www/x"));  // entry paths, not files
}

TEST(DisasterRecoveryConfigTest, SecondaryRepositoryIsAnotherRegionsCopy) {
  const Config config = ParseOk(Yaml({
      "disaster_recovery:",
      "  plans:",
      "    - id: site",
      "      sources: [/srv/www]",
      "      repository: /var/backups/site",
      "      secondary_region: eu-west-1",
      "      secondary_repository: s3://backups-eu/site",
      "    - {id: db, sources: [/srv/db], repository: r}",
  }));
  ASSERT_THAT(config.disaster_recovery->plans, SizeIs(2));
  EXPECT_EQ(config.disaster_recovery->plans[0].plan.secondary_repository, "s3://backups-eu/site");
  EXPECT_EQ(config.disaster_recovery->plans[0].secondary_repository_line, 7);
  EXPECT_TRUE(config.disaster_recovery->plans[1].plan.secondary_repository.empty());
}

TEST(DisasterRecoveryConfigErrorTest, SecondaryRepositoryMustDifferAndNameItsRegion) {
  EXPECT_THAT(
      ParseErrors(Yaml({
          "disaster_recovery:",                                // 1
          "  plans:",                                          // 2
          "    - id: same",                                    // 3
          "      sources: [/srv]",                             // 4
          "      repository: backups/site",                    // 5
          "      secondary_region: eu-west-1",                 // 6
          "      secondary_repository: ./backups/x/../site/",  // 7
          "    - id: regionless",                              // 8
          "      sources: [/srv]",                             // 9
          "      repository: s3://us/site",                    // 10
          "      secondary_repository: s3://eu/site",          // 11
          "    - id: empty",                                   // 12
          "      sources: [/srv]",                             // 13
          "      repository: /r",                              // 14
          "      secondary_repository: ''",                    // 15
          "    - {id: url, sources: [/s], repository: 's3://b/p', "
          "secondary_region: eu, secondary_repository: 's3://b/p/'}",  // 16
      })),
      ElementsAre(Issue(7,
                        "disaster_recovery.plans[0].secondary_repository: must differ from "
                        "repository 'backups/site'"),
                  Issue(11,
                        "disaster_recovery.plans[1].secondary_repository: needs a "
                        "secondary_region (the region the copy lives in)"),
                  Issue(15, "disaster_recovery.plans[2].secondary_repository: must not be empty"),
                  Issue(16,
                        "disaster_recovery.plans[3].secondary_repository: must differ from "
                        "repository 's3://b/p'")));
}

TEST(DisasterRecoveryConfigTest, SecondaryPathsAreResolvedButUrlsAreKept) {
  const TempFile file(Yaml({
      "disaster_recovery:",
      "  plans:",
      "    - {id: a, sources: [/src], repository: backups/a, secondary_region: eu,",
      "       secondary_repository: ../copies/a}",
      "    - {id: b, sources: [/src], repository: 's3://us-bucket/b', secondary_region: eu,",
      "       secondary_repository: 's3://eu-bucket/b'}",
  }));
  auto result = LoadConfigFile(file.path());
  ASSERT_TRUE(result.has_value()) << result.error().front().ToString();
  const std::filesystem::path dir = file.path().parent_path();
  const DisasterRecoveryConfig& dr = *result->disaster_recovery;
  ASSERT_THAT(dr.plans, SizeIs(2));
  EXPECT_EQ(dr.plans[0].plan.repository, (dir / "backups/a").lexically_normal().string());
  EXPECT_EQ(dr.plans[0].plan.secondary_repository,
            (dir / "../copies/a").lexically_normal().string());
  EXPECT_EQ(dr.plans[1].plan.repository, "s3://us-bucket/b");
  EXPECT_EQ(dr.plans[1].plan.secondary_repository, "s3://eu-bucket/b");
}

TEST(DisasterRecoveryConfigTest, ExampleFileHasADemoPlan) {
  auto result = LoadConfigFile(ExampleConfigPath());
  ASSERT_TRUE(result.has_value()) << result.error().front().ToString();
  ASSERT_TRUE(result->disaster_recovery.has_value());
  const DisasterRecoveryConfig& dr = *result->disaster_recovery;
  ASSERT_THAT(dr.plans, SizeIs(1));
  const scaling::DisasterRecoveryPlan& plan = dr.plans[0].plan;
  EXPECT_EQ(plan.id, "site");
  EXPECT_EQ(plan.primary_region, "us-east-1");
  EXPECT_EQ(plan.secondary_region, "eu-west-1");
  // Resolved against config/, where scripts/run-demo creates them.
  const std::filesystem::path root = std::filesystem::path(STREAMGATE_SOURCE_DIR);
  EXPECT_THAT(plan.sources, ElementsAre((root / "build/demo/site").lexically_normal().string()));
  EXPECT_EQ(plan.repository, (root / "build/demo/backups/site").lexically_normal().string());
  // The demo's "other region": a second local directory next to the first.
  EXPECT_EQ(plan.secondary_repository,
            (root / "build/demo/backups/site-eu-west-1").lexically_normal().string());
}

// ---- files ---------------------------------------------------------------------------------

TEST(LoadConfigFileTest, MissingFileIsOneIssueWithoutALine) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "streamgate_config_test_does_not_exist.yaml";
  auto result = LoadConfigFile(path);
  ASSERT_FALSE(result.has_value());
  ASSERT_THAT(result.error(), SizeIs(1));
  const ConfigIssue& issue = result.error()[0];
  EXPECT_EQ(issue.file, path.string());
  EXPECT_EQ(issue.line, 0);
  EXPECT_THAT(issue.message, HasSubstr("No such file or directory"));
  EXPECT_EQ(issue.ToString(), path.string() + ": " + issue.message);
}

TEST(LoadConfigFileTest, DirectoryIsRejected) {
  auto result = LoadConfigFile(std::filesystem::temp_directory_path());
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(
      result.error(),
      ElementsAre(AllOf(Field("line", &ConfigIssue::line, 0),
                        Field("message", &ConfigIssue::message, HasSubstr("is a directory")))));
}

TEST(LoadConfigFileTest, IssuesNameTheFile) {
  const TempFile file(Yaml({"health_check:", "  rise: 0"}));
  auto result = LoadConfigFile(file.path());
  ASSERT_FALSE(result.has_value());
  ASSERT_THAT(result.error(), SizeIs(1));
  EXPECT_EQ(result.error()[0].ToString(),
            file.path().string() + ":2: health_check.rise: must be at least 1, got 0");
}

TEST(LoadConfigFileTest, ReadsAValidFile) {
  const TempFile file(Yaml({"regions:", "  - {id: a, endpoint: 'http://h'}"}));
  auto result = LoadConfigFile(file.path());
  ASSERT_TRUE(result.has_value()) << result.error().front().ToString();
  EXPECT_EQ(result->source_file, file.path().string());
  ASSERT_THAT(result->regions, SizeIs(1));
  EXPECT_EQ(result->regions[0].id, "a");
}

// ---- listen addresses ----------------------------------------------------------------------

TEST(ParseListenAddressTest, AcceptsHostsAndPorts) {
  EXPECT_EQ(ParseListenAddress("127.0.0.1:9901"), (ListenAddress{"127.0.0.1", 9901}));
  EXPECT_EQ(ParseListenAddress("0.0.0.0:8080"), (ListenAddress{"0.0.0.0", 8080}));
  EXPECT_EQ(ParseListenAddress("[::1]:80"), (ListenAddress{"::1", 80}));
  EXPECT_EQ(ParseListenAddress("[::]:443"), (ListenAddress{"::", 443}));
  EXPECT_EQ(ParseListenAddress("localhost:65535"), (ListenAddress{"localhost", 65535}));
  EXPECT_EQ(ParseListenAddress("127.0.0.1:0"), (ListenAddress{"127.0.0.1", 0}));
}

TEST(ParseListenAddressTest, RejectsMalformedAddresses) {
  for (const auto& [text, substring] : std::vector<std::pair<std::string, std::string>>{
           {"", "empty"},
           {"127.0.0.1", "missing port"},
           {":9901", "missing host"},
           {"127.0.0.1:", "invalid port ''"},
           {"127.0.0.1:65536", "invalid port '65536'"},
           {"127.0.0.1:-1", "invalid port '-1'"},
           {"127.0.0.1:80x", "invalid port '80x'"},
           {"256.0.0.1:80", "invalid IPv4 address '256.0.0.1'"},
           {"::1:80", "brackets"},
           {"[::1]", "missing ':port'"},
           {"[::1:80", "missing ']'"},
           {"[zz]:80", "invalid IPv6 address 'zz'"},
           {"my host:80", "spaces"},
           {"h/x:80", "invalid character '/'"},
       }) {
    const Result<ListenAddress> result = ParseListenAddress(text);
    ASSERT_FALSE(result.has_value()) << text;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(result.error().message(), HasSubstr("invalid listen address '" + text + "'"));
    EXPECT_THAT(result.error().message(), HasSubstr(substring)) << text;
  }
}

TEST(ListenAddressTest, ToStringBracketsIpv6) {
  EXPECT_EQ(ToString(ListenAddress{"127.0.0.1", 9901}), "127.0.0.1:9901");
  EXPECT_EQ(ToString(ListenAddress{"::1", 80}), "[::1]:80");
}

TEST(ConfigIssueTest, ToStringHasFileLineAndMessage) {
  EXPECT_EQ((ConfigIssue{"a.yaml", 12, "bad"}).ToString(), "a.yaml:12: bad");
  EXPECT_EQ((ConfigIssue{"a.yaml", 0, "unreadable"}).ToString(), "a.yaml: unreadable");
}

TEST(ConfigTest, LogAndDataDirSettings) {
  const Config config = ParseOk(Yaml({
      "log:",                           // 1
      "  format: json",                 // 2
      "  level: debug",                 // 3
      "  access_log: stdout",           // 4
      "data_dir: /var/lib/streamgate",  // 5
  }));
  EXPECT_EQ(config.log.format, "json");
  EXPECT_EQ(config.log.level, "debug");
  EXPECT_EQ(config.log.access_log, "stdout");
  EXPECT_EQ(config.data_dir, "/var/lib/streamgate");
  EXPECT_THAT(ParseErrors(Yaml({"log:", "  format: xml", "  level: loud"})),
              ElementsAre(Issue(2, "'xml' is not one of: text, json"),
                          Issue(3, "'loud' is not one of: trace, debug, info, warn, error")));
}

TEST(ConfigTest, AdminTokenSettings) {
  const Config config = ParseOk(Yaml({
      "admin:",                  // 1
      "  listen: 0.0.0.0:9901",  // 2
      "  token: abc",            // 3
      "  protect_reads: true",   // 4
  }));
  EXPECT_EQ(config.admin.token, "abc");
  EXPECT_TRUE(config.admin.protect_reads);
  EXPECT_EQ(config.admin.line, 1);
  EXPECT_THAT(ParseErrors(Yaml({"admin:", "  token: abc", "  token_file: /t"})),
              ElementsAre(Issue(3, "token or token_file, not both")));
  EXPECT_THAT(ParseErrors(Yaml({"admin:", "  token: ''"})),
              ElementsAre(Issue(2, "admin.token: must not be empty")));
}

}  // namespace
}  // namespace streamgate::config
