// Errors of the Web Push core, as values. Every fallible function in src/webpush/ returns
// Result<T>: either the value or an Error naming what was wrong with the input.
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace flashwire::webpush {

enum class ErrorCode {
  kInvalidBase64,         // a character outside the base64url alphabet, bad length or padding
  kInvalidKey,            // a key of the wrong length or format
  kPointNotOnCurve,       // a P-256 public key that is not a point on the curve
  kTruncated,             // an aes128gcm body shorter than its header or a record claims
  kAuthenticationFailed,  // the AES-GCM tag does not match: wrong key, or tampered data
  kBadPadding,            // a record's padding delimiter is missing or misplaced (RFC 8188 §2)
  kRecordSizeTooSmall,    // rs < 18 (RFC 8188 §2.1)
  kKeyIdMismatch,         // the header's keyid is not what the scheme requires (65-byte point)
  kPlaintextTooLarge,     // more than 3993 bytes of plaintext and padding for one message
  kInvalidClaim,          // a VAPID claim (aud, sub, exp) that RFC 8292 or push services reject
  kTokenExpired,          // a VAPID token whose exp has passed
  kBadSignature,          // a VAPID signature that does not verify
  kMalformedToken,        // a JWT or Authorization header that cannot be parsed
  kCryptoFailure,         // OpenSSL refused an operation that valid input should not fail
};

// Stable lower-case name of a code, e.g. "authentication_failed", for logs and JSON errors.
std::string_view error_code_name(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;  // one line, says what was wrong; never contains key material
};

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace flashwire::webpush
