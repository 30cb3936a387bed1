#include "streamgate/cdn/object_store.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "support/manual_clock.hpp"

namespace streamgate::cdn {
namespace {

using namespace std::chrono_literals;
using testing::ManualClock;

CacheObject Object(std::string key, std::size_t body_bytes, std::string url = "") {
  CacheObject o;
  o.key = std::move(key);
  o.url = url.empty() ? "http://origin.test/" + o.key : std::move(url);
  o.body = std::string(body_bytes, 'x');
  o.headers = {{"Content-Type", "application/octet-stream"}};
  return o;
}

InsertOptions Ttl(std::chrono::nanoseconds ttl) {
  InsertOptions options;
  options.ttl = ttl;
  return options;
}

class ObjectStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<ObjectStore> MakeStore(std::uint64_t capacity, std::size_t shards = 1,
                                         PolicyKind policy = kDefaultPolicy,
                                         double max_fraction = 0.5) {
    StoreOptions options;
    options.capacity_bytes = capacity;
    options.shards = shards;
    options.policy = policy;
    options.max_object_fraction = max_fraction;
    return std::make_unique<ObjectStore>(options, clock_);
  }

  ManualClock clock_;
};

TEST_F(ObjectStoreTest, HitReturnsTheSameBytesWithoutCopying) {
  auto store = MakeStore(1 << 20);
  CacheObject o = Object("/a", 1000);
  o.etag = "\"v1\"";
  o.surrogate_keys = {"video", "v-1"};
  auto inserted = store->Insert(o, Ttl(60s));
  ASSERT_TRUE(inserted.has_value()) << inserted.error().ToString();

  EntryPtr first = store->Lookup("/a");
  EntryPtr second = store->Lookup("/a");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first.get(), second.get());  // shared, not copied
  EXPECT_EQ(first->body, o.body);
  EXPECT_EQ(first->etag, "\"v1\"");
  EXPECT_EQ(first->headers, o.headers);
  EXPECT_EQ(first->stored_at, clock_.Now());
  EXPECT_EQ(first->stored_wall, clock_.WallNow());
  EXPECT_EQ(first->expires, clock_.Now() + 60s);
  EXPECT_EQ(first->charge, ChargeOf(o));
  EXPECT_EQ(store->Lookup("/missing"), nullptr);

  const StoreStats stats = store->Stats();
  EXPECT_EQ(stats.hits, 2u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.bytes_served, 2000u);
  EXPECT_EQ(stats.bytes_from_origin, 1000u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.bytes, ChargeOf(o));
}

TEST_F(ObjectStoreTest, UncountedLookupsLeaveStatsAlone) {
  auto store = MakeStore(1 << 20);
  ASSERT_TRUE(store->Insert(Object("/a", 10), Ttl(60s)));
  EXPECT_NE(store->Lookup("/a", {.allow_stale = false, .count = false}), nullptr);
  EXPECT_EQ(store->Lookup("/b", {.allow_stale = false, .count = false}), nullptr);
  EXPECT_EQ(store->Stats().hits, 0u);
  EXPECT_EQ(store->Stats().misses, 0u);
}

TEST_F(ObjectStoreTest, ExpiresAfterTtlAndCountsExpiration) {
  auto store = MakeStore(1 << 20);
  ASSERT_TRUE(store->Insert(Object("/a", 10), Ttl(10s)));
  clock_.Advance(9s);
  EXPECT_NE(store->Lookup("/a"), nullptr);
  clock_.Advance(1s);
  EXPECT_EQ(store->Lookup("/a"), nullptr);
  const StoreStats stats = store->Stats();
  EXPECT_EQ(stats.expirations, 1u);
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(stats.misses, 1u);
}

