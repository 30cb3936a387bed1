// One locator shared by many threads, as the proxy's per-core threads will share it.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "geo/maxmind_locator.hpp"
#include "geo/shipped_database.hpp"
#include "streamgate/geo/geo_locator.hpp"

namespace streamgate::geo {
namespace {

struct Case {
  std::string_view ip;
  std::optional<std::string_view> country;
};

constexpr std::array kCases = {
    Case{"8.8.8.8", "US"},           Case{"193.0.6.139", "NL"},
    Case{"131.111.150.25", "GB"},    Case{"133.11.0.1", "JP"},
    Case{"200.160.2.3", "BR"},       Case{"2001:4860:4860::8888", "US"},
    Case{"::ffff:8.8.8.8", "US"},    Case{"10.0.0.1", std::nullopt},
    Case{"not an ip", std::nullopt},
};

// Each of kThreads threads looks up the cases many times; returns how many answers were wrong.
int ParallelMismatches(const GeoLocator& locator) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 2000;
  std::atomic<int> mismatches{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int round = 0; round < kRounds; ++round) {
        // Each thread walks the cases from a different start, so threads hit different
        // parts of the tree at the same moment.
        const Case& c = kCases[static_cast<std::size_t>(round + t) % kCases.size()];
        const std::optional<GeoLocation> location = locator.Lookup(c.ip);
        const std::optional<std::string_view> country =
            location ? std::optional<std::string_view>(location->country) : std::nullopt;
        if (country != c.country) mismatches.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (std::thread& thread : threads) thread.join();
  return mismatches.load();
}

TEST(MaxMindLocatorConcurrencyTest, ParallelLookupsAgreeWithSerialOnes) {
  std::shared_ptr<const GeoLocator> locator;
  ASSERT_NO_FATAL_FAILURE(testing::OpenShippedDatabase(locator));
  EXPECT_EQ(ParallelMismatches(*locator), 0);
}

TEST(MaxMindLocatorConcurrencyTest, ParallelLookupsDecodingPerLookupAgree) {
  // The path a city database takes: records decoded from the shared mapping on every lookup.
  auto opened = internal::OpenMaxMindDatabase(testing::ShippedDatabasePath(), 0);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString()
                                  << " (run scripts/fetch-geoip or scripts/bootstrap)";
  EXPECT_EQ(ParallelMismatches(**opened), 0);
}

TEST(MaxMindLocatorConcurrencyTest, LocatorOutlivesTheCallerThatOpenedIt) {
  // The shared_ptr keeps the mapping alive for threads still holding it.
  std::shared_ptr<const GeoLocator> locator;
  ASSERT_NO_FATAL_FAILURE(testing::OpenShippedDatabase(locator));
  std::thread worker([held = locator] {
    for (int i = 0; i < 1000; ++i) {
      const std::optional<GeoLocation> location = held->Lookup("8.8.8.8");
      ASSERT_TRUE(location.has_value());
      ASSERT_EQ(location->country, "US");
    }
  });
  locator.reset();
  worker.join();
}

}  // namespace
}  // namespace streamgate::geo
