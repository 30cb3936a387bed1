#include "admin/dr_routes.hpp"

#include <chrono>
#include <string>
#include <string_view>

#include "admin/json_http.hpp"
#include "streamgate/common/units.hpp"

namespace streamgate::admin {
namespace {

using scaling::DisasterRecoveryManager;
using scaling::DisasterRecoveryPlan;

double SecondsOf(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

net::HttpResponse PlanResponse(const DisasterRecoveryManager& manager, std::string_view id,
                               int status = 200) {
  auto plan = manager.GetPlan(id);
  if (!plan) return ErrorResponse(plan.error());
  return JsonResponse(status, PlanToJson(*plan));
}

net::HttpResponse CreatePlan(DisasterRecoveryManager& manager, const net::HttpRequest& request) {
  auto body = ParseJsonObject(request.body);
  if (!body) return ErrorResponse(body.error());
  DisasterRecoveryPlan plan;
  std::string strategy = std::string(ToString(plan.strategy));
  std::string interval;
  int rpo = static_cast<int>(plan.rpo.count());
  int rto = static_cast<int>(plan.rto.count());
  JsonObjectReader in(*body);
  in.String("id", plan.id);
  in.StringList("sources", plan.sources);
  in.String("repository", plan.repository);
  in.String("name", plan.name, JsonObjectReader::kOptional);
  in.String("strategy", strategy, JsonObjectReader::kOptional);
  in.String("backup_interval", interval, JsonObjectReader::kOptional);
  in.Int("retention_days", plan.retention_days, JsonObjectReader::kOptional);
  in.Int("rpo_minutes", rpo, JsonObjectReader::kOptional);
  in.Int("rto_minutes", rto, JsonObjectReader::kOptional);
  in.String("primary_region", plan.primary_region, JsonObjectReader::kOptional);
  in.String("secondary_region", plan.secondary_region, JsonObjectReader::kOptional);
  in.StringList("excludes", plan.excludes, JsonObjectReader::kOptional);
  in.Bool("active", plan.active, JsonObjectReader::kOptional);
  if (Status status = in.Finish(); !status) return ErrorResponse(status.error());
  auto parsed_strategy = scaling::ParseBackupStrategy(strategy);
  if (!parsed_strategy) return ErrorResponse(parsed_strategy.error());
  plan.strategy = *parsed_strategy;
  if (!interval.empty()) {
    auto duration = ParseDuration(interval);
    if (!duration) {
      return ErrorResponse(400, ToString(ErrorCode::kInvalidArgument),
                           "backup_interval: " + duration.error().message());
    }
    plan.backup_interval = std::chrono::duration_cast<std::chrono::seconds>(*duration);
  }
  plan.rpo = std::chrono::minutes(rpo);
  plan.rto = std::chrono::minutes(rto);
  const std::string id = plan.id;
  if (Status created = manager.CreatePlan(std::move(plan)); !created) {
    return ErrorResponse(created.error());
  }
  net::HttpResponse response = PlanResponse(manager, id, 201);
  response.headers.emplace_back("Location", "/api/v1/dr/plans/" + id);
  return response;
}

net::HttpResponse PointsOf(const DisasterRecoveryManager& manager, std::string_view plan_id) {
  if (auto plan = manager.GetPlan(plan_id); !plan) return ErrorResponse(plan.error());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& point : manager.ListRecoveryPoints(plan_id)) {
    out.push_back(RecoveryPointToJson(point));
  }
  return JsonResponse(200, out);
}

net::HttpResponse Restore(DisasterRecoveryManager& manager, const net::HttpRequest& request,
                          std::string_view point_id) {
  auto body = ParseJsonObject(request.body);
  if (!body) return ErrorResponse(body.error());
  std::string target;
  JsonObjectReader in(*body);
  in.String("target", target);
  if (Status status = in.Finish(); !status) return ErrorResponse(status.error());
  auto report = manager.InitiateRecovery(point_id, target);
  if (!report) return ErrorResponse(report.error());
  return JsonResponse(200, {{"point_id", report->point_id},
                            {"target", report->target},
                            {"files", report->files},
                            {"bytes", report->bytes},
                            {"duration_ms", report->duration.count()}});
}

std::vector<Route> ConfiguredRoutes(DisasterRecoveryManager* m) {
  return {
      {"GET", "/api/v1/dr/plans",
       [m](const net::HttpRequest&, const PathParams&) {
         nlohmann::json out = nlohmann::json::array();
         for (const auto& plan : m->ListPlans()) out.push_back(PlanToJson(plan));
         return JsonResponse(200, out);
       }},
      {"POST", "/api/v1/dr/plans",
       [m](const net::HttpRequest& request, const PathParams&) { return CreatePlan(*m, request); }},
      {"POST", "/api/v1/dr/plans/{id}/activate",
       [m](const net::HttpRequest&, const PathParams& params) {
         if (Status s = m->ActivatePlan(params.Get("id")); !s) return ErrorResponse(s.error());
         return PlanResponse(*m, params.Get("id"));
       }},
      {"POST", "/api/v1/dr/plans/{id}/deactivate",
       [m](const net::HttpRequest&, const PathParams& params) {
         if (Status s = m->DeactivatePlan(params.Get("id")); !s) return ErrorResponse(s.error());
         return PlanResponse(*m, params.Get("id"));
       }},
      {"POST", "/api/v1/dr/plans/{id}/backup",
       [m](const net::HttpRequest&, const PathParams& params) {
         auto point = m->CreateRecoveryPoint(params.Get("id"));
         if (!point) return ErrorResponse(point.error());
         return JsonResponse(201, RecoveryPointToJson(*point));
       }},
      {"GET", "/api/v1/dr/plans/{id}/recovery-points",
       [m](const net::HttpRequest&, const PathParams& params) {
         return PointsOf(*m, params.Get("id"));
       }},
      {"POST", "/api/v1/dr/plans/{id}/test",
       [m](const net::HttpRequest&, const PathParams& params) {
         auto result = m->TestRecovery(params.Get("id"));
         if (!result) return ErrorResponse(result.error());
         return JsonResponse(200, RecoveryTestToJson(*result));
       }},
      {"GET", "/api/v1/dr/plans/{id}",
       [m](const net::HttpRequest&, const PathParams& params) {
         return PlanResponse(*m, params.Get("id"));
       }},
      {"POST", "/api/v1/dr/recovery-points/{id}/restore",
       [m](const net::HttpRequest& request, const PathParams& params) {
         return Restore(*m, request, params.Get("id"));
       }},
      {"GET", "/api/v1/dr/recovery-points/{id}",
       [m](const net::HttpRequest&, const PathParams& params) {
         auto point = m->GetRecoveryPoint(params.Get("id"));
         if (!point) return ErrorResponse(point.error());
         return JsonResponse(200, RecoveryPointToJson(*point));
       }},
      {"DELETE", "/api/v1/dr/recovery-points/{id}",
       [m](const net::HttpRequest&, const PathParams& params) {
         if (Status s = m->DeleteRecoveryPoint(params.Get("id")); !s) {
           return ErrorResponse(s.error());
         }
         net::HttpResponse response;
         response.status = 204;
         response.content_type.clear();
         return response;
       }},
      {"GET", "/api/v1/dr/stats",
       [m](const net::HttpRequest&, const PathParams&) {
         return JsonResponse(200, RecoveryStatsToJson(m->GetRecoveryStats()));
       }},
  };
}

}  // namespace

std::vector<Route> DisasterRecoveryRoutes(DisasterRecoveryManager* manager) {
  std::vector<Route> routes = ConfiguredRoutes(manager);
  if (manager == nullptr) {
    for (Route& route : routes) {
      route.handler = [](const net::HttpRequest&, const PathParams&) {
        return ErrorResponse(404, ToString(ErrorCode::kNotFound),
                             "disaster recovery not configured");
      };
    }
  }
  return routes;
}

nlohmann::json PlanToJson(const DisasterRecoveryPlan& plan) {
  return {{"id", plan.id},
          {"name", plan.name},
          {"strategy", ToString(plan.strategy)},
          {"backup_interval_seconds", plan.backup_interval.count()},
          {"retention_days", plan.retention_days},
          {"rpo_minutes", plan.rpo.count()},
          {"rto_minutes", plan.rto.count()},
          {"primary_region", plan.primary_region},
          {"secondary_region", plan.secondary_region},
          {"sources", plan.sources},
          {"excludes", plan.excludes},
          {"repository", plan.repository},
          {"active", plan.active}};
}

nlohmann::json RecoveryPointToJson(const scaling::RecoveryPoint& point) {
  nlohmann::json out = {{"id", point.id},
                        {"plan_id", point.plan_id},
                        {"strategy", ToString(point.strategy)},
                        {"created_at", FormatRfc3339(point.created_at)},
                        {"logical_size", point.logical_size},
                        {"stored_size", point.stored_size},
                        {"location", point.location},
                        {"file_count", point.file_count},
                        {"status", point.status},
                        {"parent", point.parent}};
  if (!point.sha256.empty()) out["sha256"] = point.sha256;
  return out;
}

nlohmann::json RecoveryTestToJson(const scaling::RecoveryTestResult& r) {
  return {{"plan_id", r.plan_id},
          {"point_id", r.point_id},
          {"tested_at", FormatRfc3339(r.tested_at)},
          {"passed", r.passed},
          {"message", r.message},
          {"files_verified", r.files_verified},
          {"bytes_verified", r.bytes_verified},
          {"restore_time_ms", r.restore_time.count()},
          {"rto_minutes", r.rto.count()},
          {"rto_met", r.rto_met},
          {"point_age_seconds", r.point_age.count()},
          {"rpo_minutes", r.rpo.count()},
          {"rpo_met", r.rpo_met}};
}

nlohmann::json RecoveryStatsToJson(const scaling::RecoveryStats& stats) {
  nlohmann::json plans = nlohmann::json::array();
  for (const auto& p : stats.per_plan) {
    nlohmann::json entry = {{"plan_id", p.plan_id},
                            {"last_backup", Rfc3339OrNull(p.last_backup)},
                            {"rpo_met", p.rpo_met}};
    entry["newest_point_age_seconds"] =
        p.newest_point_age ? nlohmann::json(p.newest_point_age->count()) : nlohmann::json();
    entry["last_test"] = p.last_test ? RecoveryTestToJson(*p.last_test) : nlohmann::json();
    plans.push_back(std::move(entry));
  }
  return {{"plans", stats.plans},
          {"active_plans", stats.active_plans},
          {"recovery_points", stats.recovery_points},
          {"total_backup_size", stats.total_backup_size},
          {"backups_succeeded", stats.backups_succeeded},
          {"backups_failed", stats.backups_failed},
          {"points_deleted_by_retention", stats.points_deleted_by_retention},
          {"tests_run", stats.tests_run},
          {"tests_passed", stats.tests_passed},
          {"per_plan", plans}};
}

void WriteDisasterRecoveryMetrics(const DisasterRecoveryManager& manager,
                                  metrics::PrometheusWriter& out) {
  using metrics::MetricType;
  const scaling::RecoveryStats stats = manager.GetRecoveryStats();
  out.Family("streamgate_dr_plans", "Disaster recovery plans.", MetricType::kGauge);
  out.Sample("streamgate_dr_plans", {}, stats.plans);
  out.Family("streamgate_dr_recovery_points", "Recovery points held.", MetricType::kGauge);
  out.Sample("streamgate_dr_recovery_points", {}, stats.recovery_points);
  out.Family("streamgate_dr_backup_bytes", "Bytes the recovery points store.", MetricType::kGauge);
  out.Sample("streamgate_dr_backup_bytes", {}, stats.total_backup_size);
  out.Family("streamgate_dr_backups_total", "Backups run, by result.", MetricType::kCounter);
  out.Sample("streamgate_dr_backups_total", {{"result", "success"}}, stats.backups_succeeded);
  out.Sample("streamgate_dr_backups_total", {{"result", "failure"}}, stats.backups_failed);
  out.Family("streamgate_dr_last_backup_timestamp_seconds",
             "Unix time of the plan's newest recovery point.", MetricType::kGauge);
  out.Family("streamgate_dr_point_age_seconds", "Age of the plan's newest recovery point.",
             MetricType::kGauge);
  out.Family("streamgate_dr_rpo_seconds", "The plan's recovery point objective.",
             MetricType::kGauge);
  out.Family("streamgate_dr_rpo_met", "1 while the newest point is younger than the RPO.",
             MetricType::kGauge);
  out.Family("streamgate_dr_last_test_passed", "1 if the last recovery test passed.",
             MetricType::kGauge);
  out.Family("streamgate_dr_last_restore_seconds", "Restore time of the last recovery test.",
             MetricType::kGauge);
  out.Family("streamgate_dr_rto_seconds", "The plan's recovery time objective.",
             MetricType::kGauge);
  out.Family("streamgate_dr_rto_met", "1 if the last recovery test restored within the RTO.",
             MetricType::kGauge);
  for (const auto& p : stats.per_plan) {
    // A vector, not a braced Labels: the array behind a braced list would not outlive this line.
    const std::vector<metrics::Label> labels = {{"plan", p.plan_id}};
    auto plan = manager.GetPlan(p.plan_id);
    if (p.last_backup) {
      out.Sample("streamgate_dr_last_backup_timestamp_seconds", labels,
                 SecondsOf(p.last_backup->time_since_epoch()));
      out.Sample("streamgate_dr_point_age_seconds", labels, p.newest_point_age->count());
    }
    if (plan) {
      out.Sample("streamgate_dr_rpo_seconds", labels,
                 std::chrono::duration_cast<std::chrono::seconds>(plan->rpo).count());
      out.Sample("streamgate_dr_rto_seconds", labels,
                 std::chrono::duration_cast<std::chrono::seconds>(plan->rto).count());
    }
    out.Sample("streamgate_dr_rpo_met", labels, p.rpo_met ? 1 : 0);
    if (p.last_test) {
      out.Sample("streamgate_dr_last_test_passed", labels, p.last_test->passed ? 1 : 0);
      out.Sample("streamgate_dr_last_restore_seconds", labels,
                 SecondsOf(p.last_test->restore_time));
      out.Sample("streamgate_dr_rto_met", labels, p.last_test->rto_met ? 1 : 0);
    }
  }
}

}  // namespace streamgate::admin
