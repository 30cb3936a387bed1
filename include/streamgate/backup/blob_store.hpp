// Where a repository keeps its bytes: named blobs ("config", "data/ab/ab12...", "points/x").
// A small interface so object storage (S3, issue 6) can sit behind the same engine as the local
// filesystem. Names use '/' as separator, never start with '/', and never contain "..".
//
// Contract every implementation keeps:
//   Put           atomic and durable: readers see the old blob or the whole new one, and once
//                 Put returns the blob survives a crash (local: temp file, fsync, rename, fsync
//                 dir).
//   PutExclusive  like Put but fails with kAlreadyExists when the name exists (used for locks).
//   List          only complete blobs (never a half-written temporary), sorted by name.
// Thread-safe: every call may be made from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "streamgate/common/error.hpp"

namespace streamgate::backup {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

struct BlobInfo {
  std::string name;
  std::uint64_t size = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  [[nodiscard]] virtual Status Put(std::string_view name, ByteView bytes) = 0;
  [[nodiscard]] virtual Status PutExclusive(std::string_view name, ByteView bytes) = 0;
  [[nodiscard]] virtual Result<Bytes> Get(std::string_view name) const = 0;
  // Exactly `length` bytes from `offset`; kCorrupted when the blob is shorter.
  [[nodiscard]] virtual Result<Bytes> GetRange(std::string_view name, std::uint64_t offset,
                                               std::uint64_t length) const = 0;
  [[nodiscard]] virtual Result<bool> Exists(std::string_view name) const = 0;
  [[nodiscard]] virtual Result<std::uint64_t> Size(std::string_view name) const = 0;
  // Blobs whose name starts with `prefix` ("" lists everything).
  [[nodiscard]] virtual Result<std::vector<BlobInfo>> List(std::string_view prefix) const = 0;
  // Deleting a blob that does not exist succeeds.
  [[nodiscard]] virtual Status Delete(std::string_view name) = 0;
  // Where the blobs live, for messages ("/srv/backups/repo").
  [[nodiscard]] virtual std::string Location() const = 0;
};

// A directory on a local filesystem (created on first Put). Keeps a small cache of open files
// so GetRange is one pread.
[[nodiscard]] Result<std::shared_ptr<BlobStore>> MakeLocalBlobStore(
    const std::filesystem::path& root);

// Opens the store a location names: a local directory today ("s3://" arrives with issue 6).
[[nodiscard]] Result<std::shared_ptr<BlobStore>> OpenBlobStore(std::string_view location);

// Checks a blob name against the rules above; used by every implementation.
[[nodiscard]] Status ValidateBlobName(std::string_view name);

}  // namespace streamgate::backup
