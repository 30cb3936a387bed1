#include "streamgate/backup/repository.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "backup/codec.hpp"
#include "backup/format.hpp"
#include "backup/state.hpp"
#include "backup_test_util.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::backup {
namespace {

using namespace std::chrono_literals;
using testing::Describe;
using testing::RandomBytes;
using testing::ReadFile;
using testing::TextBytes;
using testing::WriteFile;
namespace fs = std::filesystem;

RepositoryOptions SmallRepo() {
  RepositoryOptions o;
  o.chunker.min_size = 4 * 1024;
  o.chunker.avg_size = 16 * 1024;
  o.chunker.max_size = 64 * 1024;
  o.pack_size = 1024 * 1024;
  return o;
}

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_ / "src";
    auto store = MakeLocalBlobStore(dir_ / "repo");
    ASSERT_TRUE(store);
    store_ = *store;
  }

  void CreateRepo(RepositoryOptions options = SmallRepo()) {
    auto repo = Repository::Create(store_, options, clock_);
    ASSERT_TRUE(repo) << repo.error().ToString();
    repo_ = std::move(*repo);
  }

  // A tree with text, incompressible data, small files, an empty file and directory, modes
  // and symlinks.
  void MakeTree() {
    WriteFile(src_ + "/logs/access.log", TextBytes(300 * 1024, 1));
    WriteFile(src_ + "/logs/error.log", TextBytes(20 * 1024, 2));
    WriteFile(src_ + "/media/seg-1.ts", RandomBytes(400 * 1024, 3));
    WriteFile(src_ + "/media/seg-2.ts", RandomBytes(250 * 1024, 4));
    for (int i = 0; i < 30; ++i) {
      WriteFile(src_ + "/small/f" + std::to_string(i), TextBytes(100 + i * 37, 100 + i));
    }
    WriteFile(src_ + "/empty-file", "");
    fs::create_directories(src_ + "/empty-dir");
    fs::create_directories(src_ + "/locked");
    WriteFile(src_ + "/locked/readonly.txt", "can't touch this");
    ::chmod((src_ + "/locked/readonly.txt").c_str(), 0444);
    ::chmod((src_ + "/locked").c_str(), 0555);
    WriteFile(src_ + "/bin/tool", "#!/bin/sh\necho hi\n");
    ::chmod((src_ + "/bin/tool").c_str(), 0755);
    ::chmod((src_ + "/logs/error.log").c_str(), 0600);
    fs::create_symlink("../logs/access.log", src_ + "/bin/log-link");
    fs::create_symlink("/etc/hostname", src_ + "/abs-link");
    fs::create_symlink("missing-target", src_ + "/dangling");
  }

  BackupResult Backup(Strategy strategy, const std::string& plan = "default") {
    clock_.Advance(1h);
    BackupRequest request;
    request.sources = {src_};
    request.strategy = strategy;
    request.plan = plan;
    auto result = repo_->Backup(request);
    EXPECT_TRUE(result) << result.error().ToString();
    return result ? *result : BackupResult{};
  }

  std::map<std::string, std::string> RestoreTree(const std::string& point,
                                                 std::vector<std::string> paths = {}) {
    const std::string target = dir_ / ("restore-" + point + std::to_string(restores_++));
    RestoreRequest request;
    request.point = point;
    request.target = target;
    request.paths = std::move(paths);
    auto result = repo_->Restore(request);
    EXPECT_TRUE(result) << result.error().ToString();
    if (result) {
      EXPECT_TRUE(result->errors.empty()) << result->errors.front();
    }
    return Describe(fs::path(target) / "src");
  }

  testing::TempDir dir_;
  std::string src_;
  std::shared_ptr<BlobStore> store_;
  streamgate::testing::ManualClock clock_;
  std::unique_ptr<Repository> repo_;
  int restores_ = 0;
};

