#include "streamgate/scaling/disaster_recovery.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

namespace streamgate::scaling {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kTestResultsKept = 20;

// SHA-256 of a file, hex; streamed so artifacts of any size hash in bounded memory.
Result<std::string> Sha256File(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kIo, "cannot open " + path.string());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return MakeError(ErrorCode::kInternal, "SHA-256 unavailable");
  }
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n > 0) EVP_DigestUpdate(ctx.get(), buffer.data(), n);
  }
  if (in.bad()) return MakeError(ErrorCode::kIo, "cannot read " + path.string());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

}  // namespace

std::string_view ToString(BackupStrategy strategy) {
  switch (strategy) {
    case BackupStrategy::kFull:
      return "full";
    case BackupStrategy::kIncremental:
      return "incremental";
    case BackupStrategy::kDifferential:
      return "differential";
  }
  return "full";
}

Result<BackupStrategy> ParseBackupStrategy(std::string_view text) {
  if (text == "full") return BackupStrategy::kFull;
  if (text == "incremental") return BackupStrategy::kIncremental;
  if (text == "differential") return BackupStrategy::kDifferential;
  return InvalidArgument("unknown backup strategy '" + std::string(text) +
                         "' (expected full, incremental or differential)");
}

struct DisasterRecoveryManager::PlanState {
  DisasterRecoveryPlan plan;
  std::vector<RecoveryPoint> points;  // oldest first
  std::vector<RecoveryTestResult> tests;
  bool backup_running = false;
};

DisasterRecoveryManager::DisasterRecoveryManager(std::size_t max_recovery_points)
    : DisasterRecoveryManager(
          max_recovery_points,
          DisasterRecoveryDependencies{MakeRepositoryBackupEngine(RealClock()), nullptr, ""}) {}

DisasterRecoveryManager::DisasterRecoveryManager(std::size_t max_recovery_points,
                                                 DisasterRecoveryDependencies deps)
    : max_recovery_points_(max_recovery_points),
      engine_(std::move(deps.engine)),
      clock_(deps.clock != nullptr ? *deps.clock : RealClock()),
      scratch_directory_(std::move(deps.scratch_directory)) {
  if (max_recovery_points_ == 0) {
    throw std::invalid_argument("max_recovery_points must be at least 1");
  }
  if (!engine_) throw std::invalid_argument("a backup engine is required");
}

DisasterRecoveryManager::~DisasterRecoveryManager() = default;

const DisasterRecoveryManager::PlanState* DisasterRecoveryManager::FindPlan(
    std::string_view plan_id) const {
  auto it = plans_.find(std::string(plan_id));
  return it == plans_.end() ? nullptr : it->second.get();
}

const RecoveryPoint* DisasterRecoveryManager::FindPoint(std::string_view point_id,
                                                        const PlanState** owner) const {
  for (const auto& [id, state] : plans_) {
    for (const RecoveryPoint& point : state->points) {
      if (point.id == point_id) {
        if (owner != nullptr) *owner = state.get();
        return &point;
      }
    }
  }
  return nullptr;
}

RecoveryPoint DisasterRecoveryManager::ToPoint(const DisasterRecoveryPlan& plan,
                                               const BackupEngine::BackupOutcome& outcome) {
  RecoveryPoint point;
  point.id = outcome.point_id;
  point.plan_id = plan.id;
  point.strategy = outcome.performed;
  point.created_at = outcome.created_at;
  point.logical_size = outcome.logical_bytes;
  point.stored_size = outcome.stored_bytes;
  point.location = plan.repository;
  point.file_count = outcome.file_count;
  point.parent = outcome.parent;
  return point;
}

