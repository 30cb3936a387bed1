// FastCDC content-defined chunking (Xia et al., USENIX ATC 2016): a gear rolling hash finds cut
// points that depend only on nearby content, so an insertion shifts at most a chunk or two and
// the rest deduplicate. Normalised chunking: a stricter mask before the average size and a
// looser one after it keep sizes close to the average.
//
// The gear table is generated from `seed` (SplitMix64), so two repositories with the same
// parameters cut identically (needed for deduplication across copies); encrypted repositories
// use a random seed so chunk sizes do not fingerprint known files.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "streamgate/common/error.hpp"

namespace streamgate::backup {

struct ChunkerParams {
  std::uint32_t min_size = 256 * 1024;
  std::uint32_t avg_size = 1024 * 1024;  // a power of two
  std::uint32_t max_size = 4 * 1024 * 1024;
  std::uint64_t seed = 0;

  friend bool operator==(const ChunkerParams&, const ChunkerParams&) = default;
};

// 64 <= min < avg < max <= 64 MiB, avg a power of two.
[[nodiscard]] Status ValidateChunkerParams(const ChunkerParams& params);

class FastCdc {
 public:
  // `params` must pass ValidateChunkerParams (checked by the repository before use).
  explicit FastCdc(const ChunkerParams& params);

  // Length of the first chunk of `data`. When `at_end` is false and no cut point lies within
  // the data (fewer than max_size bytes buffered), returns 0: feed more bytes first.
  // When `at_end` is true, returns the whole remainder if no cut point is found.
  [[nodiscard]] std::size_t NextCut(std::span<const std::uint8_t> data, bool at_end) const;

  [[nodiscard]] const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  std::uint64_t mask_small_;  // used before avg_size: harder to match
  std::uint64_t mask_large_;  // used after avg_size: easier to match
  std::array<std::uint64_t, 256> gear_;
};

}  // namespace streamgate::backup
