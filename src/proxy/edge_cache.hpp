// The proxy's HTTP cache on top of cdn::ObjectStore: cache keys (with Vary), what a stored
// response may answer, storing a response with its freshness, and request coalescing.
//
// Keys: "<host><target>". A response with Vary is stored under "<host><target>\n<name>=<value>..."
// (the request's values of the named fields) and the plain key holds a marker entry (status 0,
// one "vary" header listing the names), so a lookup needs one probe without Vary and two with.
//
// Stored headers are the origin's end-to-end headers minus Content-Length and Age; the entry's
// "age" at storing (RFC 9111 corrected initial age) is kept in a header "x-sg-initial-age" that is
// never sent, and the Age sent is that plus the time the entry has been stored.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/cache_policy.hpp"
#include "streamgate/cdn/object_store.hpp"
#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::proxy {

struct EdgeCacheOptions {
  Seconds default_ttl{3600};  // for responses that say nothing about freshness
  // Stale entries with validators are kept this long past expiry so that a later request can
  // revalidate them (a 304) instead of fetching the body again.
  Seconds keep_for_revalidation{600};
  std::vector<std::string> hosts;          // Host values cached; empty: every host
  std::vector<std::string> path_prefixes;  // path prefixes cached; empty: every path
};

// How a request relates to the stored entry found for it.
struct CacheLookup {
  cdn::EntryPtr entry;  // null: nothing stored (or only an entry past retention)
  CacheUse use = CacheUse::kMustRevalidate;
  Freshness freshness;
  Seconds age{0};
};

class EdgeCache {
 public:
  EdgeCache(cdn::ObjectStore& store, EdgeCacheOptions options);

  // True when the request is one this cache answers: GET or HEAD on a configured host and path.
  [[nodiscard]] bool Applies(std::string_view method, std::string_view host,
                             std::string_view target) const;

  // The stored response for the request, if any, with what it may be used for. `header` gives a
  // request header's value by lower-case name ("" when absent). Counts the hit or miss.
  using HeaderLookup = std::function<std::string_view(std::string_view)>;
  [[nodiscard]] CacheLookup Lookup(std::string_view host, std::string_view target,
                                   const CacheControl& request_cc, const HeaderLookup& header,
                                   std::string& key_out);

  // A response to store, as received (hop-by-hop headers already removed).
  struct Response {
    unsigned status = 200;
    cdn::HeaderFields headers;  // names as received
    std::string body;
    WallTime request_time{};
    WallTime response_time{};
  };
  // Stores `response` for a request with `request_cc`/`has_authorization` under the key the
  // request maps to (with Vary). Returns the stored entry, or the reason it was not stored.
  [[nodiscard]] Result<cdn::EntryPtr> Store(std::string_view host, std::string_view target,
                                            const RequestFacts& request, const HeaderLookup& header,
                                            Response response);

  // A 304 from the origin refreshes `stale`: its headers updated from the 304's (RFC 9111
  // section 4.3.4) and freshness recomputed; the body is kept.
  [[nodiscard]] Result<cdn::EntryPtr> Refresh(const cdn::EntryPtr& stale, std::string_view key,
                                              const cdn::HeaderFields& not_modified_headers,
                                              WallTime request_time, WallTime response_time);

  // Whether a response with these headers could be stored at all (before its body arrives):
  // the store decision and whether a body of `content_length` would be admitted.
  [[nodiscard]] StoreDecision Storable(const RequestFacts& request, unsigned status,
                                       const cdn::HeaderFields& headers,
                                       std::optional<std::uint64_t> content_length) const;

  // Request coalescing: the first caller for a key leads (true) and must call FinishFill; the
  // others get false and `on_done` runs (on the leader's thread) when the leader finishes.
  [[nodiscard]] bool JoinFill(const std::string& key, std::function<void()> on_done);
  void FinishFill(const std::string& key);
  // Forgets every waiter without notifying it (the proxy is stopping).
  void AbandonFills();

  [[nodiscard]] std::uint64_t max_object_bytes() const { return store_.max_object_bytes(); }
  [[nodiscard]] cdn::ObjectStore& store() { return store_; }
  [[nodiscard]] const Clock& clock() const { return store_.clock(); }

  // The Age to send for `entry` now, in seconds.
  [[nodiscard]] Seconds AgeOf(const cdn::CacheEntry& entry) const;
  // The freshness rules an entry was stored with, re-read from its headers.
  [[nodiscard]] Freshness FreshnessOf(const cdn::CacheEntry& entry) const;

  static constexpr std::string_view kInitialAgeHeader = "x-sg-initial-age";

 private:
  [[nodiscard]] ResponseFacts FactsOf(unsigned status, const cdn::HeaderFields& headers,
                                      WallTime request_time, WallTime response_time) const;
  [[nodiscard]] Result<cdn::EntryPtr> Insert(std::string key, std::string url, unsigned status,
                                             cdn::HeaderFields headers, std::string body,
                                             const ResponseFacts& facts,
                                             const Freshness& freshness);

  cdn::ObjectStore& store_;
  EdgeCacheOptions options_;

  struct FillShard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<std::function<void()>>> waiting;
  };
  static constexpr std::size_t kFillShards = 16;
  FillShard fills_[kFillShards];
};

}  // namespace streamgate::proxy
