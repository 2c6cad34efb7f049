// The one mapping from error codes to HTTP statuses, and the codes' names.
#include "common/error.h"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string_view>

#include "store/error_kind.h"

namespace flashwire {
namespace {

constexpr ErrorCode kAll[] = {
    ErrorCode::kInvalid,     ErrorCode::kUnauthorized, ErrorCode::kForbidden,
    ErrorCode::kNotFound,    ErrorCode::kConflict,     ErrorCode::kTooLarge,
    ErrorCode::kRateLimited, ErrorCode::kUnavailable,  ErrorCode::kInternal};

TEST(ErrorTest, EveryCodeMapsToItsHttpStatus) {
  EXPECT_EQ(http_status(ErrorCode::kInvalid), 400u);
  EXPECT_EQ(http_status(ErrorCode::kUnauthorized), 401u);
  EXPECT_EQ(http_status(ErrorCode::kForbidden), 403u);
  EXPECT_EQ(http_status(ErrorCode::kNotFound), 404u);
  EXPECT_EQ(http_status(ErrorCode::kConflict), 409u);
  EXPECT_EQ(http_status(ErrorCode::kTooLarge), 413u);
  EXPECT_EQ(http_status(ErrorCode::kRateLimited), 429u);
  EXPECT_EQ(http_status(ErrorCode::kUnavailable), 503u);
  EXPECT_EQ(http_status(ErrorCode::kInternal), 500u);
}

TEST(ErrorTest, EveryCodeHasItsOwnStatusAndName) {
  std::set<unsigned> statuses;
  std::set<std::string_view> names;
  for (const ErrorCode code : kAll) {
    statuses.insert(http_status(code));
    names.insert(error_code_name(code));
  }
  EXPECT_EQ(statuses.size(), std::size(kAll));
  EXPECT_EQ(names.size(), std::size(kAll));
  EXPECT_EQ(error_code_name(ErrorCode::kNotFound), "not_found");
}

TEST(ErrorTest, AnErrorIsACodeAndAOneLineMessage) {
  const Error e{ErrorCode::kUnavailable, "storage unavailable"};
  EXPECT_EQ(http_status(e.code), 503u);
  EXPECT_EQ(e.message, "storage unavailable");
  EXPECT_EQ(Error{}.code, ErrorCode::kInternal);  // an unset error is never taken for success
}

TEST(ErrorTest, StoreErrorsKeepTheirMeaningAndStorageTroubleIsUnavailable) {
  EXPECT_EQ(http_status(store::error_kind(store::ErrorCode::kNotFound)), 404u);
  EXPECT_EQ(http_status(store::error_kind(store::ErrorCode::kConflict)), 409u);
  EXPECT_EQ(http_status(store::error_kind(store::ErrorCode::kInvalid)), 400u);
  EXPECT_EQ(http_status(store::error_kind(store::ErrorCode::kIo)), 503u);
  EXPECT_EQ(http_status(store::error_kind(store::ErrorCode::kCorrupt)), 503u);
}

TEST(ErrorTest, ExceptionMessageIsWhat) {
  EXPECT_EQ(exception_message(std::runtime_error("epoll_create1: Too many open files")),
            "epoll_create1: Too many open files");
}

}  // namespace
}  // namespace flashwire
