#include "store/site_validation.h"

#include <algorithm>
#include <charconv>

#include "common/utf8.h"

namespace flashwire::store::site_validation {

tl::unexpected<Error> invalid(std::string_view what, std::string_view reason) {
  return make_error(ErrorCode::kInvalid, std::string(what) + ": " + std::string(reason));
}

bool is_category(std::int64_t value) { return value == 1 || value == 2 || value == 4; }

bool is_sha256_hex(std::string_view hash) {
  return hash.size() == 64 && std::all_of(hash.begin(), hash.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_scope(std::string_view scope) {
  return !scope.empty() && scope.find_first_of(" \t\n\r\v\f") == std::string_view::npos;
}

Status validate_article(const Article& a, std::string_view what) {
  if (!news::is_slug(a.slug)) return invalid(what, "slug is not 1 to 120 characters of [a-z0-9-]");
  if (!is_category(static_cast<std::int64_t>(a.category))) {
    return invalid(what, "category out of range");
  }
  if (!a.image_url.empty() && a.image_alt.empty()) {
    return invalid(what, "image without alt text");
  }
  if (a.image_renditions.empty()) return {};
  if (a.image_url.empty()) return invalid(what, "image renditions without an image");
  if (a.image_renditions.size() > news::kMaxImageRenditions) {
    return invalid(what, "more than 8 image renditions");
  }
  for (const news::ImageRendition& r : a.image_renditions) {
    if (r.width < 1 || r.width > news::kMaxImageWidth) {
      return invalid(what, "image rendition width out of range");
    }
    const bool bad_url = r.url.empty() || std::any_of(r.url.begin(), r.url.end(), [](char c) {
                           return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F;
                         });
    if (bad_url) return invalid(what, "image rendition URL is empty or has whitespace");
  }
  return {};
}

std::string encode_renditions(const std::vector<news::ImageRendition>& renditions) {
  std::string out;
  for (const news::ImageRendition& r : renditions) {
    if (!out.empty()) out += '\n';
    out += std::to_string(r.width);
    out += ' ';
    out += r.url;
  }
  return out;
}

Result<std::vector<news::ImageRendition>> decode_renditions(std::string_view stored) {
  std::vector<news::ImageRendition> out;
  while (!stored.empty()) {
    const std::size_t newline = stored.find('\n');
    const std::string_view line = stored.substr(0, newline);
    const std::size_t space = line.find(' ');
    int width = 0;
    const auto [end, ec] =
        std::from_chars(line.data(), line.data() + std::min(space, line.size()), width);
    if (space == std::string_view::npos || ec != std::errc() || end != line.data() + space ||
        width < 1 || width > news::kMaxImageWidth || space + 1 == line.size() ||
        out.size() == news::kMaxImageRenditions) {
      return make_error(ErrorCode::kCorrupt, "stored image renditions do not read back");
    }
    out.push_back({std::string(line.substr(space + 1)), width});
    if (newline == std::string_view::npos) break;
    stored.remove_prefix(newline + 1);
  }
  return out;
}

std::vector<std::string_view> search_words(std::string_view query) {
  std::vector<std::string_view> words;
  std::size_t start = std::string_view::npos;
  for (std::size_t i = 0; i <= query.size() && words.size() < kMaxSearchWords; ++i) {
    const unsigned char c = i < query.size() ? static_cast<unsigned char>(query[i]) : ' ';
    const bool word =
        c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (word && start == std::string_view::npos) start = i;
    if (!word && start != std::string_view::npos) {
      const std::string_view w = query.substr(start, i - start);
      if (is_valid_utf8(w)) words.push_back(w);
      start = std::string_view::npos;
    }
  }
  return words;
}

Status validate_subscription(const Subscription& s) {
  constexpr std::string_view kWhat = "upsert_subscription";
  if (s.endpoint.empty()) return invalid(kWhat, "endpoint is empty");
  if (s.p256dh.empty()) return invalid(kWhat, "p256dh is empty");
  if (s.auth.empty()) return invalid(kWhat, "auth is empty");
  if (s.categories == 0 || s.categories > kAllCategories) {
    return invalid(kWhat, "categories out of range");
  }
  return {};
}

Result<std::string> validate_token(const ApiToken& token) {
  constexpr std::string_view kWhat = "create_token";
  if (token.name.empty()) return invalid(kWhat, "name is empty");
  if (!is_sha256_hex(token.secret_hash)) {
    return invalid(kWhat, "secret hash is not 64 lower-case hex characters");
  }
  return join_scopes(token.scopes);
}

Status validate_alert(const Alert& a) {
  constexpr std::string_view kWhat = "create_alert";
  if (a.article_id < 0) return invalid(kWhat, "article id is negative");
  if (!is_category(static_cast<std::int64_t>(a.category))) {
    return invalid(kWhat, "category out of range");
  }
  if (!news::is_urgency(a.urgency)) return invalid(kWhat, "urgency is not an RFC 8030 value");
  if (a.ttl_seconds < 0) return invalid(kWhat, "TTL is negative");
  if (static_cast<int>(a.status) > static_cast<int>(AlertStatus::kFailed)) {
    return invalid(kWhat, "status out of range");
  }
  return {};
}

Status validate_guarded_write(GuardedWrite write, const Alert& alert) {
  constexpr std::string_view kWhat = "guarded_alert_write";
  switch (write) {
    case GuardedWrite::kCreate:
      return validate_alert(alert);
    case GuardedWrite::kSchedule:
      if (alert.send_at <= 0) return invalid(kWhat, "send_at must be a positive time");
      return {};
    case GuardedWrite::kSend:
      return {};
  }
  return invalid(kWhat, "unknown write");
}

Result<std::string> join_scopes(const std::vector<std::string>& scopes) {
  std::string joined;
  for (const auto& scope : scopes) {
    if (!is_scope(scope)) return invalid("create_token", "a scope is empty or has whitespace");
    if (!joined.empty()) joined += ' ';
    joined += scope;
  }
  return joined;
}

std::vector<std::string> split_scopes(std::string_view joined) {
  std::vector<std::string> scopes;
  while (!joined.empty()) {
    const std::size_t space = joined.find(' ');
    const std::string_view scope = joined.substr(0, space);
    if (!scope.empty()) scopes.emplace_back(scope);
    if (space == std::string_view::npos) break;
    joined.remove_prefix(space + 1);
  }
  return scopes;
}

}  // namespace flashwire::store::site_validation
