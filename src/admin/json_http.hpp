// JSON request/response helpers shared by the admin API's route tables.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_types.hpp"
#include "streamgate/common/clock.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::admin {

// invalid_argument 400, not_found 404, already_exists and failed_precondition 409, others 500.
[[nodiscard]] int HttpStatusFor(ErrorCode code);

// `body` serialized as JSON. Invalid UTF-8 in strings (e.g. a region name from a config file) is
// replaced rather than thrown about.
[[nodiscard]] net::HttpResponse JsonResponse(int status, const nlohmann::json& body);

// {"error": message, "code": code} with the given status.
[[nodiscard]] net::HttpResponse ErrorResponse(int status, std::string_view code,
                                              std::string_view message);
// The same, with status and code taken from the error.
[[nodiscard]] net::HttpResponse ErrorResponse(const Error& error);

// The body parsed as a JSON object; invalid_argument for anything else (never throws).
[[nodiscard]] Result<nlohmann::json> ParseJsonObject(std::string_view body);

// RFC 3339 in UTC with milliseconds: "2027-01-15T08:00:00.000Z".
[[nodiscard]] std::string FormatRfc3339(WallTime time);
[[nodiscard]] nlohmann::json Rfc3339OrNull(const std::optional<WallTime>& time);

// Reads typed fields out of a request object, remembering the first problem, and rejects
// fields nobody read so that a misspelt optional field fails loudly instead of being ignored.
//
//   JsonObjectReader in(object);
//   in.String("id", region.id);
//   in.Int("priority", region.priority, JsonObjectReader::kOptional);
//   if (Status status = in.Finish(); !status) return ErrorResponse(status.error());
class JsonObjectReader {
 public:
  enum Presence { kRequired, kOptional };

  explicit JsonObjectReader(const nlohmann::json& object) : object_(object) {}

  // Each leaves `out` untouched when the field is absent (optional) or wrong (error recorded).
  void String(std::string_view key, std::string& out, Presence presence = kRequired);
  void Int(std::string_view key, int& out, Presence presence = kRequired);
  void Bool(std::string_view key, bool& out, Presence presence = kRequired);
  // An array of strings.
  void StringList(std::string_view key, std::vector<std::string>& out,
                  Presence presence = kRequired);

  // invalid_argument for the first missing / mistyped field, else for the first unknown one.
  [[nodiscard]] Status Finish() const;

 private:
  // The field's value if present; records "missing" when required and absent.
  const nlohmann::json* Find(std::string_view key, Presence presence);
  void Fail(std::string message);

  const nlohmann::json& object_;
  std::vector<std::string> read_;  // keys the caller asked for
  std::optional<Error> error_;
};

}  // namespace streamgate::admin
