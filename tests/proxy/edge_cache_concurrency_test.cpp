// The edge cache under concurrent clients on two proxy threads: coalescing hands fills across
// threads, hits share entries while they are evicted. Run under ThreadSanitizer in CI.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "proxy_test_support.hpp"
#include "streamgate/cdn/object_store.hpp"

namespace streamgate::proxy::test {
namespace {

TEST(EdgeCacheConcurrencyTest, ManyClientsOnFewKeysFetchEachKeyRarelyAndAlwaysGetItsBytes) {
  std::mutex mu;
  std::map<std::string, int> origin_requests;
  net::HttpServerOptions origin_options;
  origin_options.threads = 4;
  auto origin = net::HttpServer::Start(origin_options, [&](const net::HttpRequest& request) {
    {
      std::lock_guard lock(mu);
      ++origin_requests[request.target];
    }
    net::HttpResponse response;
    response.content_type = "text/plain";
    response.headers.emplace_back("Cache-Control", "max-age=3600");
    response.body = std::string(2000 + request.target.size(), request.target.back());
    response.delay = std::chrono::milliseconds(20);
    return response;
  });
  ASSERT_TRUE(origin.has_value());

  // Small enough that entries are evicted while clients read them.
  cdn::StoreOptions store_options;
  store_options.capacity_bytes = 64 * 1024;
  store_options.shards = 2;
  cdn::ObjectStore store(store_options);
  auto balancer =
      MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"o", (*origin)->port()}});
  ProxyOptions options = DefaultProxyOptions(2);
  options.cache_store = &store;
  auto proxy = StartProxy(*balancer, options);
  ASSERT_NE(proxy, nullptr);

  constexpr int kClients = 6;
  constexpr int kRequests = 40;
  constexpr int kKeys = 8;
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto connection = testing::HttpConnection::Connect(kHost, proxy->port());
      if (!connection) return;
      for (int i = 0; i < kRequests; ++i) {
        const std::string target = "/k" + std::to_string((c + i) % kKeys);
        auto response = connection->Request("GET", target);
        if (response && response->status == 200 &&
            response->body == std::string(2000 + target.size(), target.back())) {
          ++good;
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(good.load(), kClients * kRequests);
  const ProxyStats stats = proxy->stats();
  EXPECT_GT(stats.cache_hits, 0u);
  std::lock_guard lock(mu);
  int fetches = 0;
  for (const auto& [target, count] : origin_requests) fetches += count;
  EXPECT_LT(fetches, kClients * kRequests / 2);
  EXPECT_LE(store.size_bytes(), store_options.capacity_bytes);
}

}  // namespace
}  // namespace streamgate::proxy::test
