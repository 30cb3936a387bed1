// BackupEngine on StreamGate's repository engine (src/backup): one repository per plan
// location, opened once and kept.
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
    if (!result) return std::unexpected(result.error());
    return ToOutcome(result->point);
  }

  Result<std::vector<BackupOutcome>> ListPoints(const DisasterRecoveryPlan& plan) override {
    auto repository = Open(plan.repository, /*create=*/false);
    if (!repository) {
      if (repository.error().code() == ErrorCode::kNotFound) return std::vector<BackupOutcome>{};
      return std::unexpected(repository.error());
    }
    auto points = (*repository)->ListPoints();
    if (!points) return std::unexpected(points.error());
    std::vector<BackupOutcome> outcomes;
    for (const backup::PointInfo& point : *points) {
      if (point.plan == plan.id) outcomes.push_back(ToOutcome(point));
    }
    return outcomes;
  }

  Result<RestoreReport> Restore(const DisasterRecoveryPlan& plan, const std::string& point_id,
                                const std::string& target) override {
    auto repository = Open(plan.repository, /*create=*/false);
    if (!repository) return std::unexpected(repository.error());
    backup::RestoreRequest request;
    request.point = point_id;
    request.plan = plan.id;
    request.target = target;
    auto result = (*repository)->Restore(request);
    if (!result) return std::unexpected(result.error());
    if (!result->errors.empty()) {
      return MakeError(ErrorCode::kIo, "restore of " + point_id + " had " +
                                           std::to_string(result->errors.size()) +
                                           " errors, first: " + result->errors.front());
    }
    RestoreReport report;
    report.point_id = result->point;
    report.target = target;
    report.files = result->files;
    report.bytes = result->bytes_written;
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(result->duration);
    return report;
  }

  Result<VerifyOutcome> Verify(const DisasterRecoveryPlan& plan, const std::string& point_id,
                               const std::string& directory) override {
    auto repository = Open(plan.repository, /*create=*/false);
    if (!repository) return std::unexpected(repository.error());
    auto result = (*repository)->Verify(point_id, directory);
    if (!result) return std::unexpected(result.error());
    return VerifyOutcome{result->entries_checked, result->bytes_checked, result->mismatches};
  }

  Status DeletePoints(const DisasterRecoveryPlan& plan,
                      const std::vector<std::string>& point_ids) override {
    auto repository = Open(plan.repository, /*create=*/false);
    if (!repository) return std::unexpected(repository.error());
    backup::PruneOptions options;
    options.forget = point_ids;
    auto result = (*repository)->Prune(options);
    if (!result) return std::unexpected(result.error());
    return {};
  }

 private:
  Result<backup::Repository*> Open(const std::string& location, bool create) {
    std::lock_guard lock(mu_);
    if (auto it = open_.find(location); it != open_.end()) return it->second.get();
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
    backup::Repository* raw = repository->get();
    open_.emplace(location, std::move(*repository));
    return raw;
  }

  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<backup::Repository>> open_;
};

}  // namespace

std::shared_ptr<BackupEngine> MakeRepositoryBackupEngine(const Clock& clock) {
  return std::make_shared<RepositoryBackupEngine>(clock);
}

}  // namespace streamgate::scaling
