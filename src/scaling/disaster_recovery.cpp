#include "streamgate/scaling/disaster_recovery.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

namespace streamgate::scaling {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kTestResultsKept = 20;
// After a failed copy to the secondary, ShouldCopy waits this long (or the plan's interval, if
// shorter) before it asks for another one.
constexpr std::chrono::seconds kCopyRetryDelay{60};

// Two repository locations that name the same place: URLs compared as written (without a
// trailing '/'), directories after resolving them (symlinks, "..", relative paths).
bool SameLocation(const std::string& a, const std::string& b) {
  auto trimmed = [](std::string text) {
    while (text.size() > 1 && text.back() == '/') text.pop_back();
    return text;
  };
  const bool a_url = a.find("://") != std::string::npos;
  const bool b_url = b.find("://") != std::string::npos;
  if (a_url || b_url) return a_url == b_url && trimmed(a) == trimmed(b);
  auto resolved = [](const std::string& path) {
    std::error_code ec;
    fs::path full = fs::weakly_canonical(path, ec);
    if (ec) full = fs::absolute(path, ec).lexically_normal();
    return fs::path(full.string().size() > 1 && full.string().back() == '/'
                        ? full.string().substr(0, full.string().size() - 1)
                        : full.string());
  };
  return resolved(a) == resolved(b);
}

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

std::string_view ToString(RepositoryRole role) {
  return role == RepositoryRole::kSecondary ? "secondary" : "primary";
}

Result<RepositoryRole> ParseRepositoryRole(std::string_view text) {
  if (text == "primary") return RepositoryRole::kPrimary;
  if (text == "secondary") return RepositoryRole::kSecondary;
  return InvalidArgument("unknown region '" + std::string(text) +
                         "' (expected primary or secondary)");
}

std::string_view ToString(RecoverySource source) {
  switch (source) {
    case RecoverySource::kAuto:
      return "auto";
    case RecoverySource::kPrimary:
      return "primary";
    case RecoverySource::kSecondary:
      return "secondary";
  }
  return "auto";
}

Result<RecoverySource> ParseRecoverySource(std::string_view text) {
  if (text == "auto") return RecoverySource::kAuto;
  if (text == "primary") return RecoverySource::kPrimary;
  if (text == "secondary") return RecoverySource::kSecondary;
  return InvalidArgument("unknown recovery source '" + std::string(text) +
                         "' (expected auto, primary or secondary)");
}

bool IsRepositoryOutage(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kIo:
    case ErrorCode::kNotFound:
      return true;
    default:
      return false;
  }
}

struct DisasterRecoveryManager::PlanState {
  DisasterRecoveryPlan plan;
  std::vector<RecoveryPoint> points;  // oldest first
  std::vector<RecoveryTestResult> tests;
  bool backup_running = false;
  // UpdatePlan is reading the plan's new repositories: no backup, copy or deletion starts.
  bool reconfiguring = false;
  // Copies, restores, tests and deletions running outside mu_ (backups: backup_running).
  // Raised under mu_ (so RemovePlan and UpdatePlan see it), lowered anywhere.
  std::atomic<int> operations{0};
  // Marks an operation as running for its lifetime, and keeps the state alive.
  class Operation {
   public:
    explicit Operation(std::shared_ptr<PlanState> state) : state_(std::move(state)) {
      state_->operations.fetch_add(1);
    }
    ~Operation() { state_->operations.fetch_sub(1); }
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;
    [[nodiscard]] PlanState& state() const { return *state_; }

