#include "webpush/p256.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <mutex>

#include "webpush/base64url.h"
#include "webpush/internal/openssl.h"

namespace flashwire::webpush {
namespace {

using internal::die;

class SystemRandom final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override {
    // The private DRBG: these bytes become private keys as well as salts.
    if (RAND_priv_bytes(out.data(), static_cast<int>(out.size())) != 1) die("RAND_priv_bytes");
  }
};

// Builds an EVP_PKEY for P-256 from the raw public point and, when given, the private scalar.
internal::PkeyPtr make_evp_key(const RawPublicKey& pub, const BIGNUM* priv) {
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                      &OSSL_PARAM_BLD_free);
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub.data(),
                                       pub.size()) != 1 ||
      (priv != nullptr && OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1)) {
    die("OSSL_PARAM_BLD");
  }
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()),
                                                                 &OSSL_PARAM_free);
  internal::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, priv != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                        params.get()) != 1) {
    die("EVP_PKEY_fromdata");
  }
  return internal::PkeyPtr(pkey);
}

}  // namespace

struct P256PublicKey::State {
  RawPublicKey raw{};
  internal::EcPointPtr point;
  mutable std::once_flag evp_once;
  mutable internal::PkeyPtr evp;
};

const RawPublicKey& P256PublicKey::raw() const { return state_->raw; }
const EC_POINT* P256PublicKey::point() const { return state_->point.get(); }

EVP_PKEY* P256PublicKey::evp() const {
  std::call_once(state_->evp_once, [this] { state_->evp = make_evp_key(state_->raw, nullptr); });
  return state_->evp.get();
}

RandomSource& system_random() {
  static SystemRandom random;
  return random;
}

Result<P256PublicKey> P256PublicKey::from_raw(ByteView raw) {
  if (raw.size() != kRawSize) {
    return make_error(ErrorCode::kInvalid,
                      "P-256 public key must be 65 bytes, got " + std::to_string(raw.size()));
  }
  if (raw[0] != 0x04) {
    return make_error(ErrorCode::kInvalid,
                      "P-256 public key must be an uncompressed point (first byte 0x04)");
  }
  const EC_GROUP* group = internal::p256_group();
  internal::EcPointPtr point(EC_POINT_new(group));
  if (!point) die("EC_POINT_new");
  // oct2point rejects coordinates that are not on the curve.
  if (EC_POINT_oct2point(group, point.get(), raw.data(), raw.size(), nullptr) != 1 ||
      EC_POINT_is_at_infinity(group, point.get()) == 1 ||
      EC_POINT_is_on_curve(group, point.get(), nullptr) != 1) {
    return make_error(ErrorCode::kInvalid, "P-256 public key is not a point on the curve");
  }
  auto state = std::make_shared<State>();
  std::copy(raw.begin(), raw.end(), state->raw.begin());
  state->point = std::move(point);
  P256PublicKey key;
  key.state_ = std::move(state);
  return key;
}

Result<P256PublicKey> P256PublicKey::from_base64url(std::string_view text) {
  auto raw = base64url_decode(text);
  if (!raw) return tl::unexpected(raw.error());
  return from_raw(*raw);
}

std::string P256PublicKey::to_base64url() const { return base64url_encode(state_->raw); }

P256KeyPair P256KeyPair::generate(RandomSource& random) {
  // Rejection sampling: a uniform 256-bit string is below the order n with probability ~1 - 2^-32.
  for (;;) {
    RawPrivateKey candidate;
    random.fill(candidate);
    auto pair = from_private(candidate);
    if (pair) return std::move(*pair);
  }
}

Result<P256KeyPair> P256KeyPair::from_private(ByteView raw_private) {
  if (raw_private.size() != kRawPrivateSize) {
    return make_error(ErrorCode::kInvalid, "P-256 private key must be 32 bytes, got " +
                                               std::to_string(raw_private.size()));
  }
  internal::BnPtr scalar = internal::scalar_from_bytes(raw_private);
  if (!scalar) {
    return make_error(ErrorCode::kInvalid,
                      "P-256 private key is zero or not below the group order");
  }
  RawPublicKey pub;
  if (!internal::thread_crypto().ec.public_from_scalar(scalar.get(), pub.data())) {
    die("P-256 public key from private key");
  }
  auto public_key = P256PublicKey::from_raw(pub);
  if (!public_key) die("P-256 derived public key rejected");

  P256KeyPair pair;
  std::copy(raw_private.begin(), raw_private.end(), pair.raw_private_.begin());
  pair.public_ = std::move(*public_key);
  pair.evp_ = std::shared_ptr<EVP_PKEY>(make_evp_key(pair.public_.raw(), scalar.get()).release(),
                                        internal::PkeyDeleter{});
  pair.scalar_ = std::shared_ptr<BIGNUM>(scalar.release(), internal::BnDeleter{});
  return pair;
}

Result<P256KeyPair> P256KeyPair::from_private_base64url(std::string_view text) {
  auto raw = base64url_decode(text);
  if (!raw) return tl::unexpected(raw.error());
  return from_private(*raw);
}

Result<std::array<std::uint8_t, 32>> ecdh_shared_secret(const P256KeyPair& own,
                                                        const P256PublicKey& peer) {
  std::array<std::uint8_t, 32> secret;
  if (!internal::thread_crypto().ec.ecdh(own.scalar(), peer.point(), secret.data())) {
    return make_error(ErrorCode::kInternal, "ECDH failed");
  }
  return secret;
}

}  // namespace flashwire::webpush
