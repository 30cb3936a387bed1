// The HTTP side of the CDN purgers: libcurl POSTs with timeouts, retries and backoff, and the
// validation and error helpers the provider adapters share. Internal to streamgate_cdn.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "streamgate/cdn/purger.hpp"
#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::cdn::purger_internal {

// A PurgerConfig checked and completed (defaults filled in), shared by one purger's calls.
struct HttpOptions {
  std::string provider;     // "cloudflare", "fastly": in messages and logs
  std::string base_url;     // no trailing '/'
  std::string auth_header;  // "Authorization: Bearer ..." / "Fastly-Key: ...": never logged
  int max_attempts = 3;
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{10'000};
  std::chrono::milliseconds max_retry_after{60'000};
  std::function<void(std::chrono::milliseconds)> sleep;  // never empty here
  const Clock* clock = nullptr;                          // never null here
};

struct PostRequest {
  std::string what;                  // "purge_cache files (batch 1 of 3)": for messages
  std::string url;                   // absolute
  std::vector<std::string> headers;  // "Name: value"; the credential is added separately
  std::string body;                  // sent as is; empty: Content-Length 0
};

struct PostReply {
  long status = 0;
  std::string body;
  int attempts = 0;  // how many were made, counting the first
};

// Waits before attempt number `failed_attempt + 1`: Retry-After when the server gave one
// (capped at max_retry_after), else backoff_initial * 2^(failed_attempt-1) capped at backoff_max.
[[nodiscard]] std::chrono::milliseconds RetryDelay(
    const HttpOptions& options, int failed_attempt,
    std::optional<std::chrono::milliseconds> retry_after);

// Retry-After as seconds ("120") or an HTTP date, relative to `now`; nullopt when unparsable.
// A date in the past gives zero.
[[nodiscard]] std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                                       WallTime now);

// True for the statuses worth another attempt: 429 and 5xx (except 501 Not Implemented).
[[nodiscard]] bool IsRetryableStatus(long status);

// One purger call's connection (kept alive across its batches). Not thread-safe: a purger makes
// one per call, which is what makes the purgers themselves thread-safe.
class PostClient {
 public:
  explicit PostClient(const HttpOptions& options);
  ~PostClient();
  PostClient(const PostClient&) = delete;
  PostClient& operator=(const PostClient&) = delete;

  // POSTs `request`, retrying connect errors, time-outs, 429 and 5xx up to max_attempts. Returns
  // the last reply whatever its status; an Error only when no reply arrived on the last attempt
  // (Unavailable, or Timeout when the attempt timed out).
  [[nodiscard]] Result<PostReply> Post(const PostRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- Shared helpers for the adapters ----

// The ErrorCode for a final HTTP status >= 300 (see MakePurger's comment).
[[nodiscard]] ErrorCode CodeForStatus(long status);

// At most `max` characters of a body, control characters replaced, for error messages.
[[nodiscard]] std::string Snippet(std::string_view body, std::size_t max = 200);

// Checks a list handed to a purge call: not empty, no empty item, no whitespace or control
// characters (they would break a header or path). `kind` is "urls", "tags", "prefixes".
[[nodiscard]] Status ValidateItems(std::string_view kind, std::span<const std::string> items);

// URLs must be absolute http(s) URLs with a host.
[[nodiscard]] Status ValidateUrls(std::span<const std::string> urls);

// The items in first-seen order without repeats.
[[nodiscard]] std::vector<std::string> Unique(std::span<const std::string> items);

// "https://host/path" -> "host/path" (other strings unchanged).
[[nodiscard]] std::string_view StripScheme(std::string_view url);

// Percent-encodes everything but RFC 3986 unreserved characters (for one path segment).
[[nodiscard]] std::string EscapeSegment(std::string_view text);

// Applies `send` to consecutive slices of at most `per_request` items and stops at the first
// error, which then says how many requests (of how many) had already succeeded.
[[nodiscard]] Status ForEachBatch(
    std::span<const std::string> items, std::size_t per_request,
    const std::function<Status(std::span<const std::string>, std::size_t index, std::size_t count)>&
        send);

// The purgers, built by MakePurger once the config is checked.
[[nodiscard]] std::unique_ptr<Purger> MakeCloudflarePurger(HttpOptions options, std::string zone_id,
                                                           std::size_t per_request);
[[nodiscard]] std::unique_ptr<Purger> MakeFastlyPurger(HttpOptions options, std::string service_id,
                                                       std::size_t keys_per_request,
                                                       bool soft_purge);

}  // namespace streamgate::cdn::purger_internal
