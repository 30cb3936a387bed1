// Copying recovery points to a secondary repository: only missing chunks move, verified, and a
// killed copy is resumed without resending what it stored.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "backup_test_util.hpp"
#include "s3_test_util.hpp"
#include "streamgate/backup/repository.hpp"
#include "support/manual_clock.hpp"
#include "support/swift_fixture.hpp"

namespace streamgate::backup {
namespace {

using namespace std::chrono_literals;
using testing::Describe;
using testing::RandomBytes;
using testing::TextBytes;
using testing::WriteFile;
namespace fs = std::filesystem;

std::string Why(const Error& e) { return e.ToString(); }

std::vector<std::string> Ids(const std::vector<PointInfo>& points) {
  std::vector<std::string> out;
  for (const auto& p : points) out.push_back(p.id);
  return out;
}

class CopyTest : public ::testing::Test {
 protected:
  static RepositoryOptions Options() { return testing::SmallPackRepoOptions(); }

  std::shared_ptr<BlobStore> Store(const std::string& name) {
    auto store = MakeLocalBlobStore(dir_ / name);
    EXPECT_TRUE(store) << Why(store.error());
    return *store;
  }

  void SetUp() override {
    auto repo = Repository::Create(Store("primary"), Options(), clock_);
    ASSERT_TRUE(repo) << Why(repo.error());
    source_ = std::move(*repo);
    src_ = dir_ / "src";
    WriteFile(src_ + "/media/a.ts", RandomBytes(1500 * 1024, 1));
    WriteFile(src_ + "/logs/access.log", TextBytes(300 * 1024, 2));
    fs::create_symlink("logs/access.log", src_ + "/link");
  }

  std::unique_ptr<Repository> Mirror(const std::string& name = "secondary") {
    auto repo = Repository::OpenOrCreateMirror(Store(name), *source_, clock_);
    EXPECT_TRUE(repo) << Why(repo.error());
    return repo ? std::move(*repo) : nullptr;
  }

  BackupResult Backup(Repository& repo, const std::string& plan = "default") {
    clock_.Advance(1h);
    BackupRequest request;
    request.sources = {src_};
    request.plan = plan;
    auto result = repo.Backup(request);
    EXPECT_TRUE(result) << Why(result.error());
    return result ? *result : BackupResult{};
  }

  // Restores `point` from `repo` and compares it with the tree described earlier.
  void ExpectRestores(const Repository& repo, const std::string& point,
                      const std::map<std::string, std::string>& tree) {
    RestoreRequest request;
    request.point = point;
    request.target = dir_ / ("restore-" + std::to_string(++restores_));
    auto restored = repo.Restore(request);
    ASSERT_TRUE(restored) << Why(restored.error());
    EXPECT_TRUE(restored->errors.empty());
    EXPECT_EQ(Describe(request.target + "/src"), tree);
  }

  static void ExpectSound(const Repository& repo) {
    auto check = repo.Check(true);
    ASSERT_TRUE(check) << Why(check.error());
    EXPECT_TRUE(check->ok()) << check->problems.front().kind << ": "
                             << check->problems.front().message;
    EXPECT_EQ(check->orphan_packs, 0U);
  }

