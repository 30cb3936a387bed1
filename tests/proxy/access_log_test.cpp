// The access log writer: both line formats (exact lines), escaping of hostile bytes so that one
// request is one parseable line, stdout and file targets, reopening after rotation, concurrent
// writers, a full buffer dropping and counting, and clear errors.
#include "proxy/access_log.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace streamgate::proxy {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("sg-access-log-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    EXPECT_NE(end, std::string::npos) << "last line has no newline";
    if (end == std::string::npos) break;
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// 2026-11-28T17:35:24.123Z
WallTime SampleTime() {
  using namespace std::chrono;
  return WallTime(sys_days(year{2026} / November / 28) + 17h + 35min + 24s + 123ms);
}

AccessLogEntry SampleEntry() {
  AccessLogEntry e;
  e.time = SampleTime();
  e.client = "10.0.0.1";
  e.listener = "public";
  e.method = "GET";
  e.target = "/a?b=1";
  e.version = 11;
  e.host = "example.com";
  e.status = 200;
  e.bytes_sent = 1024;
  e.duration = 1200us;
  e.backend = "us-1";
  e.cache = "MISS";
  e.user_agent = "curl/7.88";
  e.referer = "https://ref.example/x";
  e.attempts = 1;
  return e;
}

std::shared_ptr<AccessLog> OpenOrDie(const std::string& target, const std::string& format,
                                     AccessLogOptions options = {}) {
  auto log = AccessLog::Open(target, format, options);
  EXPECT_TRUE(log.has_value()) << log.error().ToString();
  return log ? *log : nullptr;
}

// A combined-plus-extras line split into its fields, escapes (\xHH) undone.
struct TextLine {
  std::string client, time, request, status, bytes, referer, user_agent, duration, backend, cache,
      attempts, host, listener;
};

