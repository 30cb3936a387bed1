// The embedded state store: one SQLite file, one row per saved entity with its fields as JSON.
#include <fmt/format.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "streamgate/state/state_store.hpp"

namespace streamgate::state {
namespace {

using nlohmann::json;

constexpr int kSchemaVersion = 1;

json ToJson(const scaling::Region& r) {
  return {{"id", r.id},
          {"name", r.name},
          {"location", r.location},
          {"endpoint", r.endpoint},
          {"priority", r.priority},
          {"active", r.active}};
}

scaling::Region RegionFromJson(const json& j) {
  scaling::Region r;
  r.id = j.at("id").get<std::string>();
  r.name = j.at("name").get<std::string>();
  r.location = j.at("location").get<std::string>();
  r.endpoint = j.at("endpoint").get<std::string>();
  r.priority = j.at("priority").get<int>();
  r.active = j.at("active").get<bool>();
  return r;
}

json ToJson(const scaling::Backend& b) {
  return {{"id", b.id},
          {"address", b.address},
          {"port", b.port},
          {"region", b.region},
          {"weight", b.weight},
          {"health_path", b.health_path},
          {"tcp_check", b.use_tcp_check},
          {"active", b.active}};
}

scaling::Backend BackendFromJson(const json& j) {
  scaling::Backend b;
  b.id = j.at("id").get<std::string>();
  b.address = j.at("address").get<std::string>();
  b.port = j.at("port").get<std::uint16_t>();
  b.region = j.at("region").get<std::string>();
  b.weight = j.at("weight").get<std::uint32_t>();
  b.health_path = j.at("health_path").get<std::string>();
  b.use_tcp_check = j.at("tcp_check").get<bool>();
  b.active = j.at("active").get<bool>();
  return b;
}

json ToJson(const scaling::DisasterRecoveryPlan& p) {
  return {{"id", p.id},
          {"name", p.name},
          {"strategy", scaling::ToString(p.strategy)},
          {"backup_interval_s", p.backup_interval.count()},
          {"retention_days", p.retention_days},
          {"rpo_min", p.rpo.count()},
          {"rto_min", p.rto.count()},
          {"primary_region", p.primary_region},
          {"secondary_region", p.secondary_region},
          {"sources", p.sources},
          {"excludes", p.excludes},
          {"repository", p.repository},
          {"active", p.active}};
}

scaling::DisasterRecoveryPlan PlanFromJson(const json& j) {
  scaling::DisasterRecoveryPlan p;
  p.id = j.at("id").get<std::string>();
  p.name = j.at("name").get<std::string>();
  Result<scaling::BackupStrategy> strategy =
      scaling::ParseBackupStrategy(j.at("strategy").get<std::string>());
  if (!strategy) throw std::invalid_argument(strategy.error().message());
  p.strategy = *strategy;
  p.backup_interval = std::chrono::seconds(j.at("backup_interval_s").get<std::int64_t>());
  p.retention_days = j.at("retention_days").get<int>();
  p.rpo = std::chrono::minutes(j.at("rpo_min").get<std::int64_t>());
  p.rto = std::chrono::minutes(j.at("rto_min").get<std::int64_t>());
  p.primary_region = j.at("primary_region").get<std::string>();
  p.secondary_region = j.at("secondary_region").get<std::string>();
  p.sources = j.at("sources").get<std::vector<std::string>>();
  p.excludes = j.at("excludes").get<std::vector<std::string>>();
  p.repository = j.at("repository").get<std::string>();
  p.active = j.at("active").get<bool>();
  return p;
}

// Owns a prepared statement.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  [[nodiscard]] sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteStateStore final : public StateStore {
 public:
  SqliteStateStore(sqlite3* db, std::string file) : db_(db), file_(std::move(file)) {}
  ~SqliteStateStore() override { sqlite3_close(db_); }

  Result<std::optional<RuntimeState>> Load() override {
    std::optional<std::string> version = Meta("schema_version");
    if (!version) return std::optional<RuntimeState>();
    if (*version != std::to_string(kSchemaVersion)) {
      return MakeError(ErrorCode::kCorrupted,
                       fmt::format("{}: state schema version {} is not {} (written by another "
                                   "StreamGate version?)",
                                   file_, *version, kSchemaVersion));
    }
    RuntimeState state;
    state.primary = Meta("primary").value_or("");
    if (std::optional<std::string> strategy = Meta("strategy"); strategy && !strategy->empty()) {
      Result<scaling::LoadBalancingStrategy> parsed =
          scaling::ParseLoadBalancingStrategy(*strategy);
      if (!parsed) return Corrupted("strategy: " + parsed.error().message());
      state.strategy = *parsed;
    }
    if (std::optional<std::string> saved = Meta("saved_at_ns")) {
      state.saved_at = WallTime(std::chrono::nanoseconds(std::stoll(*saved)));
    }
    Statement rows(db_, "SELECT kind, id, from_api, body FROM entities ORDER BY kind, position");
    if (rows.get() == nullptr) return SqlError("reading state");
    int rc;
    while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
      const std::string kind = Text(rows.get(), 0);
      const std::string id = Text(rows.get(), 1);
      const bool from_api = sqlite3_column_int(rows.get(), 2) != 0;
      const json body = json::parse(Text(rows.get(), 3), nullptr, /*allow_exceptions=*/false);
      if (body.is_discarded()) return Corrupted(fmt::format("{} '{}': body is not JSON", kind, id));
      try {
        if (kind == "region") {
          state.regions.push_back({RegionFromJson(body), from_api});
        } else if (kind == "backend") {
          state.backends.push_back({BackendFromJson(body), from_api});
        } else if (kind == "plan") {
          state.plans.push_back({PlanFromJson(body), from_api});
        } else {
          return Corrupted(fmt::format("unknown entity kind '{}'", kind));
        }
      } catch (const std::exception& e) {
        return Corrupted(fmt::format("{} '{}': {}", kind, id, e.what()));
      }
    }
    if (rc != SQLITE_DONE) return SqlError("reading state");
    return std::optional<RuntimeState>(std::move(state));
  }

