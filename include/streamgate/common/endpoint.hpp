// Parsed `http://`, `https://` and `tcp://` endpoint URLs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "streamgate/common/error.hpp"

namespace streamgate {

enum class EndpointScheme { kHttp, kHttps, kTcp };

struct Endpoint {
  EndpointScheme scheme = EndpointScheme::kHttp;
  std::string host;        // name or address; IPv6 without brackets
  std::uint16_t port = 0;  // explicit, or 80/443 by scheme; tcp:// requires one
  std::string path;        // "" when the URL has none; never set for tcp://

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Accepts "http://host[:port][/path]", "https://...", "tcp://host:port"; IPv6 as "[::1]".
// Rejects other schemes, empty hosts, bad ports, user-info, whitespace and fragments.
[[nodiscard]] Result<Endpoint> ParseEndpoint(std::string_view url);

// "host:port" with IPv6 hosts bracketed.
[[nodiscard]] std::string HostPort(const Endpoint& endpoint);

}  // namespace streamgate
