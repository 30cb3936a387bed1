// check-config's look at the TLS files a config names: readable, keys matching their
// certificates, certificates within their validity period, which names each one serves, and
// OCSP staples that parse and belong to their certificate.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "streamgate/common/clock.hpp"

namespace streamgate::config {

struct TlsFileCheck {
  std::vector<ConfigIssue> issues;  // each at the line of the key that names the file
  std::vector<std::string> notes;   // per certificate: "listener 'x': cert.pem: names ...; expires"
};

// Reads every certificate, key, OCSP staple and CA file of `config`'s listeners, admin listener
// and backends (paths as LoadConfigFile resolved them). An expired or not yet valid certificate,
// an unusable staple or one saying "revoked" is an issue; a staple past its nextUpdate a note.
[[nodiscard]] TlsFileCheck CheckTlsFiles(const Config& config, WallTime now);

}  // namespace streamgate::config
