// Disaster recovery: backup plans, recovery points that are real backups, restores, and
// recovery tests measured against RPO and RTO. Mirrors the spec's DisasterRecoveryManager (API
// reference, "Disaster Recovery Manager").
//
//   * CreateRecoveryPoint(plan) runs a backup of the plan's sources with its strategy through a
//     BackupEngine (the repository engine of src/backup in production) and records what it
//     measured. The spec's form with a size and a location registers an artifact another tool
//     made: it must exist with that size, and is hashed (SHA-256) and recorded.
//   * Retention runs after every backup: points older than the plan's retention_days, and the
//     oldest beyond max_recovery_points (over all plans), are deleted, never a plan's newest
//     complete point. The engine frees data no remaining point uses.
//   * TestRecovery(plan) restores the newest point into a scratch directory, verifies every
//     file's content, and reports the restore time against the RTO and the point's age against
//     the RPO. Results are kept (GetTestResults) and summarised in GetRecoveryStats.
//   * Points persist in each plan's repository: creating a plan adopts the points its repository
//     already holds for it (a restarted daemon keeps its history). Registered external
//     artifacts are remembered in memory only.
//   * Secondary region (issue 6): a plan with a `secondary_repository` has its points copied
//     there after every successful backup (only the chunks the secondary lacks travel). A failed
//     copy does not fail the backup: it is recorded, and the next copy sends everything still
//     missing. Restores read the primary and fall back to the secondary when the primary is
//     unreachable or gone; retention deletes in both regions.
//
// Thread-safe. Backups, copies, restores and tests run outside the manager's lock; one backup per
// plan at a time (a second concurrent one is FailedPrecondition), one copy per plan at a time (a
// second one waits for the first). UpdatePlan and RemovePlan refuse while any of them runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::scaling {

enum class BackupStrategy { kFull, kIncremental, kDifferential };
[[nodiscard]] std::string_view ToString(BackupStrategy strategy);  // "full", ...
[[nodiscard]] Result<BackupStrategy> ParseBackupStrategy(std::string_view text);

// Which of a plan's two repositories: the primary region's or the secondary region's copy.
enum class RepositoryRole { kPrimary, kSecondary };
[[nodiscard]] std::string_view ToString(RepositoryRole role);  // "primary", "secondary"
[[nodiscard]] Result<RepositoryRole> ParseRepositoryRole(std::string_view text);

// Where a restore reads: kAuto is the primary, falling back to the secondary when the primary
// is unreachable or gone (never when a point is corrupted: that is not an outage).
enum class RecoverySource { kAuto, kPrimary, kSecondary };
[[nodiscard]] std::string_view ToString(RecoverySource source);  // "auto", "primary", ...
[[nodiscard]] Result<RecoverySource> ParseRecoverySource(std::string_view text);

struct DisasterRecoveryPlan {
  std::string id;
  std::string name;
  BackupStrategy strategy = BackupStrategy::kIncremental;
  std::chrono::seconds backup_interval{24 * 3600};
  int retention_days = 30;        // at least 1
  std::chrono::minutes rpo{60};   // recovery point objective: newest point at most this old
  std::chrono::minutes rto{120};  // recovery time objective: a restore takes at most this
  std::string primary_region;
  std::string secondary_region;
  std::vector<std::string> sources;   // directories or files to back up; each must exist
  std::vector<std::string> excludes;  // stored entry paths to skip ("data/cache")
  std::string repository;  // where the plan's repository lives (a directory or s3://bucket/prefix)
  // The secondary region's copy of the repository ("" : no copies). Same forms as `repository`;
  // must differ from it and needs a secondary_region.
  std::string secondary_repository;
  bool active = true;
};

struct RecoveryPoint {
  std::string id;
  std::string plan_id;
  BackupStrategy strategy = BackupStrategy::kFull;  // as performed
  WallTime created_at{};
  std::uint64_t logical_size = 0;  // bytes of data the point holds
  std::uint64_t stored_size = 0;   // bytes it added to the repository (after dedup, compression)
  std::string location;            // repository (or artifact) it lives in
  std::uint64_t file_count = 0;
  std::string status = "complete";  // "complete", or "external" for a registered artifact
  std::string parent;               // the point unchanged files came from ("" for full)
  std::string sha256;               // external artifacts only
  bool in_primary = true;           // in the primary repository's catalog
  bool in_secondary = false;        // in the secondary's catalog (copied)
};

