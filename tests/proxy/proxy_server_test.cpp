#include "proxy/proxy_server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy_test_support.hpp"

namespace streamgate::proxy {
namespace {

using namespace std::chrono_literals;
using scaling::LoadBalancingStrategy;
using streamgate::testing::HttpConnection;
using streamgate::testing::HttpGet;
using streamgate::testing::HttpRequestBlocking;
using test::BackendSpec;
using test::kHost;
using tcp = boost::asio::ip::tcp;

TEST(ProxyServerTest, RejectsInvalidOptions) {
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {});
  ProxyOptions no_listener;
  EXPECT_FALSE(ProxyServer::Start(no_listener, *balancer).has_value());
  ProxyOptions bad_host = test::DefaultProxyOptions();
  bad_host.listeners[0].host = "not an address";
  EXPECT_FALSE(ProxyServer::Start(bad_host, *balancer).has_value());
  ProxyOptions bad_trust = test::DefaultProxyOptions();
  bad_trust.trusted_proxies = {"10.0.0.0/99"};
  EXPECT_FALSE(ProxyServer::Start(bad_trust, *balancer).has_value());
}

TEST(ProxyServerTest, ListenersShareThePortAcrossThreads) {
  auto origin = test::StartDemoOrigin("a");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"a", origin->port()}});
  ProxyOptions options = test::DefaultProxyOptions(/*threads=*/3);
  options.listeners.push_back(ListenerOptions{.name = "second"});
  auto proxy = test::StartProxy(*balancer, options);
  ASSERT_NE(proxy, nullptr);
  ASSERT_NE(proxy->port(0), 0);
  ASSERT_NE(proxy->port(1), 0);
  EXPECT_NE(proxy->port(0), proxy->port(1));
  EXPECT_EQ(proxy->port(2), 0);
  // Many fresh connections land on several acceptors of the same port; every one is served.
  for (int i = 0; i < 20; ++i) {
    auto response = HttpGet(kHost, proxy->port(i % 2), "/id");
    ASSERT_TRUE(response.has_value()) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "a");
  }
  EXPECT_EQ(proxy->stats().requests, 20u);
  EXPECT_EQ(proxy->stats().responses_2xx, 20u);
}

