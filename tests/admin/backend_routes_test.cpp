#include "admin/backend_routes.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/admin_api.hpp"
#include "admin/json_http.hpp"
#include "metrics/prometheus.hpp"
#include "streamgate/common/random.hpp"
#include "streamgate/scaling/load_balancer.hpp"
#include "streamgate/scaling/region.hpp"
#include "support/admin_requests.hpp"
#include "support/fake_prober.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::admin {
namespace {

using nlohmann::json;
using scaling::GlobalLoadBalancer;
using scaling::LoadBalancerOptions;
using scaling::LoadBalancingStrategy;
using scaling::MultiRegionManager;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using testing::FakeProber;
using testing::HeaderOf;
using testing::Lines;
using testing::MakeRequest;
using testing::ManualClock;

bool HasLine(const std::vector<std::string>& lines, std::string_view line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// Index of the exact line, or lines.size().
std::size_t IndexOf(const std::vector<std::string>& lines, std::string_view line) {
  return static_cast<std::size_t>(std::find(lines.begin(), lines.end(), line) - lines.begin());
}

json Body(const net::HttpResponse& response) {
  EXPECT_EQ(response.content_type, "application/json");
  json parsed = json::parse(response.body, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << response.body;
  return parsed;
}

void ExpectError(const net::HttpResponse& response, int status, std::string_view code,
                 std::string_view context = "") {
  EXPECT_EQ(response.status, status) << context << " -> " << response.body;
  const json body = Body(response);
  ASSERT_TRUE(body.is_object()) << context;
  EXPECT_EQ(body.value("code", ""), code) << context << " -> " << response.body;
  ASSERT_TRUE(body.contains("error")) << context;
  ASSERT_TRUE(body["error"].is_string()) << context;
  EXPECT_FALSE(body["error"].get<std::string>().empty()) << context;
}

class BackendRoutesTest : public ::testing::Test {
 protected:
  BackendRoutesTest() {
    scaling::HealthCheckOptions regions;
    regions.interval = milliseconds(1000);
    manager_ = std::make_unique<MultiRegionManager>(regions, prober_, clock_);

    LoadBalancerOptions options;
    options.health_check.interval = milliseconds(1000);
    options.health_check.rise = 1;
    options.health_check.fall = 1;
    options.health_check.degraded_latency = milliseconds(100);
    options.outlier_detection.consecutive_failures = 3;
    options.outlier_detection.base_ejection_time = milliseconds(30'000);
    options.panic_threshold = 0.5;
    lb_ = std::make_unique<GlobalLoadBalancer>(
        LoadBalancingStrategy::kRoundRobin, options,
        scaling::LoadBalancerDependencies{
            .prober = prober_, .clock = &clock_, .random = MakeSeededRandom(42), .geo = nullptr});
    AdminApiOptions api_options;
    api_options.load_balancer = lb_.get();
    api_options.extra_metrics = [this](metrics::PrometheusWriter& out) {
      ++extra_scrapes_;
      out.Family("streamgate_proxy_test_total", "Extra.", metrics::MetricType::kCounter);
      out.Sample("streamgate_proxy_test_total", {}, 7);
    };
    api_ = std::make_unique<AdminApi>(*manager_, std::move(api_options));
  }

  net::HttpResponse Call(std::string method, std::string target, std::string body = "") {
    return api_->Handle(MakeRequest(std::move(method), std::move(target), std::move(body)));
  }

  json Create(const json& backend) {
    const net::HttpResponse response = Call("POST", "/api/v1/backends", backend.dump());
    EXPECT_EQ(response.status, 201) << response.body;
    return Body(response);
  }

  // a (eu-west, 127.0.0.1:9201), b (us-east, :9202, weight 3), c (eu-west, :9203, TCP check).
  void CreateThree() {
    Create({{"id", "a"}, {"address", "127.0.0.1"}, {"port", 9201}, {"region", "eu-west"}});
    Create({{"id", "b"},
            {"address", "127.0.0.1"},
            {"port", 9202},
            {"region", "us-east"},
            {"weight", 3}});
    Create({{"id", "c"},
            {"address", "127.0.0.1"},
            {"port", 9203},
            {"region", "eu-west"},
            {"tcp_check", true}});
  }

  void Sweep() {
    clock_.Advance(milliseconds(1000));
    auto report = lb_->PerformHealthCheck();
    ASSERT_TRUE(report.has_value()) << report.error().ToString();
  }

  std::vector<std::string> MetricsLines() {
    const net::HttpResponse response = Call("GET", "/metrics");
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(response.content_type.starts_with("text/plain; version=0.0.4"));
    return Lines(response.body);
  }

  std::shared_ptr<FakeProber> prober_ = std::make_shared<FakeProber>();
  ManualClock clock_;
  std::unique_ptr<MultiRegionManager> manager_;
  std::unique_ptr<GlobalLoadBalancer> lb_;
  std::unique_ptr<AdminApi> api_;
  int extra_scrapes_ = 0;
};

// --- Backends ---------------------------------------------------------------------------------

TEST_F(BackendRoutesTest, ListIsEmptyArrayWithoutBackends) {
  const net::HttpResponse response = Call("GET", "/api/v1/backends");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Body(response), json::array());
}

TEST_F(BackendRoutesTest, CreateReturns201WithLocationAndTheBackend) {
  const net::HttpResponse response = Call("POST", "/api/v1/backends",
                                          json({{"id", "web-1"},
                                                {"address", "10.0.0.5"},
                                                {"port", 8080},
                                                {"region", "eu-west"},
                                                {"weight", 5},
                                                {"health_path", "/ready"},
                                                {"tcp_check", false},
                                                {"active", true}})
                                              .dump());
  EXPECT_EQ(response.status, 201) << response.body;
  EXPECT_EQ(HeaderOf(response, "Location"), "/api/v1/backends/web-1");
  const json backend = Body(response);
  EXPECT_EQ(backend, json({{"id", "web-1"},
                           {"address", "10.0.0.5"},
                           {"port", 8080},
                           {"region", "eu-west"},
                           {"weight", 5},
                           {"health_path", "/ready"},
                           {"tcp_check", false},
                           {"active", true},
                           {"health_status", "unknown"},
                           {"ejected", false},
                           {"connections", 0},
                           {"requests", 0},
                           {"errors", 0},
                           {"avg_latency_ms", 0.0}}));

  auto stored = lb_->GetBackend("web-1");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->weight, 5U);
  EXPECT_EQ(stored->health_path, "/ready");
}

TEST_F(BackendRoutesTest, CreateWithOnlyRequiredFieldsUsesDefaults) {
  const json backend = Create({{"id", "x"}, {"address", "backend.internal"}, {"port", 1}});
  EXPECT_EQ(backend["region"], "");
  EXPECT_EQ(backend["weight"], 1);
  EXPECT_EQ(backend["health_path"], "");
  EXPECT_EQ(backend["tcp_check"], false);
  EXPECT_EQ(backend["active"], true);
}

TEST_F(BackendRoutesTest, CreateInactiveAndTcpCheck) {
  const json backend = Create({{"id", "x"},
                               {"address", "10.0.0.1"},
                               {"port", 65535},
                               {"active", false},
                               {"tcp_check", true}});
  EXPECT_EQ(backend["active"], false);
  EXPECT_EQ(backend["tcp_check"], true);
  EXPECT_EQ(backend["port"], 65535);
  EXPECT_EQ(lb_->GetActiveBackendCount(), 0U);
}

TEST_F(BackendRoutesTest, CreateRejectsMalformedBodiesWith400) {
  for (const char* body : {
           "",
           "{",
           "null",
           "[]",
           R"("a")",
           "{}",
           R"({"address":"10.0.0.1","port":80})",         // no id
           R"({"id":"x","port":80})",                     // no address
           R"({"id":"x","address":"10.0.0.1"})",          // no port
           R"({"id":5,"address":"10.0.0.1","port":80})",  // wrong types...
           R"({"id":"x","address":["10.0.0.1"],"port":80})",
           R"({"id":"x","address":"10.0.0.1","port":"80"})",
           R"({"id":"x","address":"10.0.0.1","port":80.5})",
           R"({"id":"x","address":"10.0.0.1","port":true})",
           R"({"id":"x","address":"10.0.0.1","port":80,"region":1})",
           R"({"id":"x","address":"10.0.0.1","port":80,"weight":"2"})",
           R"({"id":"x","address":"10.0.0.1","port":80,"health_path":null})",
           R"({"id":"x","address":"10.0.0.1","port":80,"tcp_check":"yes"})",
           R"({"id":"x","address":"10.0.0.1","port":80,"active":1})",
           R"({"id":"x","address":"10.0.0.1","port":80,"host":"h"})",  // unknown fields
           R"({"id":"x","address":"10.0.0.1","port":80,"use_tcp_check":true})",
           R"({"id":"x","address":"10.0.0.1","port":0})",  // out of range
           R"({"id":"x","address":"10.0.0.1","port":-1})",
           R"({"id":"x","address":"10.0.0.1","port":65536})",
           R"({"id":"x","address":"10.0.0.1","port":99999999999})",
           R"({"id":"x","address":"10.0.0.1","port":80,"weight":0})",
           R"({"id":"x","address":"10.0.0.1","port":80,"weight":-1})",
           R"({"id":"x","address":"10.0.0.1","port":80,"weight":10001})",
           R"({"id":"","address":"10.0.0.1","port":80})",  // balancer validation
           R"({"id":"a/b","address":"10.0.0.1","port":80})",
           R"({"id":"a b","address":"10.0.0.1","port":80})",
           R"({"id":"x","address":"","port":80})",
           R"({"id":"x","address":"http://10.0.0.1","port":80})",
           R"({"id":"x","address":"10.0.0.1","port":80,"health_path":"ready"})",
       }) {
    ExpectError(Call("POST", "/api/v1/backends", body), 400, "invalid_argument", body);
  }
  EXPECT_EQ(lb_->GetBackendCount(), 0U);
}

TEST_F(BackendRoutesTest, CreateDuplicateIs409) {
  Create({{"id", "a"}, {"address", "10.0.0.1"}, {"port", 80}});
  ExpectError(Call("POST", "/api/v1/backends",
                   json({{"id", "a"}, {"address", "10.0.0.2"}, {"port", 81}}).dump()),
              409, "already_exists");
  EXPECT_EQ(Body(Call("GET", "/api/v1/backends/a"))["address"], "10.0.0.1");
}

TEST_F(BackendRoutesTest, ListInRegistrationOrderWithRequestFigures) {
  CreateThree();
  ASSERT_TRUE(lb_->RecordRequest("b", milliseconds(10), true));
  ASSERT_TRUE(lb_->RecordRequest("b", milliseconds(30), false));
  ASSERT_TRUE(lb_->IncrementConnections("b"));

  const json list = Body(Call("GET", "/api/v1/backends"));
  ASSERT_EQ(list.size(), 3U);
  EXPECT_EQ(list[0]["id"], "a");
  EXPECT_EQ(list[1]["id"], "b");
  EXPECT_EQ(list[2]["id"], "c");
  EXPECT_EQ(list[2]["tcp_check"], true);
  const json& b = list[1];
  EXPECT_EQ(b["region"], "us-east");
  EXPECT_EQ(b["weight"], 3);
  EXPECT_EQ(b["connections"], 1);
  EXPECT_EQ(b["requests"], 2);
  EXPECT_EQ(b["errors"], 1);
  EXPECT_DOUBLE_EQ(b["avg_latency_ms"].get<double>(), 20.0);
  EXPECT_EQ(list[0]["requests"], 0);
  for (const json& backend : list) EXPECT_EQ(backend.size(), 14U) << backend.dump();
}

TEST_F(BackendRoutesTest, GetBackendById) {
  CreateThree();
  ASSERT_TRUE(lb_->RecordRequest("a", microseconds(1250), true));
  const net::HttpResponse response = Call("GET", "/api/v1/backends/a");
  EXPECT_EQ(response.status, 200);
  const json a = Body(response);
  EXPECT_EQ(a["id"], "a");
  EXPECT_EQ(a["port"], 9201);
  EXPECT_EQ(a["requests"], 1);
  EXPECT_DOUBLE_EQ(a["avg_latency_ms"].get<double>(), 1.25);

  ExpectError(Call("GET", "/api/v1/backends/nope"), 404, "not_found");
  // Ids never contain '/', so a deeper path is no resource at all.
  ExpectError(Call("GET", "/api/v1/backends/a/b"), 404, "not_found");
}

TEST_F(BackendRoutesTest, DeactivateAndActivate) {
  CreateThree();
  net::HttpResponse response = Call("POST", "/api/v1/backends/b/deactivate");
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["id"], "b");
  EXPECT_EQ(Body(response)["active"], false);

  for (const scaling::Backend& backend : lb_->ListBackends()) {
    EXPECT_EQ(backend.active, backend.id != "b") << backend.id;
  }
  EXPECT_EQ(lb_->GetActiveBackendCount(), 2U);
  EXPECT_EQ(Body(Call("GET", "/api/v1/backends"))[1]["active"], false);

  // Deactivated backends take no traffic.
  for (int i = 0; i < 10; ++i) {
    auto picked = lb_->SelectBackend();
    ASSERT_TRUE(picked.has_value());
    EXPECT_NE(picked->id, "b");
  }

  response = Call("POST", "/api/v1/backends/b/activate");
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response)["active"], true);
  EXPECT_EQ(lb_->GetActiveBackendCount(), 3U);

  // Repeating is harmless.
  EXPECT_EQ(Call("POST", "/api/v1/backends/b/activate").status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/backends/c/deactivate").status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/backends/c/deactivate").status, 200);

  ExpectError(Call("POST", "/api/v1/backends/nope/activate"), 404, "not_found");
  ExpectError(Call("POST", "/api/v1/backends/nope/deactivate"), 404, "not_found");
}