struct RestoreReport {
  std::string point_id;
  std::string target;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  std::chrono::milliseconds duration{0};
  RepositoryRole read_from = RepositoryRole::kPrimary;  // the repository the restore read
  std::string region;           // its region (the plan's primary_region or secondary_region)
  std::string fallback_reason;  // why the secondary was read under kAuto; "" otherwise
};

// What one copy to a plan's secondary repository sent.
struct CopyReport {
  std::string plan_id;
  std::vector<std::string> points_copied;  // added to the secondary's catalog
  std::uint64_t chunks_sent = 0;
  std::uint64_t chunks_present = 0;  // the secondary had them already (dedup)
  std::uint64_t bytes_sent = 0;      // stored (compressed) chunk bytes written there
  std::chrono::milliseconds duration{0};
  WallTime finished_at{};
};

struct RecoveryTestResult {
  std::string plan_id;
  std::string point_id;                              // "" when the plan had no point to test
  RepositoryRole region = RepositoryRole::kPrimary;  // the repository restored from
  WallTime tested_at{};
  bool passed = false;  // restored and every file verified
  std::string message;  // why not, or a summary
  std::uint64_t files_verified = 0;
  std::uint64_t bytes_verified = 0;
  std::chrono::milliseconds restore_time{0};
  std::chrono::minutes rto{0};
  bool rto_met = false;
  std::chrono::seconds point_age{0};
  std::chrono::minutes rpo{0};
  bool rpo_met = false;
};

struct RecoveryStats {
  std::size_t plans = 0;
  std::size_t active_plans = 0;
  std::size_t recovery_points = 0;
  std::uint64_t total_backup_size = 0;  // stored bytes over all points
  std::uint64_t backups_succeeded = 0;
  std::uint64_t backups_failed = 0;
  std::uint64_t points_deleted_by_retention = 0;
  std::uint64_t tests_run = 0;
  std::uint64_t tests_passed = 0;
  std::uint64_t copies_succeeded = 0;
  std::uint64_t copies_failed = 0;
  // One of a plan's repositories, measured against the plan's RPO.
  struct Region {
    RepositoryRole role = RepositoryRole::kPrimary;
    std::string region;      // the plan's region name ("" when not set)
    std::string repository;  // location
    std::size_t points = 0;  // recovery points it holds
    std::optional<WallTime> newest_point;
    std::optional<std::chrono::seconds> newest_point_age;
    bool rpo_met = false;  // its newest point is younger than the RPO
  };
  struct PerPlan {
    std::string plan_id;
    std::optional<WallTime> last_backup;  // newest point
    std::optional<std::chrono::seconds> newest_point_age;
    bool rpo_met = false;  // newest point younger than the RPO
    std::optional<RecoveryTestResult> last_test;
    Region primary;
    std::optional<Region> secondary;  // plans with a secondary_repository only
    // The last copy to the secondary: what it sent when it succeeded, the error when not.
    std::optional<CopyReport> last_copy;  // the last successful copy
    std::optional<WallTime> last_copy_attempt;
    std::string last_copy_error;  // "" when the last attempt succeeded
    std::uint64_t copies_succeeded = 0;
    std::uint64_t copies_failed = 0;
  };
  std::vector<PerPlan> per_plan;  // sorted by plan id
};

// The I/O behind the manager: a backup engine over the plans' repositories.
class BackupEngine {
 public:
  virtual ~BackupEngine() = default;

  struct BackupOutcome {
    std::string point_id;
    BackupStrategy performed = BackupStrategy::kFull;
    WallTime created_at{};
    std::uint64_t logical_bytes = 0;
    std::uint64_t stored_bytes = 0;
    std::uint64_t file_count = 0;
    std::string parent;
  };
  struct VerifyOutcome {
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
    std::vector<std::string> mismatches;
  };

  // Backups always go to the primary repository.
  [[nodiscard]] virtual Result<BackupOutcome> Backup(const DisasterRecoveryPlan& plan) = 0;
  // The plan's points the repository holds, oldest first (none when there is no repository
  // there yet). kSecondary on a plan without a secondary_repository is FailedPrecondition.
  [[nodiscard]] virtual Result<std::vector<BackupOutcome>> ListPoints(
      const DisasterRecoveryPlan& plan, RepositoryRole role) = 0;
  // The report's `read_from` is `role`; the manager fills region and fallback_reason.
  [[nodiscard]] virtual Result<RestoreReport> Restore(const DisasterRecoveryPlan& plan,
                                                      RepositoryRole role,
                                                      const std::string& point_id,
                                                      const std::string& target) = 0;
  [[nodiscard]] virtual Result<VerifyOutcome> Verify(const DisasterRecoveryPlan& plan,
                                                     RepositoryRole role,
                                                     const std::string& point_id,
                                                     const std::string& directory) = 0;
  // Removes the points from that repository and frees the data no other point uses.
  [[nodiscard]] virtual Status DeletePoints(const DisasterRecoveryPlan& plan, RepositoryRole role,
                                            const std::vector<std::string>& point_ids) = 0;
  // Copies every point of the plan the secondary lacks from the primary, sending only missing
  // chunks (the secondary is created as a mirror of the primary on the first copy). Fills every
  // field but plan_id and finished_at.
  [[nodiscard]] virtual Result<CopyReport> CopyToSecondary(const DisasterRecoveryPlan& plan) = 0;
};

