#include "streamgate/common/endpoint.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace streamgate {
namespace {

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ToLower(c);
  return out;
}

// Something that looks like a dotted IPv4 address must be one; "300.1.2.3" would otherwise be
// accepted as a host name and only fail at resolve time.
bool LooksLikeIpv4(std::string_view host) {
  for (char c : host) {
    if (!(c >= '0' && c <= '9') && c != '.') return false;
  }
  return true;
}

bool IsIpAddress(int family, std::string_view host) {
  const std::string copy(host);  // inet_pton needs a terminated string
  unsigned char buffer[16];
  return inet_pton(family, copy.c_str(), buffer) == 1;
}

}  // namespace

Result<Endpoint> ParseEndpoint(std::string_view url) {
  auto fail = [url](std::string_view why) {
    return InvalidArgument(fmt::format("invalid endpoint '{}': {}", url, why));
  };
  if (url.empty()) return fail("empty URL");
  for (char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) return fail("spaces and control characters are not allowed");
  }

  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return fail("missing scheme (expected http://, https:// or tcp://)");
  }
  Endpoint endpoint;
  const std::string scheme = Lowercase(url.substr(0, scheme_end));
  if (scheme == "http") {
    endpoint.scheme = EndpointScheme::kHttp;
  } else if (scheme == "https") {
    endpoint.scheme = EndpointScheme::kHttps;
  } else if (scheme == "tcp") {
    endpoint.scheme = EndpointScheme::kTcp;
  } else {
    return fail(fmt::format("unsupported scheme '{}' (expected http, https or tcp)", scheme));
  }

  const std::string_view rest = url.substr(scheme_end + 3);
  // A fragment is never sent to the server, so one here is a mistake rather than an intent.
  if (rest.find('#') != std::string_view::npos) return fail("fragments ('#') are not allowed");
  const std::size_t authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view path =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return fail("user info ('user@') is not allowed");
  }
  if (authority.empty()) return fail("empty host");

  std::string_view host;
  std::optional<std::string_view> port_text;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after IPv6 address");
    host = authority.substr(1, close - 1);
    if (host.empty()) return fail("empty host");
    if (!IsIpAddress(AF_INET6, host)) return fail(fmt::format("invalid IPv6 address '{}'", host));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(fmt::format("unexpected '{}' after ']'", after));
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return fail("IPv6 addresses must be enclosed in brackets, e.g. [::1]");
    }
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    if (host.empty()) return fail("empty host");
    for (char c : host) {
      if (!IsHostChar(c)) return fail(fmt::format("invalid character '{}' in host", c));
    }
    if (LooksLikeIpv4(host) && !IsIpAddress(AF_INET, host)) {
      return fail(fmt::format("invalid IPv4 address '{}'", host));
    }
  }
  endpoint.host = std::string(host);

  if (port_text.has_value()) {
    const std::string_view digits = *port_text;
    if (digits.empty()) return fail("empty port");
    for (char c : digits) {
      if (!(c >= '0' && c <= '9')) return fail(fmt::format("invalid port '{}'", digits));
    }
    unsigned long value = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || value == 0 || value > 65535) {
      return fail(fmt::format("port {} is out of range (1-65535)", digits));
    }
    endpoint.port = static_cast<std::uint16_t>(value);
  } else if (endpoint.scheme == EndpointScheme::kTcp) {
    return fail("tcp:// endpoints need a port");
  } else {
    endpoint.port = endpoint.scheme == EndpointScheme::kHttps ? 443 : 80;
  }

  if (!path.empty()) {
    if (endpoint.scheme == EndpointScheme::kTcp) return fail("tcp:// endpoints cannot have a path");
    // "http://host?x=1" means the root path with a query; keep the request target valid.
    endpoint.path = path.front() == '?' ? "/" + std::string(path) : std::string(path);
  }
  return endpoint;
}

std::string HostPort(const Endpoint& endpoint) {
  if (endpoint.host.find(':') != std::string::npos) {
    return fmt::format("[{}]:{}", endpoint.host, endpoint.port);
  }
  return fmt::format("{}:{}", endpoint.host, endpoint.port);
}

}  // namespace streamgate
