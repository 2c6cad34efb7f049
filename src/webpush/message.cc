#include "webpush/message.h"

#include <cstring>
#include <optional>
#include <string>

#include "webpush/base64url.h"
#include "webpush/internal/openssl.h"

namespace flashwire::webpush {
namespace {

constexpr std::string_view kKeyInfoPrefix("WebPush: info\0", 14);
constexpr std::uint8_t kOne[] = {0x01};

std::optional<Error> check_plaintext_size(std::size_t size) {
  if (size <= kMaxPlaintextSize) return std::nullopt;
  return Error{ErrorCode::kTooLarge,
               "web push: " + std::to_string(size) +
                   " bytes of plaintext and padding exceed the 3993-byte limit"};
}

}  // namespace

Result<SubscriptionKeys> SubscriptionKeys::from_base64url(std::string_view p256dh,
                                                          std::string_view auth) {
  auto key = P256PublicKey::from_base64url(p256dh);
  if (!key) return tl::unexpected(Error{key.error().code, "p256dh: " + key.error().message});
  auto secret = base64url_decode(auth);
  if (!secret) return tl::unexpected(Error{secret.error().code, "auth: " + secret.error().message});
  if (secret->size() != 16) {
    return make_error(ErrorCode::kInvalid,
                      "auth: secret must be 16 bytes, got " + std::to_string(secret->size()));
  }
  SubscriptionKeys keys{std::move(*key), {}};
  std::copy(secret->begin(), secret->end(), keys.auth.begin());
  return keys;
}

MessageKeys derive_message_keys(ByteView ecdh_secret, const AuthSecret& auth,
                                const RawPublicKey& ua_public, const RawPublicKey& as_public,
                                const Salt& salt) {
  auto& hmac = internal::thread_crypto().hmac;
  MessageKeys keys;
  keys.prk_key = hmac.mac(auth, {ecdh_secret});
  keys.ikm = hmac.mac(keys.prk_key, {as_bytes(kKeyInfoPrefix), ua_public, as_public, kOne});
  keys.ece = derive_ece_keys(keys.ikm, salt);
  return keys;
}

MessageEncryptor::MessageEncryptor(RandomSource& random) : random_(random) {}

Result<Bytes> MessageEncryptor::encrypt(const SubscriptionKeys& subscriber, ByteView plaintext,
                                        std::size_t padding) {
  if (auto too_large = check_plaintext_size(plaintext.size() + padding)) {
    return tl::unexpected(std::move(*too_large));
  }
  auto& ec = internal::thread_crypto().ec;
  internal::BnPtr scalar;
  while (!scalar) {  // rejection sampling; a retry happens with probability ~2^-32
    RawPrivateKey candidate;
    random_.fill(candidate);
    scalar = internal::scalar_from_bytes(candidate);
    OPENSSL_cleanse(candidate.data(), candidate.size());
  }
  RawPublicKey sender_public;
  if (!ec.public_from_scalar(scalar.get(), sender_public.data())) {
    return make_error(ErrorCode::kInternal, "web push: ephemeral key generation failed");
  }
  return seal(scalar.get(), sender_public, subscriber, plaintext, padding);
}

Result<Bytes> MessageEncryptor::encrypt_with_sender_key(const P256KeyPair& sender,
                                                        const SubscriptionKeys& subscriber,
                                                        ByteView plaintext, std::size_t padding) {
  if (auto too_large = check_plaintext_size(plaintext.size() + padding)) {
    return tl::unexpected(std::move(*too_large));
  }
  return seal(sender.scalar(), sender.public_key().raw(), subscriber, plaintext, padding);
}

Result<Bytes> MessageEncryptor::seal(const BIGNUM* sender_scalar, const RawPublicKey& sender_public,
                                     const SubscriptionKeys& subscriber, ByteView plaintext,
                                     std::size_t padding) {
  auto& crypto = internal::thread_crypto();
  std::array<std::uint8_t, 32> secret;
  if (!crypto.ec.ecdh(sender_scalar, subscriber.p256dh.point(), secret.data())) {
    return make_error(ErrorCode::kInternal, "web push: ECDH failed");
  }
  Salt salt;
  random_.fill(salt);
  MessageKeys keys =
      derive_message_keys(secret, subscriber.auth, subscriber.p256dh.raw(), sender_public, salt);
  OPENSSL_cleanse(secret.data(), secret.size());

  // Header: salt | rs = 4096 | idlen = 65 | sender public key; then the single sealed record.
  const std::size_t record_plain = plaintext.size() + 1 + padding;
  Bytes body(kWebPushHeaderSize + record_plain + kEceTagSize);
  std::uint8_t* p = body.data();
  std::memcpy(p, salt.data(), salt.size());
  p[16] = 0x00;
  p[17] = 0x00;
  p[18] = 0x10;
  p[19] = 0x00;
  p[20] = static_cast<std::uint8_t>(sender_public.size());
  std::memcpy(p + kEceHeaderFixedSize, sender_public.data(), sender_public.size());
  std::uint8_t* record = p + kWebPushHeaderSize;
  if (!plaintext.empty()) std::memcpy(record, plaintext.data(), plaintext.size());
  record[plaintext.size()] = 0x02;
  std::memset(record + plaintext.size() + 1, 0, padding);
  crypto.gcm.seal(keys.ece.cek, keys.ece.nonce, ByteView(record, record_plain), record);
  OPENSSL_cleanse(&keys, sizeof(keys));
  return body;
}

Result<Bytes> decrypt_message(const P256KeyPair& subscriber, const AuthSecret& auth,
                              ByteView body) {
  auto header = parse_ece_header(body);
  if (!header) return tl::unexpected(header.error());
  if (header->key_id.size() != P256PublicKey::kRawSize) {
    return make_error(ErrorCode::kInvalid, "web push: keyid is " +
                                               std::to_string(header->key_id.size()) +
                                               " bytes, expected the sender's 65-byte public key");
  }
  auto sender = P256PublicKey::from_raw(header->key_id);
  if (!sender) {
    return tl::unexpected(
        Error{sender.error().code, "web push sender key: " + sender.error().message});
  }
  auto secret = ecdh_shared_secret(subscriber, *sender);
  if (!secret) return tl::unexpected(secret.error());
  const MessageKeys keys = derive_message_keys(*secret, auth, subscriber.public_key().raw(),
                                               sender->raw(), header->salt);
  return ece_decrypt_records(keys.ece, *header, body);
}

}  // namespace flashwire::webpush
