#include "proxy/forwarding.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace streamgate::proxy {
namespace {

TrustedProxies Trusted(const std::vector<std::string>& entries) {
  auto trusted = TrustedProxies::Parse(entries);
  EXPECT_TRUE(trusted.has_value()) << trusted.error().ToString();
  return trusted ? *trusted : TrustedProxies{};
}

TEST(ForwardingTest, TrustedProxiesMatchAddressesAndCidrs) {
  const TrustedProxies trusted = Trusted({"10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1"});
  EXPECT_TRUE(trusted.Contains("10.1.2.3"));
  EXPECT_TRUE(trusted.Contains("10.255.255.255"));
  EXPECT_FALSE(trusted.Contains("11.0.0.1"));
  EXPECT_TRUE(trusted.Contains("192.168.1.7"));
  EXPECT_FALSE(trusted.Contains("192.168.1.8"));
  EXPECT_TRUE(trusted.Contains("fd12::5"));
  EXPECT_FALSE(trusted.Contains("fe80::1"));
  EXPECT_TRUE(trusted.Contains("::1"));
  EXPECT_TRUE(trusted.Contains("[::1]:8080"));
  EXPECT_TRUE(trusted.Contains("10.0.0.1:443"));
  EXPECT_TRUE(trusted.Contains("::ffff:10.9.9.9"));  // IPv4-mapped is the same host
  EXPECT_FALSE(trusted.Contains("unknown"));
  EXPECT_FALSE(trusted.Contains(""));
}

TEST(ForwardingTest, OddPrefixLengthsMaskPartialBytes) {
  const TrustedProxies trusted = Trusted({"172.16.0.0/12"});
  EXPECT_TRUE(trusted.Contains("172.16.0.1"));
  EXPECT_TRUE(trusted.Contains("172.31.255.255"));
  EXPECT_FALSE(trusted.Contains("172.32.0.0"));
  EXPECT_FALSE(trusted.Contains("172.15.255.255"));
  EXPECT_TRUE(Trusted({"0.0.0.0/0"}).Contains("8.8.8.8"));
  EXPECT_FALSE(Trusted({"0.0.0.0/0"}).Contains("2001:db8::1"));
}

TEST(ForwardingTest, RejectsInvalidTrustedProxies) {
  EXPECT_FALSE(TrustedProxies::Parse({"not-an-ip"}).has_value());
  EXPECT_FALSE(TrustedProxies::Parse({"10.0.0.0/33"}).has_value());
  EXPECT_FALSE(TrustedProxies::Parse({"::/129"}).has_value());
  EXPECT_FALSE(TrustedProxies::Parse({"10.0.0.0/"}).has_value());
  EXPECT_FALSE(TrustedProxies::Parse({"10.0.0.0/x"}).has_value());
  EXPECT_TRUE(TrustedProxies::Parse({}).has_value());
}

TEST(ForwardingTest, ForwardedForAppendsOnlyForTrustedPeers) {
  EXPECT_EQ(ForwardedForValue("", "1.2.3.4", false), "1.2.3.4");
  EXPECT_EQ(ForwardedForValue("6.6.6.6", "1.2.3.4", false), "1.2.3.4");
  EXPECT_EQ(ForwardedForValue("6.6.6.6", "10.0.0.1", true), "6.6.6.6, 10.0.0.1");
  EXPECT_EQ(ForwardedForValue("  ", "10.0.0.1", true), "10.0.0.1");
}

TEST(ForwardingTest, RoutingAddressSkipsTrustedHopsFromTheRight) {
  const TrustedProxies trusted = Trusted({"10.0.0.0/8"});
  // Untrusted peer: its header is ignored.
  EXPECT_EQ(RoutingClientAddress("8.8.8.8", "1.1.1.1", trusted), "8.8.8.8");
  // Trusted peer, no header: the peer.
  EXPECT_EQ(RoutingClientAddress("10.0.0.1", "", trusted), "10.0.0.1");
  EXPECT_EQ(RoutingClientAddress("10.0.0.1", "203.0.113.9", trusted), "203.0.113.9");
  EXPECT_EQ(RoutingClientAddress("10.0.0.1", "203.0.113.9, 10.0.0.2", trusted), "203.0.113.9");
  // A forged left-most entry written by the client is not believed.
  EXPECT_EQ(RoutingClientAddress("10.0.0.1", "1.1.1.1, 203.0.113.9, 10.0.0.2", trusted),
            "203.0.113.9");
  // All hops trusted: the left-most.
  EXPECT_EQ(RoutingClientAddress("10.0.0.1", "10.0.0.3,10.0.0.2", trusted), "10.0.0.3");
  // Garbage ends the chain: the last good hop.
  EXPECT_EQ(RoutingClientAddress("10.0.0.1", "unknown, 10.0.0.2", trusted), "10.0.0.2");
  EXPECT_EQ(RoutingClientAddress("10.0.0.1", "unknown", trusted), "10.0.0.1");
}

TEST(ForwardingTest, HopByHopNamesAreCaseInsensitive) {
  for (std::string_view name :
       {"Connection", "keep-alive", "PROXY-AUTHENTICATE", "Proxy-Authorization", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Proxy-Connection"}) {
    EXPECT_TRUE(IsHopByHopHeader(name)) << name;
  }
  for (std::string_view name : {"Content-Length", "Host", "X-Forwarded-For", "Trailers", "T"}) {
    EXPECT_FALSE(IsHopByHopHeader(name)) << name;
  }
}

TEST(ForwardingTest, ListTokensAreTrimmedAndEmptyOnesSkipped) {
  std::vector<std::string> tokens;
  ForEachListToken(" keep-alive ,, X-Foo,\tX-Bar ,",
                   [&](std::string_view token) { tokens.emplace_back(token); });
  EXPECT_EQ(tokens, (std::vector<std::string>{"keep-alive", "X-Foo", "X-Bar"}));
}

TEST(ForwardingTest, IdempotentMethods) {
  for (std::string_view method : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    EXPECT_TRUE(IsIdempotentMethod(method)) << method;
  }
  for (std::string_view method : {"POST", "PATCH", "CONNECT", "get"}) {
    EXPECT_FALSE(IsIdempotentMethod(method)) << method;
  }
}

}  // namespace
}  // namespace streamgate::proxy
