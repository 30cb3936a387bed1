// The fake of the DisasterRecoveryManager's BackupEngine, shared by the scaling, admin and daemon
// tests: two in-memory "repositories" (primary and secondary) per plan, failures injected per
// call kind and region, and every call recorded. Thread-safe (the daemon's scheduler thread and
// the test call it at once).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "streamgate/common/clock.hpp"
#include "streamgate/scaling/disaster_recovery.hpp"

namespace streamgate::testing {

class FakeBackupEngine final : public scaling::BackupEngine {
 public:
  using Role = scaling::RepositoryRole;

  // Points get ids p1, p2, ... and the clock's wall time; each holds `files_per_point` files,
  // 1000 bytes, 100 stored.
  explicit FakeBackupEngine(const Clock& clock, std::uint64_t files_per_point = 3)
      : clock_(clock), files_per_point_(files_per_point) {}

  Result<BackupOutcome> Backup(const scaling::DisasterRecoveryPlan& plan) override {
    std::lock_guard lock(mu_);
    ++backups_;  // attempts, failed ones included
    if (backup_error_) return std::unexpected(*backup_error_);
    BackupOutcome outcome;
    outcome.point_id = "p" + std::to_string(++next_id_);
    outcome.performed = plan.strategy;
    outcome.created_at = clock_.WallNow();
    outcome.logical_bytes = 1000;
    outcome.stored_bytes = 100;
    outcome.file_count = files_per_point_;
    Points(plan.id, Role::kPrimary).push_back(outcome);
    return outcome;
  }

  Result<std::vector<BackupOutcome>> ListPoints(const scaling::DisasterRecoveryPlan& plan,
                                                Role role) override {
    std::lock_guard lock(mu_);
    if (auto error = Injected(list_errors_, role)) return std::unexpected(*error);
    return Points(plan.id, role);
  }

  Result<scaling::RestoreReport> Restore(const scaling::DisasterRecoveryPlan& plan, Role role,
                                         const std::string& point_id,
                                         const std::string& target) override {
    std::lock_guard lock(mu_);
    restores_.push_back(std::string(scaling::ToString(role)) + ":" + point_id + "->" + target);
    if (auto error = Injected(restore_errors_, role)) return std::unexpected(*error);
    const auto& points = Points(plan.id, role);
    if (std::none_of(points.begin(), points.end(),
                     [&](const BackupOutcome& o) { return o.point_id == point_id; })) {
      return NotFound("no point " + point_id + " in the " + std::string(scaling::ToString(role)) +
                      " repository");
    }
    std::error_code ec;
    std::filesystem::create_directories(target, ec);
    scaling::RestoreReport report;
    report.point_id = point_id;
    report.target = target;
    report.files = files_per_point_;
    report.bytes = 1000;
    report.duration = std::chrono::milliseconds(5);
    report.read_from = role;
    return report;
  }

  Result<VerifyOutcome> Verify(const scaling::DisasterRecoveryPlan&, Role role, const std::string&,
                               const std::string&) override {
    std::lock_guard lock(mu_);
    verified_.push_back(role);
    VerifyOutcome outcome{files_per_point_, 1000, {}};
    if (verify_mismatch_) outcome.mismatches.push_back("data/a: content differs");
    return outcome;
  }

  Status DeletePoints(const scaling::DisasterRecoveryPlan& plan, Role role,
                      const std::vector<std::string>& ids) override {
    std::lock_guard lock(mu_);
    for (const std::string& id : ids) {
      deleted_[role].push_back(id);
      std::erase_if(Points(plan.id, role),
                    [&](const BackupOutcome& o) { return o.point_id == id; });
    }
    return {};
  }

