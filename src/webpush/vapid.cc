#include "webpush/vapid.h"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <limits>

#include "webpush/base64url.h"
#include "webpush/internal/openssl.h"

namespace flashwire::webpush {
namespace {

namespace json = boost::json;

// base64url of {"typ":"JWT","alg":"ES256"}, the only header we sign.
constexpr std::string_view kJwtHeader = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9";

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Non-ASCII bytes too: a URI (mailto: or https:) percent-encodes them, and raw ones that are not
// UTF-8 would make a claims JSON no push service (nor verify_vapid_token) can read.
bool has_space_control_or_non_ascii(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](unsigned char c) {
    return c <= 0x20 || c >= 0x7f || c == '"' || c == '\\';
  });
}

// ES256 over `signing_input`, as the 64-byte r || s that JOSE uses (not DER).
std::string es256_sign(const P256KeyPair& key, std::string_view signing_input) {
  internal::MdCtxPtr md(EVP_MD_CTX_new());
  std::size_t der_len = 0;
  if (!md ||
      EVP_DigestSignInit_ex(md.get(), nullptr, "SHA256", nullptr, nullptr, key.evp(), nullptr) !=
          1 ||
      EVP_DigestSign(md.get(), nullptr, &der_len, as_bytes(signing_input).data(),
                     signing_input.size()) != 1) {
    internal::die("EVP_DigestSign (size)");
  }
  Bytes der(der_len);
  if (EVP_DigestSign(md.get(), der.data(), &der_len, as_bytes(signing_input).data(),
                     signing_input.size()) != 1) {
    internal::die("EVP_DigestSign");
  }
  const unsigned char* p = der.data();
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)), &ECDSA_SIG_free);
  if (!sig) internal::die("d2i_ECDSA_SIG");
  std::array<std::uint8_t, 64> raw;
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + 32, 32) != 32) {
    internal::die("ECDSA signature to raw");
  }
  return base64url_encode(raw);
}

bool es256_verify(const P256PublicKey& key, std::string_view signing_input, ByteView raw_sig) {
  if (raw_sig.size() != 64) return false;
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(ECDSA_SIG_new(), &ECDSA_SIG_free);
  BIGNUM* r = BN_bin2bn(raw_sig.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(raw_sig.data() + 32, 32, nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    internal::die("ECDSA_SIG_set0");
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_len <= 0) internal::die("i2d_ECDSA_SIG");
  internal::MdCtxPtr md(EVP_MD_CTX_new());
  const bool ok = md &&
                  EVP_DigestVerifyInit_ex(md.get(), nullptr, "SHA256", nullptr, nullptr, key.evp(),
                                          nullptr) == 1 &&
                  EVP_DigestVerify(md.get(), der, static_cast<std::size_t>(der_len),
                                   as_bytes(signing_input).data(), signing_input.size()) == 1;
  OPENSSL_free(der);
  return ok;
}

Result<json::object> decode_json_object(std::string_view part, std::string_view what) {
  auto raw = base64url_decode(part);
  if (!raw) return make_error(ErrorCode::kInvalid, std::string(what) + ": " + raw.error().message);
  boost::system::error_code ec;
  json::value value = json::parse(as_chars(*raw), ec);
  if (ec || !value.is_object()) {
    return make_error(ErrorCode::kInvalid, std::string(what) + " is not a JSON object");
  }
  return std::move(value.as_object());
}

}  // namespace

Result<std::string> audience_for_endpoint(std::string_view endpoint_url) {
  auto parsed = boost::urls::parse_absolute_uri(endpoint_url);
  if (!parsed) {
    return make_error(ErrorCode::kInvalid, "endpoint is not an absolute URL");
  }
  const std::string scheme = lower(parsed->scheme());
  if (scheme != "https" && scheme != "http") {
    return make_error(ErrorCode::kInvalid, "endpoint scheme must be https or http");
  }
  if (!parsed->has_authority() || parsed->encoded_host().empty()) {
    return make_error(ErrorCode::kInvalid, "endpoint has no host");
  }
  if (parsed->has_userinfo()) {
    return make_error(ErrorCode::kInvalid, "endpoint must not carry user information");
  }
  // The authority must be exactly host[:port], followed by nothing, a path starting with "/", a
  // query or a fragment. A lenient parse of "http://h:1:2/p" takes ":2/p" as a path: such a URL
  // names no push service a client would reach the same way, so it is refused here.
  const std::string_view authority = parsed->encoded_authority();
  const std::string_view after_authority =
      endpoint_url.substr(std::min(endpoint_url.size(), scheme.size() + 3 + authority.size()));
  if (!after_authority.empty() && after_authority.front() != '/' &&
      after_authority.front() != '?' && after_authority.front() != '#') {
    return make_error(ErrorCode::kInvalid, "endpoint has a malformed authority");
  }
  const std::string_view host = parsed->encoded_host();
  if (parsed->host_type() == boost::urls::host_type::name &&
      !std::all_of(host.begin(), host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
      })) {
    return make_error(ErrorCode::kInvalid, "endpoint host is not a valid host name");
  }
  if (parsed->host_type() != boost::urls::host_type::name &&
      parsed->host_type() != boost::urls::host_type::ipv4 &&
      parsed->host_type() != boost::urls::host_type::ipv6) {
    return make_error(ErrorCode::kInvalid, "endpoint host is not a name or an IP address");
  }
  std::string origin = scheme + "://" + lower(host);
  if (parsed->has_port()) {
    const std::string_view port = parsed->port();
    const bool default_port =
        (scheme == "https" && port == "443") || (scheme == "http" && port == "80");
    if (port.empty()) return make_error(ErrorCode::kInvalid, "endpoint has an empty port");
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
        std::stoi(std::string(port)) > 65535) {
      return make_error(ErrorCode::kInvalid, "endpoint port must be a number up to 65535");
    }
    if (!default_port) origin += ":" + std::string(port);
  }
  return origin;
}