Status DisasterRecoveryManager::CreatePlan(DisasterRecoveryPlan plan) {
  if (plan.id.empty()) return InvalidArgument("plan id must not be empty");
  if (plan.repository.empty())
    return InvalidArgument("plan '" + plan.id + "': repository is required");
  if (plan.sources.empty())
    return InvalidArgument("plan '" + plan.id + "': at least one source is required");
  for (const std::string& source : plan.sources) {
    std::error_code ec;
    if (!fs::exists(source, ec)) {
      return InvalidArgument("plan '" + plan.id + "': source '" + source + "' does not exist");
    }
  }
  if (plan.backup_interval <= std::chrono::seconds(0)) {
    return InvalidArgument("plan '" + plan.id + "': backup interval must be positive");
  }
  if (plan.rpo <= std::chrono::minutes(0)) {
    return InvalidArgument("plan '" + plan.id + "': RPO must be positive");
  }
  if (plan.rto <= std::chrono::minutes(0)) {
    return InvalidArgument("plan '" + plan.id + "': RTO must be positive");
  }
  if (plan.retention_days < 1) {
    return InvalidArgument("plan '" + plan.id + "': retention_days must be at least 1");
  }
  if (plan.name.empty()) plan.name = plan.id;
  {
    std::lock_guard lock(mu_);
    if (plans_.contains(plan.id)) return AlreadyExists("plan '" + plan.id + "' already exists");
  }
  // Points a previous run left in the repository belong to the plan again.
  auto existing = engine_->ListPoints(plan);
  if (!existing) {
    return MakeError(existing.error().code(), "plan '" + plan.id + "': reading repository '" +
                                                  plan.repository +
                                                  "': " + existing.error().message());
  }
  auto state = std::make_unique<PlanState>();
  for (const auto& outcome : *existing) state->points.push_back(ToPoint(plan, outcome));
  state->plan = std::move(plan);
  std::lock_guard lock(mu_);
  const std::string id = state->plan.id;
  if (!plans_.try_emplace(id, std::move(state)).second) {
    return AlreadyExists("plan '" + id + "' already exists");
  }
  return {};
}

Result<DisasterRecoveryPlan> DisasterRecoveryManager::GetPlan(std::string_view plan_id) const {
  std::lock_guard lock(mu_);
  const PlanState* state = FindPlan(plan_id);
  if (state == nullptr) return NotFound("plan '" + std::string(plan_id) + "' not found");
  return state->plan;
}

std::vector<DisasterRecoveryPlan> DisasterRecoveryManager::ListPlans() const {
  std::lock_guard lock(mu_);
  std::vector<DisasterRecoveryPlan> plans;
  for (const auto& [id, state] : plans_) plans.push_back(state->plan);
  std::sort(plans.begin(), plans.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return plans;
}

Status DisasterRecoveryManager::ActivatePlan(std::string_view plan_id) {
  std::lock_guard lock(mu_);
  auto it = plans_.find(std::string(plan_id));
  if (it == plans_.end()) return NotFound("plan '" + std::string(plan_id) + "' not found");
  it->second->plan.active = true;
  return {};
}

Status DisasterRecoveryManager::DeactivatePlan(std::string_view plan_id) {
  std::lock_guard lock(mu_);
  auto it = plans_.find(std::string(plan_id));
  if (it == plans_.end()) return NotFound("plan '" + std::string(plan_id) + "' not found");
  it->second->plan.active = false;
  return {};
}

Result<RecoveryPoint> DisasterRecoveryManager::CreateRecoveryPoint(std::string_view plan_id) {
  std::unique_lock lock(mu_);
  auto it = plans_.find(std::string(plan_id));
  if (it == plans_.end()) return NotFound("plan '" + std::string(plan_id) + "' not found");
  PlanState& state = *it->second;
  if (state.backup_running) {
    return FailedPrecondition("plan '" + state.plan.id + "': a backup is already running");
  }
  state.backup_running = true;
  const DisasterRecoveryPlan plan = state.plan;
  lock.unlock();
  auto outcome = engine_->Backup(plan);
  lock.lock();
  state.backup_running = false;  // plans are never removed, so `state` is still valid
  if (!outcome) {
    ++backups_failed_;
    spdlog::error("backup of plan '{}' failed: {}", plan.id, outcome.error().ToString());
    return std::unexpected(outcome.error());
  }
  ++backups_succeeded_;
  RecoveryPoint point = ToPoint(plan, *outcome);
  state.points.push_back(point);
  spdlog::info("plan '{}': recovery point {} ({} files, {} bytes, {} stored)", plan.id, point.id,
               point.file_count, point.logical_size, point.stored_size);
  ApplyRetention(lock);
  return point;
}

Result<RecoveryPoint> DisasterRecoveryManager::CreateRecoveryPoint(std::string_view plan_id,
                                                                   std::uint64_t size,
                                                                   std::string_view location) {
  {
    std::lock_guard lock(mu_);
    if (FindPlan(plan_id) == nullptr) {
      return NotFound("plan '" + std::string(plan_id) + "' not found");
    }
  }
  if (location.empty()) return InvalidArgument("location must not be empty");
  const fs::path path{std::string(location)};
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return NotFound("artifact '" + path.string() + "' does not exist or is not a regular file");
  }
  const std::uintmax_t actual = fs::file_size(path, ec);
  if (ec) return MakeError(ErrorCode::kIo, "artifact '" + path.string() + "': " + ec.message());
  if (actual != size) {
    return MakeError(ErrorCode::kCorrupted, "artifact '" + path.string() + "' has " +
                                                std::to_string(actual) + " bytes, expected " +
                                                std::to_string(size));
  }
  auto digest = Sha256File(path);
  if (!digest) return std::unexpected(digest.error());

  std::unique_lock lock(mu_);
  auto it = plans_.find(std::string(plan_id));
  if (it == plans_.end()) return NotFound("plan '" + std::string(plan_id) + "' not found");
  RecoveryPoint point;
  point.id = "ext-" + it->second->plan.id + "-" + std::to_string(++external_counter_);
  point.plan_id = it->second->plan.id;
  point.strategy = BackupStrategy::kFull;
  point.created_at = clock_.WallNow();
  point.logical_size = size;
  point.stored_size = size;
  point.location = path.string();
  point.file_count = 1;
  point.status = "external";
  point.sha256 = *digest;
  it->second->points.push_back(point);
  ApplyRetention(lock);
  return point;
}

