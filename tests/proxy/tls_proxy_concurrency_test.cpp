// Many TLS clients at once through a multi-threaded proxy that also speaks TLS to its backend:
// the listener's and the backend's SSL_CTX are shared by every worker thread (run under TSan
// with the other concurrency tests).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "proxy/proxy_test_support.hpp"
#include "proxy/tls_test_support.hpp"
#include "support/tls_certs.hpp"

namespace streamgate::proxy::test {
namespace {

TEST(TlsProxyConcurrencyTest, ParallelTlsClientsThroughTlsOnBothSides) {
  TempDir dir;
  streamgate::test::TestPki pki(dir.path());
  auto origin = StartEchoOrigin("origin");
  ASSERT_NE(origin, nullptr);
  auto origin_balancer =
      MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"origin", origin->port()}});
  ProxyOptions backend_options = DefaultProxyOptions(2);
  backend_options.listeners[0].tls.emplace();
  backend_options.listeners[0].tls->certificates = {pki.Leaf("backend", {"backend.test"})};
  auto backend = StartProxy(*origin_balancer, std::move(backend_options));
  ASSERT_NE(backend, nullptr);

  auto balancer =
      MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"tls-backend", backend->port()}});
  ProxyOptions options = DefaultProxyOptions(2);
  options.listeners[0].tls.emplace();
  options.listeners[0].tls->certificates = {pki.Leaf("a", {"a.test"}), pki.Leaf("b", {"b.test"})};
  net::TlsClientOptions backend_tls;
  backend_tls.enabled = true;
  backend_tls.ca_file = pki.ca_file();
  backend_tls.server_name = "backend.test";
  options.backend_tls["tls-backend"] = backend_tls;
  auto front = StartProxy(*balancer, std::move(options));
  ASSERT_NE(front, nullptr);

  constexpr int kClients = 6;
  constexpr int kRequests = kSanitized ? 5 : 20;
  std::atomic<int> ok{0};
  std::atomic<int> right_certificate{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      TlsClientSettings client;
      client.ca_file = pki.ca_file();
      client.sni = c % 2 == 0 ? "a.test" : "b.test";
      for (int i = 0; i < kRequests; ++i) {
        client.request = GetRequest("/echo/" + std::to_string(c) + "/" + std::to_string(i));
        const TlsClientOutcome outcome = TlsExchange(front->port(), client);
        if (outcome.peer_cn == client.sni) right_certificate.fetch_add(1);
        if (outcome.response.starts_with("HTTP/1.1 200")) ok.fetch_add(1);
        client.session = outcome.session;  // resume from the second request on
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(right_certificate.load(), kClients * kRequests);
  const ProxyStats stats = front->stats();
  EXPECT_EQ(stats.tls_handshakes, static_cast<std::uint64_t>(kClients * kRequests));
  EXPECT_GT(stats.tls_resumed, 0u);
  EXPECT_EQ(stats.upstream_tls_failures, 0u);
}

}  // namespace
}  // namespace streamgate::proxy::test
