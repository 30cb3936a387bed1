#include "config/tls_config.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace streamgate::config {
namespace {

std::string Date(WallTime time) {
  return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(time)));
}

std::string JoinNames(const std::vector<std::string>& names) {
  return names.empty() ? std::string("(no names)") : fmt::format("{}", fmt::join(names, ", "));
}

// One certificate/key pair: an issue when unusable or outside its validity, else a note.
void CheckPair(const Config& config, const net::TlsCertificateFiles& files, int line,
               const std::string& owner, WallTime now, TlsFileCheck& out) {
  auto report = net::InspectCertificate(files, now);
  if (!report) {
    out.issues.push_back({config.source_file, line, owner + ": " + report.error().message()});
    return;
  }
  if (report->expired) {
    out.issues.push_back(
        {config.source_file, line,
         fmt::format("{}: certificate {} expired on {} (names: {})", owner, files.cert,
                     Date(report->not_after), JoinNames(report->names))});
    return;
  }
  if (report->not_yet_valid) {
    out.issues.push_back({config.source_file, line,
                          fmt::format("{}: certificate {} is not valid before {}", owner,
                                      files.cert, Date(report->not_before))});
    return;
  }
  out.notes.push_back(fmt::format("{}: {}: names {}; expires {}", owner, files.cert,
                                  JoinNames(report->names), Date(report->not_after)));
}

// An OCSP staple: an issue when unusable (not a successful response for the certificate) or
// when it says the certificate is revoked; a note with its dates, flagged when out of date.
void CheckStaple(const Config& config, const net::TlsCertificateFiles& files, int line,
                 const std::string& owner, WallTime now, TlsFileCheck& out) {
  if (files.ocsp_staple.empty()) return;
  auto report = net::InspectOcspStaple(files.ocsp_staple, files.cert, now);
  if (!report) {
    out.issues.push_back({config.source_file, line, owner + ": " + report.error().message()});
    return;
  }
  if (report->cert_status == "revoked") {
    out.issues.push_back({config.source_file, line,
                          fmt::format("{}: OCSP staple {} says certificate {} is revoked", owner,
                                      files.ocsp_staple, files.cert)});
    return;
  }
  if (report->stale) {
    out.notes.push_back(fmt::format(
        "{}: OCSP staple {}: its nextUpdate ({}) has passed; clients may ignore it until the "
        "file is refreshed and the config reloaded",
        owner, files.ocsp_staple, Date(*report->next_update)));
    return;
  }
  out.notes.push_back(fmt::format("{}: OCSP staple {}: {}, next update {}", owner,
                                  files.ocsp_staple, report->cert_status,
                                  report->next_update ? Date(*report->next_update) : "not given"));
}

void CheckCa(const Config& config, const std::string& path, int line, const std::string& owner,
             TlsFileCheck& out) {
  if (path.empty()) return;
  if (Status ca = net::CheckCaFile(path); !ca) {
    out.issues.push_back({config.source_file, line, owner + ": " + ca.error().message()});
  }
}

void CheckServerTls(const Config& config, const ListenerTlsConfig& tls, const std::string& owner,
                    WallTime now, TlsFileCheck& out) {
  for (std::size_t i = 0; i < tls.options.certificates.size(); ++i) {
    const int line = i < tls.certificate_lines.size() ? tls.certificate_lines[i] : tls.line;
    CheckPair(config, tls.options.certificates[i], line, owner, now, out);
    CheckStaple(config, tls.options.certificates[i], line, owner, now, out);
  }
  CheckCa(config, tls.options.client_ca_file, tls.client_ca_line, owner, out);
}

}  // namespace

TlsFileCheck CheckTlsFiles(const Config& config, WallTime now) {
  TlsFileCheck out;
  for (const ListenerConfig& listener : config.listeners) {
    if (!listener.tls) continue;
    CheckServerTls(config, *listener.tls, fmt::format("listener '{}'", listener.name), now, out);
  }
  if (config.admin.tls) CheckServerTls(config, *config.admin.tls, "admin", now, out);
  for (const BackendConfig& backend : config.backends) {
    if (!backend.tls || !backend.tls->options.enabled) continue;
    const BackendTlsConfig& tls = *backend.tls;
    const std::string owner = fmt::format("backend '{}'", backend.id);
    CheckCa(config, tls.options.ca_file, tls.ca_file_line, owner, out);
    if (!tls.options.client_cert.empty() && !tls.options.client_key.empty()) {
      CheckPair(config, {tls.options.client_cert, tls.options.client_key}, tls.client_cert_line,
                owner + " client certificate", now, out);
    }
  }
  std::stable_sort(out.issues.begin(), out.issues.end(),
                   [](const ConfigIssue& a, const ConfigIssue& b) { return a.line < b.line; });
  return out;
}

}  // namespace streamgate::config
