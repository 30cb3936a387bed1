// TLS in the proxy, with certificates made on the fly: HTTPS listeners (SNI, versions, suites,
// ALPN, resumption, X-Forwarded-Proto) and TLS to backends (verification, mutual TLS, pooling).
// A TLS backend is a second ProxyServer with a TLS listener in front of an echo origin.
#include <gtest/gtest.h>

#include <string>

#include "proxy/proxy_test_support.hpp"
#include "proxy/tls_test_support.hpp"
#include "support/tls_certs.hpp"

namespace streamgate::proxy::test {
namespace {

class TlsProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    origin_ = StartEchoOrigin("origin");
    ASSERT_NE(origin_, nullptr);
    origin_balancer_ =
        MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"origin", origin_->port()}});
  }

  // A proxy whose only listener is TLS with `tls`, in front of the echo origin.
  std::unique_ptr<ProxyServer> StartTlsFront(net::TlsServerOptions tls) {
    ProxyOptions options = DefaultProxyOptions(1);
    options.listeners[0].tls = std::move(tls);
    return StartProxy(*origin_balancer_, std::move(options));
  }

  net::TlsServerOptions ServerOptions(std::vector<net::TlsCertificateFiles> certs) {
    net::TlsServerOptions tls;
    tls.certificates = std::move(certs);
    return tls;
  }

  TempDir dir_;
  streamgate::test::TestPki pki_{dir_.path()};
  std::unique_ptr<net::HttpServer> origin_;
  std::unique_ptr<scaling::GlobalLoadBalancer> origin_balancer_;
};

TEST_F(TlsProxyTest, SniPicksCertificateByExactAndWildcardNameAndFallsBackToDefault) {
  auto a = pki_.Leaf("a", {"a.test"});
  auto b = pki_.Leaf("b", {"*.b.test"});
  auto proxy = StartTlsFront(ServerOptions({a, b}));
  ASSERT_NE(proxy, nullptr);
  const std::uint16_t port = proxy->port();

  TlsClientSettings client;
  client.ca_file = pki_.ca_file();
  client.sni = "a.test";
  EXPECT_EQ(TlsExchange(port, client).peer_cn, "a.test");
  client.sni = "www.b.test";
  const TlsClientOutcome wildcard = TlsExchange(port, client);
  EXPECT_TRUE(wildcard.handshake_ok) << wildcard.error;
  EXPECT_EQ(wildcard.peer_cn, "*.b.test");
  client.sni = "deep.www.b.test";  // a wildcard covers one label only
  EXPECT_EQ(TlsExchange(port, client).peer_cn, "a.test");
  client.sni = "unknown.test";
  EXPECT_EQ(TlsExchange(port, client).peer_cn, "a.test");
  client.sni = "";
  EXPECT_EQ(TlsExchange(port, client).peer_cn, "a.test");
}

TEST_F(TlsProxyTest, RequestsOverTlsGetForwardedProtoHttpsAndAlpnHttp11) {
  auto proxy = StartTlsFront(ServerOptions({pki_.Leaf("a", {"a.test"})}));
  ASSERT_NE(proxy, nullptr);
  TlsClientSettings client;
  client.ca_file = pki_.ca_file();
  client.sni = "a.test";
  client.alpn = {"h2", "http/1.1"};
  client.request =
      "GET /echo HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-Proto: http\r\nConnection: close\r\n\r\n";
  const TlsClientOutcome outcome = TlsExchange(proxy->port(), client);
  ASSERT_TRUE(outcome.handshake_ok) << outcome.error;
  EXPECT_EQ(outcome.alpn, "http/1.1");
  EXPECT_TRUE(outcome.response.starts_with("HTTP/1.1 200")) << outcome.response;
  // The client's own claim is replaced, not passed on.
  const std::string body = outcome.response.substr(outcome.response.find("\r\n\r\n") + 4);
  EXPECT_EQ(EchoedHeader(body, "X-Forwarded-Proto"), "https");
  EXPECT_EQ(proxy->stats().tls_handshakes, 1u);

  // The plain listener of the same build still says http.
  auto plain = StartProxy(*origin_balancer_, DefaultProxyOptions(1));
  auto response = testing::HttpGet(kHost, plain->port(), "/echo");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(EchoedHeader(response->body, "X-Forwarded-Proto"), "http");
}

