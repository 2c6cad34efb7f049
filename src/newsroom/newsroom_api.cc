#include "newsroom/newsroom_api.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <string_view>
#include <variant>
#include <vector>

#include "newsroom/alert_analytics.h"
#include "newsroom/alert_schedule.h"
#include "newsroom/api_tokens.h"
#include "newsroom/newsroom_call.h"
#include "store/error_kind.h"

namespace flashwire::newsroom {
namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using http::Status;

constexpr std::string_view kPrefix = "/api/newsroom/";
constexpr std::size_t kMaxJsonBytes = 64 * 1024;
constexpr std::size_t kMaxBodyMarkdownBytes = 100 * 1000;
constexpr std::size_t kMaxListed = 50;
constexpr std::int64_t kMaxTtlSeconds = 2'419'200;      // 28 days, what push services keep at most
constexpr std::size_t kMaxLiveUpdateBytes = 20 * 1000;  // a live update is a few paragraphs
constexpr std::size_t kMaxListedLiveUpdates = 100;

http::Response error(Status status, std::string_view code, std::string_view message) {
  return http::json_error(status, code, message);
}
http::Response invalid(std::string_view message) {
  return error(Status::bad_request, "invalid_field", message);
}
// A failed store call as an answer (http::error_answer: the one mapping).
http::Response store_failure(const store::Error& e) {
  return http::error_answer(store::error_kind(e.code), e.message);
}
http::Response json_ok(Status status, const json::value& value) {
  return http::json_response(status, json::serialize(value));
}

std::size_t utf8_length(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}
bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
}

// kQueued is "composed, not yet confirmed" until the fan-out engine exists (see newsroom_api.h).
std::string_view status_name(store::AlertStatus status) {
  switch (status) {
    case store::AlertStatus::kQueued:
      return "draft";
    case store::AlertStatus::kSending:
      return "sending";
    case store::AlertStatus::kSent:
      return "sent";
    case store::AlertStatus::kCancelled:
      return "cancelled";
    case store::AlertStatus::kFailed:
      return "failed";
  }
  return "failed";
}
std::int64_t default_ttl(store::Category category) {
  switch (category) {
    case store::Category::kLive:
      return 900;  // a live update is stale within minutes
    case store::Category::kExclusive:
      return 86'400;
    case store::Category::kBreaking:
      break;
  }
  return 3600;
}

bool is_base64url(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}
// Positive decimal id, or 0.
std::int64_t parse_id(std::string_view text) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != text.npos)
    return 0;
  std::int64_t id = 0;
  for (const char c : text) id = id * 10 + (c - '0');
  return id;
}

std::vector<std::string_view> split_path(std::string_view rest) {
  std::vector<std::string_view> parts;
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == rest.npos) break;
    rest.remove_prefix(slash + 1);
  }
  return parts;
}

json::array renditions_json(const std::vector<news::ImageRendition>& renditions) {
  json::array out;
  for (const news::ImageRendition& r : renditions) {
    out.push_back(json::object{{"url", r.url}, {"width", r.width}});
  }
  return out;
}

json::object article_json(const store::Article& a) {
  return json::object{{"id", a.id},
                      {"slug", a.slug},
                      {"url", news::reader_path(a)},
                      {"headline", a.headline},
                      {"standfirst", a.standfirst},
                      {"byline", a.byline},
                      {"dateline", a.dateline},
                      {"category", store::category_name(a.category)},
                      {"image_url", a.image_url},
                      {"image_alt", a.image_alt},
                      {"image_renditions", renditions_json(a.image_renditions)},
                      {"video_url", a.video_url},
                      {"body_markdown", a.body_markdown},
                      {"published", a.published},
                      {"published_at", a.published_at},
                      {"updated_at", a.updated_at},
                      {"created_by", a.created_by}};
}

// What the fan-out reports: counts so far, state, and the first problem seen (e.g. a push
// service rejecting our VAPID key). Counts of a running fan-out include its messages in flight.
json::object delivery_json(const news::Delivery& d) {
  json::object failed_by_reason;
  for (const auto& [reason, count] : d.counts.failed_by_reason) failed_by_reason[reason] = count;
  json::array latency;
  for (std::size_t i = 0; i < d.counts.accept_latency.size(); ++i) {
    latency.push_back(json::object{{"le_ms", i < news::kAcceptLatencyBoundsMs.size()
                                                 ? json::value(news::kAcceptLatencyBoundsMs[i])
                                                 : json::value(nullptr)},
                                   {"count", d.counts.accept_latency[i]}});
  }
  const std::uint64_t done = d.counts.sent + d.counts.gone + d.counts.failed;
  // Several nodes sharing the alert (PostgreSQL): what each has sent; [] with one node.
  json::array nodes;
  for (const news::NodeProgress& n : d.nodes) {
    nodes.push_back(json::object{{"node", n.node},
                                 {"shards_done", n.shards_done},
                                 {"subscriptions_done", n.subscriptions_done},
                                 {"shards_held", n.shards_held}});
  }
  return json::object{
      {"state", news::delivery_state_name(d.state)},
      {"audience", d.audience},
      {"targeted", d.targeted},
      {"sent", d.counts.sent},
      {"gone", d.counts.gone},
      {"failed", d.counts.failed},
      {"failed_by_reason", std::move(failed_by_reason)},
      {"retried", d.counts.retried},
      {"pending", d.targeted > done ? d.targeted - done : 0},
      {"started_at_ms", d.started_at_ms},
      {"finished_at_ms",
       d.finished_at_ms == 0 ? json::value(nullptr) : json::value(d.finished_at_ms)},
      {"time_to_last_accept_ms", d.counts.last_accept_ms == 0
                                     ? json::value(nullptr)
                                     : json::value(d.counts.last_accept_ms - d.started_at_ms)},
      {"accept_latency", std::move(latency)},
      {"shards_done", d.shards_done},
      {"shards_open", d.shards_open},
      {"nodes", std::move(nodes)},
      {"error", d.error.empty() ? json::value(nullptr) : json::value(d.error)}};
}

}  // namespace

