// The S3 backend against a real S3-compatible server: OpenStack Swift with s3api on loopback.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "backup_test_util.hpp"
#include "s3_test_util.hpp"
#include "streamgate/backup/blob_store.hpp"
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

Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }
std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }
std::string Why(const Status& st) { return st ? std::string() : st.error().ToString(); }
#define ASSERT_OK(expr)           \
  do {                            \
    const Status st_ = (expr);    \
    ASSERT_TRUE(st_) << Why(st_); \
  } while (false)

class S3BlobStoreTest : public testing::SwiftSuiteTest {
 protected:
  S3Options Options(const std::string& bucket, const std::string& prefix = "") const {
    return testing::S3OptionsFor(*server_, bucket, prefix);
  }
};

TEST_F(S3BlobStoreTest, PutGetRangeSizeExistsDeleteRoundTrip) {
  auto store = Store(Options("roundtrip", "repo/one"));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->Location(), "s3://roundtrip/repo/one");
  // The bucket does not exist yet: the first Put creates it.
  const std::string big = RandomBytes(3 * 1024 * 1024 + 17, 7);
  ASSERT_OK(store->Put("data/ab/abcdef", B(big)));
  ASSERT_OK(store->Put("config", B("hello")));
  auto got = store->Get("data/ab/abcdef");
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(Str(*got), big);
  auto range = store->GetRange("data/ab/abcdef", 1000, 4096);
  ASSERT_TRUE(range) << range.error().ToString();
  EXPECT_EQ(Str(*range), big.substr(1000, 4096));
  auto tail = store->GetRange("config", 2, 3);
  ASSERT_TRUE(tail);
  EXPECT_EQ(Str(*tail), "llo");
  auto beyond = store->GetRange("config", 2, 10);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code(), ErrorCode::kCorrupted);
  EXPECT_EQ(store->Size("data/ab/abcdef").value_or(0), big.size());
  EXPECT_TRUE(store->Exists("config").value_or(false));
  EXPECT_FALSE(store->Exists("nope").value_or(true));
  EXPECT_EQ(store->Get("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->Size("nope").error().code(), ErrorCode::kNotFound);
  // Overwrite, then delete (twice: deleting a missing blob succeeds).
  ASSERT_OK(store->Put("config", B("world!")));
  EXPECT_EQ(Str(store->Get("config").value_or(Bytes{})), "world!");
  ASSERT_OK(store->Delete("config"));
  EXPECT_TRUE(store->Delete("config"));
  EXPECT_EQ(store->Get("config").error().code(), ErrorCode::kNotFound);
  // An empty blob.
  ASSERT_OK(store->Put("empty", {}));
  EXPECT_EQ(store->Size("empty").value_or(1), 0U);
  EXPECT_TRUE(store->Get("empty").value_or(Bytes{1}).empty());
  // Names are validated before anything goes on the wire.
  EXPECT_EQ(store->Put("../x", B("x")).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(S3BlobStoreTest, PutExclusiveRefusesAnExistingName) {
  auto store = Store(Options("exclusive"));
  ASSERT_TRUE(store);
  ASSERT_OK(store->PutExclusive("lock", B("first")));
  auto again = store->PutExclusive("lock", B("second"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Str(store->Get("lock").value_or(Bytes{})), "first");
}

TEST_F(S3BlobStoreTest, OfWritersRacingForOneNameAtMostOneWins) {
  auto store = Store(Options("race"));
  ASSERT_NE(store, nullptr);
  int rounds_won = 0;
  for (int round = 0; round < 8; ++round) {
    const std::string name = "lock-" + std::to_string(round);
    std::atomic<int> wins{0};
    std::atomic<int> winner{-1};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        if (store->PutExclusive(name, B("writer " + std::to_string(w)))) {
          ++wins;
          winner = w;
        }
      });
    }
    for (auto& t : writers) t.join();
    ASSERT_LE(wins.load(), 1) << name;  // never two holders
    if (wins == 1) {
      ++rounds_won;
      EXPECT_EQ(Str(store->Get(name).value_or(Bytes{})), "writer " + std::to_string(winner));
    }
    // Once the blob exists, every later writer is refused. (When all four backed off from each
    // other, nothing exists yet and a later writer may take the name.)
    auto late = store->PutExclusive(name, B("late"));
    if (wins == 1) {
      ASSERT_FALSE(late) << name;
      EXPECT_EQ(late.error().code(), ErrorCode::kAlreadyExists);
    }
  }
  EXPECT_GT(rounds_won, 0);
  EXPECT_TRUE(store->List("claims/").value_or(std::vector<BlobInfo>{{"x", 0}}).empty());
}

TEST_F(S3BlobStoreTest, AClaimLeftByADeadWriterExpires) {
  auto store = Store(Options("claims"));
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->Put("claims/lock/1000-deadbeef", {}));  // 1970: long dead
  ASSERT_OK(store->PutExclusive("lock", B("mine")));
  EXPECT_EQ(Str(store->Get("lock").value_or(Bytes{})), "mine");
  EXPECT_TRUE(store->List("claims/").value_or(std::vector<BlobInfo>{{"x", 0}}).empty());
}

