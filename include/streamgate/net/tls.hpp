// TLS settings shared by the config, the proxy (listeners and backends) and the health prober.
// Plain structs: the contexts built from them (OpenSSL through Boost.Asio SSL) stay inside
// src/net, so no TLS library type appears in a public header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"
#include "streamgate/health/prober.hpp"

namespace streamgate::net {

enum class TlsVersion { kTls12, kTls13 };

// One certificate chain (PEM, leaf first) and its private key (PEM).
struct TlsCertificateFiles {
  std::string cert;
  std::string key;
  // Optional: a DER OCSP response for `cert` (as `openssl ocsp -respout` writes it), stapled to
  // the handshake of clients that ask for it (status_request). Read when the context is built,
  // so a reload picks up a refreshed file; refreshing it is the operator's (or a cron job's) job.
  std::string ocsp_staple = {};
};

// How often session-ticket keys rotate by default. The newest key encrypts new tickets and the
// two before it still decrypt (HAProxy's three-key scheme), so a ticket is accepted for at least
// two rotations (24h) unless session_lifetime (default 1h) ends it sooner.
inline constexpr std::chrono::seconds kDefaultTicketKeyRotation{12 * 3600};
// Ticket keys kept: the newest encrypts, the others only decrypt. A ticket is therefore
// accepted for at least (kSessionTicketKeysKept - 1) rotations after it was issued.
inline constexpr std::size_t kSessionTicketKeysKept = 3;

// Mozilla "intermediate" TLS 1.2 suites: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305
// only. TLS 1.3 suites are OpenSSL's defaults (all AEAD).
inline constexpr const char* kModernTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// A TLS listener. The certificate for a connection is chosen by SNI among `certificates`:
// an exact name (subjectAltName DNS entries, or the CN without any) first, then a wildcard
// ("*.example.com" covers one label), else the first certificate (the default).
struct TlsServerOptions {
  std::vector<TlsCertificateFiles> certificates;  // at least one; the first is the default
  TlsVersion min_version = TlsVersion::kTls12;
  std::string ciphers = kModernTls12Ciphers;     // OpenSSL cipher list for TLS 1.2
  std::vector<std::string> alpn = {"http/1.1"};  // offered protocols, in preference order
  // A resumed session (ticket or session id) is accepted for this long after its full handshake.
  std::chrono::seconds session_lifetime{3600};
  // Ticket keys are random (RAND_bytes), kept in memory only, shared by the contexts a listener
  // builds over time (reload keeps resuming), and replaced this often.
  std::chrono::seconds session_ticket_rotation = kDefaultTicketKeyRotation;
  // Non-empty: clients must present a certificate issued by a CA in this PEM file (mutual TLS).
  std::string client_ca_file;
};

// TLS towards a backend (or a health-probe target).
struct TlsClientOptions {
  bool enabled = false;
  bool verify = true;       // chain against ca_file (or the system store) and the host name
  std::string ca_file;      // "" : the system's default CA store
  std::string server_name;  // SNI and the name verified; "": the backend's address if a name
  std::string client_cert;  // mutual TLS: both or neither
  std::string client_key;
};

// What check-config reports about one certificate/key pair.
struct CertificateReport {
  std::vector<std::string> names;  // subjectAltName DNS entries (or the CN when there are none)
  WallTime not_before{};
  WallTime not_after{};
  bool expired = false;        // not_after is before `now`
  bool not_yet_valid = false;  // not_before is after `now`
};

// Reads `cert` (PEM chain) and `key` (PEM) and checks that the key belongs to the leaf.
// Errors name the file: unreadable, not PEM, key does not match. Expiry is reported, not an
// error, so callers decide.
[[nodiscard]] Result<CertificateReport> InspectCertificate(const TlsCertificateFiles& files,
                                                           WallTime now);

// What check-config reports about an OCSP staple file.
struct OcspStapleReport {
  std::string cert_status;  // "good", "revoked" or "unknown" (the responder's word on the cert)
  WallTime this_update{};
  std::optional<WallTime> next_update;  // absent: the responder gave none
  bool stale = false;                   // next_update is before `now`: refresh the file
};

// Reads `path` as a DER OCSP response that must be "successful", hold a single response, and be
// about `cert`'s leaf (same serial number). Errors name the file. Staleness and a revoked status
// are reported, not errors.
[[nodiscard]] Result<OcspStapleReport> InspectOcspStaple(const std::string& path,
                                                         const std::string& cert, WallTime now);

// Checks that a CA file is readable and holds at least one PEM certificate.
[[nodiscard]] Status CheckCaFile(const std::string& path);

// A backend (host, port) whose health probes speak TLS with `tls`.
struct TlsProbeTarget {
  std::string host;
  std::uint16_t port = 0;
  TlsClientOptions tls;
};

// The network prober of health/prober.hpp, except that an http endpoint matching one of
// `targets` (same host and port) is probed over TLS with that target's settings (verification,
// SNI, client certificate). Errors: a CA or client certificate file that cannot be loaded.
[[nodiscard]] Result<std::shared_ptr<Prober>> MakeTlsAwareProber(
    const Clock& clock, std::vector<TlsProbeTarget> targets);

}  // namespace streamgate::net
