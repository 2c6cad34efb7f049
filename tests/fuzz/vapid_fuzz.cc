// VAPID (RFC 8292), as a push service reads it: parse_vapid_authorization on any header value,
// then verify_vapid_token with the key it names. Two modes, by the first input byte:
//   even: the rest is an Authorization header value. Property: a token that verifies carries
//         the expected audience and an expiry inside the allowed window.
//   odd:  the rest gives claims (aud, sub, exp offset) and a byte to change; they are signed
//         with a fixed key. Properties: whatever sign_vapid_token signs, verify accepts with
//         the same claims; changing any one byte of the token makes verification fail.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "webpush/vapid.h"

using namespace flashwire::webpush;

namespace {

// "now" for every verification; the seed corpus's headers were signed a few hours before it.
constexpr std::int64_t kNow = 1796520000;
constexpr std::string_view kAudience = "https://push.example.net";
constexpr std::int64_t kSkew = 60;

const P256KeyPair& signing_key() {
  static const P256KeyPair key = [] {
    std::uint8_t raw[32];
    for (std::size_t i = 0; i < sizeof raw; ++i) raw[i] = static_cast<std::uint8_t>(i + 1);
    auto made = P256KeyPair::from_private(ByteView(raw, sizeof raw));
    FUZZ_CHECK(made.has_value(), "the fixed private key is valid");
    return *made;
  }();
  return key;
}

void verify_header(std::string_view header) {
  auto authorization = parse_vapid_authorization(header);
  if (!authorization) return;
  auto claims = verify_vapid_token(authorization->token, authorization->key, kAudience, kNow,
                                   {.clock_skew_seconds = kSkew});
  if (!claims) return;
  FUZZ_CHECK(claims->audience == kAudience, "a verified token is for our audience");
  FUZZ_CHECK(claims->expires_at >= kNow - kSkew &&
                 claims->expires_at <= kNow + kVapidMaxLifetimeSeconds + kSkew,
             "a verified token expires inside the allowed window");
}

void sign_and_verify(std::string_view spec) {
  // aud '\n' sub '\n' then two bytes of expiry offset and one byte choosing what to change.
  const auto first = spec.find('\n');
  if (first == std::string_view::npos) return;
  const auto second = spec.find('\n', first + 1);
  if (second == std::string_view::npos || spec.size() < second + 4) return;
  VapidClaims claims;
  claims.audience = std::string(spec.substr(0, first));
  claims.subject = std::string(spec.substr(first + 1, second - first - 1));
  const auto* tail = reinterpret_cast<const std::uint8_t*>(spec.data() + second + 1);
  const std::int64_t offset = (tail[0] << 8 | tail[1]) * 2 - 1000;  // -1000 s .. ~36 h
  claims.expires_at = kNow + offset;
  const std::size_t change_at = tail[2];

  auto token = sign_vapid_token(signing_key(), claims, kNow);
  if (!token) return;
  const std::string header = format_vapid_authorization(*token, signing_key().public_key());
  auto parsed = parse_vapid_authorization(header);
  FUZZ_CHECK(parsed && parsed->token == *token && parsed->key == signing_key().public_key(),
             "a formatted header parses back");
  auto verified = verify_vapid_token(*token, signing_key().public_key(), claims.audience, kNow);
  FUZZ_CHECK(verified.has_value(), "a token we signed verifies");
  FUZZ_CHECK(verified->audience == claims.audience && verified->subject == claims.subject &&
                 verified->expires_at == claims.expires_at,
             "verification gives back the signed claims");

  std::string altered = *token;
  const std::size_t at = change_at % altered.size();
  altered[at] = altered[at] == 'A' ? 'B' : 'A';
  FUZZ_CHECK(!verify_vapid_token(altered, signing_key().public_key(), claims.audience, kNow),
             "a token with one byte changed does not verify");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    verify_header(rest);
  } else {
    sign_and_verify(rest);
  }
  return 0;
}
