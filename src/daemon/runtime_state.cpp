#include "daemon/runtime_state.hpp"

#include <spdlog/spdlog.h>

namespace streamgate::daemon {

RuntimeStateKeeper::RuntimeStateKeeper(std::unique_ptr<state::StateStore> store,
                                       const config::Config& config,
                                       scaling::MultiRegionManager& regions,
                                       scaling::GlobalLoadBalancer* balancer,
                                       scaling::DisasterRecoveryManager* plans, const Clock& clock)
    : store_(std::move(store)),
      regions_(regions),
      balancer_(balancer),
      plans_(plans),
      clock_(clock) {
  SetBase(config);
}

void RuntimeStateKeeper::Rebase(const config::Config& config, bool file_primary_changed) {
  {
    std::lock_guard lock(mu_);
    SetBase(config);
    if (file_primary_changed) chosen_primary_.clear();  // the file's choice is the newer one
  }
  if (Status saved = Save(); !saved) {
    spdlog::error("state: saving after the reload failed: {}", saved.error().message());
  }
}

void RuntimeStateKeeper::SetBase(const config::Config& config) {
  config_regions_.clear();
  config_backends_.clear();
  config_plans_.clear();
  config_strategy_ = config.load_balancer.strategy;
  for (const config::RegionConfig& region : config.regions) {
    config_regions_.emplace(region.id, region.active);
  }
  for (const config::BackendConfig& backend : config.backends) {
    config_backends_.emplace(backend.id, backend.active);
  }
  if (config.disaster_recovery) {
    for (const auto& entry : config.disaster_recovery->plans) {
      config_plans_.emplace(entry.plan.id, entry.plan.active);
    }
  }
}

namespace {

void Warn(const std::string& what, const Status& status) {
  if (!status) spdlog::warn("state: {}: {}", what, status.error().message());
}

}  // namespace

Status RuntimeStateKeeper::Restore() {
  Result<std::optional<state::RuntimeState>> loaded = store_->Load();
  if (!loaded) return std::unexpected(loaded.error());
  if (!loaded->has_value()) {
    spdlog::info("state: {} holds no saved changes yet", store_->Location());
    return {};
  }
  const state::RuntimeState& saved = **loaded;
  std::size_t applied = 0;
  for (const state::SavedRegion& entry : saved.regions) {
    const scaling::Region& region = entry.region;
    if (config_regions_.contains(region.id)) {
      Result<scaling::Region> current = regions_.GetRegion(region.id);
      if (current && current->active != region.active) {  // the API's deviation
        Warn("region " + region.id, region.active ? regions_.ActivateRegion(region.id)
                                                  : regions_.DeactivateRegion(region.id));
        ++applied;
      }
    } else if (entry.from_api) {
      scaling::Region copy = region;
      copy.primary = false;
      Warn("re-adding region " + region.id, regions_.RegisterRegion(std::move(copy)));
      ++applied;
    }
  }
  if (!saved.primary.empty()) {
    if (regions_.GetRegion(saved.primary)) {
      Warn("primary " + saved.primary, regions_.SetPrimaryRegion(saved.primary));
      chosen_primary_ = saved.primary;
      ++applied;
    }
  }
  if (balancer_ != nullptr) {
    for (const state::SavedBackend& entry : saved.backends) {
      const scaling::Backend& backend = entry.backend;
      if (config_backends_.contains(backend.id)) {
        Result<scaling::Backend> current = balancer_->GetBackend(backend.id);
        if (current && current->active != backend.active) {
          Warn("backend " + backend.id, backend.active ? balancer_->ActivateBackend(backend.id)
                                                       : balancer_->DeactivateBackend(backend.id));
          ++applied;
        }
      } else if (entry.from_api) {
        Warn("re-adding backend " + backend.id, balancer_->RegisterBackend(backend));
        ++applied;
      }
    }
    if (saved.strategy) {
      balancer_->SetStrategy(*saved.strategy);
      ++applied;
    }
  }
  if (plans_ != nullptr) {
    for (const state::SavedPlan& entry : saved.plans) {
      const scaling::DisasterRecoveryPlan& plan = entry.plan;
      if (config_plans_.contains(plan.id)) {
        Result<scaling::DisasterRecoveryPlan> current = plans_->GetPlan(plan.id);
        if (current && current->active != plan.active) {
          Warn("plan " + plan.id,
               plan.active ? plans_->ActivatePlan(plan.id) : plans_->DeactivatePlan(plan.id));
          ++applied;
        }
      } else if (entry.from_api) {
        Warn("re-adding plan " + plan.id, plans_->CreatePlan(plan));
        ++applied;
      }
    }
  }
  spdlog::info("state: applied {} saved change(s) from {}", applied, store_->Location());
  return {};
}

void RuntimeStateKeeper::OnApiChange(const net::HttpRequest& request) {
  {
    std::lock_guard lock(mu_);
    if (request.method == "PUT" && request.path == "/api/v1/regions/primary") {
      if (Result<scaling::Region> primary = regions_.GetPrimaryRegion()) {
        chosen_primary_ = primary->id;
      }
    }
  }
  if (Status saved = Save(); !saved) {
    spdlog::error("state: the change ({} {}) applies now but was not saved: {}", request.method,
                  request.path, saved.error().message());
  }
}

Status RuntimeStateKeeper::Save() {
  // One save at a time, so a slower earlier save cannot overwrite a later one.
  std::lock_guard lock(mu_);
  state::RuntimeState snapshot;
  // Saved: everything added through the API, and config entities whose active flag differs.
  auto deviates = [](const std::map<std::string, bool>& config, const std::string& id,
                     bool active) {
    auto it = config.find(id);
    return it == config.end() || it->second != active;
  };
  for (scaling::Region& region : regions_.ListRegions()) {
    if (!deviates(config_regions_, region.id, region.active)) continue;
    const bool from_api = !config_regions_.contains(region.id);
    snapshot.regions.push_back({std::move(region), from_api});
  }
  snapshot.primary = chosen_primary_;
  if (balancer_ != nullptr) {
    for (scaling::Backend& backend : balancer_->ListBackends()) {
      if (!deviates(config_backends_, backend.id, backend.active)) continue;
      const bool from_api = !config_backends_.contains(backend.id);
      snapshot.backends.push_back({std::move(backend), from_api});
    }
    if (balancer_->GetStrategy() != config_strategy_) snapshot.strategy = balancer_->GetStrategy();
  }
  if (plans_ != nullptr) {
    for (scaling::DisasterRecoveryPlan& plan : plans_->ListPlans()) {
      if (!deviates(config_plans_, plan.id, plan.active)) continue;
      const bool from_api = !config_plans_.contains(plan.id);
      snapshot.plans.push_back({std::move(plan), from_api});
    }
  }
  snapshot.saved_at = clock_.WallNow();
  return store_->Save(snapshot);
}

}  // namespace streamgate::daemon
