// Internal: hashing, zstd, authenticated encryption, the object envelope and little-endian
// encoding used by the repository formats (docs/disaster-recovery.md).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "streamgate/backup/blob_store.hpp"
#include "streamgate/backup/manifest.hpp"

namespace streamgate::backup::detail {

using Key = std::array<std::uint8_t, 32>;

// Chunk and pack ids. With a key: keyed BLAKE2b, or HMAC-SHA-256.
class Hasher {
 public:
  Hasher(HashAlgorithm algorithm, std::optional<Key> key);
  [[nodiscard]] ChunkId Hash(ByteView data) const;
  // Unkeyed (pack ids: a hash of the stored bytes).
  [[nodiscard]] ChunkId HashPlain(ByteView data) const;
  [[nodiscard]] HashAlgorithm algorithm() const { return algorithm_; }

 private:
  HashAlgorithm algorithm_;
  std::optional<Key> key_;
};

// Free-standing hash functions, also used by the benchmark.
[[nodiscard]] ChunkId Blake2b256(ByteView data, const Key* key);
[[nodiscard]] ChunkId Sha256(ByteView data, const Key* key);

// zstd with a per-thread context. Compress returns nullopt when the data does not shrink.
[[nodiscard]] std::optional<Bytes> Compress(ByteView data, int level);
[[nodiscard]] Result<Bytes> Decompress(ByteView data, std::size_t raw_size);

// XChaCha20-Poly1305 (IETF) with a random 24-byte nonce prepended; `aad` binds the ciphertext
// to what it is (a chunk id, an object kind).
class Sealer {
 public:
  Sealer() = default;  // no encryption: Seal/Open pass bytes through
  explicit Sealer(const Key& key) : key_(key) {}
  [[nodiscard]] bool enabled() const { return key_.has_value(); }
  [[nodiscard]] Bytes Seal(ByteView plain, ByteView aad) const;
  [[nodiscard]] Result<Bytes> Open(ByteView sealed, ByteView aad) const;
  static constexpr std::size_t kOverhead = 24 + 16;

 private:
  std::optional<Key> key_;
};

// Objects other than chunks (index, manifest, catalog, pack trailer):
//   "SGO1" | flags u8 (1 = zstd, 2 = sealed) | body
// body = Seal(zstd(payload)) with aad = "SGO1" + flags + kind.
[[nodiscard]] Bytes EncodeObject(ByteView payload, std::string_view kind, const Sealer& sealer);
[[nodiscard]] Result<Bytes> DecodeObject(ByteView object, std::string_view kind,
                                         const Sealer& sealer);

// Appends bytes (resize + memcpy: GCC 12 misreports vector::insert of small arrays).
inline void Append(Bytes& out, const void* p, std::size_t n) {
  if (n == 0) return;
  const std::size_t at = out.size();
  out.resize(at + n);
  std::memcpy(out.data() + at, p, n);
}

[[nodiscard]] std::string RandomHex(std::size_t bytes);
[[nodiscard]] Key RandomKey();
[[nodiscard]] ByteView AsBytes(std::string_view s);

// Little-endian writer and a bounds-checked reader.
class Writer {
 public:
  void U8(std::uint8_t v) { out_.push_back(v); }
  void U32(std::uint32_t v) { Raw(&v, 4); }
  void U64(std::uint64_t v) { Raw(&v, 8); }
  void Id(const ChunkId& id) { Raw(id.data(), id.size()); }
  void Raw(const void* p, std::size_t n) { Append(out_, p, n); }
  Bytes& bytes() { return out_; }

 private:
  Bytes out_;
};

class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  bool U8(std::uint8_t& v) { return Raw(&v, 1); }
  bool U32(std::uint32_t& v) { return Raw(&v, 4); }
  bool U64(std::uint64_t& v) { return Raw(&v, 8); }
  bool Id(ChunkId& id) { return Raw(id.data(), id.size()); }
  bool Raw(void* p, std::size_t n) {
    if (in_.size() - pos_ < n) return false;
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  [[nodiscard]] std::size_t remaining() const { return in_.size() - pos_; }

 private:
  ByteView in_;
  std::size_t pos_ = 0;
};

[[nodiscard]] inline std::unexpected<Error> Corrupted(std::string message) {
  return MakeError(ErrorCode::kCorrupted, std::move(message));
}
[[nodiscard]] inline std::unexpected<Error> IoError(std::string message) {
  return MakeError(ErrorCode::kIo, std::move(message));
}

}  // namespace streamgate::backup::detail