json::object alert_json(const store::Alert& a, const store::AlertEngagement& e,
                        const std::optional<news::Delivery>& delivery) {
  json::object out{
      {"id", a.id},
      {"article_id", a.article_id == 0 ? json::value(nullptr) : json::value(a.article_id)},
      {"category", store::category_name(a.category)},
      {"title", a.title},
      {"body", a.body},
      {"url", a.url},
      {"urgency", a.urgency},
      {"ttl_seconds", a.ttl_seconds},
      {"topic", a.topic},
      {"status", a.status == store::AlertStatus::kQueued && a.scheduled ? "scheduled"
                                                                        : status_name(a.status)},
      {"created_by", a.created_by},
      {"created_at", a.created_at},
      {"send_at", a.send_at == 0 ? json::value(nullptr) : json::value(format_rfc3339(a.send_at))},
      {"engagement", json::object{{"received", e.received},
                                  {"displayed", e.displayed},
                                  {"clicked", e.clicked},
                                  {"dismissed", e.dismissed}}}};
  out["delivery"] = delivery ? json::value(delivery_json(*delivery)) : json::value(nullptr);
  return out;
}

namespace {

// Reads an optional string field: nullopt when absent or null; an error message when present
// but not a string.
struct Field {
  std::optional<std::string> value;
  std::optional<std::string> problem;
};
Field string_field(const json::object& body, std::string_view key) {
  const json::value* value = body.if_contains(key);
  if (value == nullptr || value->is_null()) return {};
  if (!value->is_string()) return {std::nullopt, std::string(key) + ": must be a string"};
  return {std::string(value->as_string()), std::nullopt};
}

// "image_renditions": [{"url": …, "width": …}, …] into a.image_renditions (absent or null:
// none), or the first problem with it. Each url an https:// URL or a path on this site
// (news::is_image_url), each width a whole number of pixels, 1..10000, each width once, at most
// 8, only with image_url.
std::optional<std::string> parse_renditions(const json::object& body, store::Article& a) {
  const json::value* value = body.if_contains("image_renditions");
  if (value == nullptr || value->is_null()) return std::nullopt;
  if (!value->is_array()) return std::string("image_renditions: must be an array");
  const json::array& list = value->as_array();
  if (list.empty()) return std::nullopt;
  if (a.image_url.empty()) return std::string("image_renditions: only with image_url");
  if (list.size() > news::kMaxImageRenditions) return std::string("image_renditions: at most 8");
  for (const json::value& item : list) {
    const json::object* r = item.if_object();
    if (r == nullptr) return std::string("image_renditions: each must be {\"url\", \"width\"}");
    const json::value* url = r->if_contains("url");
    if (url == nullptr || !url->is_string() || !news::is_image_url(url->as_string()))
      return std::string(
          "image_renditions: url must be an https:// URL or a path on this site, without "
          "spaces, quotes or commas");
    const json::value* width = r->if_contains("width");
    if (width == nullptr || !width->is_int64() || width->as_int64() < 1 ||
        width->as_int64() > news::kMaxImageWidth)
      return std::string("image_renditions: width must be a whole number of pixels, 1 to 10000");
    const int w = static_cast<int>(width->as_int64());
    for (const news::ImageRendition& seen : a.image_renditions) {
      if (seen.width == w) return std::string("image_renditions: each width once");
    }
    a.image_renditions.push_back({std::string(url->as_string()), w});
  }
  return std::nullopt;
}

// The article a create or full update describes, or the first problem with it.
std::variant<store::Article, std::string> parse_article(const json::object& body) {
  store::Article a;
  struct Text {
    std::string_view key;
    std::string* target;
    bool required;
    std::size_t max_chars;
  };
  const std::array<Text, 9> texts{{{"slug", &a.slug, true, 120},
                                   {"headline", &a.headline, true, 200},
                                   {"standfirst", &a.standfirst, false, 600},
                                   {"byline", &a.byline, false, 120},
                                   {"dateline", &a.dateline, false, 80},
                                   {"image_url", &a.image_url, false, 2048},
                                   {"image_alt", &a.image_alt, false, 300},
                                   {"video_url", &a.video_url, false, 2048},
                                   {"body_markdown", &a.body_markdown, true, 0}}};
  for (const Text& text : texts) {
    Field field = string_field(body, text.key);
    if (field.problem) return *field.problem;
    if (!field.value || field.value->empty()) {
      if (text.required) return std::string(text.key) + ": required";
      continue;
    }
    if (text.max_chars != 0 && utf8_length(*field.value) > text.max_chars)
      return std::string(text.key) + ": at most " + std::to_string(text.max_chars) + " characters";
    *text.target = std::move(*field.value);
  }
  if (!news::is_slug(a.slug)) return std::string("slug: use 1 to 120 of a-z, 0-9 and -");
  if (has_control(a.headline)) return std::string("headline: no control characters");
  if (a.body_markdown.size() > kMaxBodyMarkdownBytes)
    return std::string("body_markdown: at most 100 KB");
  const Field category = string_field(body, "category");
  const auto parsed = category.value ? store::parse_category(*category.value) : std::nullopt;
  if (!parsed) return std::string("category: one of breaking, live, exclusive");
  a.category = *parsed;
  if (!a.image_url.empty() && !a.image_url.starts_with("https://") &&
      !news::is_site_path(a.image_url))
    return std::string("image_url: must be an https:// URL or a path on this site");
  if (!a.image_url.empty() &&
      (has_control(a.image_url) || a.image_url.find(' ') != std::string::npos))
    return std::string("image_url: no spaces or control characters");
  if (!a.image_url.empty() && a.image_alt.empty())
    return std::string("image_alt: required with image_url (describe the picture)");
  if (a.image_url.empty() && !a.image_alt.empty())
    return std::string("image_alt: only with image_url");
  if (auto problem = parse_renditions(body, a)) return *std::move(problem);
  if (!a.video_url.empty() && !news::is_video_url(a.video_url))
    return std::string(
        "video_url: an https:// URL or a path on this site ending in .mp4, .webm or .m3u8");
  if (const json::value* publish = body.if_contains("publish");
      publish != nullptr && !publish->is_null() && !publish->is_bool())
    return std::string("publish: must be true or false");
  return a;
}

// An alert as an editor composes it (POST /api/newsroom/alerts): each field checked for its type
// and its own rule. What is left unset is filled in when the alert is made: title, body and url
// from the article (and required without one), the category from the article, the TTL from the
// category, the topic per live event.
struct ComposeRequest {
  std::int64_t article_id = 0;  // 0: none
  std::optional<news::Category> category;
  std::optional<std::string> title;
  std::optional<std::string> body;
  std::optional<std::string> url;
  std::string urgency = "high";  // RFC 8030
  std::optional<std::int64_t> ttl_seconds;
  std::optional<std::string> topic;
  std::optional<std::string> send_at;  // RFC 3339, checked against the clock when composing
  bool force = false;                  // override the guardrails that allow it
};

// {"force": true} overrides the guardrails that allow it; anything but a boolean is refused.
std::optional<std::string> read_force(const json::object& body, bool& force) {
  const json::value* value = body.if_contains("force");
  if (value == nullptr || value->is_null()) return std::nullopt;
  if (!value->is_bool()) return std::string("force: must be true or false");
  force = value->as_bool();
  return std::nullopt;
}

// The request in `body`, or the first problem with it, naming the field ("urgency: one of …").
std::variant<ComposeRequest, std::string> parse_compose_request(const json::object& body) {
  ComposeRequest request;
  if (const json::value* id = body.if_contains("article_id"); id != nullptr && !id->is_null()) {
    if (!id->is_int64() || id->as_int64() <= 0)
      return std::string("article_id: must be an article id");
    request.article_id = id->as_int64();
  }
  const Field category = string_field(body, "category");
  if (category.problem) return *category.problem;
  if (category.value) {
    request.category = news::parse_category(*category.value);
    if (!request.category) return std::string("category: one of breaking, live, exclusive");
  }
  for (auto [key, target] : {std::pair{"title", &request.title}, std::pair{"body", &request.body},
                             std::pair{"url", &request.url}}) {
    Field field = string_field(body, key);
    if (field.problem) return *field.problem;
    *target = std::move(field.value);
  }
  const Field urgency = string_field(body, "urgency");
  if (urgency.problem) return *urgency.problem;
  request.urgency = urgency.value.value_or("high");
  if (!news::is_urgency(request.urgency))
    return std::string("urgency: one of very-low, low, normal, high");
  if (const json::value* ttl = body.if_contains("ttl_seconds"); ttl != nullptr && !ttl->is_null()) {
    if (!ttl->is_int64() || ttl->as_int64() < 0 || ttl->as_int64() > kMaxTtlSeconds)
      return std::string("ttl_seconds: a whole number from 0 to 2419200 (28 days)");
    request.ttl_seconds = ttl->as_int64();
  }
  const Field topic = string_field(body, "topic");
  if (topic.problem) return *topic.problem;
  if (topic.value) {
    if (topic.value->empty() || topic.value->size() > 32 || !is_base64url(*topic.value))
      return std::string("topic: 1 to 32 characters of A-Z, a-z, 0-9, - and _");
    request.topic = *topic.value;
  }
  Field send_at = string_field(body, "send_at");
  if (send_at.problem) return *send_at.problem;
  request.send_at = std::move(send_at.value);
  if (auto problem = read_force(body, request.force)) return *problem;
  return request;
}

bool wants_publish(const json::object& body) {
  const json::value* publish = body.if_contains("publish");
  return publish != nullptr && publish->is_bool() && publish->as_bool();
}

}  // namespace

