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

// The plan, with its live figures (both regions, the last copy and test) under "status".
net::HttpResponse PlanResponse(const DisasterRecoveryManager& manager, std::string_view id,
                               int status = 200) {
  auto plan = manager.GetPlan(id);
  if (!plan) return ErrorResponse(plan.error());
  nlohmann::json out = PlanToJson(*plan);
  for (const auto& per_plan : manager.GetRecoveryStats().per_plan) {
    if (per_plan.plan_id == plan->id) out["status"] = PlanStatusToJson(per_plan);
  }
  return JsonResponse(status, out);
}

// A body that may be empty (all its fields optional): {} then.
Result<nlohmann::json> OptionalJsonObject(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return nlohmann::json::object();
  }
  return ParseJsonObject(body);
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
  in.String("secondary_repository", plan.secondary_repository, JsonObjectReader::kOptional);
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
  std::string source = "auto";
  JsonObjectReader in(*body);
  in.String("target", target);
  in.String("source", source, JsonObjectReader::kOptional);
  if (Status status = in.Finish(); !status) return ErrorResponse(status.error());
  auto parsed_source = scaling::ParseRecoverySource(source);
  if (!parsed_source) return ErrorResponse(parsed_source.error());
  auto report = manager.InitiateRecovery(point_id, target, *parsed_source);
  if (!report) return ErrorResponse(report.error());
  nlohmann::json out = {{"point_id", report->point_id},
                        {"target", report->target},
                        {"files", report->files},
                        {"bytes", report->bytes},
                        {"duration_ms", report->duration.count()},
                        {"read_from", ToString(report->read_from)},
                        {"region", report->region}};
  out["fallback_reason"] =
      report->fallback_reason.empty() ? nlohmann::json() : nlohmann::json(report->fallback_reason);
  return JsonResponse(200, out);
}

net::HttpResponse Test(DisasterRecoveryManager& manager, const net::HttpRequest& request,
                       std::string_view plan_id) {
  auto body = OptionalJsonObject(request.body);
  if (!body) return ErrorResponse(body.error());
  std::string region = "primary";
  JsonObjectReader in(*body);
  in.String("region", region, JsonObjectReader::kOptional);
  if (Status status = in.Finish(); !status) return ErrorResponse(status.error());
  auto role = scaling::ParseRepositoryRole(region);
  if (!role) return ErrorResponse(role.error());
  auto result = manager.TestRecovery(plan_id, *role);
  if (!result) return ErrorResponse(result.error());
  return JsonResponse(200, RecoveryTestToJson(*result));
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
       [m](const net::HttpRequest& request, const PathParams& params) {
         return Test(*m, request, params.Get("id"));
       }},
      {"POST", "/api/v1/dr/plans/{id}/copy",
       [m](const net::HttpRequest&, const PathParams& params) {
         auto report = m->CopyToSecondary(params.Get("id"));
         if (!report) return ErrorResponse(report.error());
         return JsonResponse(200, CopyReportToJson(*report));
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
          {"secondary_repository", plan.secondary_repository},
          {"regions",
           {{"primary", {{"region", plan.primary_region}, {"repository", plan.repository}}},
            {"secondary", plan.secondary_repository.empty()
                              ? nlohmann::json()
                              : nlohmann::json{{"region", plan.secondary_region},
                                               {"repository", plan.secondary_repository}}}}},
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
                        {"parent", point.parent},
                        {"in_primary", point.in_primary},
                        {"in_secondary", point.in_secondary}};
  nlohmann::json regions = nlohmann::json::array();
  if (point.in_primary) regions.push_back("primary");
  if (point.in_secondary) regions.push_back("secondary");
  out["regions"] = regions;
  if (!point.sha256.empty()) out["sha256"] = point.sha256;
  return out;
}

