// `tls:` sections of listeners and backends, and check-config's look at the files they name.
#include "config/tls_config.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace streamgate::config
