// TLS settings shared by the config, the proxy (listeners and backends) and the health prober.
// Plain structs: the contexts built from them (OpenSSL through Boost.Asio SSL) stay inside
// src/net, so no TLS library type appears in a public header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
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
};

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
  // Session tickets use OpenSSL's per-context ticket keys (random, made when the context is
  // built, i.e. at start); a ticket is accepted for this long.
  std::chrono::seconds session_lifetime{3600};
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