Result<RecoveryPoint> DisasterRecoveryManager::GetRecoveryPoint(std::string_view point_id) const {
  std::lock_guard lock(mu_);
  const RecoveryPoint* point = FindPoint(point_id, nullptr);
  if (point == nullptr) return NotFound("recovery point '" + std::string(point_id) + "' not found");
  return *point;
}

std::vector<RecoveryPoint> DisasterRecoveryManager::ListRecoveryPoints(
    std::string_view plan_id) const {
  std::lock_guard lock(mu_);
  const PlanState* state = FindPlan(plan_id);
  return state == nullptr ? std::vector<RecoveryPoint>{} : state->points;
}

Status DisasterRecoveryManager::DeleteRecoveryPoint(std::string_view point_id) {
  std::unique_lock lock(mu_);
  const PlanState* owner = nullptr;
  const RecoveryPoint* point = FindPoint(point_id, &owner);
  if (point == nullptr) return NotFound("recovery point '" + std::string(point_id) + "' not found");
  const DisasterRecoveryPlan plan = owner->plan;
  const bool external = point->status == "external";
  const std::string id = point->id;
  lock.unlock();
  if (!external) {
    if (Status deleted = engine_->DeletePoints(plan, {id}); !deleted) return deleted;
  }
  lock.lock();
  auto it = plans_.find(plan.id);
  if (it != plans_.end()) {
    std::erase_if(it->second->points, [&](const RecoveryPoint& p) { return p.id == id; });
  }
  return {};
}

void DisasterRecoveryManager::ApplyRetention(std::unique_lock<std::mutex>& lock) {
  const WallTime now = clock_.WallNow();
  std::map<std::string, std::vector<std::string>> doomed;  // plan -> repository points
  // Each plan's newest point is never deleted by retention.
  auto newest_of = [](const PlanState& state) -> const RecoveryPoint* {
    return state.points.empty() ? nullptr : &state.points.back();
  };
  std::vector<std::pair<WallTime, std::pair<PlanState*, std::string>>> candidates;
  for (auto& [plan_id, state] : plans_) {
    const RecoveryPoint* newest = newest_of(*state);
    const auto max_age = std::chrono::hours(24) * state->plan.retention_days;
    for (const RecoveryPoint& point : state->points) {
      if (&point == newest) continue;
      if (now - point.created_at > max_age) {
        doomed[plan_id].push_back(point.id);
      } else {
        candidates.push_back({point.created_at, {state.get(), point.id}});
      }
    }
  }
  std::size_t remaining = 0;
  for (const auto& [plan_id, state] : plans_) remaining += state->points.size();
  for (const auto& [plan_id, ids] : doomed) remaining -= ids.size();
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [created, owner] : candidates) {
    if (remaining <= max_recovery_points_) break;
    doomed[owner.first->plan.id].push_back(owner.second);
    --remaining;
  }
  if (doomed.empty()) return;

  std::vector<std::pair<DisasterRecoveryPlan, std::vector<std::string>>> to_delete;
  for (auto& [plan_id, ids] : doomed) {
    PlanState& state = *plans_.at(plan_id);
    std::vector<std::string> repository_points;
    for (const std::string& id : ids) {
      auto it = std::find_if(state.points.begin(), state.points.end(),
                             [&](const RecoveryPoint& p) { return p.id == id; });
      if (it == state.points.end()) continue;
      if (it->status != "external") repository_points.push_back(id);
      state.points.erase(it);
      ++retention_deleted_;
    }
    if (!repository_points.empty())
      to_delete.emplace_back(state.plan, std::move(repository_points));
  }
  lock.unlock();
  for (const auto& [plan, ids] : to_delete) {
    if (Status deleted = engine_->DeletePoints(plan, ids); !deleted) {
      // The points are out of the manager; the repository keeps them until the next prune.
      spdlog::warn("plan '{}': retention could not delete {} points: {}", plan.id, ids.size(),
                   deleted.error().ToString());
    } else {
      spdlog::info("plan '{}': retention deleted {} recovery points", plan.id, ids.size());
    }
  }
  lock.lock();
}