// A local store that says it is remote (reads worth batching) and counts range reads.
class ReadCountingStore final : public BlobStore {
 public:
  ReadCountingStore(std::shared_ptr<BlobStore> inner, std::uint64_t read_size)
      : inner_(std::move(inner)), read_size_(read_size) {}
  Status Put(std::string_view n, ByteView b) override { return inner_->Put(n, b); }
  Status PutExclusive(std::string_view n, ByteView b) override {
    return inner_->PutExclusive(n, b);
  }
  Result<Bytes> Get(std::string_view n) const override { return inner_->Get(n); }
  Result<Bytes> GetRange(std::string_view n, std::uint64_t o, std::uint64_t l) const override {
    ++range_reads;
    return inner_->GetRange(n, o, l);
  }
  Result<bool> Exists(std::string_view n) const override { return inner_->Exists(n); }
  Result<std::uint64_t> Size(std::string_view n) const override { return inner_->Size(n); }
  Result<std::vector<BlobInfo>> List(std::string_view p) const override { return inner_->List(p); }
  Status Delete(std::string_view n) override { return inner_->Delete(n); }
  std::string Location() const override { return inner_->Location(); }
  std::uint64_t PreferredReadSize() const override { return read_size_; }
  mutable std::atomic<int> range_reads{0};

 private:
  std::shared_ptr<BlobStore> inner_;
  std::uint64_t read_size_;
};

TEST_F(RepositoryTest, RestoresFromRemoteStoresReadPacksInWindowsNotChunkByChunk) {
  for (const std::uint64_t read_size : {std::uint64_t{0}, std::uint64_t{1} << 20}) {
    SCOPED_TRACE(read_size);
    testing::TempDir repo_dir;
    auto counting =
        std::make_shared<ReadCountingStore>(*MakeLocalBlobStore(repo_dir.path()), read_size);
    store_ = counting;
    CreateRepo();
    MakeTree();
    const BackupResult full = Backup(Strategy::kFull);
    counting->range_reads = 0;
    EXPECT_EQ(RestoreTree(full.point.id), Describe(src_));
    const std::uint64_t chunks = full.chunks_new + full.chunks_deduplicated;
    if (read_size == 0) {
      EXPECT_GE(counting->range_reads.load(), static_cast<int>(chunks) - 2);  // one per chunk
    } else {
      // ~1.3 MiB of packs in 1 MiB windows, a few per worker.
      EXPECT_LE(counting->range_reads.load(), 8) << chunks << " chunks";
    }
    ::chmod((src_ + "/locked").c_str(), 0755);
    fs::remove_all(src_);
  }
}

