#include "daemon/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace streamgate::daemon {
namespace {

TEST(LoggingTest, JsonLinesAreOneValidObjectPerMessage) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("access", sink);
  logger.set_formatter(MakeJsonLineFormatter());
  logger.info("plain");
  logger.warn("quotes \" and \\ backslash\nand a newline, tab\t");
  logger.error(std::string("bad utf-8: \xff\xfe end"));

  std::istringstream lines(out.str());
  std::string line;
  std::vector<nlohmann::json> parsed;
  while (std::getline(lines, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << line;
    parsed.push_back(j);
  }
  ASSERT_EQ(parsed.size(), 3u) << out.str();
  EXPECT_EQ(parsed[0]["msg"], "plain");
  EXPECT_EQ(parsed[0]["level"], "info");
  EXPECT_EQ(parsed[0]["logger"], "access");
  EXPECT_EQ(parsed[1]["msg"], "quotes \" and \\ backslash\nand a newline, tab\t");
  EXPECT_EQ(parsed[1]["level"], "warning");
  EXPECT_NE(parsed[2]["msg"].get<std::string>().find("end"), std::string::npos);
  const std::string time = parsed[0]["time"];
  ASSERT_EQ(time.size(), 24u) << time;  // 2026-11-28T15:04:05.123Z
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time.back(), 'Z');
}

TEST(LoggingTest, ConfigureRejectsUnknownValuesAndAppliesTheLevel) {
  config::LogConfig log;
  log.level = "warn";
  ASSERT_TRUE(ConfigureLogging(log));
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
  ASSERT_TRUE(ConfigureLogging(log, "debug"));  // the command line wins
  EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
  log.format = "xml";
  EXPECT_FALSE(ConfigureLogging(log));
  log.format = "text";
  log.level = "loud";
  EXPECT_FALSE(ConfigureLogging(log));
  spdlog::set_level(spdlog::level::info);
}

}  // namespace
}  // namespace streamgate::daemon
