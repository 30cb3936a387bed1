// HTTP/1.1 reverse proxy: the data plane in front of the GlobalLoadBalancer.
//
// Threads: one io_context per thread, each with its own SO_REUSEPORT acceptor per listener and
// its own pool of kept-alive upstream connections, so the request path takes no lock (the
// balancer's Pick is lock-free). Bodies stream through a fixed per-connection buffer in both
// directions; nothing is held whole in memory.
//
// Per request: Pick a backend (client address, hash key = path), IncrementConnections, forward,
// DecrementConnections, RecordRequest(latency, success). Connect errors, resets and timeouts
// are failures and feed the balancer's outlier detection. Requests are retried on another
// backend (PickOther) when nothing reached the client yet and replaying is safe; see
// proxy_server.cpp for the exact rules.
//
// With a cache store, GET and HEAD on configured hosts/paths are answered from the cache when
// RFC 9111 allows (X-Cache: HIT|MISS|STALE|REVALIDATED, Age), concurrent misses for one key
// wait for one origin fetch, and ranges and conditionals are answered from stored objects.
//
// Errors the proxy answers itself: 400 malformed, 431 header limits, 502 upstream failed, 503 no
// backend, 504 upstream timeout; all close the client connection. A request header that does not
// arrive within request_header_timeout, and an idle keep-alive connection, are closed silently.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/access_log.hpp"
#include "proxy/edge_cache.hpp"
#include "streamgate/cdn/object_store.hpp"
#include "streamgate/common/error.hpp"
#include "streamgate/net/tls.hpp"
#include "streamgate/scaling/load_balancer.hpp"

namespace streamgate::proxy {

struct ListenerOptions {
  std::string name = "public";
  std::string host = "127.0.0.1";  // an IP address
  std::uint16_t port = 0;          // 0 picks a free port; see ProxyServer::port()
  // Set: HTTPS. The handshake must finish within request_header_timeout; requests from TLS
  // clients go upstream with X-Forwarded-Proto: https.
  std::optional<net::TlsServerOptions> tls{};
};

struct ProxyOptions {
  std::vector<ListenerOptions> listeners;  // at least one
  std::size_t threads = 0;                 // 0: std::thread::hardware_concurrency()
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds request_header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};      // client keep-alive idle
  std::chrono::milliseconds upstream_timeout{30'000};  // upstream response header / body reads
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_header_count = 100;
  std::uint32_t retries = 1;  // extra attempts on another backend for idempotent requests
  bool fail_on_5xx = false;   // count upstream 5xx as failures for outlier detection
  std::size_t max_idle_upstream_per_backend = 64;  // per thread
  std::vector<std::string> trusted_proxies;        // CIDRs/IPs whose X-Forwarded-For is believed
  // The edge cache (RFC 9111 for GET and HEAD): responses are kept in `cache_store`, which must
  // outlive the server; null turns caching off. See "Edge cache" in proxy_server.cpp.
  cdn::ObjectStore* cache_store = nullptr;
  EdgeCacheOptions cache;
  // TLS towards backends, by backend id (enabled ones only count). A new upstream connection
  // handshakes within connect_timeout; a failed handshake or verification is a connect failure
  // (retried on another backend). Pooled TLS connections are reused like plain ones.
  std::unordered_map<std::string, net::TlsClientOptions> backend_tls;
  // One line per request (proxy/access_log.hpp); null: no access log.
  std::shared_ptr<AccessLog> access_log;
};

// Counters since Start (gauges say so). Summed over threads when read.
struct ProxyStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_active = 0;  // gauge: client connections open now
  std::uint64_t requests = 0;            // client requests whose header was read
  std::uint64_t responses_1xx = 0;       // responses sent to clients, by status class
  std::uint64_t responses_2xx = 0;
  std::uint64_t responses_3xx = 0;
  std::uint64_t responses_4xx = 0;
  std::uint64_t responses_5xx = 0;
  std::uint64_t retries = 0;                  // attempts on another backend
  std::uint64_t upstream_connects = 0;        // new upstream connections established
  std::uint64_t upstream_connect_errors = 0;  // refused, unreachable or timed out
  std::uint64_t pool_reuses = 0;              // requests sent on a pooled upstream connection
  std::uint64_t stale_pooled = 0;             // pooled connections found closed by the backend
  std::uint64_t upstream_failures = 0;        // attempts that failed (connect, reset, timeout)
  std::uint64_t incomplete_responses = 0;     // upstream died mid-body; client connection cut
  std::uint64_t client_errors = 0;            // 400/408/431 answered by the proxy
  std::uint64_t status_502 = 0;               // answered by the proxy
  std::uint64_t status_503 = 0;
  std::uint64_t status_504 = 0;
  // Edge cache: how responses to cacheable requests were produced (the X-Cache value).
  std::uint64_t cache_hits = 0;         // fresh from the cache
  std::uint64_t cache_misses = 0;       // from the origin
  std::uint64_t cache_stale = 0;        // stale while revalidating, or because the origin failed
  std::uint64_t cache_revalidated = 0;  // the origin answered 304 to a conditional request
  std::uint64_t cache_coalesced = 0;    // requests that waited for another request's fetch
  std::uint64_t cache_stores = 0;       // responses stored
  // TLS.
  std::uint64_t tls_handshakes = 0;          // client handshakes completed
  std::uint64_t tls_resumed = 0;             // of which resumed a session (ticket or id)
  std::uint64_t tls_handshake_failures = 0;  // client handshakes failed or timed out
  std::uint64_t upstream_tls_failures = 0;   // upstream handshakes failed (incl. verification)
};

