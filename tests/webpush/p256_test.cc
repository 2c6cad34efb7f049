#include "webpush/p256.h"

#include <gtest/gtest.h>

#include "rfc_vectors.h"
#include "test_util.h"
#include "webpush/base64url.h"

namespace flashwire::webpush {
namespace {

using testing::b64;

TEST(P256, ImportsRfcKeysAndDerivesTheirPublicKeys) {
  auto as = P256KeyPair::from_private_base64url(rfc::kAsPrivate);
  ASSERT_TRUE(as);
  EXPECT_EQ(as->public_key().to_base64url(), rfc::kAsPublic);
  auto ua = P256KeyPair::from_private_base64url(rfc::kUaPrivate);
  ASSERT_TRUE(ua);
  EXPECT_EQ(ua->public_key().to_base64url(), rfc::kUaPublic);
  EXPECT_EQ(base64url_encode(ua->raw_private()), rfc::kUaPrivate);
}

TEST(P256, EcdhMatchesRfc8291AppendixAFromBothSides) {
  auto as = P256KeyPair::from_private_base64url(rfc::kAsPrivate);
  auto ua = P256KeyPair::from_private_base64url(rfc::kUaPrivate);
  ASSERT_TRUE(as && ua);
  auto from_server = ecdh_shared_secret(*as, ua->public_key());
  auto from_agent = ecdh_shared_secret(*ua, as->public_key());
  ASSERT_TRUE(from_server && from_agent);
  EXPECT_EQ(base64url_encode(*from_server), rfc::kEcdhSecret);
  EXPECT_EQ(*from_server, *from_agent);
}

TEST(P256, AcceptsPaddedBase64UrlPublicKeys) {
  // Firefox sends applicationServerKey-derived keys with '=' padding.
  auto key = P256PublicKey::from_base64url(std::string(rfc::kUaPublic) + "=");
  ASSERT_TRUE(key);
  EXPECT_EQ(key->to_base64url(), rfc::kUaPublic);
}

TEST(P256, RejectsMalformedPublicKeys) {
  Bytes good = b64(rfc::kUaPublic);

  Bytes short_key(good.begin(), good.end() - 1);
  auto r1 = P256PublicKey::from_raw(short_key);
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code, ErrorCode::kInvalidKey);

  Bytes compressed = good;
  compressed[0] = 0x02;
  auto r2 = P256PublicKey::from_raw(compressed);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, ErrorCode::kInvalidKey);

  Bytes off_curve = good;
  off_curve[64] ^= 0x01;  // flip one bit of y: no longer on the curve
  auto r3 = P256PublicKey::from_raw(off_curve);
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code, ErrorCode::kPointNotOnCurve);

  Bytes zeros(65, 0);
  zeros[0] = 0x04;
  auto r4 = P256PublicKey::from_raw(zeros);
  ASSERT_FALSE(r4);
  EXPECT_EQ(r4.error().code, ErrorCode::kPointNotOnCurve);

  auto r5 = P256PublicKey::from_base64url("not base64!");
  ASSERT_FALSE(r5);
  EXPECT_EQ(r5.error().code, ErrorCode::kInvalidBase64);
}

TEST(P256, RejectsOutOfRangePrivateKeys) {
  auto zero = P256KeyPair::from_private(Bytes(32, 0));
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, ErrorCode::kInvalidKey);
  auto too_big = P256KeyPair::from_private(Bytes(32, 0xff));  // above the group order
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, ErrorCode::kInvalidKey);
  auto wrong_size = P256KeyPair::from_private(Bytes(31, 1));
  ASSERT_FALSE(wrong_size);
  EXPECT_EQ(wrong_size.error().code, ErrorCode::kInvalidKey);
}

TEST(P256, GenerateDrawsFromTheInjectedSourceAndSkipsOutOfRangeScalars) {
  const Bytes ua_private = b64(rfc::kUaPrivate);
  FixedRandom random({Bytes(32, 0xff), ua_private});  // first draw is >= n and must be skipped
  const P256KeyPair pair = P256KeyPair::generate(random);
  EXPECT_EQ(pair.public_key().to_base64url(), rfc::kUaPublic);
  EXPECT_EQ(random.remaining(), 0u);
}

TEST(P256, GeneratedKeysDiffer) {
  const P256KeyPair a = P256KeyPair::generate();
  const P256KeyPair b = P256KeyPair::generate();
  EXPECT_NE(a.raw_private(), b.raw_private());
  EXPECT_FALSE(a.public_key() == b.public_key());
}

}  // namespace
}  // namespace flashwire::webpush
