#include "streamgate/cdn/object_store.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <boost/unordered/unordered_flat_map.hpp>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>

#include "streamgate/cdn/huge_page_allocator.hpp"

namespace streamgate::cdn {

namespace {

constexpr std::uint64_t kEntryOverhead = 256;

std::uint64_t HashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

using Counter = std::atomic<std::uint64_t>;

void Add(Counter& counter, std::uint64_t n = 1) { counter.fetch_add(n, std::memory_order_relaxed); }
void Sub(Counter& counter, std::uint64_t n) { counter.fetch_sub(n, std::memory_order_relaxed); }
std::uint64_t Load(const Counter& counter) { return counter.load(std::memory_order_relaxed); }

// A relaxed atomic flag that can live in a std::vector (copied only under the exclusive lock).
struct ColdFlag {
  std::atomic<bool> value{false};
  ColdFlag() = default;
  ColdFlag(const ColdFlag& other) : value(other.value.load(std::memory_order_relaxed)) {}
  ColdFlag& operator=(const ColdFlag& other) {
    value.store(other.value.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }
};

// What the index holds per key: everything a hit needs, so a hit touches the index element,
// the entry (key check, reference count) and the policy's node, and nothing else.
struct IndexValue {
  EntryPtr entry;
  MonoTime expires{};
  MonoTime retain_until{};
  SlotId slot = kNoSlot;
  ColdFlag cold;  // a prefetched entry not hit yet
};

using Index =
    boost::unordered_flat_map<std::uint64_t, IndexValue, boost::hash<std::uint64_t>,
                              std::equal_to<std::uint64_t>,
                              HugePageAllocator<std::pair<const std::uint64_t, IndexValue>>>;

}  // namespace

std::uint64_t ChargeOf(const CacheObject& object) {
  std::uint64_t charge = kEntryOverhead + object.body.size() + object.key.size() +
                         object.url.size() + object.etag.size() + object.last_modified.size();
  for (const auto& [name, value] : object.headers) charge += name.size() + value.size() + 4;
  for (const auto& tag : object.surrogate_keys) charge += tag.size() + 1;
  return charge;
}

Status ValidateStoreOptions(const StoreOptions& options) {
  if (options.capacity_bytes == 0) return InvalidArgument("cache capacity must be > 0 bytes");
  if (options.shards == 0 || options.shards > 1024 || !std::has_single_bit(options.shards)) {
    return InvalidArgument(
        fmt::format("shards must be a power of two in [1, 1024], got {}", options.shards));
  }
  if (!(options.max_object_fraction > 0.0 && options.max_object_fraction <= 1.0)) {
    return InvalidArgument("max_object_fraction must be in (0, 1]");
  }
  if (!(options.prefetch_share >= 0.0 && options.prefetch_share <= 1.0)) {
    return InvalidArgument("prefetch_share must be in [0, 1]");
  }
  return {};
}

struct alignas(64) ObjectStore::Shard {
  mutable std::shared_mutex mu;
  Index index;                           // key hash -> entry
  std::vector<std::uint64_t> slot_hash;  // policy slot -> key hash (for victims)
  std::vector<SlotId> free_slots;
  std::unique_ptr<EvictionPolicy> policy;
  std::uint64_t capacity = 0;
  std::uint64_t prefetch_limit = 0;

  // Read without the lock (stats); written under it, or atomically on hits.
  Counter entries{0};
  Counter bytes{0};
  Counter cold_prefetch_bytes{0};
  mutable Counter hits{0};
  mutable Counter stale_hits{0};
  mutable Counter misses{0};
  mutable Counter bytes_served{0};
  Counter bytes_from_origin{0};
  Counter inserts{0};
  Counter evictions{0};
  Counter expirations{0};
  Counter invalidations{0};
  Counter rejected{0};

