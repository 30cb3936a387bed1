#include "proxy/edge_cache.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include "proxy/forwarding.hpp"

namespace streamgate::proxy {
namespace {

bool NameIs(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  }
  return out;
}

std::string_view HeaderValue(const cdn::HeaderFields& headers, std::string_view name) {
  for (const auto& [field, value] : headers) {
    if (NameIs(field, name)) return value;
  }
  return {};
}

// Headers that describe the stored bytes' framing or age, not the representation: recomputed
// when the entry is served.
bool RecomputedOnServe(std::string_view name) {
  return NameIs(name, "content-length") || NameIs(name, "transfer-encoding") ||
         NameIs(name, "age") || NameIs(name, EdgeCache::kInitialAgeHeader);
}

// The lower-case field names a Vary value lists, comma-joined; "*" stays "*".
std::string VaryNames(const cdn::HeaderFields& headers) {
  std::string names;
  for (const auto& [field, value] : headers) {
    if (!NameIs(field, "vary")) continue;
    ForEachListToken(value, [&](std::string_view token) {
      if (!names.empty()) names.push_back(',');
      names.append(Lower(token));
    });
  }
  return names;
}

std::string VarySuffix(std::string_view names, const EdgeCache::HeaderLookup& header) {
  std::string suffix;
  ForEachListToken(names, [&](std::string_view name) {
    suffix.push_back('\n');
    suffix.append(name).push_back('=');
    suffix.append(TrimOws(header(name)));
  });
  return suffix;
}

bool HasRequestDirectives(const CacheControl& cc) {
  return cc.no_cache || cc.max_age || cc.min_fresh || cc.max_stale;
}

}  // namespace

EdgeCache::EdgeCache(cdn::ObjectStore& store, EdgeCacheOptions options)
    : store_(store), options_(std::move(options)) {}

bool EdgeCache::Applies(std::string_view method, std::string_view host,
                        std::string_view target) const {
  if (method != "GET" && method != "HEAD") return false;
  if (!options_.hosts.empty() &&
      std::none_of(options_.hosts.begin(), options_.hosts.end(),
                   [&](const std::string& h) { return NameIs(h, host); })) {
    return false;
  }
  if (options_.path_prefixes.empty()) return true;
  return std::any_of(options_.path_prefixes.begin(), options_.path_prefixes.end(),
                     [&](const std::string& prefix) { return target.starts_with(prefix); });
}

Seconds EdgeCache::AgeOf(const cdn::CacheEntry& entry) const {
  const std::string_view text = HeaderValue(entry.headers, kInitialAgeHeader);
  std::int64_t initial = 0;
  std::from_chars(text.data(), text.data() + text.size(), initial);
  const auto resident = std::chrono::duration_cast<Seconds>(store_.clock().Now() - entry.stored_at);
  return Seconds(initial) + std::max(Seconds(0), resident);
}

Freshness EdgeCache::FreshnessOf(const cdn::CacheEntry& entry) const {
  CacheControl cc;
  for (const auto& [field, value] : entry.headers) {
    if (NameIs(field, "cache-control")) ParseCacheControl(value, cc);
  }
  const std::string_view text = HeaderValue(entry.headers, kInitialAgeHeader);
  std::int64_t initial = 0;
  std::from_chars(text.data(), text.data() + text.size(), initial);
  Freshness freshness;
  freshness.lifetime =
      Seconds(initial) + std::chrono::duration_cast<Seconds>(entry.expires - entry.stored_at);
  freshness.stale_while_revalidate = cc.stale_while_revalidate.value_or(Seconds(0));
  freshness.stale_if_error = cc.stale_if_error.value_or(Seconds(0));
  freshness.must_revalidate = cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.has_value();
  freshness.no_cache = cc.no_cache;
  return freshness;
}

