// A small blocking HTTP/1.1 client for tests (server, admin API, daemon). Every call is bounded
// by a timeout so a broken server fails the test instead of hanging it. Boost stays in the .cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_types.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::testing {

struct ClientResponse {
  int status = 0;
  net::HeaderList headers;  // in arrival order
  std::string body;
  bool keep_alive = false;  // the server is willing to take another request on the connection

  // First header with this name (case-insensitive), if any.
  [[nodiscard]] std::optional<std::string_view> Header(std::string_view name) const;
};

inline constexpr std::chrono::milliseconds kDefaultClientTimeout{10'000};

// One GET on a fresh connection (sent with `Connection: close`).
[[nodiscard]] Result<ClientResponse> HttpGet(const std::string& host, std::uint16_t port,
                                             std::string_view target);

// Any method on a fresh connection. `headers` are added as given; Host, Content-Length and
// `Connection: close` are set unless present in `headers`.
[[nodiscard]] Result<ClientResponse> HttpRequestBlocking(
    std::string_view method, const std::string& host, std::uint16_t port, std::string_view target,
    std::string_view body = {}, const net::HeaderList& headers = {},
    std::chrono::milliseconds timeout = kDefaultClientTimeout);

// A kept-alive connection, for keep-alive tests and for sending raw (even malformed) bytes.
// Errors carry ErrorCode::kTimeout when the timeout expired and kUnavailable otherwise.
class HttpConnection {
 public:
  [[nodiscard]] static Result<HttpConnection> Connect(
      const std::string& host, std::uint16_t port,
      std::chrono::milliseconds timeout = kDefaultClientTimeout);
  HttpConnection(HttpConnection&&) noexcept;
  HttpConnection& operator=(HttpConnection&&) noexcept;
  ~HttpConnection();

  // Sends one request (keep-alive unless `headers` say otherwise) and reads its response.
  [[nodiscard]] Result<ClientResponse> Request(std::string_view method, std::string_view target,
                                               std::string_view body = {},
                                               const net::HeaderList& headers = {});
  // Writes bytes as they are, e.g. a malformed request.
  [[nodiscard]] Status WriteRaw(std::string_view bytes);
  // Reads one response. Set `head_request` for the answer to a HEAD (it has no body).
  [[nodiscard]] Result<ClientResponse> ReadResponse(bool head_request = false);
  // True once the server has closed the connection (EOF or reset); false if data arrived
  // instead or nothing happened within the timeout.
  [[nodiscard]] bool WaitForClose();

 private:
  struct Impl;
  explicit HttpConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamgate::testing
