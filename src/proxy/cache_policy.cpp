#include "proxy/cache_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <limits>

#include "proxy/forwarding.hpp"

namespace streamgate::proxy {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

// delta-seconds (RFC 9111 section 1.2.2): digits, capped at 2^31; anything else reads as 0.
Seconds ParseDeltaSeconds(std::string_view text) {
  constexpr std::uint64_t kCap = 2147483648ULL;
  if (text.empty()) return Seconds(0);
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return Seconds(0);
    value = std::min<std::uint64_t>(kCap, value * 10 + static_cast<std::uint64_t>(c - '0'));
  }
  return Seconds(static_cast<Seconds::rep>(value));
}

// Splits a Cache-Control value on commas outside quoted strings.
template <typename F>
void ForEachDirective(std::string_view value, F&& f) {
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i < value.size()) {
      const char c = value[i];
      if (c == '"') quoted = !quoted;
      if (c == '\\' && quoted) {
        ++i;
        continue;
      }
      if (c != ',' || quoted) continue;
    }
    const std::string_view item = TrimOws(value.substr(start, i - start));
    if (!item.empty()) {
      const std::size_t eq = item.find('=');
      std::string_view name = TrimOws(item.substr(0, eq));
      std::string_view argument;
      bool has_argument = false;
      if (eq != std::string_view::npos) {
        has_argument = true;
        argument = TrimOws(item.substr(eq + 1));
        if (argument.size() >= 2 && argument.front() == '"' && argument.back() == '"') {
          argument = argument.substr(1, argument.size() - 2);
        }
      }
      f(name, argument, has_argument);
    }
    start = i + 1;
  }
}

std::string_view StripWeak(std::string_view tag) {
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
  return tag;
}

bool HeuristicallyCacheable(unsigned status) {
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 206:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      return true;
    default:
      return false;
  }
}

Seconds NonNegative(std::chrono::system_clock::duration d) {
  return std::max(Seconds(0), std::chrono::duration_cast<Seconds>(d));
}

bool ParseUnsigned(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

void ParseCacheControl(std::string_view value, CacheControl& cc) {
  ForEachDirective(value, [&](std::string_view name, std::string_view arg, bool has_arg) {
    if (EqualsIgnoreCase(name, "max-age")) {
      cc.max_age = ParseDeltaSeconds(arg);
    } else if (EqualsIgnoreCase(name, "s-maxage")) {
      cc.s_maxage = ParseDeltaSeconds(arg);
    } else if (EqualsIgnoreCase(name, "stale-while-revalidate")) {
      cc.stale_while_revalidate = ParseDeltaSeconds(arg);
    } else if (EqualsIgnoreCase(name, "stale-if-error")) {
      cc.stale_if_error = ParseDeltaSeconds(arg);
    } else if (EqualsIgnoreCase(name, "min-fresh")) {
      cc.min_fresh = ParseDeltaSeconds(arg);
    } else if (EqualsIgnoreCase(name, "max-stale")) {
      cc.max_stale = has_arg ? ParseDeltaSeconds(arg) : Seconds::max();
    } else if (EqualsIgnoreCase(name, "no-store")) {
      cc.no_store = true;
    } else if (EqualsIgnoreCase(name, "no-cache")) {
      cc.no_cache = true;
    } else if (EqualsIgnoreCase(name, "private")) {
      cc.is_private = true;
    } else if (EqualsIgnoreCase(name, "public")) {
      cc.is_public = true;
    } else if (EqualsIgnoreCase(name, "must-revalidate")) {
      cc.must_revalidate = true;
    } else if (EqualsIgnoreCase(name, "proxy-revalidate")) {
      cc.proxy_revalidate = true;
    } else if (EqualsIgnoreCase(name, "only-if-cached")) {
      cc.only_if_cached = true;
    } else if (EqualsIgnoreCase(name, "immutable")) {
      cc.immutable = true;
    }
  });
}

CacheControl ParseCacheControl(std::string_view value) {
  CacheControl cc;
  ParseCacheControl(value, cc);
  return cc;
}

std::optional<WallTime> ParseHttpDate(std::string_view text) {
  // strptime needs a terminated string; HTTP dates are short, so a fixed buffer suffices.
  char buffer[64];
  text = TrimOws(text);
  if (text.empty() || text.size() >= sizeof(buffer)) return std::nullopt;
  std::copy(text.begin(), text.end(), buffer);
  buffer[text.size()] = '\0';
  static constexpr const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate
      "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850
      "%a %b %e %H:%M:%S %Y",       // asctime
  };
  for (const char* format : kFormats) {
    std::tm tm{};
    const char* end = strptime(buffer, format, &tm);
    if (end == nullptr || *end != '\0') continue;
    const time_t seconds = timegm(&tm);
    if (seconds == static_cast<time_t>(-1)) return std::nullopt;
    return WallTime(std::chrono::seconds(seconds));
  }
  return std::nullopt;
}

