#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proxy/proxy_server.hpp"
#include "proxy_test_support.hpp"

namespace streamgate::proxy {
namespace {

using namespace std::chrono_literals;
using scaling::LoadBalancingStrategy;
using streamgate::testing::HttpConnection;
using test::kHost;
using SteadyClock = std::chrono::steady_clock;

// THE test of the issue: one of three origins dies while keep-alive clients hammer the proxy.
// Retries hide every failure from the clients, outlier detection ejects the dead origin after
// `consecutive_failures` failed attempts, and the dead origin gets no new requests afterwards.
TEST(ProxyServerConcurrencyTest, KillingOneOfThreeOriginsFailsNoClientRequest) {
  auto a = test::StartDemoOrigin("a", 2);
  auto b = test::StartDemoOrigin("b", 2);
  auto c = test::StartDemoOrigin("c", 2);
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin,
                                     {{"a", a->port()}, {"b", b->port()}, {"c", c->port()}},
                                     /*consecutive_failures=*/3);
  ProxyOptions options = test::DefaultProxyOptions(/*threads=*/2);
  options.retries = 1;
  auto proxy = test::StartProxy(*balancer, options);
  ASSERT_NE(proxy, nullptr);
  const std::uint16_t port = proxy->port();

  constexpr int kClients = 8;
  constexpr int kRequestsPerClient = 250;  // 2,000 in all
  std::atomic<int> completed{0};
  std::atomic<int> failed{0};
  std::mutex failures_mu;
  std::vector<std::string> failures;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      std::optional<HttpConnection> connection;
      for (int r = 0; r < kRequestsPerClient; ++r) {
        if (!connection) {
          auto connected = HttpConnection::Connect(kHost, port);
          if (connected) connection.emplace(std::move(*connected));
        }
        std::string problem;
        if (!connection) {
          problem = "connect failed";
        } else if (auto response = connection->Request("GET", "/id"); !response) {
          problem = response.error().ToString();
          connection.reset();
        } else if (response->status != 200) {
          problem = "status " + std::to_string(response->status);
          connection.reset();
        } else if (!response->keep_alive) {
          connection.reset();
        }
        if (!problem.empty()) {
          failed.fetch_add(1);
          std::lock_guard lock(failures_mu);
          failures.push_back(std::move(problem));
        }
        completed.fetch_add(1);
      }
    });
  }

  while (completed.load() < 400) std::this_thread::sleep_for(1ms);
  const auto killed_at = SteadyClock::now();
  b->Stop();
  std::optional<std::chrono::microseconds> time_to_ejection;
  while (SteadyClock::now() - killed_at < 10s) {
    if (test::Metrics(*balancer, "b").ejected) {
      time_to_ejection =
          std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - killed_at);
      break;
    }
    std::this_thread::sleep_for(200us);
  }
  // Attempts already under way when the ejection happened may still finish (and be recorded);
  // after a short grace period the count must not move.
  std::this_thread::sleep_for(100ms);
  const std::uint64_t b_requests_after_ejection = test::Metrics(*balancer, "b").total_requests;
  const int completed_at_snapshot = completed.load();
  for (std::thread& client : clients) client.join();

  const ProxyStats stats = proxy->stats();
  const scaling::BackendMetrics b_metrics = test::Metrics(*balancer, "b");
  std::printf(
      "[kill-test] requests=%d failed=%d retries=%llu time_to_ejection=%.3f ms "
      "b: total=%llu failed=%llu ejected=%d; requests after the snapshot=%d; "
      "stale_pooled=%llu connect_errors=%llu upstream_failures=%llu\n",
      completed.load(), failed.load(), static_cast<unsigned long long>(stats.retries),
      time_to_ejection ? static_cast<double>(time_to_ejection->count()) / 1000.0 : -1.0,
      static_cast<unsigned long long>(b_metrics.total_requests),
      static_cast<unsigned long long>(b_metrics.failed_requests), b_metrics.ejected ? 1 : 0,
      kClients * kRequestsPerClient - completed_at_snapshot,
      static_cast<unsigned long long>(stats.stale_pooled),
      static_cast<unsigned long long>(stats.upstream_connect_errors),
      static_cast<unsigned long long>(stats.upstream_failures));

  EXPECT_EQ(completed.load(), kClients * kRequestsPerClient);
  EXPECT_EQ(failed.load(), 0) << (failures.empty() ? "" : failures.front());
  ASSERT_TRUE(time_to_ejection.has_value()) << "the dead origin was never ejected";
  EXPECT_TRUE(b_metrics.ejected);
  EXPECT_EQ(b_metrics.total_requests, b_requests_after_ejection)
      << "the ejected origin still got requests";
  EXPECT_GE(stats.retries, 1u);
  EXPECT_EQ(stats.status_502 + stats.status_503 + stats.status_504, 0u);
  EXPECT_GT(test::Metrics(*balancer, "a").total_requests, 500u);
  EXPECT_GT(test::Metrics(*balancer, "c").total_requests, 500u);
  EXPECT_LT(kClients * kRequestsPerClient - completed_at_snapshot, 1600)
      << "the kill came too late to mean anything";
}

