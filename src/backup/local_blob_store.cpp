// LocalBlobStore: blobs as files under a root directory. Put writes "<dir>/.tmp-<name>-<rand>",
// fsyncs it, renames it over the name and fsyncs the directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "backup/codec.hpp"
#include "streamgate/backup/blob_store.hpp"

namespace streamgate::backup {
namespace {

namespace fs = std::filesystem;
using detail::Corrupted;
using detail::IoError;

std::string Errno(std::string_view what, const fs::path& path) {
  return std::string(what) + " " + path.string() + ": " + std::strerror(errno);
}

bool IsTemp(const std::string& filename) { return filename.starts_with(".tmp-"); }

Status WriteAll(int fd, ByteView bytes, const fs::path& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(Errno("write", path));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Status FsyncDir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError(Errno("open", dir));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return IoError(Errno("fsync", dir));
  return {};
}

class LocalBlobStore final : public BlobStore {
 public:
  explicit LocalBlobStore(fs::path root) : root_(std::move(root)) {}
  ~LocalBlobStore() override {
    for (auto& [name, fd] : fds_) ::close(fd.fd);
  }

  Status Put(std::string_view name, ByteView bytes) override { return Write(name, bytes, false); }
  Status PutExclusive(std::string_view name, ByteView bytes) override {
    return Write(name, bytes, true);
  }

  Result<Bytes> Get(std::string_view name) const override {
    if (auto st = ValidateBlobName(name); !st) return std::unexpected(st.error());
    const fs::path path = root_ / name;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return NotFound("no blob '" + std::string(name) + "'");
      return IoError(Errno("open", path));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return IoError(Errno("stat", path));
    }
    Bytes out(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        return IoError(Errno("read", path));
      }
      done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return out;
  }