TEST_F(ObjectStoreTest, StaleEntriesAreServedOnlyWhenAskedAndWithinTheWindow) {
  auto store = MakeStore(1 << 20);
  InsertOptions options = Ttl(10s);
  options.keep_stale = 30s;
  ASSERT_TRUE(store->Insert(Object("/a", 10), options));
  clock_.Advance(15s);
  EXPECT_EQ(store->Lookup("/a"), nullptr);  // not fresh; but kept
  EntryPtr stale = store->Lookup("/a", {.allow_stale = true});
  ASSERT_NE(stale, nullptr);
  EXPECT_FALSE(stale->IsFresh(clock_.Now()));
  EXPECT_EQ(stale->Age(clock_.Now()), 15s);
  EXPECT_EQ(store->Stats().stale_hits, 1u);
  EXPECT_EQ(store->Stats().expirations, 0u);
  clock_.Advance(25s);  // past retain_until
  EXPECT_EQ(store->Lookup("/a", {.allow_stale = true}), nullptr);
  EXPECT_EQ(store->Stats().expirations, 1u);
  EXPECT_EQ(store->count(), 0u);
}

TEST_F(ObjectStoreTest, PurgeExpiredSweepsEverything) {
  auto store = MakeStore(1 << 20, 4);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store->Insert(Object("/k" + std::to_string(i), 10), Ttl(i < 5 ? 5s : 50s)));
  }
  clock_.Advance(10s);
  EXPECT_EQ(store->PurgeExpired(), 5u);
  EXPECT_EQ(store->count(), 15u);
  EXPECT_EQ(store->Stats().expirations, 5u);
}

