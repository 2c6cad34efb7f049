// OpenSSL plumbing shared by the Web Push core. Not part of the module's public surface.
//
// Speed matters here (one ECDH, one key generation, five HMACs and one AES-GCM per message), so
// the per-thread objects below are created once and reused: OpenSSL 3 fetches algorithms and
// allocates contexts on every one-shot call, which costs more than the HMACs themselves.
// Thread safety: p256_group() is shared and read-only; every other class is one per thread.
#pragma once

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>

#include "webpush/bytes.h"

namespace flashwire::webpush::internal {

struct BnCtxDeleter {
  void operator()(BN_CTX* p) const { BN_CTX_free(p); }
};
struct BnDeleter {
  void operator()(BIGNUM* p) const { BN_clear_free(p); }
};
struct EcPointDeleter {
  void operator()(EC_POINT* p) const { EC_POINT_free(p); }
};
struct MdDeleter {
  void operator()(EVP_MD* p) const { EVP_MD_free(p); }
};
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};

using BnCtxPtr = std::unique_ptr<BN_CTX, BnCtxDeleter>;
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;
using EcPointPtr = std::unique_ptr<EC_POINT, EcPointDeleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// The P-256 group, created once (OpenSSL picks its fastest implementation for this curve).
const EC_GROUP* p256_group();

// Aborts with `what` when an OpenSSL call that cannot fail on valid input fails anyway.
[[noreturn]] void die(const char* what);

using Sha256 = std::array<std::uint8_t, 32>;

// HMAC-SHA-256 (RFC 2104) over the concatenation of `parts`, built on a reused SHA-256 digest
// context: OpenSSL 3's EVP_MAC re-keying copies three digest contexts and walks parameter lists
// on every init, which cost about four times the hashing itself for these short inputs.
class HmacSha256 {
 public:
  HmacSha256();
  Sha256 mac(ByteView key, std::initializer_list<ByteView> parts);

 private:
  std::unique_ptr<EVP_MD, MdDeleter> md_;
  MdCtxPtr ctx_;
};

// AES-128-GCM with a 96-bit nonce and a 16-byte tag, on a context kept for reuse.
class Aes128Gcm {
 public:
  static constexpr std::size_t kTagSize = 16;
  Aes128Gcm();
  // Writes in.size() bytes of ciphertext to `out`, then the tag to out + in.size().
  void seal(std::span<const std::uint8_t, 16> key, std::span<const std::uint8_t, 12> nonce,
            ByteView in, std::uint8_t* out);
  // `in` is ciphertext followed by the tag; writes in.size() - 16 bytes. False if the tag fails.
  bool open(std::span<const std::uint8_t, 16> key, std::span<const std::uint8_t, 12> nonce,
            ByteView in, std::uint8_t* out);

 private:
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx_;
};

// Scratch space for P-256 arithmetic.
class EcScratch {
 public:
  EcScratch();
  BN_CTX* bn_ctx() { return bn_ctx_.get(); }
  // x coordinate of scalar · point, 32 bytes big-endian. False on failure.
  bool ecdh(const BIGNUM* scalar, const EC_POINT* point, std::uint8_t* out32);
  // scalar · G as a 65-byte uncompressed point. False on failure.
  bool public_from_scalar(const BIGNUM* scalar, std::uint8_t* out65);

 private:
  BnCtxPtr bn_ctx_;
  EcPointPtr point_;
  BnPtr x_;
};

// The crypto objects one thread reuses for every message.
struct ThreadCrypto {
  HmacSha256 hmac;
  Aes128Gcm gcm;
  EcScratch ec;
};
ThreadCrypto& thread_crypto();

// Parses a big-endian scalar and checks 0 < k < n. Null when out of range.
BnPtr scalar_from_bytes(ByteView raw32);

}  // namespace flashwire::webpush::internal
