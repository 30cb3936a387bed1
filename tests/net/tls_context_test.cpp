// Certificate checks (check-config), SNI selection and HTTPS health probes of TLS backends, with
// certificates made on the fly.
#include "net/tls_context.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "streamgate/net/tls.hpp"
#include "support/tls_certs.hpp"

namespace streamgate::net {
namespace {

using namespace std::chrono_literals;

class TlsContextTest : public ::testing::Test {
 protected:
  TlsContextTest() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sg-tls-XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    pki_.emplace(dir_);
  }
  ~TlsContextTest() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::filesystem::path dir_;
  std::optional<test::TestPki> pki_;
};

TEST_F(TlsContextTest, InspectListsNamesAndFlagsExpiredAndNotYetValid) {
  const WallTime now = std::chrono::system_clock::now();
  auto fresh = InspectCertificate(pki_->Leaf("fresh", {"a.test", "*.b.test"}), now);
  ASSERT_TRUE(fresh.has_value()) << fresh.error().ToString();
  EXPECT_EQ(fresh->names, (std::vector<std::string>{"a.test", "*.b.test"}));
  EXPECT_FALSE(fresh->expired);
  EXPECT_FALSE(fresh->not_yet_valid);
  EXPECT_GT(fresh->not_after, now + 24h * 28);

  auto expired = InspectCertificate(pki_->Leaf("old", {"old.test"}, -10, 5), now);
  ASSERT_TRUE(expired.has_value());
  EXPECT_TRUE(expired->expired);
  auto future = InspectCertificate(pki_->Leaf("future", {"future.test"}, 3, 30), now);
  ASSERT_TRUE(future.has_value());
  EXPECT_TRUE(future->not_yet_valid);
}

TEST_F(TlsContextTest, InspectNamesTheFileThatIsMissingOrDoesNotMatch) {
  const WallTime now = std::chrono::system_clock::now();
  TlsCertificateFiles files = pki_->Leaf("a", {"a.test"});
  const std::string right_key = files.key;
  files.key = pki_->OtherKey("other");
  auto mismatch = InspectCertificate(files, now);
  ASSERT_FALSE(mismatch.has_value());
  EXPECT_NE(mismatch.error().message().find("does not match"), std::string::npos);

  files.key = right_key;
  files.cert = (dir_ / "missing.pem").string();
  auto missing = InspectCertificate(files, now);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("missing.pem"), std::string::npos);

  EXPECT_TRUE(CheckCaFile(pki_->ca_file()).has_value());
  EXPECT_FALSE(CheckCaFile(right_key).has_value());  // a key is not a certificate
}

TEST_F(TlsContextTest, SelectPrefersExactNamesThenOneLabelWildcardsThenTheDefault) {
  TlsServerOptions options;
  options.certificates = {pki_->Leaf("default", {"default.test"}),
                          pki_->Leaf("wild", {"*.example.test"}),
                          pki_->Leaf("exact", {"www.example.test"})};
  auto context = TlsServerContext::Create(options);
  ASSERT_TRUE(context.has_value()) << context.error().ToString();
  EXPECT_EQ((*context)->Select("www.example.test"), 2u);
  EXPECT_EQ((*context)->Select("WWW.Example.Test"), 2u);
  EXPECT_EQ((*context)->Select("api.example.test"), 1u);
  EXPECT_EQ((*context)->Select("a.b.example.test"), 0u);
  EXPECT_EQ((*context)->Select("example.test"), 0u);
  EXPECT_EQ((*context)->Select(""), 0u);
}

TEST_F(TlsContextTest, CreateRefusesBadSettings) {
  TlsServerOptions none;
  EXPECT_FALSE(TlsServerContext::Create(none).has_value());
  TlsServerOptions bad_ciphers;
  bad_ciphers.certificates = {pki_->Leaf("a", {"a.test"})};
  bad_ciphers.ciphers = "NOT-A-CIPHER";
  EXPECT_FALSE(TlsServerContext::Create(bad_ciphers).has_value());
  TlsClientOptions half_mtls;
  half_mtls.enabled = true;
  half_mtls.client_cert = pki_->Leaf("c", {"c.test"}).cert;
  EXPECT_FALSE(TlsClientContext::Create(half_mtls).has_value());
}

// A one-thread HTTPS server answering every request with 200, for the prober.
class TinyHttpsServer {
 public:
  explicit TinyHttpsServer(const TlsServerOptions& options)
      : context_(*TlsServerContext::Create(options)),
        acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TinyHttpsServer() {
    ioc_.stop();
    thread_.join();
  }
  [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket s) {
      if (ec) return;
      auto stream = std::make_shared<Stream>(std::move(s), context_->context());
      stream->async_handshake(Stream::server, [stream](boost::system::error_code hec) {
        if (hec) return;
        auto buffer = std::make_shared<std::array<char, 4096>>();
        stream->async_read_some(
            boost::asio::buffer(*buffer), [stream, buffer](boost::system::error_code, std::size_t) {
              static const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
              boost::asio::async_write(*stream, boost::asio::buffer(kOk),
                                       [stream](boost::system::error_code, std::size_t) {});
            });
      });
      Accept();
    });
  }
  std::shared_ptr<TlsServerContext> context_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

TEST_F(TlsContextTest, TlsAwareProberVerifiesBackendsWithTheirSettings) {
  TlsServerOptions server;
  server.certificates = {pki_->Leaf("backend", {"backend.test"})};
  TinyHttpsServer https(server);
  const Endpoint target{EndpointScheme::kHttp, "127.0.0.1", https.port(), "/healthz"};

  TlsClientOptions good;
  good.enabled = true;
  good.ca_file = pki_->ca_file();
  good.server_name = "backend.test";
  auto prober = MakeTlsAwareProber(RealClock(), {{"127.0.0.1", https.port(), good}});
  ASSERT_TRUE(prober.has_value()) << prober.error().ToString();
  ProbeOptions options;
  options.timeout = 5s;
  auto ok = (*prober)->ProbeAll(std::span(&target, 1), options);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_TRUE(ok[0].ok) << ok[0].detail;
  EXPECT_EQ(ok[0].http_status, 200);

  TlsClientOptions wrong_name = good;
  wrong_name.server_name = "other.test";
  auto strict = MakeTlsAwareProber(RealClock(), {{"127.0.0.1", https.port(), wrong_name}});
  ASSERT_TRUE(strict.has_value());
  auto refused = (*strict)->ProbeAll(std::span(&target, 1), options);
  EXPECT_FALSE(refused[0].ok);
  EXPECT_NE(refused[0].detail.find("tls"), std::string::npos) << refused[0].detail;

  // A plain prober speaks HTTP to the TLS port and gets no valid answer.
  auto plain = MakeNetworkProber(RealClock())->ProbeAll(std::span(&target, 1), options);
  EXPECT_FALSE(plain[0].ok);
}

}  // namespace
}  // namespace streamgate::net
