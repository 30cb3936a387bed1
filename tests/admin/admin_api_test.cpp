#include "admin/admin_api.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "admin/json_http.hpp"
#include "net/http_server.hpp"
#include "streamgate/scaling/region.hpp"
#include "support/admin_requests.hpp"
#include "support/fake_prober.hpp"
#include "support/http_client.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::admin {
namespace {

using nlohmann::json;
using scaling::HealthCheckOptions;
using scaling::MultiRegionManager;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using testing::FakeProber;
using testing::HeaderOf;
using testing::Lines;
using testing::MakeRequest;
using testing::ManualClock;

class AdminApiTest : public ::testing::Test {
 protected:
  AdminApiTest() {
    options_.interval = milliseconds(1000);
    options_.rise = 2;
    options_.fall = 2;
    options_.degraded_latency = milliseconds(100);
    manager_ = std::make_unique<MultiRegionManager>(options_, prober_, clock_);
    api_ = std::make_unique<AdminApi>(*manager_);
  }

  net::HttpResponse Call(std::string method, std::string target, std::string body = "") {
    return api_->Handle(MakeRequest(std::move(method), std::move(target), std::move(body)));
  }

  // The JSON body of a response that must be JSON.
  static json Body(const net::HttpResponse& response) {
    EXPECT_EQ(response.content_type, "application/json");
    json parsed = json::parse(response.body, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << response.body;
    return parsed;
  }

  // Asserts an error response: status, JSON {"error": "...", "code": code}.
  static void ExpectError(const net::HttpResponse& response, int status, std::string_view code,
                          std::string_view context = "") {
    EXPECT_EQ(response.status, status) << context << " -> " << response.body;
    const json body = Body(response);
    ASSERT_TRUE(body.is_object()) << context;
    EXPECT_EQ(body.value("code", ""), code) << context << " -> " << response.body;
    ASSERT_TRUE(body.contains("error")) << context;
    EXPECT_TRUE(body["error"].is_string()) << context;
    EXPECT_FALSE(body["error"].get<std::string>().empty()) << context;
  }

  json Create(const json& region) {
    const net::HttpResponse response = Call("POST", "/api/v1/regions", region.dump());
    EXPECT_EQ(response.status, 201) << response.body;
    return Body(response);
  }

  // a (primary, priority 1, port 9101), b (priority 2, 9102), c (priority 3, 9103).
  void CreateThree() {
    Create({{"id", "a"},
            {"name", "Region A"},
            {"location", "us-east"},
            {"endpoint", "http://127.0.0.1:9101"},
            {"priority", 1},
            {"primary", true}});
    Create({{"id", "b"},
            {"name", "Region B"},
            {"location", "eu-west"},
            {"endpoint", "http://127.0.0.1:9102"},
            {"priority", 2}});
    Create({{"id", "c"},
            {"name", "Region C"},
            {"location", "ap-south"},
            {"endpoint", "tcp://127.0.0.1:9103"},
            {"priority", 3}});
  }

  void Sweep() {
    auto report = manager_->PerformHealthCheck();
    ASSERT_TRUE(report.has_value()) << report.error().ToString();
  }

  std::string Metrics() {
    const net::HttpResponse response = Call("GET", "/metrics");
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(response.content_type.starts_with("text/plain; version=0.0.4"))
        << response.content_type;
    return response.body;
  }

  HealthCheckOptions options_;
  std::shared_ptr<FakeProber> prober_ = std::make_shared<FakeProber>();
  ManualClock clock_;
  std::unique_ptr<MultiRegionManager> manager_;
  std::unique_ptr<AdminApi> api_;
};

// --- Basics -----------------------------------------------------------------------------------

TEST_F(AdminApiTest, Healthz) {
  const net::HttpResponse response = Call("GET", "/healthz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Body(response), json({{"status", "ok"}}));
}

TEST_F(AdminApiTest, UnknownPathsAre404) {
  for (const char* target :
       {"/", "/nope", "/api", "/api/v1", "/api/v2/regions", "/healthz/x", "/api/v1/regions/",
        "/api/v1/regions/a/b", "/api/v1/regions/a/x/y", "/API/V1/REGIONS", "//api/v1/regions"}) {
    ExpectError(Call("GET", target), 404, "not_found", target);
  }
}

TEST_F(AdminApiTest, KnownPathWithWrongMethodIs405WithAllow) {
  struct Case {
    const char* method;
    const char* target;
    const char* allow;
  };
  for (const Case& c : std::vector<Case>{
           {"POST", "/healthz", "GET"},
           {"DELETE", "/metrics", "GET"},
           {"PUT", "/api/v1/regions", "GET, POST"},
           {"DELETE", "/api/v1/regions", "GET, POST"},
           {"POST", "/api/v1/regions/primary", "GET, PUT"},
           {"DELETE", "/api/v1/regions/a", "GET"},
           {"PUT", "/api/v1/regions/a", "GET"},
           {"GET", "/api/v1/regions/a/activate", "POST"},
           {"GET", "/api/v1/regions/a/deactivate", "POST"},
           {"POST", "/api/v1/regions/a/metrics", "GET"},
           {"get", "/healthz", "GET"},
       }) {
    const net::HttpResponse response = Call(c.method, c.target);
    ExpectError(response, 405, "method_not_allowed", std::string(c.method) + " " + c.target);
    EXPECT_EQ(HeaderOf(response, "Allow"), c.allow) << c.method << " " << c.target;
  }
}

TEST_F(AdminApiTest, QueryStringIsIgnoredForRouting) {
  const net::HttpResponse response = Call("GET", "/api/v1/regions?verbose=1");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Body(response), json::array());
}

// --- Regions ----------------------------------------------------------------------------------

TEST_F(AdminApiTest, ListIsEmptyArrayWithoutRegions) {
  const net::HttpResponse response = Call("GET", "/api/v1/regions");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Body(response), json::array());
}

TEST_F(AdminApiTest, CreateReturns201WithTheRegion) {
  const net::HttpResponse response =
      Call("POST", "/api/v1/regions",
           R"({"id":"us-east-1","name":"US East","location":"Virginia",
               "endpoint":"https://10.0.0.1:8443/health","priority":5,"active":true})");
  EXPECT_EQ(response.status, 201) << response.body;
  EXPECT_EQ(HeaderOf(response, "Location"), "/api/v1/regions/us-east-1");
  EXPECT_EQ(Body(response), json({{"id", "us-east-1"},
                                  {"name", "US East"},
                                  {"location", "Virginia"},
                                  {"endpoint", "https://10.0.0.1:8443/health"},
                                  {"priority", 5},
                                  {"active", true},
                                  {"primary", true},  // the first active region
                                  {"health_status", "unknown"},
                                  {"avg_latency_ms", 0.0},
                                  {"last_health_check", nullptr}}));
}

