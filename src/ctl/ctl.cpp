#include "ctl/ctl.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "ctl/admin_client.hpp"

namespace streamgate::ctl {
namespace {

using nlohmann::json;

// What a verb sends, and how its answer is best shown.
struct ApiCall {
  ApiCall() = default;
  ApiCall(std::string method_in, std::string path_in, json body_in = nullptr,
          std::vector<std::string> columns_in = {}, bool text_in = false)
      : method(std::move(method_in)),
        path(std::move(path_in)),
        body(std::move(body_in)),
        columns(std::move(columns_in)),
        text(text_in) {}

  std::string method = "GET";
  std::string path;
  json body;                         // null: no body
  std::vector<std::string> columns;  // table columns for a list ("": every scalar field)
  bool text = false;                 // print the body as it is (/metrics)
};

std::string Cell(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) {
    std::string text = fmt::format("{:.3f}", value.get<double>());
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
    return text;
  }
  if (value.is_array()) {
    std::string joined;
    for (const json& item : value) {
      if (!joined.empty()) joined += ',';
      joined += item.is_structured() ? item.dump() : Cell(item);
    }
    return joined.empty() ? "-" : joined;
  }
  return value.dump();
}

void PrintTable(const json& rows, const std::vector<std::string>& wanted, std::ostream& out,
                const std::string& indent = "") {
  if (rows.empty()) {
    out << indent << "(none)\n";
    return;
  }
  std::vector<std::string> columns;
  for (const std::string& column : wanted) {
    if (std::any_of(rows.begin(), rows.end(),
                    [&](const json& row) { return row.is_object() && row.contains(column); })) {
      columns.push_back(column);
    }
  }
  if (columns.empty()) {
    for (const auto& [key, value] : rows.front().items()) {
      if (!value.is_object()) columns.push_back(key);
    }
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> widths;
  for (const std::string& column : columns) widths.push_back(column.size());
  for (const json& row : rows) {
    std::vector<std::string>& line = cells.emplace_back();
    for (std::size_t c = 0; c < columns.size(); ++c) {
      line.push_back(row.is_object() && row.contains(columns[c]) ? Cell(row[columns[c]]) : "-");
      widths[c] = std::max(widths[c], line.back().size());
    }
  }
  auto print_line = [&](const std::vector<std::string>& line) {
    std::string text = indent;
    for (std::size_t c = 0; c < line.size(); ++c) {
      text += c + 1 < line.size() ? fmt::format("{:<{}}  ", line[c], widths[c]) : line[c];
    }
    out << text << '\n';
  };
  std::vector<std::string> header;
  for (const std::string& column : columns) {
    std::string upper = column;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    header.push_back(upper);
  }
  print_line(header);
  for (const auto& line : cells) print_line(line);
}

// key: value lines; nested objects flatten to a.b, lists of objects become indented tables.
void PrintObject(const json& object, std::ostream& out, const std::string& prefix = "") {
  for (const auto& [key, value] : object.items()) {
    const std::string name = prefix + key;
    if (value.is_object() && !value.empty()) {
      PrintObject(value, out, name + ".");
    } else if (value.is_array() && !value.empty() && value.front().is_object()) {
      out << name << ":\n";
      PrintTable(value, {}, out, "  ");
    } else {
      out << name << ": " << Cell(value) << '\n';
    }
  }
}

void Render(const ApiCall& call, const AdminResponse& response, bool as_json, std::ostream& out) {
  if (call.text) {
    out << response.body;
    return;
  }
  const json parsed = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    out << response.body << (response.body.ends_with('\n') ? "" : "\n");
  } else if (as_json) {
    out << parsed.dump(2) << '\n';
  } else if (parsed.is_array()) {
    PrintTable(parsed, call.columns, out);
  } else if (parsed.is_object()) {
    PrintObject(parsed, out);
  } else {
    out << Cell(parsed) << '\n';
  }
}

// A reload's answer: one line per change; a change the daemon could not apply fails the command.
int RenderReload(const AdminResponse& response, bool as_json, std::ostream& out,
                 std::ostream& err) {
  const json parsed = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    out << response.body << '\n';
    return kExitOk;
  }
  if (as_json) {
    out << parsed.dump(2) << '\n';
  } else {
    for (const auto& [key, label] :
         {std::pair{"applied", "applied"}, std::pair{"restart_required", "restart required"},
          std::pair{"failed", "failed"}}) {
      for (const json& line : parsed.value(key, json::array())) {
        (std::string_view(key) == "failed" ? err : out) << label << ": " << Cell(line) << '\n';
      }
    }
    if (parsed.value("applied", json::array()).empty() &&
        parsed.value("failed", json::array()).empty()) {
      out << "nothing changed\n";
    }
  }
  return parsed.value("failed", json::array()).empty() ? kExitOk : kExitRefused;
}

