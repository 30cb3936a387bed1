// OCSP stapling: a DER response made at test time (signed by the test CA) is stapled to the
// handshake of clients that ask, per certificate (after SNI), re-read on rebuild, and refused
// with the file named when it is not a successful OCSP response for the certificate.
#include <gtest/gtest.h>
#include <openssl/ocsp.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "net/tls_context.hpp"
#include "net/tls_test_peer.hpp"
#include "support/tls_certs.hpp"

namespace streamgate::net {
namespace {

using namespace std::chrono_literals;
using test::TlsConnect;
using test::TlsPeerOutcome;
using test::TlsPeerSettings;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class OcspStaplingTest : public ::testing::TestWithParam<int> {
 protected:
  OcspStaplingTest() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sg-ocsp-XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    pki_.emplace(dir_);
  }
  ~OcspStaplingTest() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  TlsPeerOutcome Connect(std::uint16_t port, bool ask, const std::string& sni = "") {
    TlsPeerSettings settings;
    settings.max_version = GetParam();
    settings.ca_file = pki_->ca_file();
    settings.ask_status = ask;
    settings.sni = sni;
    TlsPeerOutcome out = TlsConnect(port, settings);
    EXPECT_TRUE(out.handshake_ok) << out.error;
    return out;
  }

  std::filesystem::path dir_;
  std::optional<streamgate::test::TestPki> pki_;
};

TEST_P(OcspStaplingTest, StaplesExactlyTheFileToClientsThatAsk) {
  TlsCertificateFiles files = pki_->Leaf("a", {"a.test"});
  files.ocsp_staple = pki_->OcspStaple(files, "a-ocsp");
  TlsServerOptions options;
  options.certificates = {files};
  auto context = TlsServerContext::Create(options);
  ASSERT_TRUE(context.has_value()) << context.error().ToString();
  test::SwappableTlsServer server(*context);

  const TlsPeerOutcome asked = Connect(server.port(), /*ask=*/true);
  EXPECT_TRUE(asked.got_staple);
  EXPECT_EQ(asked.staple, ReadBytes(files.ocsp_staple));

  const TlsPeerOutcome silent = Connect(server.port(), /*ask=*/false);
  EXPECT_FALSE(silent.got_staple);
}

TEST_P(OcspStaplingTest, TheStapleFollowsTheCertificateChosenBySni) {
  TlsCertificateFiles plain = pki_->Leaf("default", {"default.test"});
  TlsCertificateFiles stapled = pki_->Leaf("b", {"b.test"});
  stapled.ocsp_staple = pki_->OcspStaple(stapled, "b-ocsp");
  TlsServerOptions options;
  options.certificates = {plain, stapled};
  auto context = TlsServerContext::Create(options);
  ASSERT_TRUE(context.has_value()) << context.error().ToString();
  test::SwappableTlsServer server(*context);

  const TlsPeerOutcome to_b = Connect(server.port(), true, "b.test");
  EXPECT_EQ(to_b.peer_cn, "b.test");
  EXPECT_EQ(to_b.staple, ReadBytes(stapled.ocsp_staple));
  const TlsPeerOutcome to_default = Connect(server.port(), true, "default.test");
  EXPECT_EQ(to_default.peer_cn, "default.test");
  EXPECT_FALSE(to_default.got_staple);
}

TEST_P(OcspStaplingTest, ARebuiltContextReadsTheRefreshedFile) {
  TlsCertificateFiles files = pki_->Leaf("a", {"a.test"});
  files.ocsp_staple = pki_->OcspStaple(files, "staple", V_OCSP_CERTSTATUS_GOOD, 1);
  TlsServerOptions options;
  options.certificates = {files};
  auto first = TlsServerContext::Create(options);
  ASSERT_TRUE(first.has_value());
  test::SwappableTlsServer server(*first);
  const std::string old_bytes = Connect(server.port(), true).staple;

  ASSERT_EQ(pki_->OcspStaple(files, "staple", V_OCSP_CERTSTATUS_GOOD, 7), files.ocsp_staple);
  const std::string new_bytes = ReadBytes(files.ocsp_staple);
  ASSERT_NE(new_bytes, old_bytes);
  EXPECT_EQ(Connect(server.port(), true).staple, old_bytes);  // loaded once, not per handshake
  auto rebuilt = TlsServerContext::Create(options, (*first)->ticket_keys());
  ASSERT_TRUE(rebuilt.has_value());
  server.Use(*rebuilt);
  EXPECT_EQ(Connect(server.port(), true).staple, new_bytes);
}

INSTANTIATE_TEST_SUITE_P(Versions, OcspStaplingTest,
                         ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return param.param == TLS1_2_VERSION ? std::string("Tls12")
                                                                : std::string("Tls13");
                         });

