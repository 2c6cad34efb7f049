#include "webpush/ece.h"

#include <gtest/gtest.h>

#include "fails_with.h"
#include "rfc_vectors.h"
#include "test_util.h"
#include "webpush/internal/openssl.h"

namespace flashwire::webpush {
namespace {

using testing::b64;
using testing::b64_array;
using namespace std::string_view_literals;

// Builds an aes128gcm body record by record, with whatever delimiters and padding a test wants,
// so the decoder's padding rules can be exercised on bodies no correct encoder would produce.
Bytes build_body(ByteView ikm, const Salt& salt, std::uint32_t rs, ByteView key_id,
                 const std::vector<Bytes>& padded_records) {
  const EceKeys keys = derive_ece_keys(ikm, salt);
  Bytes body(salt.begin(), salt.end());
  body.push_back(static_cast<std::uint8_t>(rs >> 24));
  body.push_back(static_cast<std::uint8_t>(rs >> 16));
  body.push_back(static_cast<std::uint8_t>(rs >> 8));
  body.push_back(static_cast<std::uint8_t>(rs));
  body.push_back(static_cast<std::uint8_t>(key_id.size()));
  body.insert(body.end(), key_id.begin(), key_id.end());
  std::uint64_t seq = 0;
  for (const Bytes& record : padded_records) {
    Nonce nonce = keys.nonce;
    nonce[11] ^= static_cast<std::uint8_t>(seq++);
    Bytes sealed(record.size() + kEceTagSize);
    internal::thread_crypto().gcm.seal(keys.cek, nonce, record, sealed.data());
    body.insert(body.end(), sealed.begin(), sealed.end());
  }
  return body;
}

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(Ece, DerivesRfc8188SingleRecordKeys) {
  const EceKeys keys =
      derive_ece_keys(b64(rfc::k8188SingleIkm), b64_array<16>(rfc::k8188SingleSalt));
  EXPECT_EQ(base64url_encode(keys.prk), "zyeH5phsIsgUyd4oiSEIy35x-gIi4aM7y0hCF8mwn9g");
  EXPECT_EQ(base64url_encode(keys.cek), "_wniytB-ofscZDh4tbSjHw");
  EXPECT_EQ(base64url_encode(keys.nonce), "Bcs8gkIRKLI8GeI8");
}

TEST(Ece, EncryptReproducesRfc8188Section31) {
  auto body = ece_encrypt(b64(rfc::k8188SingleIkm), b64_array<16>(rfc::k8188SingleSalt),
                          as_bytes(rfc::k8188Plaintext));
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(base64url_encode(*body), rfc::k8188SingleBody);
}

TEST(Ece, DecryptsRfc8188Section31) {
  auto plain = ece_decrypt(b64(rfc::k8188SingleIkm), b64(rfc::k8188SingleBody));
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(as_chars(*plain), rfc::k8188Plaintext);
}

TEST(Ece, DecryptsRfc8188Section32TwoRecordsWithKeyId) {
  const Bytes body = b64(rfc::k8188MultiBody);
  auto header = parse_ece_header(body);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->record_size, 25u);
  EXPECT_EQ(as_chars(header->key_id), "a1");
  auto plain = ece_decrypt(b64(rfc::k8188MultiIkm), body);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(as_chars(*plain), rfc::k8188Plaintext);
}

TEST(Ece, DecryptsManyRecordsWithPadding) {
  const Bytes ikm(16, 7);
  const Salt salt{1, 2, 3};
  // rs 20 leaves 4 bytes of plaintext per record after the tag.
  const Bytes body =
      build_body(ikm, salt, 20, {},
                 {text("abc\x01"), text("d\x01\0\0"sv), text("ef\x01\0"sv), text("gh\x02")});
  auto plain = ece_decrypt(ikm, body);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(as_chars(*plain), "abcdefgh");
}

TEST(Ece, RoundTripsWithPaddingAndKeyId) {
  const Bytes ikm(16, 9);
  const Salt salt{9};
  const Bytes key_id = text("key-1");
  EceEncryptOptions options;
  options.padding = 100;
  options.key_id = key_id;
  auto body = ece_encrypt(ikm, salt, as_bytes("hello"), options);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->size(), 21 + 5 + 5 + 1 + 100 + 16u);
  auto plain = ece_decrypt(ikm, *body);
  ASSERT_TRUE(plain);
  EXPECT_EQ(as_chars(*plain), "hello");
}

struct RejectCase {
  std::string name;
  Bytes body;
  Bytes ikm;
  ErrorCode code;
  std::string phrase;  // tells the reason apart from the others of that code
  EceDecryptOptions options = {};
};