TEST_F(ObjectStoreTest, InsertValidatesArguments) {
  auto store = MakeStore(1 << 20);
  auto empty_key = store->Insert(Object("", 10), Ttl(1s));
  ASSERT_FALSE(empty_key.has_value());
  EXPECT_EQ(empty_key.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(store->Insert(Object("/a", 10), Ttl(-1s)).has_value());
  EXPECT_FALSE(store->Insert(Object("/a", 10), Ttl(0s)).has_value());  // never servable
  InsertOptions revalidate_only = Ttl(0s);
  revalidate_only.keep_stale = 5s;  // e.g. no-cache: stored, always revalidated
  EXPECT_TRUE(store->Insert(Object("/a", 10), revalidate_only).has_value());
}

TEST_F(ObjectStoreTest, AdmissionLimitRefusesLargeObjects) {
  auto store = MakeStore(100'000, 1, kDefaultPolicy, 0.1);
  EXPECT_EQ(store->max_object_bytes(), 10'000u);
  ASSERT_TRUE(store->Insert(Object("/small", 5'000), Ttl(60s)));
  auto big = store->Insert(Object("/big", 20'000), Ttl(60s));
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(store->Lookup("/small"), nullptr);  // nothing was flushed for it
  EXPECT_EQ(store->Stats().rejected, 1u);
}

TEST_F(ObjectStoreTest, ShardsShrinkSoThatOneShardHoldsTheLargestObject) {
  StoreOptions options;
  options.capacity_bytes = 1'000'000;
  options.shards = 64;
  options.max_object_fraction = 0.1;  // 100 kB objects need shards of >= 100 kB
  ObjectStore store(options, clock_);
  EXPECT_EQ(store.options().shards, 8u);
  ASSERT_TRUE(store.Insert(Object("/big", 99'000), Ttl(60s)));
}

TEST_F(ObjectStoreTest, ReplacingAKeyKeepsOneEntry) {
  auto store = MakeStore(1 << 20);
  ASSERT_TRUE(store->Insert(Object("/a", 10), Ttl(60s)));
  EntryPtr old_entry = store->Lookup("/a");
  ASSERT_TRUE(store->Insert(Object("/a", 20), Ttl(60s)));
  EXPECT_EQ(store->count(), 1u);
  EXPECT_EQ(store->Lookup("/a")->body.size(), 20u);
  EXPECT_EQ(old_entry->body.size(), 10u);  // a reader of the old one is unaffected
  EXPECT_EQ(store->Stats().evictions, 0u);
  EXPECT_EQ(store->size_bytes(), ChargeOf(Object("/a", 20)));
}

TEST_F(ObjectStoreTest, EvictedEntryStaysReadableByItsHolder) {
  auto store = MakeStore(10'000, 1, PolicyKind::kFifo);  // FIFO: the hit does not save it
  ASSERT_TRUE(store->Insert(Object("/a", 3'000), Ttl(60s)));
  EntryPtr held = store->Lookup("/a");
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store->Insert(Object("/f" + std::to_string(i), 3'000), Ttl(60s)));
  }
  EXPECT_EQ(store->Lookup("/a", {.allow_stale = false, .count = false}), nullptr);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->body, std::string(3'000, 'x'));
  EXPECT_GT(store->Stats().evictions, 0u);
}

TEST_F(ObjectStoreTest, ByteLimitNeverExceeded) {
  for (PolicyKind policy :
       {PolicyKind::kLru, PolicyKind::kFifo, PolicyKind::kSieve, PolicyKind::kS3Fifo}) {
    constexpr std::uint64_t kCapacity = 200'000;
    auto store = MakeStore(kCapacity, 4, policy, 0.2);
    std::mt19937_64 rng(7);
    for (int i = 0; i < 3'000; ++i) {
      const std::string key = "/k" + std::to_string(rng() % 400);
      if (rng() % 3 == 0) {
        (void)store->Lookup(key);
        continue;
      }
      (void)store->Insert(Object(key, rng() % 12'000), Ttl(60s));
      const StoreStats stats = store->Stats();
      ASSERT_LE(stats.bytes, kCapacity) << ToString(policy);
      ASSERT_LE(stats.bytes, stats.capacity);
    }
    // The sum of what List() shows matches the accounting.
    std::uint64_t listed = 0;
    for (const EntryPtr& e : store->List()) listed += e->charge;
    EXPECT_EQ(listed, store->size_bytes()) << ToString(policy);
    EXPECT_EQ(store->List().size(), store->count());
  }
}

TEST_F(ObjectStoreTest, InvalidateByKeyAllPrefixAndSurrogateKey) {
  auto store = MakeStore(1 << 20, 4);
  auto add = [&](std::string key, std::string url, std::vector<std::string> tags) {
    CacheObject o = Object(std::move(key), 10, std::move(url));
    o.surrogate_keys = std::move(tags);
    ASSERT_TRUE(store->Insert(std::move(o), Ttl(60s)));
  };
  add("a", "http://cdn.test/videos/1.ts", {"video", "show-1"});
  add("b", "http://cdn.test/videos/2.ts", {"video", "show-2"});
  add("c", "http://cdn.test/images/1.png", {"image", "show-1"});
  add("d", "http://cdn.test/index.html", {});

  EntryPtr removed = store->Invalidate("d");
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(removed->url, "http://cdn.test/index.html");
  EXPECT_EQ(store->Invalidate("d"), nullptr);

  EXPECT_EQ(store->InvalidateSurrogateKey("show-1"), 2u);  // a and c
  EXPECT_EQ(store->Lookup("b")->key, "b");
  EXPECT_EQ(store->InvalidateUrlPrefix("http://cdn.test/videos/"), 1u);  // b
  EXPECT_EQ(store->count(), 0u);

  add("e", "http://cdn.test/e", {});
  add("f", "http://cdn.test/f", {});
  EXPECT_EQ(store->InvalidateAll(), 2u);
  EXPECT_EQ(store->Stats().invalidations, 6u);
  EXPECT_EQ(store->size_bytes(), 0u);
}

TEST_F(ObjectStoreTest, ListIsSortedByKey) {
  auto store = MakeStore(1 << 20, 8);
  for (const char* k : {"m", "c", "x", "a"}) ASSERT_TRUE(store->Insert(Object(k, 1), Ttl(60s)));
  std::vector<std::string> keys;
  for (const EntryPtr& e : store->List()) keys.push_back(e->key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "c", "m", "x"}));
}

TEST_F(ObjectStoreTest, ColdPrefetchesCannotDisplaceMoreThanTheirShare) {
  for (PolicyKind policy :
       {PolicyKind::kFifo, PolicyKind::kLru, PolicyKind::kSieve, PolicyKind::kS3Fifo}) {
    SCOPED_TRACE(ToString(policy));
    StoreOptions options;
    options.capacity_bytes = 100'000;
    options.shards = 1;
    options.policy = policy;
    options.max_object_fraction = 0.2;
    options.prefetch_share = 0.3;
    ObjectStore store(options, clock_);
    InsertOptions prefetch = Ttl(60s);
    prefetch.prefetch = true;
    // Hot content fills the cache.
    for (int i = 0; i < 9; ++i) {
      ASSERT_TRUE(store.Insert(Object("/hot" + std::to_string(i), 10'000), Ttl(60s)));
      ASSERT_NE(store.Lookup("/hot" + std::to_string(i)), nullptr);
    }
    int accepted = 0;
    for (int i = 0; i < 10; ++i) {
      auto r = store.Insert(Object("/cold" + std::to_string(i), 10'000), prefetch);
      if (r) {
        ++accepted;
      } else {
        EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition);
      }
      ASSERT_LE(store.Stats().cold_prefetch_bytes, 30'000u);
    }
    int hot_left = 0;
    for (int i = 0; i < 9; ++i) {
      hot_left += store.Lookup("/hot" + std::to_string(i), {.count = false}) != nullptr ? 1 : 0;
    }
    // At most the share (3 objects' worth) of hot content was displaced.
    EXPECT_GE(hot_left, 6);
    if (policy == PolicyKind::kFifo || policy == PolicyKind::kLru) {
      // Two cold objects fit in the 30 kB share; the third would exceed it and is refused.
      EXPECT_EQ(accepted, 2);
      EXPECT_EQ(store.Stats().rejected, 8u);
    }
    // A hit warms a prefetched entry: it stops counting against the share.
    const std::uint64_t cold_before = store.Stats().cold_prefetch_bytes;
    EntryPtr warmed = nullptr;
    for (int i = 0; i < 10 && warmed == nullptr; ++i) {
      warmed = store.Lookup("/cold" + std::to_string(i));
    }
    ASSERT_NE(warmed, nullptr);
    EXPECT_EQ(store.Stats().cold_prefetch_bytes, cold_before - warmed->charge);
  }
}

TEST_F(ObjectStoreTest, PrefetchIntoFreeSpaceIsNotLimited) {
  StoreOptions options;
  options.capacity_bytes = 100'000;
  options.shards = 1;
  options.max_object_fraction = 0.2;
  options.prefetch_share = 0.1;
  ObjectStore store(options, clock_);
  InsertOptions prefetch = Ttl(60s);
  prefetch.prefetch = true;
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(store.Insert(Object("/p" + std::to_string(i), 10'000), prefetch).has_value());
  }
  EXPECT_EQ(store.count(), 5u);
}

TEST_F(ObjectStoreTest, OptionsAreValidated) {
  StoreOptions options;
  options.capacity_bytes = 0;
  EXPECT_FALSE(ValidateStoreOptions(options).has_value());
  options.capacity_bytes = 1000;
  options.shards = 3;
  EXPECT_FALSE(ValidateStoreOptions(options).has_value());
  options.shards = 4;
  options.max_object_fraction = 1.5;
  EXPECT_FALSE(ValidateStoreOptions(options).has_value());
  options.max_object_fraction = 0.5;
  options.prefetch_share = -0.1;
  EXPECT_FALSE(ValidateStoreOptions(options).has_value());
  options.prefetch_share = 0.1;
  EXPECT_TRUE(ValidateStoreOptions(options).has_value());
  options.shards = 0;
  EXPECT_THROW(ObjectStore(options, clock_), std::invalid_argument);
}

TEST_F(ObjectStoreTest, RecordOriginBytesAddsToBandwidth) {
  auto store = MakeStore(1 << 20);
  store->RecordOriginBytes(1234);
  EXPECT_EQ(store->Stats().bytes_from_origin, 1234u);
}

}  // namespace
}  // namespace streamgate::cdn
