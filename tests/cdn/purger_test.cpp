// CDN purgers against a real loopback HTTP server that records every request and answers from a
// script: method, path, auth header and JSON body as Cloudflare and Fastly document them,
// splitting, retries (429 + Retry-After, 5xx, connect errors, time-outs) and error messages.
#include "streamgate/cdn/purger.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cdn/purger_http.hpp"
#include "net/http_server.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::cdn {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "cf-token-SECRET-123";
constexpr char kFastlyKey[] = "fastly-key-SECRET-456";
constexpr char kCloudflareOk[] =
    R"({"success":true,"errors":[],"messages":[],"result":{"id":"purge-1"}})";
constexpr char kFastlyOk[] = R"({"status":"ok","id":"108-1391560174-974124"})";

net::HttpResponse Reply(int status, std::string body, net::HeaderList headers = {}) {
  net::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

// A loopback server that records each request and answers with the next scripted response
// (or the default one once the script is used up).
class RecordingServer {
 public:
  explicit RecordingServer(net::HttpResponse default_response, std::size_t threads = 1)
      : default_(std::move(default_response)) {
    net::HttpServerOptions options;
    options.threads = threads;
    auto server = net::HttpServer::Start(
        options, [this](const net::HttpRequest& request) { return Handle(request); });
    EXPECT_TRUE(server.has_value()) << server.error().ToString();
    if (server) server_ = std::move(*server);
  }
  ~RecordingServer() {
    if (server_) server_->Stop();
  }

  void Script(net::HttpResponse response) {
    std::lock_guard lock(mutex_);
    script_.push_back(std::move(response));
  }
  std::vector<net::HttpRequest> Requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::string BaseUrl() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  std::uint16_t port() const { return server_->port(); }
  void Stop() { server_->Stop(); }

 private:
  net::HttpResponse Handle(const net::HttpRequest& request) {
    std::lock_guard lock(mutex_);
    requests_.push_back(request);
    if (script_.empty()) return default_;
    net::HttpResponse next = std::move(script_.front());
    script_.pop_front();
    return next;
  }

  net::HttpResponse default_;
  std::unique_ptr<net::HttpServer> server_;
  mutable std::mutex mutex_;
  std::deque<net::HttpResponse> script_;
  std::vector<net::HttpRequest> requests_;
};

std::string HeaderOr(const net::HttpRequest& request, std::string_view name) {
  auto value = request.Header(name);
  return value ? std::string(*value) : "<none>";
}

json BodyOf(const net::HttpRequest& request) {
  return json::parse(request.body, nullptr, /*allow_exceptions=*/false);
}

std::vector<std::string> Numbered(std::string_view prefix, int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) out.push_back(std::string(prefix) + std::to_string(i));
  return out;
}

// Records the waits instead of sleeping, so retry tests take no time.
struct SleepLog {
  std::function<void(milliseconds)> Fn() {
    return [this](milliseconds d) {
      std::lock_guard lock(mutex);
      waits.push_back(d);
    };
  }
  std::vector<milliseconds> Waits() {
    std::lock_guard lock(mutex);
    return waits;
  }
  std::mutex mutex;
  std::vector<milliseconds> waits;
};

// ---------------------------------------------------------------- configuration

PurgerConfig CloudflareConfig(std::string base_url = "") {
  PurgerConfig config;
  config.provider = "cloudflare";
  config.api_key = kToken;
  config.zone_id = "023e105f4ecef8ad9ca31a8372d0c353";
  config.base_url = std::move(base_url);
  return config;
}

PurgerConfig FastlyConfig(std::string base_url = "") {
  PurgerConfig config;
  config.provider = "fastly";
  config.api_key = kFastlyKey;
  config.service_id = "SU1Z0isxPaozGVKXdv0eY";
  config.base_url = std::move(base_url);
  return config;
}

