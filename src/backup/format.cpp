#include "backup/format.hpp"

#include <sodium.h>

#include <nlohmann/json.hpp>

namespace streamgate::backup {

std::string ToHex(const ChunkId& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (std::size_t i = 0; i < id.size(); ++i) {
    out[2 * i] = kDigits[id[i] >> 4];
    out[2 * i + 1] = kDigits[id[i] & 15];
  }
  return out;
}

Result<ChunkId> ChunkIdFromHex(std::string_view hex) {
  if (hex.size() != 64) return InvalidArgument("chunk id must be 64 hex digits");
  ChunkId id;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return InvalidArgument("chunk id must be lower-case hex");
    id[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return id;
}

std::string_view ToString(HashAlgorithm algorithm) {
  return algorithm == HashAlgorithm::kSha256 ? "sha256" : "blake2b-256";
}

Result<HashAlgorithm> ParseHashAlgorithm(std::string_view text) {
  if (text == "sha256") return HashAlgorithm::kSha256;
  if (text == "blake2b-256") return HashAlgorithm::kBlake2b256;
  return InvalidArgument("unknown hash '" + std::string(text) + "' (sha256, blake2b-256)");
}

std::string_view ToString(Strategy strategy) {
  switch (strategy) {
    case Strategy::kFull:
      return "full";
    case Strategy::kIncremental:
      return "incremental";
    case Strategy::kDifferential:
      return "differential";
  }
  return "full";
}

Result<Strategy> ParseStrategy(std::string_view text) {
  if (text == "full") return Strategy::kFull;
  if (text == "incremental") return Strategy::kIncremental;
  if (text == "differential") return Strategy::kDifferential;
  return InvalidArgument("unknown strategy '" + std::string(text) +
                         "' (full, incremental, differential)");
}

std::string_view ToString(EntryType type) {
  switch (type) {
    case EntryType::kFile:
      return "file";
    case EntryType::kDirectory:
      return "dir";
    case EntryType::kSymlink:
      return "symlink";
  }
  return "file";
}

Status ValidateEntryPath(std::string_view path) {
  if (path.empty()) return InvalidArgument("empty path");
  if (path.find('\0') != std::string_view::npos) return InvalidArgument("path contains NUL");
  if (path.front() == '/') return InvalidArgument("absolute path '" + std::string(path) + "'");
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return InvalidArgument("path '" + std::string(path) + "' has an empty, '.' or '..' part");
    }
    start = end + 1;
  }
  return {};
}

namespace detail {
namespace {

using nlohmann::json;

constexpr std::size_t kEntryBytes = 32 + 8 + 4 + 4 + 1;

void PutString(Writer& w, std::string_view s) {
  w.U32(static_cast<std::uint32_t>(s.size()));
  w.Raw(s.data(), s.size());
}

bool GetString(Reader& r, std::string& s) {
  std::uint32_t n = 0;
  if (!r.U32(n) || n > r.remaining()) return false;
  s.resize(n);
  return r.Raw(s.data(), n);
}

std::int64_t ToNanos(WallTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
WallTime FromNanos(std::int64_t ns) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(ns)));
}

json PointToJson(const PointInfo& p) {
  return json{{"id", p.id},
              {"plan", p.plan},
              {"strategy", ToString(p.strategy)},
              {"created_at_ns", ToNanos(p.created_at)},
              {"parent", p.parent},
              {"sources", p.sources},
              {"logical_bytes", p.logical_bytes},
              {"stored_bytes", p.stored_bytes},
              {"file_count", p.file_count},
              {"entry_count", p.entry_count},
              {"status", p.status}};
}

Result<PointInfo> PointFromJson(const json& j) {
  try {
    PointInfo p;
    p.id = j.at("id").get<std::string>();
    p.plan = j.at("plan").get<std::string>();
    auto strategy = ParseStrategy(j.at("strategy").get<std::string>());
    if (!strategy) return Corrupted(strategy.error().message());
    p.strategy = *strategy;
    p.created_at = FromNanos(j.at("created_at_ns").get<std::int64_t>());
    p.parent = j.at("parent").get<std::string>();
    p.sources = j.at("sources").get<std::vector<std::string>>();
    p.logical_bytes = j.at("logical_bytes").get<std::uint64_t>();
    p.stored_bytes = j.at("stored_bytes").get<std::uint64_t>();
    p.file_count = j.at("file_count").get<std::uint64_t>();
    p.entry_count = j.at("entry_count").get<std::uint64_t>();
    p.status = j.at("status").get<std::string>();
    return p;
  } catch (const json::exception& e) {
    return Corrupted(std::string("point record: ") + e.what());
  }
}

}  // namespace

