// The backup engine: a content-addressed, deduplicating, compressed (zstd) and optionally
// encrypted (XChaCha20-Poly1305, key from a passphrase by Argon2id) repository on a BlobStore.
//
// Layout (docs/disaster-recovery.md has the byte formats):
//   config            format version, repository id, chunker, hash, compression, wrapped key
//   data/xx/<pack>    pack files (~16 MiB): many chunks plus a trailer listing them, so the
//                     index can be rebuilt from the packs alone
//   index/<id>        chunk id -> pack, offset, stored length, raw length
//   points/<id>       one manifest per recovery point (every file and its chunk ids)
//   catalog           the recovery points
//   lock              pid, host and time of the one writer
// Durability order of a backup: packs, then index, then manifest, then catalog, each fsynced
// before the next. A point exists once it is in the catalog; an interrupted backup leaves only
// unreferenced packs, which the next backup indexes from their trailers and reuses.
//
// Thread-safety: every call may be made from any thread. Backup and Prune take the repository
// lock (one writer per repository, across processes and hosts); the others only read.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "streamgate/backup/blob_store.hpp"
#include "streamgate/backup/chunker.hpp"
#include "streamgate/backup/manifest.hpp"
#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::backup {

struct RepositoryOptions {
  ChunkerParams chunker;                        // seed is replaced by a random one when encrypting
  HashAlgorithm hash = HashAlgorithm::kSha256;  // faster here (SHA-NI); see bench/backup_bench.cpp
  int compression_level = 1;  // zstd, 1..19; 1 measured fastest at ~the same size (docs)
  std::uint64_t pack_size = 16 * 1024 * 1024;  // target pack size
  bool encrypt = false;
  std::string passphrase;  // required when encrypting
  // Argon2id cost (libsodium crypto_pwhash); defaults are libsodium's "moderate".
  std::uint64_t kdf_opslimit = 3;
  std::uint64_t kdf_memlimit = 256ULL * 1024 * 1024;
};

struct RepositoryInfo {
  std::string id;
  int format_version = 1;
  ChunkerParams chunker;
  HashAlgorithm hash = HashAlgorithm::kSha256;
  int compression_level = 1;
  std::uint64_t pack_size = 0;
  bool encrypted = false;
};

// Reported while a backup or restore runs (from the calling thread, at most every ~100 ms and
// once at the end). Totals are known once the source walk finished.
struct Progress {
  std::uint64_t files_done = 0;
  std::uint64_t files_total = 0;
  std::uint64_t bytes_done = 0;   // bytes read (backup) or written (restore)
  std::uint64_t bytes_total = 0;  // bytes still to read at the start
  std::chrono::nanoseconds elapsed{0};
  bool finished = false;
};
using ProgressFn = std::function<void(const Progress&)>;

struct BackupRequest {
  std::vector<std::string> sources;  // directories (or files); stored under their base names
  Strategy strategy = Strategy::kIncremental;
  std::string plan = "default";
  std::vector<std::string> excludes;  // entry paths (as stored) to skip, with everything below
  unsigned threads = 0;               // 0: one per core
  ProgressFn progress;
  // Test hook for crash tests: called at "pack" (n = packs written so far), "index",
  // "manifest" (after each is durable). A hook that _exit()s simulates a kill.
  std::function<void(std::string_view stage, std::uint64_t n)> crash_hook;
};

struct BackupResult {
  PointInfo point;
  std::uint64_t files_read = 0;       // files whose content was read
  std::uint64_t files_unchanged = 0;  // reused from the parent without reading
  std::uint64_t bytes_read = 0;
  std::uint64_t chunks_new = 0;
  std::uint64_t chunks_deduplicated = 0;
  std::uint64_t packs_written = 0;
  std::uint64_t packs_recovered = 0;  // orphan packs of an interrupted backup, indexed again
  std::vector<std::string> warnings;  // files that vanished or could not be read
  std::chrono::nanoseconds duration{0};
};

struct RestoreRequest {
  std::string point;  // id, or "latest" (newest complete point of `plan`, or of any plan)
  std::string plan;   // only for "latest"
  std::string target;
  std::vector<std::string> paths;  // subset: entries equal to or below these paths; all if empty
  unsigned threads = 0;
  ProgressFn progress;
};

struct RestoreResult {
  std::string point;
  std::uint64_t files = 0;
  std::uint64_t directories = 0;
  std::uint64_t symlinks = 0;
  std::uint64_t bytes_written = 0;
  std::vector<std::string> errors;  // entries refused or failed; the rest was restored
  std::chrono::nanoseconds duration{0};
};

struct CheckProblem {
  std::string kind;  // "missing_pack", "bad_chunk", "missing_chunk", "bad_manifest", ...
  std::string object;
  std::string message;
  std::vector<std::string> affected_points;
};

struct CheckReport {
  std::uint64_t packs = 0;
  std::uint64_t chunks = 0;
  std::uint64_t points = 0;
  std::uint64_t bytes_verified = 0;    // with read_data
  std::uint64_t orphan_packs = 0;      // not indexed (interrupted backup)
  std::vector<CheckProblem> problems;  // empty: the repository is sound
  std::vector<std::string> notes;      // harmless leftovers
  [[nodiscard]] bool ok() const { return problems.empty(); }
};

struct PruneOptions {
  // Retention (per plan; a point kept by any rule stays; the newest point of each plan always
  // stays). With neither set, no point is removed and only unused data is freed.
  std::optional<std::uint32_t> keep_last;
  std::optional<std::uint32_t> keep_days;
  std::vector<std::string> forget;  // points removed explicitly (before retention)
  // A pack with more than this fraction of unused bytes is repacked; fully unused ones deleted.
  double max_unused_fraction = 0.0;
  bool dry_run = false;
};

