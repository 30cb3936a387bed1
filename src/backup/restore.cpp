// Repository::Restore and Repository::Verify.
//
// Restore never follows a symlink below the target: every parent directory is opened with
// O_NOFOLLOW, one component at a time, and entries whose path is absolute or has a ".." part
// are refused. Files are written to a temporary name and renamed into place once complete and
// verified; directory modes and times are applied last, deepest first.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <thread>

#include "backup/state.hpp"

namespace streamgate::backup {

using detail::Corrupted;
using detail::IoError;

namespace {

namespace fs = std::filesystem;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Reset(); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_ = -1;
};

std::string Err(std::string_view what, std::string_view path) {
  return std::string(path) + ": " + std::string(what) + ": " + std::strerror(errno);
}

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// The directory that holds `path` below `root`, opened without following symlinks.
Result<Fd> OpenParent(int root, std::string_view path, bool create) {
  Fd cur(::openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (cur.get() < 0) return IoError(Err("open target", path));
  const auto parts = Split(path);
  std::string walked;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string part(parts[i]);
    walked += (walked.empty() ? "" : "/") + part;
    int next = ::openat(cur.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create) {
      if (::mkdirat(cur.get(), part.c_str(), 0755) != 0 && errno != EEXIST) {
        return IoError(Err("mkdir", walked));
      }
      next = ::openat(cur.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0) {
      if (errno == ELOOP || errno == ENOTDIR) {
        return InvalidArgument("refused " + std::string(path) + ": parent '" + walked +
                               "' is a symlink or not a directory");
      }
      return IoError(Err("open", walked));
    }
    cur = Fd(next);
  }
  return cur;
}

std::string BaseName(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

struct timespec ToTimespec(std::int64_t ns) {
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1'000'000'000;
    ts.tv_sec -= 1;
  }
  return ts;
}

Status WriteAll(int fd, ByteView bytes, std::string_view path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(Err("write", path));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

bool Selected(const std::string& path, const std::vector<std::string>& subsets) {
  if (subsets.empty()) return true;
  for (const auto& s : subsets) {
    if (path == s || (path.size() > s.size() && path.starts_with(s) && path[s.size()] == '/')) {
      return true;
    }
  }
  return false;
}

Result<std::vector<std::string>> NormalizeSubsets(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (std::string p : paths) {
    while (p.starts_with("./")) p.erase(0, 2);
    while (p.size() > 1 && p.ends_with('/')) p.pop_back();
    if (auto st = ValidateEntryPath(p); !st) {
      return InvalidArgument("--path '" + p + "': " + st.error().message());
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

Result<RestoreResult> Repository::Restore(const RestoreRequest& request) const {
  const State& s = *state_;
  const MonoTime started = s.clock->Now();
  if (request.point.empty()) return InvalidArgument("restore needs a point id or 'latest'");
  if (request.target.empty()) return InvalidArgument("restore needs a target directory");
  auto subsets = NormalizeSubsets(request.paths);
  if (!subsets) return std::unexpected(subsets.error());
  auto point = s.ResolvePoint(request.point, request.plan);
  if (!point) return std::unexpected(point.error());
  auto manifest = s.LoadManifest(point->id);
  if (!manifest) return std::unexpected(manifest.error());
  auto index = s.LoadIndex();
  if (!index) return std::unexpected(index.error());

  std::error_code ec;
  fs::create_directories(request.target, ec);
  if (ec) return IoError("create target " + request.target + ": " + ec.message());
  Fd root(::open(request.target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return IoError(Err("open", request.target));

  RestoreResult result;
  result.point = point->id;
  std::mutex mutex;
  auto fail = [&](std::string message) {
    std::lock_guard lock(mutex);
    result.errors.push_back(std::move(message));
  };
  const bool as_root = ::geteuid() == 0;

  std::vector<const FileEntry*> dirs;
  std::vector<const FileEntry*> files;
  std::vector<const FileEntry*> links;
  Progress progress;
  for (const auto& e : manifest->entries) {
    if (!Selected(e.path, *subsets)) continue;
    if (auto st = ValidateEntryPath(e.path); !st) {
      fail("refused entry '" + e.path + "': " + st.error().message());
      continue;
    }
    switch (e.type) {
      case EntryType::kDirectory:
        dirs.push_back(&e);
        break;
      case EntryType::kFile:
        files.push_back(&e);
        progress.bytes_total += e.size;
        break;
      case EntryType::kSymlink:
        links.push_back(&e);
        break;
    }
  }
  if (!subsets->empty() && dirs.empty() && files.empty() && links.empty()) {
    return NotFound("no entry of point " + point->id + " matches the --path subset");
  }
  progress.files_total = files.size();

  // 1. Directories (writable by us until their modes are applied in step 4).
  std::vector<const FileEntry*> made_dirs;
  for (const FileEntry* e : dirs) {
    auto parent = OpenParent(root.get(), e->path, true);
    if (!parent) {
      fail(parent.error().message());
      continue;
    }
    const std::string name = BaseName(e->path);
    if (::mkdirat(parent->get(), name.c_str(), 0700) != 0) {
      struct stat st {};
      if (errno != EEXIST ||
          ::fstatat(parent->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISDIR(st.st_mode)) {
        fail("refused directory '" + e->path + "': exists and is not a directory");
        continue;
      }
      // Restoring again over a read-only directory: writable until step 4.
      if ((st.st_mode & S_IRWXU) != S_IRWXU) {
        (void)::fchmodat(parent->get(), name.c_str(), (st.st_mode & 07777) | S_IRWXU, 0);
      }
    }
    made_dirs.push_back(e);
    ++result.directories;
  }

  // 2. Files, in parallel: read, verify, write to a temporary name, rename.
  std::atomic<std::uint64_t> bytes_written{0};
  std::atomic<std::uint64_t> files_done{0};
  // Each worker keeps its last parent directory open: files arrive sorted, so most share it.
  static std::atomic<std::uint64_t> generations{0};
  const std::uint64_t generation = ++generations;
  struct ParentCache {
    std::uint64_t generation = 0;
    std::string dir;
    std::shared_ptr<Fd> fd;
  };
  // On stores where a request is a round trip (S3), each worker reads a window of the pack
  // and serves the next chunks from it: files of a run were packed one after the other, so
  // most of their chunks are in the window already.
  const std::uint64_t read_ahead = s.store->PreferredReadSize();
  struct PackWindow {
    std::uint64_t generation = 0;
    std::uint32_t pack = 0;
    std::uint64_t offset = 0;
    Bytes bytes;
  };
  auto read_stored = [&](const detail::Location& loc) -> Result<Bytes> {
    const std::string pack_name = detail::PackName(index->packs[loc.pack]);
    if (read_ahead == 0) return s.store->GetRange(pack_name, loc.offset, loc.stored);
    thread_local PackWindow window;
    const bool hit = window.generation == generation && window.pack == loc.pack &&
                     loc.offset >= window.offset &&
                     loc.offset + loc.stored <= window.offset + window.bytes.size();
    if (!hit) {
      const std::uint64_t pack_size = index->pack_sizes[loc.pack];
      std::uint64_t length = std::max<std::uint64_t>(read_ahead, loc.stored);
      if (pack_size > loc.offset) length = std::min(length, pack_size - loc.offset);
      length = std::max<std::uint64_t>(length, loc.stored);
      auto bytes = s.store->GetRange(pack_name, loc.offset, length);
      if (!bytes) return bytes;
      window = {generation, loc.pack, loc.offset, std::move(*bytes)};
    }
    const auto begin =
        window.bytes.begin() + static_cast<std::ptrdiff_t>(loc.offset - window.offset);
    return Bytes(begin, begin + loc.stored);
  };
  auto restore_file = [&](std::size_t i) {
    const FileEntry& e = *files[i];
    thread_local ParentCache cache;
    const std::string dir_path = e.path.substr(0, e.path.rfind('/') + 1);
    if (cache.generation != generation || cache.dir != dir_path || !cache.fd) {
      cache.fd.reset();
      auto opened = OpenParent(root.get(), e.path, true);
      if (!opened) {
        fail(opened.error().message());
        return;
      }
      cache = {generation, dir_path, std::make_shared<Fd>(std::move(*opened))};
    }
    const std::shared_ptr<Fd> parent = cache.fd;
    const std::string name = BaseName(e.path);
    const std::string tmp = ".sg-restore-" + detail::RandomHex(6);
    Fd out(::openat(parent->get(), tmp.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (out.get() < 0) {
      fail(Err("create", e.path));
      return;
    }
    auto abandon = [&](std::string message) {
      out.Reset();
      ::unlinkat(parent->get(), tmp.c_str(), 0);
      fail(std::move(message));
    };
    std::uint64_t written = 0;
    for (const ChunkId& id : e.chunks) {
      auto loc = index->chunks.find(id);
      if (loc == index->chunks.end()) {
        return abandon(e.path + ": chunk " + ToHex(id) + " is missing from the repository");
      }
      auto stored = read_stored(loc->second);
      if (!stored) return abandon(e.path + ": " + stored.error().message());
      auto plain = detail::OpenChunk(*stored, id, loc->second, s.hasher, s.sealer);
      if (!plain) return abandon(e.path + ": " + plain.error().message());
      if (auto st = WriteAll(out.get(), *plain, e.path); !st) {
        return abandon(st.error().message());
      }
      written += plain->size();
      bytes_written += plain->size();
    }
    if (written != e.size) return abandon(e.path + ": restored size differs from the manifest");
    if (as_root && ::fchown(out.get(), e.uid, e.gid) != 0) {
      return abandon(Err("chown", e.path));
    }
    if (::fchmod(out.get(), e.mode) != 0) return abandon(Err("chmod", e.path));
    const struct timespec times[2] = {ToTimespec(e.mtime_ns), ToTimespec(e.mtime_ns)};
    if (::futimens(out.get(), times) != 0) return abandon(Err("set times", e.path));
    out.Reset();
    if (::renameat(parent->get(), tmp.c_str(), parent->get(), name.c_str()) != 0) {
      const std::string message = Err("rename into place", e.path);
      ::unlinkat(parent->get(), tmp.c_str(), 0);
      fail(message);
      return;
    }
    ++files_done;
  };
  MonoTime last_report = s.clock->Now();
  auto tick = [&] {
    if (!request.progress) return;
    const MonoTime now = s.clock->Now();
    if (now - last_report < std::chrono::milliseconds(100)) return;
    last_report = now;
    progress.files_done = files_done.load();
    progress.bytes_done = bytes_written.load();
    progress.elapsed = now - started;
    request.progress(progress);
  };
  // Work in runs of files sharing a directory (at most 256 files or 64 MiB each), so workers
  // rarely create files in the same directory at once (its lock is contended otherwise).
  std::vector<std::pair<std::size_t, std::size_t>> runs;
  for (std::size_t i = 0; i < files.size();) {
    const std::string_view dir =
        std::string_view(files[i]->path).substr(0, files[i]->path.rfind('/') + 1);
    std::size_t j = i;
    std::uint64_t bytes = 0;
    while (j < files.size() && j - i < 256 && bytes < (64ULL << 20) &&
           std::string_view(files[j]->path).substr(0, files[j]->path.rfind('/') + 1) == dir) {
      bytes += files[j]->size;
      ++j;
    }
    runs.emplace_back(i, j);
    i = j;
  }
  // Remote stores are latency-bound: more requests in flight than cores.
  const unsigned threads =
      request.threads == 0 && read_ahead > 0
          ? std::max(detail::ThreadCount(0), std::min(8U, s.store->PreferredWriteConcurrency() * 2))
          : detail::ThreadCount(request.threads);
  detail::ParallelFor(
      runs.size(), threads,
      [&](std::size_t r) {
        for (std::size_t i = runs[r].first; i < runs[r].second; ++i) restore_file(i);
      },
      tick);
  result.files = files_done.load();
  result.bytes_written = bytes_written.load();

  // 3. Symlinks (never followed: created under a temporary name and renamed).
  for (const FileEntry* e : links) {
    auto parent = OpenParent(root.get(), e->path, true);
    if (!parent) {
      fail(parent.error().message());
      continue;
    }
    const std::string name = BaseName(e->path);
    const std::string tmp = ".sg-restore-" + detail::RandomHex(6);
    if (::symlinkat(e->symlink_target.c_str(), parent->get(), tmp.c_str()) != 0) {
      fail(Err("symlink", e->path));
      continue;
    }
    if (as_root) (void)::fchownat(parent->get(), tmp.c_str(), e->uid, e->gid, AT_SYMLINK_NOFOLLOW);
    const struct timespec times[2] = {ToTimespec(e->mtime_ns), ToTimespec(e->mtime_ns)};
    (void)::utimensat(parent->get(), tmp.c_str(), times, AT_SYMLINK_NOFOLLOW);
    if (::renameat(parent->get(), tmp.c_str(), parent->get(), name.c_str()) != 0) {
      fail(Err("rename into place", e->path));
      ::unlinkat(parent->get(), tmp.c_str(), 0);
      continue;
    }
    ++result.symlinks;
  }

  // 4. Directory modes, owners and times, deepest first (writing inside changes mtimes).
  for (auto it = made_dirs.rbegin(); it != made_dirs.rend(); ++it) {
    const FileEntry& e = **it;
    auto parent = OpenParent(root.get(), e.path, false);
    if (!parent) {
      fail(parent.error().message());
      continue;
    }
    const std::string name = BaseName(e.path);
    Fd dir(::openat(parent->get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (dir.get() < 0) {
      fail(Err("open", e.path));
      continue;
    }
    if (as_root) (void)::fchown(dir.get(), e.uid, e.gid);
    if (::fchmod(dir.get(), e.mode) != 0) fail(Err("chmod", e.path));
    const struct timespec times[2] = {ToTimespec(e.mtime_ns), ToTimespec(e.mtime_ns)};
    if (::futimens(dir.get(), times) != 0) fail(Err("set times", e.path));
  }

  if (request.progress) {
    progress.files_done = result.files;
    progress.bytes_done = result.bytes_written;
    progress.elapsed = s.clock->Now() - started;
    progress.finished = true;
    request.progress(progress);
  }
  std::sort(result.errors.begin(), result.errors.end());
  result.duration = s.clock->Now() - started;
  return result;
}

Result<VerifyResult> Repository::Verify(const std::string& point_id, const std::string& dir,
                                        const std::vector<std::string>& paths) const {
  const State& s = *state_;
  if (dir.empty()) return InvalidArgument("verify needs a directory");
  auto subsets = NormalizeSubsets(paths);
  if (!subsets) return std::unexpected(subsets.error());
  auto point = s.ResolvePoint(point_id, "");
  if (!point) return std::unexpected(point.error());
  auto manifest = s.LoadManifest(point->id);
  if (!manifest) return std::unexpected(manifest.error());

  std::vector<const FileEntry*> entries;
  for (const auto& e : manifest->entries) {
    if (Selected(e.path, *subsets) && ValidateEntryPath(e.path)) entries.push_back(&e);
  }
  VerifyResult result;
  std::mutex mutex;
  std::atomic<std::uint64_t> bytes{0};
  auto mismatch = [&](std::string message) {
    std::lock_guard lock(mutex);
    result.mismatches.push_back(std::move(message));
  };
  const FastCdc chunker(s.info.chunker);
  auto check = [&](std::size_t i) {
    const FileEntry& e = *entries[i];
    const std::string path = dir + "/" + e.path;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return mismatch(e.path + ": missing");
    const bool type_ok = (e.type == EntryType::kFile && S_ISREG(st.st_mode)) ||
                         (e.type == EntryType::kDirectory && S_ISDIR(st.st_mode)) ||
                         (e.type == EntryType::kSymlink && S_ISLNK(st.st_mode));
    if (!type_ok) return mismatch(e.path + ": not a " + std::string(ToString(e.type)));
    if (e.type != EntryType::kSymlink && (st.st_mode & 07777) != e.mode) {
      return mismatch(e.path + ": mode differs");
    }
    if (e.type == EntryType::kSymlink) {
      std::string target(4096, '\0');
      const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
      if (n < 0 || target.substr(0, static_cast<std::size_t>(n)) != e.symlink_target) {
        return mismatch(e.path + ": symlink target differs");
      }
      return;
    }
    if (e.type != EntryType::kFile) return;
    if (static_cast<std::uint64_t>(st.st_size) != e.size)
      return mismatch(e.path + ": size differs");
    Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) return mismatch(e.path + ": cannot read");
    thread_local Bytes buffer;
    std::size_t n = 0;
    bool same = true;
    auto read = detail::ChunkFile(fd.get(), chunker, buffer,
                                  [&](ByteView chunk) {
                                    same =
                                        n < e.chunks.size() && s.hasher.Hash(chunk) == e.chunks[n];
                                    ++n;
                                    return same;
                                  },
                                  {});
    if (!read || !same || n != e.chunks.size()) return mismatch(e.path + ": content differs");
    bytes += *read;
  };
  detail::ParallelFor(entries.size(), detail::ThreadCount(0), check, {});
  result.entries_checked = entries.size();
  result.bytes_checked = bytes.load();
  std::sort(result.mismatches.begin(), result.mismatches.end());
  return result;
}

}  // namespace streamgate::backup
