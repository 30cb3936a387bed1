// A small HTTP/1.1 server (Boost.Beast) for the admin API and the demo origin: keep-alive,
// bounded header and body sizes, malformed requests answered with 400, never a crash. HTTPS
// when given TLS settings (the admin listener's `admin.tls`).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/http_types.hpp"
#include "streamgate/common/error.hpp"
#include "streamgate/net/tls.hpp"

namespace streamgate::net {

// Called on a server thread for every complete request; must be thread-safe when threads > 1.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 picks a free port; see HttpServer::port()
  std::size_t threads = 1;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};
  std::string server_name = "streamgate";
  // Set: serve HTTPS only (certificates read at Start; a failed handshake just closes the
  // connection). Session tickets use a ring of its own on the real clock, kept across ReloadTls.
  std::optional<TlsServerOptions> tls = std::nullopt;
};

class HttpServer {
 public:
  // Binds and listens (SO_REUSEADDR), then serves on `options.threads` threads until Stop().
  [[nodiscard]] static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                                 HttpHandler handler);
  virtual ~HttpServer() = default;

  [[nodiscard]] virtual std::uint16_t port() const = 0;
  // HTTPS servers: reads `options`' files into a new context (same session-ticket ring) that
  // new connections use from now on; open connections keep theirs. On error (named file) the
  // old context stays. A server started without TLS: kFailedPrecondition.
  [[nodiscard]] virtual Status ReloadTls(const TlsServerOptions& options) = 0;
  // Closes the listener and every open connection, and joins the threads. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace streamgate::net
