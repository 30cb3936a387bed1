// Repository: creation, opening (key unwrapping), catalog, manifests, index, lock, packs.
#include "streamgate/backup/repository.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "backup/state.hpp"

namespace streamgate::backup {

using detail::Corrupted;
using detail::IoError;

namespace detail {

std::uint32_t Index::Add(const PackRecord& record) {
  auto [it, inserted] = pack_numbers.emplace(record.pack, static_cast<std::uint32_t>(packs.size()));
  if (inserted) {
    packs.push_back(record.pack);
    pack_sizes.push_back(record.size);
  }
  const std::uint32_t number = it->second;
  for (const auto& e : record.entries) {
    chunks.emplace(e.id, Location{e.offset, number, e.stored, e.raw, e.flags});
  }
  return number;
}

std::vector<PackRecord> Index::Records() const {
  std::vector<PackRecord> out(packs.size());
  for (std::size_t i = 0; i < packs.size(); ++i) {
    out[i].pack = packs[i];
    out[i].size = pack_sizes[i];
  }
  for (const auto& [id, loc] : chunks) {
    out[loc.pack].entries.push_back({id, loc.offset, loc.stored, loc.raw, loc.flags});
  }
  for (auto& r : out) {
    std::sort(r.entries.begin(), r.entries.end(),
              [](const IndexEntry& a, const IndexEntry& b) { return a.offset < b.offset; });
  }
  return out;
}

Result<PackRecord> ReadPackTrailer(const BlobStore& store, const ChunkId& pack, std::uint64_t size,
                                   const Sealer& sealer) {
  const std::string name = PackName(pack);
  if (size < kPackHeader + kPackFooter) return Corrupted(name + ": too short for a pack");
  auto footer = store.GetRange(name, size - kPackFooter, kPackFooter);
  if (!footer) return std::unexpected(footer.error());
  std::uint32_t trailer_len = 0;
  std::memcpy(&trailer_len, footer->data(), 4);
  if (std::memcmp(footer->data() + 4, kPackEndMagic, 8) != 0) {
    return Corrupted(name + ": no pack end marker (truncated?)");
  }
  if (trailer_len > size - kPackHeader - kPackFooter) return Corrupted(name + ": bad trailer");
  auto trailer = store.GetRange(name, size - kPackFooter - trailer_len, trailer_len);
  if (!trailer) return std::unexpected(trailer.error());
  auto payload = DecodeObject(*trailer, "pack-trailer", sealer);
  if (!payload) return Corrupted(name + ": " + payload.error().message());
  auto entries = DecodeEntries(*payload);
  if (!entries) return Corrupted(name + ": " + entries.error().message());
  const std::uint64_t data_end = size - kPackFooter - trailer_len;
  for (const auto& e : *entries) {
    if (e.offset < kPackHeader || e.offset + e.stored > data_end) {
      return Corrupted(name + ": trailer entry outside the pack");
    }
  }
  return PackRecord{pack, size, std::move(*entries)};
}

// ---- lock ----

namespace {

using nlohmann::json;

constexpr std::chrono::hours kStaleAfter{24};

std::string HostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return "unknown";
  return host;
}

bool ProcessAlive(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

namespace {

// Nonces of the locks this process holds now. A lock naming this process with a nonce not in
// here was left by an earlier call whose release failed (the store was unreachable), so a
// long-running daemon is not locked out of its own repository until the lock goes stale.
std::mutex held_nonces_mutex;
std::set<std::string>& HeldNonces() {
  static std::set<std::string> nonces;
  return nonces;
}
bool HeldHere(const std::string& nonce) {
  std::lock_guard lock(held_nonces_mutex);
  return HeldNonces().contains(nonce);
}

}  // namespace

Result<std::unique_ptr<RepoLock>> RepoLock::Acquire(BlobStore& store, const Clock& clock,
                                                    std::string_view command) {
  const std::string nonce = RandomHex(8);
  const auto now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock.WallNow().time_since_epoch())
          .count();
  const std::string body = json{
      {"pid", static_cast<long>(::getpid())},
      {"host", HostName()},
      {"time_ns", now_ns},
      {"command", command},
      {"nonce", nonce}}.dump();
  // Registered before the lock blob can be seen, so another thread of this process never takes
  // a lock being acquired for one left behind.
  {
    std::lock_guard lock(held_nonces_mutex);
    HeldNonces().insert(nonce);
  }
  auto acquire = [&]() -> Result<std::unique_ptr<RepoLock>> {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto put = store.PutExclusive("lock", AsBytes(body));
      if (put) return std::unique_ptr<RepoLock>(new RepoLock(store, nonce));
      if (put.error().code() != ErrorCode::kAlreadyExists) return std::unexpected(put.error());
      auto held = store.Get("lock");
      if (!held) {
        if (held.error().code() == ErrorCode::kNotFound) continue;  // released meanwhile
        return std::unexpected(held.error());
      }
      json j = json::parse(held->begin(), held->end(), nullptr, false);
      const long pid = j.is_object() ? j.value("pid", 0L) : 0L;
      const std::string host = j.is_object() ? j.value("host", std::string()) : std::string();
      const std::int64_t time_ns = j.is_object() ? j.value("time_ns", std::int64_t{0}) : 0;
      const std::string what = j.is_object() ? j.value("command", std::string()) : std::string();
      const std::string held_nonce =
          j.is_object() ? j.value("nonce", std::string()) : std::string();
      const auto age = std::chrono::nanoseconds(now_ns - time_ns);
      const bool ours_left_behind =
          host == HostName() && pid == static_cast<long>(::getpid()) && !HeldHere(held_nonce);
      const bool stale = !j.is_object() || (host == HostName() && !ProcessAlive(pid)) ||
                         ours_left_behind || age > kStaleAfter;
      if (!stale) {
        return FailedPrecondition(
            "repository " + store.Location() + " is locked by pid " + std::to_string(pid) + " on " +
            host + " (" + what + ", " +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count()) +
            " s ago)");
      }
      if (auto st = store.Delete("lock"); !st) return std::unexpected(st.error());
    }
    return FailedPrecondition("repository " + store.Location() + " lock is contended");
  };
  auto acquired = acquire();
  if (!acquired) {
    std::lock_guard lock(held_nonces_mutex);
    HeldNonces().erase(nonce);
  }
  return acquired;
}

