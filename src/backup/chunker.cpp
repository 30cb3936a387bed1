#include "streamgate/backup/chunker.hpp"

#include <bit>
#include <string>

namespace streamgate::backup {
namespace {

std::uint64_t SplitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The top `bits` bits: with a left-shifting gear hash, bit k depends on the last k+1 bytes, so
// the high bits see a window of ~48-64 bytes.
std::uint64_t TopBits(int bits) { return bits <= 0 ? 0 : ~0ULL << (64 - bits); }

}  // namespace

Status ValidateChunkerParams(const ChunkerParams& p) {
  if (p.min_size < 64) return InvalidArgument("chunker min_size must be at least 64 bytes");
  if (!std::has_single_bit(p.avg_size)) {
    return InvalidArgument("chunker avg_size must be a power of two, got " +
                           std::to_string(p.avg_size));
  }
  if (!(p.min_size < p.avg_size && p.avg_size < p.max_size)) {
    return InvalidArgument("chunker sizes must satisfy min < avg < max");
  }
  if (p.max_size > 64U * 1024 * 1024) return InvalidArgument("chunker max_size above 64 MiB");
  return {};
}

FastCdc::FastCdc(const ChunkerParams& params) : params_(params) {
  const int bits = std::countr_zero(params.avg_size);
  // Normalisation level 2 (the paper's recommendation).
  mask_small_ = TopBits(bits + 2);
  mask_large_ = TopBits(bits - 2);
  std::uint64_t state = 0x5354524541474154ULL ^ params.seed;  // "STREAGAT"
  for (auto& g : gear_) g = SplitMix64(state);
}

std::size_t FastCdc::NextCut(std::span<const std::uint8_t> data, bool at_end) const {
  const std::size_t n_all = data.size();
  if (n_all == 0) return 0;
  if (n_all <= params_.min_size) return at_end ? n_all : 0;
  const std::size_t n = n_all < params_.max_size ? n_all : params_.max_size;
  const std::size_t normal = n < params_.avg_size ? n : params_.avg_size;
  const std::uint8_t* p = data.data();
  std::uint64_t fp = 0;
  std::size_t i = params_.min_size;
  for (; i < normal; ++i) {
    fp = (fp << 1) + gear_[p[i]];
    if ((fp & mask_small_) == 0) return i + 1;
  }
  for (; i < n; ++i) {
    fp = (fp << 1) + gear_[p[i]];
    if ((fp & mask_large_) == 0) return i + 1;
  }
  // No cut point: a full max-size chunk, or the tail at the end of the stream.
  if (n == params_.max_size) return n;
  return at_end ? n : 0;
}

}  // namespace streamgate::backup
