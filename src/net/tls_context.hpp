// OpenSSL contexts built from the TLS settings of streamgate/net/tls.hpp, through Boost.Asio SSL.
// Built at start (and again on reload), then shared read-only by every thread: an SSL_CTX is
// safe to create connections from concurrently.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"
#include "streamgate/net/tls.hpp"

namespace streamgate::net {

// Session-ticket keys for one listener: a small ring where the newest key encrypts new tickets
// and the older ones still decrypt (such a ticket resumes and is renewed under the newest key).
// Every `rotation` (on `clock`) a fresh key from RAND_bytes is pushed and the oldest dropped.
// Shared by the contexts a listener builds over time, so a context rebuilt on reload keeps
// resuming its clients' sessions. Thread-safe without a lock on the handshake path: the keys
// sit in atomic words behind a sequence counter (readers copy and retry if a rotation
// interleaved); only a due rotation takes a lock.
class SessionTicketKeys {
 public:
  static constexpr std::size_t kKeys = kSessionTicketKeysKept;  // the newest encrypts

  // Null when `rotation` is not positive or the random generator fails. `clock` must outlive
  // the ring.
  [[nodiscard]] static std::shared_ptr<SessionTicketKeys> Create(const Clock& clock,
                                                                 std::chrono::seconds rotation);
  ~SessionTicketKeys();
  SessionTicketKeys(const SessionTicketKeys&) = delete;
  SessionTicketKeys& operator=(const SessionTicketKeys&) = delete;

  [[nodiscard]] std::chrono::seconds rotation() const { return rotation_; }

  // OpenSSL's ticket-key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb), minus the SSL*:
  // picks the key and hands it to OpenSSL, which does all the cryptography.
  int OnTicketKey(unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                  EVP_MAC_CTX* mac, int encrypt);

 private:
  struct Key {
    std::array<unsigned char, 16> name;  // sent in the clear with the ticket
    std::array<unsigned char, 32> aes;   // AES-256-CBC
    std::array<unsigned char, 32> hmac;  // HMAC-SHA256
  };
  static_assert(sizeof(Key) % sizeof(std::uint64_t) == 0 && std::is_trivial_v<Key>);
  static constexpr std::size_t kWords = sizeof(Key) / sizeof(std::uint64_t);
  // A private copy of the ring, wiped when dropped.
  struct Snapshot {
    std::int64_t next_rotation_ns = 0;  // MonoTime of the next rotation
    std::size_t count = 0;              // keys in use, newest first
    std::array<Key, kKeys> keys{};
    Snapshot() = default;
    Snapshot(const Snapshot&) = default;
    Snapshot& operator=(const Snapshot&) = default;
    ~Snapshot();
  };
  SessionTicketKeys(const Clock& clock, std::chrono::seconds rotation);
  [[nodiscard]] static bool NewKey(Key& key);
  [[nodiscard]] Snapshot Read() const;
  void Publish(const Snapshot& snapshot);  // under rotate_mu_
  // The keys to use now, rotated first when due.
  [[nodiscard]] Snapshot Current();

  const Clock& clock_;
  const std::chrono::seconds rotation_;
  MonoTime start_{};
  std::mutex rotate_mu_;         // one rotation at a time
  std::int64_t generation_ = 0;  // rotations since start_; guarded by rotate_mu_
  // The published ring: odd `sequence_` while a rotation writes it.
  std::atomic<std::uint64_t> sequence_{0};
  std::atomic<std::int64_t> next_rotation_ns_{0};
  std::atomic<std::size_t> count_{0};
  std::array<std::array<std::atomic<std::uint64_t>, kWords>, kKeys> words_{};
};

// A TLS listener: one SSL_CTX per certificate. Connections start on the first (the default);
// the SNI callback moves a connection to the certificate whose names match the requested host.
class TlsServerContext {
 public:
  // Reads every certificate, key and OCSP staple now. `keys`: the listener's ticket ring (pass
  // the previous context's ticket_keys() when rebuilding on reload); null: a new ring on the
  // real clock rotating every options.session_ticket_rotation. Errors name the file that failed
  // (unreadable, not PEM, key does not match, staple not a successful OCSP response for the
  // certificate) or the setting.
  [[nodiscard]] static Result<std::shared_ptr<TlsServerContext>> Create(
      const TlsServerOptions& options, std::shared_ptr<SessionTicketKeys> keys = nullptr);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // The context new connections are made from.
  [[nodiscard]] boost::asio::ssl::context& context() { return *entries_.front().context; }

  // The certificate index chosen for `server_name` ("" or unknown: 0, the default).
  [[nodiscard]] std::size_t Select(std::string_view server_name) const;

  [[nodiscard]] const std::shared_ptr<SessionTicketKeys>& ticket_keys() const { return keys_; }

 private:
  struct Entry {
    std::unique_ptr<boost::asio::ssl::context> context;
    std::vector<std::string> names;  // lower case; wildcards keep their "*."
  };
  TlsServerContext() = default;
  static int OnServerName(SSL* ssl, int* alert, void* arg);

  std::vector<Entry> entries_;
  std::vector<unsigned char> alpn_;  // wire format: length-prefixed names
  std::shared_ptr<SessionTicketKeys> keys_;
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
