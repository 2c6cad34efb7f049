// The project-wide kind (common/error.h) of a store error, from which the HTTP edge derives its
// status (flashwire::http_status): a missing record, a conflict and a value the schema cannot
// hold keep their meaning; I/O trouble and a damaged database both mean the storage cannot
// serve right now; so does an operation this store does not implement (search without
// full-text support).
#pragma once

#include "common/error.h"
#include "store/error.h"

namespace flashwire::store {

constexpr flashwire::ErrorCode error_kind(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return flashwire::ErrorCode::kNotFound;
    case ErrorCode::kConflict:
      return flashwire::ErrorCode::kConflict;
    case ErrorCode::kInvalid:
      return flashwire::ErrorCode::kInvalid;
    case ErrorCode::kIo:
    case ErrorCode::kCorrupt:
    case ErrorCode::kUnsupported:
      return flashwire::ErrorCode::kUnavailable;
  }
  return flashwire::ErrorCode::kInternal;
}

}  // namespace flashwire::store
