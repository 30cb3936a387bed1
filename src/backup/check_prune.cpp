// Repository::Check and Repository::Prune.
#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "backup/state.hpp"

namespace streamgate::backup {

using detail::ChunkIdHash;
using detail::ChunkSet;

namespace {

constexpr std::size_t kMaxPathsPerProblem = 3;

}  // namespace

Result<CheckReport> Repository::Check(bool read_data) const {
  const State& s = *state_;
  CheckReport report;
  auto problem = [&](std::string kind, std::string object, std::string message,
                     std::vector<std::string> points = {}) {
    report.problems.push_back(
        {std::move(kind), std::move(object), std::move(message), std::move(points)});
  };

  auto config = s.store->Get("config");
  if (!config) return std::unexpected(config.error());
  std::vector<PointInfo> catalog;
  if (auto c = s.LoadCatalog(); c) {
    catalog = std::move(*c);
  } else {
    problem("bad_catalog", "catalog", c.error().message());
  }
  report.points = catalog.size();

  std::vector<std::string> index_problems;
  auto index = s.LoadIndex(&index_problems);
  if (!index) return std::unexpected(index.error());
  for (auto& p : index_problems) problem("bad_index", "index", std::move(p));
  report.packs = index->packs.size();
  report.chunks = index->chunks.size();

  auto listed = s.store->List("data/");
  if (!listed) return std::unexpected(listed.error());
  std::unordered_map<std::string, std::uint64_t> pack_files;
  for (const auto& b : *listed) pack_files.emplace(b.name, b.size);
  std::vector<bool> pack_present(index->packs.size(), false);
  for (std::size_t i = 0; i < index->packs.size(); ++i) {
    const std::string name = detail::PackName(index->packs[i]);
    auto it = pack_files.find(name);
    if (it == pack_files.end()) {
      problem("missing_pack", name, "indexed pack is missing");
      continue;
    }
    if (it->second != index->pack_sizes[i]) {
      problem("pack_size", name,
              "size " + std::to_string(it->second) + ", index says " +
                  std::to_string(index->pack_sizes[i]));
      continue;
    }
    pack_present[i] = true;
  }
  for (const auto& [name, size] : pack_files) {
    auto id = detail::PackIdFromName(name);
    if (!id) {
      report.notes.push_back(name + ": not a pack name");
    } else if (!index->pack_numbers.contains(*id)) {
      ++report.orphan_packs;
      report.notes.push_back(name +
                             ": not indexed (left by an interrupted backup or prune; the next "
                             "backup reuses it, prune removes it when unused)");
    }
  }

  // Manifests: every point's manifest decodes, has safe paths, and its chunks are indexed.
  std::vector<Manifest> manifests;
  std::set<std::string> catalog_ids;
  for (const auto& p : catalog) {
    catalog_ids.insert(p.id);
    auto m = s.LoadManifest(p.id);
    if (!m) {
      problem(m.error().code() == ErrorCode::kNotFound ? "missing_manifest" : "bad_manifest",
              "points/" + p.id, m.error().message(), {p.id});
      continue;
    }
    manifests.push_back(std::move(*m));
  }
  if (auto stored = s.store->List("points/"); stored) {
    for (const auto& b : *stored) {
      if (!catalog_ids.contains(b.name.substr(7))) {
        report.notes.push_back(b.name +
                               ": manifest of a point not in the catalog (prune removes it)");
      }
    }
  }

  // Chunks that cannot be read: missing from the index, in a missing pack, or (read_data)
  // failing verification.
  std::unordered_map<ChunkId, std::string, ChunkIdHash> bad;
  for (const auto& m : manifests) {
    for (const auto& e : m.entries) {
      if (auto st = ValidateEntryPath(e.path); !st) {
        problem("bad_path", "points/" + m.point.id, st.error().message(), {m.point.id});
      }
      for (const auto& c : e.chunks) {
        auto loc = index->chunks.find(c);
        if (loc == index->chunks.end()) {
          bad.emplace(c, "missing_chunk");
        } else if (!pack_present[loc->second.pack]) {
          bad.emplace(c, "chunk_in_missing_pack");
        }
      }
    }
  }

  if (read_data) {
    std::vector<detail::PackRecord> records = index->Records();
    std::mutex mutex;
    std::atomic<std::uint64_t> verified{0};
    auto verify_pack = [&](std::size_t i) {
      if (!pack_present[i]) return;
      const std::string name = detail::PackName(records[i].pack);
      auto bytes = s.store->Get(name);
      if (!bytes) {
        std::lock_guard lock(mutex);
        problem("unreadable_pack", name, bytes.error().message());
        for (const auto& e : records[i].entries) bad.emplace(e.id, "unreadable_pack");
        return;
      }
      const bool pack_ok = s.hasher.HashPlain(*bytes) == records[i].pack;
      std::vector<std::pair<ChunkId, std::string>> failures;
      for (const auto& e : records[i].entries) {
        detail::Location loc{e.offset, static_cast<std::uint32_t>(i), e.stored, e.raw, e.flags};
        if (e.offset + e.stored > bytes->size()) {
          failures.emplace_back(e.id, "bad_chunk");
          continue;
        }
        auto plain = detail::OpenChunk(ByteView(bytes->data() + e.offset, e.stored), e.id, loc,
                                       s.hasher, s.sealer);
        if (!plain) failures.emplace_back(e.id, "bad_chunk");
      }
      verified += bytes->size();
      std::lock_guard lock(mutex);
      if (!pack_ok) {
        problem("bad_pack", name, "pack content does not match its name (hash)");
      }
      for (auto& [id, kind] : failures) bad[id] = kind;
    };
    detail::ParallelFor(records.size(), detail::ThreadCount(0), verify_pack, {});
    report.bytes_verified = verified.load();
  }

  // Which points (and files) each bad chunk affects.
  if (!bad.empty()) {
    std::unordered_map<ChunkId, std::pair<std::set<std::string>, std::vector<std::string>>,
                       ChunkIdHash>
        users;
    for (const auto& m : manifests) {
      for (const auto& e : m.entries) {
        for (const auto& c : e.chunks) {
          auto it = bad.find(c);
          if (it == bad.end()) continue;
          auto& u = users[c];
          u.first.insert(m.point.id);
          if (u.second.size() < kMaxPathsPerProblem &&
              std::find(u.second.begin(), u.second.end(), e.path) == u.second.end()) {
            u.second.push_back(e.path);
          }
        }
      }
    }
    std::map<std::string, std::string> ordered;  // deterministic output
    for (const auto& [id, kind] : bad) ordered.emplace(ToHex(id), kind);
    for (const auto& [hex, kind] : ordered) {
      auto id = *ChunkIdFromHex(hex);
      auto& u = users[id];
      std::string message;
      if (kind == "missing_chunk") {
        message = "chunk is not in the index";
      } else if (kind == "chunk_in_missing_pack") {
        message = "chunk's pack is missing";
      } else if (kind == "unreadable_pack") {
        message = "chunk's pack cannot be read";
      } else {
        message = "chunk fails verification (hash, authentication or decompression)";
      }
      if (!u.second.empty()) {
        message += "; files:";
        for (const auto& p : u.second) message += " " + p;
      }
      if (u.first.empty()) {
        report.notes.push_back("chunk " + hex + " (no point uses it): " + message);
        continue;
      }
      std::vector<std::string> affected;  // oldest first, as in the catalog
      for (const auto& m : manifests) {
        if (u.first.contains(m.point.id)) affected.push_back(m.point.id);
      }
      problem(kind, "chunk " + hex, message, std::move(affected));
    }
  }
  return report;
}

Result<PruneResult> Repository::Prune(const PruneOptions& options) {
  State& s = *state_;
  if (options.max_unused_fraction < 0.0 || options.max_unused_fraction >= 1.0) {
    return InvalidArgument("max_unused_fraction must be in [0, 1)");
  }
  if (options.keep_last && *options.keep_last == 0) {
    return InvalidArgument("keep-last must be at least 1 (the newest point always stays)");
  }
  auto lock = detail::RepoLock::Acquire(*s.store, *s.clock, "prune");
  if (!lock) return std::unexpected(lock.error());
  PruneResult result;

  auto catalog = s.LoadCatalog();
  if (!catalog) return std::unexpected(catalog.error());
  std::set<std::string> remove;
  for (const auto& id : options.forget) {
    auto it = std::find_if(catalog->begin(), catalog->end(),
                           [&](const PointInfo& p) { return p.id == id; });
    if (it == catalog->end()) return NotFound("no recovery point '" + id + "'");
    remove.insert(id);
  }
  if (options.keep_last || options.keep_days) {
    const WallTime now = s.clock->WallNow();
    std::map<std::string, std::vector<const PointInfo*>> by_plan;  // newest first
    for (auto it = catalog->rbegin(); it != catalog->rend(); ++it) {
      by_plan[it->plan].push_back(&*it);
    }
    for (const auto& [plan, points] : by_plan) {
      for (std::size_t i = 0; i < points.size(); ++i) {
        const PointInfo& p = *points[i];
        bool keep = i == 0;  // the newest point of a plan always stays
        if (options.keep_last && i < *options.keep_last) keep = true;
        if (options.keep_days &&
            now - p.created_at < std::chrono::hours(24) * static_cast<int>(*options.keep_days)) {
          keep = true;
        }
        if (!keep) remove.insert(p.id);
      }
    }
  }
  std::vector<PointInfo> kept;
  for (const auto& p : *catalog) {
    if (remove.contains(p.id)) {
      result.removed_points.push_back(p.id);
    } else {
      kept.push_back(p);
    }
  }
  if (options.dry_run) return result;

  // 1. Catalog without the removed points (the points are gone from here on), then their
  //    manifests, and manifests no catalog entry names (an interrupted backup's).
  if (!result.removed_points.empty()) {
    if (auto st = s.SaveCatalog(kept); !st) return std::unexpected(st.error());
  }
  std::set<std::string> kept_ids;
  for (const auto& p : kept) kept_ids.insert(p.id);
  auto manifest_blobs = s.store->List("points/");
  if (!manifest_blobs) return std::unexpected(manifest_blobs.error());
  for (const auto& b : *manifest_blobs) {
    if (!kept_ids.contains(b.name.substr(7))) {
      if (auto st = s.store->Delete(b.name); !st) return std::unexpected(st.error());
    }
  }

  // 2. What the remaining points use.
  ChunkSet used;
  for (const auto& p : kept) {
    auto m = s.LoadManifest(p.id);
    if (!m) {
      return MakeError(m.error().code(), "cannot prune: point " + p.id + " is unreadable (" +
                                             m.error().message() + "); run check");
    }
    for (const auto& e : m->entries) used.insert(e.chunks.begin(), e.chunks.end());
  }
  auto index = s.LoadIndex();
  if (!index) return std::unexpected(index.error());
  auto orphans = s.FindOrphanPacks(*index);
  if (!orphans) return std::unexpected(orphans.error());
  for (const auto& r : *orphans) index->Add(r);
  for (const auto& c : used) {
    if (!index->chunks.contains(c)) {
      return MakeError(ErrorCode::kCorrupted, "cannot prune: chunk " + ToHex(c) +
                                                  " used by a point is missing; run check");
    }
  }

  // 3. Classify packs. A chunk counts as used only in the pack the index points to, so
  //    duplicate copies (after an interruption) are freed too.
  std::vector<detail::PackRecord> all_records;  // every pack with all its entries
  {
    std::unordered_map<ChunkId, std::size_t, ChunkIdHash> seen;
    auto files = s.store->List("index/");
    if (!files) return std::unexpected(files.error());
    std::vector<detail::PackRecord> raw;
    for (const auto& f : *files) {
      auto bytes = s.store->Get(f.name);
      if (!bytes) return std::unexpected(bytes.error());
      auto payload = detail::DecodeObject(*bytes, "index", s.sealer);
      if (!payload) return std::unexpected(payload.error());
      auto records = detail::DecodeIndex(*payload);
      if (!records) return std::unexpected(records.error());
      raw.insert(raw.end(), records->begin(), records->end());
    }
    raw.insert(raw.end(), orphans->begin(), orphans->end());
    for (auto& r : raw) {
      auto [it, inserted] = seen.emplace(r.pack, all_records.size());
      if (inserted) all_records.push_back(std::move(r));
    }
  }
  std::vector<detail::PackRecord> keep_packs;
  std::vector<std::pair<detail::PackRecord, std::vector<detail::IndexEntry>>> repack;
  std::vector<detail::PackRecord> drop_packs;
  for (auto& r : all_records) {
    const std::uint32_t number = index->pack_numbers.at(r.pack);
    std::vector<detail::IndexEntry> live;
    std::uint64_t live_bytes = 0;
    for (const auto& e : r.entries) {
      auto loc = index->chunks.find(e.id);
      if (used.contains(e.id) && loc != index->chunks.end() && loc->second.pack == number &&
          loc->second.offset == e.offset) {
        live.push_back(e);
        live_bytes += e.stored;
      }
    }
    if (live.empty()) {
      drop_packs.push_back(std::move(r));
    } else if (live.size() == r.entries.size() ||
               static_cast<double>(r.size - live_bytes) <=
                   options.max_unused_fraction * static_cast<double>(r.size)) {
      r.entries = std::move(live);  // the index keeps only live entries
      keep_packs.push_back(std::move(r));
    } else {
      repack.emplace_back(std::move(r), std::move(live));
    }
  }

  // 4. Copy live chunks of partly used packs into new packs (stored bytes as they are).
  detail::PackWriter writer(*s.store, s.hasher, s.sealer, s.info.pack_size);
  for (const auto& [record, live] : repack) {
    auto bytes = s.store->Get(detail::PackName(record.pack));
    if (!bytes) return std::unexpected(bytes.error());
    for (const auto& e : live) {
      if (e.offset + e.stored > bytes->size()) {
        return detail::Corrupted("pack " + ToHex(record.pack) + " is shorter than its index");
      }
      if (auto st = writer.Add(e.id, ByteView(bytes->data() + e.offset, e.stored), e.raw, e.flags);
          !st) {
        return std::unexpected(st.error());
      }
    }
  }
  if (auto st = writer.Finish(); !st) return std::unexpected(st.error());
  std::vector<detail::PackRecord> new_records = writer.TakeRecords();
  result.packs_written = new_records.size();
  result.packs_repacked = repack.size();

  // 5. One new index for everything that stays, durable before anything is deleted; then the
  //    old index files, then the old packs. A crash in between leaves duplicates or orphans,
  //    never a point without its data.
  const bool changes =
      !repack.empty() || !drop_packs.empty() || index->files.size() > 1 || !orphans->empty();
  if (changes) {
    std::vector<detail::PackRecord> final_records = keep_packs;
    final_records.insert(final_records.end(), new_records.begin(), new_records.end());
    const Bytes payload = detail::EncodeIndex(final_records);
    const std::string new_index = "index/" + ToHex(s.hasher.HashPlain(payload));
    if (!final_records.empty()) {
      if (auto st = s.store->Put(new_index, detail::EncodeObject(payload, "index", s.sealer));
          !st) {
        return std::unexpected(st.error());
      }
    }
    for (const auto& f : index->files) {
      if (f == new_index) continue;
      if (auto st = s.store->Delete(f); !st) return std::unexpected(st.error());
    }
    auto drop = [&](const detail::PackRecord& r) -> Status {
      result.bytes_freed += r.size;
      ++result.packs_deleted;
      return s.store->Delete(detail::PackName(r.pack));
    };
    for (const auto& r : drop_packs) {
      if (auto st = drop(r); !st) return std::unexpected(st.error());
    }
    for (const auto& [r, live] : repack) {
      if (auto st = drop(r); !st) return std::unexpected(st.error());
    }
    for (const auto& r : new_records) result.bytes_freed -= std::min(result.bytes_freed, r.size);
  }
  auto stats = Stats();
  if (stats) result.repository_bytes = stats->total_bytes;
  return result;
}

}  // namespace streamgate::backup
