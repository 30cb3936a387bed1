// Plain HTTP request/response values shared by the admin API, the demo origin and their tests.
// Kept free of Boost so that handlers compile without Beast headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamgate::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/api/v1/regions?x=1"
  std::string path;    // target without the query: "/api/v1/regions"
  std::string query;   // after '?', "" when none
  HeaderList headers;
  std::string body;
  std::string remote_address;  // peer IP

  // First header with this name (case-insensitive), if any.
  [[nodiscard]] std::optional<std::string_view> Header(std::string_view name) const;
  // Value of a query parameter (no percent-decoding), if present.
  [[nodiscard]] std::optional<std::string_view> QueryParam(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  HeaderList headers;  // extra headers; Content-Length/Server/Date are added by the server
  std::string body;
  // Wait this long before sending, without blocking the server's threads (demo origin latency).
  std::chrono::milliseconds delay{0};
};

// The current time as an HTTP Date header value ("Sun, 06 Nov 1994 08:49:37 GMT"); formatted
// at most once a second per thread, so servers can stamp every response cheaply.
[[nodiscard]] const std::string& HttpDate();

}  // namespace streamgate::net