TEST_F(BackendRoutesTest, BackendMetricsObject) {
  CreateThree();
  ASSERT_TRUE(lb_->RecordRequest("a", microseconds(800), true));   // <= 1 ms
  ASSERT_TRUE(lb_->RecordRequest("a", milliseconds(20), true));    // <= 25 ms
  ASSERT_TRUE(lb_->RecordRequest("a", milliseconds(20), false));   // <= 25 ms
  ASSERT_TRUE(lb_->RecordRequest("a", milliseconds(7000), true));  // +Inf only
  ASSERT_TRUE(lb_->IncrementConnections("a"));
  prober_->SetUp("127.0.0.1:9201", milliseconds(5));
  Sweep();

  const net::HttpResponse response = Call("GET", "/api/v1/backends/a/metrics");
  EXPECT_EQ(response.status, 200);
  const json m = Body(response);
  EXPECT_EQ(m.size(), 17U) << m.dump();
  EXPECT_EQ(m["backend_id"], "a");
  EXPECT_EQ(m["region"], "eu-west");
  EXPECT_EQ(m["health_status"], "healthy");
  EXPECT_EQ(m["active"], true);
  EXPECT_EQ(m["ejected"], false);
  EXPECT_EQ(m["connections"], 1);
  EXPECT_EQ(m["total_requests"], 4);
  EXPECT_EQ(m["failed_requests"], 1);
  EXPECT_DOUBLE_EQ(m["error_rate"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(m["avg_latency_ms"].get<double>(), (0.8 + 20 + 20 + 7000) / 4);
  EXPECT_TRUE(m["ewma_latency_ms"].is_number()) << m.dump();
  EXPECT_GT(m["ewma_latency_ms"].get<double>(), 0.0);
  EXPECT_EQ(m["ejections"], 0);
  EXPECT_EQ(m["health_checks"], 1);
  EXPECT_EQ(m["failed_health_checks"], 0);
  EXPECT_EQ(m["last_probe_detail"], "HTTP 200");
  EXPECT_EQ(m["last_health_check"], FormatRfc3339(clock_.WallNow()));

  const json& histogram = m["latency_histogram"];
  ASSERT_TRUE(histogram.is_object()) << m.dump();
  EXPECT_EQ(histogram.size(), 3U);
  EXPECT_EQ(histogram["bounds_ms"], json({1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0,
                                          1000.0, 2500.0, 5000.0, "+Inf"}));
  EXPECT_EQ(histogram["counts"], json({1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 4}));
  EXPECT_DOUBLE_EQ(histogram["sum_ms"].get<double>(), 7040.8);

  ExpectError(Call("GET", "/api/v1/backends/nope/metrics"), 404, "not_found");
}

TEST_F(BackendRoutesTest, FailedProbesShowInBackendAndMetrics) {
  CreateThree();
  prober_->SetDown("127.0.0.1:9202");
  Sweep();
  EXPECT_EQ(Body(Call("GET", "/api/v1/backends/b"))["health_status"], "unhealthy");
  const json m = Body(Call("GET", "/api/v1/backends/b/metrics"));
  EXPECT_EQ(m["failed_health_checks"], 1);
  EXPECT_EQ(m["last_probe_detail"], "connect: Connection refused");
}

// --- Strategy and stats -----------------------------------------------------------------------

TEST_F(BackendRoutesTest, GetAndSetStrategy) {
  net::HttpResponse response = Call("GET", "/api/v1/lb/strategy");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Body(response), json({{"strategy", "round_robin"}}));

  response = Call("PUT", "/api/v1/lb/strategy", R"({"strategy":"least_conn"})");
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Body(response), json({{"strategy", "least_conn"}}));
  EXPECT_EQ(lb_->GetStrategy(), LoadBalancingStrategy::kLeastConnections);
  EXPECT_EQ(Body(Call("GET", "/api/v1/lb/strategy")), json({{"strategy", "least_conn"}}));

  for (const char* name :
       {"latency_based", "geo_location", "consistent_hash", "round_robin", "least_conn"}) {
    response = Call("PUT", "/api/v1/lb/strategy", json({{"strategy", name}}).dump());
    EXPECT_EQ(response.status, 200) << name << " -> " << response.body;
    EXPECT_EQ(scaling::ToString(lb_->GetStrategy()), name);
  }
}