RepoLock::~RepoLock() {
  auto held = store_.Get("lock");
  if (held) {
    json j = json::parse(held->begin(), held->end(), nullptr, false);
    if (j.is_object() && j.value("nonce", std::string()) == nonce_) (void)store_.Delete("lock");
  }
  // Only now: until the blob is gone, other threads must see it as held.
  std::lock_guard lock(held_nonces_mutex);
  HeldNonces().erase(nonce_);
}

// ---- packs ----

PackWriter::PackWriter(BlobStore& store, const Hasher& hasher, const Sealer& sealer,
                       std::uint64_t pack_size, PackHook on_pack, unsigned writers)
    : store_(store),
      hasher_(hasher),
      sealer_(sealer),
      pack_size_(pack_size),
      on_pack_(std::move(on_pack)) {
  if (writers == 0) writers = std::clamp(store.PreferredWriteConcurrency(), 1U, 64U);
  queue_ = std::make_unique<BoundedQueue<Pending>>(writers);
  for (unsigned i = 0; i < writers; ++i) {
    writers_.emplace_back([this] {
      while (auto pending = queue_->Pop()) {
        if (auto st = Write(std::move(pending->pack), std::move(pending->entries)); !st) {
          {
            std::lock_guard lock(mutex_);
            if (!error_) error_ = st.error();
          }
          queue_->Cancel();  // unblocks producers (they see the error on their next Add) and
          return;            // stops the other writers after their current pack
        }
      }
    });
  }
}

