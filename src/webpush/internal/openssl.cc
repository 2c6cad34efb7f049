#include "webpush/internal/openssl.h"

#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace flashwire::webpush::internal {

const EC_GROUP* p256_group() {
  static const EC_GROUP* group = [] {
    EC_GROUP* g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    if (g == nullptr) die("EC_GROUP_new_by_curve_name(P-256)");
    return g;
  }();
  return group;
}

void die(const char* what) {
  std::fprintf(stderr, "fatal: OpenSSL failed in %s\n", what);
  std::abort();
}

HmacSha256::HmacSha256() : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), ctx_(EVP_MD_CTX_new()) {
  if (!md_) die("EVP_MD_fetch(SHA256)");
  if (!ctx_) die("EVP_MD_CTX_new");
}

Sha256 HmacSha256::mac(ByteView key, std::initializer_list<ByteView> parts) {
  constexpr std::size_t kBlock = 64;  // SHA-256's block size
  std::array<std::uint8_t, kBlock> padded{};
  Sha256 inner;
  unsigned int length = 0;
  if (key.size() > kBlock) {  // RFC 2104: a long key is hashed first
    if (EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx_.get(), key.data(), key.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_.get(), padded.data(), &length) != 1) {
      die("HMAC key digest");
    }
  } else if (!key.empty()) {
    std::memcpy(padded.data(), key.data(), key.size());
  }
  std::array<std::uint8_t, kBlock> pad;
  for (std::size_t i = 0; i < kBlock; ++i) pad[i] = padded[i] ^ 0x36;
  bool ok = EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx_.get(), pad.data(), pad.size()) == 1;
  for (const ByteView part : parts) {
    ok = ok && EVP_DigestUpdate(ctx_.get(), part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx_.get(), inner.data(), &length) == 1;
  for (std::size_t i = 0; i < kBlock; ++i) pad[i] = padded[i] ^ 0x5c;
  Sha256 out;
  ok = ok && EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) == 1 &&
       EVP_DigestUpdate(ctx_.get(), pad.data(), pad.size()) == 1 &&
       EVP_DigestUpdate(ctx_.get(), inner.data(), inner.size()) == 1 &&
       EVP_DigestFinal_ex(ctx_.get(), out.data(), &length) == 1;
  OPENSSL_cleanse(padded.data(), padded.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  OPENSSL_cleanse(inner.data(), inner.size());
  if (!ok) die("HMAC-SHA-256");
  return out;
}

Aes128Gcm::Aes128Gcm() : ctx_(EVP_CIPHER_CTX_new()) {
  if (!ctx_) die("EVP_CIPHER_CTX_new");
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  if (cipher == nullptr) die("EVP_CIPHER_fetch(AES-128-GCM)");
  // Bind the algorithm once; seal/open then only set key and nonce.
  const int ok = EVP_CipherInit_ex2(ctx_.get(), cipher, nullptr, nullptr, 1, nullptr);
  EVP_CIPHER_free(cipher);
  if (ok != 1) die("EVP_CipherInit_ex2");
}

void Aes128Gcm::seal(std::span<const std::uint8_t, 16> key, std::span<const std::uint8_t, 12> nonce,
                     ByteView in, std::uint8_t* out) {
  int len = 0;
  if (EVP_CipherInit_ex2(ctx_.get(), nullptr, key.data(), nonce.data(), 1, nullptr) != 1 ||
      EVP_CipherUpdate(ctx_.get(), out, &len, in.data(), static_cast<int>(in.size())) != 1 ||
      EVP_CipherFinal_ex(ctx_.get(), out + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, out + in.size()) != 1) {
    die("AES-128-GCM seal");
  }
}

bool Aes128Gcm::open(std::span<const std::uint8_t, 16> key, std::span<const std::uint8_t, 12> nonce,
                     ByteView in, std::uint8_t* out) {
  if (in.size() < kTagSize) return false;
  const std::size_t n = in.size() - kTagSize;
  int len = 0;
  if (EVP_CipherInit_ex2(ctx_.get(), nullptr, key.data(), nonce.data(), 0, nullptr) != 1 ||
      EVP_CipherUpdate(ctx_.get(), out, &len, in.data(), static_cast<int>(n)) != 1) {
    die("AES-128-GCM open");
  }
  std::uint8_t tag[kTagSize];
  std::copy(in.begin() + static_cast<std::ptrdiff_t>(n), in.end(), tag);
  if (EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) != 1) {
    die("AES-128-GCM set tag");
  }
  int final_len = 0;
  return EVP_CipherFinal_ex(ctx_.get(), out + len, &final_len) == 1;
}

EcScratch::EcScratch() : bn_ctx_(BN_CTX_new()), point_(EC_POINT_new(p256_group())), x_(BN_new()) {
  if (!bn_ctx_ || !point_ || !x_) die("EcScratch allocation");
}

bool EcScratch::ecdh(const BIGNUM* scalar, const EC_POINT* point, std::uint8_t* out32) {
  const EC_GROUP* group = p256_group();
  return EC_POINT_mul(group, point_.get(), nullptr, point, scalar, bn_ctx_.get()) == 1 &&
         EC_POINT_get_affine_coordinates(group, point_.get(), x_.get(), nullptr, bn_ctx_.get()) ==
             1 &&
         BN_bn2binpad(x_.get(), out32, 32) == 32;
}

bool EcScratch::public_from_scalar(const BIGNUM* scalar, std::uint8_t* out65) {
  const EC_GROUP* group = p256_group();
  return EC_POINT_mul(group, point_.get(), scalar, nullptr, nullptr, bn_ctx_.get()) == 1 &&
         EC_POINT_point2oct(group, point_.get(), POINT_CONVERSION_UNCOMPRESSED, out65, 65,
                            bn_ctx_.get()) == 65;
}

ThreadCrypto& thread_crypto() {
  thread_local ThreadCrypto crypto;
  return crypto;
}

BnPtr scalar_from_bytes(ByteView raw32) {
  if (raw32.size() != 32) return nullptr;
  BnPtr k(BN_secure_new());
  if (!k) die("BN_secure_new");
  BN_set_flags(k.get(), BN_FLG_CONSTTIME);
  if (BN_bin2bn(raw32.data(), 32, k.get()) == nullptr) die("BN_bin2bn");
  const BIGNUM* order = EC_GROUP_get0_order(p256_group());
  if (BN_is_zero(k.get()) || BN_cmp(k.get(), order) >= 0) return nullptr;
  return k;
}

}  // namespace flashwire::webpush::internal
