// The proxy's edge cache against real origins on loopback: every caching rule of RFC 9111 the
// cache promises, with an injected clock for freshness and the origin counting what reaches it.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy_test_support.hpp"
#include "streamgate/cdn/object_store.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::proxy::test {
namespace {

using testing::ClientResponse;
using testing::HttpRequestBlocking;

// An origin whose answers each test scripts, counting requests per target and keeping the
// headers of the last request.
class ScriptedOrigin {
 public:
  explicit ScriptedOrigin(net::HttpHandler script, std::size_t threads = 4)
      : script_(std::move(script)) {
    net::HttpServerOptions options;
    options.threads = threads;
    auto server = net::HttpServer::Start(options, [this](const net::HttpRequest& request) {
      {
        std::lock_guard lock(mu_);
        ++counts_[request.target];
        last_headers_ = request.headers;
      }
      return script_(request);
    });
    EXPECT_TRUE(server.has_value()) << server.error().ToString();
    if (server) server_ = std::move(*server);
  }

  [[nodiscard]] std::uint16_t port() const { return server_->port(); }
  void Stop() { server_->Stop(); }
  [[nodiscard]] int count(const std::string& target) {
    std::lock_guard lock(mu_);
    return counts_[target];
  }
  [[nodiscard]] std::string last_header(std::string_view name) {
    std::lock_guard lock(mu_);
    for (const auto& [field, value] : last_headers_) {
      if (beast_iequals(field, name)) return value;
    }
    return "<absent>";
  }

 private:
  static bool beast_iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  }

  net::HttpHandler script_;
  std::unique_ptr<net::HttpServer> server_;
  std::mutex mu_;
  std::map<std::string, int> counts_;
  net::HeaderList last_headers_;
};

net::HttpResponse Text(std::string body, std::string cache_control = "public, max-age=60") {
  net::HttpResponse response;
  response.content_type = "text/plain";
  response.body = std::move(body);
  if (!cache_control.empty()) response.headers.emplace_back("Cache-Control", cache_control);
  return response;
}

class EdgeCacheTest : public ::testing::Test {
 protected:
  void Start(net::HttpHandler script, std::uint64_t capacity = 8 << 20,
             EdgeCacheOptions cache = {}) {
    origin_ = std::make_unique<ScriptedOrigin>(std::move(script));
    cdn::StoreOptions store_options;
    store_options.capacity_bytes = capacity;
    store_options.shards = 4;
    store_ = std::make_unique<cdn::ObjectStore>(store_options, clock_);
    balancer_ =
        MakeBalancer(scaling::LoadBalancingStrategy::kRoundRobin, {{"origin", origin_->port()}});
    ProxyOptions options = DefaultProxyOptions(2);
    options.cache_store = store_.get();
    options.cache = std::move(cache);
    options.upstream_timeout = 5s;
    proxy_ = StartProxy(*balancer_, options);
  }

  ClientResponse Get(std::string_view target, const net::HeaderList& headers = {},
                     std::string_view method = "GET") {
    auto response = HttpRequestBlocking(method, kHost, proxy_->port(), target, {}, headers);
    EXPECT_TRUE(response.has_value()) << response.error().ToString();
    return response ? *response : ClientResponse{};
  }

  static std::string XCache(const ClientResponse& response) {
    return std::string(response.Header("X-Cache").value_or("<absent>"));
  }

  testing::ManualClock clock_;
  std::unique_ptr<ScriptedOrigin> origin_;
  std::unique_ptr<cdn::ObjectStore> store_;
  std::unique_ptr<scaling::GlobalLoadBalancer> balancer_;
  std::unique_ptr<ProxyServer> proxy_;
};

TEST_F(EdgeCacheTest, SecondRequestIsAHitThatNeverReachesTheOrigin) {
  Start([](const net::HttpRequest&) { return Text("hello from origin"); });
  const ClientResponse first = Get("/a");
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(XCache(first), "MISS");
  const ClientResponse second = Get("/a");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(XCache(second), "HIT");
  EXPECT_EQ(second.body, "hello from origin");
  EXPECT_EQ(second.Header("Age").value_or(""), "0");
  EXPECT_EQ(second.Header("Content-Type").value_or(""), "text/plain");
  EXPECT_EQ(origin_->count("/a"), 1);
  clock_.Advance(7s);
  EXPECT_EQ(Get("/a").Header("Age").value_or(""), "7");
  EXPECT_EQ(proxy_->stats().cache_hits, 2u);
  EXPECT_EQ(proxy_->stats().cache_misses, 1u);
}

