// Both ends of a TLS exchange for the net tests: a blocking client on plain OpenSSL (versions,
// SNI, sessions and OCSP status requests exactly as a test wants them) and a small HTTPS server
// on a TlsServerContext that can be swapped, as a reload swaps it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "net/tls_context.hpp"

namespace streamgate::net::test {

using SessionPtr = std::shared_ptr<SSL_SESSION>;

struct TlsPeerSettings {
  std::string sni;          // "": none
  std::string ca_file;      // set: verify the chain (not the name)
  int max_version = 0;      // 0: highest (TLS 1.3)
  SessionPtr session;       // resume this session
  bool ask_status = false;  // send status_request (OCSP stapling)
  std::string request = "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
};

struct TlsPeerOutcome {
  bool handshake_ok = false;
  std::string error;
  bool reused = false;
  std::string peer_cn;
  bool got_staple = false;
  std::string staple;  // the OCSP response bytes the server stapled
  std::string response;
  SessionPtr session;  // the session (and ticket) to resume next time
};

inline std::string TicketOf(const SessionPtr& session) {
  if (!session) return {};
  const unsigned char* ticket = nullptr;
  std::size_t length = 0;
  SSL_SESSION_get0_ticket(session.get(), &ticket, &length);
  return ticket == nullptr ? std::string()
                           : std::string(reinterpret_cast<const char*>(ticket), length);
}

// One client connection, step by step: Open() connects and handshakes, Exchange() sends a
// request and reads until the server closes (TLS 1.3 tickets arrive while reading), and the
// destructor sends close_notify (without it the session is marked not resumable).
class TlsClientConnection {
 public:
  TlsClientConnection() = default;
  ~TlsClientConnection() { Close(); }
  TlsClientConnection(const TlsClientConnection&) = delete;
  TlsClientConnection& operator=(const TlsClientConnection&) = delete;

  // Fills out.handshake_ok, error, reused, peer_cn and the staple.
  bool Open(std::uint16_t port, const TlsPeerSettings& settings, TlsPeerOutcome& out) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx_.get(), settings.max_version);
    if (!settings.ca_file.empty()) {
      SSL_CTX_load_verify_locations(ctx_.get(), settings.ca_file.c_str(), nullptr);
      SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      out.error = "connect failed";
      return false;
    }
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), fd_);
    if (!settings.sni.empty()) SSL_set_tlsext_host_name(ssl_.get(), settings.sni.c_str());
    if (settings.session) SSL_set_session(ssl_.get(), settings.session.get());
    if (settings.ask_status) SSL_set_tlsext_status_type(ssl_.get(), TLSEXT_STATUSTYPE_ocsp);
    if (SSL_connect(ssl_.get()) != 1) {
      char text[256] = {};
      ERR_error_string_n(ERR_get_error(), text, sizeof(text));
      out.error = std::string("handshake: ") + text;
      ERR_clear_error();
      ssl_.reset();
      return false;
    }
    out.handshake_ok = true;
    out.reused = SSL_session_reused(ssl_.get()) == 1;
    const unsigned char* staple = nullptr;
    const long staple_length = SSL_get_tlsext_status_ocsp_resp(ssl_.get(), &staple);
    if (staple != nullptr && staple_length > 0) {
      out.got_staple = true;
      out.staple.assign(reinterpret_cast<const char*>(staple),
                        static_cast<std::size_t>(staple_length));
    }
    if (X509* peer = SSL_get1_peer_certificate(ssl_.get())) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
      out.peer_cn = cn;
      X509_free(peer);
    }
    return true;
  }

  // Sends `request` and reads until the server closes; returns what was read.
  std::string Exchange(const std::string& request) {
    std::string response;
    if (!ssl_) return response;
    SSL_write(ssl_.get(), request.data(), static_cast<int>(request.size()));
    char buffer[4096];
    for (;;) {
      const int n = SSL_read(ssl_.get(), buffer, sizeof(buffer));
      if (n <= 0) break;
      response.append(buffer, static_cast<std::size_t>(n));
    }
    return response;
  }

  [[nodiscard]] SessionPtr Session() const {
    return ssl_ ? SessionPtr(SSL_get1_session(ssl_.get()), SSL_SESSION_free) : nullptr;
  }

  void Close() {
    if (ssl_) SSL_shutdown(ssl_.get());
    ssl_.reset();
    ERR_clear_error();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  std::unique_ptr<SSL_CTX, CtxFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
  int fd_ = -1;
};

// Connects to 127.0.0.1:port, handshakes, sends settings.request and reads until the server
// closes.
inline TlsPeerOutcome TlsConnect(std::uint16_t port, const TlsPeerSettings& settings) {
  TlsPeerOutcome out;
  TlsClientConnection connection;
  if (!connection.Open(port, settings, out)) return out;
  out.response = connection.Exchange(settings.request);
  out.session = connection.Session();
  return out;
}

// Answers each connection's first request with "200 ok" and closes with close_notify. New
// connections use the context last given to Use(); open ones keep theirs.
class SwappableTlsServer {
 public:
  explicit SwappableTlsServer(std::shared_ptr<TlsServerContext> context)
      : context_(std::move(context)),
        acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~SwappableTlsServer() {
    ioc_.stop();
    thread_.join();
  }
  SwappableTlsServer(const SwappableTlsServer&) = delete;
  SwappableTlsServer& operator=(const SwappableTlsServer&) = delete;

  [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void Use(std::shared_ptr<TlsServerContext> context) {
    std::lock_guard lock(mu_);
    context_ = std::move(context);
  }

 private:
  using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
  struct Connection {
    std::shared_ptr<TlsServerContext> context;  // alive as long as the connection
    Stream stream;
    std::array<char, 4096> buffer{};
    Connection(std::shared_ptr<TlsServerContext> c, boost::asio::ip::tcp::socket s)
        : context(std::move(c)), stream(std::move(s), context->context()) {}
  };

  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket s) {
      if (ec) return;
      std::shared_ptr<TlsServerContext> context;
      {
        std::lock_guard lock(mu_);
        context = context_;
      }
      auto connection = std::make_shared<Connection>(std::move(context), std::move(s));
      connection->stream.async_handshake(Stream::server, [connection](
                                                             boost::system::error_code hec) {
        if (hec) return;
        connection->stream.async_read_some(
            boost::asio::buffer(connection->buffer),
            [connection](boost::system::error_code rec, std::size_t) {
              if (rec) return;
              static const std::string kOk =
                  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
              boost::asio::async_write(
                  connection->stream, boost::asio::buffer(kOk),
                  [connection](boost::system::error_code wec, std::size_t) {
                    if (wec) return;
                    connection->stream.async_shutdown([connection](boost::system::error_code) {});
                  });
            });
      });
      Accept();
    });
  }

  std::mutex mu_;
  std::shared_ptr<TlsServerContext> context_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace streamgate::net::test