  Result<Bytes> GetRange(std::string_view name, std::uint64_t offset,
                         std::uint64_t length) const override {
    if (auto st = ValidateBlobName(name); !st) return std::unexpected(st.error());
    auto fd = Acquire(name);
    if (!fd) return std::unexpected(fd.error());
    Bytes out(length);
    std::size_t done = 0;
    Status status;
    while (done < out.size()) {
      const ssize_t n =
          ::pread(*fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = IoError(Errno("read", root_ / name));
        break;
      }
      if (n == 0) {
        status = Corrupted("blob '" + std::string(name) + "' is shorter than expected");
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    Release(name, *fd);
    if (!status) return std::unexpected(status.error());
    return out;
  }

  Result<bool> Exists(std::string_view name) const override {
    if (auto st = ValidateBlobName(name); !st) return std::unexpected(st.error());
    struct stat st {};
    if (::stat((root_ / name).c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return IoError(Errno("stat", root_ / name));
  }

  Result<std::uint64_t> Size(std::string_view name) const override {
    if (auto st = ValidateBlobName(name); !st) return std::unexpected(st.error());
    struct stat st {};
    if (::stat((root_ / name).c_str(), &st) == 0) return static_cast<std::uint64_t>(st.st_size);
    if (errno == ENOENT || errno == ENOTDIR) return NotFound("no blob '" + std::string(name) + "'");
    return IoError(Errno("stat", root_ / name));
  }

  Result<std::vector<BlobInfo>> List(std::string_view prefix) const override {
    std::vector<BlobInfo> out;
    // Walk only the directory part of the prefix.
    const std::size_t slash = prefix.rfind('/');
    const fs::path start =
        slash == std::string_view::npos ? root_ : root_ / std::string(prefix.substr(0, slash));
    std::error_code ec;
    if (!fs::is_directory(start, ec)) return out;
    fs::recursive_directory_iterator it(start, ec), end;
    if (ec) return IoError("list " + start.string() + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) return IoError("list " + start.string() + ": " + ec.message());
      if (!it->is_regular_file(ec)) continue;
      const std::string filename = it->path().filename().string();
      if (IsTemp(filename)) continue;
      std::string name = it->path().lexically_relative(root_).generic_string();
      if (!name.starts_with(prefix)) continue;
      out.push_back({std::move(name), static_cast<std::uint64_t>(it->file_size(ec))});
    }
    std::sort(out.begin(), out.end(),
              [](const BlobInfo& a, const BlobInfo& b) { return a.name < b.name; });
    return out;
  }

  Status Delete(std::string_view name) override {
    if (auto st = ValidateBlobName(name); !st) return st;
    Forget(name);
    if (::unlink((root_ / name).c_str()) != 0 && errno != ENOENT) {
      return IoError(Errno("unlink", root_ / name));
    }
    return {};
  }

  std::string Location() const override { return root_.string(); }

 private:
  struct CachedFd {
    int fd = -1;
    int users = 0;
    bool stale = false;
  };

  Status Write(std::string_view name, ByteView bytes, bool exclusive) {
    if (auto st = ValidateBlobName(name); !st) return st;
    const fs::path path = root_ / name;
    const fs::path dir = path.parent_path();
    if (auto st = MakeDirs(dir); !st) return st;
    const fs::path tmp = dir / (".tmp-" + path.filename().string() + "-" + detail::RandomHex(6));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return IoError(Errno("create", tmp));
    Status st = WriteAll(fd, bytes, tmp);
    if (st && ::fsync(fd) != 0) st = IoError(Errno("fsync", tmp));
    ::close(fd);
    if (st) {
      if (exclusive) {
        // link() fails if the name exists: an atomic create-if-absent.
        if (::link(tmp.c_str(), path.c_str()) != 0) {
          st = errno == EEXIST ? AlreadyExists("blob '" + std::string(name) + "' exists")
                               : Status(IoError(Errno("link", path)));
        }
        ::unlink(tmp.c_str());
      } else {
        Forget(name);
        if (::rename(tmp.c_str(), path.c_str()) != 0) st = IoError(Errno("rename", path));
      }
    }
    if (!st) {
      ::unlink(tmp.c_str());
      return st;
    }
    return FsyncDir(dir);
  }

  Status MakeDirs(const fs::path& dir) {
    {
      std::lock_guard lock(mutex_);
      if (made_dirs_.contains(dir.string())) return {};
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return IoError("mkdir " + dir.string() + ": " + ec.message());
    // Make the new directory entries durable too, up to the root's own entry.
    for (fs::path p = dir; p.has_parent_path() && p != p.parent_path(); p = p.parent_path()) {
      if (auto st = FsyncDir(p.parent_path()); !st) return st;
      if (p == root_) break;
    }
    std::lock_guard lock(mutex_);
    made_dirs_.insert(dir.string());
    return {};
  }

  // Open files for GetRange, shared by readers; at most kMaxFds kept open.
  Result<int> Acquire(std::string_view name) const {
    std::lock_guard lock(mutex_);
    auto it = fds_.find(std::string(name));
    if (it != fds_.end() && !it->second.stale) {
      ++it->second.users;
      return it->second.fd;
    }
    const fs::path path = root_ / name;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return NotFound("no blob '" + std::string(name) + "'");
      return IoError(Errno("open", path));
    }
    if (it == fds_.end()) {
      if (fds_.size() >= kMaxFds) EvictIdle();
      fds_.emplace(std::string(name), CachedFd{fd, 1, false});
    } else {
      // A stale entry still in use elsewhere: this reader gets a private fd.
      extra_fds_.insert(fd);
    }
    return fd;
  }

  void Release(std::string_view name, int fd) const {
    std::lock_guard lock(mutex_);
    if (extra_fds_.erase(fd) != 0) {
      ::close(fd);
      return;
    }
    auto it = fds_.find(std::string(name));
    if (it == fds_.end() || it->second.fd != fd) return;
    if (--it->second.users == 0 && it->second.stale) {
      ::close(fd);
      fds_.erase(it);
    }
  }

  void Forget(std::string_view name) {
    std::lock_guard lock(mutex_);
    auto it = fds_.find(std::string(name));
    if (it == fds_.end()) return;
    if (it->second.users == 0) {
      ::close(it->second.fd);
      fds_.erase(it);
    } else {
      it->second.stale = true;
    }
  }

  void EvictIdle() const {
    for (auto it = fds_.begin(); it != fds_.end();) {
      if (it->second.users == 0) {
        ::close(it->second.fd);
        it = fds_.erase(it);
      } else {
        ++it;
      }
    }
  }

  static constexpr std::size_t kMaxFds = 64;
  fs::path root_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, CachedFd> fds_;
  mutable std::unordered_set<int> extra_fds_;
  std::unordered_set<std::string> made_dirs_;
};

}  // namespace

Status ValidateBlobName(std::string_view name) {
  if (name.empty()) return InvalidArgument("blob name is empty");
  if (name.front() == '/' || name.back() == '/') {
    return InvalidArgument("blob name '" + std::string(name) + "' starts or ends with '/'");
  }
  if (auto st = ValidateEntryPath(name); !st) {
    return InvalidArgument("blob name '" + std::string(name) + "' is not a clean relative path");
  }
  return {};
}

Result<std::shared_ptr<BlobStore>> MakeLocalBlobStore(const std::filesystem::path& root) {
  if (root.empty()) return InvalidArgument("repository path is empty");
  std::error_code ec;
  fs::path absolute = fs::absolute(root, ec);
  if (ec) return IoError("resolve " + root.string() + ": " + ec.message());
  absolute = absolute.lexically_normal();
  if (absolute.has_filename() == false && absolute.has_parent_path() && absolute != "/") {
    absolute = absolute.parent_path();
  }
  if (fs::exists(absolute, ec) && !fs::is_directory(absolute, ec)) {
    return InvalidArgument("repository path " + absolute.string() + " is not a directory");
  }
  return std::shared_ptr<BlobStore>(std::make_shared<LocalBlobStore>(absolute));
}

Result<std::shared_ptr<BlobStore>> OpenBlobStore(std::string_view location) {
  if (location.empty()) return InvalidArgument("repository location is empty");
  const std::size_t scheme = location.find("://");
  if (scheme != std::string_view::npos) {
    const std::string_view name = location.substr(0, scheme);
    if (name == "file") return MakeLocalBlobStore(std::string(location.substr(scheme + 3)));
    if (name == "s3") {
      const std::string_view rest = location.substr(scheme + 3);
      const std::size_t slash = rest.find('/');
      S3Options options;
      options.bucket = std::string(rest.substr(0, slash));
      if (slash != std::string_view::npos) options.prefix = std::string(rest.substr(slash + 1));
      FillS3OptionsFromEnvironment(options);
      return MakeS3BlobStore(std::move(options));
    }
    return InvalidArgument("repository scheme '" + std::string(name) +
                           "://' is not supported (local directories and s3:// only)");
  }
  return MakeLocalBlobStore(std::string(location));
}

}  // namespace streamgate::backup
