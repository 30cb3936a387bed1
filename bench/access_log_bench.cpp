// Access log hot path: ns per AccessLog::Write for both formats, with one and two writer threads,
// into a real file (the background thread writes while the benchmark runs); and the
// alternatives it was measured against: formatting alone, the JSON line through nlohmann-json,
// and the same preformatted line through an spdlog async logger (bounded queue,
// overrun_oldest). The file is in $TMPDIR (or /tmp) and removed afterwards.
#include <benchmark/benchmark.h>
#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "proxy/access_log.hpp"

namespace streamgate::proxy {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path BenchFile(const std::string& name) {
  return fs::temp_directory_path() /
         ("sg-access-log-bench-" + std::to_string(::getpid()) + "-" + name);
}

// A typical request (a 230-byte text line, 400-byte JSON line); the time moves 37 µs per call, so
// the formatted second changes now and then.
AccessLogEntry Entry(std::int64_t n) {
  AccessLogEntry e;
  e.time = WallTime(std::chrono::sys_days(std::chrono::year{2026} / 11 / 28) + n * 37us);
  e.client = "203.0.113.54";
  e.listener = "public";
  e.method = "GET";
  e.target = "/live/channel-7/1080p/segment_000421.ts?token=Xk9q2LmZ";
  e.version = 11;
  e.host = "video.example.com";
  e.status = 200;
  e.bytes_sent = 1'843'200;
  e.duration = 1834us;
  e.backend = "eu-west-1a";
  e.cache = "HIT";
  e.user_agent =
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0 Safari/537.36";
  e.referer = "https://www.example.com/watch/7";
  e.attempts = 1;
  return e;
}

void BM_Format(benchmark::State& state, AccessLogFormat format) {
  AccessLogFormatter formatter(format);
  std::string out;
  std::int64_t n = 0;
  for (auto _ : state) {
    out.clear();
    formatter.Append(Entry(n++), out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK_CAPTURE(BM_Format, text, AccessLogFormat::kText);
BENCHMARK_CAPTURE(BM_Format, json, AccessLogFormat::kJson);

// The same JSON object through nlohmann-json (what the daemon's own JSON log lines use).
void BM_FormatJsonNlohmann(benchmark::State& state) {
  std::string out;
  std::int64_t n = 0;
  for (auto _ : state) {
    const AccessLogEntry e = Entry(n++);
    nlohmann::json line = {
        {"time", "2026-11-28T17:35:24.123Z"},  // given: only the object and its dump count
        {"client", e.client},
        {"listener", e.listener},
        {"method", e.method},
        {"target", e.target},
        {"protocol", "HTTP/1.1"},
        {"host", e.host},
        {"status", e.status},
        {"bytes_sent", e.bytes_sent},
        {"duration_us", e.duration.count()},
        {"backend", e.backend},
        {"cache", e.cache},
        {"user_agent", e.user_agent},
        {"referer", e.referer},
        {"attempts", e.attempts},
    };
    out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.push_back('\n');
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_FormatJsonNlohmann);

// One log per case shared by the benchmark's threads, as proxy threads share one.
std::shared_ptr<AccessLog> shared_log;

// Into /dev/null: the cost on the proxy thread (the flusher keeps up, nothing is dropped). Into
// a file: the same with the flusher writing to disk; a writer outrunning the disk drops lines.
void BM_Write(benchmark::State& state, AccessLogFormat format, bool to_file) {
  const std::string name = format == AccessLogFormat::kText ? "text" : "json";
  const fs::path path = to_file ? BenchFile(name) : fs::path("/dev/null");
  if (state.thread_index() == 0) {
    auto log = AccessLog::Open(path.string(), name);
    if (!log) {
      state.SkipWithError(log.error().ToString().c_str());
      return;
    }
    shared_log = *log;
  }
  std::int64_t n = 0;
  for (auto _ : state) {
    shared_log->Write(Entry(n++));
  }
  if (state.thread_index() == 0) {
    shared_log->Flush();
    state.counters["dropped"] = static_cast<double>(shared_log->dropped());
    shared_log.reset();
    if (to_file) fs::remove(path);
  }
}
BENCHMARK_CAPTURE(BM_Write, text_devnull, AccessLogFormat::kText, false)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Write, json_devnull, AccessLogFormat::kJson, false)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
// 400,000 lines (about 90 MB) per run, so the disk of a shared machine is not flooded.
BENCHMARK_CAPTURE(BM_Write, text_file, AccessLogFormat::kText, true)
    ->Threads(1)
    ->Threads(2)
    ->Iterations(200'000)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Write, json_file, AccessLogFormat::kJson, true)
    ->Threads(1)
    ->Threads(2)
    ->Iterations(200'000)
    ->UseRealTime();

// The alternative design: format on the calling thread, then hand the line to an spdlog async
// logger (8192-slot queue, one writer thread, overrun_oldest) writing the same kind of file.
std::shared_ptr<spdlog::async_logger> spdlog_logger;
std::shared_ptr<spdlog::details::thread_pool> spdlog_pool;

void BM_SpdlogAsyncWrite(benchmark::State& state) {
  const fs::path path = BenchFile("spdlog");
  if (state.thread_index() == 0) {
    spdlog_pool = std::make_shared<spdlog::details::thread_pool>(8192, 1);
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path.string());
    sink->set_pattern("%v");
    spdlog_logger = std::make_shared<spdlog::async_logger>(
        "access", sink, spdlog_pool, spdlog::async_overflow_policy::overrun_oldest);
  }
  AccessLogFormatter formatter(AccessLogFormat::kText);
  std::string line;
  std::int64_t n = 0;
  for (auto _ : state) {
    line.clear();
    formatter.Append(Entry(n++), line);
    line.pop_back();  // spdlog adds the newline
    spdlog_logger->info(std::string_view(line));
  }
  if (state.thread_index() == 0) {
    spdlog_logger->flush();
    state.counters["dropped"] = static_cast<double>(spdlog_pool->overrun_counter());
    spdlog_logger.reset();
    spdlog_pool.reset();
    fs::remove(path);
  }
}
BENCHMARK(BM_SpdlogAsyncWrite)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace streamgate::proxy

BENCHMARK_MAIN();