  // Drops an index element whose slot the policy no longer tracks (lock held exclusively); the
  // entry moves to `dropped` so that its bytes are freed after the lock is released.
  void Release(Index::iterator it, std::vector<EntryPtr>& dropped) {
    IndexValue& value = it->second;
    if (value.cold.value.load(std::memory_order_relaxed)) {
      Sub(cold_prefetch_bytes, value.entry->charge);
    }
    Sub(bytes, value.entry->charge);
    Sub(entries, 1);
    free_slots.push_back(value.slot);
    dropped.push_back(std::move(value.entry));
    index.erase(it);
  }

  void Remove(Index::iterator it, std::vector<EntryPtr>& dropped) {
    policy->Remove(it->second.slot);
    Release(it, dropped);
  }
};

ObjectStore::ObjectStore(StoreOptions options, const Clock& clock)
    : options_(options), clock_(clock) {
  if (auto valid = ValidateStoreOptions(options_); !valid) {
    throw std::invalid_argument(valid.error().message());
  }
  max_object_bytes_ = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(static_cast<double>(options_.capacity_bytes) *
                                    options_.max_object_fraction));
  while (options_.shards > 1 && options_.capacity_bytes / options_.shards < max_object_bytes_) {
    options_.shards /= 2;
  }
  shard_shift_ = 64 - static_cast<unsigned>(std::countr_zero(options_.shards));
  shards_ = std::make_unique<Shard[]>(options_.shards);
  const std::uint64_t per_shard = options_.capacity_bytes / options_.shards;
  for (std::size_t i = 0; i < options_.shards; ++i) {
    Shard& s = shards_[i];
    s.capacity = per_shard;
    s.prefetch_limit =
        static_cast<std::uint64_t>(static_cast<double>(per_shard) * options_.prefetch_share);
    s.policy = MakeEvictionPolicy(options_.policy, per_shard);
  }
}

ObjectStore::~ObjectStore() = default;

ObjectStore::Shard& ObjectStore::ShardFor(std::uint64_t hash) const {
  // Top bits pick the shard; the index mixes the full hash again, so buckets stay uniform.
  return shards_[shard_shift_ >= 64 ? 0 : hash >> shard_shift_];
}

EntryPtr ObjectStore::Lookup(std::string_view key, LookupOptions options) const {
  const std::uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  const MonoTime now = clock_.Now();
  bool expired = false;
  auto find = [&]() -> EntryPtr {
    auto it = shard.index.find(hash);
    if (it == shard.index.end()) return nullptr;
    IndexValue& value = it->second;
    const bool fresh = now < value.expires;
    if (!fresh && !(options.allow_stale && now < value.retain_until)) {
      expired = now >= value.retain_until && value.entry->key == key;
      return nullptr;
    }
    if (value.entry->key != key) return nullptr;  // a 64-bit hash collision: a miss
    shard.policy->Touch(value.slot);
    if (value.cold.value.load(std::memory_order_relaxed) &&
        value.cold.value.exchange(false, std::memory_order_relaxed)) {
      Sub(shard.cold_prefetch_bytes, value.entry->charge);
    }
    if (options.count) {
      Add(shard.hits);
      if (!fresh) Add(shard.stale_hits);
      Add(shard.bytes_served, value.entry->body.size());
    }
    return value.entry;
  };
  EntryPtr found;
  if (shard.policy->touch_needs_exclusive()) {
    std::unique_lock lock(shard.mu);
    found = find();
  } else {
    std::shared_lock lock(shard.mu);
    found = find();
  }
  if (found) return found;
  if (options.count) Add(shard.misses);
  if (expired) {
    std::vector<EntryPtr> dropped;
    std::unique_lock lock(shard.mu);
    auto it = shard.index.find(hash);
    if (it != shard.index.end() && it->second.entry->key == key && now >= it->second.retain_until) {
      shard.Remove(it, dropped);
      Add(shard.expirations);
    }
  }
  return nullptr;
}

Result<EntryPtr> ObjectStore::Insert(CacheObject object, InsertOptions options) {
  if (object.key.empty()) return InvalidArgument("cache key must not be empty");
  if (options.ttl.count() < 0) return InvalidArgument("ttl must not be negative");
  if (options.keep_stale.count() < 0) return InvalidArgument("keep_stale must not be negative");
  if (options.ttl.count() == 0 && options.keep_stale.count() == 0) {
    return InvalidArgument("an entry with zero ttl and zero keep_stale would never be served");
  }
  const std::uint64_t hash = HashKey(object.key);
  Shard& shard = ShardFor(hash);
  const std::uint64_t charge = ChargeOf(object);
  if (charge > max_object_bytes_) {
    Add(shard.rejected);
    return FailedPrecondition(fmt::format(
        "object '{}' of {} bytes exceeds the admission limit of {} bytes ({}% of the cache)",
        object.key, charge, max_object_bytes_, options_.max_object_fraction * 100));
  }
  auto entry = std::make_shared<CacheEntry>();
  static_cast<CacheObject&>(*entry) = std::move(object);
  entry->stored_at = clock_.Now();
  entry->stored_wall = clock_.WallNow();
  entry->expires = entry->stored_at + options.ttl;
  entry->retain_until = entry->expires + options.keep_stale;
  entry->charge = charge;
  const std::uint64_t body_bytes = entry->body.size();
  EntryPtr shared = entry;

  std::vector<EntryPtr> dropped;  // freed after the lock is released
  std::vector<SlotId> victims;
  {
    std::unique_lock lock(shard.mu);
    auto existing = shard.index.find(hash);
    const std::uint64_t replaced_charge =
        existing == shard.index.end() ? 0 : existing->second.entry->charge;
    // A cold prefetch may use free space, but may evict only within the prefetch share.
    if (options.prefetch && shard.policy->used() - replaced_charge + charge > shard.capacity &&
        Load(shard.cold_prefetch_bytes) + charge > shard.prefetch_limit) {
      Add(shard.rejected);
      return FailedPrecondition(fmt::format(
          "prefetch of '{}' refused: cold prefetched content already fills its share ({}%) and "
          "would evict other content",
          shared->key, options_.prefetch_share * 100));
    }
    if (existing != shard.index.end()) shard.Remove(existing, dropped);  // replaced
    SlotId id = 0;
    if (!shard.free_slots.empty()) {
      id = shard.free_slots.back();
      shard.free_slots.pop_back();
    } else {
      id = static_cast<SlotId>(shard.slot_hash.size());
      shard.slot_hash.push_back(0);
    }
    if (auto admitted = shard.policy->Admit(id, hash, charge, victims); !admitted) {
      shard.free_slots.push_back(id);
      return MakeError(ErrorCode::kInternal, admitted.error().message());
    }
    const MonoTime now = shared->stored_at;
    for (SlotId victim : victims) {
      auto it = shard.index.find(shard.slot_hash[victim]);
      Add(now >= it->second.retain_until ? shard.expirations : shard.evictions);
      shard.Release(it, dropped);
    }
    shard.slot_hash[id] = hash;
    IndexValue& value = shard.index[hash];
    value.entry = shared;
    value.expires = shared->expires;
    value.retain_until = shared->retain_until;
    value.slot = id;
    value.cold.value.store(options.prefetch, std::memory_order_relaxed);
    if (options.prefetch) Add(shard.cold_prefetch_bytes, charge);
    Add(shard.entries);
    Add(shard.bytes, charge);
    Add(shard.inserts);
    Add(shard.bytes_from_origin, body_bytes);
  }
  return shared;
}

template <typename Predicate>
std::size_t ObjectStore::RemoveWhere(Predicate&& predicate, bool expiration) {
  std::size_t removed = 0;
  for (std::size_t i = 0; i < options_.shards; ++i) {
    Shard& shard = shards_[i];
    std::vector<EntryPtr> dropped;
    std::unique_lock lock(shard.mu);
    std::vector<std::uint64_t> matching;
    for (const auto& [hash, value] : shard.index) {
      if (predicate(*value.entry)) matching.push_back(hash);
    }
    for (std::uint64_t hash : matching) {
      shard.Remove(shard.index.find(hash), dropped);
      Add(expiration ? shard.expirations : shard.invalidations);
    }
    removed += matching.size();
  }
  return removed;
}

EntryPtr ObjectStore::Invalidate(std::string_view key) {
  const std::uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::vector<EntryPtr> dropped;
  {
    std::unique_lock lock(shard.mu);
    auto it = shard.index.find(hash);
    if (it == shard.index.end() || it->second.entry->key != key) return nullptr;
    shard.Remove(it, dropped);
    Add(shard.invalidations);
  }
  return std::move(dropped.front());
}

std::size_t ObjectStore::InvalidateAll() {
  return RemoveWhere([](const CacheEntry&) { return true; }, false);
}

std::size_t ObjectStore::InvalidateUrlPrefix(std::string_view prefix) {
  return RemoveWhere([prefix](const CacheEntry& e) { return e.url.starts_with(prefix); }, false);
}

std::size_t ObjectStore::InvalidateSurrogateKey(std::string_view surrogate_key) {
  return RemoveWhere(
      [surrogate_key](const CacheEntry& e) {
        return std::find(e.surrogate_keys.begin(), e.surrogate_keys.end(), surrogate_key) !=
               e.surrogate_keys.end();
      },
      false);
}

std::size_t ObjectStore::PurgeExpired() {
  const MonoTime now = clock_.Now();
  return RemoveWhere([now](const CacheEntry& e) { return now >= e.retain_until; }, true);
}

void ObjectStore::RecordOriginBytes(std::uint64_t bytes) {
  // Spread over the shards' counters by thread, so proxy threads do not share one cache line.
  static std::atomic<std::size_t> next_thread{0};
  thread_local const std::size_t mine = next_thread.fetch_add(1, std::memory_order_relaxed);
  Add(shards_[mine % options_.shards].bytes_from_origin, bytes);
}

std::vector<EntryPtr> ObjectStore::List() const {
  std::vector<EntryPtr> all;
  for (std::size_t i = 0; i < options_.shards; ++i) {
    const Shard& shard = shards_[i];
    std::shared_lock lock(shard.mu);
    for (const auto& [hash, value] : shard.index) all.push_back(value.entry);
  }
  std::sort(all.begin(), all.end(),
            [](const EntryPtr& a, const EntryPtr& b) { return a->key < b->key; });
  return all;
}

StoreStats ObjectStore::Stats() const {
  StoreStats stats;
  for (std::size_t i = 0; i < options_.shards; ++i) {
    const Shard& s = shards_[i];
    stats.hits += Load(s.hits);
    stats.stale_hits += Load(s.stale_hits);
    stats.misses += Load(s.misses);
    stats.bytes_served += Load(s.bytes_served);
    stats.bytes_from_origin += Load(s.bytes_from_origin);
    stats.inserts += Load(s.inserts);
    stats.evictions += Load(s.evictions);
    stats.expirations += Load(s.expirations);
    stats.invalidations += Load(s.invalidations);
    stats.rejected += Load(s.rejected);
    stats.entries += Load(s.entries);
    stats.bytes += Load(s.bytes);
    stats.capacity += s.capacity;
    stats.cold_prefetch_bytes += Load(s.cold_prefetch_bytes);
  }
  return stats;
}

std::uint64_t ObjectStore::size_bytes() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < options_.shards; ++i) total += Load(shards_[i].bytes);
  return total;
}

std::size_t ObjectStore::count() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < options_.shards; ++i) total += Load(shards_[i].entries);
  return static_cast<std::size_t>(total);
}

}  // namespace streamgate::cdn