TEST_F(TlsProxyTest, RefusesTls11AndWeakSuitesButAcceptsTls12WithModernSuites) {
  auto proxy = StartTlsFront(ServerOptions({pki_.Leaf("a", {"a.test"})}));
  ASSERT_NE(proxy, nullptr);
  const std::uint16_t port = proxy->port();

  TlsClientSettings old_client;
  old_client.security_level = 0;  // let the client offer what the server must refuse
  old_client.min_version = TLS1_VERSION;
  old_client.max_version = TLS1_1_VERSION;
  old_client.ciphers = "ALL:@SECLEVEL=0";
  EXPECT_FALSE(TlsExchange(port, old_client).handshake_ok);

  TlsClientSettings tls12 = old_client;
  tls12.max_version = TLS1_2_VERSION;
  const TlsClientOutcome ok12 = TlsExchange(port, tls12);
  EXPECT_TRUE(ok12.handshake_ok) << ok12.error;  // the same client at 1.2 gets through

  TlsClientSettings weak;
  weak.security_level = 0;
  weak.max_version = TLS1_2_VERSION;
  weak.ciphers = "AES128-SHA:AES256-SHA:ECDHE-ECDSA-AES128-SHA:DES-CBC3-SHA:@SECLEVEL=0";
  EXPECT_FALSE(TlsExchange(port, weak).handshake_ok);

  TlsClientSettings modern = weak;
  modern.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
  const TlsClientOutcome ok_modern = TlsExchange(port, modern);
  EXPECT_TRUE(ok_modern.handshake_ok) << ok_modern.error;

  TlsClientSettings tls13;
  tls13.min_version = TLS1_3_VERSION;
  EXPECT_TRUE(TlsExchange(port, tls13).handshake_ok);
  EXPECT_GE(proxy->stats().tls_handshake_failures, 2u);
}

TEST_F(TlsProxyTest, MinVersion13RefusesTls12) {
  net::TlsServerOptions tls = ServerOptions({pki_.Leaf("a", {"a.test"})});
  tls.min_version = net::TlsVersion::kTls13;
  auto proxy = StartTlsFront(tls);
  ASSERT_NE(proxy, nullptr);
  TlsClientSettings tls12;
  tls12.max_version = TLS1_2_VERSION;
  EXPECT_FALSE(TlsExchange(proxy->port(), tls12).handshake_ok);
  TlsClientSettings tls13;
  EXPECT_TRUE(TlsExchange(proxy->port(), tls13).handshake_ok);
}

TEST_F(TlsProxyTest, SessionTicketsResumeTls13AndTls12) {
  auto proxy = StartTlsFront(ServerOptions({pki_.Leaf("a", {"a.test"})}));
  ASSERT_NE(proxy, nullptr);
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    TlsClientSettings client;
    client.max_version = version;
    client.sni = "a.test";
    client.request = GetRequest();  // TLS 1.3 tickets come after the handshake
    const TlsClientOutcome first = TlsExchange(proxy->port(), client);
    ASSERT_TRUE(first.handshake_ok) << first.error;
    EXPECT_FALSE(first.reused);
    client.session = first.session;
    const TlsClientOutcome second = TlsExchange(proxy->port(), client);
    ASSERT_TRUE(second.handshake_ok) << second.error;
    EXPECT_TRUE(second.reused) << "version " << version;
    EXPECT_TRUE(second.response.starts_with("HTTP/1.1 200"));
  }
  EXPECT_EQ(proxy->stats().tls_resumed, 2u);
}

TEST_F(TlsProxyTest, StartFailsWithTheFileNamedWhenTheKeyDoesNotMatch) {
  auto a = pki_.Leaf("a", {"a.test"});
  a.key = pki_.OtherKey("other");
  ProxyOptions options = DefaultProxyOptions(1);
  options.listeners[0].tls = ServerOptions({a});
  auto proxy = ProxyServer::Start(std::move(options), *origin_balancer_);
  ASSERT_FALSE(proxy.has_value());
  EXPECT_NE(proxy.error().message().find("does not match"), std::string::npos)
      << proxy.error().message();
  EXPECT_NE(proxy.error().message().find(a.key), std::string::npos);
}

// ---- TLS to backends ---------------------------------------------------------------------------

class TlsBackendTest : public TlsProxyTest {
 protected:
  // A TLS "backend": a proxy with a TLS listener (certificate for backend.test) before the origin.
  void StartBackend(bool require_client_cert = false) {
    net::TlsServerOptions tls = ServerOptions({pki_.Leaf("backend", {"backend.test"})});
    if (require_client_cert) tls.client_ca_file = pki_.ca_file();
    backend_ = StartTlsFront(std::move(tls));
    ASSERT_NE(backend_, nullptr);
    balancer_ = MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin,
                             {{"tls-backend", backend_->port()}});
  }

  std::unique_ptr<ProxyServer> StartFront(net::TlsClientOptions backend_tls) {
    ProxyOptions options = DefaultProxyOptions(1);
    options.retries = 0;
    options.backend_tls["tls-backend"] = std::move(backend_tls);
    return StartProxy(*balancer_, std::move(options));
  }

  net::TlsClientOptions Verified(std::string server_name = "backend.test") {
    net::TlsClientOptions tls;
    tls.enabled = true;
    tls.ca_file = pki_.ca_file();
    tls.server_name = std::move(server_name);
    return tls;
  }

  std::unique_ptr<ProxyServer> backend_;
  std::unique_ptr<scaling::GlobalLoadBalancer> balancer_;
};

