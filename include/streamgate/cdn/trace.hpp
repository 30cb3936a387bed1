// Cache traces and their replay through the eviction policies (what `streamgate cache-sim`
// runs). Replays use EvictionPolicy::Admit/Touch exactly as the object store's shards do.
//
// Formats (see ../shared/data/cache-traces/README.md):
//   cache2k     -> big-endian signed 32-bit keys, 4 bytes per request; every object has size 1.
//   webcachesim -> text, one request per line: "time id size"; an id seen with a different size
//                  is a different object.
// Files ending in ".xz" are decompressed (liblzma) while loading.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "streamgate/cdn/eviction.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::cdn {

enum class TraceFormat { kCache2k, kWebCacheSim };

// "cache2k", "webcachesim".
[[nodiscard]] std::string_view ToString(TraceFormat format);
[[nodiscard]] Result<TraceFormat> ParseTraceFormat(std::string_view name);

struct TraceRequest {
  std::uint32_t object = 0;  // dense object id: 0 .. distinct_objects-1, in first-seen order
  std::uint64_t size = 1;    // bytes (1 for cache2k)
};

struct Trace {
  std::vector<TraceRequest> requests;
  std::uint64_t distinct_objects = 0;
  std::uint64_t requested_bytes = 0;
};

// Parses decompressed trace data. Malformed input (a cache2k length not a multiple of 4, a
// webcachesim line without three numbers) is InvalidArgument naming the offset or line.
[[nodiscard]] Result<Trace> ParseTrace(std::string_view data, TraceFormat format);
// Reads (and, for *.xz, decompresses) a file, then parses it.
[[nodiscard]] Result<Trace> LoadTrace(const std::filesystem::path& path, TraceFormat format);
// The whole content of an xz file, decompressed; kCorrupted for damaged data.
[[nodiscard]] Result<std::string> ReadXzFile(const std::filesystem::path& path);

struct SimulationOptions {
  PolicyKind policy = kDefaultPolicy;
  // In objects (every object charges 1) unless `count_bytes`, then in bytes (objects charge
  // their size; zero-size objects charge 1).
  std::uint64_t capacity = 0;
  bool count_bytes = false;
  // Objects charging more than this share of the capacity are not admitted (always a miss).
  double max_object_fraction = 1.0;
};

struct SimulationResult {
  PolicyKind policy = kDefaultPolicy;
  std::uint64_t capacity = 0;
  std::uint64_t requests = 0;
  std::uint64_t hits = 0;
  std::uint64_t requested_bytes = 0;
  std::uint64_t hit_bytes = 0;
  std::uint64_t evictions = 0;
  std::uint64_t rejected = 0;  // misses not admitted (too large)
  [[nodiscard]] double object_hit_ratio() const {
    return requests == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(requests);
  }
  [[nodiscard]] double byte_hit_ratio() const {
    return requested_bytes == 0
               ? 0.0
               : static_cast<double>(hit_bytes) / static_cast<double>(requested_bytes);
  }
};

// Replays `trace` from an empty cache. InvalidArgument for a zero capacity or a fraction
// outside (0, 1].
[[nodiscard]] Result<SimulationResult> Simulate(const Trace& trace,
                                                const SimulationOptions& options);

// floor(distinct x percent / 100), the README's definition of "a cache of P%".
[[nodiscard]] std::uint64_t CapacityForPercent(const Trace& trace, double percent);

}  // namespace streamgate::cdn
