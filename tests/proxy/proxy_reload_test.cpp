// Reconfigure (what a config reload does to the proxy) and Drain (SIGTERM): open connections
// survive a reload and see its settings from their next request; a certificate swap under load
// drops nothing; draining lets requests in flight finish and closes the rest.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <thread>

#include "proxy/proxy_server.hpp"
#include "proxy_test_support.hpp"
#include "support/tls_certs.hpp"
#include "tls_test_support.hpp"

namespace streamgate::proxy::test {
namespace {

using testing::HttpConnection;

TEST(ProxyReloadTest, NewSettingsApplyToTheNextRequestOnAnOpenConnection) {
  auto origin = StartEchoOrigin("a");
  auto balancer =
      MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"a", origin->port()}});
  auto proxy = StartProxy(*balancer);
  auto connection = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(connection);
  const net::HeaderList three = {{"A", "1"}, {"B", "2"}};  // + Host
  auto before = connection->Request("GET", "/x", {}, three);
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 200);

  ProxyOptions options = DefaultProxyOptions();
  options.max_header_count = 2;
  ASSERT_TRUE(proxy->Reconfigure(options));

  // Same connection, next request: the new limit holds.
  auto after = connection->Request("GET", "/x", {}, three);
  ASSERT_TRUE(after) << after.error().ToString();
  EXPECT_EQ(after->status, 431);
  EXPECT_EQ(proxy->stats().connections_accepted, 1u) << "the connection was not replaced";
}

TEST(ProxyReloadTest, AnotherNumberOfListenersIsRefusedAndNothingChanges) {
  auto origin = StartEchoOrigin("a");
  auto balancer =
      MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"a", origin->port()}});
  auto proxy = StartProxy(*balancer);
  ProxyOptions options = DefaultProxyOptions();
  options.listeners.push_back(ListenerOptions{});
  options.max_header_count = 1;
  const Status refused = proxy->Reconfigure(options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message().find("restart"), std::string::npos);
  auto response = testing::HttpGet(kHost, proxy->port(), "/x");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200) << "the old header limit still holds";
}

// A kept-alive HTTPS client: one TLS connection, many requests, each answer read by its
// Content-Length.
class TlsKeepAliveClient {
 public:
  explicit TlsKeepAliveClient(std::uint16_t port) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return;
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), fd_);
    SSL_set_tlsext_host_name(ssl_.get(), "a.test");
    connected_ = SSL_connect(ssl_.get()) == 1;
    if (X509* peer = connected_ ? SSL_get1_peer_certificate(ssl_.get()) : nullptr) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
      peer_cn_ = cn;
      X509_free(peer);
    }
  }
  ~TlsKeepAliveClient() {
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] bool connected() const { return connected_; }
  [[nodiscard]] const std::string& peer_cn() const { return peer_cn_; }

  // The status of one GET, or 0 when the connection failed.
  int Get(const std::string& target) {
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: a.test\r\n\r\n";
    if (SSL_write(ssl_.get(), request.data(), static_cast<int>(request.size())) <= 0) return 0;
    std::string data;
    char buffer[8192];
    for (;;) {
      const std::size_t end = data.find("\r\n\r\n");
      if (end != std::string::npos) {
        const std::size_t length_at = data.find("Content-Length: ");
        if (length_at == std::string::npos || length_at > end) return 0;
        const std::size_t length = std::stoul(data.substr(length_at + 16));
        if (data.size() >= end + 4 + length) return std::stoi(data.substr(9, 3));
      }
      const int n = SSL_read(ssl_.get(), buffer, sizeof(buffer));
      if (n <= 0) return 0;
      data.append(buffer, static_cast<std::size_t>(n));
    }
  }

 private:
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_{nullptr, SSL_CTX_free};
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_{nullptr, SSL_free};
  int fd_ = -1;
  bool connected_ = false;
  std::string peer_cn_;
};

class ProxyCertificateReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_cert_ = pki_.Leaf("old", {"old.a.test", "a.test"});
    new_cert_ = pki_.Leaf("new", {"new.a.test", "a.test"});
    origin_ = StartEchoOrigin("a");
    balancer_ = MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"a", origin_->port()}});
    proxy_ = StartProxy(*balancer_, OptionsWith(old_cert_));
    ASSERT_NE(proxy_, nullptr);
  }
  static ProxyOptions OptionsWith(const net::TlsCertificateFiles& cert) {
    ProxyOptions options = DefaultProxyOptions();
    net::TlsServerOptions tls;
    tls.certificates = {cert};
    options.listeners[0].tls = tls;
    return options;
  }
  // The CN of the certificate a new connection gets.
  std::string CertificateOfNewConnection() {
    TlsClientSettings settings;
    settings.sni = "a.test";
    settings.request = GetRequest("/x");
    const TlsClientOutcome outcome = TlsExchange(proxy_->port(), settings);
    EXPECT_TRUE(outcome.handshake_ok) << outcome.error;
    EXPECT_NE(outcome.response.find("HTTP/1.1 200"), std::string::npos);
    return outcome.peer_cn;
  }

  TempDir dir_;
  streamgate::test::TestPki pki_{dir_.path()};
  net::TlsCertificateFiles old_cert_;
  net::TlsCertificateFiles new_cert_;
  std::unique_ptr<net::HttpServer> origin_;
  std::unique_ptr<scaling::GlobalLoadBalancer> balancer_;
  std::unique_ptr<ProxyServer> proxy_;
};

TEST_F(ProxyCertificateReloadTest, ABadCertificateIsRefusedAndTheOldOneKept) {
  net::TlsCertificateFiles broken = new_cert_;
  broken.key = pki_.OtherKey("mismatched");
  const Status refused = proxy_->Reconfigure(OptionsWith(broken));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("mismatched.key"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(CertificateOfNewConnection(), "old.a.test");
}

TEST_F(ProxyCertificateReloadTest, SessionsResumeAcrossAReload) {
  TlsClientSettings settings;
  settings.sni = "a.test";
  settings.max_version = TLS1_2_VERSION;  // the session is ready after the handshake
  settings.request = GetRequest("/x");
  const TlsClientOutcome first = TlsExchange(proxy_->port(), settings);
  ASSERT_TRUE(first.handshake_ok) << first.error;
  ASSERT_TRUE(proxy_->Reconfigure(OptionsWith(new_cert_)));
  settings.session = first.session;
  const TlsClientOutcome resumed = TlsExchange(proxy_->port(), settings);
  ASSERT_TRUE(resumed.handshake_ok) << resumed.error;
  EXPECT_TRUE(resumed.reused) << "the ticket keys outlive the rebuilt context";
}

TEST_F(ProxyCertificateReloadTest, CertificateReloadUnderLoadDropsNoConnection) {
  TlsKeepAliveClient kept(proxy_->port());
  ASSERT_TRUE(kept.connected());
  ASSERT_EQ(kept.Get("/before"), 200);

  // Load: two threads open new TLS connections, one more keeps one connection busy, while
  // the certificate is swapped back and forth.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 2; ++t) {
    load.emplace_back([&] {
      while (!stop) {
        TlsClientSettings settings;
        settings.sni = "a.test";
        settings.request = GetRequest("/load");
        const TlsClientOutcome outcome = TlsExchange(proxy_->port(), settings);
        const bool good =
            outcome.handshake_ok && outcome.response.find("HTTP/1.1 200") != std::string::npos;
        (good ? ok : failed)++;
      }
    });
  }
  load.emplace_back([&] {
    TlsKeepAliveClient busy(proxy_->port());
    while (!stop) (busy.Get("/busy") == 200 ? ok : failed)++;
  });
  for (int round = 0; round < 10; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ASSERT_TRUE(proxy_->Reconfigure(OptionsWith(round % 2 == 0 ? new_cert_ : old_cert_)));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  stop = true;
  for (auto& thread : load) thread.join();

  std::printf("certificate reload under load: %d requests answered 200, %d failed, 10 reloads\n",
              ok.load(), failed.load());
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 20);
  // The last reload installed the old certificate; one more swaps to the new one.
  ASSERT_TRUE(proxy_->Reconfigure(OptionsWith(new_cert_)));
  EXPECT_EQ(CertificateOfNewConnection(), "new.a.test");
  // The connection opened before every reload still works, on its original certificate.
  EXPECT_EQ(kept.Get("/after"), 200);
  EXPECT_EQ(kept.peer_cn(), "old.a.test");
  EXPECT_EQ(proxy_->stats().tls_handshake_failures, 0u);
}