std::string Unescape(const std::string& field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] == 'x') {
      out.push_back(static_cast<char>(std::stoi(field.substr(i + 2, 2), nullptr, 16)));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

std::optional<TextLine> ParseText(const std::string& line) {
  static const std::regex kLine(
      R"re(^(\S+) - - \[([^\]]+)\] "([^"]*)" (\d+) (\d+) "([^"]*)" "([^"]*)" (\d+\.\d{6}) )re"
      R"re(backend=(\S+) cache=(\S+) attempts=(\d+) host=(\S+) listener=(\S+)$)re");
  std::smatch m;
  if (!std::regex_match(line, m, kLine)) return std::nullopt;
  return TextLine{Unescape(m[1]), m[2],
                  Unescape(m[3]), m[4],
                  m[5],           Unescape(m[6]),
                  Unescape(m[7]), m[8],
                  Unescape(m[9]), Unescape(m[10]),
                  m[11],          Unescape(m[12]),
                  Unescape(m[13])};
}

TEST(AccessLogTest, TextLineIsCombinedPlusExtras) {
  TempDir dir;
  const auto path = dir.path() / "access.log";
  auto log = OpenOrDie(path.string(), "text");
  ASSERT_TRUE(log);
  log->Write(SampleEntry());
  log->Flush();
  EXPECT_EQ(ReadFile(path),
            "10.0.0.1 - - [28/Nov/2026:17:35:24 +0000] \"GET /a?b=1 HTTP/1.1\" 200 1024 "
            "\"https://ref.example/x\" \"curl/7.88\" 0.001200 backend=us-1 cache=MISS attempts=1 "
            "host=example.com listener=public\n");
}

TEST(AccessLogTest, TextLineShowsEmptyFieldsAsDash) {
  TempDir dir;
  const auto path = dir.path() / "access.log";
  auto log = OpenOrDie(path.string(), "text");
  ASSERT_TRUE(log);
  AccessLogEntry e;
  e.time = SampleTime() + 3'600'000'000us + 2'500'000us;  // another second: the cache moves on
  e.client = "::1";
  e.method = "HEAD";
  e.target = "/";
  e.version = 10;
  e.duration = 12'345'678us;
  log->Write(e);
  log->Flush();
  EXPECT_EQ(ReadFile(path),
            "::1 - - [28/Nov/2026:18:35:26 +0000] \"HEAD / HTTP/1.0\" 0 0 \"-\" \"-\" 12.345678 "
            "backend=- cache=- attempts=0 host=- listener=-\n");
}

TEST(AccessLogTest, JsonLineHasEveryFieldInSnakeCase) {
  TempDir dir;
  const auto path = dir.path() / "access.log";
  auto log = OpenOrDie(path.string(), "json");
  ASSERT_TRUE(log);
  log->Write(SampleEntry());
  log->Flush();
  const std::string text = ReadFile(path);
  EXPECT_EQ(text,
            R"({"time":"2026-11-28T17:35:24.123Z","client":"10.0.0.1","listener":"public",)"
            R"("method":"GET","target":"/a?b=1","protocol":"HTTP/1.1","host":"example.com",)"
            R"("status":200,"bytes_sent":1024,"duration_us":1200,"backend":"us-1","cache":"MISS",)"
            R"("user_agent":"curl/7.88","referer":"https://ref.example/x","attempts":1})"
            "\n");
  const auto json = nlohmann::json::parse(text);
  EXPECT_EQ(json.at("status"), 200);
  EXPECT_EQ(json.at("user_agent"), "curl/7.88");
}

TEST(AccessLogTest, TextEscapesHostileTargetAndUserAgentIntoOneParseableLine) {
  TempDir dir;
  const auto path = dir.path() / "access.log";
  auto log = OpenOrDie(path.string(), "text");
  ASSERT_TRUE(log);
  // A target and User-Agent that try to end the line and forge a second request.
  const std::string target = "/x\" 200 1 \"-\" \"-\"\n6.6.6.6 - - [x] \"GET /forged\\ \x01\x7f\xff";
  const std::string ua = "Mozilla\r\n\"evil\"\t\\u0041";
  const std::string host = "a b\"c";
  AccessLogEntry e = SampleEntry();
  e.target = target;
  e.user_agent = ua;
  e.referer = "\n";
  e.host = host;
  log->Write(e);
  log->Write(SampleEntry());
  log->Flush();
  const auto lines = Lines(ReadFile(path));
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& line : lines) {
    for (const char c : line) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "unescaped byte " << int(static_cast<unsigned char>(c));
    }
  }
  const auto parsed = ParseText(lines[0]);
  ASSERT_TRUE(parsed.has_value()) << lines[0];
  EXPECT_EQ(parsed->request, "GET " + target + " HTTP/1.1");
  EXPECT_EQ(parsed->user_agent, ua);
  EXPECT_EQ(parsed->referer, "\n");
  EXPECT_EQ(parsed->host, host);
  EXPECT_EQ(parsed->status, "200");
  EXPECT_EQ(parsed->listener, "public");
  ASSERT_TRUE(ParseText(lines[1]).has_value()) << lines[1];
}

TEST(AccessLogTest, JsonEscapesHostileTargetAndUserAgentIntoOneParseableLine) {
  TempDir dir;
  const auto path = dir.path() / "access.log";
  auto log = OpenOrDie(path.string(), "json");
  ASSERT_TRUE(log);
  const std::string target =
      "/x\",\"status\":999}\n{\"forged\":1\x01\x1f\x7f/\xc3\xa9/\xe2\x82\xac";
  // Invalid UTF-8: a stray continuation byte, an overlong '/', a truncated sequence at the end.
  const std::string ua = "agent\\\"\r\n\t\b\f \x80 \xc0\xaf \xe2\x82";
  AccessLogEntry e = SampleEntry();
  e.target = target;
  e.user_agent = ua;
  log->Write(e);
  log->Flush();
  const auto lines = Lines(ReadFile(path));
  ASSERT_EQ(lines.size(), 1u);
  nlohmann::json json;
  ASSERT_NO_THROW(json = nlohmann::json::parse(lines[0])) << lines[0];  // also checks UTF-8
  EXPECT_EQ(json.at("target"), target);
  EXPECT_EQ(json.at("status"), 200);
  EXPECT_FALSE(json.contains("forged"));
  EXPECT_EQ(json.at("user_agent"),
            "agent\\\"\r\n\t\b\f \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd");
}

