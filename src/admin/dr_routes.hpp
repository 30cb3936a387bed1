// Admin API for the DisasterRecoveryManager: /api/v1/dr routes, JSON forms of plans, recovery
// points and recovery tests, and the disaster-recovery families of /metrics.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "admin/router.hpp"
#include "metrics/prometheus.hpp"
#include "streamgate/scaling/disaster_recovery.hpp"

namespace streamgate::admin {

// GET|POST /api/v1/dr/plans, GET /api/v1/dr/plans/{id} (with its live figures under "status"),
// POST /api/v1/dr/plans/{id}/activate and /deactivate, POST /api/v1/dr/plans/{id}/backup (runs a
// backup now, and the copy to the secondary; 201 with the point), POST /api/v1/dr/plans/{id}/copy
// (copies to the secondary now; 200 with what was sent), GET /api/v1/dr/plans/{id}/recovery-points,
// POST /api/v1/dr/plans/{id}/test (optional body {"region": "primary"|"secondary"}),
// GET|DELETE /api/v1/dr/recovery-points/{id}, POST /api/v1/dr/recovery-points/{id}/restore
// {"target": dir, optionally "source": "auto"|"primary"|"secondary"}, GET /api/v1/dr/stats.
// POST plans takes {"id", "sources", "repository", and optionally "name", "strategy",
// "backup_interval" ("24h"), "retention_days", "rpo_minutes", "rto_minutes", "primary_region",
// "secondary_region", "secondary_repository", "excludes", "active"}. Backups, copies, restores
// and tests run on the admin thread that received the request and answer when done.
// With `manager` null every route answers 404 "disaster recovery not configured".
[[nodiscard]] std::vector<Route> DisasterRecoveryRoutes(scaling::DisasterRecoveryManager* manager);

[[nodiscard]] nlohmann::json PlanToJson(const scaling::DisasterRecoveryPlan& plan);
[[nodiscard]] nlohmann::json RecoveryPointToJson(const scaling::RecoveryPoint& point);
[[nodiscard]] nlohmann::json RecoveryTestToJson(const scaling::RecoveryTestResult& result);
[[nodiscard]] nlohmann::json RecoveryStatsToJson(const scaling::RecoveryStats& stats);
[[nodiscard]] nlohmann::json CopyReportToJson(const scaling::CopyReport& report);
// One plan's figures: newest point and RPO per region, last copy and last test.
[[nodiscard]] nlohmann::json PlanStatusToJson(const scaling::RecoveryStats::PerPlan& plan);

// Manager-wide and per-plan (label plan="<id>") families:
//   streamgate_dr_plans, streamgate_dr_recovery_points, streamgate_dr_backup_bytes   gauge
//   streamgate_dr_backups_total{result="success|failure"}                          counter
//   streamgate_dr_last_backup_timestamp_seconds, streamgate_dr_point_age_seconds,
//   streamgate_dr_rpo_seconds, streamgate_dr_rpo_met                                gauge
//   streamgate_dr_last_test_passed, streamgate_dr_last_restore_seconds,
//   streamgate_dr_rto_seconds, streamgate_dr_rto_met                                gauge
// Secondary regions:
//   streamgate_dr_copies_total{result="success|failure"}                           counter
//   streamgate_dr_region_recovery_points, streamgate_dr_region_point_age_seconds,
//   streamgate_dr_region_rpo_met    {plan, role="primary|secondary", region}        gauge
//   streamgate_dr_last_copy_timestamp_seconds, streamgate_dr_last_copy_bytes,
//   streamgate_dr_last_copy_chunks, streamgate_dr_last_copy_duration_seconds,
//   streamgate_dr_last_copy_failed  {plan} (plans with a secondary)                gauge
void WriteDisasterRecoveryMetrics(const scaling::DisasterRecoveryManager& manager,
                                  metrics::PrometheusWriter& out);

}  // namespace streamgate::admin