TEST(ProxyServerTest, ForwardsAndRewritesRequestHeaders) {
  auto origin = test::StartEchoOrigin();
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"e", origin->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);

  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  auto response = connection->Request("GET", "/path?q=1", {},
                                      {{"Host", "example.test"},
                                       {"Connection", "keep-alive, X-Drop-Me"},
                                       {"X-Drop-Me", "secret"},
                                       {"Keep-Alive", "timeout=5"},
                                       {"TE", "trailers"},
                                       {"Proxy-Authorization", "Basic Zm9v"},
                                       {"Proxy-Connection", "keep-alive"},
                                       {"Upgrade", "websocket"},
                                       {"X-Forwarded-For", "6.6.6.6"},
                                       {"Via", "1.0 other"},
                                       {"X-Keep", "yes"}});
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  const std::string& seen = response->body;
  EXPECT_TRUE(seen.starts_with("GET /path?q=1\n")) << seen;
  EXPECT_EQ(test::EchoedHeader(seen, "Host"), "example.test");
  EXPECT_EQ(test::EchoedHeader(seen, "X-Keep"), "yes");
  for (const char* dropped : {"Connection", "X-Drop-Me", "Keep-Alive", "TE", "Proxy-Authorization",
                              "Proxy-Connection", "Upgrade", "Transfer-Encoding"}) {
    EXPECT_EQ(test::EchoedHeader(seen, dropped), "<absent>") << dropped;
  }
  // The peer is not trusted: its X-Forwarded-For is replaced, not extended.
  EXPECT_EQ(test::EchoedHeader(seen, "X-Forwarded-For"), "127.0.0.1");
  EXPECT_EQ(test::EchoedHeader(seen, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(test::EchoedHeader(seen, "Via"), "1.0 other, 1.1 streamgate");
  // Response side: Via added, the origin's own headers kept, keep-alive towards the client.
  EXPECT_EQ(response->Header("Via"), "1.1 streamgate");
  EXPECT_EQ(response->Header("X-Origin-Id"), "echo");
  EXPECT_TRUE(response->keep_alive);
}

TEST(ProxyServerTest, TrustedPeerExtendsForwardedFor) {
  auto origin = test::StartEchoOrigin();
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"e", origin->port()}});
  ProxyOptions options = test::DefaultProxyOptions();
  options.trusted_proxies = {"127.0.0.0/8"};
  auto proxy = test::StartProxy(*balancer, options);
  ASSERT_NE(proxy, nullptr);
  auto response =
      HttpRequestBlocking("GET", kHost, proxy->port(), "/", {},
                          {{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-For", "10.1.1.1"}});
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(test::EchoedHeader(response->body, "X-Forwarded-For"),
            "203.0.113.9, 10.1.1.1, 127.0.0.1");
}

TEST(ProxyServerTest, StripsHopByHopResponseHeaders) {
  test::RawOrigin origin([](tcp::socket& socket) {
    std::string leftover;
    if (test::RawOrigin::ReadHeader(socket, leftover).empty()) return;
    test::RawOrigin::Write(socket,
                           "HTTP/1.1 200 OK\r\n"
                           "Connection: X-Secret, close\r\n"
                           "X-Secret: 1\r\n"
                           "Keep-Alive: timeout=5\r\n"
                           "Proxy-Authenticate: Basic\r\n"
                           "Upgrade: h2c\r\n"
                           "Trailer: X-Checksum\r\n"
                           "X-Visible: 2\r\n"
                           "Content-Length: 2\r\n\r\nok");
  });
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"raw", origin.port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  auto response = connection->Request("GET", "/");
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->body, "ok");
  EXPECT_EQ(response->Header("X-Visible"), "2");
  for (const char* dropped :
       {"X-Secret", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Trailer", "Connection"}) {
    EXPECT_FALSE(response->Header(dropped).has_value()) << dropped;
  }
  // The upstream's "close" is its own business; the client connection stays open.
  EXPECT_TRUE(response->keep_alive);
  auto again = connection->Request("GET", "/");
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(again->body, "ok");
  EXPECT_EQ(origin.connections(), 2);
}

TEST(ProxyServerTest, ReusesPooledUpstreamConnections) {
  auto origin = test::StartDemoOrigin("a");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"a", origin->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  for (int i = 0; i < 10; ++i) {
    auto response = connection->Request("GET", "/id");
    ASSERT_TRUE(response.has_value()) << response.error().ToString();
    EXPECT_EQ(response->body, "a");
  }
  const ProxyStats stats = proxy->stats();
  EXPECT_EQ(stats.upstream_connects, 1u);
  EXPECT_EQ(stats.pool_reuses, 9u);
  EXPECT_EQ(stats.requests, 10u);
  EXPECT_EQ(stats.connections_accepted, 1u);
  EXPECT_EQ(stats.connections_active, 1u);
  const scaling::BackendMetrics metrics = test::Metrics(*balancer, "a");
  EXPECT_EQ(metrics.total_requests, 10u);
  EXPECT_EQ(metrics.failed_requests, 0u);
  EXPECT_EQ(metrics.connections, 0u);
}

TEST(ProxyServerTest, StalePooledConnectionIsRetriedWithoutBlamingTheBackend) {
  // Each upstream connection serves one response and then closes (without saying so), like a
  // backend whose keep-alive timeout expired.
  test::RawOrigin origin([](tcp::socket& socket) {
    std::string leftover;
    if (test::RawOrigin::ReadHeader(socket, leftover).empty()) return;
    test::RawOrigin::Write(socket, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"raw", origin.port()}});
  auto proxy = test::StartProxy(*balancer, test::DefaultProxyOptions(1));
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  for (int i = 0; i < 5; ++i) {
    auto response = connection->Request("GET", "/");
    ASSERT_TRUE(response.has_value()) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
    std::this_thread::sleep_for(20ms);  // lets the origin's close arrive
  }
  EXPECT_EQ(test::Metrics(*balancer, "raw").failed_requests, 0u);
  EXPECT_EQ(proxy->stats().upstream_connects, 5u);
  EXPECT_GE(proxy->stats().stale_pooled, 4u);
  EXPECT_EQ(proxy->stats().status_502, 0u);
}

TEST(ProxyServerTest, RoundRobinSpreadsOverThreeOrigins) {
  auto a = test::StartDemoOrigin("a");
  auto b = test::StartDemoOrigin("b");
  auto c = test::StartDemoOrigin("c");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin,
                                     {{"a", a->port()}, {"b", b->port()}, {"c", c->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    auto response = connection->Request("GET", "/id");
    ASSERT_TRUE(response.has_value());
    ++seen[std::string(response->Header("X-Origin-Id").value_or("?"))];
  }
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& [id, count] : seen) {
    EXPECT_GE(count, 8) << id;
    EXPECT_LE(count, 12) << id;
  }
}

TEST(ProxyServerTest, LatencyBasedSendsLessToTheSlowOrigin) {
  auto fast1 = test::StartDemoOrigin("fast1");
  auto fast2 = test::StartDemoOrigin("fast2");
  auto slow = test::StartDemoOrigin("slow");
  slow->SetLatency(60ms);
  auto balancer = test::MakeBalancer(
      LoadBalancingStrategy::kLatencyBased,
      {{"fast1", fast1->port()}, {"fast2", fast2->port()}, {"slow", slow->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  std::map<std::string, int> seen;
  for (int i = 0; i < 60; ++i) {
    auto response = connection->Request("GET", "/id");
    ASSERT_TRUE(response.has_value());
    ++seen[std::string(response->Header("X-Origin-Id").value_or("?"))];
  }
  EXPECT_LT(seen["slow"], 10) << "fast1=" << seen["fast1"] << " fast2=" << seen["fast2"];
  EXPECT_EQ(seen["fast1"] + seen["fast2"] + seen["slow"], 60);
}

TEST(ProxyServerTest, ConsistentHashKeepsAPathOnOneOrigin) {
  auto a = test::StartDemoOrigin("a");
  auto b = test::StartDemoOrigin("b");
  auto c = test::StartDemoOrigin("c");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kConsistentHash,
                                     {{"a", a->port()}, {"b", b->port()}, {"c", c->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  std::map<std::string, std::string> owner;  // path -> origin
  std::map<std::string, int> per_origin;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 30; ++i) {
      // The key is the path without the query, so vary the path itself.
      const std::string target = "/id/" + std::to_string(i);
      auto response = connection->Request("GET", target);
      ASSERT_TRUE(response.has_value());
      const std::string id(response->Header("X-Origin-Id").value_or("?"));
      if (round == 0) {
        owner[target] = id;
        ++per_origin[id];
      } else {
        EXPECT_EQ(owner[target], id) << target;
      }
    }
  }
  EXPECT_GE(per_origin.size(), 2u);  // 30 keys do not all hash to one of three origins
}

TEST(ProxyServerTest, NoBackendGives503) {
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  auto response = connection->Request("GET", "/");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 503);
  EXPECT_FALSE(response->keep_alive);
  EXPECT_EQ(response->Header("Content-Type"), "text/plain");
  EXPECT_FALSE(response->body.empty());
  EXPECT_TRUE(connection->WaitForClose());
  EXPECT_EQ(proxy->stats().status_503, 1u);
  EXPECT_EQ(proxy->stats().responses_5xx, 1u);
}

TEST(ProxyServerTest, AllBackendsRefusingGives502AfterRetry) {
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin,
                                     {{"dead1", test::DeadPort()}, {"dead2", test::DeadPort()}},
                                     /*consecutive_failures=*/100);
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto response = HttpGet(kHost, proxy->port(), "/");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 502);
  const ProxyStats stats = proxy->stats();
  EXPECT_EQ(stats.retries, 1u);
  EXPECT_EQ(stats.upstream_connect_errors, 2u);
  EXPECT_EQ(stats.status_502, 1u);
  EXPECT_EQ(test::Metrics(*balancer, "dead1").failed_requests, 1u);
  EXPECT_EQ(test::Metrics(*balancer, "dead2").failed_requests, 1u);
  EXPECT_EQ(test::Metrics(*balancer, "dead1").connections, 0u);
}

TEST(ProxyServerTest, RetriesOnAnotherBackendWhenOneIsDead) {
  auto live = test::StartDemoOrigin("live");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin,
                                     {{"dead", test::DeadPort()}, {"live", live->port()}},
                                     /*consecutive_failures=*/100);
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  for (int i = 0; i < 6; ++i) {
    auto response = HttpGet(kHost, proxy->port(), "/id");
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "live");
  }
  // At least every other first pick was the dead one; each of those was retried once.
  EXPECT_GE(proxy->stats().retries, 3u);
  EXPECT_EQ(test::Metrics(*balancer, "dead").failed_requests, proxy->stats().retries);
  EXPECT_EQ(test::Metrics(*balancer, "live").total_requests, 6u);
}

