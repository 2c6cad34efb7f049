// Push endpoint tokens: the opaque last path segment of every endpoint URL we hand out.
//
// A token is AES-256-GCM over (version, uaid, channel id, first 16 bytes of SHA-256 of the
// subscription's VAPID key or zeros) under a server key that persists across restarts, with a
// random nonce. Nobody without the key can enumerate subscriptions, forge an endpoint for someone
// else's channel, or swap the VAPID restriction; any altered token fails authentication and is
// treated as unknown (404).
//
// Thread safety: an EndpointCodec is immutable after construction except for its per-call OpenSSL
// context; use one per thread.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace flashwire::pushservice {

using EndpointKey = std::array<std::uint8_t, 32>;
using KeyHash = std::array<std::uint8_t, 16>;

struct EndpointRef {
  std::string uaid;          // 32 lower-case hex characters
  std::string channel_id;    // canonical lower-case UUID, 36 characters
  KeyHash vapid_key_hash{};  // all zero when the channel has no VAPID restriction
};

// First 16 bytes of SHA-256 of a raw public key.
KeyHash hash_vapid_key(const std::array<std::uint8_t, 65>& raw_key);

class EndpointCodec {
 public:
  explicit EndpointCodec(const EndpointKey& key);
  ~EndpointCodec();
  EndpointCodec(const EndpointCodec&) = delete;
  EndpointCodec& operator=(const EndpointCodec&) = delete;

  // Requires a valid uaid (32 hex) and channel id (UUID); returns the base64url token.
  std::optional<std::string> encode(const EndpointRef& ref);
  // The reference inside a token, or nullopt for anything we did not issue.
  std::optional<EndpointRef> decode(std::string_view token);

 private:
  struct CtxDeleter {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
  };
  // One context per direction, keyed once: each call only sets its nonce, so the cipher is not
  // looked up and the key schedule not rebuilt per request.
  std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> seal_;
  std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> open_;
};

// Identifier syntax checks shared by the protocol and the codec.
bool is_valid_uaid(std::string_view uaid);                               // 32 hex characters
std::optional<std::string> canonical_channel_id(std::string_view text);  // UUID, lower-cased

}  // namespace flashwire::pushservice