// A route: a pattern of path segments after /api/newsroom/ ("{id}": a positive decimal id;
// "{slug}": a slug), the scope a token needs, and its methods, in the order Allow lists them.
struct NewsroomApi::Route {
  // One method: what answers it, and whether a JSON object body is required (writes that need
  // no body, like publish and cancel, still refuse one that is not JSON).
  struct Method {
    bhttp::verb verb = bhttp::verb::get;
    Action action = nullptr;
    bool needs_body = false;
  };
  std::string_view pattern;
  std::string_view scope;
  std::array<Method, 3> methods;  // unused entries have no action

  std::string allow() const {
    std::string out;
    for (const Method& method : methods) {
      if (method.action == nullptr) continue;
      if (!out.empty()) out += ", ";
      out += bhttp::to_string(method.verb);
    }
    return out;
  }
  const Method* find(bhttp::verb verb) const {
    for (const Method& method : methods)
      if (method.action != nullptr && method.verb == verb) return &method;
    return nullptr;
  }
  // Whether `parts` fits the pattern; fills the call's id or slug when it does.
  bool matches(const std::vector<std::string_view>& parts, Call& call) const {
    std::size_t i = 0;
    for (std::string_view rest = pattern; !rest.empty(); ++i) {
      const std::size_t slash = rest.find('/');
      const std::string_view segment = rest.substr(0, slash);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      if (i >= parts.size()) return false;
      if (segment == "{id}") {
        call.id = parse_id(parts[i]);
        if (call.id <= 0) return false;
      } else if (segment == "{slug}") {
        if (!news::is_slug(parts[i])) return false;
        call.slug = parts[i];
      } else if (segment != parts[i]) {
        return false;
      }
    }
    return i == parts.size();
  }
};

