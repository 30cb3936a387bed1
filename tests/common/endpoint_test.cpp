#include "streamgate/common/endpoint.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace streamgate {
namespace {

using ::testing::HasSubstr;

Endpoint ParseOk(const std::string& url) {
  Result<Endpoint> result = ParseEndpoint(url);
  EXPECT_TRUE(result.has_value()) << url << ": " << result.error().message();
  return result.value_or(Endpoint{});
}

void ExpectRejected(const std::string& url, const std::string& substring) {
  const Result<Endpoint> result = ParseEndpoint(url);
  ASSERT_FALSE(result.has_value()) << url << " was accepted";
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument) << url;
  EXPECT_THAT(result.error().message(), HasSubstr(substring)) << url;
  EXPECT_THAT(result.error().message(), HasSubstr("'" + url + "'")) << url;
}

TEST(ParseEndpointTest, HttpDefaultsToPort80) {
  EXPECT_EQ(ParseOk("http://example.com"),
            (Endpoint{EndpointScheme::kHttp, "example.com", 80, ""}));
}

TEST(ParseEndpointTest, HttpsDefaultsToPort443) {
  EXPECT_EQ(ParseOk("https://example.com"),
            (Endpoint{EndpointScheme::kHttps, "example.com", 443, ""}));
}

TEST(ParseEndpointTest, ExplicitPortWins) {
  EXPECT_EQ(ParseOk("http://127.0.0.1:9101"),
            (Endpoint{EndpointScheme::kHttp, "127.0.0.1", 9101, ""}));
  EXPECT_EQ(ParseOk("https://h:8443").port, 8443);
  EXPECT_EQ(ParseOk("http://h:65535").port, 65535);
  EXPECT_EQ(ParseOk("http://h:1").port, 1);
}

TEST(ParseEndpointTest, TcpRequiresPort) {
  EXPECT_EQ(ParseOk("tcp://db.internal:5432"),
            (Endpoint{EndpointScheme::kTcp, "db.internal", 5432, ""}));
  ExpectRejected("tcp://db.internal", "need a port");
}

TEST(ParseEndpointTest, TcpRejectsPath) { ExpectRejected("tcp://h:5432/x", "cannot have a path"); }

TEST(ParseEndpointTest, Ipv6InBrackets) {
  EXPECT_EQ(ParseOk("http://[::1]:8080"), (Endpoint{EndpointScheme::kHttp, "::1", 8080, ""}));
  EXPECT_EQ(ParseOk("https://[2001:db8::1]/health"),
            (Endpoint{EndpointScheme::kHttps, "2001:db8::1", 443, "/health"}));
  EXPECT_EQ(ParseOk("tcp://[::1]:9").port, 9);
}

TEST(ParseEndpointTest, Ipv6Errors) {
  ExpectRejected("http://::1:8080", "brackets");
  ExpectRejected("http://[::1:8080", "missing ']'");
  ExpectRejected("http://[nothex]:80", "invalid IPv6 address 'nothex'");
  ExpectRejected("http://[::1]8080", "after ']'");
  ExpectRejected("http://[]:80", "empty host");
}

TEST(ParseEndpointTest, KeepsPathAndQuery) {
  EXPECT_EQ(ParseOk("http://h:81/healthz").path, "/healthz");
  EXPECT_EQ(ParseOk("http://h/a/b?full=1").path, "/a/b?full=1");
  EXPECT_EQ(ParseOk("http://h/").path, "/");
  EXPECT_EQ(ParseOk("http://h?x=1").path, "/?x=1");
}

TEST(ParseEndpointTest, SchemeIsCaseInsensitive) {
  EXPECT_EQ(ParseOk("HTTPS://h").scheme, EndpointScheme::kHttps);
}

TEST(ParseEndpointTest, RejectsOtherSchemes) {
  ExpectRejected("ftp://example.com", "unsupported scheme 'ftp'");
  ExpectRejected("example.com:80", "missing scheme");
  ExpectRejected("", "empty URL");
}

TEST(ParseEndpointTest, RejectsEmptyHost) {
  ExpectRejected("http://", "empty host");
  ExpectRejected("http://:80", "empty host");
  ExpectRejected("http:///path", "empty host");
}

TEST(ParseEndpointTest, RejectsBadPorts) {
  ExpectRejected("http://h:0", "out of range");
  ExpectRejected("http://h:70000", "out of range");
  ExpectRejected("http://h:99999999999999999999", "out of range");
  ExpectRejected("http://h:", "empty port");
  ExpectRejected("http://h:http", "invalid port 'http'");
  ExpectRejected("http://h:-1", "invalid port");
}

TEST(ParseEndpointTest, RejectsSpacesAndControlCharacters) {
  ExpectRejected("http://exa mple.com", "spaces");
  ExpectRejected(" http://h", "spaces");
  ExpectRejected("http://h/a b", "spaces");
  ExpectRejected("http://h\t", "spaces");
}

TEST(ParseEndpointTest, RejectsUserInfo) {
  ExpectRejected("http://user@host", "user info");
  ExpectRejected("http://user:pw@host:80", "user info");
}

TEST(ParseEndpointTest, RejectsFragmentsAndOddHosts) {
  ExpectRejected("http://h/x#top", "fragments");
  ExpectRejected("http://h*st", "invalid character '*'");
  ExpectRejected("http://300.1.2.3", "invalid IPv4 address");
}

TEST(HostPortTest, BracketsIpv6) {
  EXPECT_EQ(HostPort(ParseOk("http://127.0.0.1:9101/x")), "127.0.0.1:9101");
  EXPECT_EQ(HostPort(ParseOk("https://example.com")), "example.com:443");
  EXPECT_EQ(HostPort(ParseOk("tcp://[::1]:8080")), "[::1]:8080");
}

}  // namespace
}  // namespace streamgate