PackWriter::~PackWriter() {
  queue_->Cancel();
  for (auto& writer : writers_) {
    if (writer.joinable()) writer.join();
  }
}

Status PackWriter::FirstError() const {
  std::lock_guard lock(mutex_);
  if (error_) return std::unexpected(*error_);
  return {};
}

Status PackWriter::Add(const ChunkId& id, ByteView blob, std::uint32_t raw, std::uint8_t flags) {
  Pending full;
  {
    std::lock_guard lock(mutex_);
    if (error_) return std::unexpected(*error_);
    if (current_.empty()) {
      // Room for the chunk that crosses pack_size and the trailer: no reallocation (memory).
      current_.reserve(pack_size_ + 8 * 1024 * 1024);
      Append(current_, kPackMagic, kPackHeader);
    }
    current_entries_.push_back(
        {id, current_.size(), static_cast<std::uint32_t>(blob.size()), raw, flags});
    Append(current_, blob.data(), blob.size());
    if (current_.size() < pack_size_) return {};
    full.pack.swap(current_);
    full.entries.swap(current_entries_);
  }
  if (!queue_->Push(std::move(full))) {
    auto st = FirstError();
    return st ? Status(MakeError(ErrorCode::kInternal, "pack writer stopped")) : st;
  }
  return {};
}

Status PackWriter::Finish() {
  Pending last;
  {
    std::lock_guard lock(mutex_);
    last.pack.swap(current_);
    last.entries.swap(current_entries_);
  }
  if (!last.entries.empty()) (void)queue_->Push(std::move(last));
  queue_->Close();
  for (auto& writer : writers_) {
    if (writer.joinable()) writer.join();
  }
  return FirstError();
}

Status PackWriter::Write(Bytes pack, std::vector<IndexEntry> entries) {
  const Bytes trailer = EncodeObject(EncodeEntries(entries), "pack-trailer", sealer_);
  Append(pack, trailer.data(), trailer.size());
  const auto trailer_len = static_cast<std::uint32_t>(trailer.size());
  Append(pack, &trailer_len, 4);
  Append(pack, kPackEndMagic, 8);
  const ChunkId id = hasher_.HashPlain(pack);
  if (auto st = store_.Put(PackName(id), pack); !st) return st;
  std::uint64_t n = 0;
  {
    std::lock_guard lock(mutex_);
    records_.push_back({id, pack.size(), std::move(entries)});
    n = ++packs_written_;
    bytes_written_ += pack.size();
  }
  if (on_pack_) on_pack_(n);
  return {};
}

std::vector<PackRecord> PackWriter::TakeRecords() {
  std::lock_guard lock(mutex_);
  return std::move(records_);
}

std::uint64_t PackWriter::packs_written() const {
  std::lock_guard lock(mutex_);
  return packs_written_;
}

std::uint64_t PackWriter::bytes_written() const {
  std::lock_guard lock(mutex_);
  return bytes_written_;
}

Result<Bytes> OpenChunk(ByteView stored, const ChunkId& id, const Location& loc,
                        const Hasher& hasher, const Sealer& sealer) {
  auto opened = sealer.Open(stored, ByteView(id));
  if (!opened) return Corrupted("chunk " + ToHex(id) + ": " + opened.error().message());
  Bytes plain;
  if ((loc.flags & kChunkCompressed) != 0) {
    auto d = Decompress(*opened, loc.raw);
    if (!d) return Corrupted("chunk " + ToHex(id) + ": " + d.error().message());
    plain = std::move(*d);
  } else {
    plain = std::move(*opened);
  }
  if (plain.size() != loc.raw) return Corrupted("chunk " + ToHex(id) + ": wrong length");
  if (hasher.Hash(plain) != id) return Corrupted("chunk " + ToHex(id) + ": hash mismatch");
  return plain;
}

