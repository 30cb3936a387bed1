// ContentFetcher over libcurl: one easy handle per fetch, headers and body captured with limits.
#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "streamgate/cdn/content_fetcher.hpp"

namespace streamgate::cdn {

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

struct Transfer {
  FetchedContent content;
  std::uint64_t max_bytes = 0;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  const std::uint64_t room = t->max_bytes - t->content.body.size();
  if (n > room) {
    t->content.body.append(data, static_cast<std::size_t>(room));
    t->content.truncated = true;
    return 0;  // stops the transfer (CURLE_WRITE_ERROR, recognised below)
  }
  t->content.body.append(data, n);
  return n;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  const std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    t->content.headers.clear();  // a new response (after a redirect or 100 Continue)
    return n;
  }
  const std::size_t colon = line.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    t->content.headers.emplace_back(std::string(Trim(line.substr(0, colon))),
                                    std::string(Trim(line.substr(colon + 1))));
  }
  return n;
}

class CurlFetcher final : public ContentFetcher {
 public:
  explicit CurlFetcher(HttpFetcherOptions options) : options_(std::move(options)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  Result<FetchedContent> Fetch(const std::string& url, std::uint64_t max_bytes) override {
    if (!(url.starts_with("http://") || url.starts_with("https://"))) {
      return InvalidArgument(fmt::format("'{}' is not an http:// or https:// URL", url));
    }
    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return MakeError(ErrorCode::kInternal, "curl_easy_init failed");
    Transfer transfer;
    transfer.max_bytes = max_bytes;
    char error[CURL_ERROR_SIZE] = {};
    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, options_.max_redirects > 0 ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, options_.max_redirects);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    const CURLcode code = curl_easy_perform(h);
    if (code == CURLE_WRITE_ERROR && transfer.content.truncated) {
      // Stopped on purpose: the body was larger than allowed.
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
      return MakeError(ErrorCode::kTimeout, fmt::format("GET {}: timed out", url));
    } else if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL) {
      return InvalidArgument(fmt::format("GET {}: {}", url, error[0] ? error : "bad URL"));
    } else if (code != CURLE_OK) {
      return MakeError(ErrorCode::kUnavailable,
                       fmt::format("GET {}: {}", url, error[0] ? error : curl_easy_strerror(code)));
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    transfer.content.status = static_cast<int>(status);
    return std::move(transfer.content);
  }

 private:
  HttpFetcherOptions options_;
};

}  // namespace

std::optional<std::string_view> FetchedContent::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::shared_ptr<ContentFetcher> MakeHttpFetcher(HttpFetcherOptions options) {
  return std::make_shared<CurlFetcher>(std::move(options));
}

}  // namespace streamgate::cdn
