// BackupEngine on StreamGate's repository engine (src/backup): one repository object per
// location (primary or secondary), opened once and kept until it fails as unreachable or gone.
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "streamgate/backup/blob_store.hpp"
#include "streamgate/backup/repository.hpp"
#include "streamgate/scaling/disaster_recovery.hpp"

namespace streamgate::scaling {
namespace {

backup::Strategy ToEngine(BackupStrategy strategy) {
  switch (strategy) {
    case BackupStrategy::kFull:
      return backup::Strategy::kFull;
    case BackupStrategy::kIncremental:
      return backup::Strategy::kIncremental;
    case BackupStrategy::kDifferential:
      return backup::Strategy::kDifferential;
  }
  return backup::Strategy::kFull;
}

BackupStrategy FromEngine(backup::Strategy strategy) {
  switch (strategy) {
    case backup::Strategy::kFull:
      return BackupStrategy::kFull;
    case backup::Strategy::kIncremental:
      return BackupStrategy::kIncremental;
    case backup::Strategy::kDifferential:
      return BackupStrategy::kDifferential;
  }
  return BackupStrategy::kFull;
}

BackupEngine::BackupOutcome ToOutcome(const backup::PointInfo& point) {
  BackupEngine::BackupOutcome outcome;
  outcome.point_id = point.id;
  outcome.performed = FromEngine(point.strategy);
  outcome.created_at = point.created_at;
  outcome.logical_bytes = point.logical_bytes;
  outcome.stored_bytes = point.stored_bytes;
  outcome.file_count = point.file_count;
  outcome.parent = point.parent;
  return outcome;
}

using RepositoryPtr = std::shared_ptr<backup::Repository>;

class RepositoryBackupEngine final : public BackupEngine {
 public:
  explicit RepositoryBackupEngine(const Clock& clock) : clock_(clock) {}

  Result<BackupOutcome> Backup(const DisasterRecoveryPlan& plan) override {
    auto repository = Open(plan.repository, /*create=*/true);
    if (!repository) return std::unexpected(repository.error());
    backup::BackupRequest request;
    request.sources = plan.sources;
    request.excludes = plan.excludes;
    request.strategy = ToEngine(plan.strategy);
    request.plan = plan.id;
    auto result = (*repository)->Backup(request);
    if (!result) return Forget(plan.repository, result.error());
    return ToOutcome(result->point);
  }

  Result<std::vector<BackupOutcome>> ListPoints(const DisasterRecoveryPlan& plan,
                                                RepositoryRole role) override {
    auto location = LocationOf(plan, role);
    if (!location) return std::unexpected(location.error());
    auto repository = Open(*location, /*create=*/false);
    if (!repository) {
      if (repository.error().code() == ErrorCode::kNotFound) return std::vector<BackupOutcome>{};
      return std::unexpected(repository.error());
    }
    auto points = (*repository)->ListPoints();
    if (!points) return Forget(*location, points.error());
    std::vector<BackupOutcome> outcomes;
    for (const backup::PointInfo& point : *points) {
      if (point.plan == plan.id) outcomes.push_back(ToOutcome(point));
    }
    return outcomes;
  }

  Result<RestoreReport> Restore(const DisasterRecoveryPlan& plan, RepositoryRole role,
                                const std::string& point_id, const std::string& target) override {
    auto location = LocationOf(plan, role);
    if (!location) return std::unexpected(location.error());
    auto repository = Open(*location, /*create=*/false);
    if (!repository) return std::unexpected(repository.error());
    backup::RestoreRequest request;
    request.point = point_id;
    request.plan = plan.id;
    request.target = target;
    auto result = (*repository)->Restore(request);
    if (!result) return Forget(*location, result.error());
    if (!result->errors.empty()) {
      // Entries failed. If the repository itself went away meanwhile, that is an outage (the
      // caller may read the other region); otherwise the data or the target is at fault, which
      // reading elsewhere does not cure: kCorrupted.
      const std::string summary = "restore of " + point_id + " from " + *location + " had " +
                                  std::to_string(result->errors.size()) +
                                  " errors, first: " + result->errors.front();
      auto exists = backup::Repository::Exists((*repository)->store());
      if (!exists) return Forget(*location, Error(exists.error().code(), summary));
      if (!*exists) return Forget(*location, Error(ErrorCode::kNotFound, summary));
      return MakeError(ErrorCode::kCorrupted, summary);
    }
    RestoreReport report;
    report.point_id = result->point;
    report.target = target;
    report.files = result->files;
    report.bytes = result->bytes_written;
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(result->duration);
    report.read_from = role;
    return report;
  }

  Result<VerifyOutcome> Verify(const DisasterRecoveryPlan& plan, RepositoryRole role,
                               const std::string& point_id, const std::string& directory) override {
    auto location = LocationOf(plan, role);
    if (!location) return std::unexpected(location.error());
    auto repository = Open(*location, /*create=*/false);
    if (!repository) return std::unexpected(repository.error());
    auto result = (*repository)->Verify(point_id, directory);
    if (!result) return Forget(*location, result.error());
    return VerifyOutcome{result->entries_checked, result->bytes_checked, result->mismatches};
  }

