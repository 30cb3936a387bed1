// Errors as values: every fallible public call returns Result<T> or Status.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace streamgate {

enum class ErrorCode {
  kInvalidArgument,     // the caller passed something malformed
  kNotFound,            // the named thing does not exist
  kAlreadyExists,       // a thing with that id exists already
  kFailedPrecondition,  // the call is valid but not in the current state
  kUnavailable,         // a peer could not be reached
  kTimeout,             // a peer did not answer in time
  kIo,                  // the OS refused (file, socket)
  kCorrupted,           // stored data failed verification
  kInternal,            // a bug: an invariant did not hold
};

// Stable lower-case name, e.g. "not_found"; used in logs and JSON.
[[nodiscard]] std::string_view ToString(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  [[nodiscard]] ErrorCode code() const { return code_; }
  [[nodiscard]] const std::string& message() const { return message_; }
  // "not_found: region 'x' is not registered"
  [[nodiscard]] std::string ToString() const;

  friend bool operator==(const Error&, const Error&) = default;

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Error>;

// Result of a call that returns nothing on success.
using Status = std::expected<void, Error>;

// Shorthands for building the unexpected side: `return NotFound("...")`.
[[nodiscard]] inline std::unexpected<Error> MakeError(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}
[[nodiscard]] inline std::unexpected<Error> InvalidArgument(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}
[[nodiscard]] inline std::unexpected<Error> NotFound(std::string message) {
  return MakeError(ErrorCode::kNotFound, std::move(message));
}
[[nodiscard]] inline std::unexpected<Error> AlreadyExists(std::string message) {
  return MakeError(ErrorCode::kAlreadyExists, std::move(message));
}
[[nodiscard]] inline std::unexpected<Error> FailedPrecondition(std::string message) {
  return MakeError(ErrorCode::kFailedPrecondition, std::move(message));
}

}  // namespace streamgate
