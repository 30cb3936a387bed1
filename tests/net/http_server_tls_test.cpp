// The HTTP server over TLS (the admin listener's admin.tls): HTTPS with keep-alive, handshake
// failures that just close, and ReloadTls swapping certificates for new connections only.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>

#include "net/http_server.hpp"
#include "net/tls_test_peer.hpp"
#include "support/tls_certs.hpp"

namespace streamgate::net {
namespace {

using test::TlsConnect;
using test::TlsPeerOutcome;
using test::TlsPeerSettings;

HttpResponse Echo(const HttpRequest& request) {
  HttpResponse response;
  response.content_type = "text/plain";
  response.body = "path=" + request.path;
  return response;
}

std::string Get(const std::string& path, bool close = true) {
  return "GET " + path + " HTTP/1.1\r\nHost: admin.test\r\n" +
         (close ? "Connection: close\r\n" : "") + "\r\n";
}

class HttpServerTlsTest : public ::testing::Test {
 protected:
  HttpServerTlsTest() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sg-https-XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    pki_.emplace(dir_);
    tls_.certificates = {pki_->Leaf("first", {"first.test"})};
  }
  ~HttpServerTlsTest() override {
    if (server_) server_->Stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void StartServer() {
    HttpServerOptions options;
    options.threads = 2;
    options.tls = tls_;
    auto server = HttpServer::Start(options, Echo);
    ASSERT_TRUE(server.has_value()) << server.error().ToString();
    server_ = std::move(*server);
  }

  TlsPeerSettings Settings(const std::string& request = Get("/x")) {
    TlsPeerSettings settings;
    settings.ca_file = pki_->ca_file();
    settings.request = request;
    return settings;
  }

  std::filesystem::path dir_;
  std::optional<streamgate::test::TestPki> pki_;
  TlsServerOptions tls_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTlsTest, ServesHttpsWithKeepAlive) {
  StartServer();
  // Two pipelined requests on one connection: the first keeps it open.
  const TlsPeerOutcome out =
      TlsConnect(server_->port(), Settings(Get("/one", false) + Get("/two")));
  ASSERT_TRUE(out.handshake_ok) << out.error;
  EXPECT_EQ(out.peer_cn, "first.test");
  EXPECT_NE(out.response.find("path=/one"), std::string::npos) << out.response;
  EXPECT_NE(out.response.find("path=/two"), std::string::npos) << out.response;
  // The close was a clean close_notify, so the session resumes.
  const TlsPeerOutcome again = TlsConnect(server_->port(), [&] {
    TlsPeerSettings settings = Settings();
    settings.session = out.session;
    return settings;
  }());
  EXPECT_TRUE(again.reused);
  EXPECT_NE(again.response.find("200 OK"), std::string::npos);
}

TEST_F(HttpServerTlsTest, APlainClientIsClosedAndTheServerCarriesOn) {
  StartServer();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server_->port());
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const std::string request = Get("/plain");
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string answer;
  char buffer[1024];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  EXPECT_EQ(answer.find("HTTP/1.1"), std::string::npos) << answer;  // no HTTP answer
  const TlsPeerOutcome out = TlsConnect(server_->port(), Settings());
  EXPECT_TRUE(out.handshake_ok) << out.error;
}

TEST_F(HttpServerTlsTest, ReloadTlsServesNewConnectionsAndKeepsOpenOnes) {
  StartServer();
  const TlsPeerOutcome before = TlsConnect(server_->port(), Settings());
  ASSERT_EQ(before.peer_cn, "first.test");

  test::TlsClientConnection open;
  TlsPeerOutcome open_outcome;
  ASSERT_TRUE(open.Open(server_->port(), Settings(), open_outcome)) << open_outcome.error;

  TlsServerOptions next = tls_;
  next.certificates = {pki_->Leaf("second", {"second.test"})};
  ASSERT_TRUE(server_->ReloadTls(next).has_value());

  const TlsPeerOutcome after = TlsConnect(server_->port(), Settings());
  EXPECT_EQ(after.peer_cn, "second.test");
  // The connection opened before the reload keeps its context and still works.
  EXPECT_EQ(open_outcome.peer_cn, "first.test");
  EXPECT_NE(open.Exchange(Get("/still")).find("path=/still"), std::string::npos);
  // Same ticket ring: a session from before the reload resumes.
  TlsPeerSettings resume = Settings();
  resume.session = before.session;
  EXPECT_TRUE(TlsConnect(server_->port(), resume).reused);
}

TEST_F(HttpServerTlsTest, AFailedReloadKeepsTheOldCertificate) {
  StartServer();
  TlsServerOptions bad = tls_;
  bad.certificates[0].key = pki_->OtherKey("other");
  const Status refused = server_->ReloadTls(bad);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("other.key"), std::string::npos)
      << refused.error().message();
  TlsServerOptions missing = tls_;
  missing.certificates[0].cert = (dir_ / "missing.pem").string();
  EXPECT_FALSE(server_->ReloadTls(missing).has_value());

  const TlsPeerOutcome out = TlsConnect(server_->port(), Settings());
  EXPECT_EQ(out.peer_cn, "first.test");
  EXPECT_NE(out.response.find("path=/x"), std::string::npos);
}

TEST_F(HttpServerTlsTest, StartAndReloadRefuseWhatCannotWork) {
  tls_.certificates[0].cert = (dir_ / "nowhere.pem").string();
  HttpServerOptions options;
  options.tls = tls_;
  auto refused = HttpServer::Start(options, Echo);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("nowhere.pem"), std::string::npos);

  auto plain = HttpServer::Start({}, Echo);
  ASSERT_TRUE(plain.has_value());
  const Status reload = (*plain)->ReloadTls(TlsServerOptions{});
  ASSERT_FALSE(reload.has_value());
  EXPECT_EQ(reload.error().code(), ErrorCode::kFailedPrecondition);
  (*plain)->Stop();
}

}  // namespace
}  // namespace streamgate::net