TEST_F(BackendRoutesTest, SetStrategyErrors) {
  for (const char* body :
       {"", "{", "[]", "{}", R"({"strategy":"random"})", R"({"strategy":"ROUND_ROBIN"})",
        R"({"strategy":""})", R"({"strategy":3})", R"({"strategy":null})",
        R"({"strategy":"least_conn","sticky":true})", R"({"name":"least_conn"})"}) {
    ExpectError(Call("PUT", "/api/v1/lb/strategy", body), 400, "invalid_argument", body);
  }
  EXPECT_EQ(lb_->GetStrategy(), LoadBalancingStrategy::kRoundRobin);
}

TEST_F(BackendRoutesTest, Stats) {
  const json empty = Body(Call("GET", "/api/v1/lb/stats"));
  EXPECT_EQ(empty, json({{"backends", 0},
                         {"active_backends", 0},
                         {"available_backends", 0},
                         {"panic", false},
                         {"panic_selections", 0},
                         {"no_backend_errors", 0},
                         {"ejections", 0}}));
  // No backend at all: the pick fails and is counted.
  EXPECT_FALSE(lb_->SelectBackend().has_value());

  CreateThree();
  ASSERT_EQ(Call("POST", "/api/v1/backends/c/deactivate").status, 200);
  const json stats = Body(Call("GET", "/api/v1/lb/stats"));
  EXPECT_EQ(stats["backends"], 3);
  EXPECT_EQ(stats["active_backends"], 2);
  EXPECT_EQ(stats["available_backends"], 2);
  EXPECT_EQ(stats["panic"], false);
  EXPECT_EQ(stats["no_backend_errors"], 1);
}