TEST(ProxyServerConcurrencyTest, LeastConnectionsSendsLessToTheSlowOrigin) {
  auto fast1 = test::StartDemoOrigin("fast1", 2);
  auto fast2 = test::StartDemoOrigin("fast2", 2);
  auto slow = test::StartDemoOrigin("slow", 2);
  slow->SetLatency(100ms);
  auto balancer = test::MakeBalancer(
      LoadBalancingStrategy::kLeastConnections,
      {{"fast1", fast1->port()}, {"fast2", fast2->port()}, {"slow", slow->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);

  std::mutex mu;
  std::map<std::string, int> seen;
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&] {
      auto connection = HttpConnection::Connect(kHost, proxy->port());
      if (!connection) return;
      for (int r = 0; r < 20; ++r) {
        auto response = connection->Request("GET", "/id");
        if (!response) return;
        std::lock_guard lock(mu);
        ++seen[std::string(response->Header("X-Origin-Id").value_or("?"))];
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(seen["fast1"] + seen["fast2"] + seen["slow"], 120);
  EXPECT_LT(seen["slow"], seen["fast1"]);
  EXPECT_LT(seen["slow"], seen["fast2"]);
  EXPECT_LT(seen["slow"], 30) << "fast1=" << seen["fast1"] << " fast2=" << seen["fast2"];
}

TEST(ProxyServerConcurrencyTest, ManyClientsMixedRequestsOnSeveralThreads) {
  auto a = test::StartDemoOrigin("a", 2);
  auto b = test::StartDemoOrigin("b", 2);
  auto balancer =
      test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"a", a->port()}, {"b", b->port()}});
  ProxyOptions options = test::DefaultProxyOptions(/*threads=*/3);
  options.max_idle_upstream_per_backend = 4;  // forces some upstream connections to be dropped
  auto proxy = test::StartProxy(*balancer, options);
  ASSERT_NE(proxy, nullptr);

  constexpr int kClients = 12;
  constexpr int kRequests = 40;
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto connection = HttpConnection::Connect(kHost, proxy->port());
      if (!connection) return;
      for (int r = 0; r < kRequests; ++r) {
        const int size = (i * kRequests + r) % 5 == 0 ? 200'000 : r;
        const bool head = r % 7 == 3;
        auto response =
            connection->Request(head ? "HEAD" : "GET", "/bytes/" + std::to_string(size));
        if (!response || response->status != 200) continue;
        const bool ok = head ? response->body.empty() &&
                                   response->Header("Content-Length") == std::to_string(size)
                             : response->body.size() == static_cast<std::size_t>(size);
        if (ok) good.fetch_add(1);
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(good.load(), kClients * kRequests);
  const ProxyStats stats = proxy->stats();
  EXPECT_EQ(stats.requests, static_cast<std::uint64_t>(kClients * kRequests));
  EXPECT_EQ(stats.responses_2xx, static_cast<std::uint64_t>(kClients * kRequests));
  EXPECT_GT(stats.pool_reuses, stats.upstream_connects);
  EXPECT_EQ(test::Metrics(*balancer, "a").connections, 0u);
  EXPECT_EQ(test::Metrics(*balancer, "b").connections, 0u);
}

TEST(ProxyServerConcurrencyTest, StopWhileRequestsAreInFlight) {
  auto slow = test::StartDemoOrigin("slow", 2);
  slow->SetLatency(300ms);
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"s", slow->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&] {
      auto connection = HttpConnection::Connect(kHost, proxy->port(), 5s);
      if (connection) (void)connection->Request("GET", "/bytes/1000");
    });
  }
  std::this_thread::sleep_for(100ms);
  proxy->Stop();
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(test::Metrics(*balancer, "s").connections, 0u);  // in-flight attempts released
}

}  // namespace
}  // namespace streamgate::proxy
