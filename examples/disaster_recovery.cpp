// Disaster recovery manager, following the spec's Usage section: create a backup plan, create
// recovery points (real, deduplicated backups), recover from the newest one, and test recovery
// against the plan's RPO and RTO.
//
// Everything happens under a temporary directory: the data to protect, the plan's repository,
// its copy in the secondary region (a second directory here; s3://bucket/prefix in production)
// and the restore target. The directory is removed at the end.
#include "streamgate/scaling/disaster_recovery.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <system_error>

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using streamgate::scaling::BackupStrategy;
using streamgate::scaling::DisasterRecoveryManager;
using streamgate::scaling::DisasterRecoveryPlan;

namespace {

bool Check(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "example failed: %s\n", what);
  return ok;
}

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Incompressible bytes, like real video.
std::string RandomBytes(std::size_t size) {
  std::mt19937_64 generator(42);
  std::string bytes(size, '\0');
  for (char& byte : bytes) byte = static_cast<char>(generator() & 0xff);
  return bytes;
}

// The restored copy of `name`, wherever the restore put it under `root`.
fs::path Find(const fs::path& root, const std::string& name) {
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().filename() == name) return entry.path();
  }
  return {};
}

// Removes the example's directory however main returns.
struct TempDir {
  fs::path path =
      fs::temp_directory_path() / ("streamgate-dr-example-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

int Run(const fs::path& work) {
  // The data to protect: a small site with a "video".
  const fs::path site = work / "site";
  WriteFile(site / "index.html", "<h1>StreamGate</h1>\n");
  WriteFile(site / "videos" / "intro.mp4", RandomBytes(300 * 1024));

  // Create the disaster recovery manager (at most 100 recovery points over all plans).
  DisasterRecoveryManager drm(100);

  // Create a backup plan.
  DisasterRecoveryPlan plan;
  plan.id = "plan-1";
  plan.name = "Primary Backup";
  plan.strategy = BackupStrategy::kFull;
  plan.backup_interval = 24h;
  plan.retention_days = 30;
  plan.rpo = 60min;   // Recovery Point Objective
  plan.rto = 120min;  // Recovery Time Objective
  plan.primary_region = "us-east-1";
  plan.secondary_region = "eu-west-1";
  plan.sources = {site.string()};
  plan.repository = (work / "backups" / "us-east-1").string();
  plan.secondary_repository = (work / "backups" / "eu-west-1").string();
  if (auto status = drm.CreatePlan(plan); !status) {
    std::fprintf(stderr, "create plan: %s\n", status.error().ToString().c_str());
    return 1;
  }

  // Create recovery points: a backup is due (the plan has none yet).
  bool ok = Check(drm.ShouldBackup("plan-1"), "a new plan needs a backup");
  if (drm.ShouldBackup("plan-1")) {
    auto rp = drm.CreateRecoveryPoint("plan-1");
    if (!rp) {
      std::fprintf(stderr, "backup: %s\n", rp.error().ToString().c_str());
      return 1;
    }
    std::printf("Recovery point created: %s (%llu files, %llu bytes, %llu stored)\n",
                rp->id.c_str(), static_cast<unsigned long long>(rp->file_count),
                static_cast<unsigned long long>(rp->logical_size),
                static_cast<unsigned long long>(rp->stored_size));
  }
  ok &= Check(!drm.ShouldBackup("plan-1"), "no backup due right after one");

  // The site changes; a second backup stores only what is new (deduplication).
  WriteFile(site / "index.html", "<h1>StreamGate, now with more regions</h1>\n");
  auto second = drm.CreateRecoveryPoint("plan-1");
  if (!second) {
    std::fprintf(stderr, "backup: %s\n", second.error().ToString().c_str());
    return 1;
  }
  std::printf("Recovery point created: %s (%llu bytes, %llu stored; copied to eu-west-1: %s)\n",
              second->id.c_str(), static_cast<unsigned long long>(second->logical_size),
              static_cast<unsigned long long>(second->stored_size),
              second->in_secondary ? "yes" : "not yet");
  ok &=
      Check(second->stored_size < second->logical_size / 10, "unchanged data is not stored twice");

  // Recover from backup: the newest point, into a new directory.
  auto rps = drm.ListRecoveryPoints("plan-1");
  ok &= Check(rps.size() == 2, "two recovery points");
  if (!rps.empty()) {
    const auto& latest = rps.back();
    const fs::path target = work / "restored";
    auto restored = drm.InitiateRecovery(latest.id, target.string());
    if (!restored) {
      std::fprintf(stderr, "recovery: %s\n", restored.error().ToString().c_str());
      return 1;
    }
    std::printf("Recovery initiated from: %s (%llu files, %llu bytes in %lldms, from %s)\n",
                latest.id.c_str(), static_cast<unsigned long long>(restored->files),
                static_cast<unsigned long long>(restored->bytes),
                static_cast<long long>(restored->duration.count()), restored->region.c_str());
    const fs::path index = Find(target, "index.html");
    ok &= Check(!index.empty() && ReadFile(index) == ReadFile(site / "index.html"),
                "the restored index.html is the newest one");
  }

  // Test recovery: restore the newest point into scratch space, verify every file, and measure
  // the restore time against the RTO and the point's age against the RPO.
  auto test = drm.TestRecovery("plan-1");
  if (!test) {
    std::fprintf(stderr, "test: %s\n", test.error().ToString().c_str());
    return 1;
  }
  std::printf(
      "Recovery test completed: %s, %llu files verified; restore %lldms (RTO %lld min: %s),"
      " point age %llds (RPO %lld min: %s)\n",
      test->passed ? "passed" : test->message.c_str(),
      static_cast<unsigned long long>(test->files_verified),
      static_cast<long long>(test->restore_time.count()), static_cast<long long>(test->rto.count()),
      test->rto_met ? "met" : "missed", static_cast<long long>(test->point_age.count()),
      static_cast<long long>(test->rpo.count()), test->rpo_met ? "met" : "missed");
  ok &= Check(test->passed && test->rto_met && test->rpo_met, "the recovery test passes");

  const auto stats = drm.GetRecoveryStats();
  std::printf("Plans: %zu, recovery points: %zu, stored: %llu bytes, tests passed: %llu/%llu\n",
              stats.plans, stats.recovery_points,
              static_cast<unsigned long long>(stats.total_backup_size),
              static_cast<unsigned long long>(stats.tests_passed),
              static_cast<unsigned long long>(stats.tests_run));
  return ok ? 0 : 1;
}

}  // namespace

int main() {
  TempDir work;
  return Run(work.path);
}