TEST(ProxyServerTest, OnlyReplayableRequestsAreRetriedAfterAReset) {
  // Accepts, reads the request header and closes without answering.
  test::RawOrigin swallow([](tcp::socket& socket) {
    std::string leftover;
    (void)test::RawOrigin::ReadHeader(socket, leftover);
  });
  // One backend: PickOther has no other choice, so a retry goes to the same one again.
  auto balancer =
      test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"swallow", swallow.port()}},
                         /*consecutive_failures=*/100);
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);

  auto get = HttpGet(kHost, proxy->port(), "/");  // idempotent: retried once
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 502);
  EXPECT_EQ(proxy->stats().retries, 1u);

  auto post = HttpRequestBlocking("POST", kHost, proxy->port(), "/", "x");  // never replayed
  ASSERT_TRUE(post.has_value());
  EXPECT_EQ(post->status, 502);
  auto put = HttpRequestBlocking("PUT", kHost, proxy->port(), "/", "x");  // body consumed
  ASSERT_TRUE(put.has_value());
  EXPECT_EQ(put->status, 502);
  EXPECT_EQ(proxy->stats().retries, 1u);
  EXPECT_EQ(swallow.connections(), 4);
  EXPECT_EQ(test::Metrics(*balancer, "swallow").failed_requests, 4u);
}

