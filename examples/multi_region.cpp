// Multi-region manager, following the spec's Usage section: register regions, monitor their
// health, and fail over when the primary goes down.
//
// Three local origins stand in for the regions' health endpoints, and the manager probes them
// over HTTP (GET /healthz) with the network prober it uses in production. Taking the primary's
// origin down makes the next health check move the primary elsewhere.
//
// Build: part of the StreamGate build (example_multi_region), or against an installed StreamGate
// with find_package(streamgate) and target_link_libraries(... streamgate::scaling).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "local_origin.hpp"
#include "streamgate/health/prober.hpp"
#include "streamgate/scaling/region.hpp"

using namespace std::chrono_literals;
using streamgate::scaling::HealthCheckOptions;
using streamgate::scaling::HealthStatus;
using streamgate::scaling::MultiRegionManager;
using streamgate::scaling::Region;

namespace {

double Milliseconds(std::chrono::microseconds latency) { return latency.count() / 1000.0; }

// The examples double as CI checks: a broken promise is a failure, not just a printed line.
bool Check(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "example failed: %s\n", what);
  return ok;
}

void PrintRegions(const MultiRegionManager& mrm) {
  for (const auto& [id, metrics] : mrm.GetAllMetrics()) {
    std::printf("  Region: %-15s Status: %-9s Latency: %6.2fms%s\n", id.c_str(),
                std::string(ToString(metrics.health_status)).c_str(),
                Milliseconds(metrics.avg_latency), metrics.primary ? "  (primary)" : "");
  }
}

}  // namespace

int main() {
  examples::LocalOrigin us_east;
  examples::LocalOrigin eu_west;
  examples::LocalOrigin ap_southeast;

  // Create the multi-region manager. The spec's form is MultiRegionManager(30s); here the
  // options are spelt out so that one failed probe is enough to mark a region unhealthy.
  HealthCheckOptions options;
  options.interval = 30s;
  options.timeout = 1s;
  options.path = "/healthz";
  options.rise = 1;
  options.fall = 1;
  MultiRegionManager mrm(options, streamgate::MakeNetworkProber());

  // Register regions.
  struct {
    const char* id;
    const char* name;
    const char* location;
    const examples::LocalOrigin& origin;
  } const regions[] = {
      {"us-east-1", "US East", "Virginia", us_east},
      {"eu-west-1", "EU West", "Ireland", eu_west},
      {"ap-southeast-1", "AP Southeast", "Singapore", ap_southeast},
  };
  int priority = 1;
  for (const auto& r : regions) {
    Region region;
    region.id = r.id;
    region.name = r.name;
    region.location = r.location;
    region.endpoint = r.origin.Url();  // e.g. "https://us-east-1.example.com" in production
    region.priority = priority++;      // failover order among equally healthy regions
    region.active = true;
    if (auto status = mrm.RegisterRegion(region); !status) {
      std::fprintf(stderr, "register %s: %s\n", r.id, status.error().ToString().c_str());
      return 1;
    }
  }
  std::printf("Registered %zu regions, %zu active\n", mrm.GetRegionCount(),
              mrm.GetActiveRegionCount());

  // Monitor region health.
  if (mrm.ShouldHealthCheck()) {
    auto report = mrm.PerformHealthCheck();
    if (!report) {
      std::fprintf(stderr, "health check: %s\n", report.error().ToString().c_str());
      return 1;
    }
    std::printf("Health check: %zu probed, %zu healthy in %.2fms\n", report->probed,
                report->healthy, Milliseconds(report->duration));
  }
  auto metrics = mrm.GetRegionMetrics("us-east-1");
  if (!metrics) {
    std::fprintf(stderr, "%s\n", metrics.error().ToString().c_str());
    return 1;
  }
  std::printf("Region: %s, Status: %s, Latency: %.2fms (%s)\n", metrics->region_id.c_str(),
              std::string(ToString(metrics->health_status)).c_str(),
              Milliseconds(metrics->avg_latency), metrics->last_probe_detail.c_str());
  PrintRegions(mrm);
  bool ok = Check(metrics->health_status == HealthStatus::kHealthy, "us-east-1 should be healthy");

  // Handle failover: the primary region's origin goes down; the next health check notices and
  // moves the primary to the best remaining region (healthy, then fastest, then priority).
  auto primary = mrm.GetPrimaryRegion();
  ok &= Check(primary.has_value() && primary->id == "us-east-1", "us-east-1 starts as primary");
  std::printf("\nPrimary: %s. Taking %s's origin down...\n", primary ? primary->id.c_str() : "-",
              primary ? primary->id.c_str() : "-");
  us_east.Stop();
  if (auto report = mrm.PerformHealthCheck(); report && report->new_primary) {
    std::printf("Failover: new primary %s\n", report->new_primary->c_str());
  }
  PrintRegions(mrm);
  primary = mrm.GetPrimaryRegion();
  ok &= Check(primary.has_value() && primary->id != "us-east-1", "the primary moved away");

  // The spec's manual form: pick a primary among the active regions.
  std::vector<Region> active = mrm.GetActiveRegions();
  std::printf("\nActive regions: %zu\n", active.size());
  if (auto status = mrm.SetPrimaryRegion("ap-southeast-1"); !status) {
    std::fprintf(stderr, "set primary: %s\n", status.error().ToString().c_str());
    return 1;
  }
  std::printf("Primary set by hand: %s\n", mrm.GetPrimaryRegion()->id.c_str());

  // Deactivating the primary (maintenance) fails over at once.
  if (auto status = mrm.DeactivateRegion("ap-southeast-1"); !status) {
    std::fprintf(stderr, "deactivate: %s\n", status.error().ToString().c_str());
    return 1;
  }
  primary = mrm.GetPrimaryRegion();
  std::printf("ap-southeast-1 deactivated; primary now %s\n", primary ? primary->id.c_str() : "-");
  ok &= Check(primary.has_value() && primary->id == "eu-west-1", "eu-west-1 is the last one up");

  const auto stats = mrm.GetStats();
  std::printf("\nSweeps: %llu, automatic failovers: %llu, primary changes: %llu\n",
              static_cast<unsigned long long>(stats.health_check_sweeps),
              static_cast<unsigned long long>(stats.failovers),
              static_cast<unsigned long long>(stats.primary_changes));
  return ok ? 0 : 1;
}