struct PruneResult {
  std::vector<std::string> removed_points;
  std::uint64_t packs_deleted = 0;
  std::uint64_t packs_repacked = 0;
  std::uint64_t packs_written = 0;
  std::uint64_t bytes_freed = 0;
  std::uint64_t repository_bytes = 0;  // after pruning
};

// Compares a directory (e.g. a restore) with a point, file by file: type, size, mode, symlink
// target, and content by re-chunking and comparing chunk ids (a content hash per file).
struct VerifyResult {
  std::uint64_t entries_checked = 0;
  std::uint64_t bytes_checked = 0;
  std::vector<std::string> mismatches;
  [[nodiscard]] bool ok() const { return mismatches.empty(); }
};

// Copies recovery points to a second repository (another region), sending only the chunks the
// destination lacks. Both repositories must share chunker, hash and keys (a destination made by
// Repository::OpenOrCreateMirror does), so stored chunks move as they are and deduplication holds
// across them. Every chunk sent is verified first (decrypted, decompressed, hashed): a damaged
// source chunk fails the copy with kCorrupted before any point is added. Order of durability as
// in a backup: packs, index, manifests, catalog; a killed copy leaves packs the next copy indexes
// from their trailers and does not send again. Copied points keep their ids, plans, times and
// parents; they are added oldest first.
struct CopyRequest {
  // Point ids (unique prefixes or "latest"); empty: every point the destination lacks.
  std::vector<std::string> points;
  std::string plan;  // only points of this plan ("latest" is this plan's newest) when set
  unsigned threads = 0;
  ProgressFn progress;  // bytes_* count stored chunk bytes to send, files_* chunks
  // Test hook for crash tests, as BackupRequest::crash_hook: "pack" (n packs written), "index",
  // "manifest" (n manifests written).
  std::function<void(std::string_view stage, std::uint64_t n)> crash_hook;
};

struct CopyResult {
  std::vector<std::string> copied_points;   // added to the destination's catalog
  std::vector<std::string> present_points;  // asked for, already there
  std::uint64_t chunks_sent = 0;
  std::uint64_t chunks_present = 0;  // the destination had them (dedup)
  std::uint64_t bytes_sent = 0;      // stored chunk bytes written into new packs
  std::uint64_t packs_written = 0;
  std::uint64_t packs_recovered = 0;  // left by an interrupted copy, indexed from trailers
  std::chrono::nanoseconds duration{0};
};

struct RepositoryStats {
  std::uint64_t points = 0;
  std::uint64_t packs = 0;
  std::uint64_t pack_bytes = 0;
  std::uint64_t total_bytes = 0;  // everything in the store
};

class Repository {
 public:
  // Fails with kAlreadyExists when the store already holds a repository.
  [[nodiscard]] static Result<std::unique_ptr<Repository>> Create(std::shared_ptr<BlobStore> store,
                                                                  const RepositoryOptions& options,
                                                                  const Clock& clock);
  // kNotFound when there is no repository; kInvalidArgument when the passphrase is wrong or
  // missing for an encrypted one.
  [[nodiscard]] static Result<std::unique_ptr<Repository>> Open(std::shared_ptr<BlobStore> store,
                                                                const std::string& passphrase,
                                                                const Clock& clock);
  [[nodiscard]] static Result<bool> Exists(const BlobStore& store);
  // Opens the repository in `store` as a mirror of `source` (same chunker, hash and keys, so
  // chunks copy as stored), creating it with `source`'s parameters when the store is empty: its
  // own repository id, the source's wrapped keys (the same passphrase opens it with Open).
  // kFailedPrecondition, naming what differs, when `store` holds a repository with other
  // parameters; kInvalidArgument when it is `source` itself.
  [[nodiscard]] static Result<std::unique_ptr<Repository>> OpenOrCreateMirror(
      std::shared_ptr<BlobStore> store, const Repository& source, const Clock& clock);

  ~Repository();
  Repository(const Repository&) = delete;
  Repository& operator=(const Repository&) = delete;

  [[nodiscard]] const RepositoryInfo& info() const;
  [[nodiscard]] BlobStore& store() const;

  [[nodiscard]] Result<BackupResult> Backup(const BackupRequest& request);
  [[nodiscard]] Result<RestoreResult> Restore(const RestoreRequest& request) const;

  // Catalog, oldest first.
  [[nodiscard]] Result<std::vector<PointInfo>> ListPoints() const;
  [[nodiscard]] Result<PointInfo> GetPoint(const std::string& id) const;
  // Newest point of `plan` (any plan when empty), optionally of one strategy.
  [[nodiscard]] Result<PointInfo> LatestPoint(const std::string& plan = "",
                                              std::optional<Strategy> strategy = {}) const;
  [[nodiscard]] Result<Manifest> LoadManifest(const std::string& id) const;

  [[nodiscard]] Result<CheckReport> Check(bool read_data) const;
  [[nodiscard]] Result<PruneResult> Prune(const PruneOptions& options);
  [[nodiscard]] Result<VerifyResult> Verify(const std::string& point, const std::string& dir,
                                            const std::vector<std::string>& paths = {}) const;
  [[nodiscard]] Result<RepositoryStats> Stats() const;

  // Copies points into `destination` (see CopyRequest); takes the destination's lock.
  [[nodiscard]] Result<CopyResult> CopyTo(Repository& destination,
                                          const CopyRequest& request) const;

  struct State;  // implementation (src/backup/)

 private:
  explicit Repository(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace streamgate::backup
