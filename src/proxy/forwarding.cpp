#include "proxy/forwarding.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <system_error>

namespace streamgate::proxy {
namespace {

[[nodiscard]] bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    const auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    };
    return lower(x) == lower(y);
  });
}

// inet_pton needs a NUL-terminated string; addresses are short, so a stack copy suffices.
[[nodiscard]] bool ParsePlain(std::string_view text, std::array<std::uint8_t, 16>& out) {
  char buf[64];
  if (text.empty() || text.size() >= sizeof(buf)) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (text.find(':') == std::string_view::npos) {
    in_addr v4{};
    if (inet_pton(AF_INET, buf, &v4) != 1) return false;
    out = {};
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return true;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) != 1) return false;
  std::memcpy(out.data(), &v6, 16);
  return true;
}

[[nodiscard]] bool IsV4Mapped(const std::array<std::uint8_t, 16>& bytes) {
  static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes.data(), kPrefix, sizeof(kPrefix)) == 0;
}

}  // namespace

std::string_view TrimOws(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool ParseIpAddress(std::string_view text, std::array<std::uint8_t, 16>& out) {
  text = TrimOws(text);
  if (text.starts_with('[')) {  // "[::1]" or "[::1]:8080"
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return false;
    text = text.substr(1, close - 1);
  } else if (std::ranges::count(text, ':') == 1) {  // "1.2.3.4:8080"
    text = text.substr(0, text.find(':'));
  }
  if (const std::size_t zone = text.find('%'); zone != std::string_view::npos) {
    text = text.substr(0, zone);  // "fe80::1%eth0": the zone does not matter for matching
  }
  return ParsePlain(text, out);
}

Result<TrustedProxies> TrustedProxies::Parse(const std::vector<std::string>& entries) {
  TrustedProxies trusted;
  trusted.ranges_.reserve(entries.size());
  for (const std::string& entry : entries) {
    const std::string_view text = TrimOws(entry);
    const std::size_t slash = text.find('/');
    Range range;
    if (!ParsePlain(text.substr(0, slash), range.bytes)) {
      return InvalidArgument("trusted proxy '" + entry + "' is not an IP address or CIDR");
    }
    // Written as IPv4 ("10.0.0.0/8"): the prefix counts IPv4 bits.
    const bool v4 =
        IsV4Mapped(range.bytes) && text.substr(0, slash).find(':') == std::string_view::npos;
    const unsigned max_bits = v4 ? 32 : 128;
    unsigned bits = max_bits;
    if (slash != std::string_view::npos) {
      const std::string_view digits = text.substr(slash + 1);
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
          bits > max_bits) {
        return InvalidArgument("trusted proxy '" + entry + "' has an invalid prefix length");
      }
    }
    range.prefix_bits = v4 ? bits + 96 : bits;
    trusted.ranges_.push_back(range);
  }
  return trusted;
}

bool TrustedProxies::Contains(std::string_view address) const {
  if (ranges_.empty()) return false;
  std::array<std::uint8_t, 16> bytes{};
  if (!ParseIpAddress(address, bytes)) return false;
  for (const Range& range : ranges_) {
    const unsigned full = range.prefix_bits / 8;
    const unsigned rest = range.prefix_bits % 8;
    if (std::memcmp(bytes.data(), range.bytes.data(), full) != 0) continue;
    if (rest != 0) {
      const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
      if ((bytes[full] & mask) != (range.bytes[full] & mask)) continue;
    }
    return true;
  }
  return false;
}

std::string ForwardedForValue(std::string_view received, std::string_view peer, bool peer_trusted) {
  received = TrimOws(received);
  if (!peer_trusted || received.empty()) return std::string(peer);
  std::string value;
  value.reserve(received.size() + 2 + peer.size());
  value.append(received).append(", ").append(peer);
  return value;
}

std::string_view RoutingClientAddress(std::string_view peer, std::string_view forwarded_for,
                                      const TrustedProxies& trusted) {
  if (forwarded_for.empty() || !trusted.Contains(peer)) return peer;
  std::string_view client = peer;
  std::string_view rest = forwarded_for;
  while (!rest.empty()) {
    const std::size_t comma = rest.rfind(',');
    const std::string_view hop =
        TrimOws(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (hop.empty()) continue;
    std::array<std::uint8_t, 16> bytes{};
    // Garbage ("unknown", a typo) ends the trusted chain: the hop to its right is the best bet.
    if (!ParseIpAddress(hop, bytes)) return client;
    client = hop;
    if (!trusted.Contains(hop)) return client;
  }
  return client;
}

bool IsHopByHopHeader(std::string_view name) {
  static constexpr std::string_view kNames[] = {"connection",
                                                "keep-alive",
                                                "proxy-authenticate",
                                                "proxy-authorization",
                                                "proxy-connection",
                                                "te",
                                                "trailer",
                                                "transfer-encoding",
                                                "upgrade"};
  for (const std::string_view hop : kNames) {
    if (EqualsIgnoreCase(name, hop)) return true;
  }
  return false;
}

bool IsIdempotentMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" ||
         method == "DELETE" || method == "TRACE";
}

}  // namespace streamgate::proxy
