#include "proxy/cache_policy.hpp"

#include <gtest/gtest.h>

namespace streamgate::proxy {
namespace {

using std::chrono::seconds;

// Sun, 06 Nov 1994 08:49:37 GMT, the example date of RFC 9110.
const WallTime kRfcDate{seconds(784111777)};

TEST(CacheControlTest, ParsesDirectivesCaseInsensitivelyWithQuotedArguments) {
  const CacheControl cc = ParseCacheControl(
      R"(Public, MAX-AGE=60, s-maxage="120", no-cache="Set-Cookie, X-A", stale-while-revalidate=30)");
  EXPECT_TRUE(cc.is_public);
  EXPECT_EQ(cc.max_age, seconds(60));
  EXPECT_EQ(cc.s_maxage, seconds(120));
  EXPECT_TRUE(cc.no_cache);
  EXPECT_EQ(cc.stale_while_revalidate, seconds(30));
  EXPECT_FALSE(cc.no_store);
  EXPECT_FALSE(cc.is_private);
}

TEST(CacheControlTest, InvalidDeltaSecondsCountsAsZeroAndHugeOnesAreCapped) {
  EXPECT_EQ(ParseCacheControl("max-age=abc").max_age, seconds(0));
  EXPECT_EQ(ParseCacheControl("max-age=99999999999999999999").max_age, seconds(2147483648LL));
  EXPECT_EQ(ParseCacheControl("max-stale").max_stale, seconds::max());
  EXPECT_EQ(ParseCacheControl("max-stale=5").max_stale, seconds(5));
}

TEST(CacheControlTest, SeveralFieldLinesAccumulate) {
  CacheControl cc;
  ParseCacheControl("private", cc);
  ParseCacheControl("max-age=5, immutable", cc);
  EXPECT_TRUE(cc.is_private);
  EXPECT_TRUE(cc.immutable);
  EXPECT_EQ(cc.max_age, seconds(5));
}

TEST(HttpDateTest, AcceptsAllThreeFormsAndRejectsGarbage) {
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), kRfcDate);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), kRfcDate);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), kRfcDate);
  EXPECT_FALSE(ParseHttpDate("0"));
  EXPECT_FALSE(ParseHttpDate(""));
  EXPECT_FALSE(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT trailing"));
  EXPECT_FALSE(ParseHttpDate("yesterday"));
}

ResponseFacts Ok(std::string_view cache_control = "") {
  ResponseFacts r;
  r.status = 200;
  r.cache_control = ParseCacheControl(cache_control);
  r.request_time = kRfcDate;
  r.response_time = kRfcDate;
  r.date = kRfcDate;
  return r;
}

RequestFacts Get() { return RequestFacts{"GET", {}, false}; }

TEST(DecideStoreTest, FreshnessComesFromSMaxAgeThenMaxAgeThenExpiresThenTheDefault) {
  const seconds ttl(3600);
  EXPECT_EQ(DecideStore(Get(), Ok("max-age=60, s-maxage=120"), ttl).freshness.lifetime,
            seconds(120));
  EXPECT_EQ(DecideStore(Get(), Ok("max-age=60"), ttl).freshness.lifetime, seconds(60));
  ResponseFacts expires = Ok();
  expires.expires = kRfcDate + seconds(300);
  EXPECT_EQ(DecideStore(Get(), expires, ttl).freshness.lifetime, seconds(300));
  EXPECT_EQ(DecideStore(Get(), Ok(), ttl).freshness.lifetime, ttl);
}

TEST(DecideStoreTest, AnInvalidOrPastExpiresStoresAnAlreadyStaleResponse) {
  ResponseFacts invalid = Ok();
  invalid.expires_invalid = true;
  const StoreDecision a = DecideStore(Get(), invalid, seconds(3600));
  EXPECT_TRUE(a.store);
  EXPECT_EQ(a.freshness.lifetime, seconds(0));
  ResponseFacts past = Ok();
  past.expires = kRfcDate - seconds(10);
  EXPECT_EQ(DecideStore(Get(), past, seconds(3600)).freshness.lifetime, seconds(0));
}