void ExpectInvalid(const PurgerConfig& config, std::string_view fragment) {
  auto purger = MakePurger(config);
  ASSERT_FALSE(purger.has_value()) << "accepted a bad config; wanted an error with: " << fragment;
  EXPECT_EQ(purger.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(purger.error().message().find(fragment), std::string::npos) << purger.error().message();
  EXPECT_EQ(purger.error().message().find("SECRET"), std::string::npos)
      << "the API key leaked into: " << purger.error().message();
}

TEST(PurgerConfigTest, UnknownOrMissingProviderIsRejected) {
  PurgerConfig config = CloudflareConfig();
  config.provider = "akamai";
  ExpectInvalid(config, "unknown provider 'akamai'");
  config.provider = "";
  ExpectInvalid(config, "provider is required");
  config.provider = "Cloudflare";  // names are exact, like the other config enums
  ExpectInvalid(config, "unknown provider");
}

TEST(PurgerConfigTest, CloudflareNeedsTokenAndZone) {
  PurgerConfig config = CloudflareConfig();
  config.api_key.clear();
  ExpectInvalid(config, "api_key is required");
  config = CloudflareConfig();
  config.zone_id.clear();
  ExpectInvalid(config, "zone_id is required");
  config = CloudflareConfig();
  config.zone_id = "zone/../../accounts";
  ExpectInvalid(config, "zone_id may hold only");
}

TEST(PurgerConfigTest, FastlyNeedsKeyAndService) {
  PurgerConfig config = FastlyConfig();
  config.api_key.clear();
  ExpectInvalid(config, "api_key is required");
  config = FastlyConfig();
  config.service_id.clear();
  ExpectInvalid(config, "service_id is required");
}

TEST(PurgerConfigTest, KeyThatWouldBreakAHeaderIsRejectedWithoutEchoingIt) {
  PurgerConfig config = FastlyConfig();
  config.api_key = std::string(kFastlyKey) + "\r\nX-Evil: 1";
  ExpectInvalid(config, "api_key contains whitespace");
}

TEST(PurgerConfigTest, BadLimitsAndBaseUrlAreRejected) {
  PurgerConfig config = CloudflareConfig();
  config.max_attempts = 0;
  ExpectInvalid(config, "max_attempts");
  config = CloudflareConfig();
  config.timeout = milliseconds(0);
  ExpectInvalid(config, "timeout must be > 0");
  config = CloudflareConfig("ftp://example.com");
  ExpectInvalid(config, "base_url");
  config = CloudflareConfig("http://");
  ExpectInvalid(config, "base_url");
  config = CloudflareConfig("http://127.0.0.1:1/x?y=1");
  ExpectInvalid(config, "base_url");
  config = CloudflareConfig();
  config.backoff_initial = milliseconds(-1);
  ExpectInvalid(config, "backoff_initial");
}

TEST(PurgerConfigTest, ProvidersAreNamed) {
  PurgerConfig none;
  none.provider = "none";
  auto a = MakePurger(none);
  auto b = MakePurger(CloudflareConfig());
  auto c = MakePurger(FastlyConfig());
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ((*a)->provider(), "none");
  EXPECT_EQ((*b)->provider(), "cloudflare");
  EXPECT_EQ((*c)->provider(), "fastly");
}

TEST(NonePurgerTest, AcceptsEveryValidCallAndStillChecksArguments) {
  PurgerConfig config;
  config.provider = "none";  // credentials are not needed
  auto purger = MakePurger(config);
  ASSERT_TRUE(purger.has_value()) << purger.error().ToString();
  const std::vector<std::string> urls = {"https://example.com/a"};
  const std::vector<std::string> tags = {"t1"};
  const std::vector<std::string> prefixes = {"example.com/videos/"};
  EXPECT_TRUE((*purger)->PurgeUrls(urls));
  EXPECT_TRUE((*purger)->PurgeTags(tags));
  EXPECT_TRUE((*purger)->PurgePrefixes(prefixes));
  EXPECT_TRUE((*purger)->PurgeAll());
  auto empty = (*purger)->PurgeUrls({});
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);
}

