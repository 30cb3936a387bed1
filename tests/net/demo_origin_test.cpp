#include "net/demo_origin.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "support/http_client.hpp"

namespace streamgate::net {
namespace {

using namespace std::chrono_literals;
using testing::HttpConnection;
using testing::HttpGet;
using testing::HttpRequestBlocking;

constexpr const char* kHost = "127.0.0.1";

std::unique_ptr<DemoOrigin> StartOrigin(DemoOriginOptions options = {}) {
  auto origin = DemoOrigin::Start(std::move(options));
  EXPECT_TRUE(origin.has_value()) << origin.error().ToString();
  return origin ? std::move(*origin) : nullptr;
}

TEST(DemoOriginTest, HealthzAnswersOkAndFollowsSetHealthy) {
  DemoOriginOptions options;
  options.id = "eu-1";
  auto origin = StartOrigin(options);
  ASSERT_NE(origin, nullptr);
  auto healthy = HttpGet(kHost, origin->port(), "/healthz");
  ASSERT_TRUE(healthy.has_value());
  EXPECT_EQ(healthy->status, 200);
  EXPECT_EQ(healthy->body, "ok");
  EXPECT_EQ(healthy->Header("X-Origin-Id"), "eu-1");

  origin->SetHealthy(false);
  auto unhealthy = HttpGet(kHost, origin->port(), "/healthz");
  ASSERT_TRUE(unhealthy.has_value());
  EXPECT_EQ(unhealthy->status, 503);
  EXPECT_EQ(unhealthy->Header("X-Origin-Id"), "eu-1");
  // Other routes keep working while unhealthy.
  auto id = HttpGet(kHost, origin->port(), "/id");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->status, 200);

  origin->SetHealthy(true);
  auto back = HttpGet(kHost, origin->port(), "/healthz");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->status, 200);
}

TEST(DemoOriginTest, IdRouteReturnsId) {
  DemoOriginOptions options;
  options.id = "us-east-7";
  auto origin = StartOrigin(options);
  ASSERT_NE(origin, nullptr);
  EXPECT_EQ(origin->id(), "us-east-7");
  auto response = HttpGet(kHost, origin->port(), "/id");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "us-east-7");
  EXPECT_EQ(response->Header("X-Origin-Id"), "us-east-7");
}

TEST(DemoOriginTest, BytesRouteReturnsExactSize) {
  auto origin = StartOrigin();
  ASSERT_NE(origin, nullptr);
  auto connection = HttpConnection::Connect(kHost, origin->port());
  ASSERT_TRUE(connection.has_value());
  for (std::size_t size :
       {std::size_t{0}, std::size_t{1}, std::size_t{1000}, std::size_t{3 * 1024 * 1024}}) {
    auto response = connection->Request("GET", "/bytes/" + std::to_string(size));
    ASSERT_TRUE(response.has_value()) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body.size(), size);
    EXPECT_EQ(response->Header("Content-Type"), "application/octet-stream");
    EXPECT_EQ(response->Header("Content-Length"), std::to_string(size));
    EXPECT_EQ(response->Header("X-Origin-Id"), "origin");
  }
}

TEST(DemoOriginTest, BytesRouteRejectsBadCounts) {
  auto origin = StartOrigin();
  ASSERT_NE(origin, nullptr);
  for (const char* target : {"/bytes/abc", "/bytes/", "/bytes/-1", "/bytes/1x", "/bytes/67108865",
                             "/bytes/99999999999999999999999"}) {
    auto response = HttpGet(kHost, origin->port(), target);
    ASSERT_TRUE(response.has_value()) << target;
    EXPECT_EQ(response->status, 400) << target;
    EXPECT_EQ(response->Header("X-Origin-Id"), "origin");
  }
}

TEST(DemoOriginTest, BytesRouteAcceptsTheMaximum) {
  auto origin = StartOrigin();
  ASSERT_NE(origin, nullptr);
  // HEAD checks the advertised size without pulling 64 MiB through the test client.
  auto response = HttpRequestBlocking("HEAD", kHost, origin->port(), "/bytes/67108864");
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Content-Length"), std::to_string(DemoOrigin::kMaxBytes));
  EXPECT_TRUE(response->body.empty());
}

