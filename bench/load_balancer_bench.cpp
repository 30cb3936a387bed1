// Global load balancer hot paths: Pick per strategy and backend count, the spec's
// SelectBackend() (returns a copy), and the per-request bookkeeping the proxy does.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "streamgate/scaling/load_balancer.hpp"
#include "support/fake_geo_locator.hpp"

namespace streamgate::scaling {
namespace {

// Picks never probe; any prober will do.
class NoProber final : public Prober {
 public:
  std::vector<ProbeResult> ProbeAll(std::span<const Endpoint> targets,
                                    const ProbeOptions&) override {
    return std::vector<ProbeResult>(targets.size());
  }
};

constexpr std::array<const char*, 4> kRegions = {"eu-west", "us-east", "ap-south", "sa-east"};
constexpr std::array<const char*, 8> kClients = {"1.0.0.1", "1.0.0.2", "2.0.0.1", "2.0.0.2",
                                                 "3.0.0.1", "4.0.0.1", "5.0.0.1", "9.9.9.9"};

std::shared_ptr<const geo::GeoLocator> MakeLocator() {
  auto geo = std::make_shared<testing::FakeGeoLocator>();
  geo->Set("1.0.0.1", "IE", "EU", 53.3, -6.2);
  geo->Set("1.0.0.2", "FR", "EU", 48.8, 2.3);
  geo->Set("2.0.0.1", "US", "NA", 40.7, -74.0);
  geo->Set("2.0.0.2", "CA", "NA", 45.5, -73.5);
  geo->Set("3.0.0.1", "IN", "AS", 19.0, 72.8);
  geo->Set("4.0.0.1", "BR", "SA", -23.5, -46.6);
  geo->Set("5.0.0.1", "JP", "AS", 35.7, 139.7);
  return geo;
}

std::unique_ptr<GlobalLoadBalancer> MakeBalancer(
    LoadBalancingStrategy strategy, int backends,
    std::shared_ptr<const geo::GeoLocator> locator = MakeLocator()) {
  LoadBalancerOptions options;
  options.geo_regions = {
      GeoRegion{"eu-west", {"IE", "GB"}, {"EU"}, 53.35, -6.26},
      GeoRegion{"us-east", {"US"}, {"NA"}, 38.9, -77.0},
      GeoRegion{"ap-south", {"IN"}, {"AS"}, 19.07, 72.88},
      GeoRegion{"sa-east", {"BR"}, {"SA"}, -23.55, -46.63},
  };
  LoadBalancerDependencies deps;
  deps.prober = std::make_shared<NoProber>();
  deps.random = MakeSeededRandom(1);
  deps.geo = std::move(locator);
  auto lb = std::make_unique<GlobalLoadBalancer>(strategy, options, deps);
  std::vector<Backend> all;
  for (int i = 0; i < backends; ++i) {
    Backend b;
    b.id = "backend-" + std::to_string(i);
    b.address = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    b.port = 8080;
    b.region = kRegions[static_cast<std::size_t>(i) % kRegions.size()];
    b.weight = static_cast<std::uint32_t>(1 + i % 4);  // weighted: SWRR schedule is real
    all.push_back(std::move(b));
  }
  if (!lb->RegisterBackends(std::move(all))) std::abort();
  // Measured latencies and some load, so latency_based and least_conn compare real numbers.
  for (int i = 0; i < backends; ++i) {
    const std::string id = "backend-" + std::to_string(i);
    if (!lb->RecordRequest(id, std::chrono::microseconds(1000 + (i * 37) % 5000), true)) {
      std::abort();
    }
    for (int c = 0; c < i % 3; ++c) {
      if (!lb->IncrementConnections(id)) std::abort();
    }
  }
  return lb;
}

std::vector<std::string> MakeKeys() {
  std::vector<std::string> keys;
  for (int i = 0; i < 1024; ++i) keys.push_back("/video/" + std::to_string(i) + "/seg.ts");
  return keys;
}

void BM_Pick(benchmark::State& state) {
  const auto strategy = static_cast<LoadBalancingStrategy>(state.range(0));
  auto lb = MakeBalancer(strategy, static_cast<int>(state.range(1)));
  const std::vector<std::string> keys = MakeKeys();
  std::size_t i = 0;
  for (auto _ : state) {
    RequestContext ctx;
    ctx.client_address = kClients[i & 7];
    ctx.hash_key = keys[i & 1023];
    ++i;
    auto picked = lb->Pick(ctx);
    benchmark::DoNotOptimize(picked);
  }
  state.SetLabel(std::string(ToString(strategy)));
}

void PickArgs(benchmark::internal::Benchmark* b) {
  for (int strategy = 0; strategy <= 4; ++strategy) {
    for (int n : {10, 1000, 10000}) b->Args({strategy, n});
  }
}
BENCHMARK(BM_Pick)->Apply(PickArgs);

// The real MaxMind component over the bundled country database (run from the source root, or
// set STREAMGATE_GEOIP_DB); skipped when neither is there.
void BM_PickGeoRealDatabase(benchmark::State& state) {
  const char* env = std::getenv("STREAMGATE_GEOIP_DB");
  const std::string path = env != nullptr ? env : "data/geoip/geo-whois-asn-country.mmdb";
  auto locator = geo::OpenMaxMindDatabase(path);
  if (!locator) {
    state.SkipWithError(("no geo database: " + locator.error().ToString()).c_str());
    return;
  }
  auto lb =
      MakeBalancer(LoadBalancingStrategy::kGeoLocation, static_cast<int>(state.range(0)), *locator);
  // US, GB, JP, BR, DE, IN, AU, and an unroutable address (round-robin fallback).
  constexpr std::array<const char*, 8> kRealClients = {
      "8.8.8.8",        "81.2.69.142", "202.12.27.33", "200.160.2.3",
      "85.214.132.117", "49.44.128.1", "1.128.0.1",    "10.1.2.3"};
  std::size_t i = 0;
  for (auto _ : state) {
    RequestContext ctx;
    ctx.client_address = kRealClients[i++ & 7];
    auto picked = lb->Pick(ctx);
    benchmark::DoNotOptimize(picked);
  }
}
BENCHMARK(BM_PickGeoRealDatabase)->Arg(10)->Arg(1000)->Arg(10000);

void BM_SelectBackendSpecForm(benchmark::State& state) {
  auto lb = MakeBalancer(LoadBalancingStrategy::kRoundRobin, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto backend = lb->SelectBackend();
    benchmark::DoNotOptimize(backend);
  }
}
BENCHMARK(BM_SelectBackendSpecForm)->Arg(10)->Arg(1000)->Arg(10000);

// What the proxy does around each request with a handle: +1, record, -1.
void BM_RecordAndConnectionPair(benchmark::State& state) {
  auto lb = MakeBalancer(LoadBalancingStrategy::kLatencyBased, 1000);
  auto picked = lb->Pick({});
  if (!picked) std::abort();
  const BackendHandle handle = *picked;
  std::int64_t latency = 0;
  for (auto _ : state) {
    lb->IncrementConnections(handle);
    lb->RecordRequest(handle, std::chrono::microseconds(500 + (latency++ & 1023)), true);
    lb->DecrementConnections(handle);
  }
}
BENCHMARK(BM_RecordAndConnectionPair);

// The by-id forms look the id up in the snapshot first.
void BM_RecordAndConnectionPairById(benchmark::State& state) {
  auto lb = MakeBalancer(LoadBalancingStrategy::kLatencyBased, 1000);
  std::int64_t latency = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(lb->IncrementConnections("backend-17"));
    benchmark::DoNotOptimize(
        lb->RecordRequest("backend-17", std::chrono::microseconds(500 + (latency++ & 1023)), true));
    benchmark::DoNotOptimize(lb->DecrementConnections("backend-17"));
  }
}
BENCHMARK(BM_RecordAndConnectionPairById);

}  // namespace
}  // namespace streamgate::scaling

BENCHMARK_MAIN();