TEST(PurgerArgumentsTest, EmptyListsAndMalformedItemsAreInvalidArguments) {
  RecordingServer server(Reply(200, kCloudflareOk));
  auto purger = MakePurger(CloudflareConfig(server.BaseUrl()));
  ASSERT_TRUE(purger.has_value());
  const std::vector<std::string> relative = {"/videos/a.mp4"};
  const std::vector<std::string> spaced = {"https://example.com/a b"};
  const std::vector<std::string> blank_tag = {"ok", ""};
  const std::vector<std::string> newline_tag = {"a\nb"};
  for (const Status& status :
       {(*purger)->PurgeUrls({}), (*purger)->PurgeTags({}), (*purger)->PurgePrefixes({}),
        (*purger)->PurgeUrls(relative), (*purger)->PurgeUrls(spaced),
        (*purger)->PurgeTags(blank_tag), (*purger)->PurgeTags(newline_tag)}) {
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument) << status.error().ToString();
  }
  EXPECT_TRUE(server.Requests().empty()) << "an invalid call reached the provider";
}

// ---------------------------------------------------------------- helpers

TEST(PurgerHttpTest, RetryAfterSecondsAndHttpDate) {
  using purger_internal::ParseRetryAfter;
  const WallTime now = std::chrono::system_clock::from_time_t(1'700'000'000);
  EXPECT_EQ(ParseRetryAfter("120", now), milliseconds(120'000));
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-5", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("", now), std::nullopt);
  // 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT.
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:13:50 GMT", now), milliseconds(30'000));
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:00:00 GMT", now), milliseconds(0));
}

TEST(PurgerHttpTest, BackoffDoublesUpToTheCapAndRetryAfterIsCapped) {
  purger_internal::HttpOptions options;
  options.backoff_initial = milliseconds(100);
  options.backoff_max = milliseconds(450);
  options.max_retry_after = milliseconds(5'000);
  using purger_internal::RetryDelay;
  EXPECT_EQ(RetryDelay(options, 1, std::nullopt), milliseconds(100));
  EXPECT_EQ(RetryDelay(options, 2, std::nullopt), milliseconds(200));
  EXPECT_EQ(RetryDelay(options, 3, std::nullopt), milliseconds(400));
  EXPECT_EQ(RetryDelay(options, 4, std::nullopt), milliseconds(450));
  EXPECT_EQ(RetryDelay(options, 60, std::nullopt), milliseconds(450));
  EXPECT_EQ(RetryDelay(options, 1, milliseconds(3'000)), milliseconds(3'000));
  EXPECT_EQ(RetryDelay(options, 1, milliseconds(3'600'000)), milliseconds(5'000));
}

TEST(PurgerHttpTest, StatusesMapToErrorCodes) {
  using purger_internal::CodeForStatus;
  EXPECT_EQ(CodeForStatus(400), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeForStatus(401), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(CodeForStatus(403), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(CodeForStatus(404), ErrorCode::kNotFound);
  EXPECT_EQ(CodeForStatus(429), ErrorCode::kUnavailable);
  EXPECT_EQ(CodeForStatus(503), ErrorCode::kUnavailable);
  EXPECT_EQ(CodeForStatus(504), ErrorCode::kTimeout);
  EXPECT_TRUE(purger_internal::IsRetryableStatus(429));
  EXPECT_TRUE(purger_internal::IsRetryableStatus(502));
  EXPECT_FALSE(purger_internal::IsRetryableStatus(501));
  EXPECT_FALSE(purger_internal::IsRetryableStatus(404));
}

// ---------------------------------------------------------------- Cloudflare

class CloudflarePurgerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Purger> Make(PurgerConfig config) {
    config.sleep = sleeps_.Fn();
    auto purger = MakePurger(config);
    EXPECT_TRUE(purger.has_value()) << purger.error().ToString();
    return purger ? std::move(*purger) : nullptr;
  }
  std::unique_ptr<Purger> Make() { return Make(CloudflareConfig(server_.BaseUrl())); }

  // Every request is the documented purge_cache call with the token.
  void ExpectPurgeCacheCalls() {
    for (const net::HttpRequest& request : server_.Requests()) {
      EXPECT_EQ(request.method, "POST");
      EXPECT_EQ(request.target, "/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/purge_cache");
      EXPECT_EQ(HeaderOr(request, "Authorization"), std::string("Bearer ") + kToken);
      EXPECT_EQ(HeaderOr(request, "Content-Type"), "application/json");
    }
  }

  RecordingServer server_{Reply(200, kCloudflareOk)};
  SleepLog sleeps_;
};

TEST_F(CloudflarePurgerTest, PurgeUrlsSendsFiles) {
  auto purger = Make();
  const std::vector<std::string> urls = {"https://www.example.com/css/styles.css",
                                         "http://www.example.com/js/index.js",
                                         "https://www.example.com/css/styles.css"};
  ASSERT_TRUE(purger->PurgeUrls(urls));
  auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  ExpectPurgeCacheCalls();
  EXPECT_EQ(BodyOf(requests[0]), json::parse(R"({"files": ["https://www.example.com/css/styles.css",
                                                            "http://www.example.com/js/index.js"]})"))
      << "duplicates are sent once, order kept: " << requests[0].body;
}

TEST_F(CloudflarePurgerTest, PurgeTagsPrefixesAndEverything) {
  auto purger = Make();
  const std::vector<std::string> tags = {"product-42", "category-shoes"};
  const std::vector<std::string> prefixes = {"www.example.com/videos/",
                                             "https://images.example.com/bar/baz"};
  ASSERT_TRUE(purger->PurgeTags(tags));
  ASSERT_TRUE(purger->PurgePrefixes(prefixes));
  ASSERT_TRUE(purger->PurgeAll());
  auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  ExpectPurgeCacheCalls();
  EXPECT_EQ(BodyOf(requests[0]), json::parse(R"({"tags": ["product-42", "category-shoes"]})"));
  EXPECT_EQ(
      BodyOf(requests[1]),
      json::parse(R"({"prefixes": ["www.example.com/videos/", "images.example.com/bar/baz"]})"))
      << "a prefix is host/path without the scheme";
  EXPECT_EQ(BodyOf(requests[2]), json::parse(R"({"purge_everything": true})"));
}

TEST_F(CloudflarePurgerTest, LongListsAreSplitAtTheDocumentedLimit) {
  auto purger = Make();
  const auto urls = Numbered("https://example.com/v/", 250);
  ASSERT_TRUE(purger->PurgeUrls(urls));
  auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  ExpectPurgeCacheCalls();
  std::vector<std::string> seen;
  std::vector<std::size_t> sizes;
  for (const auto& request : requests) {
    const json body = BodyOf(request);
    ASSERT_TRUE(body.contains("files")) << request.body;
    sizes.push_back(body["files"].size());
    for (const auto& file : body["files"]) seen.push_back(file.get<std::string>());
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{100, 100, 50}));
  EXPECT_EQ(seen, urls);
}

TEST_F(CloudflarePurgerTest, ConfiguredLimitSplitsTagsToo) {
  PurgerConfig config = CloudflareConfig(server_.BaseUrl());
  config.max_items_per_request = 30;  // the limit older Cloudflare plans documented
  auto purger = Make(config);
  ASSERT_TRUE(purger->PurgeTags(Numbered("tag-", 61)));
  auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(BodyOf(requests[0])["tags"].size(), 30u);
  EXPECT_EQ(BodyOf(requests[1])["tags"].size(), 30u);
  EXPECT_EQ(BodyOf(requests[2])["tags"], json::parse(R"(["tag-60"])"));
}

TEST_F(CloudflarePurgerTest, FailureMidwaySaysHowFarItGotAndStops) {
  server_.Script(Reply(200, kCloudflareOk));
  server_.Script(Reply(400, R"({"success":false,"errors":[{"code":1015,"message":"Bad URL"}]})"));
  PurgerConfig config = CloudflareConfig(server_.BaseUrl());
  config.max_items_per_request = 10;
  auto purger = Make(config);
  auto status = purger->PurgeUrls(Numbered("https://example.com/", 30));
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  const std::string& message = status.error().message();
  EXPECT_NE(message.find("Bad URL [1015]"), std::string::npos) << message;
  EXPECT_NE(message.find("1 of 3 requests had succeeded"), std::string::npos) << message;
  EXPECT_NE(message.find("10 of 30 items purged"), std::string::npos) << message;
  EXPECT_EQ(server_.Requests().size(), 2u) << "the third request must not be sent";
}

TEST_F(CloudflarePurgerTest, RateLimitedThenSucceedsHonouringRetryAfter) {
  server_.Script(Reply(
      429,
      R"({"success":false,"errors":[{"code":971,"message":"Please wait and consider throttling your request speed"}]})",
      {{"Retry-After", "7"}}));
  auto purger = Make();
  ASSERT_TRUE(purger->PurgeAll());
  EXPECT_EQ(server_.Requests().size(), 2u);
  EXPECT_EQ(sleeps_.Waits(), std::vector<milliseconds>{milliseconds(7'000)});
  ExpectPurgeCacheCalls();
}

TEST_F(CloudflarePurgerTest, RetryAfterIsCappedAndHttpDatesUseTheClock) {
  testing::ManualClock clock;
  const std::time_t now = std::chrono::system_clock::to_time_t(clock.WallNow());
  const std::time_t later = now + 42;
  std::tm tm{};
  gmtime_r(&later, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  server_.Script(Reply(429, "{}", {{"Retry-After", "86400"}}));
  server_.Script(Reply(503, "{}", {{"Retry-After", date}}));
  PurgerConfig config = CloudflareConfig(server_.BaseUrl());
  config.max_attempts = 3;
  config.max_retry_after = milliseconds(60'000);
  config.clock = &clock;
  auto purger = Make(config);
  ASSERT_TRUE(purger->PurgeAll());
  EXPECT_EQ(server_.Requests().size(), 3u);
  EXPECT_EQ(sleeps_.Waits(),
            (std::vector<milliseconds>{milliseconds(60'000), milliseconds(42'000)}))
      << "a day-long Retry-After is capped; a date counts from the injected wall clock";
}

TEST_F(CloudflarePurgerTest, GivesUpAfterMaxAttemptsOn503WithBackoff) {
  server_.Script(Reply(503, "upstream connect error"));
  server_.Script(Reply(503, "upstream connect error"));
  server_.Script(Reply(503, "upstream connect error"));
  PurgerConfig config = CloudflareConfig(server_.BaseUrl());
  config.max_attempts = 3;
  config.backoff_initial = milliseconds(250);
  auto purger = Make(config);
  const std::vector<std::string> tags = {"t"};
  auto status = purger->PurgeTags(tags);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(status.error().message().find("HTTP 503: upstream connect error (3 attempts)"),
            std::string::npos)
      << status.error().message();
  EXPECT_EQ(server_.Requests().size(), 3u);
  EXPECT_EQ(sleeps_.Waits(), (std::vector<milliseconds>{milliseconds(250), milliseconds(500)}));
}

TEST_F(CloudflarePurgerTest, ForbiddenIsNotRetriedAndCarriesCloudflaresMessage) {
  server_.Script(Reply(
      403,
      R"({"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null})"));
  auto purger = Make();
  auto status = purger->PurgeAll();
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(status.error().message(),
            "cloudflare purge_cache purge_everything: HTTP 403: Authentication error [10000] "
            "(1 attempt)");
  EXPECT_EQ(server_.Requests().size(), 1u);
  EXPECT_TRUE(sleeps_.Waits().empty());
}

TEST_F(CloudflarePurgerTest, SuccessFalseInA200IsAnError) {
  server_.Script(Reply(
      200,
      R"({"success":false,"errors":[{"code":1134,"message":"Purge limit reached"},{"code":1,"message":"second"}]})"));
  auto purger = Make();
  auto status = purger->PurgeAll();
  ASSERT_FALSE(status.has_value());
  EXPECT_NE(status.error().message().find("Purge limit reached [1134]; second [1]"),
            std::string::npos)
      << status.error().message();
}

TEST_F(CloudflarePurgerTest, RetryLogsNameTheCallButNeverTheToken) {
  std::ostringstream captured;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured)));
  server_.Script(Reply(500, std::string("echo ") + kToken));  // even a provider echoing it
  auto purger = Make();
  const Status status = purger->PurgeAll();
  spdlog::set_default_logger(previous);
  ASSERT_TRUE(status.has_value()) << status.error().ToString();
  const std::string logs = captured.str();
  EXPECT_NE(logs.find("cloudflare purge_cache purge_everything: HTTP 500"), std::string::npos)
      << logs;
  EXPECT_EQ(logs.find("SECRET"), std::string::npos) << logs;
}

TEST_F(CloudflarePurgerTest, ConnectErrorsAreRetriedThenReported) {
  PurgerConfig config = CloudflareConfig(server_.BaseUrl());
  server_.Stop();  // nothing listens on the port any more
  config.max_attempts = 2;
  config.backoff_initial = milliseconds(100);
  auto purger = Make(config);
  auto status = purger->PurgeAll();
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(status.error().message().find("(2 attempts)"), std::string::npos)
      << status.error().message();
  EXPECT_EQ(sleeps_.Waits(), std::vector<milliseconds>{milliseconds(100)});
}

TEST_F(CloudflarePurgerTest, SlowAnswersTimeOutPerAttempt) {
  net::HttpResponse slow = Reply(200, kCloudflareOk);
  slow.delay = milliseconds(2'000);
  server_.Script(slow);
  server_.Script(slow);
  PurgerConfig config = CloudflareConfig(server_.BaseUrl());
  config.max_attempts = 2;
  config.timeout = milliseconds(200);
  auto purger = Make(config);
  const auto start = std::chrono::steady_clock::now();
  auto status = purger->PurgeAll();
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kTimeout) << status.error().ToString();
  EXPECT_EQ(server_.Requests().size(), 2u);
  EXPECT_LT(took, milliseconds(1'500)) << "each attempt is bounded by the timeout";
}

TEST_F(CloudflarePurgerTest, ConcurrentCallsFromSeveralThreads) {
  RecordingServer server(Reply(200, kCloudflareOk), /*threads=*/2);
  auto purger = Make(CloudflareConfig(server.BaseUrl()));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const std::vector<std::string> tags = {"t" + std::to_string(t) + "-" + std::to_string(i)};
        if (!purger->PurgeTags(tags)) failures.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server.Requests().size(), 40u);
}

// ---------------------------------------------------------------- Fastly

class FastlyPurgerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Purger> Make(PurgerConfig config) {
    config.sleep = sleeps_.Fn();
    auto purger = MakePurger(config);
    EXPECT_TRUE(purger.has_value()) << purger.error().ToString();
    return purger ? std::move(*purger) : nullptr;
  }
  std::unique_ptr<Purger> Make() { return Make(FastlyConfig(server_.BaseUrl())); }

  void ExpectAuth() {
    for (const net::HttpRequest& request : server_.Requests()) {
      EXPECT_EQ(request.method, "POST");
      EXPECT_EQ(HeaderOr(request, "Fastly-Key"), kFastlyKey);
      EXPECT_EQ(HeaderOr(request, "Authorization"), "<none>");
    }
  }

  RecordingServer server_{Reply(200, kFastlyOk)};
  SleepLog sleeps_;
};

TEST_F(FastlyPurgerTest, PurgeUrlsPostsEachUrlWithoutItsScheme) {
  auto purger = Make();
  const std::vector<std::string> urls = {"https://www.example.com/videos/a.mp4",
                                         "http://www.example.com/b.m3u8?v=2#frag",
                                         "https://www.example.com/videos/a.mp4"};
  ASSERT_TRUE(purger->PurgeUrls(urls));
  auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 2u);
  ExpectAuth();
  EXPECT_EQ(requests[0].target, "/purge/www.example.com/videos/a.mp4");
  EXPECT_EQ(requests[1].target, "/purge/www.example.com/b.m3u8?v=2");
  EXPECT_EQ(requests[0].body, "");
  EXPECT_EQ(HeaderOr(requests[0], "Content-Type"), "<none>");
  EXPECT_EQ(HeaderOr(requests[0], "Content-Length"), "0");
  EXPECT_EQ(HeaderOr(requests[0], "Fastly-Soft-Purge"), "<none>");
}

TEST_F(FastlyPurgerTest, OneKeyUsesThePathAndManyUseTheBatchBody) {
  auto purger = Make();
  const std::vector<std::string> one = {"category/tech"};
  const std::vector<std::string> many = {"key_1", "key_2", "key_3"};
  ASSERT_TRUE(purger->PurgeTags(one));
  ASSERT_TRUE(purger->PurgeTags(many));
  auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 2u);
  ExpectAuth();
  EXPECT_EQ(requests[0].target, "/service/SU1Z0isxPaozGVKXdv0eY/purge/category%2Ftech");
  EXPECT_EQ(requests[1].target, "/service/SU1Z0isxPaozGVKXdv0eY/purge");
  EXPECT_EQ(HeaderOr(requests[1], "Content-Type"), "application/json");
  EXPECT_EQ(BodyOf(requests[1]), json::parse(R"({"surrogate_keys": ["key_1", "key_2", "key_3"]})"));
}

TEST_F(FastlyPurgerTest, BatchesHoldAtMost256Keys) {
  auto purger = Make();
  const auto keys = Numbered("k", 600);
  ASSERT_TRUE(purger->PurgeTags(keys));
  auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  std::vector<std::string> seen;
  for (const auto& request : requests) {
    EXPECT_EQ(request.target, "/service/SU1Z0isxPaozGVKXdv0eY/purge");
    const json body = BodyOf(request);
    for (const auto& key : body["surrogate_keys"]) seen.push_back(key.get<std::string>());
  }
  EXPECT_EQ(BodyOf(requests[0])["surrogate_keys"].size(), 256u);
  EXPECT_EQ(BodyOf(requests[2])["surrogate_keys"].size(), 88u);
  EXPECT_EQ(seen, keys);
}

TEST_F(FastlyPurgerTest, SoftPurgeHeaderExceptForPurgeAll) {
  PurgerConfig config = FastlyConfig(server_.BaseUrl());
  config.soft_purge = true;
  auto purger = Make(config);
  const std::vector<std::string> urls = {"https://www.example.com/a"};
  const std::vector<std::string> keys = {"k1", "k2"};
  ASSERT_TRUE(purger->PurgeUrls(urls));
  ASSERT_TRUE(purger->PurgeTags(keys));
  ASSERT_TRUE(purger->PurgeAll());
  auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(HeaderOr(requests[0], "Fastly-Soft-Purge"), "1");
  EXPECT_EQ(HeaderOr(requests[1], "Fastly-Soft-Purge"), "1");
  EXPECT_EQ(requests[2].target, "/service/SU1Z0isxPaozGVKXdv0eY/purge_all");
  EXPECT_EQ(HeaderOr(requests[2], "Fastly-Soft-Purge"), "<none>");
}

TEST_F(FastlyPurgerTest, PrefixPurgeIsAFailedPreconditionAndSendsNothing) {
  auto purger = Make();
  const std::vector<std::string> prefixes = {"www.example.com/videos/"};
  auto status = purger->PurgePrefixes(prefixes);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(server_.Requests().empty());
}

TEST_F(FastlyPurgerTest, UnauthorisedIsNotRetriedAndCarriesFastlysMessage) {
  server_.Script(Reply(401, R"({"msg":"Provided credentials are missing or invalid"})"));
  auto purger = Make();
  auto status = purger->PurgeAll();
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(status.error().message(),
            "fastly purge_all: HTTP 401: Provided credentials are missing or invalid (1 attempt)");
  EXPECT_EQ(status.error().message().find("SECRET"), std::string::npos);
  EXPECT_EQ(server_.Requests().size(), 1u);
}

TEST_F(FastlyPurgerTest, RateLimitedThenSucceeds) {
  server_.Script(Reply(429, R"({"msg":"Too many requests"})", {{"Retry-After", "2"}}));
  server_.Script(Reply(502, "<html>bad gateway</html>"));
  auto purger = Make();
  const std::vector<std::string> keys = {"product-42"};
  ASSERT_TRUE(purger->PurgeTags(keys));
  EXPECT_EQ(server_.Requests().size(), 3u);
  EXPECT_EQ(sleeps_.Waits(), (std::vector<milliseconds>{milliseconds(2'000), milliseconds(1'000)}))
      << "Retry-After, then the second step of the default backoff (500 ms doubling)";
  ExpectAuth();
}

}  // namespace
}  // namespace streamgate::cdn