int ReportFailure(const ApiCall& call, const AdminResponse& response, const std::string& admin,
                  std::ostream& err) {
  const json parsed = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  std::string message = response.body;
  std::string code;
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_string()) {
    message = parsed["error"].get<std::string>();
    code = parsed.value("code", "");
  }
  err << fmt::format("streamgatectl: {} {}: {} (HTTP {}{})\n", call.method, call.path, message,
                     response.status, code.empty() ? "" : " " + code);
  if (response.status == 401) {
    err << "streamgatectl: the daemon at " << admin
        << " needs its admin token: pass --token or set STREAMGATE_ADMIN_TOKEN\n";
    return kExitUnauthorized;
  }
  if (response.status == 404 && code.empty() && call.path == "/api/v1/reload") {
    err << "streamgatectl: this daemon has no reload endpoint (older version?)\n";
  }
  return kExitRefused;
}

// One verb: its name, help, and how it turns its arguments into a call.
class Verbs {
 public:
  Verbs(CLI::App& app, std::optional<ApiCall>& chosen) : app_(app), chosen_(chosen) {}

  CLI::App* Resource(const std::string& name, const std::string& help) {
    CLI::App* resource = app_.add_subcommand(name, help);
    resource->require_subcommand(1);
    return resource;
  }

  // A verb with no arguments.
  void Add(CLI::App* parent, const std::string& name, const std::string& help, ApiCall call) {
    parent->add_subcommand(name, help)->callback([this, call] { chosen_ = call; });
  }

  // A verb with one required positional argument substituted for "{}" in the path.
  void AddWithId(CLI::App* parent, const std::string& name, const std::string& help,
                 const std::string& arg, ApiCall call,
                 std::function<void(ApiCall&, const std::string&)> extra = {}) {
    CLI::App* verb = parent->add_subcommand(name, help);
    std::string& id = Store();
    verb->add_option(arg, id, arg)->required();
    verb->callback([this, call, &id, extra] {
      ApiCall made = call;
      const std::size_t at = made.path.find("{}");
      if (at != std::string::npos) made.path.replace(at, 2, id);
      if (extra) extra(made, id);
      chosen_ = made;
    });
  }

  // Storage for option values that lives as long as the parse.
  std::string& Store() { return strings_.emplace_back(); }
  std::vector<std::string>& StoreList() { return lists_.emplace_back(); }

 private:
  CLI::App& app_;
  std::optional<ApiCall>& chosen_;
  std::deque<std::string> strings_;
  std::deque<std::vector<std::string>> lists_;
};

const std::vector<std::string> kRegionColumns = {
    "id", "name", "health_status", "primary", "active", "avg_latency_ms", "priority", "endpoint"};
const std::vector<std::string> kBackendColumns = {
    "id",     "region",  "address",     "port",     "weight", "health_status",
    "active", "ejected", "connections", "requests", "errors", "avg_latency_ms"};
const std::vector<std::string> kContentColumns = {"key",   "status",     "size",
                                                  "fresh", "expires_at", "url"};
const std::vector<std::string> kPlanColumns = {
    "id",          "strategy",       "active",           "backup_interval", "rpo_minutes",
    "rto_minutes", "primary_region", "secondary_region", "repository"};
const std::vector<std::string> kPointColumns = {"id",         "strategy",     "created_at",
                                                "status",     "logical_size", "stored_size",
                                                "file_count", "regions",      "parent"};

