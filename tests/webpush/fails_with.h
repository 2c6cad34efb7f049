// FailsWith: a Web Push core result that failed with the error expected — its code and a phrase
// of its message. Within one code the reasons differ by message (webpush/error.h), so each check
// names the phrase that tells its reason apart.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "webpush/error.h"

namespace flashwire::webpush {

template <typename T>
::testing::AssertionResult FailsWith(const Result<T>& result, ErrorCode code,
                                     std::string_view phrase) {
  if (result) return ::testing::AssertionFailure() << "succeeded";
  const Error& e = result.error();
  if (e.code != code || e.message.find(phrase) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "got " << error_code_name(e.code) << " (" << e.message << "), expected "
           << error_code_name(code) << " with \"" << phrase << "\"";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace flashwire::webpush
