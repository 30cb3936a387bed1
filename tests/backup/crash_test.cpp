// Killing a backup at several points leaves every earlier point intact and restorable, check
// clean, and the next backup reuses what the killed one stored.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "backup_test_util.hpp"
#include "streamgate/backup/repository.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::backup {
namespace {

using testing::Describe;
using testing::RandomBytes;
using testing::TextBytes;
using testing::WriteFile;
namespace fs = std::filesystem;

struct CrashPoint {
  std::string stage;
  std::uint64_t n;
};

class CrashTest : public ::testing::TestWithParam<CrashPoint> {
 protected:
  static RepositoryOptions Options() { return testing::SmallPackRepoOptions(); }

  std::unique_ptr<Repository> Open() {
    auto repo = Repository::Open(*MakeLocalBlobStore(dir_ / "repo"), "", clock_);
    EXPECT_TRUE(repo) << repo.error().ToString();
    return repo ? std::move(*repo) : nullptr;
  }

  BackupRequest Request() {
    BackupRequest r;
    r.sources = {dir_ / "src"};
    r.strategy = Strategy::kIncremental;
    return r;
  }

  testing::TempDir dir_;
  streamgate::testing::ManualClock clock_;
};

TEST_P(CrashTest, KilledBackupLeavesEarlierPointsIntactAndIsReused) {
  const CrashPoint crash = GetParam();
  ASSERT_TRUE(Repository::Create(*MakeLocalBlobStore(dir_ / "repo"), Options(), clock_));
  const std::string src = dir_ / "src";
  WriteFile(src + "/a.ts", RandomBytes(1500 * 1024, 1));
  WriteFile(src + "/log.txt", TextBytes(200 * 1024, 2));
  const auto tree_first = Describe(src);
  auto first = Open()->Backup(Request());
  ASSERT_TRUE(first);

  // About 5 MiB of new data: several packs.
  for (int i = 0; i < 5; ++i) {
    WriteFile(src + "/new-" + std::to_string(i) + ".ts", RandomBytes(1024 * 1024, 10 + i));
  }
  const auto tree_second = Describe(src);

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto repo = Open();
    if (!repo) ::_exit(3);
    BackupRequest request = Request();
    request.crash_hook = [&](std::string_view stage, std::uint64_t n) {
      if (stage == crash.stage && n >= crash.n) ::kill(::getpid(), SIGKILL);
    };
    (void)repo->Backup(request);
    ::_exit(4);  // the hook did not fire
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);

  auto repo = Open();
  ASSERT_TRUE(repo);
  auto points = repo->ListPoints();
  ASSERT_TRUE(points);
  ASSERT_EQ(points->size(), 1U);
  EXPECT_EQ(points->front().id, first->point.id);
  auto check = repo->Check(true);
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->ok()) << check->problems.front().kind << ": "
                           << check->problems.front().message;
  if (crash.stage == "pack") {
    EXPECT_GE(check->orphan_packs, crash.n);
  }

  RestoreRequest restore;
  restore.point = first->point.id;
  restore.target = dir_ / "restore-first";
  auto restored = repo->Restore(restore);
  ASSERT_TRUE(restored);
  EXPECT_TRUE(restored->errors.empty());
  EXPECT_EQ(Describe(dir_ / "restore-first/src"), tree_first);

  // The next backup takes over the dead writer's lock and reuses its packs.
  auto second = repo->Backup(Request());
  ASSERT_TRUE(second) << second.error().ToString();
  if (crash.stage == "pack") {
    EXPECT_GE(second->packs_recovered, crash.n);
    EXPECT_LT(second->packs_written, 6U);
  } else {
    EXPECT_EQ(second->chunks_new, 0U);  // everything was stored and indexed already
  }
  restore.point = second->point.id;
  restore.target = dir_ / "restore-second";
  restored = repo->Restore(restore);
  ASSERT_TRUE(restored);
  EXPECT_TRUE(restored->errors.empty());
  EXPECT_EQ(Describe(dir_ / "restore-second/src"), tree_second);
  check = repo->Check(true);
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->ok());
  EXPECT_EQ(check->orphan_packs, 0U);

  // Prune cleans up what the killed backup left (an orphan manifest, duplicate copies).
  auto pruned = repo->Prune({});
  ASSERT_TRUE(pruned);
  check = repo->Check(true);
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->ok());
  EXPECT_TRUE(check->notes.empty()) << check->notes.front();
  EXPECT_EQ(repo->ListPoints()->size(), 2U);
}

INSTANTIATE_TEST_SUITE_P(Stages, CrashTest,
                         ::testing::Values(CrashPoint{"pack", 1}, CrashPoint{"pack", 3},
                                           CrashPoint{"index", 0}, CrashPoint{"manifest", 0}),
                         [](const ::testing::TestParamInfo<CrashPoint>& param_info) {
                           return param_info.param.stage + "_" + std::to_string(param_info.param.n);
                         });

}  // namespace
}  // namespace streamgate::backup
