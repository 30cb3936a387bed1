#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "net/http_server.hpp"
#include "support/http_client.hpp"

namespace streamgate::net {
namespace {

using namespace std::chrono_literals;
using testing::HttpConnection;
using testing::HttpGet;

constexpr const char* kHost = "127.0.0.1";

TEST(HttpServerConcurrencyTest, ManyKeepAliveClientsOnSeveralThreads) {
  std::atomic<int> handled{0};
  HttpServerOptions options;
  options.threads = 4;
  auto server = HttpServer::Start(options, [&handled](const HttpRequest& request) {
    handled.fetch_add(1, std::memory_order_relaxed);
    HttpResponse response;
    response.body = request.path;
    return response;
  });
  ASSERT_TRUE(server.has_value());
  const std::uint16_t port = (*server)->port();

  constexpr int kClients = 16;
  constexpr int kRequestsPerClient = 50;
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto connection = HttpConnection::Connect(kHost, port);
      if (!connection) return;
      for (int r = 0; r < kRequestsPerClient; ++r) {
        const std::string path = "/c" + std::to_string(c) + "/r" + std::to_string(r);
        auto response = connection->Request("GET", path);
        if (response && response->status == 200 && response->body == path) good.fetch_add(1);
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(good.load(), kClients * kRequestsPerClient);
  EXPECT_EQ(handled.load(), kClients * kRequestsPerClient);
}

TEST(HttpServerConcurrencyTest, DelayedResponsesDoNotBlockTheServerThread) {
  // One server thread, eight concurrent 300 ms responses: done in about 300 ms, not 2.4 s.
  HttpServerOptions options;
  options.threads = 1;
  auto server = HttpServer::Start(options, [](const HttpRequest&) {
    HttpResponse response;
    response.delay = 300ms;
    return response;
  });
  ASSERT_TRUE(server.has_value());
  const std::uint16_t port = (*server)->port();

  std::atomic<int> good{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      auto response = HttpGet(kHost, port, "/");
      if (response && response->status == 200) good.fetch_add(1);
    });
  }
  for (std::thread& client : clients) client.join();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(good.load(), 8);
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 1500ms);
}

TEST(HttpServerConcurrencyTest, StopWhileClientsAreBusy) {
  HttpServerOptions options;
  options.threads = 3;
  auto server = HttpServer::Start(options, [](const HttpRequest& request) {
    HttpResponse response;
    response.body = request.path;
    return response;
  });
  ASSERT_TRUE(server.has_value());
  const std::uint16_t port = (*server)->port();

  std::atomic<int> served{0};
  std::atomic<bool> stop_clients{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!stop_clients.load()) {
        auto connection = HttpConnection::Connect(kHost, port, 2s);
        if (!connection) continue;
        for (int r = 0; r < 20; ++r) {
          if (!connection->Request("GET", "/x")) break;
          served.fetch_add(1);
        }
      }
    });
  }
  // Wait until traffic is flowing, then stop underneath the clients.
  while (served.load() < 200) std::this_thread::yield();
  (*server)->Stop();
  stop_clients.store(true);
  for (std::thread& client : clients) client.join();
  EXPECT_FALSE(HttpGet(kHost, port, "/").has_value());
}

}  // namespace
}  // namespace streamgate::net