// The file checks need no handshake (the version parameter is unused).
class OcspFileTest : public OcspStaplingTest {};

TEST_F(OcspFileTest, RefusesStaplesThatAreNotSuccessfulResponsesForTheCertificate) {
  TlsCertificateFiles files = pki_->Leaf("a", {"a.test"});
  TlsServerOptions options;
  auto refused = [&](const std::string& staple) {
    options.certificates = {files};
    options.certificates[0].ocsp_staple = staple;
    auto context = TlsServerContext::Create(options);
    EXPECT_FALSE(context.has_value());
    return context.has_value() ? std::string() : context.error().message();
  };

  const std::string garbage = (dir_ / "garbage.der").string();
  std::ofstream(garbage, std::ios::binary) << "not an OCSP response";
  std::string message = refused(garbage);
  EXPECT_NE(message.find("garbage.der"), std::string::npos) << message;
  EXPECT_NE(message.find("not a DER OCSP response"), std::string::npos) << message;

  message = refused((dir_ / "missing.der").string());
  EXPECT_NE(message.find("missing.der"), std::string::npos) << message;

  // A "tryLater" answer from the responder carries no status to staple.
  OCSP_RESPONSE* try_later = OCSP_response_create(OCSP_RESPONSE_STATUS_TRYLATER, nullptr);
  unsigned char* der = nullptr;
  const int length = i2d_OCSP_RESPONSE(try_later, &der);
  const std::string try_later_path = (dir_ / "trylater.der").string();
  std::ofstream(try_later_path, std::ios::binary).write(reinterpret_cast<const char*>(der), length);
  OPENSSL_free(der);
  OCSP_RESPONSE_free(try_later);
  message = refused(try_later_path);
  EXPECT_NE(message.find("trylater.der"), std::string::npos) << message;
  EXPECT_NE(message.find("not successful"), std::string::npos) << message;

  // A good response, but about another certificate.
  const TlsCertificateFiles other = pki_->Leaf("other", {"other.test"});
  message = refused(pki_->OcspStaple(other, "other-ocsp"));
  EXPECT_NE(message.find("another certificate"), std::string::npos) << message;

  // The same checks pass for the right one.
  options.certificates[0].ocsp_staple = pki_->OcspStaple(files, "a-ocsp");
  auto accepted = TlsServerContext::Create(options);
  EXPECT_TRUE(accepted.has_value()) << accepted.error().ToString();
}

TEST_F(OcspFileTest, InspectReportsStatusAndStaleness) {
  const WallTime now = std::chrono::system_clock::now();
  TlsCertificateFiles files = pki_->Leaf("a", {"a.test"});
  auto good = InspectOcspStaple(pki_->OcspStaple(files, "good"), files.cert, now);
  ASSERT_TRUE(good.has_value()) << good.error().ToString();
  EXPECT_EQ(good->cert_status, "good");
  ASSERT_TRUE(good->next_update.has_value());
  EXPECT_GT(*good->next_update, now + 24h * 6);
  EXPECT_FALSE(good->stale);
  EXPECT_LT(good->this_update, now);

  auto stale = InspectOcspStaple(pki_->OcspStaple(files, "stale", V_OCSP_CERTSTATUS_GOOD, -1),
                                 files.cert, now);
  ASSERT_TRUE(stale.has_value());
  EXPECT_TRUE(stale->stale);

  auto revoked = InspectOcspStaple(pki_->OcspStaple(files, "revoked", V_OCSP_CERTSTATUS_REVOKED),
                                   files.cert, now);
  ASSERT_TRUE(revoked.has_value());
  EXPECT_EQ(revoked->cert_status, "revoked");
}

}  // namespace
}  // namespace streamgate::net
