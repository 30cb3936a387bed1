// streamgate: the gateway daemon and its operator commands. Wiring only; behaviour lives in
// the libraries under src/.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>

#include "commands.hpp"
#include "config/config.hpp"
#include "config/tls_config.hpp"
#include "daemon/daemon.hpp"
#include "daemon/logging.hpp"
#include "net/demo_origin.hpp"
#include "streamgate/common/units.hpp"

namespace {

using namespace streamgate;

// Blocks SIGINT/SIGTERM/SIGHUP in every thread (call before starting any) so main can sigwait.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Waits for SIGINT or SIGTERM; each SIGHUP meanwhile calls `on_hangup` (reload).
int WaitForStopSignal(const sigset_t& signals, const std::function<void()>& on_hangup = {}) {
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) == 0 && signal_number == SIGHUP) {
    if (on_hangup) {
      on_hangup();
    } else {
      spdlog::info("received SIGHUP: nothing to reload");
    }
  }
  spdlog::info("received {}, stopping", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  return signal_number;
}

void PrintIssues(const std::vector<config::ConfigIssue>& issues) {
  for (const auto& issue : issues) std::fprintf(stderr, "%s\n", issue.ToString().c_str());
}

int CheckConfig(const std::string& path) {
  auto config = config::LoadConfigFile(path);
  if (!config) {
    PrintIssues(config.error());
    return 1;
  }
  // TLS files: readable, keys matching, certificates valid now; the names each one serves.
  const config::TlsFileCheck tls = config::CheckTlsFiles(*config, std::chrono::system_clock::now());
  if (!tls.issues.empty()) {
    PrintIssues(tls.issues);
    return 1;
  }
  for (const std::string& note : tls.notes) std::printf("%s\n", note.c_str());
  std::printf("%s: OK (%zu regions)\n", path.c_str(), config->regions.size());
  return 0;
}

int Serve(const std::string& path, const std::string& level_override) {
  auto config = config::LoadConfigFile(path);
  if (!config) {
    PrintIssues(config.error());
    return 1;
  }
  if (Status logging = daemon::ConfigureLogging(config->log, level_override); !logging) {
    spdlog::critical("cannot start: {}", logging.error().ToString());
    return 1;
  }
  const sigset_t signals = BlockStopSignals();
  daemon::DaemonDependencies deps;
  deps.log_level_fixed = !level_override.empty();
  auto daemon = daemon::Daemon::Start(*config, std::move(deps));
  if (!daemon) {
    spdlog::critical("cannot start: {}", daemon.error().ToString());
    return 1;
  }
  daemon::Daemon& running = **daemon;
  WaitForStopSignal(signals, [&running] {
    spdlog::info("received SIGHUP: reloading the configuration");
    try {
      (void)running.Reload();  // logs what it applied, or why it refused
    } catch (const std::exception& e) {
      spdlog::error("reload failed: {}", e.what());
    }
  });
  running.Drain();
  running.Stop();
  spdlog::info("stopped cleanly");
  return 0;
}

struct OriginFlags {
  std::string listen = "127.0.0.1:9101";
  std::string id = "origin";
  std::string latency = "0ms";
  std::size_t threads = 1;
  std::optional<int> max_age;
};

int Origin(const OriginFlags& flags) {
  auto listen = config::ParseListenAddress(flags.listen);
  if (!listen) {
    std::fprintf(stderr, "--listen: %s\n", listen.error().message().c_str());
    return 2;
  }
  auto latency = ParseDuration(flags.latency);
  if (!latency) {
    std::fprintf(stderr, "--latency: %s\n", latency.error().message().c_str());
    return 2;
  }
  net::DemoOriginOptions options;
  options.host = listen->host;
  options.port = listen->port;
  options.id = flags.id;
  options.threads = flags.threads;
  options.latency = std::chrono::duration_cast<std::chrono::milliseconds>(*latency);
  if (flags.max_age) options.cache_max_age = std::chrono::seconds(*flags.max_age);
  const sigset_t signals = BlockStopSignals();
  auto origin = net::DemoOrigin::Start(options);
  if (!origin) {
    spdlog::critical("origin '{}' cannot listen on {}: {}", flags.id, flags.listen,
                     origin.error().ToString());
    return 1;
  }
  spdlog::info("origin '{}' listening on {}:{}", flags.id, options.host, (*origin)->port());
  WaitForStopSignal(signals);
  (*origin)->Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"StreamGate: multi-region traffic manager, load balancer, edge cache and backup"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "streamgate " STREAMGATE_VERSION);  // from apps/CMakeLists.txt
  std::string log_level = "info";
  CLI::Option* log_level_option =
      app.add_option("--log-level", log_level,
                     "trace, debug, info, warn, error (serve: overrides log.level)")
          ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  std::string config_path;
  auto* serve = app.add_subcommand("serve", "Run the gateway on a config file");
  serve->add_option("-c,--config", config_path, "YAML config file")->required();
  auto* check = app.add_subcommand("check-config", "Validate a config file and exit");
  check->add_option("-c,--config", config_path, "YAML config file")->required();

  OriginFlags origin_flags;
  auto* origin = app.add_subcommand("origin", "Run a demo/benchmark HTTP origin");
  origin->add_option("--listen", origin_flags.listen, "HOST:PORT to listen on")
      ->capture_default_str();
  origin->add_option("--id", origin_flags.id, "Id sent in X-Origin-Id and /id")
      ->capture_default_str();
  origin->add_option("--latency", origin_flags.latency, "Added latency per response, e.g. 50ms")
      ->capture_default_str();
  origin->add_option("--threads", origin_flags.threads, "Serving threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  origin->add_option("--max-age", origin_flags.max_age,
                     "Send Cache-Control: public, max-age=N on every response");

  app::Runners runners;
  app::RegisterBackupCommands(app, runners);
  app::RegisterCacheSimCommand(app, runners);

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (*serve) return Serve(config_path, log_level_option->count() > 0 ? log_level : "");
  if (*check) return CheckConfig(config_path);
  if (*origin) return Origin(origin_flags);
  for (const auto& runner : runners) {
    if (*runner.command) return runner.run();
  }
  return 2;
}
