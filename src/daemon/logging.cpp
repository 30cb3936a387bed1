#include "daemon/logging.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace streamgate::daemon {
namespace {

class JsonLineFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since_epoch = msg.time.time_since_epoch();
    const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
    const std::time_t t =
        std::chrono::system_clock::to_time_t(std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(seconds)));
    nlohmann::json line = {
        {"time", fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(t), millis)},
        {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                              spdlog::level::to_string_view(msg.level).size())},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
    };
    if (msg.logger_name.size() > 0) {
      line["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    }
    // Invalid UTF-8 in a message (a client's bytes) is replaced rather than throwing.
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>();
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> MakeJsonLineFormatter() {
  return std::make_unique<JsonLineFormatter>();
}

Status ConfigureLogging(const config::LogConfig& log, const std::string& level_override) {
  const std::string& level_name = level_override.empty() ? log.level : level_override;
  const spdlog::level::level_enum level = spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("unknown log level '{}'", level_name));
  }
  if (log.format == "json") {
    spdlog::set_formatter(MakeJsonLineFormatter());
  } else if (log.format != "text") {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("unknown log format '{}' (text or json)", log.format));
  }
  spdlog::set_level(level);
  return {};
}

}  // namespace streamgate::daemon