Result<void> validate_vapid_audience(std::string_view audience) {
  auto origin = audience_for_endpoint(audience);
  if (!origin) {
    return make_error(ErrorCode::kInvalid, "aud: " + origin.error().message);
  }
  if (*origin != audience) {
    return make_error(ErrorCode::kInvalid,
                      "aud must be an origin (scheme://host[:port], lower case, no path)");
  }
  return {};
}

Result<void> validate_vapid_subject(std::string_view subject) {
  if (has_space_control_or_non_ascii(subject)) {
    return make_error(ErrorCode::kInvalid,
                      "sub must not contain spaces, quotes, control or non-ASCII characters");
  }
  if (subject.starts_with("mailto:")) {
    const std::string_view address = subject.substr(7);
    const std::size_t at = address.find('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) {
      return make_error(ErrorCode::kInvalid, "sub: mailto: needs an address like news@example.com");
    }
    if (lower(address.substr(at + 1)) == "localhost") {
      return make_error(ErrorCode::kInvalid, "sub: push services reject @localhost addresses");
    }
    return {};
  }
  if (subject.starts_with("https://")) {
    auto parsed = boost::urls::parse_absolute_uri(subject);
    if (!parsed || parsed->encoded_host().empty()) {
      return make_error(ErrorCode::kInvalid, "sub: not a valid https: URL");
    }
    return {};
  }
  return make_error(ErrorCode::kInvalid, "sub must start with mailto: or https://");
}

Result<std::string> sign_vapid_token(const P256KeyPair& key, const VapidClaims& claims,
                                     std::int64_t now) {
  if (auto ok = validate_vapid_audience(claims.audience); !ok) return tl::unexpected(ok.error());
  if (auto ok = validate_vapid_subject(claims.subject); !ok) return tl::unexpected(ok.error());
  if (claims.expires_at <= now) {
    return make_error(ErrorCode::kInvalid, "exp must be in the future");
  }
  if (claims.expires_at > now + kVapidMaxLifetimeSeconds) {
    return make_error(ErrorCode::kInvalid, "exp must be at most 24 hours ahead (RFC 8292 §2)");
  }
  // aud and sub were checked above to hold no quote, backslash or control character.
  const std::string payload = "{\"aud\":\"" + claims.audience +
                              "\",\"exp\":" + std::to_string(claims.expires_at) + ",\"sub\":\"" +
                              claims.subject + "\"}";
  std::string token(kJwtHeader);
  token += '.';
  token += base64url_encode(as_bytes(payload));
  const std::string signature = es256_sign(key, token);
  token += '.';
  token += signature;
  return token;
}

std::string format_vapid_authorization(std::string_view token, const P256PublicKey& key) {
  std::string header = "vapid t=";
  header += token;
  header += ", k=";
  header += key.to_base64url();
  return header;
}

Result<VapidAuthorization> parse_vapid_authorization(std::string_view value) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  value = trim(value);
  const std::size_t space = value.find_first_of(" \t");
  if (space == std::string_view::npos || lower(value.substr(0, space)) != "vapid") {
    return make_error(ErrorCode::kInvalid, "Authorization: expected the vapid scheme");
  }
  std::string_view rest = value.substr(space + 1);
  std::string_view token, key;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view param = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (param.empty()) continue;
    const std::size_t eq = param.find('=');
    if (eq == std::string_view::npos) {
      return make_error(ErrorCode::kInvalid, "Authorization: parameter without '='");
    }
    const std::string name = lower(trim(param.substr(0, eq)));
    const std::string_view val = trim(param.substr(eq + 1));
    if (name == "t") {
      token = val;
    } else if (name == "k") {
      key = val;
    }
  }
  if (token.empty() || key.empty()) {
    return make_error(ErrorCode::kInvalid, "Authorization: vapid needs both t= and k=");
  }
  auto public_key = P256PublicKey::from_base64url(key);
  if (!public_key) {
    return tl::unexpected(
        Error{public_key.error().code, "Authorization k: " + public_key.error().message});
  }
  return VapidAuthorization{std::string(token), std::move(*public_key)};
}