CacheLookup EdgeCache::Lookup(std::string_view host, std::string_view target,
                              const CacheControl& request_cc, const HeaderLookup& header,
                              std::string& key_out) {
  key_out.assign(host).append(target);
  const cdn::LookupOptions options{.allow_stale = true, .count = true};
  cdn::EntryPtr entry = store_.Lookup(key_out, options);
  if (entry && entry->status == 0) {  // a Vary marker: the response lives under the variant key
    key_out.append(VarySuffix(HeaderValue(entry->headers, "vary"), header));
    entry = store_.Lookup(key_out, options);
  }
  CacheLookup result;
  if (!entry) return result;
  result.age = AgeOf(*entry);
  if (entry->IsFresh(store_.clock().Now()) && !HasRequestDirectives(request_cc)) {
    result.use = CacheUse::kFresh;
  } else {
    result.freshness = FreshnessOf(*entry);
    result.use = DecideUse(result.freshness, result.age, request_cc);
  }
  result.entry = std::move(entry);
  return result;
}

ResponseFacts EdgeCache::FactsOf(unsigned status, const cdn::HeaderFields& headers,
                                 WallTime request_time, WallTime response_time) const {
  ResponseFacts facts;
  facts.status = status;
  facts.request_time = request_time;
  facts.response_time = response_time;
  for (const auto& [field, value] : headers) {
    if (NameIs(field, "cache-control")) {
      ParseCacheControl(value, facts.cache_control);
    } else if (NameIs(field, "date")) {
      facts.date = ParseHttpDate(value);
    } else if (NameIs(field, "expires")) {
      facts.expires = ParseHttpDate(value);
      facts.expires_invalid = !facts.expires.has_value();
    } else if (NameIs(field, "last-modified")) {
      facts.last_modified = ParseHttpDate(value);
    } else if (NameIs(field, "age")) {
      std::int64_t age = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), age);
      if (ec == std::errc() && age >= 0) facts.age = Seconds(age);
    } else if (NameIs(field, "set-cookie")) {
      facts.has_set_cookie = true;
    } else if (NameIs(field, "vary")) {
      ForEachListToken(value, [&](std::string_view token) {
        if (token == "*") facts.vary_star = true;
      });
    }
  }
  return facts;
}

StoreDecision EdgeCache::Storable(const RequestFacts& request, unsigned status,
                                  const cdn::HeaderFields& headers,
                                  std::optional<std::uint64_t> content_length) const {
  const WallTime now = store_.clock().WallNow();
  StoreDecision decision =
      DecideStore(request, FactsOf(status, headers, now, now), options_.default_ttl);
  if (decision.store && content_length && *content_length > store_.max_object_bytes()) {
    return StoreDecision{false, "too large", {}};
  }
  return decision;
}

Result<cdn::EntryPtr> EdgeCache::Insert(std::string key, std::string url, unsigned status,
                                        cdn::HeaderFields headers, std::string body,
                                        const ResponseFacts& facts, const Freshness& freshness) {
  // The origin's Date is not used for the age: clock skew between an origin and the edge would
  // age (or rejuvenate) every response. Like Varnish, the age is the Age header plus the time
  // the response was in flight.
  ResponseFacts skew_free = facts;
  skew_free.date.reset();
  const Seconds initial_age = CurrentAge(skew_free, facts.response_time);
  Seconds ttl =
      freshness.no_cache ? Seconds(0) : std::max(Seconds(0), freshness.lifetime - initial_age);
  Seconds keep_stale = std::max(freshness.stale_while_revalidate, freshness.stale_if_error);
  const std::string_view etag = HeaderValue(headers, "etag");
  const std::string_view last_modified = HeaderValue(headers, "last-modified");
  if (!etag.empty() || !last_modified.empty()) {
    keep_stale = std::max(keep_stale, options_.keep_for_revalidation);
  }
  if (ttl == Seconds(0) && keep_stale == Seconds(0)) {
    return FailedPrecondition("already stale and nothing to revalidate with");
  }

  cdn::CacheObject object;
  object.key = std::move(key);
  object.url = std::move(url);
  object.status = static_cast<int>(status);
  object.etag = etag;
  object.last_modified = last_modified;
  ForEachListToken(HeaderValue(headers, "surrogate-key"), [&](std::string_view list) {
    // Surrogate-Key is space-separated (Fastly's convention); commas are tolerated.
    std::size_t start = 0;
    while (start < list.size()) {
      const std::size_t space = list.find(' ', start);
      const std::string_view token = list.substr(start, space - start);
      if (!token.empty()) object.surrogate_keys.emplace_back(token);
      if (space == std::string_view::npos) break;
      start = space + 1;
    }
  });
  std::erase_if(headers, [](const auto& field) { return RecomputedOnServe(field.first); });
  headers.emplace_back(kInitialAgeHeader, std::to_string(initial_age.count()));
  object.headers = std::move(headers);
  object.body = std::move(body);
  return store_.Insert(std::move(object), cdn::InsertOptions{.ttl = ttl, .keep_stale = keep_stale});
}

