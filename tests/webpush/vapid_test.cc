#include "webpush/vapid.h"

#include <gtest/gtest.h>

#include <thread>

#include "fails_with.h"
#include "rfc_vectors.h"
#include "test_util.h"

namespace flashwire::webpush {
namespace {

using testing::b64;

constexpr std::int64_t kNow = 1'800'000'000;

P256PublicKey rfc_key() { return P256PublicKey::from_base64url(rfc::kVapidKey).value(); }

TEST(VapidVerify, Rfc8292ExampleTokenVerifiesAtItsTime) {
  auto claims =
      verify_vapid_token(rfc::kVapidToken, rfc_key(), rfc::kVapidAudience, rfc::kVapidExp - 60);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->audience, "https://push.example.net");
  EXPECT_EQ(claims->expires_at, rfc::kVapidExp);
  EXPECT_EQ(claims->subject, "mailto:push@example.com");
}

TEST(VapidVerify, Rfc8292ExampleTokenIsExpiredToday) {
  // The signature is checked first: the error is about time, not about the signature.
  EXPECT_TRUE(FailsWith(verify_vapid_token(rfc::kVapidToken, rfc_key(), rfc::kVapidAudience, kNow),
                        ErrorCode::kUnauthorized, "token expired"));
}

TEST(VapidVerify, RejectsWrongAudienceKeyAndSignature) {
  const std::int64_t then = rfc::kVapidExp - 60;
  auto wrong_aud = verify_vapid_token(rfc::kVapidToken, rfc_key(), "https://other.example", then);
  EXPECT_TRUE(FailsWith(wrong_aud, ErrorCode::kUnauthorized, "aud is https://push.example.net"));

  const P256KeyPair other = P256KeyPair::generate();
  auto wrong_key =
      verify_vapid_token(rfc::kVapidToken, other.public_key(), rfc::kVapidAudience, then);
  EXPECT_TRUE(FailsWith(wrong_key, ErrorCode::kUnauthorized, "signature does not verify"));

  std::string tampered = rfc::kVapidToken;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  auto bad_sig = verify_vapid_token(tampered, rfc_key(), rfc::kVapidAudience, then);
  EXPECT_TRUE(FailsWith(bad_sig, ErrorCode::kUnauthorized, "signature does not verify"));

  // Claims changed under the same signature.
  const P256KeyPair key = P256KeyPair::generate();
  auto token =
      sign_vapid_token(key, {"https://push.example.net", kNow + 600, "mailto:a@example.com"}, kNow);
  ASSERT_TRUE(token);
  const std::size_t dot1 = token->find('.'), dot2 = token->rfind('.');
  const std::string forged_claims = base64url_encode(as_bytes(
      R"({"aud":"https://push.example.net","exp":1900000000,"sub":"mailto:a@example.com"})"));
  const std::string forged = token->substr(0, dot1 + 1) + forged_claims + token->substr(dot2);
  auto forged_result =
      verify_vapid_token(forged, key.public_key(), "https://push.example.net", kNow);
  EXPECT_TRUE(FailsWith(forged_result, ErrorCode::kUnauthorized, "signature does not verify"));
}

TEST(VapidVerify, RejectsMalformedTokens) {
  const P256PublicKey key = rfc_key();
  for (const std::string_view token :
       {std::string_view("abc"), std::string_view("a.b"), std::string_view("a.b.c.d"),
        std::string_view("!!.e30.AAAA"),
        std::string_view("eyJhbGciOiJIUzI1NiJ9.e30.AAAA"),                     // alg HS256
        std::string_view("eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.e30.AAAA")}) {  // 3-byte signature
    EXPECT_TRUE(FailsWith(verify_vapid_token(token, key, rfc::kVapidAudience, kNow),
                          ErrorCode::kInvalid, "JWT"))
        << token;
  }
}

TEST(VapidSign, SignedTokensVerifyWithExactClaims) {
  const P256KeyPair key = P256KeyPair::generate();
  const VapidClaims claims{"https://fcm.googleapis.com", kNow + 3600, "mailto:alerts@news.example"};
  auto token = sign_vapid_token(key, claims, kNow);
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(token->substr(0, token->find('.')), "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9");
  const Bytes payload =
      b64(token->substr(token->find('.') + 1, token->rfind('.') - token->find('.') - 1));
  EXPECT_EQ(
      as_chars(payload),
      R"({"aud":"https://fcm.googleapis.com","exp":1800003600,"sub":"mailto:alerts@news.example"})");
  auto verified = verify_vapid_token(*token, key.public_key(), claims.audience, kNow);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->expires_at, claims.expires_at);
  EXPECT_EQ(verified->subject, claims.subject);
}

TEST(VapidSign, AcceptsExpiryUpTo24HoursAhead) {
  const P256KeyPair key = P256KeyPair::generate();
  EXPECT_TRUE(sign_vapid_token(
      key, {"https://a.example", kNow + 86400, "https://news.example/contact"}, kNow));
  auto late =
      sign_vapid_token(key, {"https://a.example", kNow + 86401, "https://news.example"}, kNow);
  EXPECT_TRUE(FailsWith(late, ErrorCode::kInvalid, "exp must be at most 24 hours ahead"));
  auto past = sign_vapid_token(key, {"https://a.example", kNow, "https://news.example"}, kNow);
  EXPECT_TRUE(FailsWith(past, ErrorCode::kInvalid, "exp must be in the future"));
}

TEST(VapidSign, RejectsSubjectsPushServicesReject) {
  const P256KeyPair key = P256KeyPair::generate();
  for (const char* subject :
       {"mailto:push@localhost", "mailto: push@example.com", "mailto:push@example.com ",
        "push@example.com", "http://news.example", "mailto:", "mailto:@example.com",
        "mailto:a\"b@example.com", "https://", "",
        // Raw non-ASCII (here not even UTF-8: the claims would not parse back; found by fuzzing).
        "mailto:o\xf0s@example.com", "mailto:caf\xc3\xa9@example.com"}) {
    auto token = sign_vapid_token(key, {"https://a.example", kNow + 60, subject}, kNow);
    EXPECT_TRUE(FailsWith(token, ErrorCode::kInvalid, "sub")) << subject;
  }
}

TEST(VapidSign, RejectsAudiencesThatAreNotOrigins) {
  const P256KeyPair key = P256KeyPair::generate();
  for (const char* audience :
       {"https://push.example.net/", "https://push.example.net/path", "ftp://push.example.net",
        "push.example.net", "https://PUSH.example.net", "https://push.example.net:443",
        "https://user@push.example.net", ""}) {
    auto token = sign_vapid_token(key, {audience, kNow + 60, "mailto:a@example.com"}, kNow);
    EXPECT_TRUE(FailsWith(token, ErrorCode::kInvalid, "aud")) << audience;
  }
}

TEST(VapidAudience, IsTheOriginOfTheEndpoint) {
  const std::pair<const char*, const char*> cases[] = {
      {"https://fcm.googleapis.com/fcm/send/abc:def", "https://fcm.googleapis.com"},
      {"https://updates.push.services.mozilla.com:443/wpush/v2/gAAA",
       "https://updates.push.services.mozilla.com"},
      {"https://Web.Push.Apple.com/QGa", "https://web.push.apple.com"},
      {"http://127.0.0.1:8090/wpush/x", "http://127.0.0.1:8090"},
      {"http://localhost:80/x", "http://localhost"},
      {"http://[::1]:8090/push/1", "http://[::1]:8090"},
  };
  for (const auto& [endpoint, origin] : cases) {
    auto audience = audience_for_endpoint(endpoint);
    ASSERT_TRUE(audience) << endpoint << ": " << audience.error().message;
    EXPECT_EQ(*audience, origin);
  }
  for (const char* bad : {"ftp://example.com/x", "not a url", "https://user:pw@example.com/x",
                          "/relative/path", "https:///nohost"}) {
    auto audience = audience_for_endpoint(bad);
    EXPECT_TRUE(FailsWith(audience, ErrorCode::kInvalid, "endpoint")) << bad;
  }
}

TEST(VapidAuthorizationHeader, FormatsAndParses) {
  const P256KeyPair key = P256KeyPair::generate();
  const std::string header = format_vapid_authorization("a.b.c", key.public_key());
  EXPECT_EQ(header, "vapid t=a.b.c, k=" + key.public_key().to_base64url());
  auto parsed = parse_vapid_authorization(header);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->token, "a.b.c");
  EXPECT_TRUE(parsed->key == key.public_key());
}

TEST(VapidAuthorizationHeader, ParsesTheRfcExampleInAnyOrderAndCase) {
  const std::string t = rfc::kVapidToken, k = rfc::kVapidKey;
  for (const std::string& header :
       {"vapid t=" + t + ", k=" + k, "Vapid k=" + k + ",t=" + t,
        "VAPID  t=" + t + " ,  k=" + k + "=", "vapid t=" + t + ",k=" + k + ","}) {
    auto parsed = parse_vapid_authorization(header);
    ASSERT_TRUE(parsed) << header << ": " << parsed.error().message;
    EXPECT_EQ(parsed->token, t);
    EXPECT_EQ(parsed->key.to_base64url(), k);
  }
}

TEST(VapidAuthorizationHeader, RejectsMalformedHeaders) {
  const std::string t = rfc::kVapidToken, k = rfc::kVapidKey;
  const std::pair<std::string, std::string_view> cases[] = {
      {"WebPush " + t, "expected the vapid scheme"},
      {"vapid t=" + t, "needs both t= and k="},
      {"vapid k=" + k, "needs both t= and k="},
      {"vapid t" + t + ", k=" + k, "parameter without '='"},
      {"vapid", "expected the vapid scheme"},
      {"", "expected the vapid scheme"},
      {"vapid t=" + t + ", k=BAAA", "Authorization k: P-256 public key must be 65 bytes"},
      {"vapid t=" + t + ", k=" + k.substr(0, k.size() - 2) + "+A", "Authorization k: base64url:"},
  };
  for (const auto& [header, phrase] : cases) {
    EXPECT_TRUE(FailsWith(parse_vapid_authorization(header), ErrorCode::kInvalid, phrase))
        << header;
  }
}

TEST(VapidTokenCache, SignsOncePerAudienceUntilNearExpiry) {
  ManualClock clock(kNow);
  VapidTokenCacheOptions options;
  options.token_lifetime_seconds = 12 * 3600;
  options.refresh_margin_seconds = 3600;
  auto cache =
      VapidTokenCache::create(P256KeyPair::generate(), "mailto:ops@news.example", clock, options);
  ASSERT_TRUE(cache);
  auto& c = **cache;

  auto first = c.authorization("https://fcm.googleapis.com");
  ASSERT_TRUE(first);
  EXPECT_EQ(*c.authorization("https://fcm.googleapis.com"), *first);
  EXPECT_EQ(c.tokens_signed(), 1u);

  auto other = c.authorization("https://updates.push.services.mozilla.com");
  ASSERT_TRUE(other);
  EXPECT_NE(*other, *first);
  EXPECT_EQ(c.tokens_signed(), 2u);

  clock.advance(11 * 3600 - 1);  // 1 h + 1 s left: still cached
  EXPECT_EQ(*c.authorization("https://fcm.googleapis.com"), *first);
  EXPECT_EQ(c.tokens_signed(), 2u);

  clock.advance(1);  // exactly the margin left: refreshed
  auto refreshed = c.authorization("https://fcm.googleapis.com");
  ASSERT_TRUE(refreshed);
  EXPECT_NE(*refreshed, *first);
  EXPECT_EQ(c.tokens_signed(), 3u);

  auto parsed = parse_vapid_authorization(*refreshed);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->key == c.key().public_key());
  auto claims = verify_vapid_token(parsed->token, parsed->key, "https://fcm.googleapis.com",
                                   clock.now_seconds());
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->expires_at, clock.now_seconds() + 12 * 3600);
}

