// Repository::Backup: walk the sources, reuse unchanged files from the parent point, chunk,
// hash, deduplicate, compress, encrypt and pack the rest in parallel, then make the index,
// the manifest and the catalog durable, in that order.
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>
#include <unordered_map>

#include "backup/state.hpp"

namespace streamgate::backup {

using detail::ChunkSet;
using detail::IoError;

namespace {

namespace fs = std::filesystem;

struct WalkItem {
  FileEntry entry;
  std::string disk_path;
};

std::int64_t Nanos(const struct timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool Excluded(const std::string& path, const std::vector<std::string>& excludes) {
  const std::size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  for (const auto& pattern : excludes) {
    if (pattern.find('/') == std::string::npos) {
      if (::fnmatch(pattern.c_str(), base.c_str(), 0) == 0) return true;
    } else if (::fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0) {
      return true;
    }
  }
  return false;
}

class Walker {
 public:
  Walker(const std::vector<std::string>& excludes, std::vector<WalkItem>& out,
         std::vector<std::string>& warnings)
      : excludes_(excludes), out_(out), warnings_(warnings) {}

  // `path` is the manifest path; `disk` the path on disk.
  Status Visit(const std::string& path, const std::string& disk) {
    if (Excluded(path, excludes_)) return {};
    struct stat st {};
    if (::lstat(disk.c_str(), &st) != 0) {
      if (errno == ENOENT) {
        warnings_.push_back(disk + ": vanished during the backup");
        return {};
      }
      return IoError("stat " + disk + ": " + std::strerror(errno));
    }
    FileEntry e;
    e.path = path;
    e.mode = st.st_mode & 07777;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime_ns = Nanos(st.st_mtim);
    e.ctime_ns = Nanos(st.st_ctim);
    e.inode = st.st_ino;
    if (S_ISREG(st.st_mode)) {
      e.type = EntryType::kFile;
      e.size = static_cast<std::uint64_t>(st.st_size);
      out_.push_back({std::move(e), disk});
    } else if (S_ISLNK(st.st_mode)) {
      e.type = EntryType::kSymlink;
      std::string target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 256) + 1, '\0');
      const ssize_t n = ::readlink(disk.c_str(), target.data(), target.size());
      if (n < 0) {
        warnings_.push_back(disk + ": readlink failed: " + std::strerror(errno));
        return {};
      }
      target.resize(static_cast<std::size_t>(n));
      e.symlink_target = std::move(target);
      out_.push_back({std::move(e), disk});
    } else if (S_ISDIR(st.st_mode)) {
      e.type = EntryType::kDirectory;
      out_.push_back({std::move(e), disk});
      DIR* dir = ::opendir(disk.c_str());
      if (dir == nullptr) {
        warnings_.push_back(disk + ": cannot list: " + std::strerror(errno));
        return {};
      }
      std::vector<std::string> names;
      while (const dirent* d = ::readdir(dir)) {
        const std::string_view name = d->d_name;
        if (name == "." || name == "..") continue;
        names.emplace_back(name);
      }
      ::closedir(dir);
      std::sort(names.begin(), names.end());
      for (const auto& name : names) {
        if (auto st2 = Visit(path + "/" + name, disk + "/" + name); !st2) return st2;
      }
    } else {
      warnings_.push_back(disk + ": skipped (not a file, directory or symlink)");
    }
    return {};
  }

 private:
  const std::vector<std::string>& excludes_;
  std::vector<WalkItem>& out_;
  std::vector<std::string>& warnings_;
};

struct ChunkJob {
  std::uint32_t file = 0;
  std::uint32_t seq = 0;
  Bytes data;
};

bool SameFile(const FileEntry& a, const FileEntry& b) {
  return a.type == EntryType::kFile && b.type == EntryType::kFile && a.size == b.size &&
         a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns && a.inode == b.inode;
}

}  // namespace

