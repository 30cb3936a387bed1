// Repository::OpenOrCreateMirror and Repository::CopyTo: copying recovery points to a second
// repository (another region) that shares chunker, hash and keys, sending only missing chunks.
//
// A copy runs like a backup whose "files" are stored chunks of the source: the destination's
// index (plus the packs of an interrupted copy, indexed again from their trailers) says what is
// there; the chunks the points need and the destination lacks are read from the source packs
// (adjacent chunks of a pack in one ranged read), verified (decrypted, decompressed, hashed) and
// appended as they are stored to new destination packs. Then index, manifests and catalog are
// made durable, in that order, as in a backup.
#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <unordered_map>

#include "backup/state.hpp"

namespace streamgate::backup {

using detail::ChunkSet;
using detail::Corrupted;

namespace {

// Chunks of one source pack read with one GetRange: adjacent ones, or separated by small gaps
// (a few wasted bytes cost less than another round trip to object storage).
constexpr std::uint64_t kMaxRunBytes = 8 * 1024 * 1024;
constexpr std::uint64_t kMaxRunGap = 64 * 1024;

struct Needed {
  ChunkId id{};
  detail::Location loc;
};

struct Run {
  std::uint32_t pack = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::size_t first = 0;  // range [first, first + count) of the sorted `Needed` list
  std::size_t count = 0;
};

std::vector<Run> PlanRuns(const std::vector<Needed>& needed) {
  std::vector<Run> runs;
  for (std::size_t i = 0; i < needed.size(); ++i) {
    const detail::Location& loc = needed[i].loc;
    if (!runs.empty()) {
      Run& last = runs.back();
      const std::uint64_t end = last.offset + last.length;
      if (last.pack == loc.pack && loc.offset >= end && loc.offset - end <= kMaxRunGap &&
          loc.offset + loc.stored - last.offset <= kMaxRunBytes) {
        last.length = loc.offset + loc.stored - last.offset;
        ++last.count;
        continue;
      }
    }
    runs.push_back({loc.pack, loc.offset, loc.stored, i, 1});
  }
  return runs;
}

// What differs between two repositories' parameters, for kFailedPrecondition messages.
std::vector<std::string> ParameterDifferences(const detail::StoredConfig& a,
                                              const detail::StoredConfig& b) {
  std::vector<std::string> out;
  auto differ = [&](const std::string& what, const auto& x, const auto& y) {
    if (x != y) out.push_back(what + " (" + std::to_string(x) + " vs " + std::to_string(y) + ")");
  };
  differ("chunker min size", a.info.chunker.min_size, b.info.chunker.min_size);
  differ("chunker average size", a.info.chunker.avg_size, b.info.chunker.avg_size);
  differ("chunker max size", a.info.chunker.max_size, b.info.chunker.max_size);
  differ("chunker seed", a.info.chunker.seed, b.info.chunker.seed);
  if (a.info.hash != b.info.hash) {
    out.push_back("hash (" + std::string(ToString(a.info.hash)) + " vs " +
                  std::string(ToString(b.info.hash)) + ")");
  }
  differ("compression level", a.info.compression_level, b.info.compression_level);
  differ("pack size", a.info.pack_size, b.info.pack_size);
  if (a.info.encrypted != b.info.encrypted) {
    out.push_back(std::string("encryption (") + (a.info.encrypted ? "on" : "off") + " vs " +
                  (b.info.encrypted ? "on" : "off") + ")");
  } else if (a.info.encrypted &&
             (a.kdf_salt_hex != b.kdf_salt_hex || a.wrapped_keys_hex != b.wrapped_keys_hex ||
              a.kdf_opslimit != b.kdf_opslimit || a.kdf_memlimit != b.kdf_memlimit)) {
    out.push_back("encryption keys");
  }
  return out;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

Result<detail::StoredConfig> LoadConfig(const BlobStore& store) {
  auto bytes = store.Get("config");
  if (!bytes) {
    if (bytes.error().code() == ErrorCode::kNotFound) {
      return NotFound("no repository at " + store.Location());
    }
    return std::unexpected(bytes.error());
  }
  return detail::DecodeConfig(*bytes);
}

}  // namespace

Result<std::unique_ptr<Repository>> Repository::OpenOrCreateMirror(std::shared_ptr<BlobStore> store,
                                                                   const Repository& source,
                                                                   const Clock& clock) {
  if (!store) return InvalidArgument("no blob store");
  const State& src = *source.state_;
  if (store.get() == src.store.get()) {
    return InvalidArgument("a repository cannot mirror itself (" + store->Location() + ")");
  }
  auto source_config = LoadConfig(*src.store);
  if (!source_config) return std::unexpected(source_config.error());

  auto exists = Exists(*store);
  if (!exists) return std::unexpected(exists.error());
  detail::StoredConfig config;
  bool created = false;
  if (!*exists) {
    // The source's parameters and wrapped keys (the same passphrase opens it), its own id.
    config = *source_config;
    config.info.id = detail::RandomHex(16);
    auto put = store->PutExclusive("config", detail::EncodeConfig(config));
    if (put) {
      created = true;
    } else if (put.error().code() != ErrorCode::kAlreadyExists) {
      return std::unexpected(put.error());
    }
  }
  if (!created) {
    auto existing = LoadConfig(*store);
    if (!existing) return std::unexpected(existing.error());
    // Locations may not tell (two regions' buckets can share a name); the repository id does.
    if (existing->info.id == source_config->info.id) {
      return InvalidArgument(store->Location() + " is the repository " + src.store->Location() +
                             " itself (same repository id)");
    }
    const auto differences = ParameterDifferences(*source_config, *existing);
    if (!differences.empty()) {
      return FailedPrecondition("repository " + store->Location() + " cannot mirror " +
                                src.store->Location() + ": it differs in " + Join(differences));
    }
    config = std::move(*existing);
  }
  auto state = std::make_unique<State>();
  state->store = std::move(store);
  state->clock = &clock;
  state->info = config.info;
  state->hasher = src.hasher;  // same keys: the wrapped keys are the source's
  state->sealer = src.sealer;
  return std::unique_ptr<Repository>(new Repository(std::move(state)));
}

Result<CopyResult> Repository::CopyTo(Repository& destination, const CopyRequest& request) const {
  const State& src = *state_;
  State& dst = *destination.state_;
  const MonoTime started = src.clock->Now();
  if (&destination == this || dst.store.get() == src.store.get() || dst.info.id == src.info.id) {
    return InvalidArgument("cannot copy a repository into itself (" + src.store->Location() + ")");
  }
  for (const auto& id : request.points) {
    if (id.empty()) return InvalidArgument("point id is empty");
  }
  // Stored chunks move as they are: the destination must name and seal them the same way.
  {
    std::vector<std::string> differences;
    const ChunkerParams& a = src.info.chunker;
    const ChunkerParams& b = dst.info.chunker;
    if (a.min_size != b.min_size || a.avg_size != b.avg_size || a.max_size != b.max_size ||
        a.seed != b.seed) {
      differences.push_back("chunker");
    }
    if (src.info.hash != dst.info.hash) differences.push_back("hash");
    if (src.info.encrypted != dst.info.encrypted) differences.push_back("encryption");
    const Bytes probe = {'s', 'g', '-', 'c', 'o', 'p', 'y'};
    if (src.info.encrypted == dst.info.encrypted &&
        (src.hasher.Hash(probe) != dst.hasher.Hash(probe) ||
         !dst.sealer.Open(src.sealer.Seal(probe, probe), probe))) {
      differences.push_back("keys");
    }
    if (!differences.empty()) {
      return FailedPrecondition("cannot copy " + src.store->Location() + " to " +
                                dst.store->Location() + ": they differ in " + Join(differences) +
                                " (make the destination with OpenOrCreateMirror)");
    }
  }

  // Which points: resolved on the source, copied oldest first (parents before children).
  auto catalog = src.LoadCatalog();
  if (!catalog) return std::unexpected(catalog.error());
  std::set<std::string> wanted;
  if (request.points.empty()) {
    for (const auto& p : *catalog) {
      if ((request.plan.empty() || p.plan == request.plan) && p.status == "complete") {
        wanted.insert(p.id);
      }
    }
  } else {
    for (const auto& id : request.points) {
      auto point = src.ResolvePoint(id, request.plan);
      if (!point) return std::unexpected(point.error());
      if (!request.plan.empty() && point->plan != request.plan) {
        return InvalidArgument("point " + point->id + " belongs to plan '" + point->plan +
                               "', not '" + request.plan + "'");
      }
      wanted.insert(point->id);
    }
  }

  auto lock = detail::RepoLock::Acquire(*dst.store, *dst.clock, "copy");
  if (!lock) return std::unexpected(lock.error());

  CopyResult result;
  auto dst_catalog = dst.LoadCatalog();
  if (!dst_catalog) return std::unexpected(dst_catalog.error());
  std::set<std::string> dst_ids;
  for (const auto& p : *dst_catalog) dst_ids.insert(p.id);
  std::vector<Manifest> manifests;
  for (const auto& p : *catalog) {
    if (!wanted.contains(p.id)) continue;
    if (dst_ids.contains(p.id)) {
      result.present_points.push_back(p.id);
      continue;
    }
    auto manifest = src.LoadManifest(p.id);
    if (!manifest) return std::unexpected(manifest.error());
    manifests.push_back(std::move(*manifest));
  }

  auto dst_index = dst.LoadIndex();
  if (!dst_index) return std::unexpected(dst_index.error());
  // Packs of an interrupted copy or backup: index them again so their chunks are not resent.
  auto orphans = dst.FindOrphanPacks(*dst_index);
  if (!orphans) return std::unexpected(orphans.error());
  for (const auto& r : *orphans) dst_index->Add(r);
  result.packs_recovered = orphans->size();

  // The chunks to send, in source pack and offset order.
  std::vector<Needed> needed;
  if (!manifests.empty()) {
    auto src_index = src.LoadIndex();
    if (!src_index) return std::unexpected(src_index.error());
    ChunkSet seen;
    for (const auto& m : manifests) {
      for (const auto& e : m.entries) {
        for (const auto& c : e.chunks) {
          if (!seen.insert(c).second) continue;
          if (dst_index->chunks.contains(c)) {
            ++result.chunks_present;
            continue;
          }
          auto it = src_index->chunks.find(c);
          if (it == src_index->chunks.end()) {
            return Corrupted("point " + m.point.id + " needs chunk " + ToHex(c) +
                             ", which the source index lacks (run check on " +
                             src.store->Location() + ")");
          }
          needed.push_back({c, it->second});
        }
      }
    }
    std::sort(needed.begin(), needed.end(), [](const Needed& a, const Needed& b) {
      return a.loc.pack != b.loc.pack ? a.loc.pack < b.loc.pack : a.loc.offset < b.loc.offset;
    });
    const std::vector<Run> runs = PlanRuns(needed);
    std::vector<std::string> pack_names(src_index->packs.size());
    for (std::size_t i = 0; i < pack_names.size(); ++i) {
      pack_names[i] = detail::PackName(src_index->packs[i]);
    }

    Progress progress;
    progress.files_total = needed.size();
    for (const auto& n : needed) progress.bytes_total += n.loc.stored;
    std::atomic<std::uint64_t> chunks_done{0};
    std::atomic<std::uint64_t> bytes_done{0};
    std::mutex mutex;  // guards `error`
    std::optional<Error> error;
    std::atomic<bool> failed{false};
    auto fail = [&](Error e) {
      std::lock_guard guard(mutex);
      if (!error) error = std::move(e);
      failed = true;
    };
    detail::PackWriter packs(*dst.store, dst.hasher, dst.sealer, dst.info.pack_size,
                             [&](std::uint64_t n) {
                               if (request.crash_hook) request.crash_hook("pack", n);
                             });
    auto send = [&](std::size_t r) {
      if (failed) return;
      const Run& run = runs[r];
      auto bytes = src.store->GetRange(pack_names[run.pack], run.offset, run.length);
      if (!bytes) {
        fail(bytes.error());
        return;
      }
      for (std::size_t i = run.first; i < run.first + run.count && !failed; ++i) {
        const Needed& n = needed[i];
        const ByteView stored(bytes->data() + (n.loc.offset - run.offset), n.loc.stored);
        if (auto plain = detail::OpenChunk(stored, n.id, n.loc, src.hasher, src.sealer); !plain) {
          fail(Error(ErrorCode::kCorrupted, pack_names[run.pack] + ": " + plain.error().message()));
          return;
        }
        if (auto st = packs.Add(n.id, stored, n.loc.raw, n.loc.flags); !st) {
          fail(st.error());
          return;
        }
        ++chunks_done;
        bytes_done += n.loc.stored;
      }
    };
    MonoTime last_report = src.clock->Now();
    auto report = [&](bool finished) {
      if (!request.progress) return;
      const MonoTime now = src.clock->Now();
      if (!finished && now - last_report < std::chrono::milliseconds(100)) return;
      last_report = now;
      progress.files_done = chunks_done.load();
      progress.bytes_done = bytes_done.load();
      progress.elapsed = now - started;
      progress.finished = finished;
      request.progress(progress);
    };
    detail::ParallelFor(runs.size(), detail::ThreadCount(request.threads), send,
                        [&] { report(false); });
    if (error) return std::unexpected(*error);
    if (auto st = packs.Finish(); !st) return std::unexpected(st.error());
    report(true);
    result.chunks_sent = needed.size();
    result.bytes_sent = bytes_done.load();
    result.packs_written = packs.packs_written();
    std::vector<detail::PackRecord> records = packs.TakeRecords();
    orphans->insert(orphans->begin(), std::make_move_iterator(records.begin()),
                    std::make_move_iterator(records.end()));
  }

  // Index: the new packs and the recovered ones.
  if (auto st = dst.WriteIndexFile(*orphans); !st) return std::unexpected(st.error());
  if (request.crash_hook && !orphans->empty()) request.crash_hook("index", orphans->size());
  if (manifests.empty()) {
    result.duration = src.clock->Now() - started;
    return result;
  }

  // Manifests, then the catalog: the points exist from there on, with the source's ids.
  std::uint64_t written = 0;
  for (const auto& m : manifests) {
    if (auto st = dst.SaveManifest(m); !st) return std::unexpected(st.error());
    if (request.crash_hook) request.crash_hook("manifest", ++written);
  }
  for (const auto& m : manifests) {
    dst_catalog->push_back(m.point);
    result.copied_points.push_back(m.point.id);
  }
  if (auto st = dst.SaveCatalog(*dst_catalog); !st) return std::unexpected(st.error());
  result.duration = src.clock->Now() - started;
  return result;
}

}  // namespace streamgate::backup
