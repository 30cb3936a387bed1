#include "cdn/purger_http.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <mutex>
#include <unordered_set>
#include <utility>

namespace streamgate::cdn::purger_internal {

using std::chrono::milliseconds;

namespace {

bool IsSpaceOrControl(unsigned char c) { return c <= 0x20 || c == 0x7f; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

// Transport failures worth another attempt: nothing (or not all) reached us, and a purge is
// idempotent, so sending it again is safe.
bool IsRetryableCurlCode(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct HeaderCapture {
  std::optional<std::string> retry_after;
};

size_t ReadHeader(char* data, size_t size, size_t count, void* user) {
  auto* capture = static_cast<HeaderCapture*>(user);
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    capture->retry_after.reset();  // a new (possibly final) response begins
  } else if (StartsWithNoCase(line, "retry-after:")) {
    capture->retry_after = std::string(Trim(line.substr(12)));
  }
  return size * count;
}

}  // namespace

bool IsRetryableStatus(long status) {
  return status == 429 || (status >= 500 && status <= 599 && status != 501);
}

std::optional<milliseconds> ParseRetryAfter(std::string_view value, WallTime now) {
  value = Trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    long long seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range) return milliseconds::max();
    if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
    if (seconds > 365LL * 24 * 3600) return milliseconds::max();  // absurd: let the cap decide
    return milliseconds(seconds * 1000);
  }
  const std::string text(value);
  const time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == static_cast<time_t>(-1)) return std::nullopt;
  const auto delta = std::chrono::system_clock::from_time_t(when) - now;
  if (delta <= WallTime::duration::zero()) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(delta);
}

milliseconds RetryDelay(const HttpOptions& options, int failed_attempt,
                        std::optional<milliseconds> retry_after) {
  if (retry_after) return std::min(*retry_after, options.max_retry_after);
  milliseconds delay = options.backoff_initial;
  for (int i = 1; i < failed_attempt && delay < options.backoff_max; ++i) delay *= 2;
  return std::min(delay, options.backoff_max);
}

// ---- PostClient ----

struct PostClient::Impl {
  explicit Impl(const HttpOptions& o) : options(o) {
    GlobalInitOnce();
    curl = curl_easy_init();
  }
  ~Impl() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }

  struct Attempt {
    CURLcode code = CURLE_OK;
    std::string curl_message;
    long status = 0;
    std::string body;
    std::optional<std::string> retry_after;
  };

  Attempt Once(const PostRequest& request, curl_slist* headers) {
    Attempt attempt;
    HeaderCapture capture;
    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_easy_reset(curl);  // keeps the live connection, forgets the previous options
    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "streamgate-purger");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // several threads may purge at once
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &WriteBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &attempt.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &ReadHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &capture);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
    attempt.code = curl_easy_perform(curl);
    if (attempt.code == CURLE_OK) {
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &attempt.status);
      attempt.retry_after = std::move(capture.retry_after);
    } else {
      attempt.curl_message =
          error_buffer[0] != '\0' ? std::string(error_buffer) : curl_easy_strerror(attempt.code);
    }
    return attempt;
  }

  const HttpOptions& options;
  CURL* curl = nullptr;
};

PostClient::PostClient(const HttpOptions& options) : impl_(std::make_unique<Impl>(options)) {}
PostClient::~PostClient() = default;

Result<PostReply> PostClient::Post(const PostRequest& request) {
  const HttpOptions& options = impl_->options;
  if (impl_->curl == nullptr) {
    return MakeError(ErrorCode::kInternal,
                     options.provider + " " + request.what + ": could not create a libcurl handle");
  }
  // The header list holds the credential; it lives only here and is never logged.
  curl_slist* headers = nullptr;
  auto append = [&headers](const std::string& header) {
    if (curl_slist* next = curl_slist_append(headers, header.c_str())) headers = next;
  };
  append(options.auth_header);
  for (const std::string& header : request.headers) append(header);
  append("Expect:");  // no 100-continue round trip
  struct Free {
    curl_slist* list;
    ~Free() { curl_slist_free_all(list); }
  } free_headers{headers};

  const int attempts = std::max(1, options.max_attempts);
  for (int n = 1;; ++n) {
    Impl::Attempt attempt = impl_->Once(request, headers);
    std::optional<milliseconds> retry_after;
    std::string reason;
    if (attempt.code == CURLE_OK) {
      if (!IsRetryableStatus(attempt.status) || n >= attempts) {
        return PostReply{attempt.status, std::move(attempt.body), n};
      }
      if (attempt.retry_after) {
        retry_after = ParseRetryAfter(*attempt.retry_after, options.clock->WallNow());
      }
      reason = "HTTP " + std::to_string(attempt.status);
    } else {
      const std::string failure =
          options.provider + " " + request.what + ": " + request.url + ": " + attempt.curl_message;
      if (!IsRetryableCurlCode(attempt.code) || n >= attempts) {
        const ErrorCode code = attempt.code == CURLE_OPERATION_TIMEDOUT ? ErrorCode::kTimeout
                                                                        : ErrorCode::kUnavailable;
        return MakeError(
            code, failure + " (" + std::to_string(n) + (n == 1 ? " attempt)" : " attempts)"));
      }
      reason = attempt.curl_message;
    }
    const milliseconds delay = RetryDelay(options, n, retry_after);
    spdlog::warn("{} {}: {} from {}; retrying in {} ms (attempt {} of {})", options.provider,
                 request.what, reason, request.url, delay.count(), n + 1, attempts);
    if (delay > milliseconds::zero()) options.sleep(delay);
  }
}

