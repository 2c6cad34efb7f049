#include "pushservice/endpoint_codec.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "webpush/base64url.h"

namespace flashwire::pushservice {
namespace {

constexpr std::uint8_t kTokenVersion = 1;
constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kPlainSize = 1 + 16 + 16 + 16;  // version, uaid, channel, key hash
constexpr std::size_t kTokenSize = kNonceSize + kPlainSize + kTagSize;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Packs 32 hex digits (dashes skipped) into 16 bytes.
bool hex_to_bytes(std::string_view hex, std::uint8_t* out) {
  std::size_t n = 0;
  for (const char c : hex) {
    if (c == '-') continue;
    const int v = hex_value(c);
    if (v < 0 || n >= 32) return false;
    if (n % 2 == 0) {
      out[n / 2] = static_cast<std::uint8_t>(v << 4);
    } else {
      out[n / 2] = static_cast<std::uint8_t>(out[n / 2] | v);
    }
    ++n;
  }
  return n == 32;
}

std::string bytes_to_hex(const std::uint8_t* data, std::size_t size, bool uuid_dashes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2 + (uuid_dashes ? 4 : 0), '-');  // sized once: decoded on every POST
  char* p = out.data();
  for (std::size_t i = 0; i < size; ++i) {
    if (uuid_dashes && (i == 4 || i == 6 || i == 8 || i == 10)) ++p;  // keep the '-'
    *p++ = kDigits[data[i] >> 4];
    *p++ = kDigits[data[i] & 15];
  }
  return out;
}

}  // namespace

KeyHash hash_vapid_key(const std::array<std::uint8_t, 65>& raw_key) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(raw_key.data(), raw_key.size(), digest);
  KeyHash hash;
  std::copy_n(digest, hash.size(), hash.begin());
  return hash;
}

bool is_valid_uaid(std::string_view uaid) {
  return uaid.size() == 32 &&
         std::all_of(uaid.begin(), uaid.end(), [](char c) { return hex_value(c) >= 0; });
}

std::optional<std::string> canonical_channel_id(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position ? text[i] != '-' : hex_value(text[i]) < 0) return std::nullopt;
  }
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');  // only hex digits are left
  }
  return out;
}

EndpointCodec::EndpointCodec(const EndpointKey& key)
    : seal_(EVP_CIPHER_CTX_new()), open_(EVP_CIPHER_CTX_new()) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  const bool ok = seal_ && open_ && cipher != nullptr &&
                  EVP_EncryptInit_ex2(seal_.get(), cipher, key.data(), nullptr, nullptr) == 1 &&
                  EVP_DecryptInit_ex2(open_.get(), cipher, key.data(), nullptr, nullptr) == 1;
  EVP_CIPHER_free(cipher);
  if (!ok) {
    std::fprintf(stderr, "fatal: cannot set up AES-256-GCM for endpoint tokens\n");
    std::abort();
  }
}

EndpointCodec::~EndpointCodec() = default;

std::optional<std::string> EndpointCodec::encode(const EndpointRef& ref) {
  std::array<std::uint8_t, kTokenSize> token{};
  std::uint8_t* nonce = token.data();
  std::uint8_t* sealed = token.data() + kNonceSize;
  std::array<std::uint8_t, kPlainSize> plain{};
  plain[0] = kTokenVersion;
  if (!is_valid_uaid(ref.uaid) || !hex_to_bytes(ref.uaid, plain.data() + 1) ||
      !canonical_channel_id(ref.channel_id) || !hex_to_bytes(ref.channel_id, plain.data() + 17)) {
    return std::nullopt;
  }
  std::copy(ref.vapid_key_hash.begin(), ref.vapid_key_hash.end(), plain.begin() + 33);
  if (RAND_bytes(nonce, kNonceSize) != 1) return std::nullopt;
  int len = 0;
  if (EVP_EncryptInit_ex2(seal_.get(), nullptr, nullptr, nonce, nullptr) != 1 ||
      EVP_EncryptUpdate(seal_.get(), sealed, &len, plain.data(), static_cast<int>(plain.size())) !=
          1 ||
      EVP_EncryptFinal_ex(seal_.get(), sealed + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(seal_.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, sealed + kPlainSize) != 1) {
    return std::nullopt;
  }
  return webpush::base64url_encode(token);
}

std::optional<EndpointRef> EndpointCodec::decode(std::string_view token_text) {
  auto token = webpush::base64url_decode(token_text);
  if (!token || token->size() != kTokenSize) return std::nullopt;
  const std::uint8_t* nonce = token->data();
  std::uint8_t* sealed = token->data() + kNonceSize;
  std::array<std::uint8_t, kPlainSize> plain{};
  int len = 0;
  if (EVP_DecryptInit_ex2(open_.get(), nullptr, nullptr, nonce, nullptr) != 1 ||
      EVP_DecryptUpdate(open_.get(), plain.data(), &len, sealed, static_cast<int>(kPlainSize)) !=
          1 ||
      EVP_CIPHER_CTX_ctrl(open_.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, sealed + kPlainSize) != 1 ||
      EVP_DecryptFinal_ex(open_.get(), plain.data() + len, &len) != 1) {
    return std::nullopt;
  }
  if (plain[0] != kTokenVersion) return std::nullopt;
  EndpointRef ref;
  ref.uaid = bytes_to_hex(plain.data() + 1, 16, false);
  ref.channel_id = bytes_to_hex(plain.data() + 17, 16, true);
  std::copy_n(plain.begin() + 33, ref.vapid_key_hash.size(), ref.vapid_key_hash.begin());
  return ref;
}

}  // namespace flashwire::pushservice