TEST_F(EdgeCacheTest, EntriesExpireAfterMaxAgeAndDefaultTtlAppliesWhenNothingIsSaid) {
  EdgeCacheOptions cache;
  cache.default_ttl = 30s;
  Start(
      [](const net::HttpRequest& request) {
        return Text("x", request.path == "/default" ? "" : "max-age=10");
      },
      8 << 20, cache);
  (void)Get("/ttl");
  (void)Get("/default");
  clock_.Advance(9s);
  EXPECT_EQ(XCache(Get("/ttl")), "HIT");
  clock_.Advance(2s);
  EXPECT_EQ(XCache(Get("/ttl")), "MISS");
  EXPECT_EQ(origin_->count("/ttl"), 2);
  EXPECT_EQ(XCache(Get("/default")), "HIT");
  clock_.Advance(20s);
  EXPECT_EQ(XCache(Get("/default")), "MISS");
  EXPECT_EQ(origin_->count("/default"), 2);
}

TEST_F(EdgeCacheTest, WhatASharedCacheMustNotStoreGoesToTheOriginEveryTime) {
  Start([](const net::HttpRequest& request) {
    net::HttpResponse response = Text("secret", "max-age=60");
    if (request.path == "/no-store") response = Text("x", "no-store");
    if (request.path == "/private") response = Text("x", "private, max-age=60");
    if (request.path == "/cookie") response.headers.emplace_back("Set-Cookie", "session=1");
    return response;
  });
  for (const char* target : {"/no-store", "/private", "/cookie"}) {
    EXPECT_EQ(XCache(Get(target)), "MISS") << target;
    EXPECT_EQ(XCache(Get(target)), "MISS") << target;
    EXPECT_EQ(origin_->count(target), 2) << target;
  }
  // A request with credentials is not answered from, or stored for, the shared cache.
  (void)Get("/auth", {{"Authorization", "Bearer t"}});
  EXPECT_EQ(XCache(Get("/auth", {{"Authorization", "Bearer t"}})), "MISS");
  EXPECT_EQ(origin_->count("/auth"), 2);
  // Other methods pass through untouched.
  (void)Get("/post", {}, "POST");
  const ClientResponse post = Get("/post", {}, "POST");
  EXPECT_EQ(XCache(post), "<absent>");
  EXPECT_EQ(origin_->count("/post"), 2);
}

TEST_F(EdgeCacheTest, BandwidthCountsBytesFromTheOriginAndFromTheCache) {
  Start([](const net::HttpRequest& request) {
    return Text(std::string(request.path == "/big" ? 1000 : 10, 'b'),
                request.path == "/uncached" ? "no-store" : "max-age=60");
  });
  (void)Get("/big");       // stored: 1000 bytes from the origin
  (void)Get("/big");       // hit: 1000 bytes from the cache
  (void)Get("/uncached");  // relayed, not stored: 10 bytes from the origin
  (void)Get("/uncached");
  const cdn::StoreStats stats = store_->Stats();
  EXPECT_EQ(stats.bytes_from_origin, 1020u);
  EXPECT_EQ(stats.bytes_served, 1000u);
}

TEST_F(EdgeCacheTest, StaleEntryIsRevalidatedWithItsETagAndA304RefreshesIt) {
  std::atomic<int> full_answers{0};
  Start([&](const net::HttpRequest& request) {
    if (request.Header("If-None-Match").value_or("") == "\"v1\"") {
      net::HttpResponse not_modified;
      not_modified.status = 304;
      not_modified.content_type.clear();
      not_modified.headers.emplace_back("ETag", "\"v1\"");
      not_modified.headers.emplace_back("Cache-Control", "max-age=10");
      return not_modified;
    }
    ++full_answers;
    net::HttpResponse response = Text("versioned body", "max-age=10");
    response.headers.emplace_back("ETag", "\"v1\"");
    return response;
  });
  EXPECT_EQ(XCache(Get("/r")), "MISS");
  clock_.Advance(11s);
  const ClientResponse revalidated = Get("/r");
  EXPECT_EQ(revalidated.status, 200);
  EXPECT_EQ(XCache(revalidated), "REVALIDATED");
  EXPECT_EQ(revalidated.body, "versioned body");
  EXPECT_EQ(origin_->last_header("If-None-Match"), "\"v1\"");
  EXPECT_EQ(full_answers.load(), 1);
  // Fresh again for another max-age.
  clock_.Advance(9s);
  EXPECT_EQ(XCache(Get("/r")), "HIT");
  EXPECT_EQ(origin_->count("/r"), 2);
}

