// Errors of the Web Push core, in the project's one error model (common/error.h): every fallible
// function in src/webpush/ returns Result<T>, either the value or a flashwire::Error.
//
// The code says what kind of failure it is:
//   kInvalid       the input is malformed or out of range: base64url, a key (its length or
//                  format, a point not on the curve), an aes128gcm body (truncated, a record
//                  size below 18, bad padding, a keyid of the wrong length, a record that fails
//                  authentication: wrong key or altered data), a VAPID claim to sign (aud, sub,
//                  exp) or an endpoint push services would reject, a malformed JWT or
//                  Authorization header;
//   kUnauthorized  a VAPID token that does not hold: its signature does not verify with the key,
//                  it has expired, or its claims are not the ones expected (verify_vapid_token);
//   kTooLarge      more than 3993 bytes of plaintext and padding for one message (or for the
//                  record size asked for);
//   kInternal      OpenSSL refused an operation that valid input should not fail.
// The message is one line that says which of these it is and names the field or record ("p256dh:
// P-256 public key is not a point on the curve", "aes128gcm: record 0 failed authentication
// (wrong key or altered data)"), for logs, the CLI and tests; it never contains key material.
#pragma once

#include <string>
#include <tl/expected.hpp>

#include "common/error.h"

namespace flashwire::webpush {

using flashwire::Error;
using flashwire::ErrorCode;

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace flashwire::webpush
