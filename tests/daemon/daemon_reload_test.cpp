// Config reload on a running daemon (POST /api/v1/reload, what SIGHUP does): the differences
// apply without failing a single request under load; an invalid file is refused with its
// errors and the running config stays; what needs a restart is named.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "config/config.hpp"
#include "daemon/daemon.hpp"
#include "net/demo_origin.hpp"
#include "proxy/tls_test_support.hpp"
#include "support/http_client.hpp"
#include "support/tls_certs.hpp"

namespace streamgate::daemon {
namespace {

using testing::HttpConnection;

class DaemonReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("daemon-reload-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    for (const char* id : {"a", "b", "c"}) {
      net::DemoOriginOptions options;
      options.id = id;
      auto origin = net::DemoOrigin::Start(options);
      ASSERT_TRUE(origin) << origin.error().ToString();
      origins_[id] = std::move(*origin);
    }
    file_ = dir_ / "streamgate.yaml";
  }
  void TearDown() override {
    daemon_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Backend(const std::string& id, int weight = 1) {
    return "  - {id: web-" + id +
           ", address: 127.0.0.1, port: " + std::to_string(origins_[id]->port()) +
           ", region: us-east-1, weight: " + std::to_string(weight) + "}\n";
  }
  // A config with `backends` (YAML list entries) and `extra` top-level text.
  std::string Yaml(const std::string& backends, const std::string& extra = "",
                   const std::string& admin_port = "0") {
    return "admin:\n  listen: 127.0.0.1:" + admin_port +
           "\n"
           "health_check: {interval: 1h, timeout: 1s}\n"
           "regions:\n"
           "  - {id: us-east-1, endpoint: http://127.0.0.1:" +
           std::to_string(origins_["a"]->port()) +
           ", primary: true}\n"
           "listeners:\n"
           "  - {name: public, listen: 127.0.0.1:0}\n"
           "proxy: {threads: 2}\n"
           "backends:\n" +
           backends + extra;
  }
  void Write(const std::string& yaml) { std::ofstream(file_) << yaml; }
  void Start(const std::string& yaml) {
    Write(yaml);
    auto config = config::LoadConfigFile(file_);
    ASSERT_TRUE(config) << config.error().front().ToString();
    auto daemon = Daemon::Start(*config);
    ASSERT_TRUE(daemon) << daemon.error().ToString();
    daemon_ = std::move(*daemon);
  }
  // POST /api/v1/reload; the status and the JSON answer.
  std::pair<int, nlohmann::json> Reload() {
    auto response =
        testing::HttpRequestBlocking("POST", "127.0.0.1", daemon_->admin_port(), "/api/v1/reload");
    EXPECT_TRUE(response) << response.error().ToString();
    if (!response) return {0, {}};
    return {response->status, nlohmann::json::parse(response->body, nullptr, false)};
  }
  std::vector<std::string> BackendIds() {
    std::vector<std::string> ids;
    for (const auto& backend : daemon_->balancer()->ListBackends()) ids.push_back(backend.id);
    return ids;
  }
  static bool Lists(const nlohmann::json& lines, std::string_view text) {
    for (const auto& line : lines) {
      if (line.get<std::string>().find(text) != std::string::npos) return true;
    }
    return false;
  }

  std::filesystem::path dir_;
  std::filesystem::path file_;
  std::map<std::string, std::unique_ptr<net::DemoOrigin>> origins_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonReloadTest, ReloadUnderLoadFailsNoRequest) {
  Start(Yaml(Backend("a") + Backend("b")));
  const std::uint16_t port = daemon_->proxy_port();

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::map<std::string, int> served_by;  // X-Origin-Id -> answers
  auto count = [&](const Result<testing::ClientResponse>& response) {
    std::lock_guard lock(mu);
    if (!response || response->status != 200) {
      failures.push_back(response ? std::to_string(response->status) + " " + response->body
                                  : response.error().ToString());
      return;
    }
    ++ok;
    ++served_by[std::string(response->Header("X-Origin-Id").value_or("?"))];
  };
  std::vector<std::thread> load;
  for (int t = 0; t < 2; ++t) {  // kept-alive connections
    load.emplace_back([&] {
      auto connection = HttpConnection::Connect("127.0.0.1", port);
      if (!connection) return count(std::unexpected(connection.error()));
      while (!stop) count(connection->Request("GET", "/id"));
    });
  }
  load.emplace_back([&] {  // a new connection per request
    while (!stop) count(testing::HttpGet("127.0.0.1", port, "/id"));
  });
  auto pause = [] { std::this_thread::sleep_for(std::chrono::milliseconds(150)); };

  pause();
  Write(Yaml(Backend("a") + Backend("b") + Backend("c")));
  auto [status, body] = Reload();
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_TRUE(Lists(body["applied"], "backend 'web-c' added")) << body.dump();
  EXPECT_TRUE(body["restart_required"].empty()) << body.dump();
  pause();
  std::string yaml =
      Yaml(Backend("b", 3) + Backend("c"), "load_balancer: {strategy: least_conn}\n");
  yaml.replace(yaml.find("proxy: {threads: 2}"), 19, "proxy: {threads: 2, idle_timeout: 30s}");
  Write(yaml);
  std::tie(status, body) = Reload();
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_TRUE(Lists(body["applied"], "backend 'web-a' removed")) << body.dump();
  EXPECT_TRUE(Lists(body["applied"], "backend 'web-b' changed")) << body.dump();
  EXPECT_TRUE(Lists(body["applied"], "strategy set to least_conn")) << body.dump();
  EXPECT_TRUE(body["failed"].empty()) << body.dump();
  pause();
  const int ok_after_last_reload = ok.load();
  {
    std::lock_guard lock(mu);
    served_by.clear();
  }
  pause();
  stop = true;
  for (auto& thread : load) thread.join();

  std::printf("reload under load: %d requests answered 200, %zu failed, across 2 reloads\n",
              ok.load(), failures.size());
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  EXPECT_GT(ok.load(), ok_after_last_reload) << "traffic kept flowing after the reloads";
  EXPECT_EQ(served_by.count("a"), 0u) << "the removed backend gets no new request";
  EXPECT_GT(served_by["c"], 0) << "the added backend serves";
  EXPECT_EQ(BackendIds(), (std::vector<std::string>{"web-b", "web-c"}));
  EXPECT_EQ(daemon_->balancer()->GetBackend("web-b")->weight, 3u);
  EXPECT_EQ(daemon_->balancer()->GetStrategy(), scaling::LoadBalancingStrategy::kLeastConnections);
}

TEST_F(DaemonReloadTest, AnInvalidConfigIsRefusedWithItsErrorsAndTheRunningOneKept) {
  Start(Yaml(Backend("a")));
  auto connection = HttpConnection::Connect("127.0.0.1", daemon_->proxy_port());
  ASSERT_TRUE(connection);
  ASSERT_EQ(connection->Request("GET", "/id")->status, 200);

  // A backend with a port that is not a number, on line 11 of the file.
  Write(Yaml(Backend("a") + "  - {id: web-x, address: 127.0.0.1, port: eighty}\n"));
  auto [status, body] = Reload();
  EXPECT_EQ(status, 400) << body.dump();
  const std::string error = body.value("error", "");
  EXPECT_NE(error.find("streamgate.yaml:11"), std::string::npos) << error;
  // A certificate file that does not exist: parses, but the TLS check refuses it.
  Write(Yaml(Backend("a") + Backend("b")) +
        "  - {id: web-tls, address: 127.0.0.1, port: 1, tls: {ca_file: missing-ca.pem}}\n");
  std::tie(status, body) = Reload();
  EXPECT_EQ(status, 400) << body.dump();
  EXPECT_NE(body.value("error", "").find("missing-ca.pem"), std::string::npos) << body.dump();

  EXPECT_EQ(BackendIds(), std::vector<std::string>{"web-a"}) << "nothing was applied";
  auto still = connection->Request("GET", "/id");
  ASSERT_TRUE(still) << "the open connection survived";
  EXPECT_EQ(still->status, 200);

  Write(Yaml(Backend("b")));  // fixed: the next reload applies
  std::tie(status, body) = Reload();
  EXPECT_EQ(status, 200) << body.dump();
  EXPECT_EQ(BackendIds(), std::vector<std::string>{"web-b"});
}

TEST_F(DaemonReloadTest, WhatNeedsARestartIsNamedAndTheRestApplied) {
  Start(Yaml(Backend("a")));
  Write(Yaml(Backend("a") + Backend("b"), "", "1"));  // another admin port
  auto [status, body] = Reload();
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_TRUE(Lists(body["restart_required"], "admin.listen")) << body.dump();
  EXPECT_TRUE(Lists(body["applied"], "backend 'web-b' added")) << body.dump();
  // Still named on the next reload: the daemon still listens where it started.
  std::tie(status, body) = Reload();
  EXPECT_TRUE(Lists(body["restart_required"], "admin.listen")) << body.dump();
}

TEST_F(DaemonReloadTest, AReloadedTokenGuardsTheNextCalls) {
  Start(Yaml(Backend("a")));
  // Token added in the file: reload is itself a state change, so the next one needs it.
  std::string yaml = Yaml(Backend("a"));
  yaml.insert(yaml.find("health_check"), "  token: s3cret\n");
  Write(yaml);
  ASSERT_EQ(Reload().first, 200);
  EXPECT_EQ(Reload().first, 401);
  auto authorized =
      testing::HttpRequestBlocking("POST", "127.0.0.1", daemon_->admin_port(), "/api/v1/reload", {},
                                   {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(authorized);
  EXPECT_EQ(authorized->status, 200);
}

TEST_F(DaemonReloadTest, AListenerChangeNeedsARestartAndLaterReloadsStillApply) {
  Start(Yaml(Backend("a")));
  std::string two = Yaml(Backend("a"));
  two.insert(two.find("proxy:"), "  - {name: second, listen: 127.0.0.1:0}\n");
  Write(two);
  auto [status, body] = Reload();
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_TRUE(Lists(body["restart_required"], "listeners")) << body.dump();
  Write(two + Backend("b"));
  std::tie(status, body) = Reload();
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_TRUE(Lists(body["applied"], "backend 'web-b' added")) << body.dump();
  EXPECT_EQ(testing::HttpGet("127.0.0.1", daemon_->proxy_port(), "/id")->status, 200);
}

TEST_F(DaemonReloadTest, AnApiDeactivationSurvivesAReloadThatEditsSomethingElse) {
  Start(Yaml(Backend("a") + Backend("b")));
  ASSERT_EQ(testing::HttpRequestBlocking("POST", "127.0.0.1", daemon_->admin_port(),
                                         "/api/v1/backends/web-a/deactivate")
                ->status,
            200);
  Write(Yaml(Backend("a", 4) + Backend("b")));
  auto [status, body] = Reload();
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_TRUE(Lists(body["applied"], "backend 'web-a' changed")) << body.dump();
  auto backend = daemon_->balancer()->GetBackend("web-a");
  EXPECT_EQ(backend->weight, 4u);
  EXPECT_FALSE(backend->active) << "the file did not touch `active`: the API's choice stays";
}

TEST_F(DaemonReloadTest, AChangeAManagerRefusedIsRetriedByTheNextReload) {
  const std::filesystem::path source = dir_ / "data";
  const std::string dr =
      "disaster_recovery:\n  plans:\n"
      "    - {id: p1, sources: [" +
      source.string() + "], repository: " + (dir_ / "repo").string() + ", interval: 24h}\n";
  std::filesystem::create_directories(source);
  const std::string without_plan = "disaster_recovery:\n  plans: []\n";
  Start(Yaml(Backend("a"), without_plan));
  std::filesystem::remove_all(source);  // the plan's source is missing: CreatePlan refuses
  Write(Yaml(Backend("a"), dr));
  auto [status, body] = Reload();
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_TRUE(Lists(body["failed"], "plan 'p1' added")) << body.dump();
  EXPECT_FALSE(daemon_->disaster_recovery()->GetPlan("p1"));

  std::filesystem::create_directories(source);
  std::tie(status, body) = Reload();  // same file: the refused change is still a difference
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_TRUE(Lists(body["applied"], "plan 'p1' added")) << body.dump();
  EXPECT_TRUE(daemon_->disaster_recovery()->GetPlan("p1"));
}

TEST_F(DaemonReloadTest, CertificatesOfTheAdminListenerAndProxyListenersAreReReadInPlace) {
  streamgate::test::TestPki pki(dir_);
  // Renewing in place: same file names, new contents, then a reload.
  auto admin_cert = pki.Leaf("admin", {"admin-1.test"});
  auto proxy_cert = pki.Leaf("proxy", {"proxy-1.test"});
  std::string yaml = Yaml(Backend("a"));
  yaml.insert(yaml.find("health_check"),
              "  tls: {certificates: [{cert: admin.pem, key: admin.key}]}\n");
  yaml.replace(yaml.find("listen: 127.0.0.1:0}"), 20,
               "listen: 127.0.0.1:0, tls: {certificates: [{cert: proxy.pem, key: proxy.key}]}}");
  Start(yaml);
  auto served_name = [](std::uint16_t port) {
    proxy::test::TlsClientSettings settings;
    settings.request = proxy::test::GetRequest("/healthz", "localhost");
    proxy::test::TlsClientOutcome outcome = proxy::test::TlsExchange(port, settings);
    EXPECT_TRUE(outcome.handshake_ok) << outcome.error;
    return outcome.peer_cn;
  };
  EXPECT_EQ(served_name(daemon_->admin_port()), "admin-1.test");
  EXPECT_EQ(served_name(daemon_->proxy_port()), "proxy-1.test");

  (void)pki.Leaf("admin", {"admin-2.test"});
  (void)pki.Leaf("proxy", {"proxy-2.test"});
  // The admin API is HTTPS now: reload through the daemon directly.
  auto summary = daemon_->Reload();
  ASSERT_TRUE(summary) << summary.error().ToString();
  EXPECT_TRUE(summary->failed.empty());
  EXPECT_EQ(served_name(daemon_->admin_port()), "admin-2.test");
  EXPECT_EQ(served_name(daemon_->proxy_port()), "proxy-2.test");
}

}  // namespace
}  // namespace streamgate::daemon
