#include "webpush/error.h"

namespace flashwire::webpush {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidBase64:
      return "invalid_base64";
    case ErrorCode::kInvalidKey:
      return "invalid_key";
    case ErrorCode::kPointNotOnCurve:
      return "point_not_on_curve";
    case ErrorCode::kTruncated:
      return "truncated";
    case ErrorCode::kAuthenticationFailed:
      return "authentication_failed";
    case ErrorCode::kBadPadding:
      return "bad_padding";
    case ErrorCode::kRecordSizeTooSmall:
      return "record_size_too_small";
    case ErrorCode::kKeyIdMismatch:
      return "keyid_mismatch";
    case ErrorCode::kPlaintextTooLarge:
      return "plaintext_too_large";
    case ErrorCode::kInvalidClaim:
      return "invalid_claim";
    case ErrorCode::kTokenExpired:
      return "token_expired";
    case ErrorCode::kBadSignature:
      return "bad_signature";
    case ErrorCode::kMalformedToken:
      return "malformed_token";
    case ErrorCode::kCryptoFailure:
      return "crypto_failure";
  }
  return "unknown";
}

}  // namespace flashwire::webpush
