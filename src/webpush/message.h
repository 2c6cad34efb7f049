// RFC 8291 Web Push message encryption, both sides.
//
// Application-server side: MessageEncryptor turns a plaintext into an aes128gcm body for one
// subscription. By default every message gets a new ephemeral P-256 key pair and a new salt,
// as RFC 8291 §3.4 describes. Reusing one sender key across a whole broadcast saves the key
// generation; it is an explicit opt-in (encrypt_with_sender_key), never a default.
//
// User-agent side: decrypt_message() is what a browser does with a received body.
//
// Thread safety: a MessageEncryptor is used by one thread at a time (make one per worker);
// SubscriptionKeys and the free functions are safe to share and call from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "webpush/bytes.h"
#include "webpush/ece.h"
#include "webpush/error.h"
#include "webpush/p256.h"
#include "webpush/random.h"

namespace flashwire::webpush {

using AuthSecret = std::array<std::uint8_t, 16>;

// The most plaintext one Web Push message carries: 4096-byte record - 86-byte header (none of
// it counted in rs, but push services cap the body at 4096) - 16-byte tag - 1 delimiter.
inline constexpr std::size_t kMaxPlaintextSize = 3993;
inline constexpr std::uint32_t kWebPushRecordSize = 4096;
inline constexpr std::size_t kWebPushHeaderSize = 86;

// A subscription's `keys` member, imported and validated once.
struct SubscriptionKeys {
  P256PublicKey p256dh;
  AuthSecret auth{};

  // Errors: kInvalid, the message starting with the field ("p256dh: ", "auth: "): not
  // base64url, auth not 16 bytes, key not 65 bytes or not a point on the curve.
  static Result<SubscriptionKeys> from_base64url(std::string_view p256dh, std::string_view auth);
};

// The RFC 8291 §3.3/§3.4 key schedule, exposed so tests can check each intermediate value.
struct MessageKeys {
  std::array<std::uint8_t, 32> prk_key{};  // HMAC(auth_secret, ecdh_secret)
  std::array<std::uint8_t, 32> ikm{};  // HMAC(PRK_key, "WebPush: info\0" ua_public as_public 01)
  EceKeys ece;                         // PRK, CEK, NONCE from IKM and salt (RFC 8188)
};
MessageKeys derive_message_keys(ByteView ecdh_secret, const AuthSecret& auth,
                                const RawPublicKey& ua_public, const RawPublicKey& as_public,
                                const Salt& salt);

class MessageEncryptor {
 public:
  // `random` supplies each message's salt and, for encrypt(), the ephemeral private key
  // (32 bytes, drawn before the 16-byte salt). It must outlive the encryptor.
  explicit MessageEncryptor(RandomSource& random = system_random());

  // Encrypts with a new ephemeral key. `padding` zero bytes are added inside the record.
  // Errors: kTooLarge (plaintext + padding > 3993 bytes); kInternal if OpenSSL fails.
  Result<Bytes> encrypt(const SubscriptionKeys& subscriber, ByteView plaintext,
                        std::size_t padding = 0);

  // Encrypts with a caller-held sender key, e.g. one key for all messages of one broadcast
  // (opt-in: every subscriber then sees the same keyid) or a fixed key for test vectors.
  // The salt is still new for every message. Errors: as encrypt().
  Result<Bytes> encrypt_with_sender_key(const P256KeyPair& sender,
                                        const SubscriptionKeys& subscriber, ByteView plaintext,
                                        std::size_t padding = 0);

 private:
  Result<Bytes> seal(const BIGNUM* sender_scalar, const RawPublicKey& sender_public,
                     const SubscriptionKeys& subscriber, ByteView plaintext, std::size_t padding);

  RandomSource& random_;
};

// Decrypts a Web Push body with the subscriber's key pair and auth secret. Accepts what RFC 8188
// allows (any record size >= 18, several records) but requires the keyid to be the sender's
// 65-byte public key. Errors: those of ece_decrypt, plus kInvalid for a keyid that is not 65
// bytes or a sender key that is not a point on the curve.
Result<Bytes> decrypt_message(const P256KeyPair& subscriber, const AuthSecret& auth, ByteView body);

}  // namespace flashwire::webpush