TEST(ProxyServerTest, UpstreamTimeoutGives504) {
  auto slow = test::StartDemoOrigin("slow");
  slow->SetLatency(2s);
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"slow", slow->port()}},
                                     /*consecutive_failures=*/100);
  ProxyOptions options = test::DefaultProxyOptions();
  options.upstream_timeout = 200ms;
  auto proxy = test::StartProxy(*balancer, options);
  ASSERT_NE(proxy, nullptr);
  const auto start = std::chrono::steady_clock::now();
  auto response = HttpGet(kHost, proxy->port(), "/id");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 504);
  EXPECT_LT(elapsed, 1500ms);
  EXPECT_EQ(proxy->stats().status_504, 1u);
  EXPECT_EQ(proxy->stats().retries, 0u);  // the backend may be working on it: no replay
  EXPECT_EQ(test::Metrics(*balancer, "slow").failed_requests, 1u);
}

TEST(ProxyServerTest, UpstreamDyingMidBodyCutsTheClientConnection) {
  test::RawOrigin origin([](tcp::socket& socket) {
    std::string leftover;
    if (test::RawOrigin::ReadHeader(socket, leftover).empty()) return;
    test::RawOrigin::Write(socket, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
    test::RawOrigin::Write(socket, std::string(1000, 'z'));
    // Returning closes the connection 99,000 bytes short.
  });
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"raw", origin.port()}},
                                     /*consecutive_failures=*/100);
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  auto response = connection->Request("GET", "/");
  EXPECT_FALSE(response.has_value()) << "a short body passed off as complete";
  EXPECT_EQ(proxy->stats().incomplete_responses, 1u);
  EXPECT_EQ(test::Metrics(*balancer, "raw").failed_requests, 1u);
}

TEST(ProxyServerTest, UpstreamDyingMidChunkedBodyOmitsTheFinalChunk) {
  test::RawOrigin origin([](tcp::socket& socket) {
    std::string leftover;
    if (test::RawOrigin::ReadHeader(socket, leftover).empty()) return;
    test::RawOrigin::Write(socket,
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  });
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"raw", origin.port()}},
                                     /*consecutive_failures=*/100);
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  auto response = connection->Request("GET", "/");
  EXPECT_FALSE(response.has_value());
}

TEST(ProxyServerTest, LargeContentLengthBodyStreamsThrough) {
  auto origin = test::StartDemoOrigin("big");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"big", origin->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  constexpr std::size_t kSize =
      test::kSanitized ? 16 * 1024 * 1024 : net::DemoOrigin::kMaxBytes;  // 64 MiB
  auto response = HttpRequestBlocking("GET", kHost, proxy->port(),
                                      "/bytes/" + std::to_string(kSize), {}, {}, 60s);
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Content-Length"), std::to_string(kSize));
  ASSERT_EQ(response->body.size(), kSize);
  EXPECT_EQ(std::count(response->body.begin(), response->body.end(), 'x'),
            static_cast<std::ptrdiff_t>(kSize));
}