Result<std::uint64_t> ChunkFile(int fd, const FastCdc& chunker, Bytes& buffer,
                                const std::function<bool(ByteView)>& on_chunk,
                                const std::function<void(std::uint64_t)>& on_read) {
  const std::size_t max = chunker.params().max_size;
  if (buffer.size() < 2 * max) buffer.resize(2 * max);
  std::size_t start = 0;
  std::size_t end = 0;
  bool eof = false;
  std::uint64_t total = 0;
  while (true) {
    while (!eof && end - start < max) {
      if (buffer.size() - end < max) {
        std::memmove(buffer.data(), buffer.data() + start, end - start);
        end -= start;
        start = 0;
      }
      const ssize_t n = ::read(fd, buffer.data() + end, buffer.size() - end);
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError(std::string("read: ") + std::strerror(errno));
      }
      if (n == 0) {
        eof = true;
        break;
      }
      end += static_cast<std::size_t>(n);
      total += static_cast<std::uint64_t>(n);
      if (on_read) on_read(static_cast<std::uint64_t>(n));
    }
    if (start == end) break;
    const std::size_t cut = chunker.NextCut(ByteView(buffer.data() + start, end - start), eof);
    if (cut == 0) return MakeError(ErrorCode::kInternal, "chunker made no progress");
    if (!on_chunk(ByteView(buffer.data() + start, cut))) break;
    start += cut;
  }
  return total;
}

// Runs fn(i) for i in [0, n) on `threads` threads; `tick` runs on the caller every ~100 ms.
void ParallelFor(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& fn,
                 const std::function<void()>& tick) {
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, n));
  if (threads == 0) return;
  std::atomic<std::size_t> next{0};
  std::atomic<unsigned> running{threads};
  std::mutex mutex;
  std::condition_variable done;
  std::vector<std::jthread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (std::size_t i = next++; i < n; i = next++) fn(i);
      std::lock_guard lock(mutex);
      if (--running == 0) done.notify_all();
    });
  }
  std::unique_lock lock(mutex);
  while (running > 0) {
    done.wait_for(lock, std::chrono::milliseconds(100));
    if (tick) tick();
  }
}

unsigned ThreadCount(unsigned requested) {
  if (requested > 0) return std::min(requested, 64U);
  return std::max(1U, std::min(std::thread::hardware_concurrency(), 16U));
}

}  // namespace detail

// ---- state ----

Result<std::vector<PointInfo>> Repository::State::LoadCatalog() const {
  auto bytes = store->Get("catalog");
  if (!bytes) {
    if (bytes.error().code() == ErrorCode::kNotFound) return std::vector<PointInfo>{};
    return std::unexpected(bytes.error());
  }
  auto payload = detail::DecodeObject(*bytes, "catalog", sealer);
  if (!payload) return std::unexpected(payload.error());
  auto points = detail::DecodeCatalog(*payload);
  if (!points) return std::unexpected(points.error());
  std::stable_sort(points->begin(), points->end(), [](const PointInfo& a, const PointInfo& b) {
    return a.created_at < b.created_at;
  });
  return points;
}

Status Repository::State::SaveCatalog(const std::vector<PointInfo>& points) const {
  return store->Put("catalog",
                    detail::EncodeObject(detail::EncodeCatalog(points), "catalog", sealer));
}

Result<Manifest> Repository::State::LoadManifest(const std::string& id) const {
  if (id.empty() || id.find('/') != std::string::npos || id.starts_with(".")) {
    return InvalidArgument("bad point id '" + id + "'");
  }
  auto bytes = store->Get("points/" + id);
  if (!bytes) {
    if (bytes.error().code() == ErrorCode::kNotFound) {
      return NotFound("recovery point '" + id + "' has no manifest");
    }
    return std::unexpected(bytes.error());
  }
  auto payload = detail::DecodeObject(*bytes, "manifest", sealer);
  if (!payload) return Corrupted("manifest " + id + ": " + payload.error().message());
  auto manifest = detail::DecodeManifest(*payload);
  if (!manifest) return Corrupted("manifest " + id + ": " + manifest.error().message());
  if (manifest->point.id != id) return Corrupted("manifest " + id + " names another point");
  return manifest;
}