TEST(DemoOriginTest, UnknownRoutesAre404WithOriginId) {
  auto origin = StartOrigin();
  ASSERT_NE(origin, nullptr);
  auto response = HttpGet(kHost, origin->port(), "/nope");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->Header("X-Origin-Id"), "origin");
}

TEST(DemoOriginTest, NonGetMethodsAreRejected) {
  auto origin = StartOrigin();
  ASSERT_NE(origin, nullptr);
  auto response = HttpRequestBlocking("POST", kHost, origin->port(), "/id", "x");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 405);
}

TEST(DemoOriginTest, LatencyIsAppliedAndAdjustable) {
  DemoOriginOptions options;
  options.latency = 250ms;
  auto origin = StartOrigin(options);
  ASSERT_NE(origin, nullptr);

  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(HttpGet(kHost, origin->port(), "/id").has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);

  origin->SetLatency(0ms);
  start = std::chrono::steady_clock::now();
  ASSERT_TRUE(HttpGet(kHost, origin->port(), "/id").has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 250ms);
}

TEST(DemoOriginTest, LatencyQueryParameterOverridesPerRequest) {
  auto origin = StartOrigin();
  ASSERT_NE(origin, nullptr);
  const auto start = std::chrono::steady_clock::now();
  auto response = HttpGet(kHost, origin->port(), "/healthz?latency_ms=200");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
}

TEST(DemoOriginTest, LatencyDurationQueryParameterOverridesPerRequest) {
  DemoOriginOptions options;
  options.latency = 5s;
  auto origin = StartOrigin(options);
  ASSERT_NE(origin, nullptr);
  auto start = std::chrono::steady_clock::now();
  auto response = HttpGet(kHost, origin->port(), "/id?latency=200ms");
  ASSERT_TRUE(response.has_value());
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 200ms);
  EXPECT_LT(elapsed, 5s);

  start = std::chrono::steady_clock::now();
  ASSERT_TRUE(HttpGet(kHost, origin->port(), "/id?latency=0s").has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(DemoOriginTest, CacheControlFromOptionsAndQuery) {
  auto plain = StartOrigin();
  ASSERT_NE(plain, nullptr);
  auto none = HttpGet(kHost, plain->port(), "/id");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->Header("Cache-Control"), std::nullopt);
  auto per_request = HttpGet(kHost, plain->port(), "/id?max_age=30");
  ASSERT_TRUE(per_request.has_value());
  EXPECT_EQ(per_request->Header("Cache-Control"), "public, max-age=30");

  DemoOriginOptions options;
  options.cache_max_age = std::chrono::seconds(60);
  auto cached = StartOrigin(options);
  ASSERT_NE(cached, nullptr);
  auto from_options = HttpGet(kHost, cached->port(), "/bytes/10");
  ASSERT_TRUE(from_options.has_value());
  EXPECT_EQ(from_options->Header("Cache-Control"), "public, max-age=60");
  auto overridden = HttpGet(kHost, cached->port(), "/bytes/10?max_age=5");
  ASSERT_TRUE(overridden.has_value());
  EXPECT_EQ(overridden->Header("Cache-Control"), "public, max-age=5");
}

TEST(DemoOriginTest, StopClosesAndIsIdempotent) {
  auto origin = StartOrigin();
  ASSERT_NE(origin, nullptr);
  const std::uint16_t port = origin->port();
  auto connection = HttpConnection::Connect(kHost, port);
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection->Request("GET", "/id").has_value());
  origin->Stop();
  EXPECT_TRUE(connection->WaitForClose());
  EXPECT_FALSE(HttpGet(kHost, port, "/id").has_value());
  origin->Stop();
}

TEST(DemoOriginTest, StartFailsOnTakenPort) {
  auto first = StartOrigin();
  ASSERT_NE(first, nullptr);
  DemoOriginOptions options;
  options.port = first->port();
  EXPECT_FALSE(DemoOrigin::Start(options).has_value());
}

}  // namespace
}  // namespace streamgate::net