void AddRegionVerbs(Verbs& verbs) {
  CLI::App* regions = verbs.Resource("regions", "regions and their health");
  verbs.Add(regions, "list", "every region", {"GET", "/api/v1/regions", nullptr, kRegionColumns});
  verbs.AddWithId(regions, "get", "one region", "id", {"GET", "/api/v1/regions/{}"});
  verbs.Add(regions, "primary", "the primary region", {"GET", "/api/v1/regions/primary"});
  verbs.AddWithId(regions, "set-primary", "make a region the primary", "id",
                  {"PUT", "/api/v1/regions/primary"}, [](ApiCall& call, const std::string& id) {
                    call.body = {{"id", id}};
                  });
  verbs.AddWithId(regions, "activate", "put a region back in service", "id",
                  {"POST", "/api/v1/regions/{}/activate"});
  verbs.AddWithId(regions, "deactivate", "take a region out of service", "id",
                  {"POST", "/api/v1/regions/{}/deactivate"});
  verbs.AddWithId(regions, "metrics", "a region's health-check and request figures", "id",
                  {"GET", "/api/v1/regions/{}/metrics"});
}

void AddBackendVerbs(Verbs& verbs, std::optional<ApiCall>& chosen) {
  CLI::App* backends = verbs.Resource("backends", "load-balancer backends");
  verbs.Add(backends, "list", "every backend",
            {"GET", "/api/v1/backends", nullptr, kBackendColumns});
  verbs.AddWithId(backends, "get", "one backend", "id", {"GET", "/api/v1/backends/{}"});
  verbs.AddWithId(backends, "activate", "put a backend back in rotation", "id",
                  {"POST", "/api/v1/backends/{}/activate"});
  verbs.AddWithId(backends, "deactivate", "drain a backend: no new requests", "id",
                  {"POST", "/api/v1/backends/{}/deactivate"});
  verbs.AddWithId(backends, "metrics", "a backend's request and latency figures", "id",
                  {"GET", "/api/v1/backends/{}/metrics"});
  CLI::App* add = backends->add_subcommand("add", "register a backend");
  std::string& id = verbs.Store();
  std::string& address = verbs.Store();
  std::string& region = verbs.Store();
  auto port = std::make_shared<int>(0);
  auto weight = std::make_shared<int>(1);
  add->add_option("id", id, "backend id")->required();
  add->add_option("--address", address, "host or IP")->required();
  add->add_option("--port", *port, "TCP port")->required()->check(CLI::Range(1, 65535));
  add->add_option("--region", region, "region id")->required();
  add->add_option("--weight", *weight, "relative weight")->check(CLI::Range(1, 1000000));
  add->callback([&chosen, &id, &address, &region, port, weight] {
    chosen = ApiCall{"POST", "/api/v1/backends",
                     json{{"id", id},
                          {"address", address},
                          {"port", *port},
                          {"region", region},
                          {"weight", *weight}}};
  });

  CLI::App* lb = verbs.Resource("lb", "load-balancing strategy and figures");
  verbs.Add(lb, "strategy", "the current strategy", {"GET", "/api/v1/lb/strategy"});
  verbs.AddWithId(lb, "set-strategy",
                  "round_robin | least_conn | latency_based | geo_location | consistent_hash",
                  "strategy", {"PUT", "/api/v1/lb/strategy"},
                  [](ApiCall& call, const std::string& name) {
                    call.body = {{"strategy", name}};
                  });
  verbs.Add(lb, "stats", "balancer-wide figures", {"GET", "/api/v1/lb/stats"});
}

