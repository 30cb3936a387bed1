// The proxy writes one access-log line per request: proxied, answered by the proxy itself,
// or cut short; with the backend, status, body bytes and attempts it knows.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "proxy/access_log.hpp"
#include "proxy_test_support.hpp"
#include "tls_test_support.hpp"

namespace streamgate::proxy::test {
namespace {

class ProxyAccessLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() / "access.log";
    auto log = AccessLog::Open(path_.string(), "json");
    ASSERT_TRUE(log) << log.error().ToString();
    log_ = std::move(*log);
    origin_ = StartEchoOrigin("a");
    balancer_ = MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin,
                             {{"dead", DeadPort()}, {"a", origin_->port()}});
    ProxyOptions options = DefaultProxyOptions(1);
    options.listeners[0].name = "edge";
    options.access_log = log_;
    proxy_ = StartProxy(*balancer_, options);
  }
  // Every line written so far, parsed.
  std::vector<nlohmann::json> Lines() {
    log_->Flush();
    std::ifstream in(path_);
    std::vector<nlohmann::json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    return lines;
  }
  // The lines once there are `count` (or after 5 s): a line is written when the proxy thread
  // sees its write complete, which can be just after the client has read the answer.
  std::vector<nlohmann::json> LinesOnce(std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::vector<nlohmann::json> lines = Lines();
    while (lines.size() < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      lines = Lines();
    }
    return lines;
  }

  TempDir dir_;
  std::filesystem::path path_;
  std::shared_ptr<AccessLog> log_;
  std::unique_ptr<net::HttpServer> origin_;
  std::unique_ptr<scaling::GlobalLoadBalancer> balancer_;
  std::unique_ptr<ProxyServer> proxy_;
};

TEST_F(ProxyAccessLogTest, ProxiedAnsweredByTheProxyAndCutShortRequestsEachGetALine) {
  // Round robin starts on the dead backend: one failed attempt, then a retry on "a".
  auto proxied = testing::HttpRequestBlocking("GET", kHost, proxy_->port(), "/hello?x=1", {},
                                              {{"User-Agent", "test-agent/1.0"}});
  ASSERT_TRUE(proxied);
  ASSERT_EQ(proxied->status, 200);
  auto connection = testing::HttpConnection::Connect(kHost, proxy_->port());
  ASSERT_TRUE(connection);
  ASSERT_TRUE(connection->WriteRaw("BAD REQUEST LINE\r\n\r\n"));
  ASSERT_EQ(connection->ReadResponse()->status, 400);

  const std::vector<nlohmann::json> lines = LinesOnce(2);
  ASSERT_EQ(lines.size(), 2u);
  const nlohmann::json& ok = lines[0];
  EXPECT_EQ(ok["method"], "GET");
  EXPECT_EQ(ok["target"], "/hello?x=1");
  EXPECT_EQ(ok["status"], 200);
  EXPECT_EQ(ok["backend"], "a");
  EXPECT_EQ(ok["attempts"], 2);
  EXPECT_EQ(ok["listener"], "edge");
  EXPECT_EQ(ok["client"], "127.0.0.1");
  EXPECT_EQ(ok["user_agent"], "test-agent/1.0");
  EXPECT_EQ(ok["bytes_sent"], proxied->body.size());
  EXPECT_GT(ok["duration_us"].get<std::int64_t>(), 0);
  const nlohmann::json& bad = lines[1];
  EXPECT_EQ(bad["status"], 400);
  EXPECT_EQ(bad["backend"], "");
  EXPECT_EQ(bad["attempts"], 0);
}

TEST_F(ProxyAccessLogTest, ReconfigureTurnsTheLogOff) {
  ASSERT_EQ(testing::HttpGet(kHost, proxy_->port(), "/one")->status, 200);
  ASSERT_EQ(LinesOnce(1).size(), 1u);
  ProxyOptions options = DefaultProxyOptions(1);
  options.listeners[0].name = "edge";
  ASSERT_TRUE(proxy_->Reconfigure(options));
  ASSERT_EQ(testing::HttpGet(kHost, proxy_->port(), "/two")->status, 200);
  const std::vector<nlohmann::json> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["target"], "/one");
}

}  // namespace
}  // namespace streamgate::proxy::test
