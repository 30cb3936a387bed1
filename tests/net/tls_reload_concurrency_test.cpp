// Concurrency of the TLS pieces that change at run time (run under ThreadSanitizer in CI): the
// ticket ring rotating while handshakes use it, and HttpServer::ReloadTls under HTTPS load.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/http_server.hpp"
#include "net/tls_context.hpp"
#include "net/tls_test_peer.hpp"
#include "support/manual_clock.hpp"
#include "support/tls_certs.hpp"

namespace streamgate::net {
namespace {

using namespace std::chrono_literals;

TEST(TicketKeysConcurrencyTest, RotationWhileThreadsEncryptAndDecrypt) {
  testing::ManualClock clock;
  auto keys = SessionTicketKeys::Create(clock, 1h);
  ASSERT_NE(keys, nullptr);
  EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  ASSERT_NE(hmac, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::atomic<int> decrypted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      EVP_CIPHER_CTX* cipher = EVP_CIPHER_CTX_new();
      EVP_MAC_CTX* mac = EVP_MAC_CTX_new(hmac);
      for (int i = 0; i < 2000; ++i) {
        std::array<unsigned char, 16> name{};
        std::array<unsigned char, EVP_MAX_IV_LENGTH> iv{};
        if (keys->OnTicketKey(name.data(), iv.data(), cipher, mac, 1) != 1) ++errors;
        const int result = keys->OnTicketKey(name.data(), iv.data(), cipher, mac, 0);
        if (result < 0) ++errors;
        if (result > 0) ++decrypted;
      }
      EVP_MAC_CTX_free(mac);
      EVP_CIPHER_CTX_free(cipher);
    });
  }
  std::thread rotator([&] {
    while (!stop.load()) {
      clock.Advance(20min);
      std::this_thread::yield();
    }
  });
  for (std::thread& thread : threads) thread.join();
  stop = true;
  rotator.join();
  EVP_MAC_free(hmac);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(decrypted.load(), 0);
}

TEST(HttpServerTlsConcurrencyTest, ReloadUnderLoadDropsNoConnection) {
  std::string pattern = (std::filesystem::temp_directory_path() / "sg-https-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const std::filesystem::path dir = pattern;
  std::optional<streamgate::test::TestPki> pki;
  pki.emplace(dir);
  std::array<TlsServerOptions, 2> certs;
  certs[0].certificates = {pki->Leaf("one", {"one.test"})};
  certs[1].certificates = {pki->Leaf("two", {"two.test"})};

  HttpServerOptions options;
  options.threads = 2;
  options.tls = certs[0];
  auto server = HttpServer::Start(options, [](const HttpRequest&) {
    HttpResponse response;
    response.body = "fine";
    return response;
  });
  ASSERT_TRUE(server.has_value()) << server.error().ToString();

  std::atomic<int> failures{0};
  std::atomic<int> served{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      test::TlsPeerSettings settings;
      settings.ca_file = pki->ca_file();
      for (int i = 0; i < 20; ++i) {
        const test::TlsPeerOutcome out = test::TlsConnect((*server)->port(), settings);
        if (!out.handshake_ok || out.response.find("fine") == std::string::npos) {
          ++failures;
        } else {
          ++served;
        }
        settings.session = out.session;  // resumptions across reloads too
      }
    });
  }
  for (int r = 0; r < 30; ++r) {
    EXPECT_TRUE((*server)->ReloadTls(certs[static_cast<std::size_t>(r % 2)]).has_value());
  }
  for (std::thread& client : clients) client.join();
  (*server)->Stop();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(served.load(), 80);
  pki.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace streamgate::net
