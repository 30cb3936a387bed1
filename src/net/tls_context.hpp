// OpenSSL contexts built from the TLS settings of streamgate/net/tls.hpp, through Boost.Asio SSL.
// Built once (at start), then shared read-only by every thread: an SSL_CTX is safe to create
// connections from concurrently.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "streamgate/common/error.hpp"
#include "streamgate/net/tls.hpp"

namespace streamgate::net {

// A TLS listener: one SSL_CTX per certificate. Connections start on the first (the default);
// the SNI callback moves a connection to the certificate whose names match the requested host.
class TlsServerContext {
 public:
  // Errors name the file that failed (unreadable, not PEM, key does not match) or the setting.
  [[nodiscard]] static Result<std::shared_ptr<TlsServerContext>> Create(
      const TlsServerOptions& options);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // The context new connections are made from.
  [[nodiscard]] boost::asio::ssl::context& context() { return *entries_.front().context; }

  // The certificate index chosen for `server_name` ("" or unknown: 0, the default).
  [[nodiscard]] std::size_t Select(std::string_view server_name) const;

 private:
  struct Entry {
    std::unique_ptr<boost::asio::ssl::context> context;
    std::vector<std::string> names;  // lower case; wildcards keep their "*."
  };
  TlsServerContext() = default;
  static int OnServerName(SSL* ssl, int* alert, void* arg);

  std::vector<Entry> entries_;
  std::vector<unsigned char> alpn_;  // wire format: length-prefixed names
};

// TLS towards one backend: verification, SNI and an optional client certificate.
class TlsClientContext {
 public:
  [[nodiscard]] static Result<std::shared_ptr<TlsClientContext>> Create(
      const TlsClientOptions& options);

  [[nodiscard]] boost::asio::ssl::context& context() const { return *context_; }

  // Sets SNI and the name (or IP address) the peer's certificate must carry on a new
  // connection to `host`; server_name overrides host when set.
  [[nodiscard]] Status Prepare(SSL* ssl, const std::string& host) const;

 private:
  TlsClientContext() = default;
  std::unique_ptr<boost::asio::ssl::context> context_;
  TlsClientOptions options_;
};

// The OpenSSL error queue as text (and cleared), for messages.
[[nodiscard]] std::string OpenSslErrors();

}  // namespace streamgate::net