nlohmann::json RecoveryTestToJson(const scaling::RecoveryTestResult& r) {
  return {{"plan_id", r.plan_id},
          {"point_id", r.point_id},
          {"region", ToString(r.region)},
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

nlohmann::json CopyReportToJson(const scaling::CopyReport& report) {
  return {{"plan_id", report.plan_id},
          {"points_copied", report.points_copied},
          {"chunks_sent", report.chunks_sent},
          {"chunks_present", report.chunks_present},
          {"bytes_sent", report.bytes_sent},
          {"duration_ms", report.duration.count()},
          {"finished_at", FormatRfc3339(report.finished_at)}};
}

namespace {

nlohmann::json RegionToJson(const scaling::RecoveryStats::Region& region) {
  nlohmann::json out = {{"role", ToString(region.role)},
                        {"region", region.region},
                        {"repository", region.repository},
                        {"recovery_points", region.points},
                        {"newest_point", Rfc3339OrNull(region.newest_point)},
                        {"rpo_met", region.rpo_met}};
  out["newest_point_age_seconds"] =
      region.newest_point_age ? nlohmann::json(region.newest_point_age->count()) : nlohmann::json();
  return out;
}

}  // namespace

nlohmann::json PlanStatusToJson(const scaling::RecoveryStats::PerPlan& p) {
  nlohmann::json entry = {{"plan_id", p.plan_id},
                          {"last_backup", Rfc3339OrNull(p.last_backup)},
                          {"rpo_met", p.rpo_met}};
  entry["newest_point_age_seconds"] =
      p.newest_point_age ? nlohmann::json(p.newest_point_age->count()) : nlohmann::json();
  entry["last_test"] = p.last_test ? RecoveryTestToJson(*p.last_test) : nlohmann::json();
  entry["regions"] = {{"primary", RegionToJson(p.primary)},
                      {"secondary", p.secondary ? RegionToJson(*p.secondary) : nlohmann::json()}};
  entry["last_copy"] = p.last_copy ? CopyReportToJson(*p.last_copy) : nlohmann::json();
  entry["last_copy_attempt"] = Rfc3339OrNull(p.last_copy_attempt);
  entry["last_copy_error"] =
      p.last_copy_error.empty() ? nlohmann::json() : nlohmann::json(p.last_copy_error);
  entry["copies_succeeded"] = p.copies_succeeded;
  entry["copies_failed"] = p.copies_failed;
  return entry;
}

nlohmann::json RecoveryStatsToJson(const scaling::RecoveryStats& stats) {
  nlohmann::json plans = nlohmann::json::array();
  for (const auto& p : stats.per_plan) plans.push_back(PlanStatusToJson(p));
  return {{"plans", stats.plans},
          {"active_plans", stats.active_plans},
          {"recovery_points", stats.recovery_points},
          {"total_backup_size", stats.total_backup_size},
          {"backups_succeeded", stats.backups_succeeded},
          {"backups_failed", stats.backups_failed},
          {"points_deleted_by_retention", stats.points_deleted_by_retention},
          {"tests_run", stats.tests_run},
          {"tests_passed", stats.tests_passed},
          {"copies_succeeded", stats.copies_succeeded},
          {"copies_failed", stats.copies_failed},
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
  out.Family("streamgate_dr_copies_total", "Copies to secondary repositories, by result.",
             MetricType::kCounter);
  out.Sample("streamgate_dr_copies_total", {{"result", "success"}}, stats.copies_succeeded);
  out.Sample("streamgate_dr_copies_total", {{"result", "failure"}}, stats.copies_failed);
  out.Family("streamgate_dr_region_recovery_points",
             "Recovery points the plan's repository in that region holds.", MetricType::kGauge);
  out.Family("streamgate_dr_region_point_age_seconds",
             "Age of the newest recovery point in that region.", MetricType::kGauge);
  out.Family("streamgate_dr_region_rpo_met",
             "1 while the region's newest point is younger than the RPO.", MetricType::kGauge);
  out.Family("streamgate_dr_last_copy_timestamp_seconds",
             "Unix time the last successful copy to the secondary finished.", MetricType::kGauge);
  out.Family("streamgate_dr_last_copy_bytes", "Stored bytes the last successful copy sent.",
             MetricType::kGauge);
  out.Family("streamgate_dr_last_copy_chunks", "Chunks the last successful copy sent.",
             MetricType::kGauge);
  out.Family("streamgate_dr_last_copy_duration_seconds", "How long the last successful copy took.",
             MetricType::kGauge);
  out.Family("streamgate_dr_last_copy_failed", "1 if the last copy attempt failed.",
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
    auto region_samples = [&](const scaling::RecoveryStats::Region& region) {
      const std::vector<metrics::Label> region_labels = {
          {"plan", p.plan_id}, {"role", ToString(region.role)}, {"region", region.region}};
      out.Sample("streamgate_dr_region_recovery_points", region_labels, region.points);
      if (region.newest_point_age) {
        out.Sample("streamgate_dr_region_point_age_seconds", region_labels,
                   region.newest_point_age->count());
      }
      out.Sample("streamgate_dr_region_rpo_met", region_labels, region.rpo_met ? 1 : 0);
    };
    region_samples(p.primary);
    if (p.secondary) {
      region_samples(*p.secondary);
      if (p.last_copy) {
        out.Sample("streamgate_dr_last_copy_timestamp_seconds", labels,
                   SecondsOf(p.last_copy->finished_at.time_since_epoch()));
        out.Sample("streamgate_dr_last_copy_bytes", labels, p.last_copy->bytes_sent);
        out.Sample("streamgate_dr_last_copy_chunks", labels, p.last_copy->chunks_sent);
        out.Sample("streamgate_dr_last_copy_duration_seconds", labels,
                   SecondsOf(p.last_copy->duration));
      }
      if (p.last_copy_attempt) {
        out.Sample("streamgate_dr_last_copy_failed", labels, p.last_copy_error.empty() ? 0 : 1);
      }
    }
  }
}

}  // namespace streamgate::admin