TEST(DecideStoreTest, RefusesWhatASharedCacheMustNotStore) {
  const seconds ttl(60);
  EXPECT_EQ(DecideStore(Get(), Ok("no-store"), ttl).reason, "no-store");
  EXPECT_EQ(DecideStore(Get(), Ok("private, max-age=60"), ttl).reason, "private");
  RequestFacts no_store_request = Get();
  no_store_request.cache_control.no_store = true;
  EXPECT_FALSE(DecideStore(no_store_request, Ok("max-age=60"), ttl).store);
  ResponseFacts cookie = Ok("public, max-age=60");
  cookie.has_set_cookie = true;
  EXPECT_EQ(DecideStore(Get(), cookie, ttl).reason, "set-cookie");
  ResponseFacts vary = Ok("max-age=60");
  vary.vary_star = true;
  EXPECT_FALSE(DecideStore(Get(), vary, ttl).store);
  EXPECT_EQ(DecideStore(RequestFacts{"POST", {}, false}, Ok("max-age=60"), ttl).reason, "method");
  ResponseFacts partial = Ok("max-age=60");
  partial.status = 206;
  EXPECT_FALSE(DecideStore(Get(), partial, ttl).store);
  ResponseFacts server_error = Ok();
  server_error.status = 500;
  EXPECT_EQ(DecideStore(Get(), server_error, ttl).reason, "no explicit freshness");
  server_error.cache_control.max_age = seconds(5);
  EXPECT_TRUE(DecideStore(Get(), server_error, ttl).store);
}

TEST(DecideStoreTest, AuthorizedRequestsAreStoredOnlyWhenTheResponseAllowsIt) {
  RequestFacts authorized = Get();
  authorized.has_authorization = true;
  EXPECT_EQ(DecideStore(authorized, Ok("max-age=60"), seconds(60)).reason, "authorization");
  EXPECT_TRUE(DecideStore(authorized, Ok("public, max-age=60"), seconds(60)).store);
  EXPECT_TRUE(DecideStore(authorized, Ok("s-maxage=60"), seconds(60)).store);
}

TEST(DecideStoreTest, NoCacheIsStoredButFlaggedAndSMaxAgeImpliesRevalidation) {
  const StoreDecision no_cache = DecideStore(Get(), Ok("no-cache, max-age=60"), seconds(60));
  EXPECT_TRUE(no_cache.store);
  EXPECT_TRUE(no_cache.freshness.no_cache);
  EXPECT_TRUE(DecideStore(Get(), Ok("s-maxage=5"), seconds(60)).freshness.must_revalidate);
  EXPECT_FALSE(DecideStore(Get(), Ok("max-age=5"), seconds(60)).freshness.must_revalidate);
}

TEST(CurrentAgeTest, AddsAgeHeaderResponseDelayAndResidentTime) {
  ResponseFacts r = Ok();
  r.request_time = kRfcDate;
  r.response_time = kRfcDate + seconds(2);  // two seconds in flight
  r.date = kRfcDate + seconds(1);
  r.age = seconds(10);  // an upstream cache held it 10 s
  // corrected initial age = max(1, 10 + 2) = 12; plus 5 s resident.
  EXPECT_EQ(CurrentAge(r, r.response_time + seconds(5)), seconds(17));
  r.age.reset();
  r.date = kRfcDate - seconds(30);  // the origin's clock is behind, or it was cached upstream
  EXPECT_EQ(CurrentAge(r, r.response_time), seconds(32));
}

TEST(DecideUseTest, FreshThenStaleWhileRevalidateThenRevalidate) {
  Freshness f;
  f.lifetime = seconds(60);
  f.stale_while_revalidate = seconds(30);
  const CacheControl none;
  EXPECT_EQ(DecideUse(f, seconds(59), none), CacheUse::kFresh);
  EXPECT_EQ(DecideUse(f, seconds(60), none), CacheUse::kStaleWhileRevalidate);
  EXPECT_EQ(DecideUse(f, seconds(89), none), CacheUse::kStaleWhileRevalidate);
  EXPECT_EQ(DecideUse(f, seconds(90), none), CacheUse::kMustRevalidate);
  f.must_revalidate = true;
  EXPECT_EQ(DecideUse(f, seconds(61), none), CacheUse::kMustRevalidate);
}

