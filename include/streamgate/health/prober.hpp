// Health probing of endpoints. Managers hold policy (rise/fall, failover); a Prober only sends
// probes and reports what it saw, so managers are tested with a fake and the daemon uses the
// network implementation.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "streamgate/common/clock.hpp"
#include "streamgate/common/endpoint.hpp"

namespace streamgate {

struct ProbeOptions {
  std::chrono::milliseconds timeout{2000};  // whole probe: resolve, connect, request, response
  std::string http_path = "/healthz";       // for http(s) endpoints without a path of their own
  std::size_t max_in_flight = 512;          // bounds sockets used by one sweep
};

struct ProbeResult {
  bool ok = false;                      // http: status 2xx/3xx; tcp: connected
  std::chrono::microseconds latency{};  // time from start to verdict
  int http_status = 0;                  // 0 for tcp or when no response arrived
  std::string detail;                   // "HTTP 200", "connect: Connection refused", "timeout"
};

class Prober {
 public:
  virtual ~Prober() = default;
  // Probes all targets concurrently and returns one result per target, in the same order.
  // Each probe is bounded by options.timeout; the call returns once every probe has a verdict.
  [[nodiscard]] virtual std::vector<ProbeResult> ProbeAll(std::span<const Endpoint> targets,
                                                          const ProbeOptions& options) = 0;
};

// HTTP(S) GET / TCP connect over the network (Boost.Asio). Latency is read from `clock`.
[[nodiscard]] std::shared_ptr<Prober> MakeNetworkProber(const Clock& clock = RealClock());

}  // namespace streamgate
