#include "streamgate/cdn/trace.hpp"

#include <fmt/format.h>
#include <lzma.h>

#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>

namespace streamgate::cdn {

std::string_view ToString(TraceFormat format) {
  return format == TraceFormat::kCache2k ? "cache2k" : "webcachesim";
}

Result<TraceFormat> ParseTraceFormat(std::string_view name) {
  if (name == "cache2k") return TraceFormat::kCache2k;
  if (name == "webcachesim") return TraceFormat::kWebCacheSim;
  return InvalidArgument(
      fmt::format("unknown trace format '{}' (expected cache2k or webcachesim)", name));
}

namespace {

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kIo, fmt::format("cannot open {}", path.string()));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return MakeError(ErrorCode::kIo, fmt::format("cannot read {}", path.string()));
  return data;
}

Result<Trace> ParseCache2k(std::string_view data) {
  if (data.size() % 4 != 0) {
    return InvalidArgument(
        fmt::format("cache2k trace length {} is not a multiple of 4 bytes", data.size()));
  }
  Trace trace;
  trace.requests.reserve(data.size() / 4);
  boost::unordered_flat_map<std::int32_t, std::uint32_t> ids;
  for (std::size_t i = 0; i < data.size(); i += 4) {
    const auto b = [&](std::size_t k) {
      return static_cast<std::uint32_t>(static_cast<unsigned char>(data[i + k]));
    };
    const auto key = static_cast<std::int32_t>((b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3));
    auto [it, inserted] = ids.try_emplace(key, static_cast<std::uint32_t>(ids.size()));
    trace.requests.push_back(TraceRequest{it->second, 1});
  }
  trace.distinct_objects = ids.size();
  trace.requested_bytes = trace.requests.size();
  return trace;
}

Result<Trace> ParseWebCacheSim(std::string_view data) {
  Trace trace;
  // (id, size) -> dense object id.
  struct PairHash {
    std::size_t operator()(const std::pair<std::uint64_t, std::uint64_t>& p) const {
      return std::hash<std::uint64_t>{}(p.first * 0x9E3779B97F4A7C15ULL ^ p.second);
    }
  };
  boost::unordered_flat_map<std::pair<std::uint64_t, std::uint64_t>, std::uint32_t, PairHash> ids;
  std::size_t line_number = 0;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t end = data.find('\n', pos);
    if (end == std::string_view::npos) end = data.size();
    std::string_view line = data.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    std::array<std::uint64_t, 3> fields{};
    const char* p = line.data();
    const char* const last = line.data() + line.size();
    for (std::size_t f = 0; f < fields.size(); ++f) {
      while (p < last && (*p == ' ' || *p == '\t')) ++p;
      auto [next, ec] = std::from_chars(p, last, fields[f]);
      if (ec != std::errc()) {
        return InvalidArgument(
            fmt::format("webcachesim trace line {}: expected 'time id size', got '{}'", line_number,
                        line.substr(0, 80)));
      }
      p = next;
    }
    auto [it, inserted] =
        ids.try_emplace({fields[1], fields[2]}, static_cast<std::uint32_t>(ids.size()));
    trace.requests.push_back(TraceRequest{it->second, fields[2]});
    trace.requested_bytes += fields[2];
  }
  trace.distinct_objects = ids.size();
  return trace;
}

}  // namespace

Result<Trace> ParseTrace(std::string_view data, TraceFormat format) {
  return format == TraceFormat::kCache2k ? ParseCache2k(data) : ParseWebCacheSim(data);
}

Result<std::string> ReadXzFile(const std::filesystem::path& path) {
  auto compressed = ReadFile(path);
  if (!compressed) return std::unexpected(compressed.error());
  lzma_stream stream = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&stream, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) {
    return MakeError(ErrorCode::kInternal, "cannot initialise the xz decoder");
  }
  std::unique_ptr<lzma_stream, void (*)(lzma_stream*)> guard(&stream, lzma_end);
  std::string out;
  std::array<std::uint8_t, 1 << 16> buffer{};
  stream.next_in = reinterpret_cast<const std::uint8_t*>(compressed->data());
  stream.avail_in = compressed->size();
  for (;;) {
    stream.next_out = buffer.data();
    stream.avail_out = buffer.size();
    const lzma_ret ret = lzma_code(&stream, LZMA_FINISH);
    out.append(reinterpret_cast<const char*>(buffer.data()), buffer.size() - stream.avail_out);
    if (ret == LZMA_STREAM_END) return out;
    if (ret != LZMA_OK) {
      return MakeError(ErrorCode::kCorrupted,
                       fmt::format("{}: xz data is damaged or truncated (lzma error {})",
                                   path.string(), static_cast<int>(ret)));
    }
  }
}

Result<Trace> LoadTrace(const std::filesystem::path& path, TraceFormat format) {
  auto data = path.extension() == ".xz" ? ReadXzFile(path) : ReadFile(path);
  if (!data) return std::unexpected(data.error());
  auto trace = ParseTrace(*data, format);
  if (!trace) {
    return InvalidArgument(fmt::format("{}: {}", path.string(), trace.error().message()));
  }
  return trace;
}

std::uint64_t CapacityForPercent(const Trace& trace, double percent) {
  return static_cast<std::uint64_t>(
      std::floor(static_cast<double>(trace.distinct_objects) * percent / 100.0 + 1e-9));
}

Result<SimulationResult> Simulate(const Trace& trace, const SimulationOptions& options) {
  if (options.capacity == 0) return InvalidArgument("capacity must be > 0");
  if (!(options.max_object_fraction > 0.0 && options.max_object_fraction <= 1.0)) {
    return InvalidArgument("max_object_fraction must be in (0, 1]");
  }
  if (trace.distinct_objects >= kNoSlot) return InvalidArgument("too many distinct objects");
  auto policy = MakeEvictionPolicy(options.policy, options.capacity);
  const auto max_charge = static_cast<std::uint64_t>(static_cast<double>(options.capacity) *
                                                     options.max_object_fraction);
  SimulationResult result;
  result.policy = options.policy;
  result.capacity = options.capacity;
  std::vector<SlotId> victims;
  for (const TraceRequest& request : trace.requests) {
    ++result.requests;
    result.requested_bytes += request.size;
    const SlotId slot = request.object;
    if (policy->Tracks(slot)) {
      ++result.hits;
      result.hit_bytes += request.size;
      policy->Touch(slot);
      continue;
    }
    const std::uint64_t charge = options.count_bytes ? std::max<std::uint64_t>(request.size, 1) : 1;
    if (charge > max_charge) {
      ++result.rejected;
      continue;
    }
    victims.clear();
    // The object id doubles as the key hash: it names the object across evictions.
    auto admitted = policy->Admit(slot, request.object, charge, victims);
    if (!admitted) return std::unexpected(admitted.error());
    result.evictions += victims.size();
  }
  return result;
}

}  // namespace streamgate::cdn