Status Repository::State::SaveManifest(const Manifest& manifest) const {
  return store->Put("points/" + manifest.point.id,
                    detail::EncodeObject(detail::EncodeManifest(manifest), "manifest", sealer));
}

Result<detail::Index> Repository::State::LoadIndex(std::vector<std::string>* problems) const {
  auto files = store->List("index/");
  if (!files) return std::unexpected(files.error());
  detail::Index index;
  for (const auto& f : *files) {
    auto bytes = store->Get(f.name);
    Result<std::vector<detail::PackRecord>> records =
        bytes ? [&]() -> Result<std::vector<detail::PackRecord>> {
      auto payload = detail::DecodeObject(*bytes, "index", sealer);
      if (!payload) return std::unexpected(payload.error());
      return detail::DecodeIndex(*payload);
    }()
        : Result<std::vector<detail::PackRecord>>(std::unexpected(bytes.error()));
    if (!records) {
      if (problems == nullptr) {
        return Corrupted(f.name + ": " + records.error().message());
      }
      problems->push_back(f.name + ": " + records.error().message());
      continue;
    }
    for (const auto& r : *records) index.Add(r);
    index.files.push_back(f.name);
  }
  return index;
}

Result<std::vector<detail::PackRecord>> Repository::State::FindOrphanPacks(
    const detail::Index& index, std::vector<std::string>* problems) const {
  auto packs = store->List("data/");
  if (!packs) return std::unexpected(packs.error());
  std::vector<detail::PackRecord> out;
  for (const auto& p : *packs) {
    auto id = detail::PackIdFromName(p.name);
    if (!id) continue;
    if (index.pack_numbers.contains(*id)) continue;
    auto record = detail::ReadPackTrailer(*store, *id, p.size, sealer);
    if (!record) {
      // A pack without a readable trailer holds nothing recoverable; prune deletes it.
      if (problems != nullptr) problems->push_back(record.error().message());
      continue;
    }
    out.push_back(std::move(*record));
  }
  return out;
}

Status Repository::State::WriteIndexFile(const std::vector<detail::PackRecord>& records) const {
  if (records.empty()) return {};
  const Bytes payload = detail::EncodeIndex(records);
  const ChunkId id = hasher.HashPlain(payload);
  return store->Put("index/" + ToHex(id), detail::EncodeObject(payload, "index", sealer));
}

Result<PointInfo> Repository::State::ResolvePoint(const std::string& id,
                                                  const std::string& plan) const {
  auto points = LoadCatalog();
  if (!points) return std::unexpected(points.error());
  if (id == "latest") {
    for (auto it = points->rbegin(); it != points->rend(); ++it) {
      if ((plan.empty() || it->plan == plan) && it->status == "complete") return *it;
    }
    return NotFound(plan.empty() ? "the repository has no recovery points"
                                 : "plan '" + plan + "' has no recovery points");
  }
  for (const auto& p : *points) {
    if (p.id == id) return p;
  }
  // A unique prefix is accepted, as operators copy short ids.
  const PointInfo* match = nullptr;
  for (const auto& p : *points) {
    if (!id.empty() && p.id.starts_with(id)) {
      if (match != nullptr) return InvalidArgument("point id prefix '" + id + "' is ambiguous");
      match = &p;
    }
  }
  if (match != nullptr) return *match;
  return NotFound("no recovery point '" + id + "'");
}

// ---- repository ----

