// What every SiteStore implementation's schema can hold, checked before a write: the rules of
// sqlite_site_store.h ("What the schema holds"), shared by the SQLite and PostgreSQL stores so
// that both refuse exactly the same values with the same messages (the field, never its value).
// Slugs and urgencies are news::is_slug and news::is_urgency. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.h"
#include "store/site_store.h"

namespace flashwire::store::site_validation {

inline constexpr CategorySet kAllCategories = 0x7;  // kBreaking | kLive | kExclusive

// kInvalid "<what>: <reason>".
tl::unexpected<Error> invalid(std::string_view what, std::string_view reason);

bool is_category(std::int64_t value);
bool is_sha256_hex(std::string_view hash);
bool is_scope(std::string_view scope);

Status validate_article(const Article& a, std::string_view what);
Status validate_subscription(const Subscription& s);
Status validate_alert(const Alert& a);
// The arguments of guarded_alert_write: a known write, a valid alert to create, a positive
// send_at to schedule.
Status validate_guarded_write(GuardedWrite write, const Alert& alert);
// A token to create: a name, a SHA-256 hex hash, scopes that join_scopes accepts. Returns the
// joined scopes, as stored.
Result<std::string> validate_token(const ApiToken& token);

// An article's image renditions as stored: one "<width> <url>" line each, in the given order;
// "" for none. validate_article has checked them (a url without whitespace or control
// characters, a width of 1..news::kMaxImageWidth, at most news::kMaxImageRenditions, only with
// an image_url). decode: kCorrupt when a stored value does not read back.
std::string encode_renditions(const std::vector<news::ImageRendition>& renditions);
Result<std::vector<news::ImageRendition>> decode_renditions(std::string_view stored);

// The words of a reader's search query, as every store's search_articles reads it: each run of
// ASCII letters and digits and bytes >= 0x80 (so UTF-8 words stay whole; everything else
// separates), at most kMaxSearchWords of them; words that are not valid UTF-8 are dropped. No
// word is ever read as syntax (operators, quotes, column filters).
inline constexpr std::size_t kMaxSearchQuery = 256;  // bytes; longer queries are kInvalid
inline constexpr std::size_t kMaxSearchWords = 12;
std::vector<std::string_view> search_words(std::string_view query);

// Scopes are stored space-separated: join refuses empty scopes and whitespace (kInvalid).
Result<std::string> join_scopes(const std::vector<std::string>& scopes);
std::vector<std::string> split_scopes(std::string_view joined);

}  // namespace flashwire::store::site_validation