TEST_F(BackendRoutesTest, PanicAndEjectionsInStatsAndMetrics) {
  CreateThree();
  // Three consecutive failed requests eject a; b fails its probe.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(lb_->RecordRequest("a", milliseconds(1), false));
  prober_->SetUp("127.0.0.1:9201", milliseconds(1));
  prober_->SetDown("127.0.0.1:9202");
  prober_->SetUp("127.0.0.1:9203", milliseconds(1));
  Sweep();
  EXPECT_EQ(Body(Call("GET", "/api/v1/backends/a"))["ejected"], true);
  ASSERT_EQ(Call("POST", "/api/v1/backends/c/deactivate").status, 200);
  // a ejected, b unhealthy, c inactive: 0 of 2 active available.
  ASSERT_TRUE(lb_->SelectBackend().has_value());

  const json stats = Body(Call("GET", "/api/v1/lb/stats"));
  EXPECT_EQ(stats["backends"], 3);
  EXPECT_EQ(stats["active_backends"], 2);
  EXPECT_EQ(stats["available_backends"], 0);
  EXPECT_EQ(stats["panic"], true);
  EXPECT_EQ(stats["panic_selections"], 1);
  EXPECT_EQ(stats["ejections"], 1);
  EXPECT_EQ(Body(Call("GET", "/api/v1/backends/a/metrics"))["ejections"], 1);

  const std::vector<std::string> lines = MetricsLines();
  EXPECT_TRUE(HasLine(lines, R"(streamgate_backend_ejected{backend="a",region="eu-west"} 1)"));
  EXPECT_TRUE(
      HasLine(lines, R"(streamgate_backend_ejections_total{backend="a",region="eu-west"} 1)"));
  EXPECT_TRUE(HasLine(lines, R"(streamgate_backend_ejected{backend="b",region="us-east"} 0)"));
  EXPECT_TRUE(HasLine(lines, R"(streamgate_backend_healthy{backend="a",region="eu-west"} 1)"));
  EXPECT_TRUE(HasLine(lines, R"(streamgate_backend_healthy{backend="b",region="us-east"} 0)"));
  EXPECT_TRUE(HasLine(lines, R"(streamgate_backend_active{backend="c",region="eu-west"} 0)"));
  EXPECT_TRUE(HasLine(lines, "streamgate_backends_available 0"));
  EXPECT_TRUE(HasLine(lines, "streamgate_lb_panic 1"));
  EXPECT_TRUE(HasLine(lines, "streamgate_lb_panic_selections_total 1"));
}