TEST_F(EdgeCacheTest, ClientConditionalsAreAnsweredWith304FromTheCache) {
  Start([](const net::HttpRequest&) {
    net::HttpResponse response = Text("body", "max-age=60");
    response.headers.emplace_back("ETag", "\"abc\"");
    response.headers.emplace_back("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT");
    return response;
  });
  (void)Get("/c");
  const ClientResponse by_etag = Get("/c", {{"If-None-Match", "W/\"abc\""}});
  EXPECT_EQ(by_etag.status, 304);
  EXPECT_TRUE(by_etag.body.empty());
  EXPECT_EQ(by_etag.Header("ETag").value_or(""), "\"abc\"");
  EXPECT_FALSE(by_etag.Header("Content-Type").has_value());
  const ClientResponse by_date =
      Get("/c", {{"If-Modified-Since", "Mon, 07 Nov 1994 08:49:37 GMT"}});
  EXPECT_EQ(by_date.status, 304);
  EXPECT_EQ(Get("/c", {{"If-None-Match", "\"other\""}}).status, 200);
  EXPECT_EQ(origin_->count("/c"), 1);
}

TEST_F(EdgeCacheTest, VaryKeepsOneEntryPerVariant) {
  Start([](const net::HttpRequest& request) {
    net::HttpResponse response =
        Text("encoded as " + std::string(request.Header("Accept-Encoding").value_or("none")));
    response.headers.emplace_back("Vary", "Accept-Encoding");
    return response;
  });
  EXPECT_EQ(XCache(Get("/v", {{"Accept-Encoding", "gzip"}})), "MISS");
  EXPECT_EQ(XCache(Get("/v", {{"Accept-Encoding", "br"}})), "MISS");
  const ClientResponse gzip = Get("/v", {{"Accept-Encoding", "gzip"}});
  const ClientResponse br = Get("/v", {{"Accept-Encoding", "br"}});
  EXPECT_EQ(XCache(gzip), "HIT");
  EXPECT_EQ(gzip.body, "encoded as gzip");
  EXPECT_EQ(XCache(br), "HIT");
  EXPECT_EQ(br.body, "encoded as br");
  EXPECT_EQ(origin_->count("/v"), 2);
}

