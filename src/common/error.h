// One error model for module boundaries: a code from a short, fixed list and a one-line message.
//
// The code says what kind of failure it is, so that the edge (the HTTP handlers, the CLI) can
// decide what to answer without parsing messages; the message says what happened, for logs and
// for the `message` field of a JSON error. http_status() is the one place where a code becomes
// an HTTP status.
//
// Contract: messages are one line and never carry secrets, subscription endpoints, keys or
// message payloads. Everything here is a value type; thread safety as for any value.
#pragma once

#include <exception>
#include <string>
#include <string_view>

namespace flashwire {

enum class ErrorCode {
  kInvalid,       // the caller's input is malformed or out of range
  kUnauthorized,  // no credentials, or credentials that are not valid
  kForbidden,     // valid credentials that do not allow this
  kNotFound,      // the thing asked for does not exist
  kConflict,      // the current state does not allow it (a duplicate, a status already moved)
  kTooLarge,      // the input is larger than allowed
  kRateLimited,   // too many requests from this client; try again later
  kUnavailable,   // storage or another dependency cannot serve right now
  kInternal,      // a defect: something that should not happen did
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // one line
};

// The HTTP status for an error of this kind: 400, 401, 403, 404, 409, 413, 429, 503 or 500.
constexpr unsigned http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalid:
      return 400;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kRateLimited:
      return 429;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

// "invalid", "unauthorized", …: the code as a word, for logs and JSON error codes.
constexpr std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalid:
      return "invalid";
    case ErrorCode::kUnauthorized:
      return "unauthorized";
    case ErrorCode::kForbidden:
      return "forbidden";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kTooLarge:
      return "too_large";
    case ErrorCode::kRateLimited:
      return "rate_limited";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

// The message of a caught exception, for the catch-all at the top of a thread. It must work in
// the state that made the exception (no file descriptor free, say): in a sanitizer build the
// check of what()'s virtual call would open a pipe to read the object's type, and report a
// false error when it cannot, so that check is off here.
__attribute__((no_sanitize("vptr"))) inline std::string exception_message(const std::exception& e) {
  return e.what();
}

}  // namespace flashwire
