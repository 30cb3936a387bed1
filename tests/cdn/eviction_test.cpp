// Each eviction policy on small hand-made sequences: what it evicts, scan resistance, one-hit
// wonders, and the capacity never exceeded.
#include "streamgate/cdn/eviction.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

namespace streamgate::cdn {
namespace {

constexpr PolicyKind kAll[] = {PolicyKind::kLru, PolicyKind::kFifo, PolicyKind::kSieve,
                               PolicyKind::kS3Fifo};

// A cache of unit-size objects driven by request sequences, as the simulator drives it.
class UnitCache {
 public:
  UnitCache(PolicyKind kind, std::uint64_t capacity)
      : policy_(MakeEvictionPolicy(kind, capacity)) {}

  // True on a hit.
  bool Request(SlotId id) {
    if (policy_->Tracks(id)) {
      policy_->Touch(id);
      return true;
    }
    std::vector<SlotId> victims;
    EXPECT_TRUE(policy_->Admit(id, id, 1, victims).has_value());
    for (SlotId v : victims) evicted_.push_back(v);
    return false;
  }
  void RequestAll(std::initializer_list<SlotId> ids) {
    for (SlotId id : ids) Request(id);
  }
  [[nodiscard]] bool Holds(SlotId id) const { return policy_->Tracks(id); }
  [[nodiscard]] const std::vector<SlotId>& evicted() const { return evicted_; }
  EvictionPolicy& policy() { return *policy_; }

 private:
  std::unique_ptr<EvictionPolicy> policy_;
  std::vector<SlotId> evicted_;
};

TEST(EvictionPolicyTest, NamesRoundTrip) {
  for (PolicyKind kind : kAll) {
    auto parsed = ParsePolicyKind(ToString(kind));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, kind);
  }
  auto bad = ParsePolicyKind("arc");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("arc"), std::string::npos);
}

TEST(EvictionPolicyTest, AdmitRejectsBadArguments) {
  auto policy = MakeEvictionPolicy(PolicyKind::kS3Fifo, 10);
  std::vector<SlotId> victims;
  EXPECT_FALSE(policy->Admit(0, 0, 0, victims).has_value());   // zero charge
  EXPECT_FALSE(policy->Admit(0, 0, 11, victims).has_value());  // larger than the cache
  EXPECT_FALSE(policy->Admit(kNoSlot, 0, 1, victims).has_value());
  ASSERT_TRUE(policy->Admit(0, 0, 1, victims).has_value());
  EXPECT_FALSE(policy->Admit(0, 0, 1, victims).has_value());  // already tracked
  EXPECT_TRUE(victims.empty());
  EXPECT_EQ(policy->used(), 1u);
}

TEST(EvictionPolicyTest, LruEvictsLeastRecentlyUsed) {
  UnitCache cache(PolicyKind::kLru, 3);
  cache.RequestAll({1, 2, 3});
  EXPECT_TRUE(cache.Request(1));  // 1 becomes most recent; 2 is now least recent
  cache.Request(4);
  EXPECT_EQ(cache.evicted(), std::vector<SlotId>({2}));
  cache.Request(5);
  EXPECT_EQ(cache.evicted(), std::vector<SlotId>({2, 3}));
}

TEST(EvictionPolicyTest, FifoIgnoresHits) {
  UnitCache cache(PolicyKind::kFifo, 3);
  cache.RequestAll({1, 2, 3});
  EXPECT_TRUE(cache.Request(1));
  cache.Request(4);
  EXPECT_EQ(cache.evicted(), std::vector<SlotId>({1}));
}

TEST(EvictionPolicyTest, SieveKeepsVisitedObjectsInPlace) {
  UnitCache cache(PolicyKind::kSieve, 3);
  cache.RequestAll({1, 2, 3});
  EXPECT_TRUE(cache.Request(1));
  cache.Request(4);  // hand at 1 (visited: cleared, kept) -> 2 evicted
  EXPECT_EQ(cache.evicted(), std::vector<SlotId>({2}));
  cache.Request(5);  // hand continues at 3 (not visited) -> evicted; 1 survives again
  EXPECT_EQ(cache.evicted(), std::vector<SlotId>({2, 3}));
  EXPECT_TRUE(cache.Holds(1));
  cache.Request(6);  // the hand moves on toward newer objects, not back to 1
  EXPECT_EQ(cache.evicted(), std::vector<SlotId>({2, 3, 4}));
  EXPECT_TRUE(cache.Holds(1));
}

TEST(EvictionPolicyTest, S3FifoDropsOneHitWondersBeforeMainObjects) {
  // Capacity 10: small queue target 1 object.
  UnitCache cache(PolicyKind::kS3Fifo, 10);
  for (SlotId id = 0; id < 10; ++id) cache.Request(id);
  for (SlotId id = 0; id < 5; ++id) EXPECT_TRUE(cache.Request(id));  // 0..4 hit once
  // Ten one-hit wonders: the hit objects get promoted to main and stay; the others go.
  for (SlotId id = 100; id < 110; ++id) cache.Request(id);
  for (SlotId id = 0; id < 5; ++id) EXPECT_TRUE(cache.Holds(id)) << id;
  for (SlotId id = 5; id < 10; ++id) EXPECT_FALSE(cache.Holds(id)) << id;
}