// Errors that mean "this repository cannot be read right now or is gone" (kUnavailable,
// kTimeout, kIo, kNotFound), as opposed to bad data (kCorrupted) or a bad request: InitiateRecovery
// falls back to the secondary on these only.
[[nodiscard]] bool IsRepositoryOutage(const Error& error);

// The engine on StreamGate's repositories (src/backup). An encrypted repository is opened with
// the passphrase from STREAMGATE_REPO_PASSWORD; new repositories are created unencrypted. The
// secondary is opened (or created) with Repository::OpenOrCreateMirror and filled by CopyTo.
[[nodiscard]] std::shared_ptr<BackupEngine> MakeRepositoryBackupEngine(const Clock& clock);

struct DisasterRecoveryDependencies {
  std::shared_ptr<BackupEngine> engine;  // required
  const Clock* clock = nullptr;          // null: RealClock(); must outlive the manager
  std::string scratch_directory;         // for TestRecovery; "": the system temp directory
};

class DisasterRecoveryManager {
 public:
  // Spec form: the repository engine, the real clock. max_recovery_points >= 1.
  explicit DisasterRecoveryManager(std::size_t max_recovery_points);
  DisasterRecoveryManager(std::size_t max_recovery_points, DisasterRecoveryDependencies deps);
  ~DisasterRecoveryManager();
  DisasterRecoveryManager(const DisasterRecoveryManager&) = delete;
  DisasterRecoveryManager& operator=(const DisasterRecoveryManager&) = delete;

  // Plans. CreatePlan errors: InvalidArgument (empty id, repository or sources, a source that
  // does not exist, interval/RPO/RTO not positive, retention_days < 1, a secondary_repository
  // equal to the repository or without a secondary_region), AlreadyExists. A plan with a
  // secondary adopts the points of both repositories; when the primary cannot be read then
  // (an outage), the plan is still created from the secondary's points, with a warning.
  [[nodiscard]] Status CreatePlan(DisasterRecoveryPlan plan);
  [[nodiscard]] Result<DisasterRecoveryPlan> GetPlan(std::string_view plan_id) const;
  [[nodiscard]] std::vector<DisasterRecoveryPlan> ListPlans() const;  // by id
  [[nodiscard]] Status ActivatePlan(std::string_view plan_id);
  [[nodiscard]] Status DeactivatePlan(std::string_view plan_id);
  // Replaces a plan's settings (config reload), validated as CreatePlan does; its points, test
  // results and backup/copy history stay. When `repository` or `secondary_repository` changed,
  // the points are adopted from the new repositories exactly as CreatePlan does (registered
  // artifacts stay; a new secondary also starts a fresh copy history), and while that reads
  // them no backup, copy or point deletion of the plan starts (FailedPrecondition). Errors:
  // InvalidArgument, NotFound, FailedPrecondition while a backup, copy, restore, test or point
  // deletion of the plan runs (it does not wait: retry later), or the adoption's error (the
  // plan is then unchanged).
  [[nodiscard]] Status UpdatePlan(DisasterRecoveryPlan plan);
  // Forgets the plan and its points, in memory only: the repositories keep them, and a later
  // CreatePlan on the same repository adopts them again. Errors: NotFound, FailedPrecondition
  // while an operation of the plan runs (as UpdatePlan).
  [[nodiscard]] Status RemovePlan(std::string_view plan_id);

