#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "net/demo_origin.hpp"
#include "streamgate/health/prober.hpp"

namespace streamgate {
namespace {

using namespace std::chrono_literals;

std::vector<Endpoint> ManyTargets(std::uint16_t port, std::size_t count) {
  std::vector<Endpoint> targets;
  targets.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    // Distinct paths make each result traceable to its target.
    targets.push_back(Endpoint{.scheme = EndpointScheme::kHttp,
                               .host = "127.0.0.1",
                               .port = port,
                               .path = i % 2 == 0 ? "/healthz" : "/id"});
  }
  return targets;
}

std::unique_ptr<net::DemoOrigin> StartOrigin(std::size_t threads) {
  net::DemoOriginOptions options;
  options.threads = threads;
  auto origin = net::DemoOrigin::Start(options);
  EXPECT_TRUE(origin.has_value());
  return origin ? std::move(*origin) : nullptr;
}

TEST(NetworkProberConcurrencyTest, TwoHundredTargetsInOneSweepAreAllOk) {
  auto origin = StartOrigin(2);
  ASSERT_NE(origin, nullptr);
  const auto targets = ManyTargets(origin->port(), 200);
  ProbeOptions options;
  options.timeout = 10s;
  const auto results = MakeNetworkProber()->ProbeAll(targets, options);
  ASSERT_EQ(results.size(), targets.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE(results[i].ok) << i << ": " << results[i].detail;
    EXPECT_EQ(results[i].http_status, 200);
  }
}

TEST(NetworkProberConcurrencyTest, InFlightBoundStillProbesEveryTarget) {
  auto origin = StartOrigin(2);
  ASSERT_NE(origin, nullptr);
  const auto targets = ManyTargets(origin->port(), 1000);
  ProbeOptions options;
  options.timeout = 10s;
  options.max_in_flight = 64;
  const auto start = std::chrono::steady_clock::now();
  const auto results = MakeNetworkProber()->ProbeAll(targets, options);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(results.size(), targets.size());
  std::size_t ok = 0;
  for (const ProbeResult& result : results) ok += result.ok ? 1 : 0;
  EXPECT_EQ(ok, targets.size());
  EXPECT_LT(elapsed, 30s);
}

TEST(NetworkProberConcurrencyTest, ThousandTargetsWithDefaultInFlightBoundFinish) {
  auto origin = StartOrigin(1);
  ASSERT_NE(origin, nullptr);
  const auto targets = ManyTargets(origin->port(), 1000);
  // The default 2 s timeout is too tight for 512 probes at once on a loaded 2-core CI machine
  // (sanitizers, parallel tests); the bound under test is max_in_flight, not the timeout.
  ProbeOptions options;
  options.timeout = 10s;
  const auto start = std::chrono::steady_clock::now();
  const auto results = MakeNetworkProber()->ProbeAll(targets, options);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(results.size(), targets.size());
  std::size_t ok = 0;
  for (const ProbeResult& result : results) ok += result.ok ? 1 : 0;
  EXPECT_EQ(ok, targets.size());
  EXPECT_LT(elapsed, 30s);
}

TEST(NetworkProberConcurrencyTest, InFlightBoundLimitsConcurrentSlowProbes) {
  // Four 200 ms probes with room for two at a time take two rounds.
  net::DemoOriginOptions options;
  options.latency = 200ms;
  auto origin = net::DemoOrigin::Start(options);
  ASSERT_TRUE(origin.has_value());
  const auto targets = ManyTargets((*origin)->port(), 4);
  ProbeOptions probe_options;
  probe_options.max_in_flight = 2;
  const auto start = std::chrono::steady_clock::now();
  const auto results = MakeNetworkProber()->ProbeAll(targets, probe_options);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  for (const ProbeResult& result : results) EXPECT_TRUE(result.ok) << result.detail;
  EXPECT_GE(elapsed, 400ms);
  EXPECT_LT(elapsed, 2s);
}

TEST(NetworkProberConcurrencyTest, ConcurrentSweepsFromSeveralThreads) {
  auto origin = StartOrigin(2);
  ASSERT_NE(origin, nullptr);
  auto prober = MakeNetworkProber();
  const auto targets = ManyTargets(origin->port(), 50);
  std::vector<std::vector<ProbeResult>> results(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] { results[t] = prober->ProbeAll(targets, ProbeOptions{}); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& sweep : results) {
    ASSERT_EQ(sweep.size(), targets.size());
    for (const ProbeResult& result : sweep) EXPECT_TRUE(result.ok) << result.detail;
  }
}

}  // namespace
}  // namespace streamgate
