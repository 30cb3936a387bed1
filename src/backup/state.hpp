// Internal: the repository's in-memory state and the pieces shared by backup, restore, check
// and prune (index, lock, pack writer, bounded queue).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backup/codec.hpp"
#include "backup/format.hpp"
#include "streamgate/backup/repository.hpp"

namespace streamgate::backup {

namespace detail {

struct ChunkIdHash {
  std::size_t operator()(const ChunkId& id) const {
    std::size_t v;
    std::memcpy(&v, id.data(), sizeof v);
    return v;
  }
};
using ChunkSet = std::unordered_set<ChunkId, ChunkIdHash>;

struct Location {
  std::uint64_t offset = 0;
  std::uint32_t pack = 0;  // position in Index::packs
  std::uint32_t stored = 0;
  std::uint32_t raw = 0;
  std::uint8_t flags = 0;
};

struct Index {
  std::vector<ChunkId> packs;
  std::vector<std::uint64_t> pack_sizes;
  std::unordered_map<ChunkId, std::uint32_t, ChunkIdHash> pack_numbers;
  std::unordered_map<ChunkId, Location, ChunkIdHash> chunks;
  std::vector<std::string> files;  // index/... blobs this was loaded from

  // Returns the pack's number; entries already known keep their first location.
  std::uint32_t Add(const PackRecord& record);
  [[nodiscard]] std::vector<PackRecord> Records() const;  // regrouped by pack
};

// Reads a pack's trailer (its own list of chunks) so an unindexed pack can be indexed again.
[[nodiscard]] Result<PackRecord> ReadPackTrailer(const BlobStore& store, const ChunkId& pack,
                                                 std::uint64_t size, const Sealer& sealer);

// Holds the repository's "lock" blob; released (deleted if still ours) on destruction.
class RepoLock {
 public:
  [[nodiscard]] static Result<std::unique_ptr<RepoLock>> Acquire(BlobStore& store,
                                                                 const Clock& clock,
                                                                 std::string_view command);
  ~RepoLock();
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;

 private:
  RepoLock(BlobStore& store, std::string nonce) : store_(store), nonce_(std::move(nonce)) {}
  BlobStore& store_;
  std::string nonce_;
};

// A bounded multi-producer multi-consumer queue: memory stays bounded whatever the data size.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}
  bool Push(T item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }
  std::optional<T> Pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }
  // No more pushes; pops drain what is queued, then return nullopt.
  void Close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }
  // Close and drop what is queued (on error).
  void Cancel() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    items_.clear();
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  bool closed_ = false;
};

// Appends stored chunk blobs to packs of ~pack_size; background threads write full packs (Put:
// durable) while the callers keep adding. `writers` threads (0: the store's
// PreferredWriteConcurrency(), e.g. 1 local, 4 on S3) write at once and at most as many packs
// wait, so memory stays bounded to about 2 x writers + 1 packs. Packs may land in any order;
// records are per pack, so the order does not matter. `on_pack` runs on a writer thread after
// each Put (concurrently when writers > 1) with the count of packs written so far.
// Thread-safe. Finish() must be called to write the last pack and learn of write errors.
class PackWriter {
 public:
  using PackHook = std::function<void(std::uint64_t packs_written)>;
  PackWriter(BlobStore& store, const Hasher& hasher, const Sealer& sealer, std::uint64_t pack_size,
             PackHook on_pack = {}, unsigned writers = 0);
  ~PackWriter();
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;

  [[nodiscard]] Status Add(const ChunkId& id, ByteView blob, std::uint32_t raw, std::uint8_t flags);
  [[nodiscard]] Status Finish();  // writes the last, partly filled pack; waits for all writes

  [[nodiscard]] std::vector<PackRecord> TakeRecords();
  [[nodiscard]] std::uint64_t packs_written() const;
  [[nodiscard]] std::uint64_t bytes_written() const;

 private:
  struct Pending {
    Bytes pack;
    std::vector<IndexEntry> entries;
  };
  Status Write(Bytes pack, std::vector<IndexEntry> entries);
  Status FirstError() const;

  BlobStore& store_;
  const Hasher& hasher_;
  const Sealer& sealer_;
  std::uint64_t pack_size_;
  PackHook on_pack_;
  mutable std::mutex mutex_;
  Bytes current_;
  std::vector<IndexEntry> current_entries_;
  std::vector<PackRecord> records_;
  std::uint64_t packs_written_ = 0;
  std::uint64_t bytes_written_ = 0;
  std::optional<Error> error_;
  std::unique_ptr<BoundedQueue<Pending>> queue_;
  std::vector<std::thread> writers_;
};

// Reads a chunk's plaintext and checks its id.
[[nodiscard]] Result<Bytes> OpenChunk(ByteView stored, const ChunkId& id, const Location& loc,
                                      const Hasher& hasher, const Sealer& sealer);

// Splits a regular file into chunks with FastCDC; calls `on_chunk` for each, in order.
// Returns the bytes read. `buffer` is reused between calls (2 x max chunk size).
[[nodiscard]] Result<std::uint64_t> ChunkFile(int fd, const FastCdc& chunker, Bytes& buffer,
                                              const std::function<bool(ByteView)>& on_chunk,
                                              const std::function<void(std::uint64_t)>& on_read);

[[nodiscard]] unsigned ThreadCount(unsigned requested);

// Runs fn(i) for i in [0, n) on `threads` threads; `tick` runs on the caller every ~100 ms.
void ParallelFor(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& fn,
                 const std::function<void()>& tick);

}  // namespace detail

struct Repository::State {
  std::shared_ptr<BlobStore> store;
  const Clock* clock = nullptr;
  RepositoryInfo info;
  detail::Hasher hasher{HashAlgorithm::kSha256, std::nullopt};
  detail::Sealer sealer;

  [[nodiscard]] Result<std::vector<PointInfo>> LoadCatalog() const;  // empty when absent
  [[nodiscard]] Status SaveCatalog(const std::vector<PointInfo>& points) const;
  [[nodiscard]] Result<Manifest> LoadManifest(const std::string& id) const;
  [[nodiscard]] Status SaveManifest(const Manifest& manifest) const;
  // All index files; problems are returned as errors unless `problems` collects them.
  [[nodiscard]] Result<detail::Index> LoadIndex(std::vector<std::string>* problems = nullptr) const;
  // Packs in the store that the index does not list, read from their trailers.
  [[nodiscard]] Result<std::vector<detail::PackRecord>> FindOrphanPacks(
      const detail::Index& index, std::vector<std::string>* problems = nullptr) const;
  [[nodiscard]] Status WriteIndexFile(const std::vector<detail::PackRecord>& records) const;
  [[nodiscard]] Result<PointInfo> ResolvePoint(const std::string& id,
                                               const std::string& plan) const;
};

}  // namespace streamgate::backup