  testing::TempDir dir_;
  streamgate::testing::ManualClock clock_;
  std::unique_ptr<Repository> source_;
  std::string src_;
  int restores_ = 0;
};

TEST_F(CopyTest, CopiesPointsThatRestoreIdenticallyWithTheSameIds) {
  const auto tree1 = Describe(src_);
  const BackupResult first = Backup(*source_);
  WriteFile(src_ + "/media/b.ts", RandomBytes(700 * 1024, 3));
  WriteFile(src_ + "/logs/access.log", TextBytes(400 * 1024, 4));
  const auto tree2 = Describe(src_);
  const BackupResult second = Backup(*source_);

  auto mirror = Mirror();
  ASSERT_TRUE(mirror);
  EXPECT_NE(mirror->info().id, source_->info().id);
  EXPECT_EQ(mirror->info().chunker.seed, source_->info().chunker.seed);
  CopyRequest request;
  std::vector<Progress> reports;
  request.progress = [&](const Progress& p) { reports.push_back(p); };
  auto copied = source_->CopyTo(*mirror, request);
  ASSERT_TRUE(copied) << Why(copied.error());
  EXPECT_EQ(copied->copied_points, (std::vector<std::string>{first.point.id, second.point.id}));
  EXPECT_TRUE(copied->present_points.empty());
  EXPECT_EQ(copied->chunks_sent, first.chunks_new + second.chunks_new);
  EXPECT_EQ(copied->chunks_present, 0U);
  EXPECT_GT(copied->packs_written, 0U);
  EXPECT_EQ(copied->packs_recovered, 0U);
  ASSERT_FALSE(reports.empty());
  EXPECT_TRUE(reports.back().finished);
  EXPECT_EQ(reports.back().bytes_done, copied->bytes_sent);
  EXPECT_EQ(reports.back().bytes_total, copied->bytes_sent);
  EXPECT_EQ(reports.back().files_done, copied->chunks_sent);

  // Same catalog rows (ids, plans, times, parents); byte-identical restores; a sound repository.
  EXPECT_EQ(*mirror->ListPoints(), *source_->ListPoints());
  ExpectRestores(*mirror, first.point.id, tree1);
  ExpectRestores(*mirror, second.point.id, tree2);
  ExpectSound(*mirror);
  // A reopened mirror is the same repository (parameters checked, nothing created again).
  auto reopened = Mirror();
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->info().id, mirror->info().id);
}

TEST_F(CopyTest, SecondCopyWithNothingNewSendsNoChunkData) {
  Backup(*source_);
  WriteFile(src_ + "/media/b.ts", RandomBytes(700 * 1024, 3));
  Backup(*source_);
  auto mirror = Mirror();
  ASSERT_TRUE(mirror);
  ASSERT_TRUE(source_->CopyTo(*mirror, {}));
  const auto files_before = mirror->store().List("");
  ASSERT_TRUE(files_before);

  auto again = source_->CopyTo(*mirror, {});
  ASSERT_TRUE(again) << Why(again.error());
  EXPECT_TRUE(again->copied_points.empty());
  EXPECT_EQ(again->present_points.size(), 2U);
  EXPECT_EQ(again->chunks_sent, 0U);
  EXPECT_EQ(again->bytes_sent, 0U);
  EXPECT_EQ(again->packs_written, 0U);
  // Nothing was written at all (no pack, index, manifest or catalog).
  const auto files_after = mirror->store().List("");
  ASSERT_TRUE(files_after);
  ASSERT_EQ(files_after->size(), files_before->size());
  for (std::size_t i = 0; i < files_after->size(); ++i) {
    EXPECT_EQ((*files_after)[i].name, (*files_before)[i].name);
  }
}

TEST_F(CopyTest, CopyAfterAnIncrementalSendsOnlyTheNewChunks) {
  Backup(*source_);
  auto mirror = Mirror();
  ASSERT_TRUE(mirror);
  ASSERT_TRUE(source_->CopyTo(*mirror, {}));

  WriteFile(src_ + "/media/c.ts", RandomBytes(900 * 1024, 5));
  WriteFile(src_ + "/logs/access.log", TextBytes(350 * 1024, 2));  // grows: a few chunks change
  const auto tree = Describe(src_);
  const BackupResult third = Backup(*source_);
  ASSERT_GT(third.chunks_new, 0U);
  ASSERT_GT(third.chunks_deduplicated, 0U);

  auto copied = source_->CopyTo(*mirror, {});
  ASSERT_TRUE(copied) << Why(copied.error());
  EXPECT_EQ(copied->copied_points, std::vector<std::string>{third.point.id});
  EXPECT_EQ(copied->chunks_sent, third.chunks_new);
  EXPECT_GT(copied->chunks_present, 0U);  // the unchanged file and the log's old prefix
  EXPECT_LE(copied->bytes_sent, third.point.stored_bytes);
  ExpectRestores(*mirror, third.point.id, tree);
  ExpectSound(*mirror);
}

TEST_F(CopyTest, KilledCopyIsResumedWithoutResendingWhatItStored) {
  for (int i = 0; i < 5; ++i) {
    WriteFile(src_ + "/media/big-" + std::to_string(i) + ".ts", RandomBytes(1024 * 1024, 20 + i));
  }
  const auto tree = Describe(src_);
  const BackupResult point = Backup(*source_);

  // What a copy from scratch sends.
  auto reference = Mirror("reference");
  ASSERT_TRUE(reference);
  auto full = source_->CopyTo(*reference, {});
  ASSERT_TRUE(full) << Why(full.error());
  ASSERT_GE(full->packs_written, 3U);

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto mirror =
        Repository::OpenOrCreateMirror(*MakeLocalBlobStore(dir_ / "secondary"), *source_, clock_);
    if (!mirror) ::_exit(3);
    CopyRequest request;
    request.crash_hook = [](std::string_view stage, std::uint64_t n) {
      if (stage == "pack" && n >= 1) ::_exit(42);  // a kill right after the first pack
    };
    (void)source_->CopyTo(**mirror, request);
    ::_exit(4);  // the hook did not fire
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 42);

