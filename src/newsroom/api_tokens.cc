#include "newsroom/api_tokens.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>

#include "webpush/base64url.h"

namespace flashwire::newsroom {
namespace {

constexpr std::array<std::string_view, 3> kScopes = {kScopeArticlesWrite, kScopeAlertsSend,
                                                     kScopeTokensAdmin};
constexpr std::string_view kPrefix = "fw_";

}  // namespace

std::span<const std::string_view> all_scopes() { return kScopes; }

bool is_known_scope(std::string_view scope) {
  return std::find(kScopes.begin(), kScopes.end(), scope) != kScopes.end();
}

std::string generate_token_secret() {
  std::array<std::uint8_t, 32> bytes;
  if (RAND_priv_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    std::fprintf(stderr, "fatal: random generator failed\n");
    std::abort();
  }
  return std::string(kPrefix) + webpush::base64url_encode(bytes);
}

std::string hash_token_secret(std::string_view secret) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (const auto byte : digest) {
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 15];
  }
  return hex;
}

bool looks_like_token(std::string_view secret) {
  if (secret.size() != kPrefix.size() + 43 || !secret.starts_with(kPrefix)) return false;
  return std::all_of(secret.begin() + 3, secret.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

bool is_valid_token_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

}  // namespace flashwire::newsroom