void AddCdnVerbs(Verbs& verbs, std::optional<ApiCall>& chosen) {
  CLI::App* cdn = verbs.Resource("cdn", "the edge cache");
  verbs.Add(cdn, "metrics", "hit rate, bandwidth, utilisation", {"GET", "/api/v1/cdn/metrics"});
  verbs.Add(cdn, "list", "cached content",
            {"GET", "/api/v1/cdn/content", nullptr, kContentColumns});
  verbs.AddWithId(cdn, "get", "one cached object's metadata", "key",
                  {"GET", "/api/v1/cdn/content/{}"});
  verbs.AddWithId(cdn, "invalidate", "drop one cached object", "key",
                  {"DELETE", "/api/v1/cdn/content/{}"});
  CLI::App* purge = cdn->add_subcommand("purge", "drop cached content (and at external CDNs)");
  auto all = std::make_shared<bool>(false);
  std::string& prefix = verbs.Store();
  std::string& surrogate = verbs.Store();
  CLI::Option* all_flag = purge->add_flag("--all", *all, "everything");
  CLI::Option* prefix_opt = purge->add_option("--prefix", prefix, "keys starting with this");
  CLI::Option* key_opt =
      purge->add_option("--surrogate-key", surrogate, "objects tagged with this Surrogate-Key");
  all_flag->excludes(prefix_opt)->excludes(key_opt);
  prefix_opt->excludes(key_opt);
  purge->callback([&chosen, all, &prefix, &surrogate] {
    if (*all) {
      chosen = ApiCall{"DELETE", "/api/v1/cdn/content"};
    } else if (!prefix.empty()) {
      chosen = ApiCall{"POST", "/api/v1/cdn/purge", json{{"prefix", prefix}}};
    } else if (!surrogate.empty()) {
      chosen = ApiCall{"POST", "/api/v1/cdn/purge", json{{"surrogate_key", surrogate}}};
    } else {
      throw CLI::ValidationError("purge", "give --all, --prefix or --surrogate-key");
    }
  });
  CLI::App* prefetch = cdn->add_subcommand("prefetch", "fetch URLs into the cache now");
  std::vector<std::string>& urls = verbs.StoreList();
  prefetch->add_option("urls", urls, "URLs to fetch")->required();
  prefetch->callback([&chosen, &urls] {
    chosen = ApiCall{"POST", "/api/v1/cdn/prefetch", json{{"urls", urls}}};
  });
}

void AddDisasterRecoveryVerbs(Verbs& verbs, std::optional<ApiCall>& chosen) {
  CLI::App* dr = verbs.Resource("dr", "disaster recovery: plans, backups, restores, tests");
  verbs.Add(dr, "plans", "every plan", {"GET", "/api/v1/dr/plans", nullptr, kPlanColumns});
  verbs.AddWithId(dr, "plan", "one plan", "plan", {"GET", "/api/v1/dr/plans/{}"});
  verbs.AddWithId(dr, "activate", "resume a plan's scheduled backups", "plan",
                  {"POST", "/api/v1/dr/plans/{}/activate"});
  verbs.AddWithId(dr, "deactivate", "pause a plan's scheduled backups", "plan",
                  {"POST", "/api/v1/dr/plans/{}/deactivate"});
  verbs.AddWithId(dr, "backup", "run a backup now (waits for it)", "plan",
                  {"POST", "/api/v1/dr/plans/{}/backup"});
  verbs.AddWithId(dr, "copy", "copy the plan's points to its secondary region now", "plan",
                  {"POST", "/api/v1/dr/plans/{}/copy"});
  verbs.AddWithId(dr, "points", "a plan's recovery points", "plan",
                  {"GET", "/api/v1/dr/plans/{}/recovery-points", nullptr, kPointColumns});
  verbs.AddWithId(dr, "point", "one recovery point", "point",
                  {"GET", "/api/v1/dr/recovery-points/{}"});
  verbs.AddWithId(dr, "delete-point", "delete a recovery point", "point",
                  {"DELETE", "/api/v1/dr/recovery-points/{}"});
  verbs.Add(dr, "stats", "recovery figures per plan", {"GET", "/api/v1/dr/stats"});

  CLI::App* restore = dr->add_subcommand("restore", "restore a point into a directory");
  std::string& point = verbs.Store();
  std::string& target = verbs.Store();
  std::string& source = verbs.Store();
  restore->add_option("point", point, "recovery point id")->required();
  restore->add_option("--target", target, "directory to restore into")->required();
  restore->add_option("--source", source, "auto (default) | primary | secondary")
      ->check(CLI::IsMember({"auto", "primary", "secondary"}));
  restore->callback([&chosen, &point, &target, &source] {
    json body = {{"target", target}};
    if (!source.empty()) body["source"] = source;
    chosen = ApiCall{"POST", "/api/v1/dr/recovery-points/" + point + "/restore", body};
  });

  CLI::App* test = dr->add_subcommand("test", "restore the newest point and verify it");
  std::string& plan = verbs.Store();
  std::string& region = verbs.Store();
  test->add_option("plan", plan, "plan id")->required();
  test->add_option("--region", region, "primary (default) | secondary")
      ->check(CLI::IsMember({"primary", "secondary"}));
  test->callback([&chosen, &plan, &region] {
    ApiCall call{"POST", "/api/v1/dr/plans/" + plan + "/test"};
    if (!region.empty()) call.body = {{"region", region}};
    chosen = call;
  });
}

}  // namespace

