// Fakes of the CDN manager's I/O interfaces, shared by the cdn, admin and daemon tests.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamgate/cdn/content_fetcher.hpp"
#include "streamgate/cdn/purger.hpp"

namespace streamgate::testing {

// Answers from a table (anything else is a 404 from the "origin"), or with an error set per URL;
// can hold fetches until `parallel` are in flight, to observe a concurrency bound.
class FakeContentFetcher final : public cdn::ContentFetcher {
 public:
  Result<cdn::FetchedContent> Fetch(const std::string& url, std::uint64_t max_bytes) override {
    std::unique_lock lock(mu_);
    ++calls_;
    ++started_;
    ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_, in_flight_);
    cv_.notify_all();
    if (parallel_ > 0) {
      cv_.wait_for(lock, std::chrono::seconds(5),
                   [&] { return in_flight_ >= parallel_ || started_ >= expected_; });
    }
    --in_flight_;
    auto error = errors_.find(url);
    if (error != errors_.end()) return std::unexpected(error->second);
    cdn::FetchedContent content;
    auto it = responses_.find(url);
    if (it == responses_.end()) {
      content.status = 404;
      return content;
    }
    content = it->second;
    if (content.body.size() > max_bytes) {
      content.body.resize(max_bytes);
      content.truncated = true;
    }
    return content;
  }

  void Serve(const std::string& url, std::string body, cdn::HeaderFields headers = {}) {
    std::lock_guard lock(mu_);
    cdn::FetchedContent content;
    content.status = 200;
    content.body = std::move(body);
    content.headers = std::move(headers);
    responses_[url] = std::move(content);
  }
  void Fail(const std::string& url, Error error) {
    std::lock_guard lock(mu_);
    errors_.insert_or_assign(url, std::move(error));
  }
  void HoldUntilParallel(int parallel, int expected) {
    std::lock_guard lock(mu_);
    parallel_ = parallel;
    expected_ = expected;
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int max_in_flight() {
    std::lock_guard lock(mu_);
    return max_in_flight_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, cdn::FetchedContent> responses_;
  std::map<std::string, Error> errors_;
  int calls_ = 0;
  int started_ = 0;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  int parallel_ = 0;
  int expected_ = 0;
};

// Records every purge as "kind:item,item" ("all:" for PurgeAll); fails them all while set_fail.
class FakePurger final : public cdn::Purger {
 public:
  std::string_view provider() const override { return "fake"; }
  Status PurgeUrls(std::span<const std::string> urls) override { return Record("urls", urls); }
  Status PurgeTags(std::span<const std::string> tags) override { return Record("tags", tags); }
  Status PurgePrefixes(std::span<const std::string> prefixes) override {
    return Record("prefixes", prefixes);
  }
  Status PurgeAll() override { return Record("all", {}); }

  [[nodiscard]] std::vector<std::string> Calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  void set_fail(bool fail) {
    std::lock_guard lock(mu_);
    fail_ = fail;
  }

 private:
  Status Record(std::string_view kind, std::span<const std::string> items) {
    std::lock_guard lock(mu_);
    std::string call(kind);
    call += ':';
    for (std::size_t i = 0; i < items.size(); ++i) call += (i > 0 ? "," : "") + items[i];
    calls_.push_back(std::move(call));
    if (fail_) return MakeError(ErrorCode::kUnavailable, "provider down");
    return {};
  }

  std::mutex mu_;
  std::vector<std::string> calls_;
  bool fail_ = false;
};

}  // namespace streamgate::testing
