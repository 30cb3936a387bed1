// A Prober whose answers the test scripts per endpoint host:port.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "streamgate/health/prober.hpp"

namespace streamgate::testing {

class FakeProber final : public Prober {
 public:
  // Every later probe of `host_port` ("127.0.0.1:9101") returns `result`.
  void Set(const std::string& host_port, ProbeResult result) {
    std::lock_guard lock(mu_);
    results_[host_port] = std::move(result);
  }
  void SetUp(const std::string& host_port, std::chrono::microseconds latency) {
    Set(host_port,
        ProbeResult{.ok = true, .latency = latency, .http_status = 200, .detail = "HTTP 200"});
  }
  void SetDown(const std::string& host_port) {
    Set(host_port, ProbeResult{.ok = false,
                               .latency = std::chrono::microseconds(100),
                               .http_status = 0,
                               .detail = "connect: Connection refused"});
  }

  std::vector<ProbeResult> ProbeAll(std::span<const Endpoint> targets,
                                    const ProbeOptions& options) override {
    std::lock_guard lock(mu_);
    ++sweeps_;
    last_options_ = options;
    std::vector<ProbeResult> out;
    out.reserve(targets.size());
    for (const Endpoint& target : targets) {
      auto it = results_.find(HostPort(target));
      out.push_back(it != results_.end()
                        ? it->second
                        : ProbeResult{.ok = false, .detail = "no scripted answer"});
    }
    return out;
  }

  int sweeps() const {
    std::lock_guard lock(mu_);
    return sweeps_;
  }
  ProbeOptions last_options() const {
    std::lock_guard lock(mu_);
    return last_options_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, ProbeResult> results_;
  ProbeOptions last_options_;
  int sweeps_ = 0;
};

}  // namespace streamgate::testing