// Streams `chunks` chunks of 64 KiB ('a'..'z' cycling) as a chunked response, never holding
// more than one chunk.
test::RawOrigin::Script ChunkedStreamer(int chunks) {
  return [chunks](tcp::socket& socket) {
    std::string leftover;
    while (!test::RawOrigin::ReadHeader(socket, leftover).empty()) {
      if (!test::RawOrigin::Write(socket,
                                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) {
        return;
      }
      // One write per chunk, framing included: small separate writes would meet Nagle.
      std::string chunk = "10000\r\n" + std::string(64 * 1024, 'a') + "\r\n";
      for (int i = 0; i < chunks; ++i) {
        std::fill(chunk.begin() + 7, chunk.end() - 2, static_cast<char>('a' + i % 26));
        if (!test::RawOrigin::Write(socket, chunk)) return;
      }
      if (!test::RawOrigin::Write(socket, "0\r\n\r\n")) return;
    }
  };
}

TEST(ProxyServerTest, LargeChunkedBodyStreamsThroughToHttp11AndHttp10Clients) {
  constexpr int kChunks = test::kSanitized ? 32 : 256;  // 2 or 16 MiB
  test::RawOrigin origin(ChunkedStreamer(kChunks));
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"raw", origin.port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);

  auto check_body = [&](const std::string& body) {
    ASSERT_EQ(body.size(), static_cast<std::size_t>(kChunks) * 64 * 1024);
    for (int i = 0; i < kChunks; ++i) {
      ASSERT_EQ(body[static_cast<std::size_t>(i) * 64 * 1024], 'a' + i % 26) << i;
    }
  };
  auto connection = HttpConnection::Connect(kHost, proxy->port(), 60s);
  ASSERT_TRUE(connection.has_value());
  auto response = connection->Request("GET", "/");
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->Header("Transfer-Encoding"), "chunked");
  check_body(response->body);
  EXPECT_TRUE(response->keep_alive);

  // HTTP/1.0 has no chunks: the body ends when the connection closes.
  auto old = HttpConnection::Connect(kHost, proxy->port(), 60s);
  ASSERT_TRUE(old.has_value());
  ASSERT_TRUE(old->WriteRaw("GET / HTTP/1.0\r\n\r\n").has_value());
  auto old_response = old->ReadResponse();
  ASSERT_TRUE(old_response.has_value()) << old_response.error().ToString();
  EXPECT_FALSE(old_response->Header("Transfer-Encoding").has_value());
  EXPECT_FALSE(old_response->keep_alive);
  check_body(old_response->body);
}

// Resident set size of this process in KiB (Linux), 0 if unknown.
std::size_t ResidentKiB() {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  if (status == nullptr) return 0;
  char line[256];
  std::size_t kib = 0;
  while (std::fgets(line, sizeof(line), status) != nullptr) {
    if (std::sscanf(line, "VmRSS: %zu kB", &kib) == 1) break;
  }
  std::fclose(status);
  return kib;
}

TEST(ProxyServerTest, HugeBodyStreamsWithBoundedMemory) {
  // Origin and client both stream (neither holds the body), so the process's memory growth is
  // the proxy's; 128 MiB passes through while the proxy keeps one 32 KiB relay buffer.
  constexpr int kChunks = test::kSanitized ? 64 : 2048;  // x 64 KiB = 4 or 128 MiB
  test::RawOrigin origin(ChunkedStreamer(kChunks));
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"raw", origin.port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);

  boost::asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(boost::asio::ip::make_address(kHost), proxy->port()));
  // HTTP/1.0: the body comes unframed and ends with the connection, so counting is trivial.
  ASSERT_TRUE(test::RawOrigin::Write(socket, "GET /huge HTTP/1.0\r\n\r\n"));
  const std::size_t baseline = ResidentKiB();
  std::size_t peak = baseline;
  std::string received;
  std::size_t body_bytes = 0;
  bool in_body = false;
  std::vector<char> buf(256 * 1024);
  for (std::size_t reads = 0;; ++reads) {
    boost::system::error_code ec;
    const std::size_t n = socket.read_some(boost::asio::buffer(buf), ec);
    if (ec) break;
    if (in_body) {
      body_bytes += n;
    } else {
      received.append(buf.data(), n);
      if (const std::size_t end = received.find("\r\n\r\n"); end != std::string::npos) {
        in_body = true;
        body_bytes = received.size() - end - 4;
        received.resize(end);
      }
    }
    if (reads % 64 == 0) peak = std::max(peak, ResidentKiB());
  }
  EXPECT_TRUE(received.starts_with("HTTP/1.0 200")) << received;
  EXPECT_EQ(body_bytes, static_cast<std::size_t>(kChunks) * 64 * 1024);
  std::printf("[huge-body] %d MiB streamed; RSS grew by %zu KiB\n", kChunks / 16, peak - baseline);
  if (!test::kSanitized) {  // ASan's quarantine keeps freed memory resident
    EXPECT_LT(peak - baseline, 16u * 1024) << "memory grew with the body size";
  }
}