   private:
    std::shared_ptr<PlanState> state_;
  };
  [[nodiscard]] bool Busy() const {
    return backup_running || reconfiguring || operations.load() > 0;
  }
  // Copies to the secondary, one at a time. Taken before mu_, never while holding it.
  std::mutex copy_mu;
  std::optional<CopyReport> last_copy;  // the last successful one
  std::optional<WallTime> last_copy_attempt;
  std::string last_copy_error;
  std::uint64_t copies_succeeded = 0;
  std::uint64_t copies_failed = 0;
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

Status DisasterRecoveryManager::ValidatePlan(DisasterRecoveryPlan& plan) {
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
  if (!plan.secondary_repository.empty()) {
    if (SameLocation(plan.secondary_repository, plan.repository)) {
      return InvalidArgument("plan '" + plan.id +
                             "': secondary_repository must differ from repository");
    }
    if (plan.secondary_region.empty()) {
      return InvalidArgument("plan '" + plan.id +
                             "': secondary_repository needs a secondary_region");
    }
  }
  if (plan.name.empty()) plan.name = plan.id;
  return {};
}

Result<std::vector<RecoveryPoint>> DisasterRecoveryManager::AdoptPoints(
    const DisasterRecoveryPlan& plan) {
  // Points a previous run left in the repositories belong to the plan again. An unreachable
  // primary does not stop a plan with a secondary: the secondary's points are what restores need.
  const bool has_secondary = !plan.secondary_repository.empty();
  std::optional<std::vector<BackupEngine::BackupOutcome>> secondary;
  if (has_secondary) {
    auto listed = engine_->ListPoints(plan, RepositoryRole::kSecondary);
    if (listed) {
      secondary = std::move(*listed);
    } else if (IsRepositoryOutage(listed.error())) {
      spdlog::warn("plan '{}': cannot read the secondary repository '{}' ({}); copies will retry",
                   plan.id, plan.secondary_repository, listed.error().ToString());
    } else {
      return MakeError(listed.error().code(),
                       "plan '" + plan.id + "': reading secondary repository '" +
                           plan.secondary_repository + "': " + listed.error().message());
    }
  }
  auto existing = engine_->ListPoints(plan, RepositoryRole::kPrimary);
  if (!existing) {
    if (!secondary || !IsRepositoryOutage(existing.error())) {
      return MakeError(existing.error().code(), "plan '" + plan.id + "': reading repository '" +
                                                    plan.repository +
                                                    "': " + existing.error().message());
    }
    spdlog::warn(
        "plan '{}': cannot read the primary repository '{}' ({}); using the {} points "
        "of the secondary repository '{}'",
        plan.id, plan.repository, existing.error().ToString(), secondary->size(),
        plan.secondary_repository);
    existing = std::vector<BackupEngine::BackupOutcome>{};
  }
  std::vector<RecoveryPoint> points;
  std::set<std::string> in_secondary;
  if (secondary) {
    for (const auto& outcome : *secondary) in_secondary.insert(outcome.point_id);
  }
  std::set<std::string> in_primary;
  for (const auto& outcome : *existing) {
    RecoveryPoint point = ToPoint(plan, outcome);
    point.in_secondary = in_secondary.contains(point.id);
    in_primary.insert(point.id);
    points.push_back(std::move(point));
  }
  if (secondary) {
    for (const auto& outcome : *secondary) {
      if (in_primary.contains(outcome.point_id)) continue;
      RecoveryPoint point = ToPoint(plan, outcome);
      point.location = plan.secondary_repository;
      point.in_primary = false;
      point.in_secondary = true;
      points.push_back(std::move(point));
    }
    std::stable_sort(points.begin(), points.end(),
                     [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
  }
  return points;
}

Status DisasterRecoveryManager::CreatePlan(DisasterRecoveryPlan plan) {
  if (Status valid = ValidatePlan(plan); !valid) return valid;
  {
    std::lock_guard lock(mu_);
    if (plans_.contains(plan.id)) return AlreadyExists("plan '" + plan.id + "' already exists");
  }
  auto points = AdoptPoints(plan);
  if (!points) return std::unexpected(points.error());
  auto state = std::make_shared<PlanState>();
  state->points = std::move(*points);
  state->plan = std::move(plan);
  std::lock_guard lock(mu_);
  const std::string id = state->plan.id;
  if (!plans_.try_emplace(id, std::move(state)).second) {
    return AlreadyExists("plan '" + id + "' already exists");
  }
  return {};
}

Status DisasterRecoveryManager::UpdatePlan(DisasterRecoveryPlan plan) {
  if (Status valid = ValidatePlan(plan); !valid) return valid;
  std::unique_lock lock(mu_);
  auto it = plans_.find(plan.id);
  if (it == plans_.end()) return NotFound("plan '" + plan.id + "' not found");
  std::shared_ptr<PlanState> state = it->second;
  if (state->Busy()) {
    return FailedPrecondition("plan '" + plan.id +
                              "': a backup, copy, restore or test is running; retry when it is "
                              "done");
  }
  const bool secondary_changed = plan.secondary_repository != state->plan.secondary_repository;
  const bool repository_changed = plan.repository != state->plan.repository || secondary_changed;
  if (!repository_changed) {
    state->plan = std::move(plan);
    return {};
  }
  // New repositories: their points replace the old ones', as CreatePlan adopts them.
  state->reconfiguring = true;
  lock.unlock();
  auto adopted = AdoptPoints(plan);
  lock.lock();
  state->reconfiguring = false;
  if (!adopted) return std::unexpected(adopted.error());
  // Registered artifacts live in no repository: they stay.
  for (RecoveryPoint& point : state->points) {
    if (point.status == "external") adopted->push_back(std::move(point));
  }
  std::stable_sort(adopted->begin(), adopted->end(),
                   [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
  state->points = std::move(*adopted);
  if (secondary_changed) {
    // The copy history was about the old secondary; the new one is filled from scratch.
    state->last_copy.reset();
    state->last_copy_attempt.reset();
    state->last_copy_error.clear();
  }
  spdlog::info("plan '{}': repositories changed; {} recovery points adopted", plan.id,
               state->points.size());
  state->plan = std::move(plan);
  return {};
}

Status DisasterRecoveryManager::RemovePlan(std::string_view plan_id) {
  std::lock_guard lock(mu_);
  auto it = plans_.find(std::string(plan_id));
  if (it == plans_.end()) return NotFound("plan '" + std::string(plan_id) + "' not found");
  if (it->second->Busy()) {
    return FailedPrecondition("plan '" + std::string(plan_id) +
                              "': a backup, copy, restore or test is running; retry when it is "
                              "done");
  }
  plans_.erase(it);
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
  // Held so the state outlives the unlocked stretches (RemovePlan refuses while it runs anyway).
  const std::shared_ptr<PlanState> held = it->second;
  PlanState& state = *held;
  if (state.backup_running) {
    return FailedPrecondition("plan '" + state.plan.id + "': a backup is already running");
  }
  if (state.reconfiguring) {
    return FailedPrecondition("plan '" + state.plan.id + "' is being reconfigured; retry");
  }
  state.backup_running = true;
  const DisasterRecoveryPlan plan = state.plan;
  lock.unlock();
  auto outcome = engine_->Backup(plan);
  lock.lock();
  if (!outcome) {
    state.backup_running = false;
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
  if (!plan.secondary_repository.empty()) {
    // Still marked as backing up, so the scheduler does not start another backup meanwhile.
    lock.unlock();
    (void)RunCopy(state, plan);  // a failure is recorded and logged; the backup stands
    lock.lock();
    for (const RecoveryPoint& p : state.points) {
      if (p.id == point.id) point = p;
    }
  }
  state.backup_running = false;
  return point;
}

Result<CopyReport> DisasterRecoveryManager::RunCopy(PlanState& state,
                                                    const DisasterRecoveryPlan& plan) {
  std::lock_guard copy_lock(state.copy_mu);
  auto report = engine_->CopyToSecondary(plan);
  // The secondary's catalog says which points are there now (a copy that failed midway may
  // still have completed some).
  auto listed = engine_->ListPoints(plan, RepositoryRole::kSecondary);
  std::lock_guard lock(mu_);
  const WallTime now = clock_.WallNow();
  state.last_copy_attempt = now;
  std::set<std::string> present;
  if (listed) {
    for (const auto& outcome : *listed) present.insert(outcome.point_id);
  } else if (report) {
    present.insert(report->points_copied.begin(), report->points_copied.end());
  }
  for (RecoveryPoint& point : state.points) {
    if (point.status == "external") continue;
    if (listed) {
      point.in_secondary = present.contains(point.id);
    } else if (present.contains(point.id)) {
      point.in_secondary = true;
    }
  }
  if (!report) {
    ++copies_failed_;
    ++state.copies_failed;
    state.last_copy_error = report.error().ToString();
    spdlog::warn("plan '{}': copy to the secondary repository '{}' failed: {}", plan.id,
                 plan.secondary_repository, state.last_copy_error);
    return std::unexpected(report.error());
  }
  report->plan_id = plan.id;
  report->finished_at = now;
  ++copies_succeeded_;
  ++state.copies_succeeded;
  state.last_copy = *report;
  state.last_copy_error.clear();
  spdlog::info(
      "plan '{}': copied {} points to the secondary ({}): {} chunks ({} bytes) sent, {} "
      "already there, {} ms",
      plan.id, report->points_copied.size(), plan.secondary_region, report->chunks_sent,
      report->bytes_sent, report->chunks_present, report->duration.count());
  return report;
}

Result<CopyReport> DisasterRecoveryManager::CopyToSecondary(std::string_view plan_id) {
  std::unique_lock lock(mu_);
  auto it = plans_.find(std::string(plan_id));
  if (it == plans_.end()) return NotFound("plan '" + std::string(plan_id) + "' not found");
  if (it->second->reconfiguring) {
    return FailedPrecondition("plan '" + it->second->plan.id + "' is being reconfigured; retry");
  }
  const PlanState::Operation operation(it->second);
  const DisasterRecoveryPlan plan = operation.state().plan;
  lock.unlock();
  if (plan.secondary_repository.empty()) {
    return FailedPrecondition("plan '" + plan.id + "' has no secondary_repository");
  }
  return RunCopy(operation.state(), plan);
}

bool DisasterRecoveryManager::ShouldCopy(std::string_view plan_id) const {
  std::lock_guard lock(mu_);
  const PlanState* state = FindPlan(plan_id);
  if (state == nullptr || !state->plan.active || state->backup_running || state->reconfiguring ||
      state->plan.secondary_repository.empty()) {
    return false;
  }
  const RecoveryPoint* newest = nullptr;
  for (const RecoveryPoint& point : state->points) {
    if (point.status != "external" && point.in_primary) newest = &point;
  }
  if (newest == nullptr || newest->in_secondary) return false;
  if (!state->last_copy_attempt) return true;  // points from before a restart
  if (!state->last_copy_error.empty()) {
    const auto delay = std::min<std::chrono::seconds>(kCopyRetryDelay, state->plan.backup_interval);
    return clock_.WallNow() - *state->last_copy_attempt >= delay;
  }
  // A copy that succeeded after this point was made and still did not bring it over is not
  // retried on every tick; the next backup's copy tries again.
  return *state->last_copy_attempt < newest->created_at;
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
  if (owner->reconfiguring) {
    return FailedPrecondition("plan '" + owner->plan.id + "' is being reconfigured; retry");
  }
  const PlanState::Operation operation(plans_.at(owner->plan.id));
  const DisasterRecoveryPlan plan = owner->plan;
  const bool external = point->status == "external";
  const bool in_primary = point->in_primary;
  const bool in_secondary = point->in_secondary && !plan.secondary_repository.empty();
  const std::string id = point->id;
  lock.unlock();
  auto update = [&](auto&& change) {
    std::lock_guard relock(mu_);
    auto it = plans_.find(plan.id);
    if (it == plans_.end()) return;
    for (RecoveryPoint& p : it->second->points) {
      if (p.id == id) change(p);
    }
  };
  if (!external && in_primary) {
    if (Status deleted = engine_->DeletePoints(plan, RepositoryRole::kPrimary, {id}); !deleted) {
      return deleted;
    }
    // Deleted there: a failure in the secondary below leaves a point that is only there.
    update([](RecoveryPoint& p) { p.in_primary = false; });
  }
  if (!external && in_secondary) {
    if (Status deleted = engine_->DeletePoints(plan, RepositoryRole::kSecondary, {id}); !deleted) {
      return MakeError(deleted.error().code(),
                       "recovery point " + id +
                           " was deleted from the primary repository but not "
                           "from the secondary: " +
                           deleted.error().message());
    }
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

  struct Deletion {
    std::shared_ptr<PlanState> state;  // alive even if RemovePlan runs meanwhile
    DisasterRecoveryPlan plan;
    RepositoryRole role;
    std::vector<std::string> ids;
  };
  std::vector<Deletion> to_delete;
  for (auto& [plan_id, ids] : doomed) {
    const std::shared_ptr<PlanState>& held = plans_.at(plan_id);
    PlanState& state = *held;
    std::vector<std::string> primary_points;
    std::vector<std::string> secondary_points;
    for (const std::string& id : ids) {
      auto it = std::find_if(state.points.begin(), state.points.end(),
                             [&](const RecoveryPoint& p) { return p.id == id; });
      if (it == state.points.end()) continue;
      if (it->status != "external") {
        if (it->in_primary) primary_points.push_back(id);
        if (it->in_secondary && !state.plan.secondary_repository.empty()) {
          secondary_points.push_back(id);
        }
      }
      state.points.erase(it);
      ++retention_deleted_;
    }
    if (!primary_points.empty()) {
      to_delete.push_back({held, state.plan, RepositoryRole::kPrimary, std::move(primary_points)});
    }
    if (!secondary_points.empty()) {
      to_delete.push_back(
          {held, state.plan, RepositoryRole::kSecondary, std::move(secondary_points)});
    }
  }
  lock.unlock();
  for (const Deletion& deletion : to_delete) {
    const std::string_view where = ToString(deletion.role);
    // Not while a copy writes into the secondary (both take its repository lock).
    std::unique_lock<std::mutex> copy_lock;
    if (deletion.role == RepositoryRole::kSecondary) {
      copy_lock = std::unique_lock(deletion.state->copy_mu);
    }
    if (Status deleted = engine_->DeletePoints(deletion.plan, deletion.role, deletion.ids);
        !deleted) {
      // The points are out of the manager; the repository keeps them until the next prune.
      spdlog::warn("plan '{}': retention could not delete {} points from the {} repository: {}",
                   deletion.plan.id, deletion.ids.size(), where, deleted.error().ToString());
    } else {
      spdlog::info("plan '{}': retention deleted {} recovery points from the {} repository",
                   deletion.plan.id, deletion.ids.size(), where);
    }
  }
  lock.lock();
}

Result<RestoreReport> DisasterRecoveryManager::InitiateRecovery(std::string_view point_id,
                                                                std::string_view target) {
  return InitiateRecovery(point_id, target, RecoverySource::kAuto);
}

Result<RestoreReport> DisasterRecoveryManager::InitiateRecovery(std::string_view point_id,
                                                                std::string_view target,
                                                                RecoverySource source) {
  if (target.empty()) return InvalidArgument("a restore target directory is required");
  std::unique_lock lock(mu_);
  const PlanState* owner = nullptr;
  const RecoveryPoint* found = FindPoint(point_id, &owner);
  if (found == nullptr) return NotFound("recovery point '" + std::string(point_id) + "' not found");
  const RecoveryPoint point = *found;
  const DisasterRecoveryPlan plan = owner->plan;
  const PlanState::Operation operation(plans_.at(plan.id));
  lock.unlock();
  const bool has_secondary = !plan.secondary_repository.empty();
  const MonoTime start = clock_.Now();
  if (point.status == "external") {
    if (source == RecoverySource::kSecondary) {
      return FailedPrecondition("recovery point " + point.id +
                                " is an external artifact: it has no secondary copy");
    }
    std::error_code ec;
    const fs::path destination =
        fs::path(std::string(target)) / fs::path(point.location).filename();
    fs::create_directories(std::string(target), ec);
    if (!ec) fs::copy_file(point.location, destination, fs::copy_options::overwrite_existing, ec);
    if (ec) return MakeError(ErrorCode::kIo, "restoring " + point.location + ": " + ec.message());
    RestoreReport report;
    report.point_id = point.id;
    report.target = std::string(target);
    report.files = 1;
    report.bytes = point.logical_size;
    report.region = plan.primary_region;
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - start);
    return report;
  }
  if (source == RecoverySource::kSecondary && !has_secondary) {
    return FailedPrecondition("plan '" + plan.id + "' has no secondary_repository");
  }
  auto restore_from = [&](RepositoryRole role) -> Result<RestoreReport> {
    auto report = engine_->Restore(plan, role, point.id, std::string(target));
    if (!report) return report;
    report->read_from = role;
    report->region = role == RepositoryRole::kPrimary ? plan.primary_region : plan.secondary_region;
    return report;
  };
  Result<RestoreReport> report = NotFound("unreachable");
  if (source == RecoverySource::kPrimary) {
    report = restore_from(RepositoryRole::kPrimary);
  } else if (source == RecoverySource::kSecondary) {
    report = restore_from(RepositoryRole::kSecondary);
  } else if (!point.in_primary && has_secondary) {
    report = restore_from(RepositoryRole::kSecondary);
    if (report) report->fallback_reason = "the primary repository does not hold this point";
  } else {
    report = restore_from(RepositoryRole::kPrimary);
    if (!report && has_secondary && IsRepositoryOutage(report.error())) {
      const std::string reason = "primary repository unreachable: " + report.error().ToString();
      spdlog::warn("restore of recovery point {}: {}; reading the secondary repository '{}' ({})",
                   point.id, reason, plan.secondary_repository, plan.secondary_region);
      auto secondary = restore_from(RepositoryRole::kSecondary);
      if (!secondary) {
        return MakeError(secondary.error().code(),
                         "recovery point " + point.id + ": primary: " + report.error().message() +
                             "; secondary: " + secondary.error().message());
      }
      secondary->fallback_reason = reason;
      report = std::move(secondary);
    }
  }
  if (!report) return std::unexpected(report.error());
  spdlog::info("restored recovery point {} into {} from the {} repository ({} files, {} bytes)",
               point.id, target, ToString(report->read_from), report->files, report->bytes);
  return report;
}

Result<RecoveryTestResult> DisasterRecoveryManager::TestRecovery(std::string_view plan_id) {
  return TestRecovery(plan_id, RepositoryRole::kPrimary);
}

Result<RecoveryTestResult> DisasterRecoveryManager::TestRecovery(std::string_view plan_id,
                                                                 RepositoryRole region) {
  std::unique_lock lock(mu_);
  auto found = plans_.find(std::string(plan_id));
  if (found == plans_.end()) return NotFound("plan '" + std::string(plan_id) + "' not found");
  const PlanState* state = found->second.get();
  const DisasterRecoveryPlan plan = state->plan;
  if (region == RepositoryRole::kSecondary && plan.secondary_repository.empty()) {
    return FailedPrecondition("plan '" + plan.id + "' has no secondary_repository");
  }
  std::optional<RecoveryPoint> newest;
  for (const RecoveryPoint& point : state->points) {
    if (region == RepositoryRole::kPrimary ? point.in_primary : point.in_secondary) newest = point;
  }
  const PlanState::Operation operation(found->second);
  lock.unlock();

  RecoveryTestResult result;
  result.plan_id = plan.id;
  result.region = region;
  result.tested_at = clock_.WallNow();
  result.rto = plan.rto;
  result.rpo = plan.rpo;
  if (!newest) {
    result.message = region == RepositoryRole::kPrimary
                         ? "no recovery point to test"
                         : "no recovery point in the secondary repository to test";
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
    } else if (auto restored = engine_->Restore(plan, region, newest->id, scratch.string());
               !restored) {
      result.message = "restore failed: " + restored.error().ToString();
    } else {
      result.restore_time =
          std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - start);
      auto verified = engine_->Verify(plan, region, newest->id, scratch.string());
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
    spdlog::info("recovery test of plan '{}' ({}): {}", plan.id, ToString(region), result.message);
  } else {
    spdlog::error("recovery test of plan '{}' ({}) failed: {}", plan.id, ToString(region),
                  result.message);
  }
  lock.lock();
  ++tests_run_;
  if (result.passed) ++tests_passed_;
  auto& tests = operation.state().tests;
  tests.push_back(result);
  if (tests.size() > kTestResultsKept) tests.erase(tests.begin());
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
  if (state == nullptr || !state->plan.active || state->backup_running || state->reconfiguring) {
    return false;
  }
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
  stats.copies_succeeded = copies_succeeded_;
  stats.copies_failed = copies_failed_;
  auto region_of = [&](const PlanState& state, RepositoryRole role) {
    RecoveryStats::Region region;
    region.role = role;
    const bool primary = role == RepositoryRole::kPrimary;
    region.region = primary ? state.plan.primary_region : state.plan.secondary_region;
    region.repository = primary ? state.plan.repository : state.plan.secondary_repository;
    for (const RecoveryPoint& point : state.points) {
      if (!(primary ? point.in_primary : point.in_secondary)) continue;
      ++region.points;
      if (!region.newest_point || point.created_at > *region.newest_point) {
        region.newest_point = point.created_at;
      }
    }
    if (region.newest_point) {
      region.newest_point_age =
          std::chrono::duration_cast<std::chrono::seconds>(now - *region.newest_point);
      region.rpo_met = *region.newest_point_age <= state.plan.rpo;
    }
    return region;
  };
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
    per_plan.primary = region_of(*state, RepositoryRole::kPrimary);
    if (!state->plan.secondary_repository.empty()) {
      per_plan.secondary = region_of(*state, RepositoryRole::kSecondary);
    }
    per_plan.last_copy = state->last_copy;
    per_plan.last_copy_attempt = state->last_copy_attempt;
    per_plan.last_copy_error = state->last_copy_error;
    per_plan.copies_succeeded = state->copies_succeeded;
    per_plan.copies_failed = state->copies_failed;
    stats.per_plan.push_back(std::move(per_plan));
  }
  std::sort(stats.per_plan.begin(), stats.per_plan.end(),
            [](const auto& a, const auto& b) { return a.plan_id < b.plan_id; });
  return stats;
}

}  // namespace streamgate::scaling
