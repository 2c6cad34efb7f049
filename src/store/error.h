// Errors of the storage layer, as values.
#pragma once

#include <string>
#include <tl/expected.hpp>

namespace flashwire::store {

enum class ErrorCode {
  kNotFound,     // the record does not exist
  kConflict,     // a record exists with other contents (e.g. same channel id, other VAPID key)
  kInvalid,      // the caller passed a value the schema cannot hold
  kIo,           // the database could not be opened, read or written (disk full, permissions)
  kCorrupt,      // the database exists but is not ours, or is damaged
  kUnsupported,  // this store does not implement the operation (e.g. full-text search)
};

struct Error {
  ErrorCode code;
  std::string message;  // one line; never contains message payloads or keys
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

inline tl::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace flashwire::store
