#include "daemon/admin_token.hpp"

#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace streamgate::daemon {

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code error;
  const boost::asio::ip::address address = boost::asio::ip::make_address(host, error);
  return !error && address.is_loopback();
}

Result<std::string> ResolveAdminToken(const config::AdminConfig& admin,
                                      const std::string& config_file,
                                      const char* environment_token) {
  const std::string where =
      admin.line > 0 ? fmt::format("{}:{}: admin", config_file, admin.line) : "admin";
  std::string token = admin.token;
  if (token.empty() && !admin.token_file.empty()) {
    std::ifstream in(admin.token_file);
    if (!in) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("{}: cannot read token_file {}: {}", where, admin.token_file,
                                   std::strerror(errno)));
    }
    std::getline(in, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (token.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("{}: token_file {} is empty", where, admin.token_file));
    }
  }
  if (token.empty() && environment_token != nullptr) token = environment_token;
  if (token.empty() && !IsLoopbackHost(admin.listen.host)) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        fmt::format("{}: the admin listener on {} is not loopback and has no token; set "
                    "admin.token, admin.token_file or STREAMGATE_ADMIN_TOKEN, or listen on "
                    "127.0.0.1",
                    where, admin.listen.host));
  }
  return token;
}

}  // namespace streamgate::daemon