TEST_F(AdminApiTest, CreateWithOnlyRequiredFieldsUsesDefaults) {
  const json region = Create({{"id", "x"}, {"endpoint", "tcp://127.0.0.1:7000"}});
  EXPECT_EQ(region["id"], "x");
  EXPECT_EQ(region["name"], "x");  // the manager names unnamed regions after their id
  EXPECT_EQ(region["location"], "");
  EXPECT_EQ(region["priority"], 0);
  EXPECT_EQ(region["active"], true);
}

TEST_F(AdminApiTest, CreateInactiveDoesNotBecomePrimary) {
  const json region =
      Create({{"id", "x"}, {"endpoint", "tcp://127.0.0.1:7000"}, {"active", false}});
  EXPECT_EQ(region["active"], false);
  EXPECT_EQ(region["primary"], false);
  ExpectError(Call("GET", "/api/v1/regions/primary"), 404, "not_found");
}

TEST_F(AdminApiTest, CreateRejectsMalformedBodiesWith400) {
  for (const char* body : {
           "",
           "not json",
           "{",
           "[]",
           "\"region\"",
           "null",
           R"({"id":"x","endpoint":"tcp://h:1"} trailing)",
           R"({"endpoint":"tcp://h:1"})",                           // no id
           R"({"id":"x"})",                                         // no endpoint
           R"({"id":5,"endpoint":"tcp://h:1"})",                    // id not a string
           R"({"id":"x","endpoint":["tcp://h:1"]})",                // endpoint not a string
           R"({"id":"x","endpoint":"tcp://h:1","name":null})",      // name not a string
           R"({"id":"x","endpoint":"tcp://h:1","location":1})",     // location not a string
           R"({"id":"x","endpoint":"tcp://h:1","priority":"1"})",   // priority not a number
           R"({"id":"x","endpoint":"tcp://h:1","priority":1.5})",   // not an integer
           R"({"id":"x","endpoint":"tcp://h:1","priority":1e12})",  // out of int range
           R"({"id":"x","endpoint":"tcp://h:1","priority":99999999999})",
           R"({"id":"x","endpoint":"tcp://h:1","active":"yes"})",
           R"({"id":"x","endpoint":"tcp://h:1","primary":1})",
           R"({"id":"x","endpoint":"tcp://h:1","region":"typo"})",            // unknown field
           R"({"id":"x","endpoint":"tcp://h:1","health_status":"healthy"})",  // read-only
           "{\"id\":\"x\xff\",\"endpoint\":\"tcp://h:1\"}",                   // invalid UTF-8
       }) {
    ExpectError(Call("POST", "/api/v1/regions", body), 400, "invalid_argument", body);
  }
  EXPECT_EQ(manager_->GetRegionCount(), 0U);
}