Result<cdn::EntryPtr> EdgeCache::Store(std::string_view host, std::string_view target,
                                       const RequestFacts& request, const HeaderLookup& header,
                                       Response response) {
  const ResponseFacts facts =
      FactsOf(response.status, response.headers, response.request_time, response.response_time);
  const StoreDecision decision = DecideStore(request, facts, options_.default_ttl);
  if (!decision.store)
    return FailedPrecondition(std::string("not storable: ") + std::string(decision.reason));
  std::string key(host);
  key.append(target);
  std::string url = "http://" + key;
  const std::string names = VaryNames(response.headers);
  if (!names.empty()) {
    // The marker lives as long as the variant may, so the variant stays reachable.
    cdn::CacheObject marker;
    marker.key = key;
    marker.url = url;
    marker.status = 0;
    marker.headers.emplace_back("vary", names);
    const Seconds keep =
        std::max({decision.freshness.lifetime, decision.freshness.stale_if_error,
                  decision.freshness.stale_while_revalidate, options_.keep_for_revalidation});
    auto stored = store_.Insert(std::move(marker), cdn::InsertOptions{.ttl = keep});
    if (!stored) return std::unexpected(stored.error());
    key.append(VarySuffix(names, header));
  }
  return Insert(std::move(key), std::move(url), response.status, std::move(response.headers),
                std::move(response.body), facts, decision.freshness);
}

Result<cdn::EntryPtr> EdgeCache::Refresh(const cdn::EntryPtr& stale, std::string_view key,
                                         const cdn::HeaderFields& not_modified_headers,
                                         WallTime request_time, WallTime response_time) {
  cdn::HeaderFields headers = stale->headers;
  for (const auto& [field, value] : not_modified_headers) {
    if (RecomputedOnServe(field) || IsHopByHopHeader(field)) continue;
    std::erase_if(headers, [&](const auto& existing) { return NameIs(existing.first, field); });
  }
  for (const auto& [field, value] : not_modified_headers) {
    if (RecomputedOnServe(field) || IsHopByHopHeader(field)) continue;
    headers.emplace_back(field, value);
  }
  const ResponseFacts facts =
      FactsOf(static_cast<unsigned>(stale->status), headers, request_time, response_time);
  const StoreDecision decision =
      DecideStore(RequestFacts{"GET", {}, false}, facts, options_.default_ttl);
  if (!decision.store) {
    store_.Invalidate(key);
    return FailedPrecondition(std::string("no longer storable: ") + std::string(decision.reason));
  }
  return Insert(std::string(key), stale->url, static_cast<unsigned>(stale->status),
                std::move(headers), stale->body, facts, decision.freshness);
}

bool EdgeCache::JoinFill(const std::string& key, std::function<void()> on_done) {
  FillShard& shard = fills_[std::hash<std::string>{}(key) % kFillShards];
  std::lock_guard lock(shard.mu);
  auto [it, inserted] = shard.waiting.try_emplace(key);
  if (inserted) return true;
  it->second.push_back(std::move(on_done));
  return false;
}

void EdgeCache::FinishFill(const std::string& key) {
  std::vector<std::function<void()>> waiters;
  {
    FillShard& shard = fills_[std::hash<std::string>{}(key) % kFillShards];
    std::lock_guard lock(shard.mu);
    auto it = shard.waiting.find(key);
    if (it == shard.waiting.end()) return;
    waiters = std::move(it->second);
    shard.waiting.erase(it);
  }
  for (auto& waiter : waiters) waiter();
}

void EdgeCache::AbandonFills() {
  for (FillShard& shard : fills_) {
    std::lock_guard lock(shard.mu);
    shard.waiting.clear();
  }
}

}  // namespace streamgate::proxy
