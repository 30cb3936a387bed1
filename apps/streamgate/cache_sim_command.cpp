#include "commands.hpp"

namespace streamgate::app {

void RegisterCacheSimCommand(CLI::App& /*app*/, Runners& /*runners*/) {}

}  // namespace streamgate::app
