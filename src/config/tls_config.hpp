// check-config's look at the TLS files a config names: readable, keys matching their
// certificates, certificates within their validity period, and which names each one serves.
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

// Reads every certificate, key and CA file of `config`'s listeners and backends (paths as
// LoadConfigFile resolved them). An expired or not yet valid certificate is an issue.
[[nodiscard]] TlsFileCheck CheckTlsFiles(const Config& config, WallTime now);

}  // namespace streamgate::config
