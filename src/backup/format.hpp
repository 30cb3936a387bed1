// Internal: byte formats of the repository's objects (docs/disaster-recovery.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backup/codec.hpp"
#include "streamgate/backup/manifest.hpp"
#include "streamgate/backup/repository.hpp"

namespace streamgate::backup::detail {

inline constexpr int kFormatVersion = 1;
inline constexpr std::uint8_t kChunkCompressed = 1;

struct IndexEntry {
  ChunkId id{};
  std::uint64_t offset = 0;
  std::uint32_t stored = 0;  // bytes in the pack
  std::uint32_t raw = 0;     // plaintext bytes
  std::uint8_t flags = 0;    // kChunkCompressed
};

struct PackRecord {
  ChunkId pack{};  // hash of the pack file's bytes; names it
  std::uint64_t size = 0;
  std::vector<IndexEntry> entries;
};

[[nodiscard]] std::string PackName(const ChunkId& pack);  // "data/ab/ab12..."
[[nodiscard]] Result<ChunkId> PackIdFromName(std::string_view name);

// Pack: "SGPACK01" | blobs | trailer object | trailer length u32 | "SGPKEND1".
inline constexpr char kPackMagic[] = "SGPACK01";
inline constexpr char kPackEndMagic[] = "SGPKEND1";
inline constexpr std::size_t kPackHeader = 8;
inline constexpr std::size_t kPackFooter = 12;
[[nodiscard]] Bytes EncodeEntries(const std::vector<IndexEntry>& entries);
[[nodiscard]] Result<std::vector<IndexEntry>> DecodeEntries(ByteView payload);

[[nodiscard]] Bytes EncodeIndex(const std::vector<PackRecord>& packs);
[[nodiscard]] Result<std::vector<PackRecord>> DecodeIndex(ByteView payload);

[[nodiscard]] Bytes EncodeManifest(const Manifest& manifest);
[[nodiscard]] Result<Manifest> DecodeManifest(ByteView payload);

[[nodiscard]] Bytes EncodeCatalog(const std::vector<PointInfo>& points);
[[nodiscard]] Result<std::vector<PointInfo>> DecodeCatalog(ByteView payload);

struct StoredConfig {
  RepositoryInfo info;
  // Encryption: Argon2id parameters and the master keys (data key || id key) sealed with the
  // passphrase-derived key.
  std::uint64_t kdf_opslimit = 0;
  std::uint64_t kdf_memlimit = 0;
  std::string kdf_salt_hex;
  std::string wrapped_keys_hex;
};
[[nodiscard]] Bytes EncodeConfig(const StoredConfig& config);
[[nodiscard]] Result<StoredConfig> DecodeConfig(ByteView bytes);

}  // namespace streamgate::backup::detail