// --- Prometheus -------------------------------------------------------------------------------

TEST_F(BackendRoutesTest, MetricsExposition) {
  CreateThree();
  ASSERT_TRUE(lb_->RecordRequest("a", microseconds(800), true));
  ASSERT_TRUE(lb_->RecordRequest("a", milliseconds(20), true));
  ASSERT_TRUE(lb_->RecordRequest("a", milliseconds(20), false));
  ASSERT_TRUE(lb_->RecordRequest("a", milliseconds(7000), true));
  ASSERT_TRUE(lb_->IncrementConnections("a"));
  ASSERT_TRUE(lb_->IncrementConnections("a"));
  prober_->SetUp("127.0.0.1:9201", milliseconds(5));
  Sweep();
  ASSERT_EQ(Call("POST", "/api/v1/backends/b/deactivate").status, 200);

  const std::vector<std::string> lines = MetricsLines();
  const std::string a = R"({backend="a",region="eu-west"})";
  for (const std::string& line : std::vector<std::string>{
           "# TYPE streamgate_backend_requests_total counter",
           "streamgate_backend_requests_total" + a + " 4",
           "# TYPE streamgate_backend_request_errors_total counter",
           "streamgate_backend_request_errors_total" + a + " 1",
           "# TYPE streamgate_backend_active_connections gauge",
           "streamgate_backend_active_connections" + a + " 2",
           "# TYPE streamgate_backend_active gauge",
           "streamgate_backend_active" + a + " 1",
           std::string(R"(streamgate_backend_active{backend="b",region="us-east"} 0)"),
           "# TYPE streamgate_backend_healthy gauge",
           "streamgate_backend_healthy" + a + " 1",
           std::string(R"(streamgate_backend_healthy{backend="c",region="eu-west"} 0)"),
           "# TYPE streamgate_backend_ejected gauge",
           "streamgate_backend_ejected" + a + " 0",
           "# TYPE streamgate_backend_ejections_total counter",
           "streamgate_backend_ejections_total" + a + " 0",
           "# TYPE streamgate_backends gauge",
           std::string("streamgate_backends 3"),
           std::string("streamgate_backends_active 2"),
           std::string("streamgate_backends_available 1"),
           "# TYPE streamgate_lb_panic gauge",
           std::string("streamgate_lb_panic 0"),
           "# TYPE streamgate_lb_panic_selections_total counter",
           std::string("streamgate_lb_panic_selections_total 0"),
           "# TYPE streamgate_lb_no_backend_total counter",
           std::string("streamgate_lb_no_backend_total 0"),
       }) {
    EXPECT_TRUE(HasLine(lines, line)) << line;
  }
}

