// The daemon's YAML configuration, parsed once into plain structs. Every value is validated up
// front and every problem is reported with its file and line, so a bad config fails at startup
// with a full list of what to fix instead of at the first use of a bad value.
//
// Schema (see config/streamgate.example.yaml): top-level `admin`, `health_check`, `regions`,
// `listeners`, `backends`, `load_balancer`, `proxy`, `cdn` and `disaster_recovery`, all optional.
// Unknown keys are errors everywhere, so typos never silently fall back to defaults.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamgate/common/error.hpp"
#include "streamgate/net/tls.hpp"
#include "streamgate/scaling/cdn.hpp"
#include "streamgate/scaling/disaster_recovery.hpp"
#include "streamgate/scaling/load_balancer.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::config {

struct ConfigIssue {
  std::string file;
  int line = 0;  // 1-based; 0 when the problem is not tied to a line (e.g. unreadable file)
  std::string message;

  // "file:line: message"
  [[nodiscard]] std::string ToString() const;

  friend bool operator==(const ConfigIssue&, const ConfigIssue&) = default;
};

struct ListenAddress {
  std::string host;        // name or address; IPv6 without brackets
  std::uint16_t port = 0;  // 0 lets the OS pick a free port

  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

// A listener's (or the admin listener's) `tls:` section (HTTPS): `{certificates: [{cert, key,
// ocsp_staple}], min_version: "1.2", ciphers, alpn: [http/1.1], session_lifetime: 1h,
// session_ticket_rotation: 12h, client_ca}`. session_lifetime may not exceed two rotations (the
// ticket keys kept). Relative paths are resolved against the config file by LoadConfigFile.
// Lines point check-config's file checks at the keys.
struct ListenerTlsConfig {
  net::TlsServerOptions options;
  int line = 0;                        // where `tls:` is
  std::vector<int> certificate_lines;  // per certificate entry
  int client_ca_line = 0;
};

// The admin listener. A token guards every state-changing call (and reads too with
// protect_reads); without `token` or `token_file` the daemon takes STREAMGATE_ADMIN_TOKEN. A
// listener on a non-loopback address refuses to start without a token.
struct AdminConfig {
  ListenAddress listen{"127.0.0.1", 9901};
  std::string token;       // never logged or returned by the API
  std::string token_file;  // first line is the token; relative to the config file
  bool protect_reads = false;
  int line = 0;  // where `admin:` is (0: absent)
  // `tls:` (same shape as a listener's): serve the admin API over HTTPS. Absent: plain HTTP.
  std::optional<ListenerTlsConfig> tls{};
};

struct RegionConfig {
  std::string id;
  std::string name;
  std::string location;
  std::string endpoint;  // as written; validated with ParseEndpoint
  int priority = 0;
  bool primary = false;
  bool active = true;
  // Geography for geo_location routing: ISO country codes and continent codes served, and the
  // region's coordinates (nearest-region fallback).
  std::vector<std::string> countries;
  std::vector<std::string> continents;
  std::optional<double> latitude;
  std::optional<double> longitude;
  int line = 0;  // where the region's entry starts, for later diagnostics
};

// A proxy listener: `- {name: public, listen: 0.0.0.0:8080}`.
struct ListenerConfig {
  std::string name;
  ListenAddress listen;
  int line = 0;
  std::optional<ListenerTlsConfig> tls{};  // absent: plain HTTP
};

// A backend's `tls:` section: `{enabled, verify, ca_file, server_name, client_cert,
// client_key}`; present means enabled unless `enabled: false`.
struct BackendTlsConfig {
  net::TlsClientOptions options;
  int line = 0;  // where `tls:` is
  int ca_file_line = 0;
  int client_cert_line = 0;
};

// A load-balanced backend; `region` must name a configured region when regions are given.
struct BackendConfig {
  std::string id;
  std::string address;
  std::uint16_t port = 0;
  std::string region;
  std::uint32_t weight = 1;
  std::string health_path;  // "" uses health_check.path
  bool tcp_check = false;
  bool active = true;
  int line = 0;
  std::optional<BackendTlsConfig> tls{};  // absent: plain HTTP
};

struct LoadBalancerConfig {
  scaling::LoadBalancingStrategy strategy = scaling::LoadBalancingStrategy::kRoundRobin;
  scaling::OutlierDetectionOptions outlier_detection;
  bool count_5xx_as_failure = false;  // outlier_detection.count_5xx
  std::uint32_t retries = 1;
  double panic_threshold = 0.5;
  std::string geoip_database;                // "" disables geo lookups
  std::vector<std::string> trusted_proxies;  // IPs/CIDRs whose X-Forwarded-For is believed
};

// Proxy data-plane limits and timeouts.
struct ProxyConfig {
  std::size_t threads = 0;  // 0: one per core
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds request_header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds upstream_timeout{30'000};
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_header_count = 100;
  // On SIGTERM: requests in flight get this long to finish before connections are cut.
  std::chrono::milliseconds drain_timeout{30'000};
};

// The `cdn:` section: the CDN manager (its local object store and, optionally, an external CDN to
// purge) and what the proxy's edge cache stores in it. Present = caching on, unless
// `enabled: false`. An `api_key_env: NAME` is read from the environment while parsing, so
// check-config fails early when the secret is missing.
struct CdnConfig {
  bool enabled = true;
  scaling::CDNConfig manager;  // provider, credentials, cache size, TTL, policy, prefetching
  // Edge cache (proxy::EdgeCacheOptions).
  std::chrono::seconds keep_for_revalidation{600};
  std::vector<std::string> hosts;          // Host header values cached; empty: every host
  std::vector<std::string> path_prefixes;  // `paths`; empty: every path
  std::string api_key_env;                 // where api_key came from, if from the environment
  std::chrono::milliseconds expiry_interval{60'000};  // how often expired entries are swept
  int line = 0;                                       // where `cdn:` is
};

// One `disaster_recovery.plans` entry: the manager's plan plus where it was written. What needs
// the filesystem (a source that exists) is checked by the manager when the daemon starts.
struct DisasterRecoveryPlanConfig {
  scaling::DisasterRecoveryPlan plan;  // rpo/rto from durations of whole minutes
  int line = 0;
  int primary_region_line = 0;
  int secondary_region_line = 0;
  int secondary_repository_line = 0;
};

// The `disaster_recovery:` section: the DisasterRecoveryManager and the daemon's backup
// scheduler. LoadConfigFile resolves relative sources, repositories (primary and secondary; not
// URLs such as s3://bucket/prefix) and scratch_directory against the config file's directory
// (excludes are entry paths inside a backup, not files). A plan's secondary_repository must
// differ from its repository and needs a secondary_region.
struct DisasterRecoveryConfig {
  std::size_t max_recovery_points = 100;
  std::string scratch_directory;          // for recovery tests; "": the system temp directory
  std::chrono::seconds test_interval{0};  // TestRecovery per plan this often; 0: never
  std::vector<DisasterRecoveryPlanConfig> plans;
  int line = 0;  // where `disaster_recovery:` is
};

// The `log:` section: how the daemon logs. The command line's --log-level overrides `level`.
struct LogConfig {
  std::string format = "text";  // "text" or "json" (one JSON object per line)
  std::string level = "info";   // trace, debug, info, warn, error
  std::string access_log;       // "" off, "stdout", or a file path (relative to the config)
};

struct Config {
  std::string source_file;
  LogConfig log;
  // Where the daemon keeps runtime state (state.db: the admin API's changes). "": not kept.
  std::string data_dir;
  AdminConfig admin;
  scaling::HealthCheckOptions health_check;
  std::vector<RegionConfig> regions;  // in file order
  std::vector<ListenerConfig> listeners;
  std::vector<BackendConfig> backends;
  LoadBalancerConfig load_balancer;
  ProxyConfig proxy;
  std::optional<CdnConfig> cdn;  // absent: no edge cache, no CDN manager
  // Absent: no DisasterRecoveryManager, the /api/v1/dr routes answer 404.
  std::optional<DisasterRecoveryConfig> disaster_recovery;
};

// Parses and validates `yaml_text`; `file_name` is only used in issues. Returns every problem
// found, not just the first, ordered by line.
[[nodiscard]] std::expected<Config, std::vector<ConfigIssue>> ParseConfig(
    std::string_view yaml_text, std::string_view file_name);

// Reads and parses `path`. An unreadable file yields one issue with line 0.
[[nodiscard]] std::expected<Config, std::vector<ConfigIssue>> LoadConfigFile(
    const std::filesystem::path& path);

// "127.0.0.1:9901", "[::1]:80", "localhost:8080". The port is required; 0 means any free port.
[[nodiscard]] Result<ListenAddress> ParseListenAddress(std::string_view text);

// "127.0.0.1:9901", with IPv6 hosts bracketed.
[[nodiscard]] std::string ToString(const ListenAddress& address);

}  // namespace streamgate::config
