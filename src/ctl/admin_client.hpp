// A small blocking HTTP client for the admin API (libcurl), as streamgatectl uses it: one request
// at a time, the bearer token on every call, errors as values.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "streamgate/common/error.hpp"

namespace streamgate::ctl {

// For an https:// admin URL: whom to trust. Default: the system's CA store, verified.
struct AdminTlsOptions {
  std::string ca_file;    // PEM CA(s) that signed the admin certificate (--cacert)
  bool insecure = false;  // skip verification of the chain and the name (--insecure)
};

struct AdminResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

class AdminClient {
 public:
  // `base_url` like "http://127.0.0.1:9901" (a trailing '/' is ignored); `token` may be empty.
  AdminClient(std::string base_url, std::string token,
              std::chrono::milliseconds timeout = std::chrono::minutes(30));
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  void set_tls(AdminTlsOptions tls) { tls_ = std::move(tls); }

  // `path` starts with '/'; `json_body` is sent with Content-Type: application/json when
  // non-empty. kUnavailable when the daemon cannot be reached, kTimeout when it does not answer,
  // kFailedPrecondition when its TLS certificate is not trusted, kInvalidArgument for a bad URL
  // or an unreadable CA file.
  [[nodiscard]] Result<AdminResponse> Call(std::string_view method, std::string_view path,
                                           std::string_view json_body = {});

  [[nodiscard]] const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
  std::string token_;
  std::chrono::milliseconds timeout_;
  AdminTlsOptions tls_;
  void* curl_ = nullptr;  // CURL*, reused so keep-alive holds between calls
};

}  // namespace streamgate::ctl