TEST_F(RepositoryTest, CreateRefusesAnExistingRepositoryAndOpenFindsIt) {
  CreateRepo();
  EXPECT_EQ(Repository::Create(store_, SmallRepo(), clock_).error().code(),
            ErrorCode::kAlreadyExists);
  auto opened = Repository::Open(store_, "", clock_);
  ASSERT_TRUE(opened);
  EXPECT_EQ((*opened)->info().id, repo_->info().id);
  EXPECT_EQ((*opened)->info().chunker, SmallRepo().chunker);
  testing::TempDir other;
  EXPECT_EQ(Repository::Open(*MakeLocalBlobStore(other.path()), "", clock_).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(RepositoryTest, CreateValidatesOptions) {
  RepositoryOptions o = SmallRepo();
  o.chunker.avg_size = 3000;
  EXPECT_EQ(Repository::Create(store_, o, clock_).error().code(), ErrorCode::kInvalidArgument);
  o = SmallRepo();
  o.compression_level = 0;
  EXPECT_FALSE(Repository::Create(store_, o, clock_));
  o = SmallRepo();
  o.encrypt = true;
  EXPECT_FALSE(Repository::Create(store_, o, clock_));  // no passphrase
  o = SmallRepo();
  o.pack_size = 1000;
  EXPECT_FALSE(Repository::Create(store_, o, clock_));
}

TEST_F(RepositoryTest, FullIncrementalDifferentialRestoreByteIdentical) {
  CreateRepo();
  MakeTree();
  const BackupResult full = Backup(Strategy::kFull);
  const auto tree_full = Describe(src_);
  EXPECT_EQ(full.point.strategy, Strategy::kFull);
  EXPECT_EQ(full.files_unchanged, 0U);
  EXPECT_EQ(full.point.file_count, 37U);
  EXPECT_GT(full.point.stored_bytes, 0U);
  // Text compresses, so the stored size is below the logical size despite random media.
  EXPECT_LT(full.point.stored_bytes, full.point.logical_bytes);

  // Change: edit, append, add, delete, chmod, retarget a symlink.
  WriteFile(src_ + "/logs/access.log", ReadFile(src_ + "/logs/access.log") + "appended line\n");
  WriteFile(src_ + "/small/f3", "rewritten");
  WriteFile(src_ + "/new/file.txt", TextBytes(5000, 9));
  fs::remove(src_ + "/small/f4");
  ::chmod((src_ + "/bin/tool").c_str(), 0700);
  fs::remove(src_ + "/bin/log-link");
  fs::create_symlink("../logs/error.log", src_ + "/bin/log-link");
  const BackupResult incr1 = Backup(Strategy::kIncremental);
  const auto tree_incr1 = Describe(src_);
  EXPECT_EQ(incr1.point.strategy, Strategy::kIncremental);
  EXPECT_EQ(incr1.point.parent, full.point.id);
  EXPECT_EQ(incr1.files_read, 4U);  // access.log, f3, new/file.txt, tool (ctime changed)
  EXPECT_EQ(incr1.files_unchanged, 33U);
  // Only the appended tail of the log is new; the rest deduplicates.
  EXPECT_LT(incr1.point.stored_bytes, 100U * 1024);

  WriteFile(src_ + "/media/seg-3.ts", RandomBytes(100 * 1024, 10));
  const BackupResult diff = Backup(Strategy::kDifferential);
  const auto tree_diff = Describe(src_);
  EXPECT_EQ(diff.point.strategy, Strategy::kDifferential);
  EXPECT_EQ(diff.point.parent, full.point.id);  // since the last full, not the incremental
  EXPECT_EQ(diff.files_read, 5U);               // the 4 changed since the full, plus seg-3

  WriteFile(src_ + "/small/f5", "again");
  const BackupResult incr2 = Backup(Strategy::kIncremental);
  const auto tree_incr2 = Describe(src_);
  EXPECT_EQ(incr2.point.parent, diff.point.id);
  EXPECT_EQ(incr2.files_read, 1U);

  EXPECT_EQ(RestoreTree(full.point.id), tree_full);
  EXPECT_EQ(RestoreTree(incr1.point.id), tree_incr1);
  EXPECT_EQ(RestoreTree(diff.point.id), tree_diff);
  EXPECT_EQ(RestoreTree(incr2.point.id), tree_incr2);
  EXPECT_EQ(RestoreTree("latest"), tree_incr2);
  // Restoring twice into the same target (read-only directories included) works.
  RestoreRequest again;
  again.point = full.point.id;
  again.target = dir_ / "again";
  ASSERT_TRUE(repo_->Restore(again));
  auto second = repo_->Restore(again);
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->errors.empty()) << second->errors.front();
  EXPECT_EQ(Describe(dir_ / "again/src"), tree_full);

  auto points = repo_->ListPoints();
  ASSERT_TRUE(points);
  ASSERT_EQ(points->size(), 4U);
  EXPECT_EQ((*points)[0].id, full.point.id);
  EXPECT_EQ((*points)[3].id, incr2.point.id);
  auto check = repo_->Check(true);
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->ok()) << check->problems.front().message;
}

TEST_F(RepositoryTest, FirstIncrementalIsRecordedAsFullAndPlansAreSeparate) {
  CreateRepo();
  MakeTree();
  const BackupResult a = Backup(Strategy::kIncremental, "plan-a");
  EXPECT_EQ(a.point.strategy, Strategy::kFull);
  EXPECT_EQ(a.point.parent, "");
  const BackupResult b = Backup(Strategy::kIncremental, "plan-b");
  EXPECT_EQ(b.point.strategy, Strategy::kFull);  // plan-b has no point yet
  EXPECT_EQ(b.packs_written, 0U);                // but every chunk deduplicates
  EXPECT_EQ(b.chunks_new, 0U);
  const BackupResult c = Backup(Strategy::kIncremental, "plan-a");
  EXPECT_EQ(c.point.parent, a.point.id);
  EXPECT_EQ(c.files_read, 0U);
  EXPECT_EQ(repo_->LatestPoint("plan-b")->id, b.point.id);
  EXPECT_EQ(repo_->LatestPoint("", Strategy::kFull)->id, b.point.id);
}

TEST_F(RepositoryTest, FullRereadsEverythingButStoresNothingNew) {
  CreateRepo();
  MakeTree();
  const BackupResult a = Backup(Strategy::kFull);
  const BackupResult b = Backup(Strategy::kFull);
  EXPECT_EQ(b.files_read, a.files_read);
  EXPECT_EQ(b.bytes_read, a.bytes_read);
  EXPECT_EQ(b.packs_written, 0U);
  EXPECT_EQ(b.point.stored_bytes, 0U);
}

