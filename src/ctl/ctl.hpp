// streamgatectl: the admin API from the command line.
//
//   streamgatectl [--admin URL] [--token T] [--cacert FILE | --insecure] [--json] RESOURCE VERB
//                 [ARGS]
//
// Every admin API operation has a verb (`streamgatectl --help`, `streamgatectl regions --help`).
// Output is a readable table (lists) or key: value lines (one object); --json prints the API's
// JSON as it came. --admin defaults to STREAMGATE_ADMIN, then http://127.0.0.1:9901; --token to
// STREAMGATE_ADMIN_TOKEN. An https:// admin (admin.tls) is verified against the system CAs, or
// --cacert (default STREAMGATE_ADMIN_CACERT); --insecure skips verification.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace streamgate::ctl {

// Exit codes, so scripts can tell what went wrong.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;       // the daemon answered with an error (4xx/5xx)
inline constexpr int kExitUsage = 2;         // bad command line
inline constexpr int kExitUnreachable = 3;   // no answer from the admin address
inline constexpr int kExitUnauthorized = 4;  // 401: missing or wrong token

struct CtlEnvironment {
  std::string admin_url;  // STREAMGATE_ADMIN
  std::string token;      // STREAMGATE_ADMIN_TOKEN
  std::string cacert;     // STREAMGATE_ADMIN_CACERT
  [[nodiscard]] static CtlEnvironment FromProcess();
};

// Runs one command; `args` excludes the program name. Never throws.
[[nodiscard]] int RunCtl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                         const CtlEnvironment& env);

}  // namespace streamgate::ctl