TEST(AccessLogTest, StdoutTargetWritesToStandardOutput) {
  TempDir dir;
  const auto captured = dir.path() / "stdout.txt";
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  ASSERT_GE(saved, 0);
  FILE* file = std::fopen(captured.c_str(), "w");
  ASSERT_NE(file, nullptr);
  ASSERT_GE(::dup2(::fileno(file), STDOUT_FILENO), 0);
  std::uint64_t dropped = 1;
  {
    auto log = AccessLog::Open("stdout", "json");
    if (log) {
      (*log)->Write(SampleEntry());
      (*log)->Flush();
      dropped = (*log)->dropped();
      EXPECT_TRUE((*log)->Reopen().has_value());  // nothing to reopen: fine
    }
  }
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  std::fclose(file);
  EXPECT_EQ(dropped, 0u);
  const auto lines = Lines(ReadFile(captured));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0]).at("client"), "10.0.0.1");
}

TEST(AccessLogTest, FileIsCreated0640AndAppendedTo) {
  TempDir dir;
  const auto path = dir.path() / "access.log";
  const mode_t old_umask = ::umask(022);
  {
    auto log = OpenOrDie(path.string(), "text");
    ASSERT_TRUE(log);
  }
  ::umask(old_umask);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);

  { std::ofstream(path, std::ios::app) << "earlier line\n"; }
  {
    auto log = OpenOrDie(path.string(), "text");
    ASSERT_TRUE(log);
    log->Write(SampleEntry());
  }  // the destructor writes out what is buffered
  const auto lines = Lines(ReadFile(path));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "earlier line");
  EXPECT_TRUE(ParseText(lines[1]).has_value()) << lines[1];
}

TEST(AccessLogTest, ReopenAfterRenameWritesToANewFileAtThePath) {
  TempDir dir;
  const auto path = dir.path() / "access.log";
  const auto rotated = dir.path() / "access.log.1";
  auto log = OpenOrDie(path.string(), "json", {.flush_interval = 1h});
  ASSERT_TRUE(log);
  AccessLogEntry e = SampleEntry();
  e.target = "/before";
  log->Write(e);
  log->Flush();
  fs::rename(path, rotated);  // what logrotate does
  e.target = "/between";      // buffered while the file is moved: belongs to the old file
  log->Write(e);
  ASSERT_TRUE(log->Reopen().has_value());
  e.target = "/after";
  log->Write(e);
  log->Flush();

  const auto old_lines = Lines(ReadFile(rotated));
  ASSERT_EQ(old_lines.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(old_lines[0]).at("target"), "/before");
  EXPECT_EQ(nlohmann::json::parse(old_lines[1]).at("target"), "/between");
  ASSERT_TRUE(fs::exists(path));
  const auto new_lines = Lines(ReadFile(path));
  ASSERT_EQ(new_lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(new_lines[0]).at("target"), "/after");
}

TEST(AccessLogTest, FailedReopenNamesThePathAndKeepsTheOldFile) {
  TempDir dir;
  const auto logs = dir.path() / "logs";
  fs::create_directories(logs);
  const auto path = logs / "access.log";
  auto log = OpenOrDie(path.string(), "text");
  ASSERT_TRUE(log);
  fs::rename(logs, dir.path() / "moved");  // the directory is gone: reopening fails
  const Status reopened = log->Reopen();
  ASSERT_FALSE(reopened.has_value());
  EXPECT_EQ(reopened.error().code(), ErrorCode::kIo);
  EXPECT_NE(reopened.error().message().find(path.string()), std::string::npos)
      << reopened.error().message();
  log->Write(SampleEntry());
  log->Flush();
  EXPECT_EQ(Lines(ReadFile(dir.path() / "moved" / "access.log")).size(), 1u);
  EXPECT_EQ(log->dropped(), 0u);
}

TEST(AccessLogTest, UnwritablePathGivesAnErrorNamingIt) {
  TempDir dir;
  const std::string missing_dir = (dir.path() / "no-such-dir" / "access.log").string();
  auto log = AccessLog::Open(missing_dir, "text");
  ASSERT_FALSE(log.has_value());
  EXPECT_EQ(log.error().code(), ErrorCode::kIo);
  EXPECT_NE(log.error().message().find("'" + missing_dir + "'"), std::string::npos)
      << log.error().message();
  EXPECT_NE(log.error().message().find("No such file or directory"), std::string::npos)
      << log.error().message();

  auto directory = AccessLog::Open(dir.path().string(), "json");  // a directory, not a file
  ASSERT_FALSE(directory.has_value());
  EXPECT_NE(directory.error().message().find(dir.path().string()), std::string::npos)
      << directory.error().message();
}