Result<BackupResult> Repository::Backup(const BackupRequest& request) {
  State& s = *state_;
  const MonoTime started = s.clock->Now();
  if (request.sources.empty()) return InvalidArgument("backup needs at least one source");
  if (request.plan.empty()) return InvalidArgument("plan id is empty");
  if (request.plan.find_first_of("/\n") != std::string::npos) {
    return InvalidArgument("plan id must not contain '/' or newlines");
  }
  // Sources: absolute, existing, distinct base names.
  std::vector<std::pair<std::string, std::string>> sources;  // (stored name, absolute path)
  for (const auto& source : request.sources) {
    if (source.empty()) return InvalidArgument("source path is empty");
    std::error_code ec;
    fs::path abs = fs::absolute(source, ec).lexically_normal();
    if (ec) return InvalidArgument("source " + source + ": " + ec.message());
    if (!abs.has_filename() && abs.has_parent_path() && abs != abs.root_path()) {
      abs = abs.parent_path();
    }
    struct stat st {};
    if (::lstat(abs.c_str(), &st) != 0) {
      return InvalidArgument("source " + source + ": " + std::strerror(errno));
    }
    std::string name = abs == abs.root_path() ? "root" : abs.filename().string();
    for (const auto& [other, path] : sources) {
      if (other == name) {
        return InvalidArgument("sources " + path + " and " + abs.string() +
                               " share the base name '" + name + "'");
      }
    }
    // A source given as a symlink is followed (the link is what the operator named).
    if (S_ISLNK(st.st_mode)) {
      abs = fs::canonical(abs, ec);
      if (ec) return InvalidArgument("source " + source + ": " + ec.message());
    }
    sources.emplace_back(std::move(name), abs.string());
  }

  auto lock = detail::RepoLock::Acquire(*s.store, *s.clock, "backup");
  if (!lock) return std::unexpected(lock.error());

  BackupResult result;
  auto catalog = s.LoadCatalog();
  if (!catalog) return std::unexpected(catalog.error());
  auto index = s.LoadIndex();
  if (!index) return std::unexpected(index.error());
  // Packs of an interrupted backup: index them again so their chunks are reused.
  auto orphans = s.FindOrphanPacks(*index);
  if (!orphans) return std::unexpected(orphans.error());
  for (const auto& r : *orphans) index->Add(r);
  result.packs_recovered = orphans->size();

  // The base point unchanged files come from.
  std::optional<Manifest> parent;
  Strategy performed = request.strategy;
  if (request.strategy != Strategy::kFull) {
    for (auto it = catalog->rbegin(); it != catalog->rend(); ++it) {
      if (it->plan != request.plan || it->status != "complete") continue;
      if (request.strategy == Strategy::kDifferential && it->strategy != Strategy::kFull) continue;
      auto m = s.LoadManifest(it->id);
      if (!m) return std::unexpected(m.error());
      parent = std::move(*m);
      break;
    }
    if (!parent) performed = Strategy::kFull;  // nothing to compare with: everything is read
  }
  std::unordered_map<std::string, const FileEntry*> parent_files;
  if (parent) {
    for (const auto& e : parent->entries) {
      if (e.type == EntryType::kFile) parent_files.emplace(e.path, &e);
    }
  }

  std::vector<WalkItem> items;
  for (const auto& [name, path] : sources) {
    Walker walker(request.excludes, items, result.warnings);
    if (auto st = walker.Visit(name, path); !st) return std::unexpected(st.error());
  }

  // Decide which files are read.
  std::vector<std::uint32_t> to_read;
  Progress progress;
  for (std::uint32_t i = 0; i < items.size(); ++i) {
    FileEntry& e = items[i].entry;
    if (e.type != EntryType::kFile) continue;
    auto it = parent_files.find(e.path);
    if (it != parent_files.end() && SameFile(*it->second, e) &&
        std::all_of(it->second->chunks.begin(), it->second->chunks.end(),
                    [&](const ChunkId& c) { return index->chunks.contains(c); })) {
      e.chunks = it->second->chunks;
      ++result.files_unchanged;
      continue;
    }
    to_read.push_back(i);
    progress.bytes_total += e.size;
  }
  progress.files_total = to_read.size();

  // Pipeline: this thread reads and chunks; workers hash, deduplicate, compress, seal, pack.
  const unsigned threads = detail::ThreadCount(request.threads);
  detail::BoundedQueue<ChunkJob> queue(2 * threads);
  std::mutex mutex;  // guards the index, `pending`, file chunk lists, counters and `error`
  ChunkSet pending;
  std::vector<std::vector<ChunkId>> file_chunks(to_read.size());
  std::optional<Error> error;
  std::atomic<bool> failed{false};
  detail::PackWriter packs(*s.store, s.hasher, s.sealer, s.info.pack_size, [&](std::uint64_t n) {
    if (request.crash_hook) request.crash_hook("pack", n);
  });
  auto fail = [&](Error e) {
    std::lock_guard lock_guard(mutex);
    if (!error) error = std::move(e);
    failed = true;
    queue.Cancel();
  };
  const int level = s.info.compression_level;
  auto worker = [&] {
    while (auto job = queue.Pop()) {
      const ChunkId id = s.hasher.Hash(job->data);
      bool is_new = false;
      {
        std::lock_guard lock_guard(mutex);
        auto& list = file_chunks[job->file];
        if (list.size() <= job->seq) list.resize(job->seq + 1);
        list[job->seq] = id;
        if (!index->chunks.contains(id) && pending.insert(id).second) {
          is_new = true;
          ++result.chunks_new;
        } else {
          ++result.chunks_deduplicated;
        }
      }
      if (!is_new) continue;
      std::uint8_t flags = 0;
      auto compressed = detail::Compress(job->data, level);
      if (compressed) flags |= detail::kChunkCompressed;
      const ByteView plain = compressed ? ByteView(*compressed) : ByteView(job->data);
      Status st;
      if (s.sealer.enabled()) {
        st = packs.Add(id, s.sealer.Seal(plain, ByteView(id)),
                       static_cast<std::uint32_t>(job->data.size()), flags);
      } else {
        st = packs.Add(id, plain, static_cast<std::uint32_t>(job->data.size()), flags);
      }
      if (!st) {
        fail(st.error());
        return;
      }
    }
  };
  std::vector<std::jthread> workers;
  for (unsigned t = 0; t < threads; ++t) workers.emplace_back(worker);

  const FastCdc chunker(s.info.chunker);
  Bytes buffer;
  std::atomic<std::uint64_t> bytes_read{0};
  MonoTime last_report = s.clock->Now();
  auto report = [&](bool finished) {
    if (!request.progress) return;
    const MonoTime now = s.clock->Now();
    if (!finished && now - last_report < std::chrono::milliseconds(100)) return;
    last_report = now;
    progress.bytes_done = bytes_read.load();
    progress.elapsed = now - started;
    progress.finished = finished;
    request.progress(progress);
  };
  for (std::uint32_t f = 0; f < to_read.size() && !failed; ++f) {
    WalkItem& item = items[to_read[f]];
    int fd = ::open(item.disk_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
    if (fd < 0 && errno == EPERM) {
      fd = ::open(item.disk_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
      result.warnings.push_back(item.disk_path + ": cannot read: " + std::strerror(errno));
      item.entry.size = 0;
      item.entry.path.clear();  // dropped from the manifest
      continue;
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    std::uint32_t seq = 0;
    auto read = detail::ChunkFile(
        fd, chunker, buffer,
        [&](ByteView chunk) {
          return queue.Push(ChunkJob{f, seq++, Bytes(chunk.begin(), chunk.end())});
        },
        [&](std::uint64_t n) {
          bytes_read += n;
          report(false);
        });
    ::close(fd);
    if (!read) {
      if (failed) break;
      result.warnings.push_back(item.disk_path + ": " + read.error().message());
      item.entry.path.clear();
      continue;
    }
    item.entry.size = *read;  // what was read, even if the file changed meanwhile
    ++result.files_read;
    ++progress.files_done;
    report(false);
  }
  queue.Close();
  workers.clear();  // joins
  if (error) return std::unexpected(*error);
  if (auto st = packs.Finish(); !st) return std::unexpected(st.error());
  report(true);
  result.bytes_read = bytes_read.load();
  result.packs_written = packs.packs_written();

  // Index: the new packs and the recovered ones.
  std::vector<detail::PackRecord> records = packs.TakeRecords();
  records.insert(records.end(), orphans->begin(), orphans->end());
  if (auto st = s.WriteIndexFile(records); !st) return std::unexpected(st.error());
  if (request.crash_hook) request.crash_hook("index", records.size());

  // Manifest.
  Manifest manifest;
  PointInfo& point = manifest.point;
  point.id = detail::RandomHex(8);
  point.plan = request.plan;
  point.strategy = performed;
  point.created_at = s.clock->WallNow();
  point.parent = parent ? parent->point.id : "";
  for (const auto& [name, path] : sources) point.sources.push_back(path);
  point.stored_bytes = packs.bytes_written();
  for (std::uint32_t f = 0; f < to_read.size(); ++f) {
    items[to_read[f]].entry.chunks = std::move(file_chunks[f]);
  }
  manifest.entries.reserve(items.size());
  for (auto& item : items) {
    if (item.entry.path.empty()) continue;
    if (item.entry.type == EntryType::kFile) {
      ++point.file_count;
      point.logical_bytes += item.entry.size;
    }
    manifest.entries.push_back(std::move(item.entry));
  }
  point.entry_count = manifest.entries.size();
  if (auto st = s.SaveManifest(manifest); !st) return std::unexpected(st.error());
  if (request.crash_hook) request.crash_hook("manifest", 1);

  // Catalog: the point exists from here on.
  catalog->push_back(point);
  if (auto st = s.SaveCatalog(*catalog); !st) return std::unexpected(st.error());
  result.point = point;
  result.duration = s.clock->Now() - started;
  return result;
}

}  // namespace streamgate::backup
