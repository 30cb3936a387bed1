// `tls:` sections of listeners and backends, and check-config's look at the files they name.
#include "config/tls_config.hpp"

#include <gtest/gtest.h>
#include <openssl/ocsp.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"
#include "support/tls_certs.hpp"

namespace streamgate::config {
namespace {

class TlsConfigTest : public ::testing::Test {
 protected:
  TlsConfigTest() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sg-tls-XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    pki_.emplace(dir_);
  }
  ~TlsConfigTest() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Writes `yaml` next to the certificates and loads it (relative paths resolve there).
  std::expected<Config, std::vector<ConfigIssue>> Load(const std::string& yaml) {
    const std::filesystem::path file = dir_ / "streamgate.yaml";
    std::ofstream(file) << yaml;
    return LoadConfigFile(file);
  }

  std::filesystem::path dir_;
  std::optional<test::TestPki> pki_;
};

TEST_F(TlsConfigTest, ParsesListenerAndBackendTlsAndResolvesPathsAgainstTheFile) {
  (void)pki_->Leaf("a", {"a.test"});
  (void)pki_->Leaf("b", {"*.b.test"});
  auto config = Load(R"(listeners:
  - name: public
    listen: 127.0.0.1:0
    tls:
      certificates:
        - {cert: a.pem, key: a.key}
        - {cert: b.pem, key: b.key}
      min_version: "1.3"
      alpn: [http/1.1]
      session_lifetime: 2h
backends:
  - id: b1
    address: 127.0.0.1
    port: 9443
    tls: {ca_file: test-ca.pem, server_name: backend.test}
  - id: b2
    address: 127.0.0.1
    port: 9444
    tls: {enabled: false}
)");
  ASSERT_TRUE(config.has_value()) << config.error().front().ToString();
  ASSERT_TRUE(config->listeners[0].tls.has_value());
  const ListenerTlsConfig& tls = *config->listeners[0].tls;
  ASSERT_EQ(tls.options.certificates.size(), 2u);
  EXPECT_EQ(tls.options.certificates[1].cert, (dir_ / "b.pem").string());
  EXPECT_EQ(tls.options.min_version, net::TlsVersion::kTls13);
  EXPECT_EQ(tls.options.session_lifetime, std::chrono::hours(2));
  EXPECT_EQ(tls.certificate_lines, (std::vector<int>{6, 7}));
  ASSERT_TRUE(config->backends[0].tls.has_value());
  EXPECT_TRUE(config->backends[0].tls->options.enabled);
  EXPECT_TRUE(config->backends[0].tls->options.verify);
  EXPECT_EQ(config->backends[0].tls->options.ca_file, (dir_ / "test-ca.pem").string());
  EXPECT_FALSE(config->backends[1].tls->options.enabled);

  const TlsFileCheck check = CheckTlsFiles(*config, std::chrono::system_clock::now());
  EXPECT_TRUE(check.issues.empty()) << check.issues.front().ToString();
  ASSERT_EQ(check.notes.size(), 2u);
  EXPECT_NE(check.notes[1].find("*.b.test"), std::string::npos) << check.notes[1];
}

TEST_F(TlsConfigTest, ReportsBadTlsSettingsWithTheirLines) {
  auto config = Load(R"(listeners:
  - name: public
    listen: 127.0.0.1:0
    tls:
      certificates: []
      min_version: "1.1"
      colour: blue
backends:
  - id: b1
    address: 127.0.0.1
    port: 9443
    tls: {client_cert: c.pem}
)");
  ASSERT_FALSE(config.has_value());
  std::string all;
  for (const ConfigIssue& issue : config.error()) all += issue.ToString() + "\n";
  EXPECT_NE(all.find("streamgate.yaml:5: listeners[0].tls.certificates: must list at least one"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find(":6: listeners[0].tls.min_version: expected \"1.2\" or \"1.3\""),
            std::string::npos)
      << all;
  EXPECT_NE(all.find(":7: unknown key 'colour'"), std::string::npos) << all;
  EXPECT_NE(all.find(":12: backends[0].tls: client_cert and client_key go together"),
            std::string::npos)
      << all;
}

TEST_F(TlsConfigTest, CheckFlagsExpiredCertificatesMismatchedKeysAndUnreadableFiles) {
  (void)pki_->Leaf("old", {"old.test"}, -10, 5);
  (void)pki_->Leaf("a", {"a.test"});
  (void)pki_->OtherKey("other");
  auto config = Load(R"(listeners:
  - name: public
    listen: 127.0.0.1:0
    tls:
      certificates:
        - {cert: old.pem, key: old.key}
        - {cert: a.pem, key: other.key}
        - {cert: nowhere.pem, key: a.key}
backends:
  - id: b1
    address: 127.0.0.1
    port: 9443
    tls: {ca_file: a.key}
)");
  ASSERT_TRUE(config.has_value()) << config.error().front().ToString();
  const TlsFileCheck check = CheckTlsFiles(*config, std::chrono::system_clock::now());
  ASSERT_EQ(check.issues.size(), 4u);
  EXPECT_EQ(check.issues[0].line, 6);
  EXPECT_NE(check.issues[0].message.find("expired on"), std::string::npos)
      << check.issues[0].message;
  EXPECT_NE(check.issues[0].message.find("old.test"), std::string::npos);
  EXPECT_EQ(check.issues[1].line, 7);
  EXPECT_NE(check.issues[1].message.find("does not match"), std::string::npos);
  EXPECT_EQ(check.issues[2].line, 8);
  EXPECT_NE(check.issues[2].message.find("nowhere.pem"), std::string::npos);
  EXPECT_EQ(check.issues[3].line, 13);
  EXPECT_NE(check.issues[3].message.find("backend 'b1'"), std::string::npos);
}

TEST_F(TlsConfigTest, ParsesAdminTlsStaplesAndTicketRotation) {
  const net::TlsCertificateFiles a = pki_->Leaf("a", {"a.test"});
  (void)pki_->OcspStaple(a, "a-ocsp");
  (void)pki_->Leaf("admin", {"admin.test", "IP:127.0.0.1"});
  auto config = Load(R"(admin:
  listen: 127.0.0.1:0
  tls:
    certificates:
      - {cert: admin.pem, key: admin.key}
    min_version: "1.3"
listeners:
  - name: public
    listen: 127.0.0.1:0
    tls:
      certificates:
        - {cert: a.pem, key: a.key, ocsp_staple: a-ocsp.der}
      session_ticket_rotation: 1h
      session_lifetime: 2h
)");
  ASSERT_TRUE(config.has_value()) << config.error().front().ToString();
  ASSERT_TRUE(config->admin.tls.has_value());
  EXPECT_EQ(config->admin.tls->options.certificates.at(0).cert, (dir_ / "admin.pem").string());
  EXPECT_EQ(config->admin.tls->options.min_version, net::TlsVersion::kTls13);
  EXPECT_EQ(config->admin.tls->options.session_ticket_rotation, net::kDefaultTicketKeyRotation);
  EXPECT_EQ(config->admin.tls->certificate_lines, (std::vector<int>{5}));
  const net::TlsServerOptions& listener = config->listeners.at(0).tls->options;
  EXPECT_EQ(listener.certificates.at(0).ocsp_staple, (dir_ / "a-ocsp.der").string());
  EXPECT_EQ(listener.session_ticket_rotation, std::chrono::hours(1));

  const TlsFileCheck check = CheckTlsFiles(*config, std::chrono::system_clock::now());
  EXPECT_TRUE(check.issues.empty()) << check.issues.front().ToString();
  std::string notes;
  for (const std::string& note : check.notes) notes += note + "\n";
  EXPECT_NE(notes.find("admin: "), std::string::npos) << notes;
  EXPECT_NE(notes.find("OCSP staple " + (dir_ / "a-ocsp.der").string() + ": good"),
            std::string::npos)
      << notes;

  // A session lifetime the ticket ring cannot honour.
  auto too_long = Load(R"(listeners:
  - name: public
    listen: 127.0.0.1:0
    tls:
      certificates: [{cert: a.pem, key: a.key}]
      session_ticket_rotation: 1h
      session_lifetime: 3h
)");
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().front().line, 7);
  EXPECT_NE(too_long.error().front().message.find("raise session_ticket_rotation"),
            std::string::npos)
      << too_long.error().front().ToString();
  auto zero = Load(R"(admin:
  tls:
    certificates: [{cert: a.pem, key: a.key}]
    session_ticket_rotation: 0s
)");
  ASSERT_FALSE(zero.has_value());
  EXPECT_NE(zero.error().front().ToString().find(":4: admin.tls.session_ticket_rotation"),
            std::string::npos)
      << zero.error().front().ToString();
  auto empty = Load("admin:\n  tls:\n");
  ASSERT_FALSE(empty.has_value());
  EXPECT_NE(empty.error().front().ToString().find(":2: admin.tls: missing required key"),
            std::string::npos)
      << empty.error().front().ToString();
}

TEST_F(TlsConfigTest, CheckFlagsBadStaplesAndAdminCertificates) {
  const net::TlsCertificateFiles a = pki_->Leaf("a", {"a.test"});
  const net::TlsCertificateFiles b = pki_->Leaf("b", {"b.test"});
  (void)pki_->OcspStaple(a, "stale", V_OCSP_CERTSTATUS_GOOD, -1);
  (void)pki_->OcspStaple(b, "revoked", V_OCSP_CERTSTATUS_REVOKED);
  (void)pki_->OcspStaple(b, "for-b");
  std::ofstream(dir_ / "garbage.der") << "junk";
  (void)pki_->Leaf("admin-old", {"admin.test"}, -10, 5);
  auto config = Load(R"(admin:
  tls:
    certificates:
      - {cert: admin-old.pem, key: admin-old.key}
listeners:
  - name: public
    listen: 127.0.0.1:0
    tls:
      certificates:
        - {cert: a.pem, key: a.key, ocsp_staple: stale.der}
        - {cert: b.pem, key: b.key, ocsp_staple: revoked.der}
        - {cert: a.pem, key: a.key, ocsp_staple: garbage.der}
        - {cert: a.pem, key: a.key, ocsp_staple: for-b.der}
)");
  ASSERT_TRUE(config.has_value()) << config.error().front().ToString();
  const TlsFileCheck check = CheckTlsFiles(*config, std::chrono::system_clock::now());
  std::string all;
  for (const ConfigIssue& issue : check.issues) all += issue.ToString() + "\n";
  ASSERT_EQ(check.issues.size(), 4u) << all;
  EXPECT_EQ(check.issues[0].line, 4);
  EXPECT_NE(check.issues[0].message.find("admin: certificate"), std::string::npos) << all;
  EXPECT_NE(check.issues[0].message.find("expired on"), std::string::npos) << all;
  EXPECT_EQ(check.issues[1].line, 11);
  EXPECT_NE(check.issues[1].message.find("is revoked"), std::string::npos) << all;
  EXPECT_EQ(check.issues[2].line, 12);
  EXPECT_NE(check.issues[2].message.find("garbage.der: not a DER OCSP response"), std::string::npos)
      << all;
  EXPECT_EQ(check.issues[3].line, 13);
  EXPECT_NE(check.issues[3].message.find("another certificate"), std::string::npos) << all;
  std::string notes;
  for (const std::string& note : check.notes) notes += note + "\n";
  EXPECT_NE(notes.find("stale.der: its nextUpdate"), std::string::npos) << notes;
  EXPECT_NE(notes.find("has passed"), std::string::npos) << notes;
}

}  // namespace
}  // namespace streamgate::config