TEST_F(S3BlobStoreTest, ListFollowsContinuationTokensAndKeepsPrefixesApart) {
  S3Options options = Options("listing", "mine");
  options.list_page_size = 3;  // 11 blobs: four pages
  auto store = Store(options);
  auto neighbour = Store(Options("listing", "other"));
  ASSERT_TRUE(store && neighbour);
  std::vector<std::string> names;
  for (int i = 0; i < 8; ++i)
    names.push_back("data/" + std::to_string(i % 3) + "/p" + std::to_string(i));
  names.insert(names.end(), {"config", "index/a", "points/x y&z"});
  for (const auto& name : names) ASSERT_OK(store->Put(name, B(name)));
  ASSERT_OK(neighbour->Put("data/0/foreign", B("no")));
  std::sort(names.begin(), names.end());

  auto all = store->List("");
  ASSERT_TRUE(all) << all.error().ToString();
  std::vector<std::string> listed;
  for (const auto& info : *all) {
    listed.push_back(info.name);
    EXPECT_EQ(info.size, info.name.size()) << info.name;
  }
  EXPECT_EQ(listed, names);

  auto data = store->List("data/1/");
  ASSERT_TRUE(data);
  ASSERT_EQ(data->size(), 3U);
  EXPECT_EQ((*data)[0].name, "data/1/p1");
  EXPECT_TRUE(
      Store(Options("listing", "empty"))->List("").value_or(std::vector<BlobInfo>{{}}).empty());
  // A bucket that does not exist lists as empty.
  EXPECT_TRUE(Store(Options("never-made"))->List("").value_or(std::vector<BlobInfo>{{}}).empty());
}

TEST_F(S3BlobStoreTest, WrongSecretIsAClearError) {
  auto good = Store(Options("secrets"));
  ASSERT_TRUE(good);
  ASSERT_OK(good->Put("config", B("x")));
  S3Options options = Options("secrets");
  options.secret_access_key = "not-the-secret";
  auto store = Store(options);
  ASSERT_TRUE(store);
  auto put = store->Put("config", B("y"));
  auto get = store->Get("config");
  ASSERT_FALSE(put);
  ASSERT_FALSE(get);
  std::vector<Error> errors = {put.error(), get.error()};
  for (const Error& error : errors) {
    EXPECT_EQ(error.code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(error.message().find("SignatureDoesNotMatch"), std::string::npos) << error.message();
    EXPECT_NE(error.message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  }
  EXPECT_EQ(Str(good->Get("config").value_or(Bytes{})), "x");
}

TEST_F(S3BlobStoreTest, UnreachableServerIsUnavailableAfterRetries) {
  // A port nobody listens on: bind one, then close it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  S3Options options = Options("gone");
  options.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  options.max_attempts = 3;
  auto store = Store(options);
  ASSERT_TRUE(store);
  auto got = store->Get("config");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(got.error().message().find("after 3 attempts"), std::string::npos)
      << got.error().message();
}

TEST_F(S3BlobStoreTest, ServerErrorsAreRetriedWithBackoff) {
  S3Options options = Options("flaky");
  options.initial_backoff = 5ms;
  auto store = Store(options);
  ASSERT_TRUE(store);
  ASSERT_OK(store->Put("config", B("before")));
  // Three 500s, then the server answers: each call succeeds on its fourth attempt.
  server_->FailNextRequests(3);
  ASSERT_OK(store->Put("config", B("after")));
  EXPECT_EQ(server_->FaultsLeft(), 0);
  server_->FailNextRequests(3);
  auto got = store->Get("config");
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(Str(*got), "after");
  EXPECT_EQ(server_->FaultsLeft(), 0);
  server_->FailNextRequests(3, 503);
  auto listed = store->List("");
  ASSERT_TRUE(listed) << listed.error().ToString();
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ(listed->front().name, "config");
  EXPECT_EQ(server_->FaultsLeft(), 0);
}

TEST_F(S3BlobStoreTest, PersistentServerErrorNamesTheObjectAndStatus) {
  S3Options options = Options("broken", "repo");
  options.initial_backoff = 5ms;
  options.max_attempts = 3;
  auto store = Store(options);
  ASSERT_TRUE(store);
  ASSERT_OK(store->Put("config", B("x")));
  server_->FailNextRequests(1000);
  auto put = store->Put("data/ab/abcd", B("payload"));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code(), ErrorCode::kUnavailable);
  for (const std::string part :
       {"put 'data/ab/abcd'", "500", "after 3 attempts", "s3://broken/repo"}) {
    EXPECT_NE(put.error().message().find(part), std::string::npos)
        << "'" << part << "' missing in: " << put.error().message();
  }
  EXPECT_EQ(server_->FaultsLeft(), 1000 - 3);  // exactly max_attempts requests
  auto got = store->Get("config");
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message().find("get 'config'"), std::string::npos);
  server_->ClearFaults();
  EXPECT_EQ(Str(store->Get("config").value_or(Bytes{})), "x");
  EXPECT_FALSE(store->Exists("data/ab/abcd").value_or(true));
}