TEST(DecideUseTest, RequestDirectivesTightenOrLoosen) {
  Freshness f;
  f.lifetime = seconds(60);
  EXPECT_EQ(DecideUse(f, seconds(10), ParseCacheControl("max-age=5")), CacheUse::kMustRevalidate);
  EXPECT_EQ(DecideUse(f, seconds(10), ParseCacheControl("no-cache")), CacheUse::kMustRevalidate);
  EXPECT_EQ(DecideUse(f, seconds(50), ParseCacheControl("min-fresh=20")),
            CacheUse::kMustRevalidate);
  EXPECT_EQ(DecideUse(f, seconds(70), ParseCacheControl("max-stale=20")), CacheUse::kFresh);
  EXPECT_EQ(DecideUse(f, seconds(90), ParseCacheControl("max-stale=20")),
            CacheUse::kMustRevalidate);
  f.no_cache = true;
  EXPECT_EQ(DecideUse(f, seconds(1), CacheControl{}), CacheUse::kMustRevalidate);
}

TEST(StaleIfErrorTest, OnlyWithinTheWindowAndNeverWhenRevalidationIsRequired) {
  Freshness f;
  f.lifetime = seconds(60);
  EXPECT_FALSE(MayServeStaleOnError(f, seconds(61)));
  f.stale_if_error = seconds(100);
  EXPECT_TRUE(MayServeStaleOnError(f, seconds(160)));
  EXPECT_FALSE(MayServeStaleOnError(f, seconds(161)));
  f.must_revalidate = true;
  EXPECT_FALSE(MayServeStaleOnError(f, seconds(61)));
}

TEST(ConditionalTest, IfNoneMatchUsesWeakComparisonAndWinsOverIfModifiedSince) {
  EXPECT_TRUE(IsNotModified(R"("a", W/"b")", "", R"("b")", std::nullopt));
  EXPECT_TRUE(IsNotModified(R"(W/"b")", "", R"(W/"b")", std::nullopt));
  EXPECT_FALSE(IsNotModified(R"("a")", "", R"("b")", std::nullopt));
  EXPECT_TRUE(IsNotModified("*", "", R"("b")", std::nullopt));
  EXPECT_FALSE(IsNotModified(R"("a")", "Sun, 06 Nov 1994 08:49:37 GMT", R"("b")", kRfcDate));
}

TEST(ConditionalTest, IfModifiedSinceComparesWithLastModified) {
  const char* since = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_TRUE(IsNotModified("", since, "", kRfcDate));
  EXPECT_TRUE(IsNotModified("", since, "", kRfcDate - seconds(1)));
  EXPECT_FALSE(IsNotModified("", since, "", kRfcDate + seconds(1)));
  EXPECT_FALSE(IsNotModified("", "not a date", "", kRfcDate));
  EXPECT_FALSE(IsNotModified("", since, "", std::nullopt));
}

TEST(RangeTest, SatisfiableForms) {
  const RangeRequest a = ParseRange("bytes=0-99", 1000);
  ASSERT_EQ(a.kind, RangeKind::kSatisfiable);
  EXPECT_EQ(a.range.first, 0u);
  EXPECT_EQ(a.range.last, 99u);
  EXPECT_EQ(a.range.length(), 100u);
  const RangeRequest open = ParseRange("bytes=990-", 1000);
  EXPECT_EQ(open.range.first, 990u);
  EXPECT_EQ(open.range.last, 999u);
  const RangeRequest clamped = ParseRange("bytes=500-5000", 1000);
  EXPECT_EQ(clamped.range.last, 999u);
  const RangeRequest suffix = ParseRange("bytes=-100", 1000);
  EXPECT_EQ(suffix.range.first, 900u);
  EXPECT_EQ(suffix.range.last, 999u);
  const RangeRequest long_suffix = ParseRange("bytes=-5000", 1000);
  EXPECT_EQ(long_suffix.range.first, 0u);
  EXPECT_EQ(ContentRangeValue(a.range, 1000), "bytes 0-99/1000");
}

TEST(RangeTest, UnsatisfiableAndIgnoredForms) {
  EXPECT_EQ(ParseRange("bytes=1000-", 1000).kind, RangeKind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-0", 1000).kind, RangeKind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=0-", 0).kind, RangeKind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("", 1000).kind, RangeKind::kNone);
  EXPECT_EQ(ParseRange("items=0-5", 1000).kind, RangeKind::kNone);
  EXPECT_EQ(ParseRange("bytes=5-1", 1000).kind, RangeKind::kNone);
  EXPECT_EQ(ParseRange("bytes=0-1,5-6", 1000).kind, RangeKind::kNone);
  EXPECT_EQ(ParseRange("bytes=x-5", 1000).kind, RangeKind::kNone);
  EXPECT_EQ(ParseRange("bytes=-", 1000).kind, RangeKind::kNone);
}

}  // namespace
}  // namespace streamgate::proxy