  // Runs a backup now (active or not), then retention, then (with a secondary) a copy to the
  // secondary, whose failure is recorded but does not fail the backup.
  [[nodiscard]] Result<RecoveryPoint> CreateRecoveryPoint(std::string_view plan_id);
  // Spec form: registers an artifact made elsewhere. `location` must be an existing regular
  // file of exactly `size` bytes; kCorrupted when the size differs.
  [[nodiscard]] Result<RecoveryPoint> CreateRecoveryPoint(std::string_view plan_id,
                                                          std::uint64_t size,
                                                          std::string_view location);
  [[nodiscard]] Result<RecoveryPoint> GetRecoveryPoint(std::string_view point_id) const;
  [[nodiscard]] std::vector<RecoveryPoint> ListRecoveryPoints(std::string_view plan_id) const;
  [[nodiscard]] Status DeleteRecoveryPoint(std::string_view point_id);

  // Copies the plan's points the secondary lacks now. NotFound (plan), FailedPrecondition (no
  // secondary_repository), or the engine's error (also recorded in the plan's figures).
  [[nodiscard]] Result<CopyReport> CopyToSecondary(std::string_view plan_id);
  // True for an active plan with a secondary whose newest point is not there yet (a copy failed,
  // or points came from before a restart) and no backup is running.
  [[nodiscard]] bool ShouldCopy(std::string_view plan_id) const;

  // Restores the point into `target` (created if missing; existing files are replaced), from
  // `source` (see RecoverySource; the report says which repository was read and why).
  // FailedPrecondition when kSecondary is asked of a plan without one, or of an external artifact.
  [[nodiscard]] Result<RestoreReport> InitiateRecovery(std::string_view point_id,
                                                       std::string_view target,
                                                       RecoverySource source);
  [[nodiscard]] Result<RestoreReport> InitiateRecovery(std::string_view point_id,
                                                       std::string_view target);  // kAuto
  // Restores the newest point `region` holds into scratch space and verifies it. A result
  // (passed or not) when a test ran; an error for an unknown plan, or FailedPrecondition for
  // kSecondary on a plan without one.
  [[nodiscard]] Result<RecoveryTestResult> TestRecovery(std::string_view plan_id,
                                                        RepositoryRole region);
  [[nodiscard]] Result<RecoveryTestResult> TestRecovery(std::string_view plan_id);  // primary
  [[nodiscard]] std::vector<RecoveryTestResult> GetTestResults(std::string_view plan_id) const;
  // True for an active plan whose newest complete point is older than its interval or its
  // RPO, or that has none. False for unknown or inactive plans.
  [[nodiscard]] bool ShouldBackup(std::string_view plan_id) const;

  // Statistics.
  [[nodiscard]] std::size_t GetRecoveryPointCount() const;
  [[nodiscard]] std::size_t GetPlanCount() const;
  [[nodiscard]] std::uint64_t GetTotalBackupSize() const;
  [[nodiscard]] RecoveryStats GetRecoveryStats() const;

 private:
  struct PlanState;
  // Checks a plan as CreatePlan and UpdatePlan require (and names it after its id if unnamed).
  [[nodiscard]] static Status ValidatePlan(DisasterRecoveryPlan& plan);
  // The points the plan's repositories hold (engine I/O; call without mu_).
  [[nodiscard]] Result<std::vector<RecoveryPoint>> AdoptPoints(const DisasterRecoveryPlan& plan);
  [[nodiscard]] const PlanState* FindPlan(std::string_view plan_id) const;
  [[nodiscard]] const RecoveryPoint* FindPoint(std::string_view point_id,
                                               const PlanState** owner) const;
  void ApplyRetention(std::unique_lock<std::mutex>& lock);
  [[nodiscard]] static RecoveryPoint ToPoint(const DisasterRecoveryPlan& plan,
                                             const BackupEngine::BackupOutcome& outcome);
  // Runs a copy of `plan` and records its outcome; takes the plan's copy mutex, not mu_.
  [[nodiscard]] Result<CopyReport> RunCopy(PlanState& state, const DisasterRecoveryPlan& plan);

  std::size_t max_recovery_points_;
  std::shared_ptr<BackupEngine> engine_;
  const Clock& clock_;
  std::string scratch_directory_;

  mutable std::mutex mu_;
  // Shared: an operation running outside mu_ holds its plan's state (RemovePlan may drop it).
  std::unordered_map<std::string, std::shared_ptr<PlanState>> plans_;
  std::uint64_t backups_succeeded_ = 0;
  std::uint64_t backups_failed_ = 0;
  std::uint64_t retention_deleted_ = 0;
  std::uint64_t tests_run_ = 0;
  std::uint64_t tests_passed_ = 0;
  std::uint64_t copies_succeeded_ = 0;
  std::uint64_t copies_failed_ = 0;
  std::uint64_t external_counter_ = 0;
};

}  // namespace streamgate::scaling