TEST(ProxyDrainTest, InFlightRequestsFinishIdleConnectionsCloseNewOnesAreRefused) {
  auto origin = StartDemoOrigin("slow");
  auto balancer =
      MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"slow", origin->port()}});
  auto proxy = StartProxy(*balancer);
  const std::uint16_t port = proxy->port();
  auto idle = HttpConnection::Connect(kHost, port);
  ASSERT_TRUE(idle);
  ASSERT_EQ(idle->Request("GET", "/id")->status, 200);
  auto busy = HttpConnection::Connect(kHost, port);
  ASSERT_TRUE(busy);
  auto in_flight =
      std::async(std::launch::async, [&] { return busy->Request("GET", "/id?latency=600ms"); });
  // The slow request reaches the origin before the drain starts.
  for (int i = 0; i < 200 && proxy->stats().requests < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(proxy->stats().requests, 2u);
  const auto started = std::chrono::steady_clock::now();
  auto drained =
      std::async(std::launch::async, [&] { return proxy->Drain(std::chrono::seconds(10)); });

  EXPECT_TRUE(idle->WaitForClose()) << "an idle keep-alive connection is closed";
  auto answer = in_flight.get();
  ASSERT_TRUE(answer) << answer.error().ToString();
  EXPECT_EQ(answer->status, 200);
  EXPECT_FALSE(answer->keep_alive) << "the last answer says Connection: close";
  EXPECT_EQ(drained.get(), 0u) << "nothing was cut";
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_FALSE(HttpConnection::Connect(kHost, port, std::chrono::milliseconds(500)))
      << "a stopped proxy accepts nothing";
}

TEST(ProxyDrainTest, AConnectionThatNeverSentARequestDoesNotHoldTheDrain) {
  auto origin = StartDemoOrigin("a");
  auto balancer =
      MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"a", origin->port()}});
  ProxyOptions options = DefaultProxyOptions();
  options.request_header_timeout = std::chrono::seconds(30);
  auto proxy = StartProxy(*balancer, options);
  auto silent = HttpConnection::Connect(kHost, proxy->port());  // e.g. a browser's preconnect
  ASSERT_TRUE(silent);
  for (int i = 0; i < 200 && proxy->stats().connections_active < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(proxy->Drain(std::chrono::seconds(10)), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

TEST(ProxyDrainTest, RequestsOutlivingTheTimeoutAreCut) {
  auto origin = StartDemoOrigin("slow");
  auto balancer =
      MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"slow", origin->port()}});
  auto proxy = StartProxy(*balancer);
  auto busy = HttpConnection::Connect(kHost, proxy->port());
  ASSERT_TRUE(busy);
  auto in_flight =
      std::async(std::launch::async, [&] { return busy->Request("GET", "/id?latency=3s"); });
  for (int i = 0; i < 200 && proxy->stats().requests < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(proxy->Drain(std::chrono::milliseconds(200)), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_FALSE(in_flight.get()) << "the cut request gets no answer";
}

}  // namespace
}  // namespace streamgate::proxy::test