TEST(VapidTokenCache, RejectsBadConfiguration) {
  ManualClock clock(kNow);
  auto bad_subject = VapidTokenCache::create(P256KeyPair::generate(), "ops@news.example", clock);
  EXPECT_TRUE(FailsWith(bad_subject, ErrorCode::kInvalid, "sub"));
  VapidTokenCacheOptions too_long;
  too_long.token_lifetime_seconds = 86401;
  EXPECT_FALSE(
      VapidTokenCache::create(P256KeyPair::generate(), "mailto:a@example.com", clock, too_long));
  VapidTokenCacheOptions margin_too_big;
  margin_too_big.token_lifetime_seconds = 600;
  margin_too_big.refresh_margin_seconds = 600;
  EXPECT_FALSE(VapidTokenCache::create(P256KeyPair::generate(), "mailto:a@example.com", clock,
                                       margin_too_big));

  auto cache = VapidTokenCache::create(P256KeyPair::generate(), "mailto:a@example.com", clock);
  ASSERT_TRUE(cache);
  auto bad_aud = (*cache)->authorization("https://push.example.net/path");
  EXPECT_TRUE(FailsWith(bad_aud, ErrorCode::kInvalid, "aud"));
  EXPECT_EQ((*cache)->tokens_signed(), 0u);
}

TEST(VapidTokenCache, IsSafeToShareBetweenThreads) {
  ManualClock clock(kNow);
  auto cache = VapidTokenCache::create(P256KeyPair::generate(), "mailto:a@example.com", clock);
  ASSERT_TRUE(cache);
  std::vector<std::thread> threads;
  std::vector<std::string> seen(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 200; ++n) seen[i] = (*cache)->authorization("https://a.example").value();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ((*cache)->tokens_signed(), 1u);
  for (const auto& header : seen) EXPECT_EQ(header, seen[0]);
}

}  // namespace
}  // namespace flashwire::webpush
