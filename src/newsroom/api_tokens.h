// Editor API tokens: the credentials of the newsroom API and UI.
//
// A token is "fw_" followed by 43 base64url characters (32 random bytes). It is shown once, when
// created; the store keeps only its SHA-256, so a stolen database does not give access. Scopes
// say what a token may do:
//   articles:write   create, edit and publish articles
//   alerts:send      compose and send alerts
//   tokens:admin     create and revoke other tokens
// Thread-safe (pure functions and OpenSSL's thread-safe generator).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace flashwire::newsroom {

inline constexpr std::string_view kScopeArticlesWrite = "articles:write";
inline constexpr std::string_view kScopeAlertsSend = "alerts:send";
inline constexpr std::string_view kScopeTokensAdmin = "tokens:admin";

// All scopes, in a stable order.
std::span<const std::string_view> all_scopes();
bool is_known_scope(std::string_view scope);

// A new random token secret.
std::string generate_token_secret();
// Lower-case hex SHA-256 of a presented secret, for look-up. Constant work for any input.
std::string hash_token_secret(std::string_view secret);
// Whether `secret` has the token shape ("fw_" + 43 base64url characters); cheap pre-check.
bool looks_like_token(std::string_view secret);
// Token names: 1-64 of [a-z0-9._-].
bool is_valid_token_name(std::string_view name);

}  // namespace flashwire::newsroom