namespace {

constexpr std::size_t kKeyBytes = 64;  // data key || id key

Result<detail::Key> DeriveKey(const std::string& passphrase, const Bytes& salt,
                              std::uint64_t opslimit, std::uint64_t memlimit) {
  detail::Key key;
  if (salt.size() != crypto_pwhash_SALTBYTES) return Corrupted("config: bad KDF salt");
  if (crypto_pwhash(key.data(), key.size(), passphrase.data(), passphrase.size(), salt.data(),
                    opslimit, memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return MakeError(ErrorCode::kInternal, "Argon2id failed (out of memory?)");
  }
  return key;
}

Result<Bytes> FromHex(const std::string& hex) {
  Bytes out(hex.size() / 2);
  std::size_t len = 0;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, nullptr) != 0 ||
      len != out.size()) {
    return Corrupted("config: bad hex");
  }
  return out;
}

std::string ToHexBytes(ByteView b) {
  std::string out(b.size() * 2, '0');
  sodium_bin2hex(out.data(), out.size() + 1, b.data(), b.size());
  return out;
}

void ApplyKeys(Repository::State& state, ByteView keys) {
  detail::Key data_key;
  detail::Key id_key;
  std::memcpy(data_key.data(), keys.data(), 32);
  std::memcpy(id_key.data(), keys.data() + 32, 32);
  state.sealer = detail::Sealer(data_key);
  state.hasher = detail::Hasher(state.info.hash, id_key);
}

}  // namespace

Repository::Repository(std::unique_ptr<State> state) : state_(std::move(state)) {}
Repository::~Repository() = default;

const RepositoryInfo& Repository::info() const { return state_->info; }
BlobStore& Repository::store() const { return *state_->store; }

Result<bool> Repository::Exists(const BlobStore& store) { return store.Exists("config"); }

Result<std::unique_ptr<Repository>> Repository::Create(std::shared_ptr<BlobStore> store,
                                                       const RepositoryOptions& options,
                                                       const Clock& clock) {
  if (!store) return InvalidArgument("no blob store");
  if (auto st = ValidateChunkerParams(options.chunker); !st) return std::unexpected(st.error());
  if (options.compression_level < 1 || options.compression_level > 19) {
    return InvalidArgument("compression level must be 1..19");
  }
  if (options.pack_size < 1024 * 1024 || options.pack_size > 1024ULL * 1024 * 1024) {
    return InvalidArgument("pack size must be between 1 MiB and 1 GiB");
  }
  if (options.encrypt && options.passphrase.empty()) {
    return InvalidArgument("an encrypted repository needs a passphrase");
  }
  auto exists = Exists(*store);
  if (!exists) return std::unexpected(exists.error());
  if (*exists) return AlreadyExists("a repository already exists at " + store->Location());

  auto state = std::make_unique<State>();
  state->store = std::move(store);
  state->clock = &clock;
  state->info.id = detail::RandomHex(16);
  state->info.chunker = options.chunker;
  state->info.hash = options.hash;
  state->info.compression_level = options.compression_level;
  state->info.pack_size = options.pack_size;
  state->info.encrypted = options.encrypt;
  state->hasher = detail::Hasher(options.hash, std::nullopt);

  detail::StoredConfig config;
  if (options.encrypt) {
    if (options.kdf_opslimit < crypto_pwhash_OPSLIMIT_MIN ||
        options.kdf_memlimit < crypto_pwhash_MEMLIMIT_MIN) {
      return InvalidArgument("Argon2id limits are below libsodium's minimum");
    }
    // A random gear table so chunk boundaries do not reveal known files.
    Bytes seed(8);
    randombytes_buf(seed.data(), seed.size());
    std::memcpy(&state->info.chunker.seed, seed.data(), 8);
    Bytes salt(crypto_pwhash_SALTBYTES);
    randombytes_buf(salt.data(), salt.size());
    auto kek = DeriveKey(options.passphrase, salt, options.kdf_opslimit, options.kdf_memlimit);
    if (!kek) return std::unexpected(kek.error());
    Bytes keys(kKeyBytes);
    randombytes_buf(keys.data(), keys.size());
    const Bytes wrapped = detail::Sealer(*kek).Seal(keys, detail::AsBytes("master-keys"));
    config.kdf_opslimit = options.kdf_opslimit;
    config.kdf_memlimit = options.kdf_memlimit;
    config.kdf_salt_hex = ToHexBytes(salt);
    config.wrapped_keys_hex = ToHexBytes(wrapped);
    ApplyKeys(*state, keys);
    sodium_memzero(keys.data(), keys.size());
  }
  config.info = state->info;
  auto put = state->store->PutExclusive("config", detail::EncodeConfig(config));
  if (!put) {
    if (put.error().code() == ErrorCode::kAlreadyExists) {
      return AlreadyExists("a repository already exists at " + state->store->Location());
    }
    return std::unexpected(put.error());
  }
  return std::unique_ptr<Repository>(new Repository(std::move(state)));
}

