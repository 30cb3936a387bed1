// Keeps the admin API's changes across restarts: saves them to a StateStore after every
// successful change and applies them over the config at start (precedence in
// streamgate/state/state_store.hpp).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "config/config.hpp"
#include "net/http_types.hpp"
#include "streamgate/state/state_store.hpp"

namespace streamgate::daemon {

class RuntimeStateKeeper {
 public:
  // `balancer` and `plans` may be null (not configured); all must outlive the keeper.
  RuntimeStateKeeper(std::unique_ptr<state::StateStore> store, const config::Config& config,
                     scaling::MultiRegionManager& regions, scaling::GlobalLoadBalancer* balancer,
                     scaling::DisasterRecoveryManager* plans, const Clock& clock);

  // Applies the saved state over what the config registered. Entities that cannot be applied
  // any more (a plan whose source vanished) are skipped with a warning; a store that cannot be
  // read is an error (start refuses rather than silently forgetting changes).
  [[nodiscard]] Status Restore();

  // After a successful state-changing admin call: saves everything. Errors are logged.
  void OnApiChange(const net::HttpRequest& request);

  [[nodiscard]] Status Save();

  // After a reload applied `config`: it is the new base, so what it says is no longer a
  // deviation to keep (an edit of the file wins over an earlier API change of the same thing;
  // `file_primary_changed`: the file now names another primary, which replaces the API's).
  // Saves; errors are logged.
  void Rebase(const config::Config& config, bool file_primary_changed);

 private:
  void SetBase(const config::Config& config);  // fills the config_* maps

  std::unique_ptr<state::StateStore> store_;
  scaling::MultiRegionManager& regions_;
  scaling::GlobalLoadBalancer* balancer_;
  scaling::DisasterRecoveryManager* plans_;
  const Clock& clock_;
  // What the config file says (id -> active), so only the API's deviations are saved: a later
  // edit of the file is not overridden by a value the API never changed.
  std::map<std::string, bool> config_regions_;
  std::map<std::string, bool> config_backends_;
  std::map<std::string, bool> config_plans_;
  scaling::LoadBalancingStrategy config_strategy_;
  std::mutex mu_;
  // The primary an operator chose through the API; the current primary may be a failover.
  std::string chosen_primary_;
};

}  // namespace streamgate::daemon