  Status Save(const RuntimeState& state) override {
    if (!Exec("BEGIN IMMEDIATE")) return SqlError("starting a transaction");
    Status saved = WriteAll(state);
    if (!saved) {
      (void)Exec("ROLLBACK");
      return saved;
    }
    if (!Exec("COMMIT")) {
      Status error = SqlError("committing state");
      (void)Exec("ROLLBACK");
      return error;
    }
    return {};
  }

  std::string Location() const override { return file_; }

  Status Init() {
    for (const char* sql : {
             "PRAGMA journal_mode=WAL",
             "PRAGMA synchronous=FULL",
             "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
             "CREATE TABLE IF NOT EXISTS entities (kind TEXT NOT NULL, id TEXT NOT NULL, "
             "position INTEGER NOT NULL, from_api INTEGER NOT NULL, body TEXT NOT NULL, "
             "PRIMARY KEY (kind, id))",
         }) {
      if (!Exec(sql)) return SqlError(sql);
    }
    return {};
  }

 private:
  Status WriteAll(const RuntimeState& state) {
    if (!Exec("DELETE FROM entities")) return SqlError("clearing state");
    Statement insert(db_,
                     "INSERT INTO entities (kind, id, position, from_api, body) "
                     "VALUES (?, ?, ?, ?, ?)");
    if (insert.get() == nullptr) return SqlError("preparing insert");
    auto put = [&](const char* kind, const std::string& id, int position, bool from_api,
                   const json& body) -> Status {
      const std::string text = body.dump();
      sqlite3_reset(insert.get());
      sqlite3_bind_text(insert.get(), 1, kind, -1, SQLITE_STATIC);
      sqlite3_bind_text(insert.get(), 2, id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int(insert.get(), 3, position);
      sqlite3_bind_int(insert.get(), 4, from_api ? 1 : 0);
      sqlite3_bind_text(insert.get(), 5, text.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(insert.get()) != SQLITE_DONE) {
        return SqlError(fmt::format("saving {} '{}'", kind, id));
      }
      return {};
    };
    int position = 0;
    for (const SavedRegion& r : state.regions) {
      if (Status s = put("region", r.region.id, position++, r.from_api, ToJson(r.region)); !s) {
        return s;
      }
    }
    for (const SavedBackend& b : state.backends) {
      if (Status s = put("backend", b.backend.id, position++, b.from_api, ToJson(b.backend)); !s) {
        return s;
      }
    }
    for (const SavedPlan& p : state.plans) {
      if (Status s = put("plan", p.plan.id, position++, p.from_api, ToJson(p.plan)); !s) return s;
    }
    const std::string strategy =
        state.strategy ? std::string(scaling::ToString(*state.strategy)) : std::string();
    const std::string saved_at = std::to_string(
        std::chrono::duration_cast<std::chrono::nanoseconds>(state.saved_at.time_since_epoch())
            .count());
    for (const auto& [key, value] :
         {std::pair<const char*, std::string>{"schema_version", std::to_string(kSchemaVersion)},
          {"primary", state.primary},
          {"strategy", strategy},
          {"saved_at_ns", saved_at}}) {
      if (Status s = SetMeta(key, value); !s) return s;
    }
    return {};
  }

  bool Exec(const char* sql) {
    return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  }

  std::optional<std::string> Meta(const char* key) {
    Statement select(db_, "SELECT value FROM meta WHERE key = ?");
    if (select.get() == nullptr) return std::nullopt;
    sqlite3_bind_text(select.get(), 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(select.get()) != SQLITE_ROW) return std::nullopt;
    return Text(select.get(), 0);
  }

  Status SetMeta(const char* key, const std::string& value) {
    Statement upsert(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
    if (upsert.get() == nullptr) return SqlError("preparing meta");
    sqlite3_bind_text(upsert.get(), 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(upsert.get(), 2, value.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(upsert.get()) != SQLITE_DONE) return SqlError(std::string("saving ") + key);
    return {};
  }

  static std::string Text(sqlite3_stmt* stmt, int column) {
    const unsigned char* text = sqlite3_column_text(stmt, column);
    return text != nullptr ? reinterpret_cast<const char*>(text) : "";
  }

  std::unexpected<Error> SqlError(std::string_view what) const {
    return MakeError(ErrorCode::kIo, fmt::format("{}: {}: {}", file_, what, sqlite3_errmsg(db_)));
  }
  std::unexpected<Error> Corrupted(std::string_view what) const {
    return MakeError(ErrorCode::kCorrupted, fmt::format("{}: {}", file_, what));
  }

  sqlite3* db_;
  std::string file_;
};

}  // namespace

Result<std::unique_ptr<StateStore>> OpenSqliteStateStore(const std::filesystem::path& file) {
  if (file.empty()) return MakeError(ErrorCode::kInvalidArgument, "state file path is empty");
  std::error_code error;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), error);
  if (error) {
    return MakeError(ErrorCode::kIo, fmt::format("cannot create {}: {}",
                                                 file.parent_path().string(), error.message()));
  }
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(file.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return MakeError(ErrorCode::kIo, fmt::format("cannot open {}: {}", file.string(), message));
  }
  sqlite3_busy_timeout(db, 5000);
  auto store = std::make_unique<SqliteStateStore>(db, file.string());
  if (Status init = store->Init(); !init) return std::unexpected(init.error());
  return std::unique_ptr<StateStore>(std::move(store));
}

}  // namespace streamgate::state