TEST_F(AdminApiTest, CreateMapsManagerValidationErrors) {
  for (const char* body : {
           R"({"id":"","endpoint":"tcp://127.0.0.1:1"})",
           R"({"id":"a/b","endpoint":"tcp://127.0.0.1:1"})",
           R"({"id":"a b","endpoint":"tcp://127.0.0.1:1"})",
           R"({"id":"x","endpoint":"ftp://127.0.0.1"})",
           R"({"id":"x","endpoint":"tcp://127.0.0.1"})",  // tcp needs a port
           R"({"id":"x","endpoint":""})",
       }) {
    ExpectError(Call("POST", "/api/v1/regions", body), 400, "invalid_argument", body);
  }
  Create({{"id", "x"}, {"endpoint", "tcp://127.0.0.1:1"}});
  ExpectError(Call("POST", "/api/v1/regions", R"({"id":"x","endpoint":"tcp://127.0.0.1:2"})"), 409,
              "already_exists");
  EXPECT_EQ(manager_->GetRegionCount(), 1U);
}

TEST_F(AdminApiTest, ListInRegistrationOrder) {
  CreateThree();
  const json list = Body(Call("GET", "/api/v1/regions"));
  ASSERT_EQ(list.size(), 3U);
  EXPECT_EQ(list[0]["id"], "a");
  EXPECT_EQ(list[1]["id"], "b");
  EXPECT_EQ(list[2]["id"], "c");
  EXPECT_EQ(list[0]["primary"], true);
  EXPECT_EQ(list[1]["primary"], false);
  EXPECT_EQ(list[2]["endpoint"], "tcp://127.0.0.1:9103");
  EXPECT_EQ(list[2]["priority"], 3);
  EXPECT_EQ(list[1]["location"], "eu-west");
}

TEST_F(AdminApiTest, GetRegionById) {
  CreateThree();
  const net::HttpResponse response = Call("GET", "/api/v1/regions/b");
  EXPECT_EQ(response.status, 200);
  const json region = Body(response);
  EXPECT_EQ(region["id"], "b");
  EXPECT_EQ(region["name"], "Region B");
  EXPECT_EQ(region["primary"], false);
  ExpectError(Call("GET", "/api/v1/regions/zz"), 404, "not_found");
}

// --- Primary ----------------------------------------------------------------------------------

TEST_F(AdminApiTest, PrimaryIs404WhenThereIsNone) {
  ExpectError(Call("GET", "/api/v1/regions/primary"), 404, "not_found");
}

TEST_F(AdminApiTest, GetAndSetPrimary) {
  CreateThree();
  EXPECT_EQ(Body(Call("GET", "/api/v1/regions/primary"))["id"], "a");

  const net::HttpResponse response = Call("PUT", "/api/v1/regions/primary", R"({"id":"c"})");
  EXPECT_EQ(response.status, 200) << response.body;
  const json region = Body(response);
  EXPECT_EQ(region["id"], "c");
  EXPECT_EQ(region["primary"], true);

  EXPECT_EQ(Body(Call("GET", "/api/v1/regions/primary"))["id"], "c");
  EXPECT_EQ(Body(Call("GET", "/api/v1/regions/a"))["primary"], false);
}

TEST_F(AdminApiTest, SetPrimaryErrors) {
  CreateThree();
  ExpectError(Call("PUT", "/api/v1/regions/primary", R"({"id":"nope"})"), 404, "not_found");

  ASSERT_EQ(Call("POST", "/api/v1/regions/b/deactivate").status, 200);
  ExpectError(Call("PUT", "/api/v1/regions/primary", R"({"id":"b"})"), 409, "failed_precondition");

  for (const char* body : {"", "{", "[\"a\"]", "{}", R"({"id":5})", R"({"id":null})",
                           R"({"id":"b","force":true})", R"({"region":"b"})"}) {
    ExpectError(Call("PUT", "/api/v1/regions/primary", body), 400, "invalid_argument", body);
  }
  EXPECT_EQ(Body(Call("GET", "/api/v1/regions/primary"))["id"], "a");
}

// --- Activation -------------------------------------------------------------------------------

TEST_F(AdminApiTest, DeactivatingThePrimaryFailsOverAndActivateRestores) {
  CreateThree();
  net::HttpResponse response = Call("POST", "/api/v1/regions/a/deactivate");
  EXPECT_EQ(response.status, 200) << response.body;
  json region = Body(response);
  EXPECT_EQ(region["id"], "a");
  EXPECT_EQ(region["active"], false);
  EXPECT_EQ(region["primary"], false);
  // All unprobed: the tie goes to the lowest priority number.
  EXPECT_EQ(Body(Call("GET", "/api/v1/regions/primary"))["id"], "b");

  response = Call("POST", "/api/v1/regions/a/activate");
  EXPECT_EQ(response.status, 200) << response.body;
  region = Body(response);
  EXPECT_EQ(region["active"], true);
  EXPECT_EQ(manager_->GetActiveRegionCount(), 3U);

  // Repeating is harmless.
  EXPECT_EQ(Call("POST", "/api/v1/regions/a/activate").status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/regions/c/deactivate").status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/regions/c/deactivate").status, 200);

  ExpectError(Call("POST", "/api/v1/regions/nope/activate"), 404, "not_found");
  ExpectError(Call("POST", "/api/v1/regions/nope/deactivate"), 404, "not_found");
}

