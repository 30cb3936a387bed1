// streamgatectl against an HTTPS admin listener (admin.tls) on loopback: verified with the CA
// given by --cacert or STREAMGATE_ADMIN_CACERT, refused without it (saying to use --cacert),
// and --insecure to skip verification.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <sstream>
#include <string>

#include "ctl/ctl.hpp"
#include "net/http_server.hpp"
#include "support/tls_certs.hpp"

namespace streamgate::ctl {
namespace {

class CtlTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "sg-ctl-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    pki_.emplace(dir_);
    net::HttpServerOptions options;
    options.tls.emplace();
    options.tls->certificates = {pki_->Leaf("admin", {"localhost", "IP:127.0.0.1"})};
    auto server = net::HttpServer::Start(options, [](const net::HttpRequest& request) {
      net::HttpResponse response;
      response.content_type = "application/json";
      response.body = request.path == "/healthz" ? R"({"status":"ok"})" : R"({"error":"no"})";
      if (request.path != "/healthz") response.status = 404;
      return response;
    });
    ASSERT_TRUE(server.has_value()) << server.error().ToString();
    server_ = std::move(*server);
    env_.admin_url = "https://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    if (server_) server_->Stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  struct Run {
    int code = -1;
    std::string out;
    std::string err;
  };
  Run Ctl(const std::vector<std::string>& args, const CtlEnvironment& env) {
    std::ostringstream out;
    std::ostringstream err;
    Run run;
    run.code = RunCtl(args, out, err, env);
    run.out = out.str();
    run.err = err.str();
    return run;
  }

  std::filesystem::path dir_;
  std::optional<test::TestPki> pki_;
  std::unique_ptr<net::HttpServer> server_;
  CtlEnvironment env_;
};

TEST_F(CtlTlsTest, VerifiesTheAdminCertificateWithTheGivenCa) {
  const Run run = Ctl({"--cacert", pki_->ca_file(), "health"}, env_);
  EXPECT_EQ(run.code, kExitOk) << run.err;
  EXPECT_NE(run.out.find("status: ok"), std::string::npos) << run.out;

  CtlEnvironment from_env = env_;
  from_env.cacert = pki_->ca_file();
  const Run via_env = Ctl({"health"}, from_env);
  EXPECT_EQ(via_env.code, kExitOk) << via_env.err;
}

TEST_F(CtlTlsTest, RefusesAnUntrustedCertificateAndSaysToUseCacert) {
  const Run run = Ctl({"health"}, env_);
  EXPECT_EQ(run.code, kExitUnreachable);
  EXPECT_NE(run.err.find("--cacert"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("certificate"), std::string::npos) << run.err;

  // Another CA is no better.
  test::TestPki other(dir_, "other");
  const Run wrong_ca = Ctl({"--cacert", other.ca_file(), "health"}, env_);
  EXPECT_EQ(wrong_ca.code, kExitUnreachable) << wrong_ca.err;
  EXPECT_NE(wrong_ca.err.find("--cacert"), std::string::npos) << wrong_ca.err;

  const Run missing = Ctl({"--cacert", (dir_ / "missing.pem").string(), "health"}, env_);
  EXPECT_EQ(missing.code, kExitUsage) << missing.err;
}

TEST_F(CtlTlsTest, InsecureSkipsVerification) {
  const Run run = Ctl({"--insecure", "health"}, env_);
  EXPECT_EQ(run.code, kExitOk) << run.err;
  const Run both = Ctl({"--insecure", "--cacert", pki_->ca_file(), "health"}, env_);
  EXPECT_EQ(both.code, kExitUsage) << both.err;
}

}  // namespace
}  // namespace streamgate::ctl
