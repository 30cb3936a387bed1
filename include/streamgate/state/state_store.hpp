// Runtime state: what the admin API changed (regions and backends added or (de)activated, the
// primary region, the balancing strategy, backup plans), kept across restarts.
//
// Precedence: the config file is the base; only what the API changed is saved (entities it
// added, active flags that differ from the file's, the primary it chose, a strategy other than
// the file's). At start the daemon applies that on top of the file, so the API's changes
// survive a restart, while an edit of the file still takes effect for everything the API did
// not touch. An entity the file no longer names is not brought back unless the API added it.
//
// A small interface so that a replicated store can replace the embedded SQLite one later.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"
#include "streamgate/scaling/disaster_recovery.hpp"
#include "streamgate/scaling/load_balancer.hpp"
#include "streamgate/scaling/region.hpp"

namespace streamgate::state {

struct SavedRegion {
  scaling::Region region;  // registration fields and `active`
  bool from_api = false;   // added through the API, not named by the config file
};

struct SavedBackend {
  scaling::Backend backend;  // registration fields and `active`
  bool from_api = false;
};

struct SavedPlan {
  scaling::DisasterRecoveryPlan plan;
  bool from_api = false;
};

struct RuntimeState {
  std::vector<SavedRegion> regions;  // registration order
  std::string primary;               // "" when there was none
  std::vector<SavedBackend> backends;
  std::optional<scaling::LoadBalancingStrategy> strategy;  // absent without a balancer
  std::vector<SavedPlan> plans;
  WallTime saved_at{};
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  // nullopt when nothing was saved yet; kCorrupted for a store this version cannot read.
  [[nodiscard]] virtual Result<std::optional<RuntimeState>> Load() = 0;
  // Replaces what was saved, atomically: a crash leaves the old state or the new one.
  [[nodiscard]] virtual Status Save(const RuntimeState& state) = 0;
  // For messages ("/var/lib/streamgate/state.db").
  [[nodiscard]] virtual std::string Location() const = 0;
};

// SQLite in WAL mode with synchronous=FULL; the file and its directory are created when missing.
[[nodiscard]] Result<std::unique_ptr<StateStore>> OpenSqliteStateStore(
    const std::filesystem::path& file);

}  // namespace streamgate::state
