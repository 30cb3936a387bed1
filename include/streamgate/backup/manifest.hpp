// What a repository records: recovery points (the catalog) and one manifest per point that
// lists every file, so any point restores on its own. See docs/disaster-recovery.md.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::backup {

// Content address of a chunk: BLAKE2b-256 or SHA-256 of its plaintext (keyed when the
// repository is encrypted, so ids do not reveal content).
using ChunkId = std::array<std::uint8_t, 32>;

[[nodiscard]] std::string ToHex(const ChunkId& id);
[[nodiscard]] Result<ChunkId> ChunkIdFromHex(std::string_view hex);

enum class HashAlgorithm { kBlake2b256, kSha256 };
[[nodiscard]] std::string_view ToString(HashAlgorithm algorithm);  // "blake2b-256", "sha256"
[[nodiscard]] Result<HashAlgorithm> ParseHashAlgorithm(std::string_view text);

// full: read and hash every file. incremental: read only files changed since the plan's last
// point of any kind. differential: read only files changed since the plan's last full point.
enum class Strategy { kFull, kIncremental, kDifferential };
[[nodiscard]] std::string_view ToString(Strategy strategy);  // "full", "incremental", ...
[[nodiscard]] Result<Strategy> ParseStrategy(std::string_view text);

enum class EntryType { kFile, kDirectory, kSymlink };
[[nodiscard]] std::string_view ToString(EntryType type);

struct FileEntry {
  std::string path;  // relative, '/'-separated, first component = the source's base name
  EntryType type = EntryType::kFile;
  std::uint32_t mode = 0;  // permission bits (07777)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int64_t mtime_ns = 0;  // since the Unix epoch
  std::int64_t ctime_ns = 0;
  std::uint64_t inode = 0;
  std::uint64_t size = 0;       // bytes of content (files)
  std::string symlink_target;   // symlinks only
  std::vector<ChunkId> chunks;  // files only, in order

  friend bool operator==(const FileEntry&, const FileEntry&) = default;
};

// One row of the catalog.
struct PointInfo {
  std::string id;
  std::string plan;
  Strategy strategy = Strategy::kFull;  // as performed (a first incremental is recorded as full)
  WallTime created_at;
  std::string parent;                // the point unchanged files were taken from; "" for full
  std::vector<std::string> sources;  // absolute source directories
  std::uint64_t logical_bytes = 0;   // sum of file sizes in the point
  std::uint64_t stored_bytes = 0;    // bytes this point added to the repository
  std::uint64_t file_count = 0;      // regular files
  std::uint64_t entry_count = 0;     // files, directories and symlinks
  std::string status = "complete";   // points only enter the catalog once durable

  friend bool operator==(const PointInfo&, const PointInfo&) = default;
};

struct Manifest {
  PointInfo point;
  std::vector<FileEntry> entries;  // parents before children
};

// A manifest path is safe to restore: relative, non-empty components, no "." or "..", no NUL.
[[nodiscard]] Status ValidateEntryPath(std::string_view path);

}  // namespace streamgate::backup
