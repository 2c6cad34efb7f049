// P-256 (prime256v1) keys in the raw forms Web Push uses: 65-byte uncompressed public points and
// 32-byte private scalars, base64url-encoded on the wire.
//
// A P256PublicKey is validated once, when it is imported (on the curve, not the point at
// infinity); every later use trusts it, so a subscription's key is checked when the subscription
// is stored, not on every message. Both classes are immutable after construction, cheap to copy
// (one reference-counted pointer) and safe to share between threads.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "webpush/bytes.h"
#include "webpush/error.h"
#include "webpush/random.h"

using EC_POINT = struct ec_point_st;
using BIGNUM = struct bignum_st;
using EVP_PKEY = struct evp_pkey_st;

namespace flashwire::webpush {

using RawPublicKey = std::array<std::uint8_t, 65>;
using RawPrivateKey = std::array<std::uint8_t, 32>;

class P256PublicKey {
 public:
  static constexpr std::size_t kRawSize = 65;

  // Errors: kInvalid — not 65 bytes, not the uncompressed 0x04 form, not a point on the curve.
  static Result<P256PublicKey> from_raw(ByteView raw);
  // Errors: kInvalid (not base64url: "base64url: …"), then as from_raw. Padded base64url is
  // accepted.
  static Result<P256PublicKey> from_base64url(std::string_view text);

  const RawPublicKey& raw() const;
  std::string to_base64url() const;

  // The validated point, for the crypto code in src/webpush/.
  const EC_POINT* point() const;
  // An EVP_PKEY holding this public key, for signature verification. Built on first use: most
  // keys (subscribers') are only ever used for ECDH and never need one.
  EVP_PKEY* evp() const;

  friend bool operator==(const P256PublicKey& a, const P256PublicKey& b) {
    return a.raw() == b.raw();
  }

 private:
  struct State;
  P256PublicKey() = default;
  std::shared_ptr<const State> state_;
  friend class P256KeyPair;
};

class P256KeyPair {
 public:
  static constexpr std::size_t kRawPrivateSize = 32;

  // A new key pair drawn from `random`.
  static P256KeyPair generate(RandomSource& random = system_random());
  // Errors: kInvalid (not 32 bytes, zero, or not below the group order).
  static Result<P256KeyPair> from_private(ByteView raw_private);
  static Result<P256KeyPair> from_private_base64url(std::string_view text);

  const P256PublicKey& public_key() const { return public_; }
  const RawPrivateKey& raw_private() const { return raw_private_; }

  // The private scalar (constant-time flagged), for ECDH.
  const BIGNUM* scalar() const { return scalar_.get(); }
  // An EVP_PKEY holding the pair, for ES256 signing.
  EVP_PKEY* evp() const { return evp_.get(); }

 private:
  P256KeyPair() = default;
  RawPrivateKey raw_private_{};
  P256PublicKey public_;
  std::shared_ptr<BIGNUM> scalar_;
  std::shared_ptr<EVP_PKEY> evp_;
};

// The ECDH shared secret (the x coordinate of private · peer), 32 bytes.
// Errors: kInternal only.
Result<std::array<std::uint8_t, 32>> ecdh_shared_secret(const P256KeyPair& own,
                                                        const P256PublicKey& peer);

}  // namespace flashwire::webpush