TEST_F(TlsBackendTest, VerifiedTlsToBackendAndPooledConnectionsReused) {
  StartBackend();
  auto front = StartFront(Verified());
  ASSERT_NE(front, nullptr);
  auto connection = testing::HttpConnection::Connect(kHost, front->port());
  ASSERT_TRUE(connection.has_value());
  for (int i = 0; i < 3; ++i) {
    auto response = connection->Request("GET", "/echo");
    ASSERT_TRUE(response.has_value()) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->Header("X-Origin-Id").value_or(""), "origin");
  }
  const ProxyStats stats = front->stats();
  EXPECT_EQ(stats.upstream_connects, 1u);
  EXPECT_EQ(stats.pool_reuses, 2u);
  EXPECT_EQ(backend_->stats().tls_handshakes, 1u);
}

TEST_F(TlsBackendTest, BackendCertificateForAnotherNameIsRefusedWhenVerifying) {
  StartBackend();
  auto front = StartFront(Verified("other.test"));
  ASSERT_NE(front, nullptr);
  auto response = testing::HttpGet(kHost, front->port(), "/echo");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 502);
  EXPECT_GE(front->stats().upstream_tls_failures, 1u);

  // Without verification the same backend is reached.
  net::TlsClientOptions unverified = Verified("other.test");
  unverified.verify = false;
  auto lenient = StartFront(unverified);
  auto ok = testing::HttpGet(kHost, lenient->port(), "/echo");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
}

TEST_F(TlsBackendTest, BackendSignedByAnUntrustedCaIsRefused) {
  StartBackend();
  streamgate::test::TestPki other(dir_.path(), "other");
  net::TlsClientOptions tls = Verified();
  tls.ca_file = other.ca_file();
  auto front = StartFront(tls);
  auto response = testing::HttpGet(kHost, front->port(), "/echo");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 502);
}

TEST_F(TlsBackendTest, MutualTlsWithClientCertificateAndRefusedWithout) {
  StartBackend(/*require_client_cert=*/true);
  auto client_files = pki_.Leaf("gateway", {"gateway.test"});
  net::TlsClientOptions with_cert = Verified();
  with_cert.client_cert = client_files.cert;
  with_cert.client_key = client_files.key;
  auto front = StartFront(with_cert);
  auto response = testing::HttpGet(kHost, front->port(), "/echo");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);

  auto anonymous = StartFront(Verified());
  auto refused = testing::HttpGet(kHost, anonymous->port(), "/echo");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 502);
  EXPECT_GE(backend_->stats().tls_handshake_failures, 1u);
}

TEST_F(TlsBackendTest, HttpsOnBothSides) {
  StartBackend();
  ProxyOptions options = DefaultProxyOptions(1);
  options.listeners[0].tls = ServerOptions({pki_.Leaf("a", {"a.test"})});
  options.backend_tls["tls-backend"] = Verified();
  auto front = StartProxy(*balancer_, std::move(options));
  ASSERT_NE(front, nullptr);
  TlsClientSettings client;
  client.ca_file = pki_.ca_file();
  client.sni = "a.test";
  client.request = GetRequest("/echo?both");
  const TlsClientOutcome outcome = TlsExchange(front->port(), client);
  ASSERT_TRUE(outcome.handshake_ok) << outcome.error;
  EXPECT_TRUE(outcome.response.starts_with("HTTP/1.1 200")) << outcome.response;
  EXPECT_NE(outcome.response.find("GET /echo?both"), std::string::npos);
}

TEST_F(TlsProxyTest, LargeBodiesRelayWholeOverTls) {
  auto demo = StartDemoOrigin("demo");
  ASSERT_NE(demo, nullptr);
  auto balancer =
      MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"demo", demo->port()}});
  ProxyOptions options = DefaultProxyOptions(1);
  options.listeners[0].tls = ServerOptions({pki_.Leaf("a", {"a.test"})});
  auto proxy = StartProxy(*balancer, std::move(options));
  ASSERT_NE(proxy, nullptr);
  for (const std::size_t size : {std::size_t{1024}, std::size_t{65536}, std::size_t{300000}}) {
    TlsClientSettings client;
    client.request = GetRequest("/bytes/" + std::to_string(size));
    const TlsClientOutcome outcome = TlsExchange(proxy->port(), client);
    ASSERT_TRUE(outcome.handshake_ok) << outcome.error;
    const std::size_t header_end = outcome.response.find("\r\n\r\n");
    ASSERT_NE(header_end, std::string::npos);
    EXPECT_EQ(outcome.response.size() - header_end - 4, size);
  }
}

}  // namespace
}  // namespace streamgate::proxy::test
