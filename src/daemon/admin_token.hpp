// Which token guards the admin API, and whether the admin listener may start without one.
#pragma once

#include <string>

#include "config/config.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::daemon {

// admin.token, else the first line of admin.token_file, else `environment_token` (the daemon
// passes STREAMGATE_ADMIN_TOKEN); "" when none. An unreadable or empty token file is an error,
// and so is a listener on a non-loopback address without a token: anyone who can reach it could
// change the primary region or delete recovery points.
[[nodiscard]] Result<std::string> ResolveAdminToken(const config::AdminConfig& admin,
                                                    const std::string& config_file,
                                                    const char* environment_token);

// True for 127.0.0.0/8, ::1 and "localhost".
[[nodiscard]] bool IsLoopbackHost(const std::string& host);

}  // namespace streamgate::daemon