std::string PackName(const ChunkId& pack) {
  const std::string hex = ToHex(pack);
  return "data/" + hex.substr(0, 2) + "/" + hex;
}

Result<ChunkId> PackIdFromName(std::string_view name) {
  if (name.size() != 5 + 3 + 64 || name.substr(0, 5) != "data/") {
    return InvalidArgument("not a pack name");
  }
  auto id = ChunkIdFromHex(name.substr(8));
  if (!id || name.substr(5, 2) != name.substr(8, 2)) return InvalidArgument("not a pack name");
  return id;
}

Bytes EncodeEntries(const std::vector<IndexEntry>& entries) {
  Writer w;
  w.U32(static_cast<std::uint32_t>(entries.size()));
  for (const auto& e : entries) {
    w.Id(e.id);
    w.U64(e.offset);
    w.U32(e.stored);
    w.U32(e.raw);
    w.U8(e.flags);
  }
  return std::move(w.bytes());
}

namespace {
bool ReadEntries(Reader& r, std::vector<IndexEntry>& out) {
  std::uint32_t n = 0;
  if (!r.U32(n) || static_cast<std::uint64_t>(n) * kEntryBytes > r.remaining()) return false;
  out.resize(n);
  for (auto& e : out) {
    if (!r.Id(e.id) || !r.U64(e.offset) || !r.U32(e.stored) || !r.U32(e.raw) || !r.U8(e.flags)) {
      return false;
    }
  }
  return true;
}
}  // namespace

Result<std::vector<IndexEntry>> DecodeEntries(ByteView payload) {
  Reader r(payload);
  std::vector<IndexEntry> out;
  if (!ReadEntries(r, out) || r.remaining() != 0) return Corrupted("pack trailer is malformed");
  return out;
}

Bytes EncodeIndex(const std::vector<PackRecord>& packs) {
  Writer w;
  w.Raw("SGIDX001", 8);
  w.U32(static_cast<std::uint32_t>(packs.size()));
  for (const auto& p : packs) {
    w.Id(p.pack);
    w.U64(p.size);
    Bytes entries = EncodeEntries(p.entries);
    w.Raw(entries.data(), entries.size());
  }
  return std::move(w.bytes());
}

Result<std::vector<PackRecord>> DecodeIndex(ByteView payload) {
  Reader r(payload);
  char magic[8];
  std::uint32_t n = 0;
  if (!r.Raw(magic, 8) || std::string_view(magic, 8) != "SGIDX001" || !r.U32(n)) {
    return Corrupted("index header is malformed");
  }
  std::vector<PackRecord> packs;
  for (std::uint32_t i = 0; i < n; ++i) {
    PackRecord p;
    if (!r.Id(p.pack) || !r.U64(p.size) || !ReadEntries(r, p.entries)) {
      return Corrupted("index is truncated");
    }
    packs.push_back(std::move(p));
  }
  if (r.remaining() != 0) return Corrupted("index has trailing bytes");
  return packs;
}

Bytes EncodeManifest(const Manifest& manifest) {
  Writer w;
  w.Raw("SGMAN001", 8);
  PutString(w, PointToJson(manifest.point).dump());
  w.U64(manifest.entries.size());
  for (const auto& e : manifest.entries) {
    PutString(w, e.path);
    w.U8(static_cast<std::uint8_t>(e.type));
    w.U32(e.mode);
    w.U32(e.uid);
    w.U32(e.gid);
    w.U64(static_cast<std::uint64_t>(e.mtime_ns));
    w.U64(static_cast<std::uint64_t>(e.ctime_ns));
    w.U64(e.inode);
    w.U64(e.size);
    PutString(w, e.symlink_target);
    w.U32(static_cast<std::uint32_t>(e.chunks.size()));
    for (const auto& c : e.chunks) w.Id(c);
  }
  return std::move(w.bytes());
}

Result<Manifest> DecodeManifest(ByteView payload) {
  Reader r(payload);
  char magic[8];
  std::string point_json;
  std::uint64_t n = 0;
  if (!r.Raw(magic, 8) || std::string_view(magic, 8) != "SGMAN001" || !GetString(r, point_json) ||
      !r.U64(n)) {
    return Corrupted("manifest header is malformed");
  }
  Manifest m;
  json pj = json::parse(point_json, nullptr, false);
  if (pj.is_discarded()) return Corrupted("manifest point record is not JSON");
  auto point = PointFromJson(pj);
  if (!point) return std::unexpected(point.error());
  m.point = std::move(*point);
  if (n > r.remaining()) return Corrupted("manifest entry count is implausible");
  m.entries.resize(n);
  for (auto& e : m.entries) {
    std::uint8_t type = 0;
    std::uint64_t mtime = 0;
    std::uint64_t ctime = 0;
    std::uint32_t chunks = 0;
    if (!GetString(r, e.path) || !r.U8(type) || type > 2 || !r.U32(e.mode) || !r.U32(e.uid) ||
        !r.U32(e.gid) || !r.U64(mtime) || !r.U64(ctime) || !r.U64(e.inode) || !r.U64(e.size) ||
        !GetString(r, e.symlink_target) || !r.U32(chunks) ||
        static_cast<std::uint64_t>(chunks) * 32 > r.remaining()) {
      return Corrupted("manifest entry is malformed");
    }
    e.type = static_cast<EntryType>(type);
    e.mtime_ns = static_cast<std::int64_t>(mtime);
    e.ctime_ns = static_cast<std::int64_t>(ctime);
    e.chunks.resize(chunks);
    for (auto& c : e.chunks) r.Id(c);
  }
  if (r.remaining() != 0) return Corrupted("manifest has trailing bytes");
  return m;
}