std::vector<RejectCase> reject_cases() {
  const Bytes ikm(16, 5);
  const Salt salt{4, 4};
  const Bytes good = build_body(ikm, salt, 4096, {}, {text("hello\x02")});
  std::vector<RejectCase> cases;
  cases.push_back({"shorter than the header", Bytes(good.begin(), good.begin() + 20), ikm,
                   ErrorCode::kInvalid, "shorter than the 21-byte header"});
  cases.push_back({"header only", Bytes(good.begin(), good.begin() + 21), ikm, ErrorCode::kInvalid,
                   "no records after the header"});
  Bytes keyid_past_end(good.begin(), good.begin() + 21);
  keyid_past_end[20] = 10;
  cases.push_back({"keyid runs past the end", keyid_past_end, ikm, ErrorCode::kInvalid,
                   "ends inside the keyid"});
  Bytes small_rs = good;
  small_rs[18] = 0;
  small_rs[19] = 17;
  cases.push_back(
      {"record size 17", small_rs, ikm, ErrorCode::kInvalid, "record size 17 is below 18"});
  cases.push_back({"wrong key", good, Bytes(16, 6), ErrorCode::kInvalid, "failed authentication"});
  Bytes flipped = good;
  flipped[23] ^= 0x40;
  cases.push_back(
      {"altered ciphertext", flipped, ikm, ErrorCode::kInvalid, "failed authentication"});
  Bytes bad_tag = good;
  bad_tag.back() ^= 0x01;
  cases.push_back({"altered tag", bad_tag, ikm, ErrorCode::kInvalid, "failed authentication"});
  cases.push_back({"record cut short", Bytes(good.begin(), good.end() - 1), ikm,
                   ErrorCode::kInvalid, "failed authentication"});
  cases.push_back({"record too short for a tag", Bytes(good.begin(), good.begin() + 21 + 10), ikm,
                   ErrorCode::kInvalid, "too short to hold a tag"});
  cases.push_back({"no delimiter", build_body(ikm, salt, 4096, {}, {Bytes(8, 0)}), ikm,
                   ErrorCode::kInvalid, "no padding delimiter"});
  cases.push_back({"delimiter 3", build_body(ikm, salt, 4096, {}, {text("hi\x03")}), ikm,
                   ErrorCode::kInvalid, "invalid padding delimiter"});
  cases.push_back({"final delimiter before more records",
                   build_body(ikm, salt, 20, {}, {text("abc\x02"), text("d\x02")}), ikm,
                   ErrorCode::kInvalid, "marked final but more records follow"});
  cases.push_back({"last record not marked final",
                   build_body(ikm, salt, 20, {}, {text("abc\x01"), text("d\x01")}), ikm,
                   ErrorCode::kInvalid, "not marked final (body truncated)"});
  // Dropping the final record of a two-record body leaves a non-final record last.
  const Bytes two = build_body(ikm, salt, 20, {}, {text("abc\x01"), text("d\x02")});
  cases.push_back({"final record dropped", Bytes(two.begin(), two.begin() + 21 + 20), ikm,
                   ErrorCode::kInvalid, "not marked final (body truncated)"});
  EceDecryptOptions want65;
  want65.expected_key_id_size = 65;
  cases.push_back({"keyid length mismatch", b64(rfc::k8188MultiBody), b64(rfc::k8188MultiIkm),
                   ErrorCode::kInvalid, "keyid is 2 bytes, expected 65", want65});
  return cases;
}

TEST(Ece, RejectsEachKindOfBadBody) {
  for (const auto& c : reject_cases()) {
    EXPECT_TRUE(FailsWith(ece_decrypt(c.ikm, c.body, c.options), c.code, c.phrase)) << c.name;
  }
}

TEST(Ece, EncryptRejectsBadParameters) {
  const Bytes ikm(16, 1);
  EceEncryptOptions small;
  small.record_size = 17;
  EXPECT_TRUE(FailsWith(ece_encrypt(ikm, Salt{}, as_bytes("x"), small), ErrorCode::kInvalid,
                        "record size 17"));

  EceEncryptOptions tight;
  tight.record_size = 18;  // room for one byte of plaintext, the delimiter and the tag
  EXPECT_TRUE(ece_encrypt(ikm, Salt{}, as_bytes("x"), tight));
  EXPECT_TRUE(
      FailsWith(ece_encrypt(ikm, Salt{}, as_bytes("xy"), tight), ErrorCode::kTooLarge, "record"));

  const Bytes long_id(256, 'k');
  EceEncryptOptions bad_id;
  bad_id.key_id = long_id;
  EXPECT_TRUE(FailsWith(ece_encrypt(ikm, Salt{}, as_bytes("x"), bad_id), ErrorCode::kInvalid,
                        "keyid longer than 255 bytes"));
}

}  // namespace
}  // namespace flashwire::webpush