std::span<const NewsroomApi::Route> NewsroomApi::routes() {
  using V = bhttp::verb;
  using A = NewsroomApi;
  static const std::array<Route, 17> kRoutes{{
      {"articles",
       kScopeArticlesWrite,
       {{{V::get, &A::list_articles}, {V::post, &A::create_article, true}}}},
      {"articles/{id}",
       kScopeArticlesWrite,
       {{{V::get, &A::get_article}, {V::put, &A::update_article, true}}}},
      {"articles/{id}/publish", kScopeArticlesWrite, {{{V::post, &A::publish_article}}}},
      {"audience", kScopeAlertsSend, {{{V::get, &A::audience}}}},
      {"alerts",
       kScopeAlertsSend,
       {{{V::get, &A::list_alerts}, {V::post, &A::compose_alert, true}}}},
      {"alerts/{id}", kScopeAlertsSend, {{{V::get, &A::get_alert}}}},
      {"alerts/{id}/send", kScopeAlertsSend, {{{V::post, &A::send_alert, true}}}},
      {"alerts/{id}/cancel", kScopeAlertsSend, {{{V::post, &A::cancel_alert}}}},
      {"audit", kScopeTokensAdmin, {{{V::get, &A::audit}}}},
      {"alerts/{id}/analytics.csv", kScopeAlertsSend, {{{V::get, &A::get_alert_csv}}}},
      {"optin", kScopeAlertsSend, {{{V::get, &A::get_optin}}}},
      {"live/{slug}/updates",
       kScopeArticlesWrite,
       {{{V::get, &A::list_live_updates}, {V::post, &A::post_live_update, true}}}},
      {"live/{slug}/updates/{id}",
       kScopeArticlesWrite,
       {{{V::put, &A::edit_live_update, true}, {V::delete_, &A::delete_live_update}}}},
      {"live/{slug}/updates/{id}/pin",
       kScopeArticlesWrite,
       {{{V::post, &A::pin_live_update}, {V::delete_, &A::unpin_live_update}}}},
      {"preview", kScopeArticlesWrite, {{{V::post, &A::preview_markdown, true}}}},
      {"alerts/{id}/test", kScopeAlertsSend, {{{V::post, &A::test_alert}}}},
      {"me/subscription",
       kScopeAlertsSend,
       {{{V::get, &A::get_my_subscription},
         {V::put, &A::put_my_subscription, true},
         {V::delete_, &A::delete_my_subscription}}}},
  }};
  return kRoutes;
}

NewsroomApi::NewsroomApi(store::SiteStore& store, const Clock& clock, news::AlertQueue& queue,
                         news::ContentEvents& events, NewsroomApiOptions options)
    : store_(store),
      clock_(clock),
      queue_(queue),
      events_(events),
      options_(std::move(options)),
      failed_auth_(clock, options_.failed_auth_per_minute, options_.failed_auth_burst),
      failed_auth_audit_(clock, options_.failed_auth_audited_per_minute,
                         options_.failed_auth_audited_per_minute),
      test_sends_(clock, options_.test_sends_per_minute, options_.test_sends_per_minute) {}

http::Response NewsroomApi::handle(const http::Request& request,
                                   const http::RequestContext& context) {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  http::Response response =
      path.starts_with(kPrefix) || path == kPrefix.substr(0, kPrefix.size() - 1)
          ? answer(request, path, context.remote_address)
          : error(Status::not_found, "not_found", "no such newsroom API");
  // Drafts and audience figures must not linger in shared caches.
  response.set(bhttp::field::cache_control, "no-store");
  return response;
}

http::Response NewsroomApi::answer(const http::Request& request, std::string_view path,
                                   const std::string& client_address) {
  // A correct token is always served: the lock-out below only stops an address from guessing,
  // so strangers sending bad tokens (possibly through the same proxy) cannot lock editors out.
  // Guessing a 256-bit secret is hopeless anyway; the limit keeps scanners cheap to answer.
  const std::string_view authorization = request[bhttp::field::authorization];
  constexpr std::string_view kBearer = "Bearer ";
  const bool bearer = authorization.size() > kBearer.size() &&
                      std::equal(kBearer.begin(), kBearer.end(), authorization.begin(),
                                 [](char a, char b) { return std::tolower(a) == std::tolower(b); });
  const std::string_view secret = bearer ? authorization.substr(kBearer.size()) : "";
  std::optional<store::ApiToken> token;
  if (looks_like_token(secret)) {
    auto found = store_.find_token_by_hash(hash_token_secret(secret));
    if (!found) return store_failure(found.error());
    token = std::move(*found);
  }
  if (token && !token->revoked) {
    Call call{request,
              split_path(path.substr(std::min(path.size(), kPrefix.size()))),
              std::move(*token),
              {},
              0,
              {}};
    return route(call);
  }

  std::string_view code = "invalid_token";
  std::string_view message = "this token is unknown or revoked";
  if (authorization.empty()) {
    code = "missing_token";
    message = "send an editor token: Authorization: Bearer fw_…";
  } else if (!looks_like_token(secret)) {
    message = "the Authorization header is not a Bearer fw_ token";
  }
  if (failed_auth_.retry_after(client_address) > 0 || !failed_auth_.allow(client_address)) {
    auto response = error(Status::too_many_requests, "rate_limited",
                          "too many failed authentications from this address; try again shortly");
    response.set(bhttp::field::retry_after, std::to_string(std::max<std::int64_t>(
                                                1, failed_auth_.retry_after(client_address))));
    return response;
  }
  // Audited within the per-address limit and a site-wide cap, so a flood of bad tokens from
  // many addresses cannot grow the audit log without bound.
  if (!authorization.empty() && failed_auth_audit_.allow("")) {
    store::AuditEntry entry;
    entry.at = clock_.now_seconds();
    entry.actor = token ? token->name : "-";
    entry.action = "auth.fail";
    entry.detail = std::string(token                      ? "revoked token"
                               : looks_like_token(secret) ? "unknown token"
                                                          : "malformed Authorization") +
                   " from " + client_address;
    (void)store_.append_audit(entry);
  }
  auto response = error(Status::unauthorized, code, message);
  response.set(bhttp::field::www_authenticate, "Bearer");
  return response;
}

