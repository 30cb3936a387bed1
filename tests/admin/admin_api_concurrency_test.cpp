// Handle is called from the HTTP server's threads: reads, writes, health sweeps and scrapes
// interleave. Run under ThreadSanitizer in CI (the "concurrency" label).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_api.hpp"
#include "streamgate/scaling/region.hpp"
#include "support/admin_requests.hpp"
#include "support/fake_prober.hpp"
#include "support/manual_clock.hpp"

namespace streamgate::admin {
namespace {

using std::chrono::milliseconds;

using testing::MakeRequest;

TEST(AdminApiConcurrencyTest, ReadsWritesSweepsAndScrapesInterleave) {
  constexpr int kRegions = 40;
  scaling::HealthCheckOptions options;
  options.rise = 1;
  options.fall = 1;
  auto prober = std::make_shared<testing::FakeProber>();
  testing::ManualClock clock;
  scaling::MultiRegionManager manager(options, prober, clock);
  const AdminApi api(manager);

  std::atomic<bool> done{false};
  std::atomic<int> unexpected{0};
  auto expect = [&unexpected](const net::HttpResponse& response, std::initializer_list<int> ok) {
    for (int status : ok) {
      if (response.status == status) return;
    }
    ++unexpected;
  };

  std::vector<std::thread> threads;
  threads.emplace_back([&] {  // registers regions, half of them up
    for (int i = 0; i < kRegions; ++i) {
      const std::string port = std::to_string(9000 + i);
      if (i % 2 == 0) prober->SetUp("127.0.0.1:" + port, milliseconds(1 + i));
      const nlohmann::json body = {{"id", "r" + std::to_string(i)},
                                   {"endpoint", "http://127.0.0.1:" + port}};
      expect(api.Handle(MakeRequest("POST", "/api/v1/regions", body.dump())), {201});
      std::this_thread::sleep_for(milliseconds(1));  // let the other threads interleave
    }
    done = true;
  });
  threads.emplace_back([&] {  // moves the primary and toggles regions
    for (int i = 0; !done; ++i) {
      const std::string id = "r" + std::to_string(i % kRegions);
      expect(api.Handle(MakeRequest("PUT", "/api/v1/regions/primary",
                                    nlohmann::json({{"id", id}}).dump())),
             {200, 404, 409});
      expect(api.Handle(MakeRequest(
                 "POST", "/api/v1/regions/" + id + (i % 3 == 0 ? "/deactivate" : "/activate"))),
             {200, 404});
    }
  });
  threads.emplace_back([&] {  // health sweeps
    while (!done) {
      clock.Advance(milliseconds(100));
      ASSERT_TRUE(manager.PerformHealthCheck().has_value());
    }
  });
  threads.emplace_back([&] {  // scrapes and reads
    while (!done) {
      expect(api.Handle(MakeRequest("GET", "/metrics")), {200});
      expect(api.Handle(MakeRequest("GET", "/api/v1/regions")), {200});
      expect(api.Handle(MakeRequest("GET", "/api/v1/regions/primary")), {200, 404});
      expect(api.Handle(MakeRequest("GET", "/api/v1/regions/r1/metrics")), {200, 404});
    }
  });
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(unexpected.load(), 0);
  const net::HttpResponse list = api.Handle(MakeRequest("GET", "/api/v1/regions"));
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(nlohmann::json::parse(list.body).size(), static_cast<std::size_t>(kRegions));
}

}  // namespace
}  // namespace streamgate::admin