TEST(ProxyServerTest, RequestBodiesStreamThroughWithLengthOrChunks) {
  auto origin = test::StartEchoOrigin();
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"e", origin->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());

  const std::string body(8 * 1024 * 1024, 'y');
  auto response = connection->Request("POST", "/upload", body);
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(test::EchoedHeader(response->body, "body-bytes"), std::to_string(body.size()));
  EXPECT_EQ(test::EchoedHeader(response->body, "body-y"), std::to_string(body.size()));
  EXPECT_EQ(test::EchoedHeader(response->body, "Content-Length"), std::to_string(body.size()));

  // Chunked from the client, re-framed as chunked towards the origin, on the same connection.
  ASSERT_TRUE(connection
                  ->WriteRaw("PUT /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nyyy\r\n4\r\nyyyy\r\n0\r\n\r\n")
                  .has_value());
  auto chunked = connection->ReadResponse();
  ASSERT_TRUE(chunked.has_value()) << chunked.error().ToString();
  EXPECT_TRUE(chunked->body.starts_with("PUT /chunks\n")) << chunked->body;
  EXPECT_EQ(test::EchoedHeader(chunked->body, "body-bytes"), "7");
  EXPECT_EQ(test::EchoedHeader(chunked->body, "Transfer-Encoding"), "chunked");
}

TEST(ProxyServerTest, ExpectContinueIsAnsweredBeforeTheBody) {
  auto origin = test::StartEchoOrigin();
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"e", origin->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection
                  ->WriteRaw("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                             "Expect: 100-continue\r\n\r\n")
                  .has_value());
  auto interim = connection->ReadResponse();
  ASSERT_TRUE(interim.has_value()) << interim.error().ToString();
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(connection->WriteRaw("yyyy").has_value());
  auto response = connection->ReadResponse();
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(test::EchoedHeader(response->body, "body-bytes"), "4");
  EXPECT_EQ(test::EchoedHeader(response->body, "Expect"), "<absent>");
}

TEST(ProxyServerTest, HeadAnd204And304HaveNoBody) {
  auto demo = test::StartDemoOrigin("d");
  auto echo = test::StartEchoOrigin();
  auto demo_balancer =
      test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"d", demo->port()}});
  auto echo_balancer =
      test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"e", echo->port()}});
  auto demo_proxy = test::StartProxy(*demo_balancer);
  auto echo_proxy = test::StartProxy(*echo_balancer);
  ASSERT_NE(demo_proxy, nullptr);
  ASSERT_NE(echo_proxy, nullptr);

  auto connection = HttpConnection::Connect(kHost, demo_proxy->port());
  ASSERT_TRUE(connection.has_value());
  auto head = connection->Request("HEAD", "/bytes/1000");
  ASSERT_TRUE(head.has_value()) << head.error().ToString();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("Content-Length"), "1000");
  EXPECT_TRUE(head->body.empty());
  auto after_head = connection->Request("GET", "/id");  // the stream is still in sync
  ASSERT_TRUE(after_head.has_value()) << after_head.error().ToString();
  EXPECT_EQ(after_head->body, "d");

  auto echo_connection = HttpConnection::Connect(kHost, echo_proxy->port());
  ASSERT_TRUE(echo_connection.has_value());
  for (const char* target : {"/status/204", "/status/304"}) {
    auto response = echo_connection->Request("GET", target);
    ASSERT_TRUE(response.has_value()) << response.error().ToString();
    EXPECT_EQ(response->status, target[8] == '2' ? 204 : 304);
    EXPECT_TRUE(response->body.empty());
    EXPECT_FALSE(response->Header("Transfer-Encoding").has_value());
  }
  auto after = echo_connection->Request("GET", "/ok");
  ASSERT_TRUE(after.has_value()) << after.error().ToString();
  EXPECT_EQ(after->status, 200);
}

