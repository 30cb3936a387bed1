#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "net/demo_origin.hpp"
#include "net/http_server.hpp"
#include "streamgate/health/prober.hpp"
#include "support/manual_clock.hpp"

namespace streamgate {
namespace {

using namespace std::chrono_literals;
using net::HttpRequest;
using net::HttpResponse;
using net::HttpServer;

constexpr const char* kHost = "127.0.0.1";

Endpoint Target(EndpointScheme scheme, std::uint16_t port, std::string path = "",
                std::string host = kHost) {
  return Endpoint{.scheme = scheme, .host = std::move(host), .port = port, .path = std::move(path)};
}

// Answers by path and remembers the request headers it saw.
class ScriptedOrigin {
 public:
  ScriptedOrigin() {
    auto server = HttpServer::Start({}, [this](const HttpRequest& request) {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
      HttpResponse response;
      response.content_type = "text/plain";
      if (request.path == "/healthz") {
        response.body = "ok";
      } else if (request.path == "/down") {
        response.status = 503;
      } else if (request.path == "/moved") {
        response.status = 302;
        response.headers.emplace_back("Location", "/healthz");
      } else if (request.path == "/big") {
        response.body.assign(1 << 20, 'x');
      } else {
        response.status = 404;
      }
      return response;
    });
    EXPECT_TRUE(server.has_value());
    if (server) server_ = std::move(*server);
  }

  std::uint16_t port() const { return server_->port(); }
  void Stop() { server_->Stop(); }
  std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<HttpRequest> requests_;
  std::unique_ptr<HttpServer> server_;
};

// A port that nothing listens on: bound by a server that has since stopped.
std::uint16_t ClosedPort() {
  auto server = HttpServer::Start({}, [](const HttpRequest&) { return HttpResponse{}; });
  EXPECT_TRUE(server.has_value());
  const std::uint16_t port = (*server)->port();
  (*server)->Stop();
  return port;
}

ProbeResult ProbeOne(const Endpoint& target, ProbeOptions options = {}) {
  auto prober = MakeNetworkProber();
  auto results = prober->ProbeAll(std::span<const Endpoint>(&target, 1), options);
  EXPECT_EQ(results.size(), 1u);
  return results.empty() ? ProbeResult{} : results[0];
}

TEST(NetworkProberTest, EmptyTargetListGivesNoResults) {
  auto prober = MakeNetworkProber();
  EXPECT_TRUE(prober->ProbeAll({}, ProbeOptions{}).empty());
}

TEST(NetworkProberTest, HttpUpIsOkWithStatusAndRequestHeaders) {
  ScriptedOrigin origin;
  const ProbeResult result = ProbeOne(Target(EndpointScheme::kHttp, origin.port()));
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.detail, "HTTP 200");
  EXPECT_GT(result.latency, 0us);

  const auto requests = origin.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, "/healthz");
  EXPECT_EQ(requests[0].Header("Host"), "127.0.0.1:" + std::to_string(origin.port()));
  EXPECT_EQ(requests[0].Header("User-Agent"), "streamgate-healthcheck");
  EXPECT_EQ(requests[0].Header("Connection"), "close");
}

TEST(NetworkProberTest, ServiceUnavailableIsNotOk) {
  ScriptedOrigin origin;
  const ProbeResult result = ProbeOne(Target(EndpointScheme::kHttp, origin.port(), "/down"));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.http_status, 503);
  EXPECT_EQ(result.detail, "HTTP 503");
}

TEST(NetworkProberTest, RedirectIsOk) {
  ScriptedOrigin origin;
  const ProbeResult result = ProbeOne(Target(EndpointScheme::kHttp, origin.port(), "/moved"));
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.http_status, 302);
  EXPECT_EQ(result.detail, "HTTP 302");
}

TEST(NetworkProberTest, LargeBodyDoesNotMatter) {
  ScriptedOrigin origin;
  const ProbeResult result = ProbeOne(Target(EndpointScheme::kHttp, origin.port(), "/big"));
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.http_status, 200);
}

TEST(NetworkProberTest, EndpointPathOverridesOptionPath) {
  ScriptedOrigin origin;
  ProbeOptions options;
  options.http_path = "/down";
  const ProbeResult with_path =
      ProbeOne(Target(EndpointScheme::kHttp, origin.port(), "/healthz"), options);
  EXPECT_TRUE(with_path.ok);
  const ProbeResult without_path = ProbeOne(Target(EndpointScheme::kHttp, origin.port()), options);
  EXPECT_FALSE(without_path.ok);
  EXPECT_EQ(without_path.http_status, 503);

  const auto requests = origin.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].path, "/healthz");
  EXPECT_EQ(requests[1].path, "/down");
}

TEST(NetworkProberTest, ClosedPortIsRefused) {
  const ProbeResult result = ProbeOne(Target(EndpointScheme::kHttp, ClosedPort()));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.http_status, 0);
  EXPECT_EQ(result.detail, "connect: Connection refused");
}

