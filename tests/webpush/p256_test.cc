#include "webpush/p256.h"

#include <gtest/gtest.h>

#include "fails_with.h"
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
  EXPECT_TRUE(FailsWith(P256PublicKey::from_raw(short_key), ErrorCode::kInvalid,
                        "must be 65 bytes, got 64"));

  Bytes compressed = good;
  compressed[0] = 0x02;
  EXPECT_TRUE(FailsWith(P256PublicKey::from_raw(compressed), ErrorCode::kInvalid,
                        "must be an uncompressed point"));

  Bytes off_curve = good;
  off_curve[64] ^= 0x01;  // flip one bit of y: no longer on the curve
  EXPECT_TRUE(FailsWith(P256PublicKey::from_raw(off_curve), ErrorCode::kInvalid,
                        "not a point on the curve"));

  Bytes zeros(65, 0);
  zeros[0] = 0x04;
  EXPECT_TRUE(
      FailsWith(P256PublicKey::from_raw(zeros), ErrorCode::kInvalid, "not a point on the curve"));

  EXPECT_TRUE(
      FailsWith(P256PublicKey::from_base64url("not base64!"), ErrorCode::kInvalid, "base64url:"));
}

TEST(P256, RejectsOutOfRangePrivateKeys) {
  EXPECT_TRUE(FailsWith(P256KeyPair::from_private(Bytes(32, 0)), ErrorCode::kInvalid,
                        "zero or not below the group order"));
  // Above the group order.
  EXPECT_TRUE(FailsWith(P256KeyPair::from_private(Bytes(32, 0xff)), ErrorCode::kInvalid,
                        "zero or not below the group order"));
  EXPECT_TRUE(FailsWith(P256KeyPair::from_private(Bytes(31, 1)), ErrorCode::kInvalid,
                        "must be 32 bytes, got 31"));
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