  // Copies the points the secondary lacks: 10 chunks of 10 bytes each per point sent.
  Result<scaling::CopyReport> CopyToSecondary(const scaling::DisasterRecoveryPlan& plan) override {
    std::lock_guard lock(mu_);
    ++copies_;
    if (plan.secondary_repository.empty()) return FailedPrecondition("no secondary");
    if (copy_error_) return std::unexpected(*copy_error_);
    scaling::CopyReport report;
    auto& secondary = Points(plan.id, Role::kSecondary);
    for (const BackupOutcome& point : Points(plan.id, Role::kPrimary)) {
      if (std::any_of(secondary.begin(), secondary.end(),
                      [&](const BackupOutcome& o) { return o.point_id == point.point_id; })) {
        continue;
      }
      secondary.push_back(point);
      report.points_copied.push_back(point.point_id);
      report.chunks_sent += 10;
      report.bytes_sent += point.stored_bytes;
    }
    std::sort(secondary.begin(), secondary.end(),
              [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
    report.duration = std::chrono::milliseconds(7);
    return report;
  }

  // ---- failures (nullopt: calls succeed again) ----
  void FailBackups(std::optional<Error> error) { Set(backup_error_, std::move(error)); }
  void FailCopies(std::optional<Error> error) { Set(copy_error_, std::move(error)); }
  void FailRestores(Role role, std::optional<Error> error) {
    std::lock_guard lock(mu_);
    restore_errors_[role] = std::move(error);
  }
  void FailListing(Role role, std::optional<Error> error) {
    std::lock_guard lock(mu_);
    list_errors_[role] = std::move(error);
  }
  void SetVerifyMismatch(bool mismatch) {
    std::lock_guard lock(mu_);
    verify_mismatch_ = mismatch;
  }
  // The region's repository loses everything (a wiped primary).
  void Wipe(const std::string& plan_id, Role role) {
    std::lock_guard lock(mu_);
    Points(plan_id, role).clear();
  }

  // ---- observations ----
  [[nodiscard]] int backups() const { return Get(backups_); }
  [[nodiscard]] int copies() const { return Get(copies_); }
  // "primary:p1->/target", in call order.
  [[nodiscard]] std::vector<std::string> restores() const { return Get(restores_); }
  [[nodiscard]] std::vector<Role> verified() const { return Get(verified_); }
  [[nodiscard]] std::vector<std::string> deleted(Role role) const {
    std::lock_guard lock(mu_);
    auto it = deleted_.find(role);
    return it == deleted_.end() ? std::vector<std::string>{} : it->second;
  }
  [[nodiscard]] std::vector<std::string> point_ids(const std::string& plan_id, Role role) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> ids;
    auto it = points_.find({plan_id, role});
    if (it != points_.end()) {
      for (const BackupOutcome& o : it->second) ids.push_back(o.point_id);
    }
    return ids;
  }

 private:
  std::vector<BackupOutcome>& Points(const std::string& plan_id, Role role) {
    return points_[{plan_id, role}];
  }
  static std::optional<Error> Injected(const std::map<Role, std::optional<Error>>& errors,
                                       Role role) {
    auto it = errors.find(role);
    return it == errors.end() ? std::nullopt : it->second;
  }
  template <typename T>
  void Set(T& field, T value) {
    std::lock_guard lock(mu_);
    field = std::move(value);
  }
  template <typename T>
  T Get(const T& field) const {
    std::lock_guard lock(mu_);
    return field;
  }

  const Clock& clock_;
  const std::uint64_t files_per_point_;
  mutable std::mutex mu_;
  int next_id_ = 0;
  int backups_ = 0;
  int copies_ = 0;
  std::optional<Error> backup_error_;
  std::optional<Error> copy_error_;
  std::map<Role, std::optional<Error>> restore_errors_;
  std::map<Role, std::optional<Error>> list_errors_;
  bool verify_mismatch_ = false;
  std::vector<std::string> restores_;
  std::vector<Role> verified_;
  std::map<Role, std::vector<std::string>> deleted_;
  std::map<std::pair<std::string, Role>, std::vector<BackupOutcome>> points_;
};

}  // namespace streamgate::testing