StoreDecision DecideStore(const RequestFacts& request, const ResponseFacts& response,
                          Seconds default_ttl) {
  const CacheControl& cc = response.cache_control;
  auto refuse = [](std::string_view reason) { return StoreDecision{false, reason, {}}; };
  if (request.method != "GET" && request.method != "HEAD") return refuse("method");
  if (response.status < 200 || response.status == 206 || response.status == 304) {
    return refuse("status");
  }
  if (request.cache_control.no_store || cc.no_store) return refuse("no-store");
  if (cc.is_private) return refuse("private");
  if (response.has_set_cookie) return refuse("set-cookie");
  if (response.vary_star) return refuse("vary *");
  if (request.has_authorization && !cc.is_public && !cc.s_maxage && !cc.must_revalidate) {
    return refuse("authorization");
  }

  Freshness freshness;
  if (cc.s_maxage) {
    freshness.lifetime = *cc.s_maxage;
  } else if (cc.max_age) {
    freshness.lifetime = *cc.max_age;
  } else if (response.expires_invalid) {
    freshness.lifetime = Seconds(0);
  } else if (response.expires) {
    freshness.lifetime =
        NonNegative(*response.expires - response.date.value_or(response.response_time));
  } else if (HeuristicallyCacheable(response.status) || cc.is_public) {
    freshness.lifetime = default_ttl;
  } else {
    return refuse("no explicit freshness");
  }
  freshness.stale_while_revalidate = cc.stale_while_revalidate.value_or(Seconds(0));
  freshness.stale_if_error = cc.stale_if_error.value_or(Seconds(0));
  freshness.must_revalidate = cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.has_value();
  freshness.no_cache = cc.no_cache;
  return StoreDecision{true, "", freshness};
}

Seconds CurrentAge(const ResponseFacts& response, WallTime now) {
  const Seconds apparent_age =
      response.date ? NonNegative(response.response_time - *response.date) : Seconds(0);
  const Seconds response_delay = NonNegative(response.response_time - response.request_time);
  const Seconds corrected_age_value = response.age.value_or(Seconds(0)) + response_delay;
  const Seconds corrected_initial_age = std::max(apparent_age, corrected_age_value);
  return corrected_initial_age + NonNegative(now - response.response_time);
}

CacheUse DecideUse(const Freshness& freshness, Seconds age, const CacheControl& request_cc) {
  if (freshness.no_cache || request_cc.no_cache) return CacheUse::kMustRevalidate;
  if (request_cc.max_age && age > *request_cc.max_age) return CacheUse::kMustRevalidate;
  if (request_cc.min_fresh && freshness.lifetime - age < *request_cc.min_fresh) {
    return CacheUse::kMustRevalidate;
  }
  if (age < freshness.lifetime) return CacheUse::kFresh;
  if (freshness.must_revalidate) return CacheUse::kMustRevalidate;
  const Seconds staleness = age - freshness.lifetime;
  if (request_cc.max_stale && staleness <= *request_cc.max_stale) return CacheUse::kFresh;
  if (staleness < freshness.stale_while_revalidate) return CacheUse::kStaleWhileRevalidate;
  return CacheUse::kMustRevalidate;
}

bool MayServeStaleOnError(const Freshness& freshness, Seconds age) {
  if (age < freshness.lifetime) return true;
  if (freshness.must_revalidate) return false;
  return age - freshness.lifetime <= freshness.stale_if_error &&
         freshness.stale_if_error > Seconds(0);
}

bool IsNotModified(std::string_view if_none_match, std::string_view if_modified_since,
                   std::string_view etag, std::optional<WallTime> last_modified) {
  if_none_match = TrimOws(if_none_match);
  if (!if_none_match.empty()) {
    if (if_none_match == "*") return true;  // a stored response exists
    if (etag.empty()) return false;
    bool match = false;
    ForEachListToken(if_none_match, [&](std::string_view tag) {
      match = match || StripWeak(tag) == StripWeak(etag);
    });
    return match;
  }
  if (if_modified_since.empty() || !last_modified) return false;
  const auto since = ParseHttpDate(if_modified_since);
  return since && *last_modified <= *since;
}

RangeRequest ParseRange(std::string_view header, std::uint64_t size) {
  header = TrimOws(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() <= kUnit.size() || !EqualsIgnoreCase(header.substr(0, kUnit.size()), kUnit)) {
    return {};
  }
  const std::string_view spec = TrimOws(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return {};  // several ranges: send it all
  const std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  const std::string_view first_text = TrimOws(spec.substr(0, dash));
  const std::string_view last_text = TrimOws(spec.substr(dash + 1));
  RangeRequest result;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  if (first_text.empty()) {  // suffix: the last N bytes
    if (!ParseUnsigned(last_text, last)) return {};
    if (last == 0 || size == 0) return {RangeKind::kUnsatisfiable, {}};
    result.range = {size - std::min(last, size), size - 1};
  } else {
    if (!ParseUnsigned(first_text, first)) return {};
    if (last_text.empty()) {
      last = std::numeric_limits<std::uint64_t>::max();
    } else if (!ParseUnsigned(last_text, last) || last < first) {
      return {};
    }
    if (first >= size) return {RangeKind::kUnsatisfiable, {}};
    result.range = {first, std::min(last, size - 1)};
  }
  result.kind = RangeKind::kSatisfiable;
  return result;
}

std::string ContentRangeValue(const ByteRange& range, std::uint64_t size) {
  return fmt::format("bytes {}-{}/{}", range.first, range.last, size);
}

}  // namespace streamgate::proxy