TEST_F(BackendRoutesTest, LatencyHistogramLines) {
  CreateThree();
  ASSERT_TRUE(lb_->RecordRequest("a", microseconds(800), true));
  ASSERT_TRUE(lb_->RecordRequest("a", milliseconds(20), true));
  ASSERT_TRUE(lb_->RecordRequest("a", milliseconds(20), false));
  ASSERT_TRUE(lb_->RecordRequest("a", milliseconds(7000), true));

  const std::vector<std::string> lines = MetricsLines();
  const std::vector<std::string> expected = {
      "# HELP streamgate_backend_latency_seconds Request latency of the backend.",
      "# TYPE streamgate_backend_latency_seconds histogram",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="0.001"} 1)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="0.0025"} 1)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="0.005"} 1)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="0.01"} 1)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="0.025"} 3)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="0.05"} 3)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="0.1"} 3)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="0.25"} 3)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="0.5"} 3)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="1"} 3)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="2.5"} 3)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="5"} 3)",
      R"(streamgate_backend_latency_seconds_bucket{backend="a",region="eu-west",le="+Inf"} 4)",
      R"(streamgate_backend_latency_seconds_sum{backend="a",region="eu-west"} 7.0408)",
      R"(streamgate_backend_latency_seconds_count{backend="a",region="eu-west"} 4)",
  };
  // One contiguous block for backend a, right after the family's HELP/TYPE.
  const std::size_t start = IndexOf(lines, expected[0]);
  ASSERT_LT(start + expected.size(), lines.size() + 1) << "missing: " << expected[0];
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(lines[start + i], expected[i]);
  }
  // Backends without requests still have every bucket, at zero.
  EXPECT_TRUE(HasLine(
      lines,
      R"(streamgate_backend_latency_seconds_bucket{backend="b",region="us-east",le="+Inf"} 0)"));
  EXPECT_TRUE(
      HasLine(lines, R"(streamgate_backend_latency_seconds_sum{backend="b",region="us-east"} 0)"));
  EXPECT_TRUE(HasLine(
      lines, R"(streamgate_backend_latency_seconds_count{backend="c",region="eu-west"} 0)"));
  // 13 buckets + _sum + _count per backend.
  const auto samples = std::count_if(lines.begin(), lines.end(), [](const std::string& line) {
    return line.starts_with("streamgate_backend_latency_seconds_");
  });
  EXPECT_EQ(samples, 3 * 15);
}