TEST(ProxyServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto origin = test::StartEchoOrigin();
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"e", origin->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  // A body that looks like a request must stay a body.
  const std::string sneaky = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(connection
                  ->WriteRaw("GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
                             "POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                             std::to_string(sneaky.size()) + "\r\n\r\n" + sneaky +
                             "GET /three HTTP/1.1\r\nHost: x\r\n\r\n")
                  .has_value());
  for (const char* expected : {"GET /one\n", "POST /two\n", "GET /three\n"}) {
    auto response = connection->ReadResponse();
    ASSERT_TRUE(response.has_value()) << response.error().ToString();
    EXPECT_TRUE(response->body.starts_with(expected)) << response->body;
  }
  EXPECT_EQ(proxy->stats().requests, 3u);
}

TEST(ProxyServerTest, Http10ClientWorks) {
  auto origin = test::StartDemoOrigin("a");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"a", origin->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection->WriteRaw("GET /id HTTP/1.0\r\n\r\n").has_value());
  auto response = connection->ReadResponse();
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "a");
  EXPECT_EQ(response->Header("Via"), "1.1 streamgate");
  EXPECT_TRUE(connection->WaitForClose());

  // HTTP/1.0 with keep-alive asked for: kept (the origin sends Content-Length).
  auto kept = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(kept.has_value());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(kept->WriteRaw("GET /id HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").has_value());
    auto again = kept->ReadResponse();
    ASSERT_TRUE(again.has_value()) << again.error().ToString();
    EXPECT_EQ(again->body, "a");
    EXPECT_TRUE(again->keep_alive);
  }
}

TEST(ProxyServerTest, MalformedRequestsGet400AndClose) {
  auto origin = test::StartDemoOrigin("a");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"a", origin->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  for (const char* raw :
       {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",                        // no Host
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // two Hosts
        "GET relative HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n"}) {
    auto connection = HttpConnection::Connect(kHost, proxy->port());
    ASSERT_TRUE(connection.has_value());
    ASSERT_TRUE(connection->WriteRaw(raw).has_value());
    auto response = connection->ReadResponse();
    ASSERT_TRUE(response.has_value()) << raw << ": " << response.error().ToString();
    EXPECT_EQ(response->status, 400) << raw;
    EXPECT_FALSE(response->keep_alive);
    EXPECT_TRUE(connection->WaitForClose()) << raw;
  }
  // Still serving.
  auto response = HttpGet(kHost, proxy->port(), "/id");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(proxy->stats().client_errors, 7u);
}

TEST(ProxyServerTest, AbsoluteFormTargetIsRewritten) {
  auto origin = test::StartEchoOrigin();
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"e", origin->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection->WriteRaw("GET http://site.test:8080/a/b?c=1 HTTP/1.1\r\nHost: x\r\n\r\n")
                  .has_value());
  auto response = connection->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_TRUE(response->body.starts_with("GET /a/b?c=1\n")) << response->body;
  EXPECT_EQ(test::EchoedHeader(response->body, "Host"), "site.test:8080");
}

TEST(ProxyServerTest, HeaderLimitsGive431) {
  auto origin = test::StartDemoOrigin("a");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"a", origin->port()}});
  ProxyOptions options = test::DefaultProxyOptions();
  options.max_header_bytes = 4096;
  options.max_header_count = 20;
  auto proxy = test::StartProxy(*balancer, options);
  ASSERT_NE(proxy, nullptr);

  auto big = HttpRequestBlocking("GET", kHost, proxy->port(), "/id", {},
                                 {{"X-Big", std::string(5000, 'b')}});
  ASSERT_TRUE(big.has_value()) << big.error().ToString();
  EXPECT_EQ(big->status, 431);

  net::HeaderList many;
  for (int i = 0; i < 25; ++i) many.emplace_back("X-H" + std::to_string(i), "v");
  auto counted = HttpRequestBlocking("GET", kHost, proxy->port(), "/id", {}, many);
  ASSERT_TRUE(counted.has_value()) << counted.error().ToString();
  EXPECT_EQ(counted->status, 431);

  net::HeaderList few;
  for (int i = 0; i < 10; ++i) few.emplace_back("X-H" + std::to_string(i), "v");
  auto fine = HttpRequestBlocking("GET", kHost, proxy->port(), "/id", {}, few);
  ASSERT_TRUE(fine.has_value());
  EXPECT_EQ(fine->status, 200);
}

