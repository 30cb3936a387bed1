// Helpers for the backup tests: a temp directory per test, deterministic file trees and a
// tree comparison (type, content, mode, mtime, symlink target).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "streamgate/backup/repository.hpp"

namespace streamgate::backup::testing {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "sg-backup-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    // Restored directories may be read-only: make everything writable before removing.
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
    }
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }
  [[nodiscard]] std::string operator/(const std::string& rel) const {
    return (path_ / rel).string();
  }

 private:
  fs::path path_;
};

// Chunks of 16/64/256 KiB and 1 MiB packs: test-sized trees still make several of each.
inline RepositoryOptions SmallPackRepoOptions() {
  RepositoryOptions o;
  o.chunker.min_size = 16 * 1024;
  o.chunker.avg_size = 64 * 1024;
  o.chunker.max_size = 256 * 1024;
  o.pack_size = 1024 * 1024;
  return o;
}

inline std::string RandomBytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t v = rng();
    for (std::size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
  }
  return out;
}

inline std::string TextBytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  static const char* kWords[] = {"GET",     "/video/",     "200",   "segment", "bitrate", "edge",
                                 "us-east", "latency_ms=", "cache", "HIT",     "MISS",    "\n"};
  std::string out;
  while (out.size() < n) {
    out += kWords[rng() % 12];
    out += std::to_string(rng() % 1000);
    out += ' ';
  }
  out.resize(n);
  return out;
}

inline void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Size and a 64-bit FNV-1a digest: short enough for readable failure messages.
inline std::string ContentDigest(const std::string& content) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : content) h = (h ^ c) * 1099511628211ULL;
  return std::to_string(content.size()) + ":" + std::to_string(h);
}

// A description of a tree: path -> "type mode [mtime] content-or-target".
inline std::map<std::string, std::string> Describe(const fs::path& root, bool with_mtime = true) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string rel = it->path().lexically_relative(root).generic_string();
    struct stat st {};
    ::lstat(it->path().c_str(), &st);
    std::string d = std::to_string(st.st_mode & 07777) + " ";
    if (S_ISLNK(st.st_mode)) {
      d = "link " + fs::read_symlink(it->path()).string();
    } else if (S_ISDIR(st.st_mode)) {
      d = "dir " + d;
    } else {
      d = "file " + d +
          (with_mtime
               ? std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + " "
               : "") +
          ContentDigest(ReadFile(it->path()));
    }
    out[rel] = d;
  }
  return out;
}

}  // namespace streamgate::backup::testing
