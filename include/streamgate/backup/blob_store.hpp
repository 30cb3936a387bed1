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

#include <chrono>
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
  // How many Puts are worth running at once (the repository's pack writers): 1 for a local
  // disk, more for object storage, where one upload rarely fills the link.
  [[nodiscard]] virtual unsigned PreferredWriteConcurrency() const { return 1; }
  // Bytes worth reading at once when nearby data will likely be wanted next (restores read
  // ahead by this much): 0 for a local disk, a few MiB where each request has a round trip.
  [[nodiscard]] virtual std::uint64_t PreferredReadSize() const { return 0; }
};

// A directory on a local filesystem (created on first Put). Keeps a small cache of open files
// so GetRange is one pread.
[[nodiscard]] Result<std::shared_ptr<BlobStore>> MakeLocalBlobStore(
    const std::filesystem::path& root);

// An S3-compatible bucket (AWS, Swift s3api, MinIO ...), reached with path-style URLs
// ("<endpoint>/<bucket>/<prefix>/<name>") and SigV4 signing. Blob "x" is object "<prefix>/x".
// Blobs up to multipart_threshold go in one PUT, larger ones as a multipart upload whose parts
// are sent in parallel; either way the object appears whole or not at all (a failed multipart
// upload is aborted), so readers never see half an object. Every upload carries
// x-amz-content-sha256 and its ETag is checked against the MD5 of what was sent; downloads
// are checked against the ETag (see s3_blob_store.cpp for multipart objects).
// PutExclusive claims the name first (a "claims/<name>/..." object per writer, listed to see
// rivals): of writers racing for one name at most one wins, as with the local store.
struct S3Options {
  std::string endpoint;       // "http://127.0.0.1:8080"; "" -> https://s3.<region>.amazonaws.com
  std::string region;         // "" -> "us-east-1"
  std::string access_key_id;  // required
  std::string secret_access_key;  // required
  std::string bucket;             // required, no '/'
  std::string prefix;             // "" or a clean relative path ("backups/rp-1")
  int max_attempts = 5;           // per request; retried on 5xx, timeouts and refused connections
  std::chrono::milliseconds initial_backoff{200};  // doubled after each failed attempt
  std::chrono::seconds timeout{300};               // whole request (a 16 MiB pack on a slow link)
  int list_page_size = 1000;                       // max-keys per ListObjectsV2 page
  std::string ca_file;  // PEM CA bundle for an https endpoint; "" -> the system's CAs
  // Blobs larger than this go as multipart uploads of part_size parts (S3 needs every part but
  // the last to be at least 5 MiB; both are refused below that). The default keeps the
  // repository's 16 MiB packs in single PUTs (one request, an MD5 ETag checked on every read)
  // and splits only larger ones: against Swift, 8 MiB parts for 16 MiB packs made a backup
  // about half as fast and a restore slower (s3_repository_test's throughput run).
  std::uint64_t multipart_threshold = 32 * 1024 * 1024;
  std::uint64_t part_size = 8 * 1024 * 1024;
  // Parts of one upload sent at once, and PreferredWriteConcurrency() (packs written at once).
  unsigned upload_concurrency = 4;
};

// Fills every empty field of `options` that has a standard variable: AWS_ENDPOINT_URL,
// AWS_REGION (then AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_CA_BUNDLE.
void FillS3OptionsFromEnvironment(S3Options& options);

// A bucket that does not exist yet is created by the first Put.
[[nodiscard]] Result<std::shared_ptr<BlobStore>> MakeS3BlobStore(S3Options options);

// Opens the store a location names: a local directory ("/srv/repo", "file:///srv/repo") or
// "s3://bucket/prefix" with endpoint, region and credentials from the AWS_* variables.
[[nodiscard]] Result<std::shared_ptr<BlobStore>> OpenBlobStore(std::string_view location);

// Checks a blob name against the rules above; used by every implementation.
[[nodiscard]] Status ValidateBlobName(std::string_view name);

}  // namespace streamgate::backup