// --- Health checks, failover and metrics ------------------------------------------------------

TEST_F(AdminApiTest, RegionMetricsObject) {
  CreateThree();
  ASSERT_TRUE(manager_->RecordRequest("a", milliseconds(10), true));
  ASSERT_TRUE(manager_->RecordRequest("a", milliseconds(30), true));
  ASSERT_TRUE(manager_->RecordRequest("a", milliseconds(20), false));
  prober_->SetUp("127.0.0.1:9101", milliseconds(20));
  clock_.Advance(milliseconds(1500));
  Sweep();

  const net::HttpResponse response = Call("GET", "/api/v1/regions/a/metrics");
  EXPECT_EQ(response.status, 200);
  const json m = Body(response);
  EXPECT_EQ(m.size(), 19U) << m.dump();
  EXPECT_EQ(m["region_id"], "a");
  EXPECT_EQ(m["health_status"], "healthy");
  EXPECT_EQ(m["active"], true);
  EXPECT_EQ(m["primary"], true);
  EXPECT_EQ(m["total_requests"], 3);
  EXPECT_EQ(m["failed_requests"], 1);
  EXPECT_DOUBLE_EQ(m["error_rate"].get<double>(), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(m["avg_request_latency_ms"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(m["p99_request_latency_ms"].get<double>(), 30.0);
  EXPECT_DOUBLE_EQ(m["avg_latency_ms"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(m["p99_latency_ms"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(m["last_latency_ms"].get<double>(), 20.0);
  EXPECT_EQ(m["health_checks"], 1);
  EXPECT_EQ(m["failed_health_checks"], 0);
  EXPECT_EQ(m["consecutive_successes"], 1);
  EXPECT_EQ(m["consecutive_failures"], 0);
  EXPECT_EQ(m["status_changes"], 1);
  EXPECT_EQ(m["last_probe_detail"], "HTTP 200");
  // The manual clock's epoch is the support library's business; the format is checked in
  // router_test, so compare against the clock's own wall time.
  EXPECT_EQ(m["last_health_check"], FormatRfc3339(clock_.WallNow()));
  EXPECT_TRUE(m["last_health_check"].get<std::string>().ends_with(":01.500Z")) << m.dump();

  // Sub-millisecond latencies keep their fraction.
  ASSERT_TRUE(manager_->UpdateRegionLatency("b", microseconds(1250)));
  EXPECT_DOUBLE_EQ(Body(Call("GET", "/api/v1/regions/b/metrics"))["last_latency_ms"].get<double>(),
                   1.25);
  EXPECT_DOUBLE_EQ(Body(Call("GET", "/api/v1/regions/b"))["avg_latency_ms"].get<double>(), 1.25);

  ExpectError(Call("GET", "/api/v1/regions/nope/metrics"), 404, "not_found");
}

TEST_F(AdminApiTest, FailoverAfterHealthCheckShowsNewPrimary) {
  CreateThree();
  prober_->SetUp("127.0.0.1:9101", milliseconds(10));
  prober_->SetUp("127.0.0.1:9102", milliseconds(20));
  prober_->SetUp("127.0.0.1:9103", milliseconds(5));
  clock_.Advance(milliseconds(1000));
  Sweep();
  json a = Body(Call("GET", "/api/v1/regions/a"));
  EXPECT_EQ(a["health_status"], "healthy");
  const std::string first_check = FormatRfc3339(clock_.WallNow());
  EXPECT_EQ(a["last_health_check"], first_check);
  EXPECT_DOUBLE_EQ(a["avg_latency_ms"].get<double>(), 10.0);

  // The primary stops answering: degraded after one failure, unhealthy (fall = 2) after two,
  // and then the fastest healthy region takes over.
  prober_->SetDown("127.0.0.1:9101");
  clock_.Advance(milliseconds(1000));
  Sweep();
  EXPECT_EQ(Body(Call("GET", "/api/v1/regions/a"))["health_status"], "degraded");
  EXPECT_EQ(Body(Call("GET", "/api/v1/regions/primary"))["id"], "a");

  clock_.Advance(milliseconds(1000));
  Sweep();
  const json primary = Body(Call("GET", "/api/v1/regions/primary"));
  EXPECT_EQ(primary["id"], "c");
  EXPECT_EQ(primary["primary"], true);
  EXPECT_EQ(primary["health_status"], "healthy");

  a = Body(Call("GET", "/api/v1/regions/a"));
  EXPECT_EQ(a["health_status"], "unhealthy");
  EXPECT_EQ(a["primary"], false);
  EXPECT_EQ(a["last_health_check"], FormatRfc3339(clock_.WallNow()));
  EXPECT_NE(a["last_health_check"], first_check);

  const json list = Body(Call("GET", "/api/v1/regions"));
  ASSERT_EQ(list.size(), 3U);
  EXPECT_EQ(list[0]["primary"], false);
  EXPECT_EQ(list[2]["primary"], true);

  const json m = Body(Call("GET", "/api/v1/regions/a/metrics"));
  EXPECT_EQ(m["health_checks"], 3);
  EXPECT_EQ(m["failed_health_checks"], 2);
  EXPECT_EQ(m["consecutive_failures"], 2);
  EXPECT_EQ(m["status_changes"], 3);  // unknown -> healthy -> degraded -> unhealthy
  EXPECT_EQ(m["last_probe_detail"], "connect: Connection refused");

  const std::vector<std::string> lines = Lines(Metrics());
  for (const char* expected : {
           "streamgate_region_healthy{region=\"a\"} 0",
           "streamgate_region_healthy{region=\"c\"} 1",
           "streamgate_region_health_status{region=\"a\",status=\"unhealthy\"} 1",
           "streamgate_region_health_status{region=\"a\",status=\"healthy\"} 0",
           "streamgate_region_primary{region=\"a\"} 0",
           "streamgate_region_primary{region=\"c\"} 1",
           "streamgate_region_health_checks_total{region=\"a\"} 3",
           "streamgate_region_health_check_failures_total{region=\"a\"} 2",
           "streamgate_region_status_changes_total{region=\"a\"} 3",
           "streamgate_failovers_total 1",
           "streamgate_primary_changes_total 2",
           "streamgate_health_check_sweeps_total 3",
       }) {
    EXPECT_NE(std::find(lines.begin(), lines.end(), expected), lines.end()) << expected;
  }
}

TEST_F(AdminApiTest, MetricsExposition) {
  CreateThree();
  ASSERT_TRUE(manager_->RecordRequest("b", milliseconds(5), true));
  ASSERT_TRUE(manager_->RecordRequest("b", milliseconds(5), false));
  prober_->SetUp("127.0.0.1:9101", milliseconds(20));
  prober_->SetUp("127.0.0.1:9102", microseconds(1500));
  prober_->SetUp("127.0.0.1:9103", milliseconds(250));  // slower than degraded_latency
  Sweep();
  ASSERT_EQ(Call("POST", "/api/v1/regions/c/deactivate").status, 200);

  const std::string text = Metrics();
  const std::vector<std::string> lines = Lines(text);
  auto has = [&lines](const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  };
  for (const char* expected : {
           "# HELP streamgate_region_healthy 1 if the region's health status is healthy, else 0.",
           "# TYPE streamgate_region_healthy gauge",
           "streamgate_region_healthy{region=\"a\"} 1",
           "streamgate_region_healthy{region=\"b\"} 1",
           "streamgate_region_healthy{region=\"c\"} 0",
           "# TYPE streamgate_region_health_status gauge",
           "streamgate_region_health_status{region=\"c\",status=\"unknown\"} 0",
           "streamgate_region_health_status{region=\"c\",status=\"healthy\"} 0",
           "streamgate_region_health_status{region=\"c\",status=\"degraded\"} 1",
           "streamgate_region_health_status{region=\"c\",status=\"unhealthy\"} 0",
           "streamgate_region_active{region=\"a\"} 1",
           "streamgate_region_active{region=\"c\"} 0",
           "streamgate_region_primary{region=\"a\"} 1",
           "streamgate_region_primary{region=\"b\"} 0",
           "# TYPE streamgate_region_requests_total counter",
           "streamgate_region_requests_total{region=\"a\"} 0",
           "streamgate_region_requests_total{region=\"b\"} 2",
           "# TYPE streamgate_region_request_errors_total counter",
           "streamgate_region_request_errors_total{region=\"b\"} 1",
           "# TYPE streamgate_region_latency_seconds gauge",
           "streamgate_region_latency_seconds{region=\"a\"} 0.02",
           "streamgate_region_latency_seconds{region=\"b\"} 0.0015",
           "streamgate_region_latency_seconds{region=\"c\"} 0.25",
           "# TYPE streamgate_region_latency_p99_seconds gauge",
           "streamgate_region_latency_p99_seconds{region=\"a\"} 0.02",
           "# TYPE streamgate_region_health_checks_total counter",
           "streamgate_region_health_checks_total{region=\"b\"} 1",
           "# TYPE streamgate_region_health_check_failures_total counter",
           "streamgate_region_health_check_failures_total{region=\"b\"} 0",
           "# TYPE streamgate_region_status_changes_total counter",
           "streamgate_region_status_changes_total{region=\"c\"} 1",
           "# TYPE streamgate_regions gauge",
           "streamgate_regions 3",
           "# TYPE streamgate_regions_active gauge",
           "streamgate_regions_active 2",
           "# TYPE streamgate_failovers_total counter",
           "streamgate_failovers_total 0",
           "# TYPE streamgate_primary_changes_total counter",
           "streamgate_primary_changes_total 1",
           "# TYPE streamgate_health_check_sweeps_total counter",
           "streamgate_health_check_sweeps_total 1",
           "# TYPE streamgate_health_check_sweep_duration_seconds gauge",
           "streamgate_health_check_sweep_duration_seconds 0",  // the manual clock stood still
       }) {
    EXPECT_TRUE(has(expected)) << "missing: " << expected << "\n" << text;
  }

  // Every line is a comment or a well-formed sample; each family is declared exactly once and
  // its samples are contiguous.
  const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? )"
      R"((-?[0-9.e+-]+|NaN|\+Inf|-Inf)$)");
  std::vector<std::string> declared;
  std::vector<std::string> sampled;  // family of each sample line, in order
  for (const std::string& line : lines) {
    std::smatch match;
    if (line.starts_with("# TYPE ")) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_EQ(std::count(declared.begin(), declared.end(), name), 0) << name;
      declared.push_back(name);
    } else if (line.starts_with("# HELP ")) {
      continue;
    } else {
      ASSERT_TRUE(std::regex_match(line, match, sample)) << line;
      ASSERT_FALSE(declared.empty()) << line;
      EXPECT_EQ(match[1].str(), declared.back()) << "sample outside its family: " << line;
    }
  }
  EXPECT_EQ(declared.size(), 17U);
}

TEST_F(AdminApiTest, MetricsWithoutRegions) {
  const std::vector<std::string> lines = Lines(Metrics());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "streamgate_regions 0"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "# TYPE streamgate_region_healthy gauge"),
            lines.end());
}

// --- Robustness -------------------------------------------------------------------------------

TEST_F(AdminApiTest, GarbageNeverCrashesAndAlwaysAnswersJson) {
  CreateThree();
  const std::vector<std::string> methods = {"GET", "POST", "PUT", "DELETE", "PATCH", "", "G\nET"};
  const std::vector<std::string> targets = {
      "/api/v1/regions",
      "/api/v1/regions/primary",
      "/api/v1/regions/a",
      "/api/v1/regions/a/activate",
      "/api/v1/regions/a/metrics",
      "",
      "no-slash",
      std::string("/api/v1/regions/\0x", 18),
      "/api/v1/regions/\xff\xfe",
      "/api/v1/regions/%2F/activate",
      "/?/",
      std::string(10000, '/'),
  };
  const std::vector<std::string> bodies = {
      "",
      "{",
      "}",
      std::string(50000, '['),
      std::string(50000, '{'),
      "{\"id\":\"\xc3\x28\"}",
      R"({"id":"q","endpoint":"tcp://127.0.0.1:1","priority":-1e400})",
      R"({"id":"q","endpoint":"tcp://127.0.0.1:1","priority":18446744073709551616})",
      std::string("{\"id\":\"\0\"}", 10),
      "\xef\xbb\xbf{}",
  };
  for (const std::string& method : methods) {
    for (const std::string& target : targets) {
      for (const std::string& body : bodies) {
        const net::HttpResponse response = Call(method, target, body);
        EXPECT_TRUE(response.status == 200 || response.status == 201 || response.status == 400 ||
                    response.status == 404 || response.status == 405 || response.status == 409)
            << method << " " << target << " -> " << response.status << " " << response.body;
        EXPECT_FALSE(json::parse(response.body, nullptr, false).is_discarded()) << response.body;
      }
    }
  }
}

TEST_F(AdminApiTest, InvalidUtf8FromConfigDoesNotBreakResponses) {
  scaling::Region region;
  region.id = "odd";
  region.name = "caf\xe9";  // Latin-1, as a hand-edited config file might hold
  region.endpoint = "tcp://127.0.0.1:9";
  ASSERT_TRUE(manager_->RegisterRegion(region));
  const net::HttpResponse response = Call("GET", "/api/v1/regions/odd");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Body(response)["name"], "caf\xEF\xBF\xBD");
}

// --- Over a real server -----------------------------------------------------------------------

TEST_F(AdminApiTest, ServesOverHttpServer) {
  auto server = net::HttpServer::Start(
      net::HttpServerOptions{.port = 0, .threads = 2},
      [this](const net::HttpRequest& request) { return api_->Handle(request); });
  ASSERT_TRUE(server.has_value()) << server.error().ToString();
  const std::uint16_t port = (*server)->port();
  const std::string host = "127.0.0.1";

  auto health = testing::HttpGet(host, port, "/healthz");
  ASSERT_TRUE(health.has_value()) << health.error().ToString();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->Header("Content-Type"), "application/json");
  EXPECT_EQ(json::parse(health->body), json({{"status", "ok"}}));

  auto created = testing::HttpRequestBlocking(
      "POST", host, port, "/api/v1/regions",
      R"({"id":"eu","endpoint":"http://127.0.0.1:9201","location":"Frankfurt"})",
      {{"Content-Type", "application/json"}});
  ASSERT_TRUE(created.has_value()) << created.error().ToString();
  EXPECT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(created->Header("Location"), "/api/v1/regions/eu");
  EXPECT_EQ(json::parse(created->body)["location"], "Frankfurt");

  auto primary = testing::HttpGet(host, port, "/api/v1/regions/primary?x=1");
  ASSERT_TRUE(primary.has_value());
  EXPECT_EQ(json::parse(primary->body)["id"], "eu");

  auto wrong = testing::HttpRequestBlocking("DELETE", host, port, "/api/v1/regions/eu");
  ASSERT_TRUE(wrong.has_value());
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(wrong->Header("Allow"), "GET");

  auto bad = testing::HttpRequestBlocking("PUT", host, port, "/api/v1/regions/primary", "{oops");
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body)["code"], "invalid_argument");

  auto metrics = testing::HttpGet(host, port, "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_TRUE(
      metrics->Header("Content-Type").value_or("").starts_with("text/plain; version=0.0.4"));
  EXPECT_NE(metrics->body.find("\nstreamgate_region_primary{region=\"eu\"} 1\n"), std::string::npos)
      << metrics->body;

  (*server)->Stop();
}

