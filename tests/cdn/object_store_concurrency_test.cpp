// Readers, writers and invalidators on one store at once (run under TSan in CI): entries read
// are always intact, and the byte limit holds throughout.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "streamgate/cdn/object_store.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::cdn {
namespace {

using namespace std::chrono_literals;

// The body of key k is k's last character repeated, so a torn or mixed-up entry shows.
CacheObject Object(int k, std::size_t bytes) {
  CacheObject o;
  o.key = "/obj/" + std::to_string(k);
  o.url = "http://origin.test" + o.key;
  o.body = std::string(bytes, o.key.back());
  o.surrogate_keys = {"group-" + std::to_string(k % 7)};
  return o;
}

class ObjectStoreConcurrencyTest : public ::testing::TestWithParam<PolicyKind> {};

TEST_P(ObjectStoreConcurrencyTest, ReadersWritersAndInvalidatorsAgree) {
  testing::ManualClock clock;
  StoreOptions options;
  options.capacity_bytes = 400'000;
  options.shards = 4;
  options.policy = GetParam();
  options.max_object_fraction = 0.05;
  ObjectStore store(options, clock);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bad{0};
  std::atomic<std::uint64_t> over_limit{0};
  std::atomic<std::uint64_t> reads{0};

  auto reader = [&](std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!stop.load()) {
      const int k = static_cast<int>(rng() % 300);
      const std::string key = "/obj/" + std::to_string(k);
      EntryPtr e = store.Lookup(key, {.allow_stale = true});
      reads.fetch_add(1);
      if (e == nullptr) continue;
      if (e->key != key || e->body.find_first_not_of(key.back()) != std::string::npos) {
        bad.fetch_add(1);
      }
    }
  };
  auto writer = [&](std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 20'000; ++i) {
      InsertOptions insert;
      insert.ttl = 10s;
      insert.keep_stale = 5s;
      insert.prefetch = rng() % 5 == 0;
      (void)store.Insert(Object(static_cast<int>(rng() % 300), 100 + rng() % 15'000), insert);
      if (store.size_bytes() > options.capacity_bytes) over_limit.fetch_add(1);
      if (i % 1000 == 0) clock.Advance(1s);
    }
  };
  auto invalidator = [&] {
    std::mt19937_64 rng(99);
    while (!stop.load()) {
      switch (rng() % 4) {
        case 0:
          (void)store.Invalidate("/obj/" + std::to_string(rng() % 300));
          break;
        case 1:
          (void)store.InvalidateSurrogateKey("group-" + std::to_string(rng() % 7));
          break;
        case 2:
          (void)store.InvalidateUrlPrefix("http://origin.test/obj/1");
          break;
        default:
          (void)store.PurgeExpired();
          (void)store.List();
          (void)store.Stats();
      }
      std::this_thread::yield();
    }
  };

  std::vector<std::thread> threads;
  threads.emplace_back(reader, 1);
  threads.emplace_back(reader, 2);
  threads.emplace_back(invalidator);
  std::thread w1(writer, 3);
  std::thread w2(writer, 4);
  w1.join();
  w2.join();
  stop.store(true);
  for (auto& t : threads) t.join();

  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(over_limit.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  const StoreStats stats = store.Stats();
  EXPECT_LE(stats.bytes, options.capacity_bytes);
  std::uint64_t listed = 0;
  for (const EntryPtr& e : store.List()) listed += e->charge;
  EXPECT_EQ(listed, stats.bytes);
  EXPECT_EQ(store.List().size(), stats.entries);
}

INSTANTIATE_TEST_SUITE_P(Policies, ObjectStoreConcurrencyTest,
                         ::testing::Values(PolicyKind::kLru, PolicyKind::kSieve,
                                           PolicyKind::kS3Fifo),
                         [](const auto& param_info) {
                           return std::string(ToString(param_info.param));
                         });

}  // namespace
}  // namespace streamgate::cdn