S3Options Multipart(S3Options options) {
  options.multipart_threshold = 5 * 1024 * 1024;
  options.part_size = 5 * 1024 * 1024;
  options.upload_concurrency = 3;
  return options;
}

TEST_F(S3BlobStoreTest, MultipartUploadRoundTripsByteIdentical) {
  auto store = Store(Multipart(Options("multipart", "mp")));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->PreferredWriteConcurrency(), 3U);
  // 20 MiB + a bit: four full parts and a short last one, into a bucket that does not exist yet.
  const std::string big = RandomBytes(20 * 1024 * 1024 + 12345, 21);
  ASSERT_OK(store->Put("data/mp/big", B(big)));
  auto got = store->Get("data/mp/big");  // checked against the multipart ETag
  ASSERT_TRUE(got) << got.error().ToString();
  ASSERT_EQ(got->size(), big.size());
  EXPECT_TRUE(Str(*got) == big);
  EXPECT_EQ(store->Size("data/mp/big").value_or(0), big.size());
  // A range across the boundary of parts 1 and 2.
  const std::uint64_t at = 5 * 1024 * 1024 - 100;
  auto range = store->GetRange("data/mp/big", at, 300);
  ASSERT_TRUE(range) << range.error().ToString();
  EXPECT_EQ(Str(*range), big.substr(at, 300));
  // Exactly the threshold stays a single PUT; overwriting a multipart object works.
  const std::string edge = RandomBytes(5 * 1024 * 1024, 22);
  ASSERT_OK(store->Put("data/mp/big", B(edge)));
  EXPECT_EQ(Str(store->Get("data/mp/big").value_or(Bytes{})), edge);
  auto listed = store->List("data/");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ(listed->front().size, edge.size());
}

TEST_F(S3BlobStoreTest, FailedMultipartUploadLeavesNoVisibleObject) {
  S3Options options = Multipart(Options("mpfail"));
  options.max_attempts = 1;
  auto store = Store(options);
  ASSERT_TRUE(store);
  ASSERT_OK(store->Put("old", B("the earlier version")));
  const std::string big = RandomBytes(16 * 1024 * 1024, 31);

  // A part fails: the upload is aborted and neither name shows anything new.
  server_->FailNextRequests(1, 500, "partNumber=3&");
  auto put = store->Put("fresh", B(big));
  ASSERT_FALSE(put);
  EXPECT_EQ(server_->FaultsLeft(), 0);
  EXPECT_NE(put.error().message().find("multipart put 'fresh' part 3/4"), std::string::npos)
      << put.error().message();
  EXPECT_EQ(put.error().message().find("aborting the upload failed"), std::string::npos)
      << put.error().message();
  server_->FailNextRequests(1, 503, "partNumber=2&");
  EXPECT_FALSE(store->Put("old", B(big)));
  EXPECT_EQ(server_->FaultsLeft(), 0);

  // Completing fails: still nothing visible.
  server_->FailNextRequests(1, 500, "POST /mpfail/fresh?uploadId=");
  EXPECT_FALSE(store->Put("fresh", B(big)));
  EXPECT_EQ(server_->FaultsLeft(), 0);

  EXPECT_FALSE(store->Exists("fresh").value_or(true));
  EXPECT_EQ(Str(store->Get("old").value_or(Bytes{})), "the earlier version");
  auto listed = store->List("");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ(listed->front().name, "old");

  // And the same upload goes through once the server behaves.
  ASSERT_OK(store->Put("fresh", B(big)));
  EXPECT_TRUE(Str(store->Get("fresh").value_or(Bytes{})) == big);
}