http::Response NewsroomApi::route(Call& call) {
  const Route* route = nullptr;
  for (const Route& candidate : routes()) {
    if (candidate.matches(call.parts, call)) {
      route = &candidate;
      break;
    }
  }
  if (route == nullptr) return error(Status::not_found, "not_found", "no such newsroom API");

  const bhttp::verb method = call.request.method();
  const Route::Method* chosen = route->find(method);
  if (chosen == nullptr) {
    const std::string allow = route->allow();
    auto response = error(Status::method_not_allowed, "method_not_allowed", "use " + allow);
    response.set(bhttp::field::allow, allow);
    return response;
  }
  if (std::find(call.token.scopes.begin(), call.token.scopes.end(), route->scope) ==
      call.token.scopes.end()) {
    return error(Status::forbidden, "insufficient_scope",
                 "this token lacks the scope " + std::string(route->scope));
  }

  if (method == bhttp::verb::post || method == bhttp::verb::put) {
    const std::string& text = call.request.body();
    const std::string_view type = call.request[bhttp::field::content_type];
    // Publish and cancel need no body; anything that is sent must be JSON.
    if (!text.empty() && type.substr(0, type.find(';')) != "application/json") {
      return error(Status::unsupported_media_type, "unsupported_media_type",
                   "send JSON with Content-Type: application/json");
    }
    if (text.size() > kMaxJsonBytes) {
      return error(Status::payload_too_large, "payload_too_large",
                   "the JSON body is larger than 64 KiB");
    }
    if (!text.empty()) {
      boost::system::error_code ec;
      json::value parsed = json::parse(text, ec);
      if (ec || !parsed.is_object())
        return error(Status::bad_request, "invalid_json", "the body is not a JSON object");
      call.body = std::move(parsed.as_object());
    } else if (chosen->needs_body) {
      return error(Status::bad_request, "invalid_json", "send a JSON object");
    }
  }
  return (this->*(chosen->action))(call);
}

void NewsroomApi::record(const Call& call, std::string action, std::string detail) {
  store::AuditEntry entry;
  entry.at = clock_.now_seconds();
  entry.actor = call.token.name;
  entry.action = std::move(action);
  entry.detail = std::move(detail);
  // The change itself is already stored; a failed audit write must not turn it into an error
  // the editor would retry.
  (void)store_.append_audit(entry);
}

http::Response NewsroomApi::list_articles(Call& call) {
  // ?status=draft: every draft of the desk, most recently updated first; else published ones.
  const std::string_view target = call.request.target();
  const std::size_t mark = target.find('?');
  const std::string_view query = mark == target.npos ? "" : target.substr(mark + 1);
  if (query == "status=draft") {
    auto drafts = store_.draft_articles(kMaxListed);
    if (!drafts) return store_failure(drafts.error());
    json::array list;
    for (const auto& article : *drafts) list.push_back(article_json(article));
    return json_ok(Status::ok, json::object{{"articles", std::move(list)},
                                            {"note", "drafts only, most recently updated first"}});
  }
  if (!query.empty() && query != "status=published")
    return invalid("status: published (the default) or draft");
  auto articles = store_.latest_articles(0, kMaxListed);
  if (!articles) return store_failure(articles.error());
  json::array list;
  for (const auto& article : *articles) list.push_back(article_json(article));
  return json_ok(Status::ok, json::object{{"articles", std::move(list)},
                                          {"note",
                                           "published articles only, newest first; "
                                           "GET /api/newsroom/articles/{id} reads drafts too"}});
}

http::Response NewsroomApi::get_article(Call& call) {
  const std::int64_t id = call.id;
  auto article = store_.find_article(id);
  if (!article) return store_failure(article.error());
  if (!article->has_value()) return error(Status::not_found, "not_found", "no such article");
  return json_ok(Status::ok, article_json(**article));
}

http::Response NewsroomApi::create_article(Call& call) {
  auto parsed = parse_article(call.body);
  if (auto* problem = std::get_if<std::string>(&parsed)) return invalid(*problem);
  store::Article article = std::get<store::Article>(std::move(parsed));
  const std::int64_t now = clock_.now_seconds();
  article.updated_at = now;
  article.created_by = call.token.name;
  if (wants_publish(call.body)) {
    article.published = true;
    article.published_at = now;
  }
  auto id = store_.create_article(article);
  if (!id && id.error().code == store::ErrorCode::kConflict)
    return error(Status::conflict, "slug_taken", "slug: another article uses " + article.slug);
  if (!id) return store_failure(id.error());
  article.id = *id;
  record(call, "article.create", article.slug);
  if (article.published) record(call, "article.publish", article.slug);
  events_.article_changed(article);
  return json_ok(
      Status::created,
      json::object{{"id", *id}, {"slug", article.slug}, {"url", news::reader_path(article)}});
}

