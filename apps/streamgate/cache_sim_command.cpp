// streamgate cache-sim: replays a cache trace through the edge cache's eviction policies and
// prints object and byte hit ratios.
#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "streamgate/cdn/eviction.hpp"
#include "streamgate/cdn/trace.hpp"
#include "streamgate/common/units.hpp"

namespace streamgate::app {
namespace {

struct CacheSimFlags {
  std::string trace;
  std::string format;
  std::string capacity;        // "N" objects or "P%" of distinct objects
  std::string capacity_bytes;  // "64MiB" or "P%" of the distinct objects' total size
  std::string policy = "all";
  double max_object_fraction = 1.0;
};

// "P%" -> P; nullopt when the text has no '%'.
Result<std::optional<double>> ParsePercent(std::string_view text) {
  if (text.empty() || text.back() != '%') return std::optional<double>{};
  text.remove_suffix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !(value > 0) || value > 100) {
    return InvalidArgument(fmt::format("'{}%' is not a percentage in (0, 100]", text));
  }
  return std::optional<double>{value};
}

// Sum of the sizes of the distinct objects (each counted once).
std::uint64_t DistinctBytes(const cdn::Trace& trace) {
  std::vector<bool> seen(trace.distinct_objects, false);
  std::uint64_t total = 0;
  for (const auto& r : trace.requests) {
    if (!seen[r.object]) {
      seen[r.object] = true;
      total += r.size;
    }
  }
  return total;
}

int RunCacheSim(const CacheSimFlags& flags) {
  auto format = cdn::ParseTraceFormat(flags.format);
  if (!format) {
    std::fprintf(stderr, "cache-sim: %s\n", format.error().message().c_str());
    return 2;
  }
  std::vector<cdn::PolicyKind> policies;
  if (flags.policy == "all") {
    policies = {cdn::PolicyKind::kLru, cdn::PolicyKind::kFifo, cdn::PolicyKind::kSieve,
                cdn::PolicyKind::kS3Fifo};
  } else {
    auto kind = cdn::ParsePolicyKind(flags.policy);
    if (!kind) {
      std::fprintf(stderr, "cache-sim: %s\n", kind.error().message().c_str());
      return 2;
    }
    policies = {*kind};
  }
  if (flags.capacity.empty() == flags.capacity_bytes.empty()) {
    std::fprintf(stderr, "cache-sim: give exactly one of --capacity and --capacity-bytes\n");
    return 2;
  }

  auto trace = cdn::LoadTrace(flags.trace, *format);
  if (!trace) {
    std::fprintf(stderr, "cache-sim: %s\n", trace.error().message().c_str());
    return 1;
  }

  cdn::SimulationOptions options;
  options.max_object_fraction = flags.max_object_fraction;
  std::string capacity_text;
  const bool bytes = !flags.capacity_bytes.empty();
  const std::string& given = bytes ? flags.capacity_bytes : flags.capacity;
  auto percent = ParsePercent(given);
  if (!percent) {
    std::fprintf(stderr, "cache-sim: %s\n", percent.error().message().c_str());
    return 2;
  }
  if (*percent) {
    if (bytes) {
      options.capacity = static_cast<std::uint64_t>(static_cast<double>(DistinctBytes(*trace)) *
                                                    **percent / 100.0);
    } else {
      options.capacity = cdn::CapacityForPercent(*trace, **percent);
    }
  } else if (bytes) {
    auto size = ParseSize(given);
    if (!size) {
      std::fprintf(stderr, "cache-sim: --capacity-bytes: %s\n", size.error().message().c_str());
      return 2;
    }
    options.capacity = *size;
  } else {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(given.data(), given.data() + given.size(), n);
    if (ec != std::errc() || end != given.data() + given.size()) {
      std::fprintf(stderr, "cache-sim: --capacity must be N (objects) or P%%, got '%s'\n",
                   given.c_str());
      return 2;
    }
    options.capacity = n;
  }
  options.count_bytes = bytes;
  if (options.capacity == 0) {
    std::fprintf(stderr, "cache-sim: the capacity comes to 0; use a larger one\n");
    return 2;
  }

  std::printf("trace %s (%s): %zu requests, %llu distinct objects, %llu bytes requested\n",
              flags.trace.c_str(), std::string(cdn::ToString(*format)).c_str(),
              trace->requests.size(), static_cast<unsigned long long>(trace->distinct_objects),
              static_cast<unsigned long long>(trace->requested_bytes));
  std::printf("capacity %llu %s\n", static_cast<unsigned long long>(options.capacity),
              bytes ? "bytes" : "objects");
  std::printf("%-8s %12s %12s %12s\n", "policy", "object_hit", "byte_hit", "evictions");
  for (cdn::PolicyKind kind : policies) {
    options.policy = kind;
    auto result = cdn::Simulate(*trace, options);
    if (!result) {
      std::fprintf(stderr, "cache-sim: %s\n", result.error().message().c_str());
      return 1;
    }
    std::printf("%-8s %12.4f %12.4f %12llu\n", std::string(cdn::ToString(kind)).c_str(),
                result->object_hit_ratio(), result->byte_hit_ratio(),
                static_cast<unsigned long long>(result->evictions));
  }
  return 0;
}

}  // namespace

void RegisterCacheSimCommand(CLI::App& app, Runners& runners) {
  auto flags = std::make_shared<CacheSimFlags>();
  CLI::App* command = app.add_subcommand(
      "cache-sim", "Replay a cache trace through the eviction policies; print hit ratios");
  command->add_option("--trace", flags->trace, "Trace file (.xz is decompressed)")->required();
  command->add_option("--format", flags->format, "cache2k | webcachesim")->required();
  command->add_option("--capacity", flags->capacity,
                      "Capacity in objects: N, or P% of the distinct objects");
  command->add_option("--capacity-bytes", flags->capacity_bytes,
                      "Capacity in bytes (objects charge their size): 64MiB, or P% of the "
                      "distinct objects' total size");
  command->add_option("--policy", flags->policy, "lru | fifo | sieve | s3fifo | all")
      ->default_val("all");
  command
      ->add_option("--max-object-fraction", flags->max_object_fraction,
                   "Objects larger than this share of the capacity are not admitted")
      ->default_val(1.0)
      ->check(CLI::Range(0.000001, 1.0));
  runners.push_back({command, [flags] { return RunCacheSim(*flags); }});
}

}  // namespace streamgate::app
