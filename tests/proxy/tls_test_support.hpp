// A blocking TLS test client on plain OpenSSL (so a test controls versions, suites, SNI, ALPN
// and sessions exactly), and a temp directory per test.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace streamgate::proxy::test {

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sg-tls-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

using SessionPtr = std::shared_ptr<SSL_SESSION>;

struct TlsClientSettings {
  std::string sni;                   // "": none
  std::string ca_file;               // set: verify the chain (not the name)
  int min_version = TLS1_2_VERSION;  // 0: library minimum
  int max_version = 0;               // 0: highest
  std::string ciphers;               // TLS 1.2 cipher list; "": default
  int security_level = -1;           // -1: default (0 lets the client offer TLS 1.1)
  std::vector<std::string> alpn;
  SessionPtr session;   // resume this session
  std::string request;  // sent after the handshake; the answer is read until EOF
  std::string cert;     // client certificate (PEM) and key
  std::string key;
};

struct TlsClientOutcome {
  bool handshake_ok = false;
  std::string error;
  std::string peer_cn;  // subject CN of the server's certificate
  std::string alpn;     // the protocol the server selected
  bool reused = false;  // the session was resumed
  std::string response;
  SessionPtr session;
};

inline std::string OpenSslErrorText() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    out += text;
    out += "; ";
  }
  return out;
}

// Connects to 127.0.0.1:port, handshakes with `settings`, optionally sends a request.
inline TlsClientOutcome TlsExchange(std::uint16_t port, const TlsClientSettings& settings) {
  TlsClientOutcome out;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  if (settings.security_level >= 0) SSL_CTX_set_security_level(ctx.get(), settings.security_level);
  SSL_CTX_set_min_proto_version(ctx.get(), settings.min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), settings.max_version);
  if (!settings.ciphers.empty() &&
      SSL_CTX_set_cipher_list(ctx.get(), settings.ciphers.c_str()) != 1) {
    out.error = "cipher list: " + OpenSslErrorText();
    return out;
  }
  if (!settings.ca_file.empty()) {
    SSL_CTX_load_verify_locations(ctx.get(), settings.ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  }
  if (!settings.cert.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx.get(), settings.cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx.get(), settings.key.c_str(), SSL_FILETYPE_PEM);
  }
  if (!settings.alpn.empty()) {
    std::vector<unsigned char> wire;
    for (const std::string& name : settings.alpn) {
      wire.push_back(static_cast<unsigned char>(name.size()));
      wire.insert(wire.end(), name.begin(), name.end());
    }
    SSL_CTX_set_alpn_protos(ctx.get(), wire.data(), static_cast<unsigned>(wire.size()));
  }

  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    out.error = "connect failed";
    return out;
  }
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  if (!settings.sni.empty()) SSL_set_tlsext_host_name(ssl.get(), settings.sni.c_str());
  if (settings.session) SSL_set_session(ssl.get(), settings.session.get());
  if (SSL_connect(ssl.get()) != 1) {
    out.error = "handshake: " + OpenSslErrorText();
    ::close(fd);
    return out;
  }
  out.handshake_ok = true;
  out.reused = SSL_session_reused(ssl.get()) == 1;
  const unsigned char* alpn = nullptr;
  unsigned int alpn_length = 0;
  SSL_get0_alpn_selected(ssl.get(), &alpn, &alpn_length);
  if (alpn != nullptr) out.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
  if (X509* peer = SSL_get1_peer_certificate(ssl.get())) {
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
    out.peer_cn = cn;
    X509_free(peer);
  }
  if (!settings.request.empty()) {
    SSL_write(ssl.get(), settings.request.data(), static_cast<int>(settings.request.size()));
    char buffer[16384];
    for (;;) {
      const int n = SSL_read(ssl.get(), buffer, sizeof(buffer));
      if (n <= 0) break;
      out.response.append(buffer, static_cast<std::size_t>(n));
    }
  }
  out.session = SessionPtr(SSL_get1_session(ssl.get()), SSL_SESSION_free);
  // Without close_notify sent, SSL_free marks the session not resumable.
  SSL_shutdown(ssl.get());
  ERR_clear_error();
  ::close(fd);
  return out;
}

inline std::string GetRequest(const std::string& target = "/echo",
                              const std::string& host = "a.test") {
  return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
}

}  // namespace streamgate::proxy::test