TEST(EvictionPolicyTest, S3FifoGhostHitGoesStraightToMain) {
  UnitCache cache(PolicyKind::kS3Fifo, 10);
  for (SlotId id = 0; id < 10; ++id) cache.Request(id);
  cache.Request(10);  // evicts 0 from small into the ghost
  ASSERT_FALSE(cache.Holds(0));
  cache.Request(0);  // remembered: admitted into main
  // A burst of new objects churns the small queue; 0 (in main) survives it.
  for (SlotId id = 200; id < 203; ++id) cache.Request(id);
  EXPECT_TRUE(cache.Holds(0));
}

// The classic scan: a hot working set hit repeatedly, then a long run of objects seen once.
// LRU and FIFO flush the hot set; SIEVE and S3-FIFO keep it.
TEST(EvictionPolicyTest, ScanResistance) {
  for (PolicyKind kind : kAll) {
    UnitCache cache(kind, 20);
    for (int round = 0; round < 3; ++round) {
      for (SlotId id = 0; id < 10; ++id) cache.Request(id);
    }
    for (SlotId id = 1000; id < 1040; ++id) cache.Request(id);  // scan, twice the cache size
    int hot_kept = 0;
    for (SlotId id = 0; id < 10; ++id) hot_kept += cache.Holds(id) ? 1 : 0;
    if (kind == PolicyKind::kLru || kind == PolicyKind::kFifo) {
      EXPECT_EQ(hot_kept, 0) << ToString(kind);
    } else {
      EXPECT_EQ(hot_kept, 10) << ToString(kind);
    }
  }
}

TEST(EvictionPolicyTest, RemoveStopsTrackingAndFreesCharge) {
  for (PolicyKind kind : kAll) {
    auto policy = MakeEvictionPolicy(kind, 100);
    std::vector<SlotId> victims;
    for (SlotId id = 0; id < 5; ++id) ASSERT_TRUE(policy->Admit(id, id, 10, victims));
    EXPECT_TRUE(policy->Remove(2));
    EXPECT_FALSE(policy->Remove(2));
    EXPECT_FALSE(policy->Remove(77));
    EXPECT_EQ(policy->used(), 40u);
    EXPECT_EQ(policy->count(), 4u);
    // The removed slot is never named as a victim later.
    for (SlotId id = 10; id < 30; ++id) ASSERT_TRUE(policy->Admit(id, id, 10, victims));
    EXPECT_EQ(std::count(victims.begin(), victims.end(), SlotId{2}), 0) << ToString(kind);
  }
}

// Random charges, hits and removals: used() never exceeds capacity, equals the sum of tracked
// charges, and every victim was tracked and is no longer.
TEST(EvictionPolicyTest, ByteLimitNeverExceeded) {
  for (PolicyKind kind : kAll) {
    constexpr std::uint64_t kCapacity = 10'000;
    auto policy = MakeEvictionPolicy(kind, kCapacity);
    std::mt19937_64 rng(42);
    std::vector<std::uint64_t> charge(500, 0);  // 0: not tracked
    for (int step = 0; step < 20'000; ++step) {
      const auto id = static_cast<SlotId>(rng() % charge.size());
      const int action = static_cast<int>(rng() % 10);
      if (charge[id] != 0) {
        if (action == 0) {
          ASSERT_TRUE(policy->Remove(id));
          charge[id] = 0;
        } else {
          policy->Touch(id);
        }
        continue;
      }
      const std::uint64_t c = 1 + rng() % 2'000;
      std::vector<SlotId> victims;
      ASSERT_TRUE(policy->Admit(id, id * 7919, c, victims));
      for (SlotId v : victims) {
        ASSERT_NE(charge[v], 0u) << "victim was not tracked";
        ASSERT_FALSE(policy->Tracks(v));
        charge[v] = 0;
      }
      charge[id] = c;
      ASSERT_LE(policy->used(), kCapacity) << ToString(kind);
      std::uint64_t sum = 0;
      std::size_t n = 0;
      for (std::uint64_t ch : charge) {
        sum += ch;
        n += ch != 0 ? 1 : 0;
      }
      ASSERT_EQ(policy->used(), sum) << ToString(kind);
      ASSERT_EQ(policy->count(), n) << ToString(kind);
    }
  }
}

TEST(EvictionPolicyTest, OnlyLruNeedsExclusiveTouch) {
  for (PolicyKind kind : kAll) {
    EXPECT_EQ(MakeEvictionPolicy(kind, 1)->touch_needs_exclusive(), kind == PolicyKind::kLru);
    EXPECT_EQ(MakeEvictionPolicy(kind, 1)->kind(), kind);
  }
}

}  // namespace
}  // namespace streamgate::cdn