http::Response NewsroomApi::update_article(Call& call) {
  const std::int64_t id = call.id;
  auto parsed = parse_article(call.body);
  if (auto* problem = std::get_if<std::string>(&parsed)) return invalid(*problem);
  store::Article article = std::get<store::Article>(std::move(parsed));
  auto existing = store_.find_article(id);
  if (!existing) return store_failure(existing.error());
  if (!existing->has_value()) return error(Status::not_found, "not_found", "no such article");
  const std::int64_t now = clock_.now_seconds();
  article.id = id;
  article.updated_at = now;
  // A full update keeps the publication state; "publish": true publishes a draft.
  article.published = (*existing)->published;
  article.published_at = (*existing)->published_at;
  article.created_by = (*existing)->created_by;
  // An update that does not mention renditions (the editors' form does not) keeps those of the
  // same image; a new image_url drops them, as they were sizes of the old one.
  if (call.body.if_contains("image_renditions") == nullptr &&
      article.image_url == (*existing)->image_url) {
    article.image_renditions = (*existing)->image_renditions;
  }
  const bool publishing = !article.published && wants_publish(call.body);
  if (publishing) {
    article.published = true;
    article.published_at = now;
  }
  auto updated = store_.update_article(article);
  if (!updated && updated.error().code == store::ErrorCode::kConflict)
    return error(Status::conflict, "slug_taken", "slug: another article uses " + article.slug);
  if (!updated && updated.error().code == store::ErrorCode::kNotFound)
    return error(Status::not_found, "not_found", "no such article");
  if (!updated) return store_failure(updated.error());
  record(call, "article.update", article.slug);
  if (publishing) record(call, "article.publish", article.slug);
  events_.article_changed(article);
  return json_ok(Status::ok, article_json(article));
}

http::Response NewsroomApi::publish_article(Call& call) {
  const std::int64_t id = call.id;
  auto existing = store_.find_article(id);
  if (!existing) return store_failure(existing.error());
  if (!existing->has_value()) return error(Status::not_found, "not_found", "no such article");
  store::Article article = std::move(**existing);
  if (!article.published) {
    const std::int64_t now = clock_.now_seconds();
    article.published = true;
    article.published_at = now;
    article.updated_at = now;
    if (auto updated = store_.update_article(article); !updated) {
      return store_failure(updated.error());
    }
    record(call, "article.publish", article.slug);
    events_.article_changed(article);
  }
  return json_ok(Status::ok, article_json(article));
}

http::Response NewsroomApi::audience(Call&) {
  json::object counts;
  for (const auto category :
       {store::Category::kBreaking, store::Category::kLive, store::Category::kExclusive}) {
    auto count = store_.count_subscriptions(static_cast<store::CategorySet>(category));
    if (!count) return store_failure(count.error());
    counts[store::category_name(category)] = *count;
  }
  return json_ok(Status::ok, counts);
}

http::Response NewsroomApi::list_alerts(Call&) {
  auto alerts = store_.recent_alerts(kMaxListed);
  if (!alerts) return store_failure(alerts.error());
  json::array list;
  for (const auto& alert : *alerts) {
    auto engagement = store_.alert_engagement(alert.id);
    if (!engagement) return store_failure(engagement.error());
    list.push_back(alert_json(alert, *engagement, queue_.delivery(alert.id)));
  }
  return json_ok(Status::ok, json::object{{"alerts", std::move(list)}});
}

http::Response NewsroomApi::get_alert(Call& call) { return alert_view(call.id); }
http::Response NewsroomApi::get_alert_csv(Call& call) { return alert_csv(call.id); }
http::Response NewsroomApi::get_optin(Call& call) { return optin(call.request.target()); }