TEST_F(BackendRoutesTest, MetricsFamiliesWithoutBackendsAndExtraCollector) {
  const std::vector<std::string> lines = MetricsLines();
  EXPECT_TRUE(HasLine(lines, "# TYPE streamgate_backend_requests_total counter"));
  EXPECT_TRUE(HasLine(lines, "# TYPE streamgate_backend_latency_seconds histogram"));
  EXPECT_TRUE(HasLine(lines, "streamgate_backends 0"));
  EXPECT_TRUE(HasLine(lines, "streamgate_lb_no_backend_total 0"));
  // Region families still come first; the daemon's collector comes last.
  EXPECT_TRUE(HasLine(lines, "streamgate_regions 0"));
  EXPECT_TRUE(HasLine(lines, "streamgate_proxy_test_total 7"));
  EXPECT_LT(IndexOf(lines, "streamgate_regions 0"), IndexOf(lines, "streamgate_backends 0"));
  EXPECT_LT(IndexOf(lines, "streamgate_backends 0"),
            IndexOf(lines, "streamgate_proxy_test_total 7"));
  EXPECT_EQ(extra_scrapes_, 1);
  (void)MetricsLines();
  EXPECT_EQ(extra_scrapes_, 2);
}

TEST_F(BackendRoutesTest, NoBackendCounterInMetrics) {
  EXPECT_FALSE(lb_->SelectBackend().has_value());
  EXPECT_FALSE(lb_->SelectBackend().has_value());
  EXPECT_TRUE(HasLine(MetricsLines(), "streamgate_lb_no_backend_total 2"));
}

TEST_F(BackendRoutesTest, LabelValuesAreEscaped) {
  Create({{"id", "q"}, {"address", "10.0.0.1"}, {"port", 80}, {"region", "eu\"west\\1"}});
  EXPECT_TRUE(HasLine(MetricsLines(),
                      R"(streamgate_backend_requests_total{backend="q",region="eu\"west\\1"} 0)"));
}

// --- Routing edges ----------------------------------------------------------------------------