  Status DeletePoints(const DisasterRecoveryPlan& plan, RepositoryRole role,
                      const std::vector<std::string>& point_ids) override {
    auto location = LocationOf(plan, role);
    if (!location) return std::unexpected(location.error());
    auto repository = Open(*location, /*create=*/false);
    if (!repository) return std::unexpected(repository.error());
    backup::PruneOptions options;
    options.forget = point_ids;
    auto result = (*repository)->Prune(options);
    if (!result) return Forget(*location, result.error());
    return {};
  }

  Result<CopyReport> CopyToSecondary(const DisasterRecoveryPlan& plan) override {
    auto location = LocationOf(plan, RepositoryRole::kSecondary);
    if (!location) return std::unexpected(location.error());
    auto source = Open(plan.repository, /*create=*/false);
    if (!source) return std::unexpected(source.error());
    auto destination = OpenMirror(*location, **source);
    if (!destination) return std::unexpected(destination.error());
    backup::CopyRequest request;
    request.plan = plan.id;  // every point of the plan the secondary lacks
    auto result = (*source)->CopyTo(**destination, request);
    if (!result) return Forget(*location, result.error());
    CopyReport report;
    report.points_copied = result->copied_points;
    report.chunks_sent = result->chunks_sent;
    report.chunks_present = result->chunks_present;
    report.bytes_sent = result->bytes_sent;
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(result->duration);
    return report;
  }

 private:
  struct Entry {
    RepositoryPtr repository;
    bool mirror = false;  // opened by OpenOrCreateMirror (its parameters match the primary's)
  };

  static Result<std::string> LocationOf(const DisasterRecoveryPlan& plan, RepositoryRole role) {
    if (role == RepositoryRole::kPrimary) return plan.repository;
    if (plan.secondary_repository.empty()) {
      return FailedPrecondition("plan '" + plan.id + "' has no secondary_repository");
    }
    return plan.secondary_repository;
  }

  // Drops a repository that failed as if unreachable or gone, so the next call opens it afresh
  // (a directory that was removed and made again, a server that came back); returns `error`.
  std::unexpected<Error> Forget(const std::string& location, Error error) {
    if (IsRepositoryOutage(error)) {
      std::lock_guard lock(mu_);
      open_.erase(location);
    }
    return std::unexpected(std::move(error));
  }

  // Opening holds mu_ throughout, so two callers never create the same repository twice.
  Result<RepositoryPtr> Open(const std::string& location, bool create) {
    std::lock_guard lock(mu_);
    if (auto it = open_.find(location); it != open_.end()) return it->second.repository;
    auto store = backup::OpenBlobStore(location);
    if (!store) return std::unexpected(store.error());
    const char* passphrase_env = std::getenv("STREAMGATE_REPO_PASSWORD");
    const std::string passphrase = passphrase_env != nullptr ? passphrase_env : "";
    auto exists = backup::Repository::Exists(**store);
    if (!exists) return std::unexpected(exists.error());
    Result<std::unique_ptr<backup::Repository>> repository =
        *exists ? backup::Repository::Open(*store, passphrase, clock_)
        : create
            ? backup::Repository::Create(*store, backup::RepositoryOptions{}, clock_)
            : Result<std::unique_ptr<backup::Repository>>(NotFound("no repository at " + location));
    if (!repository) return std::unexpected(repository.error());
    return Keep(location, RepositoryPtr(std::move(*repository)), /*mirror=*/false);
  }

  // The secondary as a mirror of `source`: created with the primary's parameters when empty,
  // checked against them when it exists.
  Result<RepositoryPtr> OpenMirror(const std::string& location, const backup::Repository& source) {
    std::lock_guard lock(mu_);
    if (auto it = open_.find(location); it != open_.end() && it->second.mirror) {
      return it->second.repository;
    }
    auto store = backup::OpenBlobStore(location);
    if (!store) return std::unexpected(store.error());
    auto repository = backup::Repository::OpenOrCreateMirror(*store, source, clock_);
    if (!repository) return std::unexpected(repository.error());
    return Keep(location, RepositoryPtr(std::move(*repository)), /*mirror=*/true);
  }

  // One object per location, so every call sees what the others wrote; a mirror replaces a plain
  // entry (callers still using that one keep it alive). Called with mu_ held.
  RepositoryPtr Keep(const std::string& location, RepositoryPtr repository, bool mirror) {
    auto [it, inserted] = open_.try_emplace(location, Entry{repository, mirror});
    if (!inserted && mirror && !it->second.mirror) it->second = Entry{repository, true};
    return it->second.repository;
  }

  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, Entry> open_;
};

}  // namespace

std::shared_ptr<BackupEngine> MakeRepositoryBackupEngine(const Clock& clock) {
  return std::make_shared<RepositoryBackupEngine>(clock);
}

}  // namespace streamgate::scaling
