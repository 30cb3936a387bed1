// Uses the installed StreamGate: a load balancer picks between two backends and a multi-region
// manager takes two regions. Prints what it did; exits non-zero if anything failed.
#include <chrono>
#include <cstdio>

#include "streamgate/scaling/load_balancer.hpp"
#include "streamgate/scaling/region.hpp"

using namespace std::chrono_literals;
using namespace streamgate::scaling;

int main() {
  GlobalLoadBalancer balancer(LoadBalancingStrategy::kRoundRobin, 30s);
  for (const char* id : {"backend-1", "backend-2"}) {
    Backend backend;
    backend.id = id;
    backend.address = "127.0.0.1";
    backend.port = 8080;
    if (auto status = balancer.RegisterBackend(backend); !status) {
      std::fprintf(stderr, "register: %s\n", status.error().ToString().c_str());
      return 1;
    }
  }
  auto first = balancer.SelectBackend();
  auto second = balancer.SelectBackend();
  if (!first || !second || first->id == second->id) {
    std::fprintf(stderr, "round robin did not alternate\n");
    return 1;
  }

  MultiRegionManager regions(30s);
  for (const char* id : {"us-east-1", "eu-west-1"}) {
    Region region;
    region.id = id;
    region.endpoint = "http://127.0.0.1:9101";
    if (auto status = regions.RegisterRegion(region); !status) {
      std::fprintf(stderr, "register: %s\n", status.error().ToString().c_str());
      return 1;
    }
  }
  auto primary = regions.GetPrimaryRegion();
  if (!primary) {
    std::fprintf(stderr, "no primary: %s\n", primary.error().ToString().c_str());
    return 1;
  }
  std::printf("consumer: picked %s then %s; %zu regions, primary %s\n", first->id.c_str(),
              second->id.c_str(), regions.GetRegionCount(), primary->id.c_str());
  return 0;
}