Result<std::unique_ptr<Repository>> Repository::Open(std::shared_ptr<BlobStore> store,
                                                     const std::string& passphrase,
                                                     const Clock& clock) {
  if (!store) return InvalidArgument("no blob store");
  auto bytes = store->Get("config");
  if (!bytes) {
    if (bytes.error().code() == ErrorCode::kNotFound) {
      return NotFound("no repository at " + store->Location());
    }
    return std::unexpected(bytes.error());
  }
  auto config = detail::DecodeConfig(*bytes);
  if (!config) return std::unexpected(config.error());
  auto state = std::make_unique<State>();
  state->store = std::move(store);
  state->clock = &clock;
  state->info = config->info;
  state->hasher = detail::Hasher(config->info.hash, std::nullopt);
  if (config->info.encrypted) {
    if (passphrase.empty()) {
      return InvalidArgument("the repository is encrypted: set STREAMGATE_REPO_PASSWORD");
    }
    auto salt = FromHex(config->kdf_salt_hex);
    auto wrapped = FromHex(config->wrapped_keys_hex);
    if (!salt || !wrapped) return Corrupted("config: bad encryption parameters");
    auto kek = DeriveKey(passphrase, *salt, config->kdf_opslimit, config->kdf_memlimit);
    if (!kek) return std::unexpected(kek.error());
    auto keys = detail::Sealer(*kek).Open(*wrapped, detail::AsBytes("master-keys"));
    if (!keys || keys->size() != kKeyBytes) {
      return InvalidArgument("wrong passphrase for the encrypted repository");
    }
    ApplyKeys(*state, *keys);
    sodium_memzero(keys->data(), keys->size());
  }
  return std::unique_ptr<Repository>(new Repository(std::move(state)));
}

Result<std::vector<PointInfo>> Repository::ListPoints() const { return state_->LoadCatalog(); }

Result<PointInfo> Repository::GetPoint(const std::string& id) const {
  if (id.empty()) return InvalidArgument("point id is empty");
  return state_->ResolvePoint(id, "");
}

Result<PointInfo> Repository::LatestPoint(const std::string& plan,
                                          std::optional<Strategy> strategy) const {
  auto points = state_->LoadCatalog();
  if (!points) return std::unexpected(points.error());
  for (auto it = points->rbegin(); it != points->rend(); ++it) {
    if ((plan.empty() || it->plan == plan) && (!strategy || it->strategy == *strategy) &&
        it->status == "complete") {
      return *it;
    }
  }
  return NotFound("no matching recovery point");
}

Result<Manifest> Repository::LoadManifest(const std::string& id) const {
  auto point = GetPoint(id);
  if (!point) return std::unexpected(point.error());
  return state_->LoadManifest(point->id);
}

Result<RepositoryStats> Repository::Stats() const {
  RepositoryStats stats;
  auto all = state_->store->List("");
  if (!all) return std::unexpected(all.error());
  for (const auto& b : *all) {
    stats.total_bytes += b.size;
    if (b.name.starts_with("data/")) {
      ++stats.packs;
      stats.pack_bytes += b.size;
    }
  }
  auto points = state_->LoadCatalog();
  if (!points) return std::unexpected(points.error());
  stats.points = points->size();
  return stats;
}

}  // namespace streamgate::backup
