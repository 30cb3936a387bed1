// Pure helpers for the headers a reverse proxy adds and strips: trusted-proxy matching,
// X-Forwarded-For and hop-by-hop header names. No sockets, no Boost; unit-tested on their own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "streamgate/common/error.hpp"

namespace streamgate::proxy {

// Addresses whose X-Forwarded-For is believed: "10.0.0.0/8", "192.168.1.7", "::1", "fd00::/8".
class TrustedProxies {
 public:
  // Errors: an entry that is not an IP address or CIDR, or a prefix longer than the address.
  [[nodiscard]] static Result<TrustedProxies> Parse(const std::vector<std::string>& entries);

  // False for anything that is not an IP address. Accepts "1.2.3.4:80" and "[::1]:80" too.
  [[nodiscard]] bool Contains(std::string_view address) const;
  [[nodiscard]] bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
    unsigned prefix_bits = 128;
  };
  std::vector<Range> ranges_;
};

// Parses an IP address (optionally with a port or brackets, as found in X-Forwarded-For) into
// 16 bytes, IPv4 mapped into IPv6. False when it is not an address.
[[nodiscard]] bool ParseIpAddress(std::string_view text, std::array<std::uint8_t, 16>& out);

// The X-Forwarded-For value to send upstream: the received value with the peer appended when
// the peer is a trusted proxy, else just the peer (a client's own value is not believed).
[[nodiscard]] std::string ForwardedForValue(std::string_view received, std::string_view peer,
                                            bool peer_trusted);

// The client address used for routing. When the peer is trusted, X-Forwarded-For is walked from
// the right past trusted hops; the first untrusted address is the client (addresses further left
// were written by that client and could be forged). When every hop is trusted, the left-most.
// Returns a view into `peer` or `forwarded_for`.
[[nodiscard]] std::string_view RoutingClientAddress(std::string_view peer,
                                                    std::string_view forwarded_for,
                                                    const TrustedProxies& trusted);

// Hop-by-hop headers of RFC 9110 section 7.6.1 (plus Proxy-Connection, Keep-Alive, TE, Trailer,
// Transfer-Encoding, Upgrade and Proxy-Authenticate/-Authorization); case-insensitive.
[[nodiscard]] bool IsHopByHopHeader(std::string_view name);

// Trims spaces and tabs at both ends.
[[nodiscard]] std::string_view TrimOws(std::string_view text);

// Calls `f(token)` for each comma-separated token of a header value such as Connection, trimmed,
// empty ones skipped. A template so the per-request path needs no allocation.
template <typename F>
void ForEachListToken(std::string_view value, F&& f) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view token = TrimOws(value.substr(0, comma));
    if (!token.empty()) f(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// True for GET, HEAD, OPTIONS, PUT, DELETE and TRACE (RFC 9110 section 9.2.2).
[[nodiscard]] bool IsIdempotentMethod(std::string_view method);

}  // namespace streamgate::proxy
