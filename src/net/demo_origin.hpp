// A tiny configurable HTTP origin for demos, benchmarks and tests: answers /healthz, /id and
// /bytes/N with adjustable latency and health, and tags every answer with X-Origin-Id.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "streamgate/common/error.hpp"

namespace streamgate::net {

class HttpServer;

struct DemoOriginOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 picks a free port; see DemoOrigin::port()
  std::string id = "origin";
  std::size_t threads = 1;
  std::chrono::milliseconds latency{0};               // added to every response
  std::optional<std::chrono::seconds> cache_max_age;  // sends Cache-Control when set
};

// Routes (GET):
//   /healthz  -> 200 "ok", or 503 "unhealthy" after SetHealthy(false)
//   /id       -> the origin id
//   /bytes/N  -> N bytes of application/octet-stream (N <= 64 MiB, else 400)
//   otherwise -> 404
// Query parameters on any route: latency=250ms (or latency_ms=250) overrides the latency for
// that request; max_age=N sends `Cache-Control: public, max-age=N`.
class DemoOrigin {
 public:
  [[nodiscard]] static Result<std::unique_ptr<DemoOrigin>> Start(DemoOriginOptions options);
  ~DemoOrigin();
  DemoOrigin(const DemoOrigin&) = delete;
  DemoOrigin& operator=(const DemoOrigin&) = delete;

  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] const std::string& id() const;
  void SetLatency(std::chrono::milliseconds latency);
  void SetHealthy(bool healthy);
  // Stops serving and closes open connections. Idempotent; the destructor calls it.
  void Stop();

  static constexpr std::size_t kMaxBytes = 64 * 1024 * 1024;

 private:
  struct State;
  DemoOrigin(std::shared_ptr<State> state, std::unique_ptr<HttpServer> server);

  std::shared_ptr<State> state_;  // shared with the handler running on server threads
  std::unique_ptr<HttpServer> server_;
};

}  // namespace streamgate::net
