#include "ctl/admin_client.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <mutex>
#include <utility>

namespace streamgate::ctl {
namespace {

std::size_t AppendBody(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

CURL* Handle(void* p) { return static_cast<CURL*>(p); }

}  // namespace

AdminClient::AdminClient(std::string base_url, std::string token, std::chrono::milliseconds timeout)
    : base_url_(std::move(base_url)), token_(std::move(token)), timeout_(timeout) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

AdminClient::~AdminClient() {
  if (curl_ != nullptr) curl_easy_cleanup(Handle(curl_));
}

Result<AdminResponse> AdminClient::Call(std::string_view method, std::string_view path,
                                        std::string_view json_body) {
  if (curl_ == nullptr) return MakeError(ErrorCode::kInternal, "libcurl failed to initialise");
  if (path.empty() || path.front() != '/') {
    return MakeError(ErrorCode::kInvalidArgument, "admin path must start with '/'");
  }
  CURL* curl = Handle(curl_);
  curl_easy_reset(curl);
  const std::string url = base_url_ + std::string(path);
  const std::string verb(method);
  AdminResponse response;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, verb.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  char curl_error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
  if (!tls_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, tls_.ca_file.c_str());
  if (tls_.insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (verb == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_slist* headers = nullptr;
  const std::string authorization = "Authorization: Bearer " + token_;
  if (!token_.empty()) headers = curl_slist_append(headers, authorization.c_str());
  if (!json_body.empty()) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json_body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(json_body.size()));
  } else if (verb == "POST" || verb == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t{0});
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    const ErrorCode kind = code == CURLE_OPERATION_TIMEDOUT ? ErrorCode::kTimeout
                           : code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL ||
                                   code == CURLE_SSL_CACERT_BADFILE
                               ? ErrorCode::kInvalidArgument
                           : code == CURLE_PEER_FAILED_VERIFICATION ? ErrorCode::kFailedPrecondition
                                                                    : ErrorCode::kUnavailable;
    // libcurl's error buffer says more than its code ("unable to get local issuer certificate").
    const std::string detail = curl_error[0] != '\0' ? curl_error : curl_easy_strerror(code);
    return MakeError(kind, fmt::format("{} {}: {}", verb, url, detail));
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  const char* content_type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
  if (content_type != nullptr) response.content_type = content_type;
  return response;
}

}  // namespace streamgate::ctl