Bytes EncodeCatalog(const std::vector<PointInfo>& points) {
  json j = {{"version", kFormatVersion}, {"points", json::array()}};
  for (const auto& p : points) j["points"].push_back(PointToJson(p));
  const std::string text = j.dump(1);
  return Bytes(text.begin(), text.end());
}

Result<std::vector<PointInfo>> DecodeCatalog(ByteView payload) {
  json j = json::parse(payload.begin(), payload.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("points") || !j["points"].is_array()) {
    return Corrupted("catalog is not valid");
  }
  std::vector<PointInfo> out;
  for (const auto& pj : j["points"]) {
    auto p = PointFromJson(pj);
    if (!p) return std::unexpected(p.error());
    out.push_back(std::move(*p));
  }
  return out;
}

Bytes EncodeConfig(const StoredConfig& c) {
  json j = {{"format_version", c.info.format_version},
            {"id", c.info.id},
            {"chunker",
             {{"min_size", c.info.chunker.min_size},
              {"avg_size", c.info.chunker.avg_size},
              {"max_size", c.info.chunker.max_size},
              {"seed", c.info.chunker.seed}}},
            {"hash", ToString(c.info.hash)},
            {"compression", {{"algorithm", "zstd"}, {"level", c.info.compression_level}}},
            {"pack_size", c.info.pack_size},
            {"encryption", nullptr}};
  if (c.info.encrypted) {
    j["encryption"] = {{"cipher", "xchacha20poly1305-ietf"},
                       {"kdf", "argon2id13"},
                       {"opslimit", c.kdf_opslimit},
                       {"memlimit", c.kdf_memlimit},
                       {"salt", c.kdf_salt_hex},
                       {"wrapped_keys", c.wrapped_keys_hex}};
  }
  const std::string text = j.dump(2) + "\n";
  return Bytes(text.begin(), text.end());
}

Result<StoredConfig> DecodeConfig(ByteView bytes) {
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Corrupted("config is not JSON");
  try {
    StoredConfig c;
    c.info.format_version = j.at("format_version").get<int>();
    if (c.info.format_version != kFormatVersion) {
      return MakeError(ErrorCode::kFailedPrecondition,
                       "repository format version " + std::to_string(c.info.format_version) +
                           " is not supported (this build reads version 1)");
    }
    c.info.id = j.at("id").get<std::string>();
    const auto& ch = j.at("chunker");
    c.info.chunker.min_size = ch.at("min_size").get<std::uint32_t>();
    c.info.chunker.avg_size = ch.at("avg_size").get<std::uint32_t>();
    c.info.chunker.max_size = ch.at("max_size").get<std::uint32_t>();
    c.info.chunker.seed = ch.at("seed").get<std::uint64_t>();
    if (auto st = ValidateChunkerParams(c.info.chunker); !st) {
      return Corrupted("config: " + st.error().message());
    }
    auto hash = ParseHashAlgorithm(j.at("hash").get<std::string>());
    if (!hash) return Corrupted("config: " + hash.error().message());
    c.info.hash = *hash;
    c.info.compression_level = j.at("compression").at("level").get<int>();
    c.info.pack_size = j.at("pack_size").get<std::uint64_t>();
    const auto& enc = j.at("encryption");
    c.info.encrypted = !enc.is_null();
    if (c.info.encrypted) {
      c.kdf_opslimit = enc.at("opslimit").get<std::uint64_t>();
      c.kdf_memlimit = enc.at("memlimit").get<std::uint64_t>();
      c.kdf_salt_hex = enc.at("salt").get<std::string>();
      c.wrapped_keys_hex = enc.at("wrapped_keys").get<std::string>();
    }
    return c;
  } catch (const json::exception& e) {
    return Corrupted(std::string("config: ") + e.what());
  }
}

}  // namespace detail
}  // namespace streamgate::backup
