// Fetching content from an origin for the CDN manager (CacheContent, PrefetchContent). An
// interface so the manager is tested with fakes; the real one GETs over HTTP(S) with libcurl.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "streamgate/cdn/object_store.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::cdn {

struct FetchedContent {
  int status = 0;          // final HTTP status (after redirects)
  HeaderFields headers;    // of the final response, in arrival order
  std::string body;        // at most max_bytes
  bool truncated = false;  // the body was longer than max_bytes; reading stopped there

  // First header with this name (case-insensitive).
  [[nodiscard]] std::optional<std::string_view> Header(std::string_view name) const;
};

class ContentFetcher {
 public:
  virtual ~ContentFetcher() = default;
  // GETs `url`, keeping at most `max_bytes` of the body. Any HTTP status is a result; errors are
  // for no answer at all: kUnavailable (connect, reset, DNS), kTimeout, kInvalidArgument (URL).
  // Thread-safe: the manager fetches concurrently.
  [[nodiscard]] virtual Result<FetchedContent> Fetch(const std::string& url,
                                                     std::uint64_t max_bytes) = 0;
};

struct HttpFetcherOptions {
  std::chrono::milliseconds timeout{30'000};  // whole transfer
  std::chrono::milliseconds connect_timeout{5'000};
  long max_redirects = 3;
  std::string user_agent = "streamgate-cdn";
};

// HTTP(S) GETs with libcurl; one connection per fetch.
[[nodiscard]] std::shared_ptr<ContentFetcher> MakeHttpFetcher(HttpFetcherOptions options = {});

}  // namespace streamgate::cdn