http::Response NewsroomApi::compose_alert(Call& call) {
  auto parsed = parse_compose_request(call.body);
  if (auto* problem = std::get_if<std::string>(&parsed)) return invalid(*problem);
  const ComposeRequest& request = std::get<ComposeRequest>(parsed);

  store::Alert alert;
  std::optional<store::Article> article;
  if (request.article_id != 0) {
    auto found = store_.find_article(request.article_id);
    if (!found) return store_failure(found.error());
    if (!found->has_value()) return invalid("article_id: no such article");
    article = std::move(**found);
    alert.article_id = article->id;
  }
  if (request.category) {
    alert.category = *request.category;
  } else if (article) {
    alert.category = article->category;
  } else {
    return invalid("category: required (breaking, live or exclusive)");
  }

  // Title, body and URL default to the article's headline, standfirst and page.
  alert.title = request.title ? *request.title : article ? article->headline : "";
  alert.body = request.body ? *request.body : article ? article->standfirst : "";
  alert.url = request.url ? *request.url : article ? news::reader_path(*article) : "";
  if (alert.title.empty() || utf8_length(alert.title) > 120)
    return invalid("title: 1 to 120 characters");
  if (utf8_length(alert.body) > 240) return invalid("body: at most 240 characters");
  if (alert.url.empty()) return invalid("url: required without article_id");
  // An absolute URL must be exactly this site's origin: notifications never lead elsewhere.
  if (!news::is_url_on_site(alert.url, options_.origin))
    return invalid("url: must be a path on this site or a URL on " + options_.origin);

  alert.urgency = request.urgency;
  alert.ttl_seconds = request.ttl_seconds.value_or(default_ttl(alert.category));
  if (request.topic) {
    alert.topic = *request.topic;
  } else if (alert.category == store::Category::kLive && article) {
    // One topic per live event: a newer update replaces an undelivered older one.
    alert.topic = "live-" + std::to_string(article->id);
  }

  const std::int64_t now = clock_.now_seconds();
  if (request.send_at) {
    const auto at = parse_rfc3339(*request.send_at);
    if (!at) return invalid("send_at: an RFC 3339 time, e.g. 2026-12-06T18:30:00Z");
    if (*at <= now) return invalid("send_at: must be in the future");
    if (*at > now + kMaxScheduleAheadSeconds) return invalid("send_at: at most 30 days ahead");
    alert.send_at = *at;
  }
  Guard guard{request.force, {}};
  if (auto refused = check_link(alert, guard)) return std::move(*refused);
  alert.status = store::AlertStatus::kQueued;  // composed, not confirmed: nobody is told yet
  alert.created_by = call.token.name;
  alert.created_at = now;
  auto audience = store_.count_subscriptions(static_cast<store::CategorySet>(alert.category));
  if (!audience) return store_failure(audience.error());
  // The duplicate check and the insert in one store transaction (guarded_write).
  auto created = guarded_write(store::GuardedWrite::kCreate, alert,
                               alert.send_at != 0 ? alert.send_at : now, false, guard);
  if (auto* answer = std::get_if<http::Response>(&created)) {
    if (answer->result() == Status::not_found) return invalid("article_id: no such article");
    return std::move(*answer);
  }
  const std::int64_t id = std::get<store::GuardedWriteResult>(created).id;
  record(call, "alert.compose",
         std::string(store::category_name(alert.category)) + ", #" + std::to_string(id));
  record_overrides(call, id, guard);
  const std::string confirm = "/api/newsroom/alerts/" + std::to_string(id) + "/send";
  return json_ok(
      Status::created,
      json::object{{"id", id},
                   {"audience", *audience},
                   {"confirm", confirm},
                   {"send_at", alert.send_at == 0 ? json::value(nullptr)
                                                  : json::value(format_rfc3339(alert.send_at))}});
}

http::Response NewsroomApi::send_alert(Call& call) {
  const std::int64_t id = call.id;
  const json::value* confirm = call.body.if_contains("confirm");
  if (confirm == nullptr || !confirm->is_bool() || !confirm->as_bool()) {
    return error(Status::bad_request, "confirm_required",
                 "confirm: send {\"confirm\": true} to notify the audience");
  }
  Guard guard;
  if (auto problem = read_force(call.body, guard.force)) return invalid(*problem);
  auto alert = store_.find_alert(id);
  if (!alert) return store_failure(alert.error());
  if (!alert->has_value()) return error(Status::not_found, "not_found", "no such alert");
  if ((*alert)->status != store::AlertStatus::kQueued) {
    return error(Status::conflict, "already_" + std::string(status_name((*alert)->status)),
                 "this alert is already " + std::string(status_name((*alert)->status)));
  }
  if ((*alert)->scheduled) {
    return error(Status::conflict, "already_scheduled",
                 "this alert is scheduled for " + format_rfc3339((*alert)->send_at) +
                     "; cancel it to send it otherwise");
  }
  auto audience = store_.count_subscriptions(static_cast<store::CategorySet>((*alert)->category));
  if (!audience) return store_failure(audience.error());
  if (auto refused = check_audience(*audience)) return std::move(*refused);
  const std::int64_t now = clock_.now_seconds();
  const bool later = (*alert)->send_at > now;
  const std::int64_t at = later ? (*alert)->send_at : now;
  // The duplicate and cap checks and the confirmation in one store transaction (guarded_write):
  // of two confirmations at once (two editors, two nodes) the second sees the first.
  auto confirmed =
      guarded_write(later ? store::GuardedWrite::kSchedule : store::GuardedWrite::kSend, **alert,
                    at, true, guard);
  if (auto* answer = std::get_if<http::Response>(&confirmed)) return std::move(*answer);
  const bool moved = std::get<store::GuardedWriteResult>(confirmed).written;
  if (later) {
    // Confirmed for later: the scheduler claims it when due (NewsroomApi::send_due_alerts).
    if (!moved) {
      return error(Status::conflict, "status_changed",
                   "the alert's status changed meanwhile; reload it and try again");
    }
    record(call, "alert.schedule",
           std::string(store::category_name((*alert)->category)) + ", #" + std::to_string(id) +
               " at " + format_rfc3339((*alert)->send_at));
    record_overrides(call, id, guard);
    return json_ok(Status::accepted,
                   json::object{{"id", id},
                                {"status", "scheduled"},
                                {"send_at", format_rfc3339((*alert)->send_at)},
                                {"audience", *audience},
                                {"progress", "/api/newsroom/alerts/" + std::to_string(id)}});
  }
  // Marked first, and only from "draft": of two confirmations racing, one wins and the other is
  // refused, so the fan-out gets the alert exactly once.
  if (!moved) {
    return error(Status::conflict, "already_sending", "this alert is no longer a draft");
  }
  queue_.enqueue(id);
  record(call, "alert.send",
         std::string(store::category_name((*alert)->category)) + ", audience " +
             std::to_string(*audience));
  record_overrides(call, id, guard);
  // 202: stored durably and handed to the fan-out; progress is at /api/newsroom/alerts/{id}.
  return json_ok(Status::accepted,
                 json::object{{"id", id},
                              {"status", "sending"},
                              {"audience", *audience},
                              {"progress", "/api/newsroom/alerts/" + std::to_string(id)}});
}

