// Shared by the tests that need a real S3 server: one Swift per test suite (it takes seconds to
// start; each test uses its own bucket) and S3Options pointing at it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "streamgate/backup/blob_store.hpp"
#include "support/swift_fixture.hpp"

namespace streamgate::backup::testing {

// Options for `bucket`/`prefix` on `server`, with a short backoff so retry tests stay quick.
inline S3Options S3OptionsFor(const streamgate::testing::SwiftServer& server,
                              const std::string& bucket, const std::string& prefix = "") {
  S3Options o;
  o.endpoint = server.endpoint();
  o.region = server.region();
  o.access_key_id = server.access_key();
  o.secret_access_key = server.secret_key();
  o.bucket = bucket;
  o.prefix = prefix;
  o.initial_backoff = std::chrono::milliseconds(50);
  return o;
}

class SwiftSuiteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = streamgate::testing::SwiftServer::Start(&start_error_).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr) << start_error_; }
  void TearDown() override {
    if (server_ != nullptr) server_->ClearFaults();
  }

  static std::shared_ptr<BlobStore> Store(const S3Options& options) {
    auto store = MakeS3BlobStore(options);
    EXPECT_TRUE(store) << store.error().ToString();
    return store ? *store : nullptr;
  }

  inline static streamgate::testing::SwiftServer* server_ = nullptr;
  inline static std::string start_error_;
};

}  // namespace streamgate::backup::testing
