// backup, restore, points, check, prune, copy: the backup engine (src/backup) for operators and
// benchmarks. Every command takes --repo and --json; a progress line goes to stderr only when
// stderr is a terminal.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "streamgate/backup/repository.hpp"
#include "streamgate/common/clock.hpp"

namespace streamgate::app {
namespace {

using nlohmann::json;
namespace bk = backup;

constexpr const char* kPasswordVar = "STREAMGATE_REPO_PASSWORD";

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} {}", bytes, units[u])
                : fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string Timestamp(WallTime t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Password() {
  const char* p = std::getenv(kPasswordVar);
  return p == nullptr ? "" : p;
}

int Fail(const Error& error) {
  std::fprintf(stderr, "error: %s\n", error.ToString().c_str());
  return error.code() == ErrorCode::kInvalidArgument ? 2 : 1;
}

void PrintJson(const json& j) { std::printf("%s\n", j.dump(2).c_str()); }

// "\r 1.2 GiB / 3.4 GiB  120/560 files  210.3 MiB/s  ETA 0:11" on a terminal, else nothing.
bk::ProgressFn TerminalProgress(const char* verb) {
  if (::isatty(STDERR_FILENO) == 0) return {};
  return [verb](const bk::Progress& p) {
    const double secs = Seconds(p.elapsed);
    const double rate = secs > 0 ? static_cast<double>(p.bytes_done) / secs : 0;
    std::string eta = "-";
    if (rate > 0 && p.bytes_total > p.bytes_done) {
      const auto left = static_cast<long>(static_cast<double>(p.bytes_total - p.bytes_done) / rate);
      eta = fmt::format("{}:{:02}", left / 60, left % 60);
    }
    std::fprintf(stderr, "\r\033[K%s %s / %s  %llu/%llu files  %s/s  ETA %s", verb,
                 HumanBytes(static_cast<double>(p.bytes_done)).c_str(),
                 HumanBytes(static_cast<double>(p.bytes_total)).c_str(),
                 static_cast<unsigned long long>(p.files_done),
                 static_cast<unsigned long long>(p.files_total), HumanBytes(rate).c_str(),
                 eta.c_str());
    if (p.finished) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

Result<std::unique_ptr<bk::Repository>> OpenRepo(const std::string& location) {
  auto store = bk::OpenBlobStore(location);
  if (!store) return std::unexpected(store.error());
  return bk::Repository::Open(*store, Password(), RealClock());
}

json PointJson(const bk::PointInfo& p) {
  return json{{"id", p.id},
              {"plan", p.plan},
              {"strategy", bk::ToString(p.strategy)},
              {"created_at", Timestamp(p.created_at)},
              {"parent", p.parent},
              {"sources", p.sources},
              {"files", p.file_count},
              {"entries", p.entry_count},
              {"logical_bytes", p.logical_bytes},
              {"stored_bytes", p.stored_bytes},
              {"status", p.status}};
}

// Test hook: STREAMGATE_BACKUP_CRASH_AT=pack:N|index|manifest kills the process (SIGKILL)
// right after that stage is durable, as a crash would.
std::function<void(std::string_view, std::uint64_t)> CrashHookFromEnvironment() {
  const char* spec = std::getenv("STREAMGATE_BACKUP_CRASH_AT");
  if (spec == nullptr || *spec == '\0') return {};
  std::string s = spec;
  std::string stage = s.substr(0, s.find(':'));
  std::uint64_t n = 0;
  if (s.find(':') != std::string::npos) {
    n = std::strtoull(s.c_str() + s.find(':') + 1, nullptr, 10);
  }
  return [stage, n](std::string_view at, std::uint64_t count) {
    if (at == stage && count >= n) ::kill(::getpid(), SIGKILL);
  };
}

// ---- backup ----

struct BackupFlags {
  std::string repo;
  std::vector<std::string> sources;
  std::vector<std::string> excludes;
  std::string strategy = "incremental";
  std::string plan = "default";
  bool encrypt = false;
  bool json = false;
  unsigned threads = 0;
  std::optional<int> compression_level;
};

int RunBackup(const BackupFlags& f) {
  auto strategy = bk::ParseStrategy(f.strategy);
  if (!strategy) return Fail(strategy.error());
  auto store = bk::OpenBlobStore(f.repo);
  if (!store) return Fail(store.error());
  auto exists = bk::Repository::Exists(**store);
  if (!exists) return Fail(exists.error());
  Result<std::unique_ptr<bk::Repository>> repo = std::unexpected(Error(ErrorCode::kInternal, ""));
  bool created = false;
  if (*exists) {
    if (f.encrypt) {
      std::fprintf(stderr, "note: --encrypt only applies when the repository is created\n");
    }
    repo = bk::Repository::Open(*store, Password(), RealClock());
  } else {
    bk::RepositoryOptions options;
    options.encrypt = f.encrypt;
    options.passphrase = Password();
    if (f.compression_level) options.compression_level = *f.compression_level;
    if (f.encrypt && options.passphrase.empty()) {
      std::fprintf(stderr, "error: --encrypt needs the passphrase in %s\n", kPasswordVar);
      return 2;
    }
    repo = bk::Repository::Create(*store, options, RealClock());
    created = true;
  }
  if (!repo) return Fail(repo.error());

  bk::BackupRequest request;
  request.sources = f.sources;
  request.excludes = f.excludes;
  request.strategy = *strategy;
  request.plan = f.plan;
  request.threads = f.threads;
  request.progress = TerminalProgress("backup");
  request.crash_hook = CrashHookFromEnvironment();
  auto result = (*repo)->Backup(request);
  if (!result) return Fail(result.error());
  for (const auto& w : result->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  auto stats = (*repo)->Stats();
  const auto& p = result->point;
  const double secs = Seconds(result->duration);
  if (f.json) {
    json j = PointJson(p);
    j.erase("id");
    j["point_id"] = p.id;
    j["repository_created"] = created;
    j["files_read"] = result->files_read;
    j["files_unchanged"] = result->files_unchanged;
    j["bytes_read"] = result->bytes_read;
    j["added_bytes"] = p.stored_bytes;
    j["chunks_new"] = result->chunks_new;
    j["chunks_deduplicated"] = result->chunks_deduplicated;
    j["packs_written"] = result->packs_written;
    j["packs_recovered"] = result->packs_recovered;
    j["repository_bytes"] = stats ? stats->total_bytes : 0;
    j["seconds"] = secs;
    j["warnings"] = result->warnings;
    PrintJson(j);
  } else {
    if (created) std::printf("created repository %s\n", f.repo.c_str());
    std::printf(
        "point %s (%s%s%s): %llu files (%llu read, %llu unchanged), %s read, %s added, "
        "in %.2f s (%s/s)\n",
        p.id.c_str(), std::string(bk::ToString(p.strategy)).c_str(), p.parent.empty() ? "" : " of ",
        p.parent.c_str(), static_cast<unsigned long long>(p.file_count),
        static_cast<unsigned long long>(result->files_read),
        static_cast<unsigned long long>(result->files_unchanged),
        HumanBytes(static_cast<double>(result->bytes_read)).c_str(),
        HumanBytes(static_cast<double>(p.stored_bytes)).c_str(), secs,
        HumanBytes(secs > 0 ? static_cast<double>(result->bytes_read) / secs : 0).c_str());
  }
  return 0;
}

// ---- restore ----

struct RestoreFlags {
  std::string repo;
  std::string fallback_repo;
  std::string point;
  std::string plan;
  std::string target;
  std::vector<std::string> paths;
  bool json = false;
  unsigned threads = 0;
};

// The primary is gone or out of reach (not: wrong passphrase, corrupt config, bad arguments).
bool Unreachable(const Error& e) {
  return e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kTimeout ||
         e.code() == ErrorCode::kIo || e.code() == ErrorCode::kNotFound;
}

int RunRestore(const RestoreFlags& f) {
  std::string used = f.repo;
  auto repo = OpenRepo(f.repo);
  if (!repo && !f.fallback_repo.empty() && Unreachable(repo.error())) {
    std::fprintf(stderr, "primary repository %s unreachable (%s): restoring from %s\n",
                 f.repo.c_str(), repo.error().ToString().c_str(), f.fallback_repo.c_str());
    used = f.fallback_repo;
    repo = OpenRepo(f.fallback_repo);
  }
  if (!repo) return Fail(repo.error());
  bk::RestoreRequest request;
  request.point = f.point;
  request.plan = f.plan;
  request.target = f.target;
  request.paths = f.paths;
  request.threads = f.threads;
  request.progress = TerminalProgress("restore");
  auto result = (*repo)->Restore(request);
  if (!result) return Fail(result.error());
  const double secs = Seconds(result->duration);
  if (f.json) {
    PrintJson(json{{"point_id", result->point},
                   {"repository", used},
                   {"fallback", used != f.repo},
                   {"target", f.target},
                   {"files", result->files},
                   {"directories", result->directories},
                   {"symlinks", result->symlinks},
                   {"bytes_written", result->bytes_written},
                   {"seconds", secs},
                   {"errors", result->errors}});
  } else {
    for (const auto& e : result->errors) std::fprintf(stderr, "error: %s\n", e.c_str());
    std::printf(
        "restored point %s%s into %s: %llu files, %llu directories, %llu symlinks, %s in "
        "%.2f s (%s/s)%s\n",
        result->point.c_str(), used != f.repo ? (" from " + used).c_str() : "", f.target.c_str(),
        static_cast<unsigned long long>(result->files),
        static_cast<unsigned long long>(result->directories),
        static_cast<unsigned long long>(result->symlinks),
        HumanBytes(static_cast<double>(result->bytes_written)).c_str(), secs,
        HumanBytes(secs > 0 ? static_cast<double>(result->bytes_written) / secs : 0).c_str(),
        result->errors.empty() ? "" : fmt::format(", {} errors", result->errors.size()).c_str());
  }
  return result->errors.empty() ? 0 : 1;
}

// ---- points ----

struct PointsFlags {
  std::string repo;
  std::string plan;
  bool json = false;
};

int RunPoints(const PointsFlags& f) {
  auto repo = OpenRepo(f.repo);
  if (!repo) return Fail(repo.error());
  auto points = (*repo)->ListPoints();
  if (!points) return Fail(points.error());
  std::vector<bk::PointInfo> shown;
  for (const auto& p : *points) {
    if (f.plan.empty() || p.plan == f.plan) shown.push_back(p);
  }
  if (f.json) {
    json j = json::array();
    for (const auto& p : shown) j.push_back(PointJson(p));
    PrintJson(j);
    return 0;
  }
  std::printf("%-16s  %-12s  %-12s  %-20s  %-16s  %8s  %10s  %10s\n", "ID", "PLAN", "STRATEGY",
              "CREATED", "PARENT", "FILES", "LOGICAL", "STORED");
  for (const auto& p : shown) {
    std::printf("%-16s  %-12s  %-12s  %-20s  %-16s  %8llu  %10s  %10s\n", p.id.c_str(),
                p.plan.c_str(), std::string(bk::ToString(p.strategy)).c_str(),
                Timestamp(p.created_at).c_str(), p.parent.empty() ? "-" : p.parent.c_str(),
                static_cast<unsigned long long>(p.file_count),
                HumanBytes(static_cast<double>(p.logical_bytes)).c_str(),
                HumanBytes(static_cast<double>(p.stored_bytes)).c_str());
  }
  return 0;
}

// ---- check ----

struct CheckFlags {
  std::string repo;
  bool read_data = false;
  bool json = false;
};

int RunCheck(const CheckFlags& f) {
  auto repo = OpenRepo(f.repo);
  if (!repo) return Fail(repo.error());
  const auto started = std::chrono::steady_clock::now();
  auto report = (*repo)->Check(f.read_data);
  if (!report) return Fail(report.error());
  const double secs = Seconds(std::chrono::steady_clock::now() - started);
  if (f.json) {
    json problems = json::array();
    for (const auto& p : report->problems) {
      problems.push_back({{"kind", p.kind},
                          {"object", p.object},
                          {"message", p.message},
                          {"affected_points", p.affected_points}});
    }
    PrintJson(json{{"ok", report->ok()},
                   {"read_data", f.read_data},
                   {"points", report->points},
                   {"packs", report->packs},
                   {"chunks", report->chunks},
                   {"orphan_packs", report->orphan_packs},
                   {"bytes_verified", report->bytes_verified},
                   {"seconds", secs},
                   {"problems", problems},
                   {"notes", report->notes}});
  } else {
    for (const auto& n : report->notes) std::printf("note: %s\n", n.c_str());
    for (const auto& p : report->problems) {
      std::string affected;
      for (const auto& id : p.affected_points) affected += (affected.empty() ? "" : ", ") + id;
      std::printf("problem: %s %s: %s%s\n", p.kind.c_str(), p.object.c_str(), p.message.c_str(),
                  affected.empty() ? "" : (" (affects points " + affected + ")").c_str());
    }
    std::printf(
        "%s: %llu points, %llu packs, %llu chunks%s, %zu problems\n",
        report->ok() ? "ok" : "FAILED", static_cast<unsigned long long>(report->points),
        static_cast<unsigned long long>(report->packs),
        static_cast<unsigned long long>(report->chunks),
        f.read_data
            ? (", " + HumanBytes(static_cast<double>(report->bytes_verified)) + " verified").c_str()
            : "",
        report->problems.size());
  }
  return report->ok() ? 0 : 1;
}

// ---- prune ----

struct PruneFlags {
  std::string repo;
  std::optional<std::uint32_t> keep_days;
  std::optional<std::uint32_t> keep_last;
  std::vector<std::string> forget;
  double max_unused = 0.0;
  bool dry_run = false;
  bool json = false;
};

int RunPrune(const PruneFlags& f) {
  auto repo = OpenRepo(f.repo);
  if (!repo) return Fail(repo.error());
  bk::PruneOptions options;
  options.keep_days = f.keep_days;
  options.keep_last = f.keep_last;
  options.forget = f.forget;
  options.max_unused_fraction = f.max_unused;
  options.dry_run = f.dry_run;
  const auto started = std::chrono::steady_clock::now();
  auto result = (*repo)->Prune(options);
  if (!result) return Fail(result.error());
  const double secs = Seconds(std::chrono::steady_clock::now() - started);
  if (f.json) {
    PrintJson(json{{"dry_run", f.dry_run},
                   {"removed_points", result->removed_points},
                   {"packs_deleted", result->packs_deleted},
                   {"packs_repacked", result->packs_repacked},
                   {"packs_written", result->packs_written},
                   {"bytes_freed", result->bytes_freed},
                   {"repository_bytes", result->repository_bytes},
                   {"seconds", secs}});
  } else {
    for (const auto& id : result->removed_points) {
      std::printf("%s point %s\n", f.dry_run ? "would remove" : "removed", id.c_str());
    }
    if (!f.dry_run) {
      std::printf("%llu packs deleted, %llu repacked into %llu, %s freed, repository now %s\n",
                  static_cast<unsigned long long>(result->packs_deleted),
                  static_cast<unsigned long long>(result->packs_repacked),
                  static_cast<unsigned long long>(result->packs_written),
                  HumanBytes(static_cast<double>(result->bytes_freed)).c_str(),
                  HumanBytes(static_cast<double>(result->repository_bytes)).c_str());
    }
  }
  return 0;
}

// ---- copy ----

struct CopyFlags {
  std::string from;
  std::string to;
  std::vector<std::string> points;
  std::string plan;
  unsigned threads = 0;
  bool json = false;
};

int RunCopy(const CopyFlags& f) {
  auto source = OpenRepo(f.from);
  if (!source) return Fail(source.error());
  auto store = bk::OpenBlobStore(f.to);
  if (!store) return Fail(store.error());
  auto exists = bk::Repository::Exists(**store);
  if (!exists) return Fail(exists.error());
  auto destination = bk::Repository::OpenOrCreateMirror(*store, **source, RealClock());
  if (!destination) return Fail(destination.error());

  bk::CopyRequest request;
  request.points = f.points;
  request.plan = f.plan;
  request.threads = f.threads;
  if (::isatty(STDERR_FILENO) != 0) {  // files_* count chunks here
    request.progress = [](const bk::Progress& p) {
      const double secs = Seconds(p.elapsed);
      std::fprintf(stderr, "\r\033[Kcopy %s / %s  %llu/%llu chunks  %s/s",
                   HumanBytes(static_cast<double>(p.bytes_done)).c_str(),
                   HumanBytes(static_cast<double>(p.bytes_total)).c_str(),
                   static_cast<unsigned long long>(p.files_done),
                   static_cast<unsigned long long>(p.files_total),
                   HumanBytes(secs > 0 ? static_cast<double>(p.bytes_done) / secs : 0).c_str());
      if (p.finished) std::fprintf(stderr, "\n");
      std::fflush(stderr);
    };
  }
  request.crash_hook = CrashHookFromEnvironment();
  auto result = (*source)->CopyTo(**destination, request);
  if (!result) return Fail(result.error());
  const double secs = Seconds(result->duration);
  if (f.json) {
    PrintJson(json{{"from", f.from},
                   {"to", f.to},
                   {"repository_created", !*exists},
                   {"copied_points", result->copied_points},
                   {"present_points", result->present_points},
                   {"chunks_sent", result->chunks_sent},
                   {"chunks_present", result->chunks_present},
                   {"bytes_sent", result->bytes_sent},
                   {"packs_written", result->packs_written},
                   {"packs_recovered", result->packs_recovered},
                   {"seconds", secs}});
  } else {
    if (!*exists)
      std::printf("created repository %s (mirror of %s)\n", f.to.c_str(), f.from.c_str());
    for (const auto& id : result->copied_points) std::printf("copied point %s\n", id.c_str());
    std::printf(
        "%zu points copied (%zu already there) to %s: %llu chunks sent (%s) in %llu packs, "
        "%llu chunks already there%s, in %.2f s (%s/s)\n",
        result->copied_points.size(), result->present_points.size(), f.to.c_str(),
        static_cast<unsigned long long>(result->chunks_sent),
        HumanBytes(static_cast<double>(result->bytes_sent)).c_str(),
        static_cast<unsigned long long>(result->packs_written),
        static_cast<unsigned long long>(result->chunks_present),
        result->packs_recovered == 0
            ? ""
            : fmt::format(", {} packs of an interrupted copy reused", result->packs_recovered)
                  .c_str(),
        secs, HumanBytes(secs > 0 ? static_cast<double>(result->bytes_sent) / secs : 0).c_str());
  }
  return 0;
}

void AddRepo(CLI::App* cmd, std::string& repo) {
  cmd->add_option("--repo", repo, "Repository directory (created by the first backup)")->required();
}

}  // namespace

void RegisterBackupCommands(CLI::App& app, Runners& runners) {
  static BackupFlags backup;
  auto* b = app.add_subcommand(
      "backup",
      "Back up directories into a repository as a new recovery point.\n"
      "The first backup creates the repository (--encrypt then encrypts it with the passphrase "
      "in STREAMGATE_REPO_PASSWORD).\n"
      "full reads every file; incremental reads files changed since the plan's last point; "
      "differential reads files changed since the plan's last full point.");
  AddRepo(b, backup.repo);
  b->add_option("--source", backup.sources, "Directory (or file) to back up; repeatable")
      ->required();
  b->add_option("--strategy", backup.strategy, "full, incremental or differential")
      ->check(CLI::IsMember({"full", "incremental", "differential"}))
      ->capture_default_str();
  b->add_option("--plan", backup.plan, "Plan id the point belongs to")->capture_default_str();
  b->add_option("--exclude", backup.excludes,
                "Skip entries: a pattern without '/' matches base names (*.tmp), one with '/' "
                "matches stored paths (src/cache); repeatable");
  b->add_flag("--encrypt", backup.encrypt,
              "Encrypt a new repository (passphrase from "
              "STREAMGATE_REPO_PASSWORD)");
  b->add_option("--threads", backup.threads, "Worker threads (0: one per core)")
      ->capture_default_str();
  b->add_option("--compression-level", backup.compression_level,
                "zstd level 1..19 for a new repository (default 1)")
      ->check(CLI::Range(1, 19));
  b->add_flag("--json", backup.json, "Print the result as JSON");
  runners.push_back({b, [] { return RunBackup(backup); }});

  static RestoreFlags restore;
  auto* r = app.add_subcommand(
      "restore",
      "Restore a recovery point into a directory (entries land under TARGET/<source name>/).\n"
      "Every chunk is verified; files are written to a temporary name and renamed; entries "
      "that would land outside the target are refused.");
  AddRepo(r, restore.repo);
  r->add_option("--point", restore.point, "Point id (or a unique prefix), or 'latest'")->required();
  r->add_option("--target", restore.target, "Directory to restore into")->required();
  r->add_option("--path", restore.paths,
                "Restore only this stored path and what is below it (e.g. src/logs); repeatable");
  r->add_option("--plan", restore.plan, "With --point latest: the newest point of this plan");
  r->add_option("--fallback-repo", restore.fallback_repo,
                "Restore from this repository (e.g. the secondary region's copy) when --repo is "
                "unreachable or missing; says so on stderr");
  r->add_option("--threads", restore.threads, "Worker threads (0: one per core)")
      ->capture_default_str();
  r->add_flag("--json", restore.json, "Print the result as JSON");
  runners.push_back({r, [] { return RunRestore(restore); }});

  static PointsFlags points;
  auto* p = app.add_subcommand("points", "List the recovery points of a repository, oldest first");
  AddRepo(p, points.repo);
  p->add_option("--plan", points.plan, "Only this plan's points");
  p->add_flag("--json", points.json, "Print the points as JSON");
  runners.push_back({p, [] { return RunPoints(points); }});

  static CheckFlags check;
  auto* c = app.add_subcommand(
      "check",
      "Verify a repository's structure (catalog, manifests, index, packs); with --read-data "
      "also every chunk's hash, naming the points a damaged chunk affects. Exit 1 on problems.");
  AddRepo(c, check.repo);
  c->add_flag("--read-data", check.read_data, "Read and verify every chunk");
  c->add_flag("--json", check.json, "Print the report as JSON");
  runners.push_back({c, [] { return RunCheck(check); }});

  static PruneFlags prune;
  auto* pr = app.add_subcommand(
      "prune",
      "Remove recovery points by retention (per plan; the newest point of each plan always "
      "stays) and free the data no remaining point uses.");
  AddRepo(pr, prune.repo);
  pr->add_option("--keep-days", prune.keep_days, "Keep points younger than N days");
  pr->add_option("--keep-last", prune.keep_last, "Keep the newest N points of each plan")
      ->check(CLI::Range(1U, 1000000U));
  pr->add_option("--forget", prune.forget, "Remove this point explicitly; repeatable");
  pr->add_option("--max-unused", prune.max_unused,
                 "Repack a pack only when more than this fraction of it is unused (0..1)")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  pr->add_flag("--dry-run", prune.dry_run, "Only list the points that would be removed");
  pr->add_flag("--json", prune.json, "Print the result as JSON");
  runners.push_back({pr, [] { return RunPrune(prune); }});

  static CopyFlags copy;
  auto* cp = app.add_subcommand(
      "copy",
      "Copy recovery points to a second repository (e.g. another region), sending only the "
      "chunks it lacks; every chunk is verified on the way. The destination is created as a "
      "mirror (same chunking, hash and keys) when empty. An interrupted copy resumes where it "
      "stopped.");
  cp->add_option("--from", copy.from, "Source repository (directory or s3://bucket/prefix)")
      ->required();
  cp->add_option("--to", copy.to, "Destination repository (directory or s3://bucket/prefix)")
      ->required();
  cp->add_option("--point", copy.points,
                 "Point id (or unique prefix, or 'latest'); repeatable. Default: every point "
                 "the destination lacks");
  cp->add_option("--plan", copy.plan, "Only this plan's points ('latest' is its newest)");
  cp->add_option("--threads", copy.threads, "Reader threads (0: one per core)")
      ->capture_default_str();
  cp->add_flag("--json", copy.json, "Print the result as JSON");
  runners.push_back({cp, [] { return RunCopy(copy); }});
}

}  // namespace streamgate::app