TEST(NetworkProberTest, TcpConnectOkAndRefused) {
  ScriptedOrigin origin;
  const ProbeResult up = ProbeOne(Target(EndpointScheme::kTcp, origin.port()));
  EXPECT_TRUE(up.ok);
  EXPECT_EQ(up.http_status, 0);
  EXPECT_TRUE(origin.requests().empty());

  const ProbeResult down = ProbeOne(Target(EndpointScheme::kTcp, ClosedPort()));
  EXPECT_FALSE(down.ok);
  EXPECT_NE(down.detail.find("refused"), std::string::npos) << down.detail;
}

TEST(NetworkProberTest, SlowServerTimesOutNearTheTimeout) {
  net::DemoOriginOptions origin_options;
  origin_options.latency = 5s;
  auto origin = net::DemoOrigin::Start(origin_options);
  ASSERT_TRUE(origin.has_value());

  ProbeOptions options;
  options.timeout = 200ms;
  const auto start = std::chrono::steady_clock::now();
  const ProbeResult result = ProbeOne(Target(EndpointScheme::kHttp, (*origin)->port()), options);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "timeout");
  EXPECT_EQ(result.http_status, 0);
  EXPECT_GE(elapsed, 200ms);
  EXPECT_LT(elapsed, 1500ms);
  EXPECT_GE(result.latency, 200ms);
}

TEST(NetworkProberTest, LatencyComesFromTheInjectedClock) {
  ScriptedOrigin origin;
  testing::ManualClock clock;  // never advances, so every latency is exactly zero
  auto prober = MakeNetworkProber(clock);
  const std::vector<Endpoint> targets = {Target(EndpointScheme::kHttp, origin.port())};
  const auto results = prober->ProbeAll(targets, ProbeOptions{});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok);
  EXPECT_EQ(results[0].latency, 0us);
}

TEST(NetworkProberTest, HostNamesAreResolved) {
  ScriptedOrigin origin;
  const ProbeResult result =
      ProbeOne(Target(EndpointScheme::kHttp, origin.port(), "", "localhost"));
  // localhost may resolve to ::1 first; async_connect falls through to 127.0.0.1.
  EXPECT_TRUE(result.ok) << result.detail;
  const auto requests = origin.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].Header("Host"), "localhost:" + std::to_string(origin.port()));
}

TEST(NetworkProberTest, HttpsAgainstPlainHttpFailsInTls) {
  ScriptedOrigin origin;
  ProbeOptions options;
  options.timeout = 2s;
  const ProbeResult result = ProbeOne(Target(EndpointScheme::kHttps, origin.port()), options);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail.rfind("tls: ", 0), 0u) << result.detail;
}

TEST(NetworkProberTest, HttpsToClosedPortIsRefused) {
  const ProbeResult result = ProbeOne(Target(EndpointScheme::kHttps, ClosedPort()));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "connect: Connection refused");
}

TEST(NetworkProberTest, ResultsFollowTargetOrder) {
  ScriptedOrigin origin;
  const std::uint16_t closed = ClosedPort();
  const std::vector<Endpoint> targets = {
      Target(EndpointScheme::kHttp, origin.port(), "/down"),
      Target(EndpointScheme::kHttp, closed),
      Target(EndpointScheme::kHttp, origin.port(), "/healthz"),
      Target(EndpointScheme::kTcp, origin.port()),
      Target(EndpointScheme::kHttp, origin.port(), "/moved"),
      Target(EndpointScheme::kHttp, origin.port(), "/missing"),
  };
  ProbeOptions options;
  options.max_in_flight = 2;
  auto prober = MakeNetworkProber();
  const auto results = prober->ProbeAll(targets, options);
  ASSERT_EQ(results.size(), targets.size());
  EXPECT_EQ(results[0].detail, "HTTP 503");
  EXPECT_EQ(results[1].detail, "connect: Connection refused");
  EXPECT_EQ(results[2].detail, "HTTP 200");
  EXPECT_TRUE(results[3].ok);
  EXPECT_EQ(results[3].http_status, 0);
  EXPECT_EQ(results[4].detail, "HTTP 302");
  EXPECT_EQ(results[5].detail, "HTTP 404");
  EXPECT_FALSE(results[5].ok);
}

TEST(NetworkProberTest, TimeoutAppliesPerProbeNotPerSweep) {
  // One slow target among fast ones must not drag the fast ones into a timeout.
  net::DemoOriginOptions slow_options;
  slow_options.latency = 5s;
  auto slow = net::DemoOrigin::Start(slow_options);
  ASSERT_TRUE(slow.has_value());
  ScriptedOrigin fast;
  const std::vector<Endpoint> targets = {Target(EndpointScheme::kHttp, (*slow)->port()),
                                         Target(EndpointScheme::kHttp, fast.port())};
  ProbeOptions options;
  options.timeout = 300ms;
  const auto results = MakeNetworkProber()->ProbeAll(targets, options);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].detail, "timeout");
  EXPECT_TRUE(results[1].ok);
  EXPECT_LT(results[1].latency, 300ms);
}

}  // namespace
}  // namespace streamgate
