// Session-ticket keys that rotate on a clock and survive context rebuilds, with real TLS 1.2 and
// 1.3 handshakes on loopback.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "net/tls_context.hpp"
#include "net/tls_test_peer.hpp"
#include "support/manual_clock.hpp"
#include "support/tls_certs.hpp"

namespace streamgate::net {
namespace {

using namespace std::chrono_literals;
using test::TlsConnect;
using test::TlsPeerOutcome;
using test::TlsPeerSettings;

constexpr std::chrono::seconds kRotation = 12h;

// Runs every test over TLS 1.2 (tickets in the handshake) and TLS 1.3 (tickets after it).
class SessionTicketTest : public ::testing::TestWithParam<int> {
 protected:
  SessionTicketTest() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sg-tls-XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    pki_.emplace(dir_);
    options_.certificates = {pki_->Leaf("a", {"a.test"})};
    options_.session_lifetime = 7 * 24h;  // the ring, not the lifetime, decides here
  }
  ~SessionTicketTest() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::shared_ptr<TlsServerContext> MakeContext(std::shared_ptr<SessionTicketKeys> keys) {
    auto context = TlsServerContext::Create(options_, std::move(keys));
    EXPECT_TRUE(context.has_value()) << context.error().ToString();
    return context.has_value() ? *context : nullptr;
  }

  TlsPeerOutcome Connect(std::uint16_t port, test::SessionPtr session = nullptr) {
    TlsPeerSettings settings;
    settings.max_version = GetParam();
    settings.ca_file = pki_->ca_file();
    settings.session = std::move(session);
    TlsPeerOutcome out = TlsConnect(port, settings);
    EXPECT_TRUE(out.handshake_ok) << out.error;
    EXPECT_NE(out.response.find("200 OK"), std::string::npos) << out.response;
    return out;
  }

  testing::ManualClock clock_;
  std::filesystem::path dir_;
  std::optional<streamgate::test::TestPki> pki_;
  TlsServerOptions options_;
};

TEST_P(SessionTicketTest, ResumesOnAContextRebuiltWithTheSameRing) {
  auto keys = SessionTicketKeys::Create(clock_, kRotation);
  ASSERT_NE(keys, nullptr);
  auto first = MakeContext(keys);
  test::SwappableTlsServer server(first);
  TlsPeerOutcome full = Connect(server.port());
  EXPECT_FALSE(full.reused);
  ASSERT_FALSE(test::TicketOf(full.session).empty());

  // A reload: new context, new certificate files even, same ring.
  options_.certificates = {pki_->Leaf("a2", {"a.test"})};
  auto rebuilt = MakeContext(first->ticket_keys());
  EXPECT_EQ(rebuilt->ticket_keys(), keys);
  server.Use(rebuilt);
  TlsPeerOutcome resumed = Connect(server.port(), full.session);
  EXPECT_TRUE(resumed.reused);
}

TEST_P(SessionTicketTest, DifferentRingsDoNotResume) {
  test::SwappableTlsServer server(MakeContext(SessionTicketKeys::Create(clock_, kRotation)));
  TlsPeerOutcome full = Connect(server.port());
  ASSERT_TRUE(full.session);

  server.Use(MakeContext(SessionTicketKeys::Create(clock_, kRotation)));
  TlsPeerOutcome other_ring = Connect(server.port(), full.session);
  EXPECT_FALSE(other_ring.reused);  // a full handshake, not a failure

  server.Use(MakeContext(nullptr));  // its own ring on the real clock
  TlsPeerOutcome own_ring = Connect(server.port(), full.session);
  EXPECT_FALSE(own_ring.reused);
}

TEST_P(SessionTicketTest, OlderKeysDecryptAndRenewUntilTheyLeaveTheRing) {
  auto keys = SessionTicketKeys::Create(clock_, kRotation);
  test::SwappableTlsServer server(MakeContext(keys));
  const TlsPeerOutcome original = Connect(server.port());
  const std::string original_ticket = test::TicketOf(original.session);
  ASSERT_FALSE(original_ticket.empty());

  clock_.Advance(kRotation);  // generation 1: the original's key is the previous one
  const TlsPeerOutcome renewed = Connect(server.port(), original.session);
  EXPECT_TRUE(renewed.reused);
  ASSERT_TRUE(renewed.session);
  EXPECT_NE(test::TicketOf(renewed.session), original_ticket);  // re-issued under the new key

  clock_.Advance(kRotation);  // generation 2: still the oldest key kept
  EXPECT_TRUE(Connect(server.port(), original.session).reused);

  clock_.Advance(kRotation);  // generation 3: the original's key has left the ring
  EXPECT_FALSE(Connect(server.port(), original.session).reused);
  // The ticket renewed in generation 1 is two keys old: still good.
  EXPECT_TRUE(Connect(server.port(), renewed.session).reused);
}

TEST_P(SessionTicketTest, ALongIdleGapReplacesEveryKey) {
  auto keys = SessionTicketKeys::Create(clock_, kRotation);
  test::SwappableTlsServer server(MakeContext(keys));
  const TlsPeerOutcome original = Connect(server.port());
  clock_.Advance(kRotation * 100 + 1s);
  EXPECT_FALSE(Connect(server.port(), original.session).reused);
  const TlsPeerOutcome fresh = Connect(server.port());
  clock_.Advance(kRotation - 2s);  // still the same generation
  EXPECT_TRUE(Connect(server.port(), fresh.session).reused);
}

INSTANTIATE_TEST_SUITE_P(Versions, SessionTicketTest,
                         ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return param.param == TLS1_2_VERSION ? std::string("Tls12")
                                                                : std::string("Tls13");
                         });

TEST(SessionTicketKeysTest, RefusesANonPositiveRotation) {
  testing::ManualClock clock;
  EXPECT_EQ(SessionTicketKeys::Create(clock, 0s), nullptr);
  EXPECT_EQ(SessionTicketKeys::Create(clock, -5s), nullptr);
  auto keys = SessionTicketKeys::Create(clock, 90s);
  ASSERT_NE(keys, nullptr);
  EXPECT_EQ(keys->rotation(), 90s);

  TlsServerOptions options;
  options.certificates = {{"/nonexistent.pem", "/nonexistent.key"}};
  options.session_ticket_rotation = 0s;
  auto context = TlsServerContext::Create(options);
  ASSERT_FALSE(context.has_value());
  EXPECT_NE(context.error().message().find("session_ticket_rotation"), std::string::npos)
      << context.error().message();
}

}  // namespace
}  // namespace streamgate::net