TEST_F(RepositoryTest, RestoresAPathSubset) {
  CreateRepo();
  MakeTree();
  const BackupResult a = Backup(Strategy::kFull);
  const std::string target = dir_ / "subset";
  RestoreRequest request;
  request.point = a.point.id.substr(0, 6);  // unique prefix
  request.target = target;
  request.paths = {"src/logs", "src/bin/tool"};
  auto result = repo_->Restore(request);
  ASSERT_TRUE(result) << result.error().ToString();
  EXPECT_TRUE(result->errors.empty());
  EXPECT_EQ(result->files, 3U);
  EXPECT_EQ(ReadFile(target + "/src/logs/error.log"), ReadFile(src_ + "/logs/error.log"));
  EXPECT_TRUE(fs::exists(target + "/src/bin/tool"));
  EXPECT_FALSE(fs::exists(target + "/src/bin/log-link", *std::make_unique<std::error_code>()));
  EXPECT_FALSE(fs::exists(target + "/src/media"));
  request.paths = {"src/nothing-here"};
  EXPECT_EQ(repo_->Restore(request).error().code(), ErrorCode::kNotFound);
  request.paths = {"../x"};
  EXPECT_EQ(repo_->Restore(request).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(RepositoryTest, RestoreRejectsBadArguments) {
  CreateRepo();
  MakeTree();
  Backup(Strategy::kFull);
  RestoreRequest request;
  request.target = dir_ / "t";
  EXPECT_EQ(repo_->Restore(request).error().code(), ErrorCode::kInvalidArgument);
  request.point = "nope";
  EXPECT_EQ(repo_->Restore(request).error().code(), ErrorCode::kNotFound);
  request.point = "latest";
  request.target = "";
  EXPECT_EQ(repo_->Restore(request).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(RepositoryTest, BackupValidatesTheRequest) {
  CreateRepo();
  BackupRequest request;
  EXPECT_EQ(repo_->Backup(request).error().code(), ErrorCode::kInvalidArgument);
  request.sources = {dir_ / "does-not-exist"};
  EXPECT_EQ(repo_->Backup(request).error().code(), ErrorCode::kInvalidArgument);
  fs::create_directories(dir_ / "a/data");
  fs::create_directories(dir_ / "b/data");
  request.sources = {dir_ / "a/data", dir_ / "b/data"};
  auto same_name = repo_->Backup(request);
  ASSERT_FALSE(same_name);
  EXPECT_NE(same_name.error().message().find("base name"), std::string::npos);
  request.sources = {dir_ / "a/data"};
  request.plan = "";
  EXPECT_FALSE(repo_->Backup(request));
}

TEST_F(RepositoryTest, ASourceGivenAsASymlinkIsFollowed) {
  CreateRepo();
  WriteFile(dir_ / "real/data/a.txt", "a");
  fs::create_symlink(dir_ / "real/data", dir_ / "data-link");
  BackupRequest request;
  request.sources = {dir_ / "data-link"};
  auto result = repo_->Backup(request);
  ASSERT_TRUE(result) << result.error().ToString();
  auto manifest = repo_->LoadManifest(result->point.id);
  ASSERT_TRUE(manifest);
  ASSERT_EQ(manifest->entries.size(), 2U);
  EXPECT_EQ(manifest->entries[0].path, "data-link");
  EXPECT_EQ(manifest->entries[0].type, EntryType::kDirectory);
  EXPECT_EQ(manifest->entries[1].path, "data-link/a.txt");
}

TEST_F(RepositoryTest, ExcludesSkipMatchingEntries) {
  CreateRepo();
  MakeTree();
  BackupRequest request;
  request.sources = {src_};
  request.excludes = {"*.ts", "src/small"};
  auto result = repo_->Backup(request);
  ASSERT_TRUE(result);
  auto manifest = repo_->LoadManifest(result->point.id);
  ASSERT_TRUE(manifest);
  for (const auto& e : manifest->entries) {
    EXPECT_FALSE(e.path.ends_with(".ts")) << e.path;
    EXPECT_FALSE(e.path.starts_with("src/small")) << e.path;
  }
  EXPECT_EQ(result->point.file_count, 5U);
}

TEST_F(RepositoryTest, VerifyComparesADirectoryWithAPoint) {
  CreateRepo();
  MakeTree();
  const BackupResult a = Backup(Strategy::kFull);
  const std::string target = dir_ / "v";
  RestoreRequest request;
  request.point = a.point.id;
  request.target = target;
  ASSERT_TRUE(repo_->Restore(request));
  auto ok = repo_->Verify(a.point.id, target);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->ok()) << ok->mismatches.front();
  EXPECT_EQ(ok->bytes_checked, a.point.logical_bytes);
  std::string content = ReadFile(target + "/src/media/seg-1.ts");
  content[1000] ^= 1;
  WriteFile(target + "/src/media/seg-1.ts", content);
  fs::remove(target + "/src/small/f1");
  auto bad = repo_->Verify(a.point.id, target);
  ASSERT_TRUE(bad);
  ASSERT_EQ(bad->mismatches.size(), 2U);
  EXPECT_NE(bad->mismatches[0].find("seg-1.ts: content differs"), std::string::npos);
  EXPECT_NE(bad->mismatches[1].find("f1: missing"), std::string::npos);
}

TEST_F(RepositoryTest, CheckReportsAFlippedByteWithThePointsItAffects) {
  CreateRepo();
  WriteFile(src_ + "/media/seg.ts", RandomBytes(200 * 1024, 5));
  const BackupResult a = Backup(Strategy::kFull);
  WriteFile(src_ + "/other.txt", TextBytes(10000, 6));
  const BackupResult b = Backup(Strategy::kIncremental);
  auto clean = repo_->Check(true);
  ASSERT_TRUE(clean);
  EXPECT_TRUE(clean->ok());
  EXPECT_GT(clean->bytes_verified, 200U * 1024);

  // Flip one byte inside the chunk data of the pack that holds seg.ts.
  auto packs = store_->List("data/");
  ASSERT_TRUE(packs);
  ASSERT_FALSE(packs->empty());
  const auto largest =
      std::max_element(packs->begin(), packs->end(),
                       [](const BlobInfo& x, const BlobInfo& y) { return x.size < y.size; });
  const std::string pack_path = (dir_.path() / "repo" / largest->name).string();
  std::string bytes = ReadFile(pack_path);
  ASSERT_GT(bytes.size(), 200U * 1024);
  bytes[5000] ^= 0x20;
  ::chmod(pack_path.c_str(), 0644);
  WriteFile(pack_path, bytes);

  auto structural = repo_->Check(false);
  ASSERT_TRUE(structural);
  EXPECT_TRUE(structural->ok());  // sizes and names still fit; only reading finds it
  auto report = repo_->Check(true);
  ASSERT_TRUE(report);
  ASSERT_FALSE(report->ok());
  bool found = false;
  for (const auto& p : report->problems) {
    if (p.kind != "bad_chunk") continue;
    found = true;
    EXPECT_EQ(p.affected_points, (std::vector<std::string>{a.point.id, b.point.id})) << p.object;
    EXPECT_NE(p.message.find("src/media/seg.ts"), std::string::npos);
  }
  EXPECT_TRUE(found);
  // Restore refuses the damaged file and restores the rest.
  RestoreRequest request;
  request.point = b.point.id;
  request.target = dir_ / "t";
  auto restored = repo_->Restore(request);
  ASSERT_TRUE(restored);
  ASSERT_EQ(restored->errors.size(), 1U);
  EXPECT_NE(restored->errors[0].find("hash mismatch"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "t/src/media/seg.ts"));
  EXPECT_EQ(ReadFile(dir_ / "t/src/other.txt"), ReadFile(src_ + "/other.txt"));
}

TEST_F(RepositoryTest, CheckReportsMissingPacksAndManifests) {
  CreateRepo();
  MakeTree();
  const BackupResult a = Backup(Strategy::kFull);
  auto packs = store_->List("data/");
  ASSERT_TRUE(store_->Delete(packs->front().name));
  ASSERT_TRUE(store_->Delete("points/" + a.point.id));
  auto report = repo_->Check(false);
  ASSERT_TRUE(report);
  std::set<std::string> kinds;
  for (const auto& p : report->problems) kinds.insert(p.kind);
  EXPECT_TRUE(kinds.contains("missing_pack"));
  EXPECT_TRUE(kinds.contains("missing_manifest"));
}

// A manifest written by an attacker (or a bug): entries that would land outside the target.
TEST_F(RepositoryTest, RestoreRefusesPathTraversalEntries) {
  CreateRepo();
  WriteFile(src_ + "/good.txt", "good");
  const BackupResult a = Backup(Strategy::kFull);
  auto manifest = repo_->LoadManifest(a.point.id);
  ASSERT_TRUE(manifest);
  FileEntry good;
  for (const auto& e : manifest->entries) {
    if (e.path == "src/good.txt") good = e;
  }
  ASSERT_EQ(good.chunks.size(), 1U);
  const std::string outside = dir_ / "outside";
  fs::create_directories(outside);
  auto add_file = [&](std::string path) {
    FileEntry e = good;
    e.path = std::move(path);
    manifest->entries.push_back(e);
  };
  add_file("../escaped-dotdot");
  add_file("src/../../escaped-middle");
  add_file(outside + "/escaped-absolute");
  add_file("src/./dot");
  add_file("src//double");
  add_file("src/pre-link/escaped-through-existing-link");
  FileEntry link;
  link.path = "src/evil-link";
  link.type = EntryType::kSymlink;
  link.symlink_target = outside;
  manifest->entries.push_back(link);
  add_file("src/evil-link/escaped-through-restored-link");
  const detail::Sealer no_encryption;
  ASSERT_TRUE(store_->Put(
      "points/" + a.point.id,
      detail::EncodeObject(detail::EncodeManifest(*manifest), "manifest", no_encryption)));

  const std::string target = dir_ / "target";
  fs::create_directories(target + "/src");
  fs::create_symlink(outside, target + "/src/pre-link");  // already in the target
  RestoreRequest request;
  request.point = a.point.id;
  request.target = target;
  auto result = repo_->Restore(request);
  ASSERT_TRUE(result) << result.error().ToString();
  EXPECT_EQ(ReadFile(target + "/src/good.txt"), "good");
  EXPECT_TRUE(fs::is_empty(outside)) << fs::directory_iterator(outside)->path();
  EXPECT_FALSE(fs::exists(dir_ / "escaped-dotdot"));
  EXPECT_FALSE(fs::exists(dir_ / "escaped-middle"));
  std::string all_errors;
  for (const auto& e : result->errors) all_errors += e + "\n";
  for (const char* refused :
       {"../escaped-dotdot", "src/../../escaped-middle", "escaped-absolute", "src/./dot",
        "src//double", "src/pre-link/escaped-through-existing-link"}) {
    EXPECT_NE(all_errors.find(refused), std::string::npos) << refused << "\n" << all_errors;
  }
  // The restored symlink never becomes a parent: the file under its name stays inside the
  // target and the link itself cannot replace that directory.
  EXPECT_FALSE(fs::is_symlink(target + "/src/evil-link"));
  // Check flags the crafted manifest too.
  auto check = repo_->Check(false);
  ASSERT_TRUE(check);
  EXPECT_FALSE(check->ok());
  EXPECT_EQ(check->problems.front().kind, "bad_path");
}

TEST_F(RepositoryTest, EncryptedRepositoryRoundTripsAndNeedsThePassphrase) {
  RepositoryOptions o = SmallRepo();
  o.encrypt = true;
  o.passphrase = "correct horse battery staple";
  o.kdf_opslimit = 1;
  o.kdf_memlimit = 64 * 1024;
  CreateRepo(o);
  EXPECT_TRUE(repo_->info().encrypted);
  EXPECT_NE(repo_->info().chunker.seed, 0U);
  const std::string marker = "PLAINTEXT-MARKER-THAT-MUST-NOT-LEAK ";
  std::string text;
  for (int i = 0; i < 200; ++i) text += marker;
  WriteFile(src_ + "/secret.txt", text);
  WriteFile(src_ + "/media/seg.ts", RandomBytes(100 * 1024, 7));
  const BackupResult a = Backup(Strategy::kFull);
  const auto tree = Describe(src_);
  EXPECT_EQ(RestoreTree(a.point.id), tree);
  const auto blobs = store_->List("");
  ASSERT_TRUE(blobs);
  for (const auto& b : *blobs) {
    const std::string content = ReadFile(dir_.path() / "repo" / b.name);
    EXPECT_EQ(content.find("PLAINTEXT-MARKER"), std::string::npos) << b.name;
    EXPECT_EQ(content.find("secret.txt"), std::string::npos) << b.name;
  }
  EXPECT_TRUE(repo_->Check(true)->ok());

  auto wrong = Repository::Open(store_, "wrong", clock_);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(Repository::Open(store_, "", clock_));
  auto right = Repository::Open(store_, o.passphrase, clock_);
  ASSERT_TRUE(right);
  EXPECT_EQ((*right)->LatestPoint()->id, a.point.id);
  // Same content, same keyed ids: nothing new stored.
  BackupRequest request;
  request.sources = {src_};
  request.strategy = Strategy::kFull;
  auto again = (*right)->Backup(request);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->chunks_new, 0U);
}

TEST_F(RepositoryTest, BlakeRepositoriesWorkToo) {
  RepositoryOptions o = SmallRepo();
  o.hash = HashAlgorithm::kBlake2b256;
  CreateRepo(o);
  MakeTree();
  const BackupResult a = Backup(Strategy::kFull);
  EXPECT_EQ(RestoreTree(a.point.id), Describe(src_));
  EXPECT_EQ((*Repository::Open(store_, "", clock_))->info().hash, HashAlgorithm::kBlake2b256);
}

TEST_F(RepositoryTest, PruneKeepsWhatRemainingPointsNeed) {
  CreateRepo();
  WriteFile(src_ + "/shared.ts", RandomBytes(300 * 1024, 20));
  WriteFile(src_ + "/only-first.ts", RandomBytes(300 * 1024, 21));
  const BackupResult first = Backup(Strategy::kFull);
  fs::remove(src_ + "/only-first.ts");
  WriteFile(src_ + "/second.ts", RandomBytes(200 * 1024, 22));
  const BackupResult second = Backup(Strategy::kIncremental);
  const auto tree_second = Describe(src_);
  WriteFile(src_ + "/third.txt", TextBytes(50 * 1024, 23));
  const BackupResult third = Backup(Strategy::kIncremental);
  const auto tree_third = Describe(src_);
  const std::uint64_t before = repo_->Stats()->pack_bytes;

  PruneOptions dry;
  dry.keep_last = 2;
  dry.dry_run = true;
  auto preview = repo_->Prune(dry);
  ASSERT_TRUE(preview);
  EXPECT_EQ(preview->removed_points, std::vector<std::string>{first.point.id});
  EXPECT_EQ(repo_->ListPoints()->size(), 3U);

  PruneOptions keep_two;
  keep_two.keep_last = 2;
  auto pruned = repo_->Prune(keep_two);
  ASSERT_TRUE(pruned) << pruned.error().ToString();
  EXPECT_EQ(pruned->removed_points, std::vector<std::string>{first.point.id});
  const std::uint64_t after = repo_->Stats()->pack_bytes;
  // only-first.ts (300 KiB of random data) is gone; shared.ts stays.
  EXPECT_LT(after + 250 * 1024, before);
  EXPECT_GT(after, 500U * 1024);
  EXPECT_FALSE(*store_->Exists("points/" + first.point.id));
  auto check = repo_->Check(true);
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->ok()) << check->problems.front().message;
  EXPECT_EQ(RestoreTree(second.point.id), tree_second);
  EXPECT_EQ(RestoreTree(third.point.id), tree_third);
  EXPECT_EQ(repo_->GetPoint(first.point.id).error().code(), ErrorCode::kNotFound);

  // Pruning again frees nothing more.
  auto again = repo_->Prune(keep_two);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->removed_points.empty());
  EXPECT_EQ(again->packs_deleted, 0U);
}