TEST_F(S3BlobStoreTest, PartSizesBelowTheS3MinimumAreRefused) {
  S3Options options = Options("x");
  options.part_size = 4 * 1024 * 1024;
  auto store = MakeS3BlobStore(options);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(store.error().message().find("5 MiB"), std::string::npos);
  options = Options("x");
  options.multipart_threshold = 1024 * 1024;
  EXPECT_FALSE(MakeS3BlobStore(options));
  options = Options("x");
  options.upload_concurrency = 0;
  EXPECT_FALSE(MakeS3BlobStore(options));
  EXPECT_TRUE(MakeS3BlobStore(Multipart(Options("x"))));
}

TEST_F(S3BlobStoreTest, OpenBlobStoreTakesS3LocationsWithAwsVariables) {
  ::setenv("AWS_ENDPOINT_URL", server_->endpoint().c_str(), 1);
  ::setenv("AWS_REGION", server_->region().c_str(), 1);
  ::setenv("AWS_ACCESS_KEY_ID", server_->access_key().c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", server_->secret_key().c_str(), 1);
  auto store = OpenBlobStore("s3://fromenv/some/prefix/");
  ::unsetenv("AWS_ENDPOINT_URL");
  ::unsetenv("AWS_REGION");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ASSERT_TRUE(store) << store.error().ToString();
  EXPECT_EQ((*store)->Location(), "s3://fromenv/some/prefix");
  ASSERT_OK((*store)->Put("config", B("env")));
  EXPECT_EQ(Str((*store)->Get("config").value_or(Bytes{})), "env");
  // Without credentials the location is refused up front, naming the variables.
  auto bare = OpenBlobStore("s3://fromenv/x");
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bare.error().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_FALSE(OpenBlobStore("s3:///prefix"));
}

TEST_F(S3BlobStoreTest, RepositoryBackupRestoreAndCheckOnS3) {
  testing::TempDir dir;
  const std::string src = dir / "src";
  WriteFile(src + "/logs/access.log", TextBytes(600 * 1024, 1));
  WriteFile(src + "/media/seg-1.ts", RandomBytes(2500 * 1024, 3));
  for (int i = 0; i < 20; ++i) {
    WriteFile(src + "/small/f" + std::to_string(i), TextBytes(100 + i * 37, 100 + i));
  }
  WriteFile(src + "/empty-file", "");
  fs::create_symlink("../logs/access.log", src + "/media/log-link");

  RepositoryOptions options;
  options.chunker.min_size = 4 * 1024;
  options.chunker.avg_size = 16 * 1024;
  options.chunker.max_size = 64 * 1024;
  options.pack_size = 1024 * 1024;  // several packs
  streamgate::testing::ManualClock clock;
  auto store = Store(Options("backups", "rp-1"));
  ASSERT_TRUE(store);
  auto repo = Repository::Create(store, options, clock);
  ASSERT_TRUE(repo) << repo.error().ToString();

  BackupRequest backup;
  backup.sources = {src};
  auto first = (*repo)->Backup(backup);
  ASSERT_TRUE(first) << first.error().ToString();
  clock.Advance(1h);
  WriteFile(src + "/logs/access.log", TextBytes(600 * 1024, 1) + "one more line\n");
  auto second = (*repo)->Backup(backup);
  ASSERT_TRUE(second) << second.error().ToString();

  // Reopen from the bucket alone, restore, compare byte for byte, and read every chunk back.
  repo->reset();
  auto reopened = Repository::Open(Store(Options("backups", "rp-1")), "", clock);
  ASSERT_TRUE(reopened) << reopened.error().ToString();
  RestoreRequest restore;
  restore.point = "latest";
  restore.target = dir / "restored";
  auto restored = (*reopened)->Restore(restore);
  ASSERT_TRUE(restored) << restored.error().ToString();
  EXPECT_TRUE(restored->errors.empty());
  EXPECT_EQ(Describe(fs::path(dir / "restored") / "src"), Describe(src));

  auto report = (*reopened)->Check(/*read_data=*/true);
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->problems.empty()) << report->problems.front().message;
  EXPECT_GT(report->bytes_verified, 0U);

  auto blobs = store->List("");
  ASSERT_TRUE(blobs);
  EXPECT_GT(blobs->size(), 4U);
}

}  // namespace
}  // namespace streamgate::backup