// The admin token: state changes need it, reads only with protect_reads, /healthz never.
class AdminTokenTest : public AdminApiTest {
 protected:
  net::HttpResponse CallWith(std::string method, std::string target, std::string authorization,
                             std::string body = "") {
    net::HttpRequest request = MakeRequest(std::move(method), std::move(target), std::move(body));
    if (!authorization.empty()) request.headers.emplace_back("Authorization", authorization);
    return guarded_->Handle(request);
  }
  void Guard(bool protect_reads) {
    AdminApiOptions options;
    options.token = "s3cret-token";
    options.protect_reads = protect_reads;
    guarded_ = std::make_unique<AdminApi>(*manager_, std::move(options));
  }
  std::unique_ptr<AdminApi> guarded_;
};

TEST_F(AdminTokenTest, StateChangesNeedTheBearerToken) {
  Guard(/*protect_reads=*/false);
  const std::string body = R"({"id":"r1","name":"R1","endpoint":"http://127.0.0.1:1"})";
  for (const std::string auth : {"", "Bearer wrong", "Bearer s3cret-toke", "Basic s3cret-token",
                                 "Bearer s3cret-token2", "Bearer"}) {
    net::HttpResponse refused = CallWith("POST", "/api/v1/regions", auth, body);
    ExpectError(refused, 401, "unauthenticated", auth);
    EXPECT_NE(refused.body.find("Authorization: Bearer <token>"), std::string::npos);
    EXPECT_EQ(HeaderOf(refused, "WWW-Authenticate"), "Bearer realm=\"streamgate\"");
    // The token never appears in what the API answers.
    EXPECT_EQ(refused.body.find("s3cret"), std::string::npos);
  }
  EXPECT_EQ(manager_->GetRegionCount(), 0u);  // nothing changed
  EXPECT_EQ(CallWith("POST", "/api/v1/regions", "Bearer s3cret-token", body).status, 201);
  EXPECT_EQ(CallWith("POST", "/api/v1/regions/r1/deactivate", "bearer s3cret-token").status, 200);
  EXPECT_EQ(CallWith("GET", "/api/v1/regions", "").status, 200);  // reads are open
  EXPECT_EQ(CallWith("GET", "/metrics", "").status, 200);
}

TEST_F(AdminTokenTest, ProtectReadsGuardsEverythingButHealthz) {
  Guard(/*protect_reads=*/true);
  ExpectError(CallWith("GET", "/api/v1/regions", ""), 401, "unauthenticated", "token");
  ExpectError(CallWith("GET", "/metrics", "Bearer nope"), 401, "unauthenticated", "token");
  EXPECT_EQ(CallWith("GET", "/api/v1/regions", "Bearer s3cret-token").status, 200);
  EXPECT_EQ(CallWith("GET", "/healthz", "").status, 200);
}

TEST_F(AdminTokenTest, WithoutATokenEverythingIsOpen) {
  EXPECT_EQ(
      Call("POST", "/api/v1/regions", R"({"id":"r1","name":"R1","endpoint":"http://127.0.0.1:1"})")
          .status,
      201);
}

}  // namespace
}  // namespace streamgate::admin