  auto mirror = Mirror();
  ASSERT_TRUE(mirror);
  EXPECT_TRUE(mirror->ListPoints()->empty());  // the killed copy added no point
  auto resumed = source_->CopyTo(*mirror, {});
  ASSERT_TRUE(resumed) << Why(resumed.error());
  EXPECT_GT(resumed->packs_recovered, 0U);
  EXPECT_GT(resumed->chunks_present, 0U);
  EXPECT_EQ(resumed->chunks_sent + resumed->chunks_present, full->chunks_sent);
  EXPECT_LT(resumed->bytes_sent, full->bytes_sent);
  EXPECT_EQ(resumed->copied_points, std::vector<std::string>{point.point.id});
  ExpectRestores(*mirror, point.point.id, tree);
  ExpectSound(*mirror);
}

TEST_F(CopyTest, EncryptedSourceMirrorOpensWithTheSamePassphrase) {
  RepositoryOptions o = Options();
  o.encrypt = true;
  o.passphrase = "correct horse battery staple";
  o.kdf_opslimit = 1;
  o.kdf_memlimit = 64 * 1024;
  auto encrypted = Repository::Create(Store("enc-primary"), o, clock_);
  ASSERT_TRUE(encrypted) << Why(encrypted.error());
  source_ = std::move(*encrypted);
  const auto tree = Describe(src_);
  const BackupResult point = Backup(*source_);

  auto mirror = Mirror("enc-secondary");
  ASSERT_TRUE(mirror);
  EXPECT_TRUE(mirror->info().encrypted);
  auto copied = source_->CopyTo(*mirror, {});
  ASSERT_TRUE(copied) << Why(copied.error());
  EXPECT_EQ(copied->chunks_sent, point.chunks_new);

  EXPECT_FALSE(Repository::Open(Store("enc-secondary"), "wrong", clock_));
  auto reopened = Repository::Open(Store("enc-secondary"), o.passphrase, clock_);
  ASSERT_TRUE(reopened) << Why(reopened.error());
  EXPECT_EQ(*(*reopened)->ListPoints(), *source_->ListPoints());
  ExpectRestores(**reopened, point.point.id, tree);
  ExpectSound(**reopened);
  // Plaintext never reaches the secondary.
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "enc-secondary")) {
    if (entry.is_regular_file()) {
      EXPECT_EQ(testing::ReadFile(entry.path()).find("latency_ms="), std::string::npos)
          << entry.path();
    }
  }
}

