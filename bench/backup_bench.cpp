// Backup engine building blocks on this machine: chunk-id hashes (BLAKE2b-256 from libsodium
// against SHA-256 from OpenSSL), FastCDC, zstd levels on text and on incompressible data,
// AEAD sealing, and a whole backup and restore of a generated tree.
//   build/<dir>/bin/backup_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "backup/codec.hpp"
#include "streamgate/backup/chunker.hpp"
#include "streamgate/backup/repository.hpp"
#include "streamgate/common/clock.hpp"

namespace {

using namespace streamgate;
using namespace streamgate::backup;

Bytes Random(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  return out;
}

Bytes Text(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  static const char* kWords[] = {
      "GET ",       "/video/seg",  " 200 ",          " 304 ",       "edge-us-east-1 ",
      "cache=HIT ", "cache=MISS ", "bitrate=4500k ", "latency_ms=", "\n2027-01-01 12:00:00 "};
  std::string s;
  while (s.size() < n) {
    s += kWords[rng() % 10];
    s += std::to_string(rng() % 100000);
  }
  return Bytes(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n));
}

void BM_Sha256(benchmark::State& state) {
  const Bytes data = Random(static_cast<std::size_t>(state.range(0)), 1);
  for (auto _ : state) benchmark::DoNotOptimize(detail::Sha256(data, nullptr));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(4 << 10)->Arg(1 << 20);

void BM_Blake2b256(benchmark::State& state) {
  const Bytes data = Random(static_cast<std::size_t>(state.range(0)), 1);
  for (auto _ : state) benchmark::DoNotOptimize(detail::Blake2b256(data, nullptr));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Blake2b256)->Arg(4 << 10)->Arg(1 << 20);

void BM_HmacSha256(benchmark::State& state) {  // keyed ids in encrypted repositories
  const Bytes data = Random(1 << 20, 1);
  const detail::Key key{};
  for (auto _ : state) benchmark::DoNotOptimize(detail::Sha256(data, &key));
  state.SetBytesProcessed(state.iterations() * (1 << 20));
}
BENCHMARK(BM_HmacSha256);

void BM_FastCdc(benchmark::State& state) {
  const Bytes data = Random(64 << 20, 2);
  ChunkerParams params;  // 256 KiB / 1 MiB / 4 MiB
  const FastCdc cdc(params);
  std::size_t chunks = 0;
  for (auto _ : state) {
    std::span<const std::uint8_t> rest(data);
    while (!rest.empty()) {
      const std::size_t cut = cdc.NextCut(rest, true);
      rest = rest.subspan(cut);
      ++chunks;
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data.size()));
  state.counters["avg_chunk_KiB"] = static_cast<double>(data.size()) *
                                    static_cast<double>(state.iterations()) /
                                    static_cast<double>(chunks) / 1024;
}
BENCHMARK(BM_FastCdc);

void BM_ZstdText(benchmark::State& state) {
  const Bytes data = Text(1 << 20, 3);
  std::size_t out = 0;
  for (auto _ : state) {
    auto c = detail::Compress(data, static_cast<int>(state.range(0)));
    out = c ? c->size() : data.size();
  }
  state.SetBytesProcessed(state.iterations() * (1 << 20));
  state.counters["ratio"] = static_cast<double>(data.size()) / static_cast<double>(out);
}
BENCHMARK(BM_ZstdText)->Arg(1)->Arg(2)->Arg(3)->Arg(6);

void BM_ZstdRandom(benchmark::State& state) {  // incompressible media: the cost of trying
  const Bytes data = Random(1 << 20, 4);
  for (auto _ : state)
    benchmark::DoNotOptimize(detail::Compress(data, static_cast<int>(state.range(0))));
  state.SetBytesProcessed(state.iterations() * (1 << 20));
}
BENCHMARK(BM_ZstdRandom)->Arg(1)->Arg(3);

void BM_Decompress(benchmark::State& state) {
  const Bytes data = Text(1 << 20, 3);
  const Bytes c = *detail::Compress(data, 3);
  for (auto _ : state) benchmark::DoNotOptimize(detail::Decompress(c, data.size()));
  state.SetBytesProcessed(state.iterations() * (1 << 20));
}
BENCHMARK(BM_Decompress);

void BM_Seal(benchmark::State& state) {
  const Bytes data = Random(1 << 20, 5);
  const detail::Sealer sealer(detail::RandomKey());
  const ChunkId aad{};
  for (auto _ : state) benchmark::DoNotOptimize(sealer.Seal(data, aad));
  state.SetBytesProcessed(state.iterations() * (1 << 20));
}
BENCHMARK(BM_Seal);

// A whole backup (new repository each time) and restore of ~96 MiB: text, media, small files.
struct Tree {
  std::filesystem::path root;
  std::uint64_t bytes = 0;
  Tree() {
    root =
        std::filesystem::temp_directory_path() / ("sg-backup-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(root / "data/logs");
    std::filesystem::create_directories(root / "data/media");
    std::filesystem::create_directories(root / "data/small");
    auto write = [&](const std::filesystem::path& p, const Bytes& b) {
      std::ofstream(p, std::ios::binary)
          .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
      bytes += b.size();
    };
    for (int i = 0; i < 4; ++i) write(root / ("data/logs/" + std::to_string(i)), Text(8 << 20, i));
    for (int i = 0; i < 12; ++i)
      write(root / ("data/media/" + std::to_string(i)), Random(4 << 20, i));
    for (int i = 0; i < 2000; ++i) write(root / ("data/small/" + std::to_string(i)), Text(8192, i));
  }
  ~Tree() { std::filesystem::remove_all(root); }
};

void BM_BackupAndRestore(benchmark::State& state) {
  static Tree tree;
  double backup_s = 0;
  double restore_s = 0;
  for (auto _ : state) {
    std::filesystem::remove_all(tree.root / "repo");
    std::filesystem::remove_all(tree.root / "out");
    RepositoryOptions options;
    options.compression_level = static_cast<int>(state.range(0));
    auto repo = *Repository::Create(*MakeLocalBlobStore(tree.root / "repo"), options, RealClock());
    BackupRequest request;
    request.sources = {(tree.root / "data").string()};
    request.strategy = Strategy::kFull;
    auto b = repo->Backup(request);
    RestoreRequest restore;
    restore.point = "latest";
    restore.target = (tree.root / "out").string();
    auto r = repo->Restore(restore);
    if (!b || !r) state.SkipWithError("backup or restore failed");
    backup_s += std::chrono::duration<double>(b->duration).count();
    restore_s += std::chrono::duration<double>(r->duration).count();
  }
  const double mib =
      static_cast<double>(tree.bytes) / (1 << 20) * static_cast<double>(state.iterations());
  state.counters["backup_MiB_s"] = mib / backup_s;
  state.counters["restore_MiB_s"] = mib / restore_s;
}
BENCHMARK(BM_BackupAndRestore)->Arg(1)->Arg(3)->Unit(benchmark::kMillisecond)->Iterations(2);

}  // namespace

BENCHMARK_MAIN();
