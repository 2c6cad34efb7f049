// RFC 8188 aes128gcm: header parse and decryption of any body, three ways, chosen by the first
// input byte:
//   0: the input is a body: parse_ece_header, then ece_decrypt (with and without the Web Push
//      keyid length). Random records fail authentication, so this mostly reaches the header
//      and framing checks.
//   1: the input describes records (a record size byte, then plaintext records split at '|'),
//      which are sealed here with the right key: this reaches the padding and delimiter checks
//      behind the tag. Property: a body that decrypts yields no more bytes than went in.
//   2: the input is a plaintext: ece_encrypt then ece_decrypt gives it back.
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "fuzz_check.h"
#include "webpush/ece.h"

using namespace flashwire::webpush;

namespace {

constexpr std::uint8_t kIkm[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
constexpr Salt kSalt = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};

// AES-128-GCM seal of one record: ciphertext then 16-byte tag, appended to `out`.
void seal(const EceKeys& keys, std::uint64_t sequence, ByteView plain, Bytes& out) {
  Nonce nonce = keys.nonce;
  for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<std::uint8_t>(sequence >> (8 * i));
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  FUZZ_CHECK(ctx != nullptr, "OpenSSL context");
  const std::size_t at = out.size();
  out.resize(at + plain.size() + kEceTagSize);
  int written = 0;
  int ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, keys.cek.data(), nonce.data());
  ok = ok && EVP_EncryptUpdate(ctx, out.data() + at, &written, plain.data(),
                               static_cast<int>(plain.size()));
  int final_bytes = 0;
  ok = ok && EVP_EncryptFinal_ex(ctx, out.data() + at + written, &final_bytes);
  ok = ok &&
       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kEceTagSize, out.data() + at + plain.size());
  EVP_CIPHER_CTX_free(ctx);
  FUZZ_CHECK(ok == 1, "sealing a record");
}

void decrypt_body(ByteView body) {
  if (auto header = parse_ece_header(body)) {
    FUZZ_CHECK(header->size == kEceHeaderFixedSize + header->key_id.size() &&
                   header->size <= body.size() && header->record_size >= kEceMinRecordSize,
               "a parsed header lies within the body and has a usable record size");
  }
  const ByteView ikm(kIkm, 16);
  if (auto plain = ece_decrypt(ikm, body)) {
    FUZZ_CHECK(plain->size() < body.size(), "plaintext is shorter than its body");
  }
  (void)ece_decrypt(ikm, body, {.expected_key_id_size = 65});
}

void decrypt_sealed_records(ByteView spec) {
  if (spec.empty()) return;
  const std::uint32_t record_size = kEceMinRecordSize + spec[0];
  spec = spec.subspan(1);
  const ByteView ikm(kIkm, 16);
  const EceKeys keys = derive_ece_keys(ikm, kSalt);
  Bytes body(kSalt.begin(), kSalt.end());
  for (int shift = 24; shift >= 0; shift -= 8)
    body.push_back(static_cast<std::uint8_t>(record_size >> shift));
  body.push_back(0);  // no keyid
  std::uint64_t sequence = 0;
  std::size_t plain_total = 0;
  while (!spec.empty() && sequence < 64) {
    std::size_t cut = 0;
    while (cut < spec.size() && spec[cut] != '|') ++cut;
    // A record holds at most record_size - 16 plaintext bytes; longer ones are cut here so
    // the body stays well-framed (what a decryptor sees when a sender lies is case 0).
    const ByteView record = spec.first(std::min<std::size_t>(cut, record_size - kEceTagSize));
    seal(keys, sequence++, record, body);
    plain_total += record.size();
    spec = spec.subspan(std::min(spec.size(), cut + 1));
  }
  if (auto plain = ece_decrypt(ikm, body)) {
    FUZZ_CHECK(plain->size() < plain_total + 1, "no more plaintext out than in");
  }
}

void round_trip(ByteView plaintext) {
  const ByteView ikm(kIkm, 16);
  const std::size_t padding = plaintext.empty() ? 0 : plaintext[0] % 32;
  auto body = ece_encrypt(ikm, kSalt, plaintext, {.record_size = 4096, .padding = padding});
  if (plaintext.size() + padding + 1 + kEceTagSize > 4096) {
    FUZZ_CHECK(!body, "a plaintext too large for the record is refused");
    return;
  }
  FUZZ_CHECK(body.has_value(), "a plaintext that fits is encrypted");
  auto back = ece_decrypt(ikm, *body);
  FUZZ_CHECK(back && *back == Bytes(plaintext.begin(), plaintext.end()),
             "decrypt(encrypt(x)) == x");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ByteView rest(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      decrypt_body(rest);
      break;
    case 1:
      decrypt_sealed_records(rest);
      break;
    default:
      round_trip(rest);
      break;
  }
  return 0;
}
