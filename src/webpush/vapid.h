// RFC 8292 VAPID: the application server's signed claim to a push service, sent as
// `Authorization: vapid t=<ES256 JWT>, k=<public key>`.
//
// Signing validates the claims the way push services do, so a token that would be rejected
// later is refused here with a clear error: `aud` is an origin (scheme://host[:port]), `exp` is
// in the future and at most 24 hours ahead, `sub` is a `mailto:` address or an `https:` URL with
// no spaces (Apple rejects `@localhost` too). VapidTokenCache keeps one token per push-service
// origin and re-signs only shortly before it expires: signing per message is what makes naive
// senders slow.
//
// Thread safety: free functions are pure; VapidTokenCache is safe to share between threads.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "webpush/error.h"
#include "webpush/p256.h"

namespace flashwire::webpush {

inline constexpr std::int64_t kVapidMaxLifetimeSeconds = 24 * 60 * 60;

struct VapidClaims {
  std::string audience;       // "aud": the push service's origin
  std::int64_t expires_at{};  // "exp": seconds since the epoch
  std::string subject;        // "sub": mailto: or https: contact
};

// The origin of a push endpoint URL, the `aud` for requests to it: "https://push.example.net".
// Default ports are dropped. Errors: kInvalid (not an absolute http(s) URL with a host).
Result<std::string> audience_for_endpoint(std::string_view endpoint_url);

// Errors: kInvalid with the reason ("sub …", "aud …").
Result<void> validate_vapid_subject(std::string_view subject);
Result<void> validate_vapid_audience(std::string_view audience);

// Signs a JWT for `claims` at time `now`. Errors: kInvalid (bad aud or sub; exp not in
// (now, now + 24 h]).
Result<std::string> sign_vapid_token(const P256KeyPair& key, const VapidClaims& claims,
                                     std::int64_t now);

// "vapid t=<token>, k=<base64url public key>".
std::string format_vapid_authorization(std::string_view token, const P256PublicKey& key);

struct VapidAuthorization {
  std::string token;
  P256PublicKey key;
};

// Parses an Authorization header value of the vapid scheme (case-insensitive, parameters in any
// order, padded or unpadded key). Errors: kInvalid, the message starting "Authorization" (not
// the vapid scheme, t= or k= missing, a key that is not base64url or not a P-256 point).
Result<VapidAuthorization> parse_vapid_authorization(std::string_view header_value);

struct VapidVerifyOptions {
  // Allowance for clocks that disagree: exp may be up to this far in the past, and up to
  // 24 h + this far in the future.
  std::int64_t clock_skew_seconds = 0;
};

// Verifies a token for a push service: the ES256 signature under `key` first, then alg, `aud`
// equal to `expected_audience`, and `exp`. Errors: kInvalid for a token that is not a JWT
// ("JWT …": not three parts, not base64url or JSON, alg not ES256, a signature not 64 bytes);
// kUnauthorized for one that does not hold: "signature does not verify", "token expired", a
// wrong aud, exp too far ahead, claims missing.
Result<VapidClaims> verify_vapid_token(std::string_view token, const P256PublicKey& key,
                                       std::string_view expected_audience, std::int64_t now,
                                       const VapidVerifyOptions& options = {});

struct VapidTokenCacheOptions {
  // Lifetime of each token; at most 24 h. 12 h leaves room for clock skew at the push service.
  std::int64_t token_lifetime_seconds = 12 * 60 * 60;
  // A cached token is replaced once fewer than this many seconds of it remain.
  std::int64_t refresh_margin_seconds = 60 * 60;
};

class VapidTokenCache {
 public:
  // Errors: kInvalid (bad subject; lifetime not in (margin, 24 h]).
  static Result<std::unique_ptr<VapidTokenCache>> create(
      P256KeyPair key, std::string subject, const Clock& clock,
      const VapidTokenCacheOptions& options = {});

  // The Authorization header value for requests to `audience` (an origin).
  // Errors: kInvalid (bad audience).
  Result<std::string> authorization(std::string_view audience);

  const P256KeyPair& key() const { return key_; }
  const std::string& subject() const { return subject_; }
  // How many tokens have been signed so far (for metrics and tests).
  std::uint64_t tokens_signed() const;

 private:
  VapidTokenCache(P256KeyPair key, std::string subject, const Clock& clock,
                  const VapidTokenCacheOptions& options);

  struct Entry {
    std::string header;
    std::int64_t expires_at;
  };
  const P256KeyPair key_;
  const std::string subject_;
  const Clock& clock_;
  const VapidTokenCacheOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;  // by audience
  std::uint64_t tokens_signed_ = 0;
};

}  // namespace flashwire::webpush
