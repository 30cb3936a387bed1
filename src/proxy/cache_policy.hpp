// HTTP caching rules of RFC 9111 as pure functions: what a shared cache may store, for how long,
// how old a stored response is, when a client's conditional request is answered 304, and which
// byte range a Range header asks for. No sockets, no storage; the edge cache in the proxy calls
// these with header values it has already parsed.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "streamgate/common/clock.hpp"

namespace streamgate::proxy {

using Seconds = std::chrono::seconds;

// Cache-Control directives (RFC 9111 section 5.2). Unknown directives are ignored; a malformed
// delta-seconds makes the directive count as present with zero seconds (section 1.2.2: treat an
// invalid max-age as stale).
struct CacheControl {
  std::optional<Seconds> max_age;
  std::optional<Seconds> s_maxage;
  std::optional<Seconds> stale_while_revalidate;  // RFC 5861
  std::optional<Seconds> stale_if_error;          // RFC 5861
  std::optional<Seconds> min_fresh;               // request only
  std::optional<Seconds> max_stale;               // request only; no value = any staleness
  bool no_store = false;
  bool no_cache = false;  // the field-list form (no-cache="Set-Cookie") counts as plain no-cache
  bool is_private = false;
  bool is_public = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool only_if_cached = false;
  bool immutable = false;
};

// Adds the directives of one Cache-Control field value to `into` (call once per field line).
void ParseCacheControl(std::string_view value, CacheControl& into);
[[nodiscard]] CacheControl ParseCacheControl(std::string_view value);

// IMF-fixdate, obsolete RFC 850 and asctime forms (RFC 9110 section 5.6.7). nullopt if invalid.
[[nodiscard]] std::optional<WallTime> ParseHttpDate(std::string_view text);

// What the cache learnt from a response, with the times it was requested and received.
struct ResponseFacts {
  unsigned status = 0;
  CacheControl cache_control;
  std::optional<WallTime> date;
  std::optional<WallTime> expires;  // an invalid Expires value means "already expired"
  bool expires_invalid = false;
  std::optional<WallTime> last_modified;
  std::optional<Seconds> age;  // the Age header
  bool has_set_cookie = false;
  bool vary_star = false;  // Vary: * never matches a later request
  WallTime request_time{};
  WallTime response_time{};
};

// What the request says that matters for storing (section 3).
struct RequestFacts {
  std::string_view method;  // only GET and HEAD are cached here
  CacheControl cache_control;
  bool has_authorization = false;
};

// How long a stored response stays fresh and what may be done once it is stale.
struct Freshness {
  Seconds lifetime{0};
  Seconds stale_while_revalidate{0};
  Seconds stale_if_error{0};
  bool must_revalidate = false;  // must-revalidate, proxy-revalidate or s-maxage
  bool no_cache = false;         // stored, but revalidated before every use
};

struct StoreDecision {
  bool store = false;
  std::string_view reason;  // why not, for logs and tests; static text
  Freshness freshness;
};

// Whether a shared cache may store the response (section 3 and 3.5) and its freshness
// (section 4.2.1): s-maxage, then max-age, then Expires - Date, then `default_ttl` for a
// heuristically cacheable status (200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501)
// without explicit freshness. Responses with Set-Cookie are never stored: one user's cookie must
// not reach another (RFC 9111 allows storing them; edges such as Varnish refuse, as here).
[[nodiscard]] StoreDecision DecideStore(const RequestFacts& request, const ResponseFacts& response,
                                        Seconds default_ttl);

// The response's age now (section 4.2.3), from its Date and Age headers and the times it was
// requested and received.
[[nodiscard]] Seconds CurrentAge(const ResponseFacts& response, WallTime now);

// How a stored response may answer a request, given its age now.
enum class CacheUse {
  kFresh,                 // serve it
  kStaleWhileRevalidate,  // serve it and refresh in the background
  kMustRevalidate,        // ask the origin (conditionally) before serving
};
[[nodiscard]] CacheUse DecideUse(const Freshness& freshness, Seconds age,
                                 const CacheControl& request_cache_control);

// Whether a stale response may be served because the origin failed (stale-if-error window, and
// nothing forbids serving stale).
[[nodiscard]] bool MayServeStaleOnError(const Freshness& freshness, Seconds age);

// RFC 9110 section 13.1: true when a GET/HEAD with these preconditions is answered 304 from a
// stored response with these validators. If-None-Match (weak comparison, "*", lists) takes
// precedence over If-Modified-Since.
[[nodiscard]] bool IsNotModified(std::string_view if_none_match, std::string_view if_modified_since,
                                 std::string_view etag, std::optional<WallTime> last_modified);

// A Range header against a representation of `size` bytes (RFC 9110 section 14).
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
  [[nodiscard]] std::uint64_t length() const { return last - first + 1; }
};
enum class RangeKind {
  kNone,           // no Range, not bytes, several ranges, or malformed: answer 200 with everything
  kSatisfiable,    // answer 206 with `range`
  kUnsatisfiable,  // answer 416 with Content-Range: bytes */size
};
struct RangeRequest {
  RangeKind kind = RangeKind::kNone;
  ByteRange range;
};
[[nodiscard]] RangeRequest ParseRange(std::string_view header, std::uint64_t size);

// "bytes 0-99/1000"
[[nodiscard]] std::string ContentRangeValue(const ByteRange& range, std::uint64_t size);

}  // namespace streamgate::proxy