Result<RestoreReport> DisasterRecoveryManager::InitiateRecovery(std::string_view point_id,
                                                                std::string_view target) {
  if (target.empty()) return InvalidArgument("a restore target directory is required");
  std::unique_lock lock(mu_);
  const PlanState* owner = nullptr;
  const RecoveryPoint* found = FindPoint(point_id, &owner);
  if (found == nullptr) return NotFound("recovery point '" + std::string(point_id) + "' not found");
  const RecoveryPoint point = *found;
  const DisasterRecoveryPlan plan = owner->plan;
  lock.unlock();
  const MonoTime start = clock_.Now();
  if (point.status == "external") {
    std::error_code ec;
    const fs::path destination =
        fs::path(std::string(target)) / fs::path(point.location).filename();
    fs::create_directories(std::string(target), ec);
    if (!ec) fs::copy_file(point.location, destination, fs::copy_options::overwrite_existing, ec);
    if (ec) return MakeError(ErrorCode::kIo, "restoring " + point.location + ": " + ec.message());
    RestoreReport report{point.id, std::string(target), 1, point.logical_size, {}};
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - start);
    return report;
  }
  auto report = engine_->Restore(plan, point.id, std::string(target));
  if (!report) return std::unexpected(report.error());
  spdlog::info("restored recovery point {} into {} ({} files, {} bytes)", point.id, target,
               report->files, report->bytes);
  return report;
}

Result<RecoveryTestResult> DisasterRecoveryManager::TestRecovery(std::string_view plan_id) {
  std::unique_lock lock(mu_);
  const PlanState* state = FindPlan(plan_id);
  if (state == nullptr) return NotFound("plan '" + std::string(plan_id) + "' not found");
  const DisasterRecoveryPlan plan = state->plan;
  std::optional<RecoveryPoint> newest;
  if (!state->points.empty()) newest = state->points.back();
  lock.unlock();

  RecoveryTestResult result;
  result.plan_id = plan.id;
  result.tested_at = clock_.WallNow();
  result.rto = plan.rto;
  result.rpo = plan.rpo;
  if (!newest) {
    result.message = "no recovery point to test";
  } else {
    result.point_id = newest->id;
    result.point_age =
        std::chrono::duration_cast<std::chrono::seconds>(result.tested_at - newest->created_at);
    result.rpo_met = result.point_age <= plan.rpo;
    std::error_code ec;
    const fs::path base =
        scratch_directory_.empty() ? fs::temp_directory_path(ec) : fs::path(scratch_directory_);
    const fs::path scratch = base / ("streamgate-recovery-test-" + plan.id + "-" +
                                     std::to_string(clock_.Now().time_since_epoch().count()));
    const MonoTime start = clock_.Now();
    if (newest->status == "external") {
      auto digest = Sha256File(newest->location);
      result.restore_time =
          std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - start);
      if (!digest) {
        result.message = digest.error().ToString();
      } else if (*digest != newest->sha256) {
        result.message = "artifact " + newest->location + " no longer matches its SHA-256";
      } else {
        result.passed = true;
        result.files_verified = 1;
        result.bytes_verified = newest->logical_size;
      }
    } else if (auto restored = engine_->Restore(plan, newest->id, scratch.string()); !restored) {
      result.message = "restore failed: " + restored.error().ToString();
    } else {
      result.restore_time =
          std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - start);
      auto verified = engine_->Verify(plan, newest->id, scratch.string());
      if (!verified) {
        result.message = "verification failed: " + verified.error().ToString();
      } else if (!verified->mismatches.empty()) {
        result.message = std::to_string(verified->mismatches.size()) +
                         " entries differ, first: " + verified->mismatches.front();
        result.files_verified = verified->files;
      } else {
        result.passed = true;
        result.files_verified = verified->files;
        result.bytes_verified = verified->bytes;
      }
    }
    fs::remove_all(scratch, ec);
    result.rto_met = result.passed && result.restore_time <= plan.rto;
    if (result.passed) {
      result.message = "restored and verified " + std::to_string(result.files_verified) +
                       " entries in " + std::to_string(result.restore_time.count()) + " ms";
    }
  }
  if (result.passed) {
    spdlog::info("recovery test of plan '{}': {}", plan.id, result.message);
  } else {
    spdlog::error("recovery test of plan '{}' failed: {}", plan.id, result.message);
  }
  lock.lock();
  ++tests_run_;
  if (result.passed) ++tests_passed_;
  auto it = plans_.find(plan.id);
  if (it != plans_.end()) {
    auto& tests = it->second->tests;
    tests.push_back(result);
    if (tests.size() > kTestResultsKept) tests.erase(tests.begin());
  }
  return result;
}