TEST_F(RepositoryTest, PruneByAgeNeverRemovesTheNewestPointOfAPlan) {
  CreateRepo();
  WriteFile(src_ + "/a.txt", TextBytes(1000, 1));
  const BackupResult old_a = Backup(Strategy::kFull, "a");
  const BackupResult only_b = Backup(Strategy::kFull, "b");
  clock_.Advance(24h * 10);
  const BackupResult new_a = Backup(Strategy::kFull, "a");
  clock_.Advance(24h * 10);
  PruneOptions options;
  options.keep_days = 5;
  auto pruned = repo_->Prune(options);
  ASSERT_TRUE(pruned);
  EXPECT_EQ(pruned->removed_points, std::vector<std::string>{old_a.point.id});
  std::vector<std::string> ids;
  const auto points = repo_->ListPoints();
  ASSERT_TRUE(points);
  for (const auto& p : *points) ids.push_back(p.id);
  EXPECT_EQ(ids, (std::vector<std::string>{only_b.point.id, new_a.point.id}));

  PruneOptions forget;
  forget.forget = {"no-such-point"};
  EXPECT_EQ(repo_->Prune(forget).error().code(), ErrorCode::kNotFound);
  forget.forget = {only_b.point.id};
  ASSERT_TRUE(repo_->Prune(forget));
  EXPECT_EQ(repo_->ListPoints()->size(), 1U);
  PruneOptions zero;
  zero.keep_last = 0;
  EXPECT_EQ(repo_->Prune(zero).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(RepositoryTest, PruneRepacksPartlyUsedPacks) {
  CreateRepo();
  // Both files land in one pack; deleting one point leaves the pack half used.
  WriteFile(src_ + "/keep.ts", RandomBytes(200 * 1024, 30));
  WriteFile(src_ + "/drop.ts", RandomBytes(200 * 1024, 31));
  const BackupResult first = Backup(Strategy::kFull);
  fs::remove(src_ + "/drop.ts");
  const BackupResult second = Backup(Strategy::kFull);
  EXPECT_EQ(second.packs_written, 0U);
  const auto tree = Describe(src_);
  PruneOptions options;
  options.forget = {first.point.id};
  auto pruned = repo_->Prune(options);
  ASSERT_TRUE(pruned);
  EXPECT_EQ(pruned->packs_repacked, 1U);
  EXPECT_EQ(pruned->packs_written, 1U);
  EXPECT_LT(repo_->Stats()->pack_bytes, 250U * 1024);
  EXPECT_EQ(RestoreTree(second.point.id), tree);
  EXPECT_TRUE(repo_->Check(true)->ok());
}

TEST_F(RepositoryTest, OneWriterAtATimeAndStaleLocksAreRecovered) {
  CreateRepo();
  WriteFile(src_ + "/a.txt", "a");
  auto lock_body = [&](long pid, const std::string& host, WallTime when) {
    const std::string body = nlohmann::json{
        {"pid", pid},
        {"host", host},
        {"time_ns",
         std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count()},
        {"command", "backup"},
        {"nonce", "x"}}.dump();
    return Bytes(body.begin(), body.end());
  };
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  BackupRequest request;
  request.sources = {src_};

  // Held by another live process on this host (the test runner's parent).
  ASSERT_TRUE(store_->Put("lock", lock_body(::getppid(), host, clock_.WallNow())));
  auto blocked = repo_->Backup(request);
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(blocked.error().message().find("locked by pid"), std::string::npos);
  EXPECT_EQ(repo_->Prune({}).error().code(), ErrorCode::kFailedPrecondition);

  // Held by this process through a lock it still holds: locked.
  ASSERT_TRUE(store_->Delete("lock"));
  {
    auto held = detail::RepoLock::Acquire(*store_, clock_, "test");
    ASSERT_TRUE(held) << held.error().ToString();
    EXPECT_FALSE(repo_->Backup(request));
  }
  EXPECT_FALSE(*store_->Exists("lock"));  // released with the holder

  // Naming this process but held by nobody here (an earlier release failed while the store was
  // unreachable): recovered, so a daemon is not locked out of its own repository.
  ASSERT_TRUE(store_->Put("lock", lock_body(::getpid(), host, clock_.WallNow())));
  EXPECT_TRUE(repo_->Backup(request));
  EXPECT_FALSE(*store_->Exists("lock"));

  // Held by a recent writer on another host: still locked.
  ASSERT_TRUE(store_->Put("lock", lock_body(1, "elsewhere", clock_.WallNow())));
  EXPECT_FALSE(repo_->Backup(request));

  // Another host, but a day old: stale.
  ASSERT_TRUE(store_->Put("lock", lock_body(1, "elsewhere", clock_.WallNow() - 25h)));
  EXPECT_TRUE(repo_->Backup(request));
  EXPECT_FALSE(*store_->Exists("lock"));  // released

  // A dead process on this host: stale.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(store_->Put("lock", lock_body(child, host, clock_.WallNow())));
  EXPECT_TRUE(repo_->Backup(request));
  EXPECT_FALSE(*store_->Exists("lock"));
}

TEST_F(RepositoryTest, ProgressIsReportedAndEndsFinished) {
  CreateRepo();
  MakeTree();
  BackupRequest request;
  request.sources = {src_};
  std::vector<Progress> seen;
  request.progress = [&](const Progress& p) { seen.push_back(p); };
  auto result = repo_->Backup(request);
  ASSERT_TRUE(result);
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(seen.back().finished);
  EXPECT_EQ(seen.back().bytes_done, result->bytes_read);
  EXPECT_EQ(seen.back().files_total, result->files_read);
}

}  // namespace
}  // namespace streamgate::backup
