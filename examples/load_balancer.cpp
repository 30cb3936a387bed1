// Global load balancer, following the spec's Usage section: register backends, select one per
// request with each strategy, track connections and requests, and monitor backend health.
//
// Three local origins stand in for the backends, so the health checks are real HTTP probes.
// Request latencies are recorded by hand here (the proxy records the real ones).
#include "streamgate/scaling/load_balancer.hpp"

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "local_origin.hpp"

using namespace std::chrono_literals;
using streamgate::scaling::Backend;
using streamgate::scaling::GlobalLoadBalancer;
using streamgate::scaling::HealthStatus;
using streamgate::scaling::LoadBalancingStrategy;
using streamgate::scaling::RequestContext;

namespace {

bool Check(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "example failed: %s\n", what);
  return ok;
}

// What each backend's requests take in this example: backend-1 is the fast one.
std::chrono::microseconds LatencyOf(const std::string& backend_id) {
  if (backend_id == "backend-1") return 5ms;
  if (backend_id == "backend-2") return 20ms;
  return 80ms;
}

// Sends `requests` requests through the balancer (with `hash_key` for consistent_hash) and
// returns how many each backend served.
std::map<std::string, int> Run(GlobalLoadBalancer& glb, int requests,
                               const std::string& hash_key = "") {
  std::map<std::string, int> served;
  for (int i = 0; i < requests; ++i) {
    RequestContext context;
    context.hash_key = hash_key;
    auto selected = glb.SelectBackend(context);
    if (!selected) {
      std::fprintf(stderr, "select: %s\n", selected.error().ToString().c_str());
      continue;
    }
    (void)glb.IncrementConnections(selected->id);
    // ... the request is forwarded to selected->address:selected->port ...
    (void)glb.DecrementConnections(selected->id);
    (void)glb.RecordRequest(selected->id, LatencyOf(selected->id), /*success=*/true);
    ++served[selected->id];
  }
  return served;
}

void Print(LoadBalancingStrategy strategy, const std::map<std::string, int>& served) {
  std::printf("  %-16s", std::string(ToString(strategy)).c_str());
  for (const auto& [id, count] : served) std::printf("  %s: %3d", id.c_str(), count);
  std::printf("\n");
}

}  // namespace

int main() {
  examples::LocalOrigin origin1, origin2, origin3;

  // Create the load balancer (spec form: strategy and health-check interval; network probes).
  GlobalLoadBalancer glb(LoadBalancingStrategy::kLatencyBased, 30s);

  // Register backends.
  struct {
    const char* id;
    const examples::LocalOrigin& origin;
    const char* region;
  } const backends[] = {
      {"backend-1", origin1, "us-east-1"},
      {"backend-2", origin2, "eu-west-1"},
      {"backend-3", origin3, "ap-southeast-1"},
  };
  for (const auto& b : backends) {
    Backend backend;
    backend.id = b.id;
    backend.address = "127.0.0.1";
    backend.port = b.origin.port();  // 8080 in the spec
    backend.region = b.region;
    backend.active = true;
    if (auto status = glb.RegisterBackend(backend); !status) {
      std::fprintf(stderr, "register %s: %s\n", b.id, status.error().ToString().c_str());
      return 1;
    }
  }

  // Select a backend, track the connection, record the request (the spec's sequence).
  auto selected = glb.SelectBackend();
  if (!selected) {
    std::fprintf(stderr, "select: %s\n", selected.error().ToString().c_str());
    return 1;
  }
  std::printf("Selected backend: %s (%s:%u)\n", selected->id.c_str(), selected->address.c_str(),
              static_cast<unsigned>(selected->port));
  (void)glb.IncrementConnections(selected->id);
  (void)glb.DecrementConnections(selected->id);
  (void)glb.RecordRequest(selected->id, 12ms, /*success=*/true);

  // The strategies side by side, 300 requests each.
  std::printf("\nRequests served per backend:\n");
  bool ok = true;

  glb.SetStrategy(LoadBalancingStrategy::kRoundRobin);
  auto served = Run(glb, 300);
  Print(LoadBalancingStrategy::kRoundRobin, served);
  ok &= Check(served["backend-1"] == 100 && served["backend-3"] == 100, "round robin is even");

  // least_conn: backend-1 holds 50 long-lived streams, so new requests go to the others.
  glb.SetStrategy(LoadBalancingStrategy::kLeastConnections);
  for (int i = 0; i < 50; ++i) (void)glb.IncrementConnections("backend-1");
  served = Run(glb, 300);
  Print(LoadBalancingStrategy::kLeastConnections, served);
  ok &= Check(served["backend-1"] == 0, "least_conn avoids the busy backend");
  for (int i = 0; i < 50; ++i) (void)glb.DecrementConnections("backend-1");

  // latency_based: the recorded latencies make backend-1 (5 ms) the favourite.
  glb.SetStrategy(LoadBalancingStrategy::kLatencyBased);
  served = Run(glb, 300);
  Print(LoadBalancingStrategy::kLatencyBased, served);
  ok &= Check(served["backend-1"] > served["backend-3"], "latency_based prefers the fast one");

  // consistent_hash: one key (a video's path) always lands on the same backend.
  glb.SetStrategy(LoadBalancingStrategy::kConsistentHash);
  served = Run(glb, 300, "/videos/intro.mp4");
  Print(LoadBalancingStrategy::kConsistentHash, served);
  ok &= Check(served.size() == 1, "consistent_hash keeps a key on one backend");

  // Monitor backend health: backend-3's origin goes down; after `fall` failed probes (3 by
  // default) it is unhealthy and takes no more traffic.
  std::printf("\nTaking backend-3's origin down...\n");
  origin3.Stop();
  for (int sweep = 0; sweep < 3; ++sweep) (void)glb.PerformHealthCheck();
  for (const auto& [id, metrics] : glb.GetAllMetrics()) {
    std::printf("Backend: %s, Status: %s, Connections: %llu, Requests: %llu, Avg latency: %.1fms\n",
                id.c_str(), std::string(ToString(metrics.health_status)).c_str(),
                static_cast<unsigned long long>(metrics.connections),
                static_cast<unsigned long long>(metrics.total_requests),
                metrics.avg_latency.count() / 1000.0);
  }
  glb.SetStrategy(LoadBalancingStrategy::kRoundRobin);
  served = Run(glb, 100);
  Print(LoadBalancingStrategy::kRoundRobin, served);
  auto metrics = glb.GetBackendMetrics("backend-3");
  ok &= Check(metrics && metrics->health_status == HealthStatus::kUnhealthy,
              "backend-3 is unhealthy");
  ok &= Check(served.count("backend-3") == 0, "no traffic to an unhealthy backend");

  const auto stats = glb.GetStats();
  std::printf("\nBackends: %zu, active: %zu, available: %zu\n", stats.backends,
              stats.active_backends, stats.available_backends);
  return ok ? 0 : 1;
}
