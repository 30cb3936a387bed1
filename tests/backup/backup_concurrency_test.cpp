// The engine's threads (chunk workers, pack writer, restore workers) and calls from several
// threads at once; run under ThreadSanitizer in CI (the "concurrency" label).
#include <gtest/gtest.h>

#include <thread>

#include "backup_test_util.hpp"
#include "streamgate/backup/repository.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::backup {
namespace {

using testing::Describe;
using testing::RandomBytes;
using testing::TextBytes;
using testing::WriteFile;

class BackupConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RepositoryOptions o;
    o.chunker.min_size = 4 * 1024;
    o.chunker.avg_size = 16 * 1024;
    o.chunker.max_size = 64 * 1024;
    o.pack_size = 1024 * 1024;
    auto repo = Repository::Create(*MakeLocalBlobStore(dir_ / "repo"), o, clock_);
    ASSERT_TRUE(repo);
    repo_ = std::move(*repo);
    for (int i = 0; i < 200; ++i) {
      WriteFile(dir_ / ("src/d" + std::to_string(i % 7) + "/f" + std::to_string(i)),
                i % 3 == 0 ? RandomBytes(20000 + i * 100, i) : TextBytes(5000 + i * 50, i));
    }
    WriteFile(dir_ / "src/big.ts", RandomBytes(3 * 1024 * 1024, 999));
  }

  BackupRequest Request(unsigned threads) {
    BackupRequest r;
    r.sources = {dir_ / "src"};
    r.threads = threads;
    return r;
  }

  testing::TempDir dir_;
  streamgate::testing::ManualClock clock_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(BackupConcurrencyTest, ManyWorkersBackUpAndRestoreByteIdentical) {
  auto backup = repo_->Backup(Request(8));
  ASSERT_TRUE(backup) << backup.error().ToString();
  RestoreRequest restore;
  restore.point = backup->point.id;
  restore.target = dir_ / "out";
  restore.threads = 8;
  auto restored = repo_->Restore(restore);
  ASSERT_TRUE(restored);
  EXPECT_TRUE(restored->errors.empty());
  EXPECT_EQ(Describe(dir_.path() / "out/src"), Describe(dir_.path() / "src"));
  auto check = repo_->Check(true);
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->ok());
}

TEST_F(BackupConcurrencyTest, ReadersRunWhileABackupWrites) {
  auto first = repo_->Backup(Request(2));
  ASSERT_TRUE(first);
  const auto tree = Describe(dir_.path() / "src");
  WriteFile(dir_ / "src/more.ts", RandomBytes(2 * 1024 * 1024, 77));
  std::atomic<int> failures{0};
  std::vector<std::jthread> threads;
  threads.emplace_back([&] {
    if (!repo_->Backup(Request(2))) ++failures;
  });
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      RestoreRequest restore;
      restore.point = first->point.id;
      restore.target = dir_ / ("reader-" + std::to_string(t));
      auto r = repo_->Restore(restore);
      if (!r || !r->errors.empty()) ++failures;
      if (!repo_->ListPoints()) ++failures;
    });
  }
  threads.clear();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < 3; ++t) {
    EXPECT_EQ(Describe(dir_.path() / ("reader-" + std::to_string(t)) / "src"), tree);
  }
  EXPECT_EQ(repo_->ListPoints()->size(), 2U);
}

TEST_F(BackupConcurrencyTest, ConcurrentWritersAreSerialisedByTheLock) {
  std::atomic<int> ok{0};
  std::atomic<int> locked{0};
  std::atomic<int> other{0};
  std::vector<std::jthread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      auto r = repo_->Backup(Request(2));
      if (r) {
        ++ok;
      } else if (r.error().code() == ErrorCode::kFailedPrecondition) {
        ++locked;
      } else {
        ++other;
      }
    });
  }
  threads.clear();
  EXPECT_GE(ok.load(), 1);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ok.load() + locked.load(), 3);
  EXPECT_EQ(repo_->ListPoints()->size(), static_cast<std::size_t>(ok.load()));
  auto check = repo_->Check(true);
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->ok());
}

}  // namespace
}  // namespace streamgate::backup
