#include "webpush/message.h"

#include <gtest/gtest.h>

#include <random>

#include "fails_with.h"
#include "rfc_vectors.h"
#include "test_util.h"

namespace flashwire::webpush {
namespace {

using testing::b64;
using testing::b64_array;

class Rfc8291 : public ::testing::Test {
 protected:
  void SetUp() override {
    auto as = P256KeyPair::from_private_base64url(rfc::kAsPrivate);
    auto ua = P256KeyPair::from_private_base64url(rfc::kUaPrivate);
    auto keys = SubscriptionKeys::from_base64url(rfc::kUaPublic, rfc::kAuthSecret);
    ASSERT_TRUE(as && ua && keys);
    as_.emplace(std::move(*as));
    ua_.emplace(std::move(*ua));
    subscription_.emplace(std::move(*keys));
  }
  std::optional<P256KeyPair> as_, ua_;
  std::optional<SubscriptionKeys> subscription_;
};

TEST_F(Rfc8291, EveryIntermediateValueOfAppendixA) {
  auto secret = ecdh_shared_secret(*as_, subscription_->p256dh);
  ASSERT_TRUE(secret);
  EXPECT_EQ(base64url_encode(*secret), rfc::kEcdhSecret);

  const MessageKeys keys =
      derive_message_keys(*secret, subscription_->auth, ua_->public_key().raw(),
                          as_->public_key().raw(), b64_array<16>(rfc::kSalt));
  EXPECT_EQ(base64url_encode(keys.prk_key), rfc::kPrkKey);
  EXPECT_EQ(base64url_encode(keys.ikm), rfc::kIkm);
  EXPECT_EQ(base64url_encode(keys.ece.prk), rfc::kPrk);
  EXPECT_EQ(base64url_encode(keys.ece.cek), rfc::kCek);
  EXPECT_EQ(base64url_encode(keys.ece.nonce), rfc::kNonce);

  // key_info is "WebPush: info" 0x00 ua_public as_public; the IKM above used exactly this.
  Bytes key_info = {'W', 'e', 'b', 'P', 'u', 's', 'h', ':', ' ', 'i', 'n', 'f', 'o', 0};
  key_info.insert(key_info.end(), ua_->public_key().raw().begin(), ua_->public_key().raw().end());
  key_info.insert(key_info.end(), as_->public_key().raw().begin(), as_->public_key().raw().end());
  EXPECT_EQ(base64url_encode(key_info), rfc::kKeyInfo);
}

TEST_F(Rfc8291, FreshKeyEncryptionReproducesSection5Body) {
  // encrypt() draws the ephemeral private key, then the salt.
  FixedRandom random({b64(rfc::kAsPrivate), b64(rfc::kSalt)});
  MessageEncryptor encryptor(random);
  auto body = encryptor.encrypt(*subscription_, as_bytes(rfc::kPlaintext));
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(base64url_encode(*body), rfc::kBody);
  EXPECT_EQ(body->size(), 144u);  // 86 header + 41 plaintext + 1 delimiter + 16 tag
  EXPECT_EQ(base64url_encode(ByteView(*body).first(86)), rfc::kHeader);
  EXPECT_EQ(base64url_encode(ByteView(*body).subspan(86)), rfc::kCiphertext);
  EXPECT_EQ(random.remaining(), 0u);
}

TEST_F(Rfc8291, SenderKeyEncryptionReproducesSection5Body) {
  FixedRandom random({b64(rfc::kSalt)});
  MessageEncryptor encryptor(random);
  auto body = encryptor.encrypt_with_sender_key(*as_, *subscription_, as_bytes(rfc::kPlaintext));
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(base64url_encode(*body), rfc::kBody);
}

TEST_F(Rfc8291, UserAgentDecryptsSection5Body) {
  auto plain = decrypt_message(*ua_, subscription_->auth, b64(rfc::kBody));
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(as_chars(*plain), rfc::kPlaintext);
}

TEST(MessageEncryptor, UsesAFreshKeyAndSaltForEveryMessage) {
  const P256KeyPair ua = P256KeyPair::generate();
  const SubscriptionKeys keys{ua.public_key(), {1, 2, 3}};
  MessageEncryptor encryptor;
  auto a = encryptor.encrypt(keys, as_bytes("same alert"));
  auto b = encryptor.encrypt(keys, as_bytes("same alert"));
  ASSERT_TRUE(a && b);
  EXPECT_NE(Bytes(a->begin(), a->begin() + 16), Bytes(b->begin(), b->begin() + 16))
      << "salt reused";
  EXPECT_NE(Bytes(a->begin() + 21, a->begin() + 86), Bytes(b->begin() + 21, b->begin() + 86))
      << "ephemeral key reused";
}

TEST(MessageEncryptor, BroadcastKeyKeepsTheKeyButNotTheSalt) {
  const P256KeyPair broadcast = P256KeyPair::generate();
  const P256KeyPair ua1 = P256KeyPair::generate();
  const P256KeyPair ua2 = P256KeyPair::generate();
  MessageEncryptor encryptor;
  auto a = encryptor.encrypt_with_sender_key(broadcast, {ua1.public_key(), {1}}, as_bytes("x"));
  auto b = encryptor.encrypt_with_sender_key(broadcast, {ua2.public_key(), {2}}, as_bytes("x"));
  ASSERT_TRUE(a && b);
  const Bytes key_a(a->begin() + 21, a->begin() + 86);
  EXPECT_EQ(key_a, Bytes(broadcast.public_key().raw().begin(), broadcast.public_key().raw().end()));
  EXPECT_EQ(key_a, Bytes(b->begin() + 21, b->begin() + 86));
  EXPECT_NE(Bytes(a->begin(), a->begin() + 16), Bytes(b->begin(), b->begin() + 16));
  auto plain = decrypt_message(ua2, {2}, *b);
  ASSERT_TRUE(plain);
  EXPECT_EQ(as_chars(*plain), "x");
}

TEST(MessageEncryptor, RoundTripsEveryPlaintextSizeUpToTheLimit) {
  std::mt19937 rng(3993);
  MessageEncryptor encryptor;
  std::optional<P256KeyPair> ua;
  SubscriptionKeys keys{P256KeyPair::generate().public_key(), {}};
  for (std::size_t size = 0; size <= kMaxPlaintextSize; ++size) {
    if (size % 97 == 0) {  // new subscriber keys now and then
      ua.emplace(P256KeyPair::generate());
      keys.p256dh = ua->public_key();
      for (auto& byte : keys.auth) byte = static_cast<std::uint8_t>(rng());
    }
    Bytes plaintext(size);
    for (auto& byte : plaintext) byte = static_cast<std::uint8_t>(rng());
    auto body = encryptor.encrypt(keys, plaintext);
    ASSERT_TRUE(body) << size;
    ASSERT_EQ(body->size(), kWebPushHeaderSize + size + 1 + kEceTagSize);
    auto back = decrypt_message(*ua, keys.auth, *body);
    ASSERT_TRUE(back) << size << ": " << back.error().message;
    ASSERT_EQ(*back, plaintext) << size;
  }
}

TEST(MessageEncryptor, RoundTripsWithPadding) {
  const P256KeyPair ua = P256KeyPair::generate();
  const SubscriptionKeys keys{ua.public_key(), {7}};
  MessageEncryptor encryptor;
  auto body = encryptor.encrypt(keys, as_bytes("short"), 200);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->size(), 86 + 5 + 1 + 200 + 16u);
  auto plain = decrypt_message(ua, keys.auth, *body);
  ASSERT_TRUE(plain);
  EXPECT_EQ(as_chars(*plain), "short");
}

TEST(MessageEncryptor, RejectsPlaintextOverTheLimit) {
  const SubscriptionKeys keys{P256KeyPair::generate().public_key(), {}};
  MessageEncryptor encryptor;
  auto full = encryptor.encrypt(keys, Bytes(kMaxPlaintextSize, 'a'));
  ASSERT_TRUE(full);
  EXPECT_EQ(full->size(), 4096u);  // the largest body push services accept

  EXPECT_TRUE(FailsWith(encryptor.encrypt(keys, Bytes(kMaxPlaintextSize + 1, 'a')),
                        ErrorCode::kTooLarge, "exceed the 3993-byte limit"));
  EXPECT_TRUE(FailsWith(encryptor.encrypt(keys, Bytes(3990, 'a'), 4), ErrorCode::kTooLarge,
                        "exceed the 3993-byte limit"));
  EXPECT_TRUE(
      FailsWith(encryptor.encrypt_with_sender_key(P256KeyPair::generate(), keys, Bytes(4000, 'a')),
                ErrorCode::kTooLarge, "exceed the 3993-byte limit"));
}

TEST(DecryptMessage, RejectsBadBodies) {
  auto ua = P256KeyPair::from_private_base64url(rfc::kUaPrivate);
  ASSERT_TRUE(ua);
  const AuthSecret auth = b64_array<16>(rfc::kAuthSecret);
  const Bytes good = b64(rfc::kBody);

  AuthSecret wrong_auth = auth;
  wrong_auth[0] ^= 1;
  EXPECT_TRUE(FailsWith(decrypt_message(*ua, wrong_auth, good), ErrorCode::kInvalid,
                        "failed authentication"));

  Bytes off_curve = good;
  off_curve[21 + 64] ^= 1;  // last byte of the sender key's y coordinate
  EXPECT_TRUE(FailsWith(decrypt_message(*ua, auth, off_curve), ErrorCode::kInvalid,
                        "not a point on the curve"));

  EXPECT_TRUE(FailsWith(decrypt_message(*ua, auth, b64(rfc::k8188MultiBody)),  // keyid "a1"
                        ErrorCode::kInvalid, "keyid is 2 bytes"));

  EXPECT_TRUE(FailsWith(decrypt_message(*ua, auth, ByteView(good).first(50)), ErrorCode::kInvalid,
                        "ends inside the keyid"));

  EXPECT_TRUE(FailsWith(decrypt_message(*ua, auth, ByteView(good).first(86)), ErrorCode::kInvalid,
                        "no records after the header"));
}

TEST(SubscriptionKeys, RejectsBadKeysNamingTheField) {
  auto bad_auth = SubscriptionKeys::from_base64url(rfc::kUaPublic, "c2hvcnQ");
  EXPECT_TRUE(FailsWith(bad_auth, ErrorCode::kInvalid, "auth: secret must be 16 bytes"));
  EXPECT_EQ(bad_auth.error().message.rfind("auth:", 0), 0u) << bad_auth.error().message;

  auto bad_b64 = SubscriptionKeys::from_base64url(rfc::kUaPublic, "BTBZMqHH6r4Tts7J_aSI+g");
  EXPECT_TRUE(FailsWith(bad_b64, ErrorCode::kInvalid, "auth: base64url:"));

  auto bad_key = SubscriptionKeys::from_base64url("BAAA", rfc::kAuthSecret);
  EXPECT_TRUE(FailsWith(bad_key, ErrorCode::kInvalid, "p256dh: P-256 public key must be 65 bytes"));
  EXPECT_EQ(bad_key.error().message.rfind("p256dh:", 0), 0u);
}

}  // namespace
}  // namespace flashwire::webpush