TEST_F(BackendRoutesTest, WrongMethodIs405WithAllow) {
  struct Case {
    const char* method;
    const char* target;
    const char* allow;
  };
  for (const Case& c : {
           Case{"DELETE", "/api/v1/backends", "GET, POST"},
           Case{"PUT", "/api/v1/backends/a", "GET"},
           Case{"GET", "/api/v1/backends/a/activate", "POST"},
           Case{"DELETE", "/api/v1/backends/a/deactivate", "POST"},
           Case{"POST", "/api/v1/backends/a/metrics", "GET"},
           Case{"POST", "/api/v1/lb/strategy", "GET, PUT"},
           Case{"PUT", "/api/v1/lb/stats", "GET"},
       }) {
    const net::HttpResponse response = Call(c.method, c.target);
    ExpectError(response, 405, "method_not_allowed", c.target);
    EXPECT_EQ(HeaderOf(response, "Allow"), c.allow) << c.method << " " << c.target;
  }
  ExpectError(Call("GET", "/api/v1/lb"), 404, "not_found");
  ExpectError(Call("GET", "/api/v1/lb/nope"), 404, "not_found");
}

TEST_F(BackendRoutesTest, GarbageNeverCrashesAndAlwaysAnswersJson) {
  CreateThree();
  const std::vector<std::string> bodies = {
      "",
      "{",
      "\xff\xfe",
      R"({"id":"\ud800"})",
      std::string(1, '\0'),
      "[[[[[[[[[[",
      R"({"id":"z","address":"10.0.0.1","port":80,"weight":1e400})",
      R"({"strategy":{"nested":true}})",
      "{\"id\":\"\xc3\x28\"}"};
  for (const char* method : {"GET", "POST", "PUT", "DELETE", "PATCH"}) {
    for (const char* target :
         {"/api/v1/backends", "/api/v1/backends/a", "/api/v1/backends/a/activate",
          "/api/v1/backends/a/deactivate", "/api/v1/backends/a/metrics", "/api/v1/lb/strategy",
          "/api/v1/lb/stats", "/api/v1/backends/%2F", "/api/v1/backends//activate"}) {
      for (const std::string& body : bodies) {
        const net::HttpResponse response = Call(method, target, body);
        EXPECT_GE(response.status, 200) << method << " " << target;
        EXPECT_LT(response.status, 500) << method << " " << target << " " << response.body;
        EXPECT_EQ(response.content_type, "application/json");
      }
    }
  }
}

// --- Without a load balancer ------------------------------------------------------------------

TEST(BackendRoutesUnconfigured, RoutesAnswer404AndMetricsOmitBackends) {
  scaling::HealthCheckOptions options;
  MultiRegionManager manager(options, std::make_shared<FakeProber>());
  const AdminApi api(manager);
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/api/v1/backends"},
           {"POST", "/api/v1/backends"},
           {"GET", "/api/v1/backends/a"},
           {"POST", "/api/v1/backends/a/activate"},
           {"POST", "/api/v1/backends/a/deactivate"},
           {"GET", "/api/v1/backends/a/metrics"},
           {"GET", "/api/v1/lb/strategy"},
           {"PUT", "/api/v1/lb/strategy"},
           {"GET", "/api/v1/lb/stats"},
       }) {
    const net::HttpResponse response =
        api.Handle(MakeRequest(method, target, R"({"strategy":"least_conn"})"));
    ExpectError(response, 404, "not_found", target);
    EXPECT_EQ(Body(response)["error"], "load balancer not configured") << target;
  }
  ExpectError(api.Handle(MakeRequest("DELETE", "/api/v1/backends")), 405, "method_not_allowed");

  const net::HttpResponse metrics = api.Handle(MakeRequest("GET", "/metrics"));
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.body.find("streamgate_backend"), std::string::npos);
  EXPECT_EQ(metrics.body.find("streamgate_lb_"), std::string::npos);
  EXPECT_NE(metrics.body.find("streamgate_regions 0"), std::string::npos);
}

TEST(BackendRoutesUnconfigured, ExtraCollectorWorksWithoutBalancer) {
  scaling::HealthCheckOptions options;
  MultiRegionManager manager(options, std::make_shared<FakeProber>());
  AdminApiOptions api_options;
  api_options.extra_metrics = [](metrics::PrometheusWriter& out) {
    out.Sample("streamgate_proxy_up", {}, 1);
  };
  const AdminApi api(manager, std::move(api_options));
  const net::HttpResponse metrics = api.Handle(MakeRequest("GET", "/metrics"));
  EXPECT_NE(metrics.body.find("\nstreamgate_proxy_up 1\n"), std::string::npos) << metrics.body;
}

}  // namespace
}  // namespace streamgate::admin