Result<VapidClaims> verify_vapid_token(std::string_view token, const P256PublicKey& key,
                                       std::string_view expected_audience, std::int64_t now,
                                       const VapidVerifyOptions& options) {
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return make_error(ErrorCode::kInvalid, "JWT must have three dot-separated parts");
  }
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!signature)
    return make_error(ErrorCode::kInvalid, "JWT signature: " + signature.error().message);
  if (signature->size() != 64) {
    return make_error(ErrorCode::kInvalid, "JWT signature must be 64 bytes (ES256 r || s)");
  }
  auto header = decode_json_object(token.substr(0, dot1), "JWT header");
  if (!header) return tl::unexpected(header.error());
  const json::value* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string() || alg->as_string() != "ES256") {
    return make_error(ErrorCode::kInvalid, "JWT alg must be ES256");
  }
  if (!es256_verify(key, token.substr(0, dot2), *signature)) {
    return make_error(ErrorCode::kUnauthorized, "JWT signature does not verify with the key k");
  }
  auto payload = decode_json_object(token.substr(dot1 + 1, dot2 - dot1 - 1), "JWT claims");
  if (!payload) return tl::unexpected(payload.error());

  VapidClaims claims;
  const json::value* aud = payload->if_contains("aud");
  const json::value* exp = payload->if_contains("exp");
  const json::value* sub = payload->if_contains("sub");
  if (aud == nullptr || !aud->is_string()) {
    return make_error(ErrorCode::kUnauthorized, "aud claim missing");
  }
  if (exp != nullptr && exp->is_int64()) {
    claims.expires_at = exp->as_int64();
  } else if (exp != nullptr && exp->is_uint64()) {  // beyond INT64_MAX: far too late anyway
    claims.expires_at = std::numeric_limits<std::int64_t>::max();
  } else {
    return make_error(ErrorCode::kUnauthorized, "exp claim missing or not an integer");
  }
  claims.audience = std::string(aud->as_string());
  if (sub != nullptr && sub->is_string()) claims.subject = std::string(sub->as_string());

  if (claims.audience != expected_audience) {
    return make_error(ErrorCode::kUnauthorized,
                      "aud is " + claims.audience + ", expected " + std::string(expected_audience));
  }
  if (claims.expires_at <= now - options.clock_skew_seconds) {
    return make_error(ErrorCode::kUnauthorized, "token expired");
  }
  if (claims.expires_at > now + kVapidMaxLifetimeSeconds + options.clock_skew_seconds) {
    return make_error(ErrorCode::kUnauthorized, "exp is more than 24 hours ahead");
  }
  return claims;
}

Result<std::unique_ptr<VapidTokenCache>> VapidTokenCache::create(
    P256KeyPair key, std::string subject, const Clock& clock,
    const VapidTokenCacheOptions& options) {
  if (auto ok = validate_vapid_subject(subject); !ok) return tl::unexpected(ok.error());
  if (options.token_lifetime_seconds > kVapidMaxLifetimeSeconds ||
      options.refresh_margin_seconds < 0 ||
      options.token_lifetime_seconds <= options.refresh_margin_seconds) {
    return make_error(
        ErrorCode::kInvalid,
        "VAPID token lifetime must be at most 24 h and longer than the refresh margin");
  }
  return std::unique_ptr<VapidTokenCache>(
      new VapidTokenCache(std::move(key), std::move(subject), clock, options));
}

VapidTokenCache::VapidTokenCache(P256KeyPair key, std::string subject, const Clock& clock,
                                 const VapidTokenCacheOptions& options)
    : key_(std::move(key)), subject_(std::move(subject)), clock_(clock), options_(options) {}

Result<std::string> VapidTokenCache::authorization(std::string_view audience) {
  const std::int64_t now = clock_.now_seconds();
  std::lock_guard lock(mutex_);
  auto it = entries_.find(audience);
  if (it != entries_.end() && it->second.expires_at - now > options_.refresh_margin_seconds) {
    return it->second.header;
  }
  const VapidClaims claims{std::string(audience), now + options_.token_lifetime_seconds, subject_};
  auto token = sign_vapid_token(key_, claims, now);
  if (!token) return tl::unexpected(token.error());
  ++tokens_signed_;
  Entry entry{format_vapid_authorization(*token, key_.public_key()), claims.expires_at};
  if (it == entries_.end()) {
    it = entries_.emplace(std::string(audience), std::move(entry)).first;
  } else {
    it->second = std::move(entry);
  }
  return it->second.header;
}

std::uint64_t VapidTokenCache::tokens_signed() const {
  std::lock_guard lock(mutex_);
  return tokens_signed_;
}

}  // namespace flashwire::webpush