CtlEnvironment CtlEnvironment::FromProcess() {
  CtlEnvironment env;
  if (const char* admin = std::getenv("STREAMGATE_ADMIN")) env.admin_url = admin;
  if (const char* token = std::getenv("STREAMGATE_ADMIN_TOKEN")) env.token = token;
  if (const char* cacert = std::getenv("STREAMGATE_ADMIN_CACERT")) env.cacert = cacert;
  return env;
}

int RunCtl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
           const CtlEnvironment& env) {
  try {
    CLI::App app{"streamgatectl: the StreamGate admin API from the command line", "streamgatectl"};
    app.require_subcommand(1);
    std::string admin =
        env.admin_url.empty() ? std::string("http://127.0.0.1:9901") : env.admin_url;
    std::string token = env.token;
    bool as_json = false;
    app.add_option("--admin", admin,
                   "admin API address (default $STREAMGATE_ADMIN or http://127.0.0.1:9901)");
    app.add_option("--token", token, "admin token (default $STREAMGATE_ADMIN_TOKEN)");
    AdminTlsOptions tls{env.cacert, false};
    CLI::Option* cacert_option = app.add_option(
        "--cacert", tls.ca_file,
        "CA file (PEM) to verify an https admin address (default $STREAMGATE_ADMIN_CACERT)");
    app.add_flag("--insecure", tls.insecure, "https admin address: do not verify its certificate")
        ->excludes(cacert_option);
    app.add_flag("--json", as_json, "print the API's JSON instead of tables");

    std::optional<ApiCall> chosen;
    Verbs verbs(app, chosen);
    AddRegionVerbs(verbs);
    AddBackendVerbs(verbs, chosen);
    AddCdnVerbs(verbs, chosen);
    AddDisasterRecoveryVerbs(verbs, chosen);
    app.add_subcommand("reload", "re-read the config file and apply it")->callback([&chosen] {
      chosen = ApiCall{"POST", "/api/v1/reload"};
    });
    app.add_subcommand("metrics", "the Prometheus metrics text")->callback([&chosen] {
      chosen = ApiCall{"GET", "/metrics", nullptr, {}, /*text=*/true};
    });
    app.add_subcommand("health", "is the daemon up")->callback([&chosen] {
      chosen = ApiCall{"GET", "/healthz"};
    });

    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses from the back
    try {
      app.parse(reversed);
    } catch (const CLI::ParseError& e) {
      if (e.get_exit_code() == 0) {  // --help: of the deepest command given
        const CLI::App* leaf = &app;
        while (!leaf->get_subcommands().empty()) leaf = leaf->get_subcommands().front();
        out << leaf->help();
        return kExitOk;
      }
      err << "streamgatectl: " << e.what() << "\nRun streamgatectl --help for the commands.\n";
      return kExitUsage;
    }
    if (!chosen) {
      err << "streamgatectl: no command given; run streamgatectl --help\n";
      return kExitUsage;
    }

    AdminClient client(admin, token);
    client.set_tls(tls);
    const std::string body = chosen->body.is_null() ? std::string() : chosen->body.dump();
    Result<AdminResponse> response = client.Call(chosen->method, chosen->path, body);
    if (!response) {
      err << "streamgatectl: " << response.error().message() << '\n';
      if (response.error().code() == ErrorCode::kInvalidArgument) return kExitUsage;
      if (response.error().code() == ErrorCode::kFailedPrecondition) {
        err << "streamgatectl: the admin server's certificate is not trusted; use --cacert FILE "
               "(or STREAMGATE_ADMIN_CACERT) with the CA that signed it, or --insecure to skip "
               "verification\n";
        return kExitUnreachable;
      }
      err << "streamgatectl: is the daemon running? Its admin address is set with --admin or "
             "STREAMGATE_ADMIN (now "
          << admin << ")\n";
      return kExitUnreachable;
    }
    if (response->status >= 400) return ReportFailure(*chosen, *response, admin, err);
    if (chosen->path == "/api/v1/reload") return RenderReload(*response, as_json, out, err);
    Render(*chosen, *response, as_json, out);
    return kExitOk;
  } catch (const std::exception& e) {
    err << "streamgatectl: " << e.what() << '\n';
    return kExitUsage;
  }
}

}  // namespace streamgate::ctl
