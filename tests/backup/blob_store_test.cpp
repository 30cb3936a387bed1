#include "streamgate/backup/blob_store.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "backup_test_util.hpp"

namespace streamgate::backup {
namespace {

ByteView View(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string Str(const Bytes& b) { return {b.begin(), b.end()}; }

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = MakeLocalBlobStore(dir_.path() / "repo");
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = *s;
  }
  testing::TempDir dir_;
  std::shared_ptr<BlobStore> store_;
};

TEST_F(BlobStoreTest, PutGetRangeSizeExists) {
  ASSERT_TRUE(store_->Put("data/ab/blob", View("hello world")));
  EXPECT_EQ(Str(*store_->Get("data/ab/blob")), "hello world");
  EXPECT_EQ(Str(*store_->GetRange("data/ab/blob", 6, 5)), "world");
  EXPECT_EQ(*store_->Size("data/ab/blob"), 11U);
  EXPECT_TRUE(*store_->Exists("data/ab/blob"));
  EXPECT_FALSE(*store_->Exists("data/ab/other"));
  EXPECT_EQ(store_->Get("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetRange("data/ab/blob", 8, 10).error().code(), ErrorCode::kCorrupted);
}

TEST_F(BlobStoreTest, PutReplacesAtomicallyAndRangeReadsSeeTheNewBlob) {
  ASSERT_TRUE(store_->Put("x", View("first")));
  EXPECT_EQ(Str(*store_->GetRange("x", 0, 5)), "first");
  ASSERT_TRUE(store_->Put("x", View("second")));
  EXPECT_EQ(Str(*store_->GetRange("x", 0, 6)), "second");
}

TEST_F(BlobStoreTest, PutExclusiveFailsWhenTheNameExists) {
  ASSERT_TRUE(store_->PutExclusive("lock", View("a")));
  auto again = store_->PutExclusive("lock", View("b"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Str(*store_->Get("lock")), "a");
}

TEST_F(BlobStoreTest, ListIsSortedByPrefixAndSkipsTemporaries) {
  ASSERT_TRUE(store_->Put("index/b", View("22")));
  ASSERT_TRUE(store_->Put("index/a", View("1")));
  ASSERT_TRUE(store_->Put("points/p", View("333")));
  testing::WriteFile(dir_.path() / "repo/index/.tmp-c-123", "partial");
  auto list = store_->List("index/");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2U);
  EXPECT_EQ((*list)[0].name, "index/a");
  EXPECT_EQ((*list)[1].name, "index/b");
  EXPECT_EQ((*list)[1].size, 2U);
  EXPECT_EQ(store_->List("")->size(), 3U);
  EXPECT_TRUE(store_->List("missing/")->empty());
}

TEST_F(BlobStoreTest, DeleteIsIdempotent) {
  ASSERT_TRUE(store_->Put("a/b", View("x")));
  ASSERT_TRUE(store_->GetRange("a/b", 0, 1));  // cached descriptor
  EXPECT_TRUE(store_->Delete("a/b"));
  EXPECT_FALSE(*store_->Exists("a/b"));
  EXPECT_FALSE(store_->GetRange("a/b", 0, 1));
  EXPECT_TRUE(store_->Delete("a/b"));
}

TEST_F(BlobStoreTest, RejectsBadNames) {
  for (const char* bad : {"", "/abs", "a/../b", "../x", "a//b", "a/", "./a"}) {
    EXPECT_FALSE(store_->Put(bad, View("x"))) << bad;
    EXPECT_FALSE(store_->Get(bad)) << bad;
  }
}

TEST_F(BlobStoreTest, ConcurrentRangeReads) {
  std::string content = testing::RandomBytes(1 << 20, 9);
  ASSERT_TRUE(store_->Put("data/00/pack", View(content)));
  std::vector<std::jthread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::size_t off = static_cast<std::size_t>((t * 7919 + i * 104729) % (1 << 19));
        auto r = store_->GetRange("data/00/pack", off, 4096);
        if (!r || Str(*r) != content.substr(off, 4096)) ++bad;
      }
    });
  }
  threads.clear();
  EXPECT_EQ(bad.load(), 0);
}

TEST(OpenBlobStoreTest, LocalPathsAndFileUrls) {
  testing::TempDir dir;
  EXPECT_TRUE(OpenBlobStore(dir / "r"));
  EXPECT_TRUE(OpenBlobStore("file://" + (dir / "r")));
  // Without credentials an S3 location is refused up front (whatever this machine has set).
  for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}) ::unsetenv(name);
  auto s3 = OpenBlobStore("s3://bucket/prefix");
  ASSERT_FALSE(s3);
  EXPECT_EQ(s3.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(OpenBlobStore(""));
  testing::WriteFile(dir.path() / "file", "x");
  EXPECT_FALSE(OpenBlobStore(dir / "file"));
}

TEST(S3OptionsTest, StandardVariablesFillOnlyWhatIsEmpty) {
  ::setenv("AWS_ENDPOINT_URL", "https://s3.test:9000", 1);
  ::setenv("AWS_REGION", "eu-west-1", 1);
  ::setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
  ::setenv("AWS_CA_BUNDLE", "/etc/ssl/private-ca.pem", 1);
  S3Options options;
  options.region = "us-west-2";  // set explicitly: kept
  FillS3OptionsFromEnvironment(options);
  EXPECT_EQ(options.endpoint, "https://s3.test:9000");
  EXPECT_EQ(options.region, "us-west-2");
  EXPECT_EQ(options.access_key_id, "AKID");
  EXPECT_EQ(options.secret_access_key, "SECRET");
  EXPECT_EQ(options.ca_file, "/etc/ssl/private-ca.pem");
  for (const char* name : {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID",
                           "AWS_SECRET_ACCESS_KEY", "AWS_CA_BUNDLE"}) {
    ::unsetenv(name);
  }
}

}  // namespace
}  // namespace streamgate::backup
