// Multi-region manager hot paths: a real health-check sweep over many regions against a local
// origin, and the read calls the data plane makes.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "net/demo_origin.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::scaling {
namespace {

std::unique_ptr<MultiRegionManager> MakeManager(int regions, const std::string& endpoint,
                                                std::shared_ptr<Prober> prober) {
  HealthCheckOptions options;
  options.timeout = std::chrono::milliseconds(5000);
  auto manager = std::make_unique<MultiRegionManager>(options, std::move(prober));
  for (int i = 0; i < regions; ++i) {
    Region r;
    r.id = "region-" + std::to_string(i);
    r.endpoint = endpoint;
    r.priority = i;
    r.active = (i % 4 != 3);  // a quarter inactive, so the active list is a real filter
    if (!manager->RegisterRegion(r)) std::abort();
  }
  return manager;
}

void BM_HealthCheckSweep(benchmark::State& state) {
  net::DemoOriginOptions origin_options;
  origin_options.threads = 1;  // leave the other core to the prober
  auto origin = net::DemoOrigin::Start(origin_options);
  if (!origin) {
    state.SkipWithError("cannot start origin");
    return;
  }
  const std::string endpoint = "http://127.0.0.1:" + std::to_string((*origin)->port());
  auto manager = MakeManager(static_cast<int>(state.range(0)), endpoint, MakeNetworkProber());
  std::size_t healthy = 0;
  for (auto _ : state) {
    auto report = manager->PerformHealthCheck();
    if (!report) {
      state.SkipWithError("sweep failed");
      return;
    }
    healthy = report->healthy;
  }
  state.counters["healthy"] = static_cast<double>(healthy);
  state.counters["probes/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_HealthCheckSweep)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

// Reads never touch the network; any prober will do.
class NoProber final : public Prober {
 public:
  std::vector<ProbeResult> ProbeAll(std::span<const Endpoint> targets,
                                    const ProbeOptions&) override {
    return std::vector<ProbeResult>(targets.size());
  }
};

void BM_GetActiveRegions(benchmark::State& state) {
  auto manager = MakeManager(static_cast<int>(state.range(0)), "http://127.0.0.1:1",
                             std::make_shared<NoProber>());
  for (auto _ : state) {
    auto regions = manager->GetActiveRegions();
    benchmark::DoNotOptimize(regions);
  }
}
BENCHMARK(BM_GetActiveRegions)->Arg(3)->Arg(10)->Arg(100)->Arg(1000);

void BM_GetPrimaryRegion(benchmark::State& state) {
  auto manager = MakeManager(static_cast<int>(state.range(0)), "http://127.0.0.1:1",
                             std::make_shared<NoProber>());
  for (auto _ : state) {
    auto primary = manager->GetPrimaryRegion();
    benchmark::DoNotOptimize(primary);
  }
}
BENCHMARK(BM_GetPrimaryRegion)->Arg(3)->Arg(1000)->ThreadRange(1, 2);

}  // namespace
}  // namespace streamgate::scaling

BENCHMARK_MAIN();
