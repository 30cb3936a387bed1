// GeoIP lookups run once per new client on the proxy path: the budget is well under 300 ns for
// an IPv4 address. Uses the database scripts/fetch-geoip installs; STREAMGATE_GEOIP_DB overrides.
//   build/release/bin/geo_bench --benchmark_repetitions=10 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "streamgate/geo/geo_locator.hpp"

namespace {

using streamgate::geo::GeoLocator;

constexpr const char* kDatabase = "data/geoip/geo-whois-asn-country.mmdb";

// The benchmark runs from the repository or from build/<preset>/bin; both are tried.
std::filesystem::path FindDatabase() {
  if (const char* env = std::getenv("STREAMGATE_GEOIP_DB"); env != nullptr && *env != '\0') {
    return env;
  }
  std::error_code ec;
  if (std::filesystem::exists(kDatabase, ec)) return kDatabase;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path from_build = exe.parent_path() / "../../.." / kDatabase;
    if (std::filesystem::exists(from_build, ec)) return from_build;
  }
  return kDatabase;
}

// Opened once for all benchmarks; nullptr (and `error`) when it cannot be.
const std::shared_ptr<const GeoLocator>& Locator(std::string& error) {
  static std::string open_error;
  static const std::shared_ptr<const GeoLocator> locator = [] {
    auto opened = streamgate::geo::OpenMaxMindDatabase(FindDatabase());
    if (!opened) {
      open_error =
          opened.error().ToString() + " (run scripts/fetch-geoip or set STREAMGATE_GEOIP_DB)";
      return std::shared_ptr<const GeoLocator>();
    }
    return *opened;
  }();
  error = open_error;
  return locator;
}

// Spread-out public addresses that the database places, so a run walks many tree paths
// instead of one hot path. Deterministic (fixed LCG) so runs compare.
std::vector<std::string> LocatedIpv4Addresses(const GeoLocator& locator, std::size_t count) {
  std::vector<std::string> addresses;
  std::uint64_t state = 0x5eed5eedULL;
  while (addresses.size() < count) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto a = static_cast<std::uint32_t>(state >> 32);
    std::string text = std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
                       std::to_string((a >> 8) & 0xff) + "." + std::to_string(a & 0xff);
    if (locator.Lookup(text)) addresses.push_back(std::move(text));
  }
  return addresses;
}

void BM_LookupIpv4(benchmark::State& state) {
  std::string error;
  const auto& locator = Locator(error);
  if (!locator) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::vector<std::string> addresses = LocatedIpv4Addresses(*locator, 4096);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(locator->Lookup(addresses[i]));
    i = (i + 1) % addresses.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LookupIpv4);
BENCHMARK(BM_LookupIpv4)->Threads(2)->UseRealTime();

void BM_LookupIpv4SameAddress(benchmark::State& state) {
  std::string error;
  const auto& locator = Locator(error);
  if (!locator) {
    state.SkipWithError(error.c_str());
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(locator->Lookup("8.8.8.8"));
}
BENCHMARK(BM_LookupIpv4SameAddress);

void BM_LookupIpv6(benchmark::State& state) {
  std::string error;
  const auto& locator = Locator(error);
  if (!locator) {
    state.SkipWithError(error.c_str());
    return;
  }
  constexpr std::array<const char*, 4> kAddresses = {
      "2001:4860:4860::8888", "2001:67c:2e8:22::c100:68b", "2a00:1450:4001:82b::200e",
      "2606:4700:4700::1111"};
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(locator->Lookup(kAddresses[i]));
    i = (i + 1) % kAddresses.size();
  }
}
BENCHMARK(BM_LookupIpv6);

void BM_LookupPrivateIpv4(benchmark::State& state) {
  std::string error;
  const auto& locator = Locator(error);
  if (!locator) {
    state.SkipWithError(error.c_str());
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(locator->Lookup("192.168.1.20"));
}
BENCHMARK(BM_LookupPrivateIpv4);

// Opening decodes every distinct record of a country database up front.
void BM_OpenShippedDatabase(benchmark::State& state) {
  const std::filesystem::path path = FindDatabase();
  for (auto _ : state) {
    auto opened = streamgate::geo::OpenMaxMindDatabase(path);
    if (!opened) {
      state.SkipWithError(opened.error().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(*opened);
  }
}
BENCHMARK(BM_OpenShippedDatabase)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_LookupCountry(benchmark::State& state) {
  constexpr std::array<const char*, 4> kCodes = {"US", "de", "JP", "BR"};
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(streamgate::geo::LookupCountry(kCodes[i]));
    i = (i + 1) % kCodes.size();
  }
}
BENCHMARK(BM_LookupCountry);

void BM_GreatCircleKm(benchmark::State& state) {
  double lat = 51.5;
  for (auto _ : state) {
    benchmark::DoNotOptimize(streamgate::geo::GreatCircleKm(lat, -0.13, 40.71, -74.0));
    lat = lat > 60 ? 51.5 : lat + 0.001;
  }
}
BENCHMARK(BM_GreatCircleKm);

}  // namespace

BENCHMARK_MAIN();