TEST_F(CopyTest, MismatchedDestinationIsRefused) {
  Backup(*source_);
  RepositoryOptions other = Options();
  other.chunker.avg_size = 128 * 1024;
  auto created = Repository::Create(Store("other"), other, clock_);
  ASSERT_TRUE(created);

  auto mirror = Repository::OpenOrCreateMirror(Store("other"), *source_, clock_);
  ASSERT_FALSE(mirror);
  EXPECT_EQ(mirror.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(mirror.error().message().find("chunker average size"), std::string::npos)
      << mirror.error().message();
  auto copied = source_->CopyTo(**created, {});
  ASSERT_FALSE(copied);
  EXPECT_EQ(copied.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE((*created)->ListPoints()->empty());

  // Itself: refused too.
  auto self = source_->CopyTo(*source_, {});
  ASSERT_FALSE(self);
  EXPECT_EQ(self.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(Repository::OpenOrCreateMirror(Store("primary"), *source_, clock_));
}

TEST_F(CopyTest, EncryptedRepositoriesWithOtherKeysAreRefused) {
  RepositoryOptions o = Options();
  o.encrypt = true;
  o.passphrase = "same passphrase";
  o.kdf_opslimit = 1;
  o.kdf_memlimit = 64 * 1024;
  auto first = Repository::Create(Store("enc-a"), o, clock_);
  auto second = Repository::Create(Store("enc-b"), o, clock_);  // own seed and keys
  ASSERT_TRUE(first && second);
  auto mirror = Repository::OpenOrCreateMirror(Store("enc-b"), **first, clock_);
  ASSERT_FALSE(mirror);
  EXPECT_EQ(mirror.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(mirror.error().message().find("encryption keys"), std::string::npos)
      << mirror.error().message();
  auto copied = (*first)->CopyTo(**second, {});
  ASSERT_FALSE(copied);
  EXPECT_EQ(copied.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(copied.error().message().find("keys"), std::string::npos) << Why(copied.error());
}

TEST_F(CopyTest, CorruptedSourceChunkIsDetectedAndNothingIsCommitted) {
  Backup(*source_);
  // Flip a byte in the middle of a pack (chunk data; the trailer is at the end).
  fs::path pack;
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "primary/data")) {
    if (entry.is_regular_file() && entry.file_size() > 512 * 1024) pack = entry.path();
  }
  ASSERT_FALSE(pack.empty());
  {
    std::fstream f(pack, std::ios::in | std::ios::out | std::ios::binary);
    const auto middle = static_cast<std::streamoff>(fs::file_size(pack) / 2);
    f.seekg(middle);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x01);
    f.seekp(middle);
    f.write(&c, 1);
  }
  auto mirror = Mirror();
  ASSERT_TRUE(mirror);
  auto copied = source_->CopyTo(*mirror, {});
  ASSERT_FALSE(copied);
  EXPECT_EQ(copied.error().code(), ErrorCode::kCorrupted) << Why(copied.error());
  EXPECT_TRUE(mirror->ListPoints()->empty());
  EXPECT_FALSE(*mirror->store().Exists("catalog"));
  EXPECT_FALSE(*mirror->store().Exists("lock"));  // released on failure
}

TEST_F(CopyTest, SelectsPointsByIdPrefixLatestAndPlan) {
  const BackupResult a1 = Backup(*source_, "a");
  const BackupResult b1 = Backup(*source_, "b");
  WriteFile(src_ + "/media/b.ts", RandomBytes(200 * 1024, 9));
  const BackupResult a2 = Backup(*source_, "a");
  auto mirror = Mirror();
  ASSERT_TRUE(mirror);

  CopyRequest latest_a;
  latest_a.points = {"latest"};
  latest_a.plan = "a";
  auto copied = source_->CopyTo(*mirror, latest_a);
  ASSERT_TRUE(copied) << Why(copied.error());
  EXPECT_EQ(copied->copied_points, std::vector<std::string>{a2.point.id});

  CopyRequest by_prefix;
  by_prefix.points = {b1.point.id.substr(0, 10)};
  copied = source_->CopyTo(*mirror, by_prefix);
  ASSERT_TRUE(copied) << Why(copied.error());
  EXPECT_EQ(copied->copied_points, std::vector<std::string>{b1.point.id});

  CopyRequest wrong_plan;
  wrong_plan.points = {b1.point.id};
  wrong_plan.plan = "a";
  EXPECT_FALSE(source_->CopyTo(*mirror, wrong_plan));
  CopyRequest unknown;
  unknown.points = {"ffffffffffffffff"};
  auto missing = source_->CopyTo(*mirror, unknown);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  CopyRequest plan_a;
  plan_a.plan = "a";
  copied = source_->CopyTo(*mirror, plan_a);
  ASSERT_TRUE(copied) << Why(copied.error());
  EXPECT_EQ(copied->copied_points, std::vector<std::string>{a1.point.id});
  EXPECT_EQ(copied->present_points, std::vector<std::string>{a2.point.id});
  EXPECT_EQ(Ids(*mirror->ListPoints()), Ids(*source_->ListPoints()));
  ExpectSound(*mirror);
}

// Local primary, S3 secondary (OpenStack Swift with s3api on loopback).
TEST_F(CopyTest, CopiesToAnS3Secondary) {
  std::string error;
  auto server = streamgate::testing::SwiftServer::Start(&error);
  ASSERT_NE(server, nullptr) << error;
  const S3Options options = testing::S3OptionsFor(*server, "secondary", "rp-1");

  const auto tree = Describe(src_);
  const BackupResult point = Backup(*source_);
  auto s3 = MakeS3BlobStore(options);
  ASSERT_TRUE(s3) << Why(s3.error());
  auto mirror = Repository::OpenOrCreateMirror(*s3, *source_, clock_);
  ASSERT_TRUE(mirror) << Why(mirror.error());
  auto copied = source_->CopyTo(**mirror, {});
  ASSERT_TRUE(copied) << Why(copied.error());
  EXPECT_EQ(copied->chunks_sent, point.chunks_new);
  auto again = source_->CopyTo(**mirror, {});
  ASSERT_TRUE(again) << Why(again.error());
  EXPECT_EQ(again->bytes_sent, 0U);

  auto reopened = Repository::Open(*MakeS3BlobStore(options), "", clock_);
  ASSERT_TRUE(reopened) << Why(reopened.error());
  ExpectRestores(**reopened, point.point.id, tree);
  ExpectSound(**reopened);
}

}  // namespace
}  // namespace streamgate::backup