TEST_F(EdgeCacheTest, RangesAreServedFromTheWholeCachedObject) {
  std::string object(1000, '\0');
  for (std::size_t i = 0; i < object.size(); ++i) object[i] = static_cast<char>('a' + i % 26);
  Start([&](const net::HttpRequest&) { return Text(object); });
  // The first request carries a Range too: the origin is asked for the whole object.
  const ClientResponse first = Get("/seg", {{"Range", "bytes=0-9"}});
  EXPECT_EQ(origin_->last_header("Range"), "<absent>");
  EXPECT_EQ(first.status, 200);
  const ClientResponse part = Get("/seg", {{"Range", "bytes=10-19"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.Header("Content-Range").value_or(""), "bytes 10-19/1000");
  EXPECT_EQ(part.body, object.substr(10, 10));
  const ClientResponse suffix = Get("/seg", {{"Range", "bytes=-5"}});
  EXPECT_EQ(suffix.status, 206);
  EXPECT_EQ(suffix.body, object.substr(995));
  const ClientResponse beyond = Get("/seg", {{"Range", "bytes=2000-"}});
  EXPECT_EQ(beyond.status, 416);
  EXPECT_EQ(beyond.Header("Content-Range").value_or(""), "bytes */1000");
  EXPECT_EQ(origin_->count("/seg"), 1);
}

TEST_F(EdgeCacheTest, StaleIfErrorServesTheStaleCopyWhenTheOriginFails) {
  std::atomic<bool> failing{false};
  Start([&](const net::HttpRequest&) {
    if (failing) {
      net::HttpResponse error = Text("down", "");
      error.status = 503;
      return error;
    }
    return Text("last good", "max-age=1, stale-if-error=60");
  });
  (void)Get("/s");
  clock_.Advance(5s);
  failing = true;
  const ClientResponse on_503 = Get("/s");
  EXPECT_EQ(on_503.status, 200);
  EXPECT_EQ(on_503.body, "last good");
  EXPECT_EQ(XCache(on_503), "STALE");
  origin_->Stop();  // connection refused now
  const ClientResponse on_refused = Get("/s");
  EXPECT_EQ(on_refused.status, 200);
  EXPECT_EQ(XCache(on_refused), "STALE");
  clock_.Advance(60s);  // past the window: the failure shows
  EXPECT_EQ(Get("/s").status, 502);
}

TEST_F(EdgeCacheTest, StaleWhileRevalidateAnswersAtOnceAndRefreshesInTheBackground) {
  std::atomic<int> version{1};
  Start([&](const net::HttpRequest&) {
    return Text("v" + std::to_string(version.load()), "max-age=1, stale-while-revalidate=60");
  });
  EXPECT_EQ(Get("/w").body, "v1");
  version = 2;
  clock_.Advance(5s);
  const ClientResponse stale = Get("/w");
  EXPECT_EQ(XCache(stale), "STALE");
  EXPECT_EQ(stale.body, "v1");
  // The refresh runs on its own; wait for it (bounded) rather than for a fixed time.
  for (int i = 0; i < 500 && origin_->count("/w") < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(origin_->count("/w"), 2);
  ClientResponse refreshed;
  for (int i = 0; i < 500; ++i) {
    refreshed = Get("/w");
    if (refreshed.body == "v2") break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(refreshed.body, "v2");
  EXPECT_EQ(XCache(refreshed), "HIT");
}

TEST_F(EdgeCacheTest, ConcurrentMissesForOneKeyCauseOneOriginFetch) {
  Start([](const net::HttpRequest&) {
    net::HttpResponse response = Text(std::string(100'000, 'z'));
    response.delay = 300ms;  // long enough for every client to arrive while the fetch runs
    return response;
  });
  constexpr int kClients = 8;
  std::vector<std::future<ClientResponse>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::async(std::launch::async, [this] { return Get("/big"); }));
  }
  int ok = 0;
  for (auto& client : clients) {
    const ClientResponse response = client.get();
    ok += response.status == 200 && response.body.size() == 100'000 ? 1 : 0;
  }
  EXPECT_EQ(ok, kClients);
  EXPECT_EQ(origin_->count("/big"), 1);
  EXPECT_EQ(proxy_->stats().cache_coalesced, static_cast<std::uint64_t>(kClients - 1));
}

TEST_F(EdgeCacheTest, TheByteLimitIsNeverExceededAndLargeObjectsAreNotAdmitted) {
  constexpr std::uint64_t kCapacity = 256 * 1024;
  Start(
      [](const net::HttpRequest& request) {
        const std::size_t size = request.path == "/huge" ? 100'000 : 4'000;
        return Text(std::string(size, 'q'));
      },
      kCapacity);
  for (int i = 0; i < 200; ++i) {
    (void)Get("/obj/" + std::to_string(i));
    ASSERT_LE(store_->size_bytes(), kCapacity);
  }
  EXPECT_GT(store_->Stats().evictions, 0u);
  // 100 KB is more than the admission limit (5% of 256 KiB): never stored.
  (void)Get("/huge");
  EXPECT_EQ(XCache(Get("/huge")), "MISS");
  EXPECT_EQ(origin_->count("/huge"), 2);
}

TEST_F(EdgeCacheTest, HeadIsAnsweredFromTheStoredGetAndOnlyIfCachedNeverFetches) {
  Start([](const net::HttpRequest&) { return Text("0123456789"); });
  const ClientResponse miss = Get("/h", {{"Cache-Control", "only-if-cached"}});
  EXPECT_EQ(miss.status, 504);
  EXPECT_EQ(origin_->count("/h"), 0);
  (void)Get("/h");
  auto connection = testing::HttpConnection::Connect(kHost, proxy_->port());
  ASSERT_TRUE(connection.has_value());
  const std::string host = std::string(kHost) + ":" + std::to_string(proxy_->port());
  ASSERT_TRUE(connection->WriteRaw("HEAD /h HTTP/1.1\r\nHost: " + host + "\r\n\r\n").has_value());
  auto head = connection->ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("Content-Length").value_or(""), "10");
  EXPECT_TRUE(head->body.empty());
  EXPECT_EQ(origin_->count("/h"), 1);
}

}  // namespace
}  // namespace streamgate::proxy::test