http::Response NewsroomApi::cancel_alert(Call& call) {
  const std::int64_t id = call.id;
  auto alert = store_.find_alert(id);
  if (!alert) return store_failure(alert.error());
  if (!alert->has_value()) return error(Status::not_found, "not_found", "no such alert");
  const store::AlertStatus from = (*alert)->status;
  if (from != store::AlertStatus::kQueued && from != store::AlertStatus::kSending) {
    return error(Status::conflict, "already_" + std::string(status_name(from)),
                 "only a draft or an alert being sent can be cancelled; this alert is " +
                     std::string(status_name(from)));
  }
  // Compare-and-set: if the fan-out finished in between, "sent" stands.
  auto moved = store_.transition_alert(id, from, store::AlertStatus::kCancelled);
  if (!moved) return store_failure(moved.error());
  if (!*moved) {
    return error(Status::conflict, "status_changed",
                 "the alert's status changed meanwhile; reload it and try again");
  }
  if (from == store::AlertStatus::kSending) queue_.cancel(id);
  // One action name for both, as documented; the detail says whether a fan-out was stopped.
  record(call, "alert.cancel",
         std::string(store::category_name((*alert)->category)) + ", #" + std::to_string(id) +
             (from == store::AlertStatus::kSending ? ", while sending" : ""));
  return json_ok(Status::ok, json::object{{"id", id}, {"status", "cancelled"}});
}

http::Response NewsroomApi::audit(Call& call) {
  // ?before=<id>: the next page, older than the entry with that id (the previous page's last).
  std::int64_t before = 0;
  const std::string_view target = call.request.target();
  if (const std::size_t question = target.find('?'); question != std::string_view::npos) {
    const std::string_view query = target.substr(question + 1);
    before = query.starts_with("before=") ? parse_id(query.substr(7)) : 0;
    if (before <= 0) return invalid("before: the only parameter, an audit entry id");
  }
  auto entries = store_.recent_audit(100, before);
  if (!entries) return store_failure(entries.error());
  json::array list;
  for (const auto& entry : *entries) {
    list.push_back(json::object{{"id", entry.id},
                                {"at", entry.at},
                                {"actor", entry.actor},
                                {"action", entry.action},
                                {"detail", entry.detail}});
  }
  return json_ok(Status::ok, json::object{{"entries", std::move(list)}});
}

// --- live events ---

namespace {

// Markdown text: any characters but the C0 controls other than tab and line breaks (which
// cannot show and could confuse whatever reads the text later).
bool is_markdown_text(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\n' && c != '\r' && c != '\t') || u == 0x7F;
  });
}

}  // namespace

http::Response NewsroomApi::list_live_updates(Call& call) {
  const std::string_view slug = call.slug;
  auto event = store_.find_article_by_slug(std::string(slug));
  if (!event) return store_failure(event.error());
  // Drafts included, as for articles: editors may prepare an event before it goes live.
  if (!event->has_value() || (*event)->category != store::Category::kLive)
    return error(Status::not_found, "not_found", "no live event with this slug");
  auto updates = store_.recent_live_updates((*event)->id, kMaxListedLiveUpdates);
  if (!updates) return store_failure(updates.error());
  json::array list;
  for (const auto& update : *updates) list.push_back(live_update_json(update));
  // The pinned update may be older than the ones listed.
  auto pinned = store_.pinned_live_update((*event)->id);
  if (!pinned) return store_failure(pinned.error());
  return json_ok(Status::ok,
                 json::object{{"id", (*event)->id},
                              {"slug", (*event)->slug},
                              {"headline", (*event)->headline},
                              {"url", news::reader_path(**event)},
                              {"published", (*event)->published},
                              {"pinned", *pinned ? json::value(live_update_json(**pinned))
                                                 : json::value(nullptr)},
                              {"updates", std::move(list)}});
}

http::Response NewsroomApi::post_live_update(Call& call) {
  const std::string_view slug = call.slug;
  const Field body = string_field(call.body, "body_markdown");
  if (body.problem) return invalid(*body.problem);
  const std::string text = body.value.value_or("");
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    return invalid("body_markdown: required");
  if (text.size() > kMaxLiveUpdateBytes)
    return invalid("body_markdown: at most " + std::to_string(kMaxLiveUpdateBytes / 1000) + " KB");
  if (!is_markdown_text(text))
    return invalid("body_markdown: no control characters other than tabs and line breaks");

  auto event = store_.find_article_by_slug(std::string(slug));
  if (!event) return store_failure(event.error());
  if (!event->has_value() || (*event)->category != store::Category::kLive)
    return error(Status::not_found, "not_found", "no live event with this slug");
  if (!(*event)->published) {
    return error(Status::conflict, "not_published",
                 "publish the live event before posting updates to it");
  }
  store::LiveUpdate update;
  update.article_id = (*event)->id;
  update.body_markdown = text;
  update.created_at = clock_.now_seconds();
  update.created_by = call.token.name;
  auto id = store_.add_live_update(update);
  // kNotFound: unpublished or moved out of "live" since it was read; both mean "not live now".
  if (!id && id.error().code == store::ErrorCode::kNotFound)
    return error(Status::not_found, "not_found", "no live event with this slug");
  if (!id) return store_failure(id.error());
  update.id = *id;
  record(call, "live.update", (*event)->slug + ", #" + std::to_string(*id));
  events_.live_update_posted(**event, update);
  return json_ok(Status::created, json::object{{"id", *id},
                                               {"url", news::reader_path(**event) + "#update-" +
                                                           std::to_string(*id)}});
}

}  // namespace flashwire::newsroom