TEST(AccessLogTest, RejectsUnknownFormatAndEmptyTarget) {
  TempDir dir;
  auto format = AccessLog::Open((dir.path() / "a.log").string(), "xml");
  ASSERT_FALSE(format.has_value());
  EXPECT_EQ(format.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(format.error().message().find("'xml'"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() / "a.log"));

  auto empty = AccessLog::Open("", "text");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);

  auto tiny = AccessLog::Open((dir.path() / "b.log").string(), "text", {.max_buffer_bytes = 10});
  ASSERT_FALSE(tiny.has_value());
  EXPECT_EQ(tiny.error().code(), ErrorCode::kInvalidArgument);
}

TEST(AccessLogTest, ConcurrentWritersProduceWholeLinesOnly) {
  TempDir dir;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10'000;
  for (const std::string format : {"text", "json"}) {
    SCOPED_TRACE(format);
    const auto path = dir.path() / ("access-" + format + ".log");
    // A short interval so that the flusher writes while the threads append.
    auto log =
        OpenOrDie(path.string(), format, {.flush_interval = 1ms, .max_buffer_bytes = 64 << 20});
    ASSERT_TRUE(log);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&log, t] {
        for (int i = 0; i < kPerThread; ++i) {
          // Lines of varying length, each naming its thread and sequence number.
          const std::string target =
              "/t" + std::to_string(t) + "/" + std::to_string(i) + "/" + std::string(i % 300, 'p');
          AccessLogEntry e = SampleEntry();
          e.target = target;
          log->Write(e);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    log->Flush();
    EXPECT_EQ(log->dropped(), 0u);

    const auto lines = Lines(ReadFile(path));
    ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kPerThread));
    std::set<std::pair<int, int>> seen;
    std::vector<int> next(kThreads, 0);  // one thread's lines stay in its order
    for (const std::string& line : lines) {
      std::string target;
      if (format == "text") {
        const auto parsed = ParseText(line);
        ASSERT_TRUE(parsed.has_value()) << line;
        target = parsed->request.substr(4, parsed->request.size() - 4 - 9);
      } else {
        nlohmann::json json;
        ASSERT_NO_THROW(json = nlohmann::json::parse(line)) << line;
        target = json.at("target").get<std::string>();
      }
      int t = -1;
      int i = -1;
      ASSERT_EQ(std::sscanf(target.c_str(), "/t%d/%d/", &t, &i), 2) << target;
      ASSERT_TRUE(t >= 0 && t < kThreads);
      EXPECT_EQ(target.size(), target.rfind('/') + 1 + static_cast<std::size_t>(i % 300));
      EXPECT_EQ(i, next[t]) << "thread " << t << " out of order";
      next[t] = i + 1;
      EXPECT_TRUE(seen.emplace(t, i).second);
    }
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kPerThread));
  }
}

TEST(AccessLogTest, FullBufferDropsLinesAndCountsThem) {
  TempDir dir;
  const auto path = dir.path() / "access.log";
  // The flusher sleeps for an hour; the 4 KiB buffer takes about 20 of these lines.
  auto log = OpenOrDie(path.string(), "text", {.flush_interval = 1h, .max_buffer_bytes = 4096});
  ASSERT_TRUE(log);
  constexpr int kLines = 5000;
  for (int i = 0; i < kLines; ++i) log->Write(SampleEntry());
  log->Flush();
  const auto written = Lines(ReadFile(path)).size();
  EXPECT_GT(log->dropped(), 0u);
  EXPECT_LT(written, static_cast<std::size_t>(kLines));
  EXPECT_EQ(written + log->dropped(), static_cast<std::uint64_t>(kLines));
}

TEST(AccessLogTest, BackgroundThreadWritesWithoutFlush) {
  TempDir dir;
  const auto path = dir.path() / "access.log";
  auto log = OpenOrDie(path.string(), "text", {.flush_interval = 5ms});
  ASSERT_TRUE(log);
  log->Write(SampleEntry());
  // Polls the file (no Flush): the flusher, not the caller, writes it out.
  for (int i = 0; i < 2000 && fs::file_size(path) == 0; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(Lines(ReadFile(path)).size(), 1u);
}

}  // namespace
}  // namespace streamgate::proxy