TEST(ProxyServerTest, IdleAndSlowHeaderConnectionsAreClosed) {
  auto origin = test::StartDemoOrigin("a");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"a", origin->port()}});
  ProxyOptions options = test::DefaultProxyOptions();
  options.idle_timeout = 200ms;
  options.request_header_timeout = 200ms;
  auto proxy = test::StartProxy(*balancer, options);
  ASSERT_NE(proxy, nullptr);

  auto idle = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(idle.has_value());
  auto response = idle->Request("GET", "/id");
  ASSERT_TRUE(response.has_value());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle->WaitForClose());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);

  auto slow = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(slow.has_value());
  ASSERT_TRUE(slow->WriteRaw("GET /id HTTP/1.1\r\nHo").has_value());  // and never finishes
  EXPECT_TRUE(slow->WaitForClose());
}

TEST(ProxyServerTest, IdleTimeoutLongerThanTheOthersIsHonouredExactly) {
  // The session timer ticks at the shortest timeout (100 ms here) and re-arms until the longer
  // idle deadline: the connection must survive well past one tick and still close on time.
  auto origin = test::StartDemoOrigin("a");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"a", origin->port()}});
  ProxyOptions options = test::DefaultProxyOptions(1);
  options.connect_timeout = 100ms;
  options.upstream_timeout = 100ms;
  options.idle_timeout = 700ms;
  auto proxy = test::StartProxy(*balancer, options);
  ASSERT_NE(proxy, nullptr);

  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  for (int i = 0; i < 3; ++i) {
    auto response = connection->Request("GET", "/bytes/100000");  // several relay pieces
    ASSERT_TRUE(response.has_value()) << response.error().ToString();
    EXPECT_EQ(response->body.size(), 100000u);
    std::this_thread::sleep_for(350ms);  // several ticks, half the idle timeout
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(connection->WaitForClose());
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 200ms);  // 700 ms idle minus the 350 ms already slept, with slack
  EXPECT_LT(waited, 2s);
  EXPECT_EQ(proxy->stats().requests, 3u);
  EXPECT_EQ(proxy->stats().pool_reuses, 2u);
}

TEST(ProxyServerTest, StopClosesConnectionsAndIsIdempotent) {
  auto origin = test::StartDemoOrigin("a");
  auto balancer = test::MakeBalancer(LoadBalancingStrategy::kRoundRobin, {{"a", origin->port()}});
  auto proxy = test::StartProxy(*balancer);
  ASSERT_NE(proxy, nullptr);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection.has_value());
  ASSERT_TRUE(connection->Request("GET", "/id").has_value());
  proxy->Stop();
  EXPECT_TRUE(connection->WaitForClose());
  proxy->Stop();
  EXPECT_EQ(proxy->stats().requests, 1u);  // counters survive Stop
  EXPECT_EQ(test::Metrics(*balancer, "a").connections, 0u);
}

TEST(ProxyServerTest, MetricSamplesCoverEveryCounter) {
  ProxyStats stats;
  stats.responses_2xx = 7;
  stats.status_504 = 2;
  const std::vector<ProxyMetricSample> samples = ProxyMetricSamples(stats);
  EXPECT_GE(samples.size(), 19u);
  bool found_2xx = false;
  bool found_504 = false;
  for (const ProxyMetricSample& sample : samples) {
    EXPECT_TRUE(sample.family.starts_with("streamgate_proxy_"));
    EXPECT_FALSE(sample.help.empty());
    if (sample.label_value == "2xx") found_2xx = sample.value == 7;
    if (sample.label_value == "504") found_504 = sample.value == 2;
  }
  EXPECT_TRUE(found_2xx);
  EXPECT_TRUE(found_504);
}

}  // namespace
}  // namespace streamgate::proxy
