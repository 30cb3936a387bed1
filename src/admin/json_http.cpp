#include "admin/json_http.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <utility>

namespace streamgate::admin {

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kIo:
    case ErrorCode::kCorrupted:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

net::HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  net::HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

net::HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
  return JsonResponse(status, {{"error", message}, {"code", code}});
}

net::HttpResponse ErrorResponse(const Error& error) {
  return ErrorResponse(HttpStatusFor(error.code()), ToString(error.code()), error.message());
}

Result<nlohmann::json> ParseJsonObject(std::string_view body) {
  nlohmann::json parsed = nlohmann::json::parse(body, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return InvalidArgument("request body is not valid JSON");
  if (!parsed.is_object()) return InvalidArgument("request body must be a JSON object");
  return parsed;
}

std::string FormatRfc3339(WallTime time) {
  using namespace std::chrono;  // NOLINT(google-build-using-namespace): calendar types only
  const auto ms = floor<milliseconds>(time);
  const auto day = floor<days>(ms);
  const year_month_day date(day);
  const hh_mm_ss clock_time(ms - day);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     clock_time.hours().count(), clock_time.minutes().count(),
                     clock_time.seconds().count(), clock_time.subseconds().count());
}

nlohmann::json Rfc3339OrNull(const std::optional<WallTime>& time) {
  if (!time) return nullptr;
  return FormatRfc3339(*time);
}

const nlohmann::json* JsonObjectReader::Find(std::string_view key, Presence presence) {
  read_.emplace_back(key);
  auto it = object_.find(key);
  if (it == object_.end()) {
    if (presence == kRequired) Fail(fmt::format("missing field '{}'", key));
    return nullptr;
  }
  return &*it;
}

void JsonObjectReader::Fail(std::string message) {
  if (!error_) error_.emplace(ErrorCode::kInvalidArgument, std::move(message));
}

void JsonObjectReader::String(std::string_view key, std::string& out, Presence presence) {
  const nlohmann::json* value = Find(key, presence);
  if (value == nullptr) return;
  if (!value->is_string()) {
    Fail(fmt::format("field '{}' must be a string", key));
    return;
  }
  out = value->get_ref<const std::string&>();
}

void JsonObjectReader::Int(std::string_view key, int& out, Presence presence) {
  const nlohmann::json* value = Find(key, presence);
  if (value == nullptr) return;
  // Unsigned first: a large positive literal is stored as unsigned and would wrap as signed.
  constexpr auto kMin = std::numeric_limits<int>::min();
  constexpr auto kMax = std::numeric_limits<int>::max();
  if (value->is_number_unsigned()) {
    const auto number = value->get<std::uint64_t>();
    if (number <= static_cast<std::uint64_t>(kMax)) {
      out = static_cast<int>(number);
      return;
    }
  } else if (value->is_number_integer()) {
    const auto number = value->get<std::int64_t>();
    if (number >= kMin && number <= kMax) {
      out = static_cast<int>(number);
      return;
    }
  }
  Fail(fmt::format("field '{}' must be an integer between {} and {}", key, kMin, kMax));
}

void JsonObjectReader::Bool(std::string_view key, bool& out, Presence presence) {
  const nlohmann::json* value = Find(key, presence);
  if (value == nullptr) return;
  if (!value->is_boolean()) {
    Fail(fmt::format("field '{}' must be true or false", key));
    return;
  }
  out = value->get<bool>();
}

void JsonObjectReader::StringList(std::string_view key, std::vector<std::string>& out,
                                  Presence presence) {
  const nlohmann::json* value = Find(key, presence);
  if (value == nullptr) return;
  const bool strings =
      value->is_array() && std::all_of(value->begin(), value->end(),
                                       [](const nlohmann::json& item) { return item.is_string(); });
  if (!strings) {
    Fail(fmt::format("field '{}' must be an array of strings", key));
    return;
  }
  out.clear();
  for (const nlohmann::json& item : *value) out.push_back(item.get<std::string>());
}

Status JsonObjectReader::Finish() const {
  if (error_) return std::unexpected(*error_);
  for (const auto& [key, value] : object_.items()) {
    if (std::find(read_.begin(), read_.end(), key) == read_.end()) {
      return InvalidArgument(fmt::format("unknown field '{}'", key));
    }
  }
  return {};
}

}  // namespace streamgate::admin
