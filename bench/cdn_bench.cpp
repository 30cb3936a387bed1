// Edge cache hot paths: a hit lookup in an ObjectStore of 1M entries (goal: under 100 ns), by
// eviction policy and access pattern, with one and two threads; and the miss + insert path.
//
// Patterns: "hot" cycles over 1,024 keys (the code path, entries in CPU caches); "zipf" draws keys
// from a Zipf(0.99) popularity (what a CDN sees: the hot set stays in CPU caches); "uniform" draws
// every key equally (each lookup is a trip to DRAM).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "streamgate/cdn/object_store.hpp"

namespace streamgate::cdn {
namespace {

constexpr std::size_t kEntries = 1'000'000;
constexpr std::size_t kSequence = 1 << 20;  // pre-drawn key indices per pattern

std::string Key(std::size_t i) { return "/o/" + std::to_string(i); }  // short: no heap

struct Fixture {
  std::unique_ptr<ObjectStore> store;
  std::vector<std::string> keys;
  std::vector<std::uint32_t> uniform;
  std::vector<std::uint32_t> zipf;
  std::vector<std::uint32_t> hot;
};

std::vector<std::uint32_t> ZipfSequence(std::size_t n, double s, std::uint64_t seed) {
  // Inverse-CDF sampling over a precomputed cumulative table.
  std::vector<double> cdf(n);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
    cdf[i] = sum;
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, sum);
  // Popularity rank -> a scattered key, so hot keys do not sit next to each other.
  std::vector<std::uint32_t> perm(n);
  for (std::size_t i = 0; i < n; ++i) perm[i] = static_cast<std::uint32_t>(i);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<std::uint32_t> out(kSequence);
  for (auto& v : out) {
    const auto rank =
        static_cast<std::size_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
    v = perm[std::min(rank, n - 1)];
  }
  return out;
}

Fixture& GetFixture(PolicyKind policy) {
  static std::unique_ptr<Fixture> fixtures[4];
  auto& f = fixtures[static_cast<int>(policy)];
  if (f) return *f;
  f = std::make_unique<Fixture>();
  StoreOptions options;
  options.capacity_bytes = 4ULL << 30;  // room for all of them: every lookup is a hit
  options.shards = 16;
  options.policy = policy;
  options.max_object_fraction = 0.01;
  f->store = std::make_unique<ObjectStore>(options);
  f->keys.reserve(kEntries);
  InsertOptions insert;
  insert.ttl = std::chrono::hours(1);
  for (std::size_t i = 0; i < kEntries; ++i) {
    f->keys.push_back(Key(i));
    CacheObject o;
    o.key = f->keys.back();
    o.body = "0123456789abcdef";
    if (!f->store->Insert(std::move(o), insert)) std::abort();
  }
  std::mt19937_64 rng(1);
  f->uniform.resize(kSequence);
  for (auto& v : f->uniform) v = static_cast<std::uint32_t>(rng() % kEntries);
  f->zipf = ZipfSequence(kEntries, 0.99, 2);
  // 1,024 hot keys scattered over the 1M: the entries stay in CPU caches, so this measures the
  // code path (hash, shard lock, index, policy touch, counters, shared_ptr copy).
  std::vector<std::uint32_t> hot_keys(1024);
  for (auto& k : hot_keys) k = static_cast<std::uint32_t>(rng() % kEntries);
  f->hot.resize(kSequence);
  for (std::size_t i = 0; i < kSequence; ++i) f->hot[i] = hot_keys[i % hot_keys.size()];
  return *f;
}

enum class Pattern { kHot, kZipf, kUniform };

void HitLookup(benchmark::State& state, PolicyKind policy, Pattern pattern) {
  Fixture& f = GetFixture(policy);
  const std::vector<std::uint32_t>& seq = pattern == Pattern::kHot    ? f.hot
                                          : pattern == Pattern::kZipf ? f.zipf
                                                                      : f.uniform;
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  std::uint64_t misses = 0;
  char key[32] = "/o/";
  for (auto _ : state) {
    // The key is built per request, as the proxy builds it from the request line.
    auto [end, ec] = std::to_chars(key + 3, key + sizeof(key), seq[i++ & (kSequence - 1)]);
    EntryPtr e = f.store->Lookup(std::string_view(key, static_cast<std::size_t>(end - key)));
    misses += e == nullptr ? 1 : 0;
    benchmark::DoNotOptimize(e);
  }
  if (misses != 0) state.SkipWithError("a lookup missed");
  state.SetItemsProcessed(state.iterations());
}

void BM_HitHot_S3Fifo(benchmark::State& s) { HitLookup(s, PolicyKind::kS3Fifo, Pattern::kHot); }
void BM_HitZipf_S3Fifo(benchmark::State& s) { HitLookup(s, PolicyKind::kS3Fifo, Pattern::kZipf); }
void BM_HitUniform_S3Fifo(benchmark::State& s) {
  HitLookup(s, PolicyKind::kS3Fifo, Pattern::kUniform);
}
void BM_HitHot_Sieve(benchmark::State& s) { HitLookup(s, PolicyKind::kSieve, Pattern::kHot); }
void BM_HitHot_Lru(benchmark::State& s) { HitLookup(s, PolicyKind::kLru, Pattern::kHot); }
BENCHMARK(BM_HitHot_S3Fifo)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_HitZipf_S3Fifo)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_HitUniform_S3Fifo)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_HitHot_Sieve)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_HitHot_Lru)->Threads(1)->Threads(2)->UseRealTime();

// The code path alone: 1,024 entries in all, so index, entries and policy nodes stay in L1/L2.
void BM_HitSmallStore_S3Fifo(benchmark::State& state) {
  StoreOptions options;
  options.capacity_bytes = 64ULL << 20;
  options.shards = 16;
  options.max_object_fraction = 0.01;
  ObjectStore store(options);
  InsertOptions insert;
  insert.ttl = std::chrono::hours(1);
  for (std::uint32_t i = 0; i < 1024; ++i) {
    CacheObject o;
    o.key = Key(i * 977);
    o.body = "0123456789abcdef";
    if (!store.Insert(std::move(o), insert)) std::abort();
  }
  std::uint32_t i = 0;
  char key[32] = "/o/";
  for (auto _ : state) {
    auto [end, ec] = std::to_chars(key + 3, key + sizeof(key), (i++ & 1023) * 977);
    EntryPtr e = store.Lookup(std::string_view(key, static_cast<std::size_t>(end - key)));
    if (e == nullptr) state.SkipWithError("a lookup missed");
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HitSmallStore_S3Fifo)->Threads(1)->Threads(2)->UseRealTime();

// A miss followed by an insert that evicts (full cache of 1 KiB objects), single thread.
void BM_MissAndInsert(benchmark::State& state) {
  StoreOptions options;
  options.capacity_bytes = 64ULL << 20;
  options.shards = 16;
  ObjectStore store(options);
  InsertOptions insert;
  insert.ttl = std::chrono::hours(1);
  const std::string body(1024, 'b');
  std::uint64_t n = 0;
  for (auto _ : state) {
    CacheObject o;
    o.key = Key(n++);
    benchmark::DoNotOptimize(store.Lookup(o.key));
    o.body = body;
    benchmark::DoNotOptimize(store.Insert(std::move(o), insert));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MissAndInsert);

}  // namespace
}  // namespace streamgate::cdn

BENCHMARK_MAIN();