std::vector<RecoveryTestResult> DisasterRecoveryManager::GetTestResults(
    std::string_view plan_id) const {
  std::lock_guard lock(mu_);
  const PlanState* state = FindPlan(plan_id);
  return state == nullptr ? std::vector<RecoveryTestResult>{} : state->tests;
}

bool DisasterRecoveryManager::ShouldBackup(std::string_view plan_id) const {
  std::lock_guard lock(mu_);
  const PlanState* state = FindPlan(plan_id);
  if (state == nullptr || !state->plan.active || state->backup_running) return false;
  if (state->points.empty()) return true;
  const auto age = clock_.WallNow() - state->points.back().created_at;
  return age >= state->plan.backup_interval || age >= state->plan.rpo;
}

std::size_t DisasterRecoveryManager::GetRecoveryPointCount() const {
  std::lock_guard lock(mu_);
  std::size_t count = 0;
  for (const auto& [id, state] : plans_) count += state->points.size();
  return count;
}

std::size_t DisasterRecoveryManager::GetPlanCount() const {
  std::lock_guard lock(mu_);
  return plans_.size();
}

std::uint64_t DisasterRecoveryManager::GetTotalBackupSize() const {
  std::lock_guard lock(mu_);
  std::uint64_t total = 0;
  for (const auto& [id, state] : plans_) {
    for (const RecoveryPoint& point : state->points) total += point.stored_size;
  }
  return total;
}

RecoveryStats DisasterRecoveryManager::GetRecoveryStats() const {
  std::lock_guard lock(mu_);
  RecoveryStats stats;
  const WallTime now = clock_.WallNow();
  stats.plans = plans_.size();
  stats.backups_succeeded = backups_succeeded_;
  stats.backups_failed = backups_failed_;
  stats.points_deleted_by_retention = retention_deleted_;
  stats.tests_run = tests_run_;
  stats.tests_passed = tests_passed_;
  for (const auto& [id, state] : plans_) {
    if (state->plan.active) ++stats.active_plans;
    stats.recovery_points += state->points.size();
    RecoveryStats::PerPlan per_plan;
    per_plan.plan_id = id;
    for (const RecoveryPoint& point : state->points) stats.total_backup_size += point.stored_size;
    if (!state->points.empty()) {
      per_plan.last_backup = state->points.back().created_at;
      per_plan.newest_point_age =
          std::chrono::duration_cast<std::chrono::seconds>(now - *per_plan.last_backup);
      per_plan.rpo_met = *per_plan.newest_point_age <= state->plan.rpo;
    }
    if (!state->tests.empty()) per_plan.last_test = state->tests.back();
    stats.per_plan.push_back(std::move(per_plan));
  }
  std::sort(stats.per_plan.begin(), stats.per_plan.end(),
            [](const auto& a, const auto& b) { return a.plan_id < b.plan_id; });
  return stats;
}

}  // namespace streamgate::scaling