// One Prometheus sample of ProxyStats, for the /metrics writer (kept free of the metrics lib).
struct ProxyMetricSample {
  std::string_view family;  // e.g. "streamgate_proxy_responses_total"
  std::string_view help;
  bool counter = true;           // false: gauge
  std::string_view label_name;   // "" when the family has no label
  std::string_view label_value;  // e.g. "2xx"
  std::uint64_t value = 0;
};

// Every sample, families grouped and in a stable order; the views point at static text.
[[nodiscard]] std::vector<ProxyMetricSample> ProxyMetricSamples(const ProxyStats& stats);

class ProxyServer {
 public:
  // Binds every listener on every thread and starts serving. `balancer` must outlive the
  // server. Errors: invalid options (no listener, bad host or trusted proxy), bind failures,
  // TLS files that cannot be loaded (the message names the file).
  [[nodiscard]] static Result<std::unique_ptr<ProxyServer>> Start(
      ProxyOptions options, scaling::GlobalLoadBalancer& balancer);
  virtual ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // The bound port of listener `listener_index` (0 when out of range).
  [[nodiscard]] virtual std::uint16_t port(std::size_t listener_index = 0) const = 0;
  // Applies new settings to every request that starts after it returns: timeouts, header limits,
  // retries, trusted proxies, the TLS certificates and settings of listeners and backends.
  // Open connections stay open (a TLS connection keeps the certificate it was made with); idle
  // upstream connections are closed. The listeners are the running ones, by index: their
  // number must not change, and their addresses are not re-bound. Not changed either: threads,
  // the cache store and cache options, max_idle_upstream_per_backend. Errors (a TLS file that
  // cannot be loaded, a bad trusted proxy, another number of listeners) change nothing.
  [[nodiscard]] virtual Status Reconfigure(ProxyOptions options) = 0;
  // Graceful stop: stops accepting, closes idle keep-alive connections, lets the requests in
  // flight finish (their responses say Connection: close) for up to `timeout`, then Stop().
  // Returns the number of client connections still open at the deadline, which Stop cut.
  virtual std::uint64_t Drain(std::chrono::milliseconds timeout) = 0;
  // Stops accepting, closes every client and upstream connection and joins the threads.
  // Idempotent; the destructor calls it.
  virtual void Stop() = 0;
  [[nodiscard]] virtual ProxyStats stats() const = 0;

 protected:
  ProxyServer() = default;
};

}  // namespace streamgate::proxy
