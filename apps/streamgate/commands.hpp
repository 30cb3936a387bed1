// Operator subcommands that live beside main.cpp, one file per family. Each Register* function
// adds its subcommands to the app and a runner per subcommand; main runs the one the user chose.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

namespace streamgate::app {

struct SubcommandRunner {
  CLI::App* command;         // parsed flags live in state owned by `run`
  std::function<int()> run;  // exit code: 0 ok, 1 failed, 2 bad usage
};

using Runners = std::vector<SubcommandRunner>;

// backup, restore, points, check, prune (apps/streamgate/backup_commands.cpp).
void RegisterBackupCommands(CLI::App& app, Runners& runners);
// cache-sim (apps/streamgate/cache_sim_command.cpp).
void RegisterCacheSimCommand(CLI::App& app, Runners& runners);

}  // namespace streamgate::app
