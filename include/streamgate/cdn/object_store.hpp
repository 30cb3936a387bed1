// The edge cache's object store: real response bytes and metadata, bounded in bytes, sharded.
//
//   * Entries are immutable and shared (std::shared_ptr<const CacheEntry>): a hit copies a
//     pointer, never the bytes, and a reader keeps streaming an entry that was evicted meanwhile.
//   * Keys hash (XXH3) to one of `shards` shards; each shard has its own lock, index, slot array
//     and eviction policy (capacity / shards bytes each). A lookup takes one shard's lock in
//     shared mode (exclusive only with LRU, whose hits reorder a list); nothing is global.
//   * Admission: an entry charging more than max_object_fraction of the capacity (or more than a
//     shard holds) is refused, so one large object never flushes the cache.
//   * Expiry: an entry is fresh until `expires`; it may be kept (and served on request) as stale
//     until `retain_until`; past that it is gone on the next lookup or PurgeExpired().
//   * Prefetched entries not yet hit are "cold"; they may hold at most prefetch_share of a shard,
//     so prefetching never displaces more than that share of hot content.
//
// Charge of an entry (what counts against the byte limit): body + key + url + headers +
// validators + surrogate keys + a fixed 256-byte overhead.
//
// Thread-safe; every call may come from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamgate/cdn/eviction.hpp"
#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::cdn {

using HeaderFields = std::vector<std::pair<std::string, std::string>>;

// What a caller hands to Insert: a response as it should be replayed on a hit.
struct CacheObject {
  std::string key;  // cache key, non-empty (the proxy's includes method/host/path/Vary values)
  std::string url;  // where the bytes came from; URL-prefix invalidation matches on it
  int status = 200;
  HeaderFields headers;  // response headers to replay (the store does not interpret them)
  std::string body;
  std::string etag;                         // validators for revalidation and 304s; "" when absent
  std::string last_modified;                // HTTP-date as received
  std::vector<std::string> surrogate_keys;  // tags for group invalidation
};

// A stored entry: the object plus the times the store set from its clock.
struct CacheEntry : CacheObject {
  MonoTime stored_at{};     // when inserted
  WallTime stored_wall{};   // same instant, for display and Age
  MonoTime expires{};       // fresh while now < expires
  MonoTime retain_until{};  // kept (servable as stale on request) while now < retain_until
  std::uint64_t charge = 0;

  [[nodiscard]] bool IsFresh(MonoTime now) const { return now < expires; }
  [[nodiscard]] std::chrono::nanoseconds Age(MonoTime now) const { return now - stored_at; }
};

using EntryPtr = std::shared_ptr<const CacheEntry>;

[[nodiscard]] std::uint64_t ChargeOf(const CacheObject& object);

struct StoreOptions {
  std::uint64_t capacity_bytes = 1ULL << 30;
  // Power of two; reduced automatically so that one shard holds the largest admissible object.
  std::size_t shards = 16;
  PolicyKind policy = kDefaultPolicy;
  double max_object_fraction = 0.05;  // (0, 1]
  double prefetch_share = 0.25;       // [0, 1]: cold prefetched bytes per shard
};

// OK when capacity > 0, shards a power of two in [1, 1024], fractions in range.
[[nodiscard]] Status ValidateStoreOptions(const StoreOptions& options);

struct InsertOptions {
  std::chrono::nanoseconds ttl{0};         // fresh for this long (0: stale at once)
  std::chrono::nanoseconds keep_stale{0};  // kept this long after expiry (stale serving)
  bool prefetch = false;                   // cold until the first hit; subject to the share
};

struct LookupOptions {
  bool allow_stale = false;  // also return entries past `expires` but within retain_until
  bool count = true;         // count the hit or miss (false for admin reads)
};

struct StoreStats {
  std::uint64_t hits = 0;
  std::uint64_t stale_hits = 0;  // part of hits: served past `expires`
  std::uint64_t misses = 0;
  std::uint64_t bytes_served = 0;       // body bytes of hits
  std::uint64_t bytes_from_origin = 0;  // body bytes inserted plus RecordOriginBytes
  std::uint64_t inserts = 0;
  std::uint64_t evictions = 0;
  std::uint64_t expirations = 0;
  std::uint64_t invalidations = 0;
  std::uint64_t rejected = 0;  // refused by the admission limit or the prefetch share
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;  // sum of charges
  std::uint64_t capacity = 0;
  std::uint64_t cold_prefetch_bytes = 0;
};

class ObjectStore {
 public:
  // Throws std::invalid_argument when `options` fail ValidateStoreOptions. `clock` must outlive
  // the store.
  explicit ObjectStore(StoreOptions options, const Clock& clock = RealClock());
  ~ObjectStore();
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // The entry under `key`, or null (miss, or expired). An entry found past retain_until (or
  // past expires without allow_stale) counts as a miss; past retain_until it is also removed.
  [[nodiscard]] EntryPtr Lookup(std::string_view key, LookupOptions options = {}) const;

  // Stores `object` (replacing an entry with the same key), evicting as the policy decides.
  // Errors: InvalidArgument (empty key, negative ttl/keep_stale, nothing to keep when both are
  // zero); FailedPrecondition when the admission limit or the prefetch share refuses it.
  [[nodiscard]] Result<EntryPtr> Insert(CacheObject object, InsertOptions options);

  // Invalidation, counted as invalidations. Invalidate returns the entry removed (or null);
  // the others how many entries were removed.
  EntryPtr Invalidate(std::string_view key);
  std::size_t InvalidateAll();
  std::size_t InvalidateUrlPrefix(std::string_view prefix);  // entries whose url starts so
  std::size_t InvalidateSurrogateKey(std::string_view surrogate_key);
  // Removes entries past retain_until (counted as expirations).
  std::size_t PurgeExpired();

  // Bytes fetched from an origin that did not go through Insert (e.g. uncacheable responses).
  void RecordOriginBytes(std::uint64_t bytes);

  // A snapshot of every entry, sorted by key (O(n); for admin listings).
  [[nodiscard]] std::vector<EntryPtr> List() const;
  [[nodiscard]] StoreStats Stats() const;
  [[nodiscard]] std::uint64_t size_bytes() const;
  [[nodiscard]] std::size_t count() const;

  [[nodiscard]] const StoreOptions& options() const { return options_; }  // shards as used
  [[nodiscard]] std::uint64_t max_object_bytes() const { return max_object_bytes_; }
  [[nodiscard]] const Clock& clock() const { return clock_; }

 private:
  struct Shard;
  [[nodiscard]] Shard& ShardFor(std::uint64_t hash) const;
  template <typename Predicate>
  std::size_t RemoveWhere(Predicate&& predicate, bool expiration);

  StoreOptions options_;
  const Clock& clock_;
  std::uint64_t max_object_bytes_ = 0;
  unsigned shard_shift_ = 0;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace streamgate::cdn
