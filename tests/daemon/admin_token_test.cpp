#include "daemon/admin_token.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace streamgate::daemon {
namespace {

class AdminTokenResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    admin_.line = 3;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  config::AdminConfig admin_;
};

TEST_F(AdminTokenResolveTest, ConfigTokenThenFileThenEnvironment) {
  admin_.token = "from-config";
  EXPECT_EQ(*ResolveAdminToken(admin_, "sg.yaml", "from-env"), "from-config");

  admin_.token.clear();
  admin_.token_file = (dir_ / "token").string();
  std::ofstream(admin_.token_file) << "from-file\r\nsecond line ignored\n";
  EXPECT_EQ(*ResolveAdminToken(admin_, "sg.yaml", "from-env"), "from-file");

  admin_.token_file.clear();
  EXPECT_EQ(*ResolveAdminToken(admin_, "sg.yaml", "from-env"), "from-env");
  EXPECT_EQ(*ResolveAdminToken(admin_, "sg.yaml", nullptr), "");  // loopback: no token is fine
}

TEST_F(AdminTokenResolveTest, BadTokenFilesAreErrorsNamingFileAndLine) {
  admin_.token_file = (dir_ / "missing").string();
  auto missing = ResolveAdminToken(admin_, "sg.yaml", "from-env");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("sg.yaml:3: admin: cannot read token_file"),
            std::string::npos)
      << missing.error().message();

  admin_.token_file = (dir_ / "empty").string();
  std::ofstream(admin_.token_file) << "\n";
  auto empty = ResolveAdminToken(admin_, "sg.yaml", nullptr);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("is empty"), std::string::npos);
}

TEST_F(AdminTokenResolveTest, NonLoopbackListenerNeedsAToken) {
  admin_.listen.host = "0.0.0.0";
  auto refused = ResolveAdminToken(admin_, "sg.yaml", nullptr);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("not loopback and has no token"), std::string::npos);
  EXPECT_EQ(*ResolveAdminToken(admin_, "sg.yaml", "t"), "t");
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "localhost"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.1", "example.com"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

}  // namespace
}  // namespace streamgate::daemon