// ---- Shared helpers ----

ErrorCode CodeForStatus(long status) {
  switch (status) {
    case 401:
    case 403:
      return ErrorCode::kFailedPrecondition;
    case 404:
      return ErrorCode::kNotFound;
    case 408:
    case 504:
      return ErrorCode::kTimeout;
    case 429:
      return ErrorCode::kUnavailable;
    default:
      break;
  }
  if (status >= 400 && status < 500) return ErrorCode::kInvalidArgument;
  return ErrorCode::kUnavailable;
}

std::string Snippet(std::string_view body, std::size_t max) {
  body = Trim(body);
  std::string out;
  out.reserve(std::min(body.size(), max) + 3);
  for (char c : body.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  if (body.size() > max) out += "...";
  return out;
}

Status ValidateItems(std::string_view kind, std::span<const std::string> items) {
  if (items.empty()) return InvalidArgument("purge " + std::string(kind) + ": the list is empty");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& item = items[i];
    if (item.empty()) {
      return InvalidArgument("purge " + std::string(kind) + ": item " + std::to_string(i) +
                             " is empty");
    }
    if (std::any_of(item.begin(), item.end(),
                    [](char c) { return IsSpaceOrControl(static_cast<unsigned char>(c)); })) {
      return InvalidArgument("purge " + std::string(kind) + ": '" + Snippet(item, 80) +
                             "' contains whitespace or a control character");
    }
  }
  return {};
}

Status ValidateUrls(std::span<const std::string> urls) {
  if (auto valid = ValidateItems("urls", urls); !valid) return valid;
  for (const std::string& url : urls) {
    const std::string_view rest = StripScheme(url);
    if (rest.size() == url.size()) {
      return InvalidArgument("purge urls: '" + Snippet(url, 80) +
                             "' is not an absolute http:// or https:// URL");
    }
    if (rest.empty() || rest.front() == '/') {
      return InvalidArgument("purge urls: '" + Snippet(url, 80) + "' has no host");
    }
  }
  return {};
}

std::vector<std::string> Unique(std::span<const std::string> items) {
  std::vector<std::string> out;
  out.reserve(items.size());
  std::unordered_set<std::string_view> seen;
  for (const std::string& item : items) {
    if (seen.insert(item).second) out.push_back(item);
  }
  return out;
}

std::string_view StripScheme(std::string_view url) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (StartsWithNoCase(url, scheme)) return url.substr(scheme.size());
  }
  return url;
}

std::string EscapeSegment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

Status ForEachBatch(
    std::span<const std::string> items, std::size_t per_request,
    const std::function<Status(std::span<const std::string>, std::size_t, std::size_t)>& send) {
  per_request = std::max<std::size_t>(1, per_request);
  const std::size_t count = (items.size() + per_request - 1) / per_request;
  for (std::size_t index = 0; index < count; ++index) {
    const std::size_t begin = index * per_request;
    const auto batch = items.subspan(begin, std::min(per_request, items.size() - begin));
    if (auto sent = send(batch, index, count); !sent) {
      if (count == 1) return sent;
      return MakeError(sent.error().code(), sent.error().message() + " [" + std::to_string(index) +
                                                " of " + std::to_string(count) +
                                                " requests had succeeded; " +
                                                std::to_string(begin) + " of " +
                                                std::to_string(items.size()) + " items purged]");
    }
  }
  return {};
}

}  // namespace streamgate::cdn::purger_internal
