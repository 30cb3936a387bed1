#include "commands.hpp"

namespace streamgate::app {

void RegisterBackupCommands(CLI::App& /*app*/, Runners& /*runners*/) {}

}  // namespace streamgate::app
