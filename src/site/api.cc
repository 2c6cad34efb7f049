#include "site/api.h"

#include <openssl/crypto.h>

#include <array>
#include <boost/json.hpp>
#include <optional>

#include "news/push_service.h"
#include "webpush/push_subscription.h"
#include "store/error_kind.h"
#include "webpush/base64url.h"

namespace flashwire::site {
namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using http::Status;

constexpr std::size_t kMaxJsonBytes = 8 * 1024;

http::Response error(Status status, std::string_view code, std::string_view message) {
  return http::json_error(status, code, message);
}

// Compares two auth secrets (base64url text) in time that depends on their length only, so a
// caller cannot learn a stored secret byte by byte from response times.
bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// A failed store call as an answer (http::error_answer: the one mapping).
http::Response store_failure(const store::Error& e) {
  return http::error_answer(store::error_kind(e.code), e.message);
}

const json::string* string_at(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? &value->as_string() : nullptr;
}

}  // namespace

SiteApi::SiteApi(store::SiteStore& store, const webpush::PushHostPolicy& hosts, const Clock& clock,
                 SiteApiOptions options)
    : store_(store),
      hosts_(hosts),
      clock_(clock),
      options_(std::move(options)),
      limiter_(clock, options_.requests_per_minute, options_.burst) {}

std::optional<http::Response> SiteApi::handle(const http::Request& request,
                                              const std::string& client_address) {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const auto method = request.method();
  if (path == "/api/vapid-public-key") {
    if (method != bhttp::verb::get)
      return error(Status::method_not_allowed, "method_not_allowed", "use GET");
    return http::json_response(
        Status::ok, json::serialize(json::object{{"publicKey", options_.vapid_public_key}}));
  }
  if (path == "/api/optin") {
    if (method != bhttp::verb::post) {
      auto response = error(Status::method_not_allowed, "method_not_allowed", "use POST");
      response.set(bhttp::field::allow, "POST");
      return response;
    }
    if (auto refused = check_write(request, client_address)) return refused;
    return record_optin(request);
  }
  if (path != "/api/subscriptions" && path != "/api/events") return std::nullopt;
  if (method != bhttp::verb::post &&
      !(path == "/api/subscriptions" && method == bhttp::verb::delete_)) {
    auto response = error(Status::method_not_allowed, "method_not_allowed",
                          path == "/api/events" ? "use POST" : "use POST or DELETE");
    response.set(bhttp::field::allow, path == "/api/events" ? "POST" : "POST, DELETE");
    return response;
  }
  if (auto refused = check_write(request, client_address)) return refused;
  if (path == "/api/events") return record_event(request);
  return method == bhttp::verb::post ? subscribe(request) : unsubscribe(request);
}

std::optional<http::Response> SiteApi::check_write(const http::Request& request,
                                                   const std::string& client_address) {
  // Only the site's own pages may write: browsers always send Origin on POST/DELETE fetches
  // (service workers' included), and Sec-Fetch-Site where they support it. A request without
  // Origin is refused too — it is no page of ours, and proving the origin is what makes a
  // forged cross-site write impossible.
  const std::string_view origin = request[bhttp::field::origin];
  if (origin != options_.origin) {
    return error(Status::forbidden, "cross_origin",
                 "requests must come from this site's own pages");
  }
  const std::string_view fetch_site = request["Sec-Fetch-Site"];
  if (!fetch_site.empty() && fetch_site != "same-origin" && fetch_site != "none") {
    return error(Status::forbidden, "cross_origin",
                 "requests must come from this site's own pages");
  }
  const std::string_view type = request[bhttp::field::content_type];
  if (type.substr(0, type.find(';')) != "application/json") {
    return error(Status::unsupported_media_type, "unsupported_media_type",
                 "send JSON with Content-Type: application/json");
  }
  if (request.body().size() > kMaxJsonBytes) {
    return error(Status::payload_too_large, "payload_too_large",
                 "the JSON body is larger than 8 KiB");
  }
  if (!limiter_.allow(client_address)) {
    auto response =
        error(Status::too_many_requests, "rate_limited", "too many requests; try again shortly");
    response.set(bhttp::field::retry_after,
                 std::to_string(std::max<std::int64_t>(1, limiter_.retry_after(client_address))));
    return response;
  }
  return std::nullopt;
}

http::Response SiteApi::subscribe(const http::Request& request) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(request.body(), ec);
  if (ec || !parsed.is_object())
    return error(Status::bad_request, "invalid_json", "the body is not a JSON object");
  const json::object& body = parsed.as_object();

  auto checked = webpush::check_push_subscription(body.if_contains("subscription"), hosts_);
  if (!checked) {
    // "subscription.endpoint: …", "subscription.keys: …"; "subscription: must be …"
    const std::string& why = checked.error().message;
    return error(Status::bad_request, "invalid_subscription",
                 (why.starts_with("must") ? "subscription: " : "subscription.") + why);
  }
  const webpush::CheckedSubscription& subscription = *checked;

  const json::value* categories = body.if_contains("categories");
  if (categories == nullptr || !categories->is_array() || categories->as_array().empty()) {
    return error(Status::bad_request, "invalid_categories",
                 "categories: choose at least one of breaking, live, exclusive");
  }
  store::CategorySet set = 0;
  for (const json::value& item : categories->as_array()) {
    const auto category = item.is_string() ? store::parse_category(item.as_string()) : std::nullopt;
    if (!category)
      return error(Status::bad_request, "invalid_categories",
                   "categories: only breaking, live and exclusive exist");
    set = static_cast<store::CategorySet>(set | static_cast<store::CategorySet>(*category));
  }

  // A browser that rotated its subscription (pushsubscriptionchange) may retire the old one,
  // proving it held it.
  std::optional<std::string> retire;
  if (const json::value* replaces = body.if_contains("replaces");
      replaces != nullptr && !replaces->is_null()) {
    const json::string* old_endpoint =
        replaces->is_object() ? string_at(replaces->as_object(), "endpoint") : nullptr;
    const json::string* old_auth =
        replaces->is_object() ? string_at(replaces->as_object(), "auth") : nullptr;
    if (old_endpoint == nullptr || old_auth == nullptr) {
      return error(Status::bad_request, "invalid_replaces",
                   "replaces: needs the old endpoint and auth");
    }
    auto old = store_.find_subscription(std::string(*old_endpoint));
    if (!old) return store_failure(old.error());
    auto old_auth_bytes = webpush::base64url_decode(*old_auth);
    if (old->has_value() && old_auth_bytes &&
        same_secret(webpush::base64url_encode(*old_auth_bytes), (*old)->auth) &&
        std::string_view(*old_endpoint) != subscription.endpoint) {
      retire = std::string(*old_endpoint);
    }
  }

  auto existing = store_.find_subscription(subscription.endpoint);
  if (!existing) return store_failure(existing.error());
  // Changing categories of an existing subscription requires its auth secret, like deleting.
  if (existing->has_value() && !same_secret((*existing)->auth, subscription.auth)) {
    return error(Status::forbidden, "not_owner", "this subscription belongs to another browser");
  }
  const std::int64_t now = clock_.now_seconds();
  store::Subscription record;
  record.endpoint = subscription.endpoint;
  record.p256dh = subscription.p256dh;
  record.auth = subscription.auth;
  record.categories = set;
  record.created_at = now;
  record.updated_at = now;
  auto id = store_.upsert_subscription(record);
  if (!id) return store_failure(id.error());
  if (retire) (void)store_.delete_subscription(*retire);

  json::array names;
  for (const auto category :
       {store::Category::kBreaking, store::Category::kLive, store::Category::kExclusive}) {
    if (set & static_cast<store::CategorySet>(category))
      names.emplace_back(store::category_name(category));
  }
  return http::json_response(
      existing->has_value() ? Status::ok : Status::created,
      json::serialize(json::object{{"id", *id}, {"categories", std::move(names)}}));
}

http::Response SiteApi::unsubscribe(const http::Request& request) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(request.body(), ec);
  if (ec || !parsed.is_object())
    return error(Status::bad_request, "invalid_json", "the body is not a JSON object");
  const json::string* endpoint = string_at(parsed.as_object(), "endpoint");
  const json::string* auth = string_at(parsed.as_object(), "auth");
  if (endpoint == nullptr || auth == nullptr) {
    return error(Status::bad_request, "invalid_request",
                 "send the subscription's endpoint and auth");
  }
  auto auth_bytes = webpush::base64url_decode(*auth);
  if (!auth_bytes || auth_bytes->size() != 16)
    return error(Status::bad_request, "invalid_request", "auth: must be 16 bytes, base64url");
  auto existing = store_.find_subscription(std::string(*endpoint));
  if (!existing) return store_failure(existing.error());
  if (!existing->has_value()) return error(Status::not_found, "not_found", "no such subscription");
  if (!same_secret((*existing)->auth, webpush::base64url_encode(*auth_bytes))) {
    return error(Status::forbidden, "not_owner", "auth does not match this subscription");
  }
  if (auto deleted = store_.delete_subscription(std::string(*endpoint)); !deleted)
    return store_failure(deleted.error());
  http::Response response(Status::no_content, request.version());
  return response;
}

http::Response SiteApi::record_event(const http::Request& request) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(request.body(), ec);
  if (ec || !parsed.is_object())
    return error(Status::bad_request, "invalid_json", "the body is not a JSON object");
  const json::object& body = parsed.as_object();
  const json::value* alert = body.if_contains("alert");
  const json::string* event = string_at(body, "event");
  std::int64_t alert_id = 0;
  if (alert != nullptr && alert->is_int64()) alert_id = alert->as_int64();
  if (alert != nullptr && alert->is_string()) {
    const std::string text(alert->as_string());
    alert_id = text.find_first_not_of("0123456789") == std::string::npos && !text.empty() &&
                       text.size() < 18
                   ? std::stoll(text)
                   : 0;
  }
  if (alert_id <= 0)
    return error(Status::bad_request, "invalid_event", "alert: must be an alert id");
  const auto kind = event == nullptr ? std::nullopt : store::parse_alert_event(*event);
  if (!kind)
    return error(Status::bad_request, "invalid_event",
                 "event: must be received, displayed, clicked or dismissed");
  // The subscription reporting, proven with its auth secret: only subscriptions an alert was
  // sent to count, each event once, so counts cannot be inflated from any number of addresses.
  const json::string* endpoint = string_at(body, "endpoint");
  const json::string* auth = string_at(body, "auth");
  if (endpoint == nullptr || auth == nullptr || endpoint->size() > 2048)
    return error(Status::bad_request, "invalid_event", "send the subscription's endpoint and auth");
  auto auth_bytes = webpush::base64url_decode(*auth);
  if (!auth_bytes || auth_bytes->size() != 16)
    return error(Status::bad_request, "invalid_event", "auth: must be 16 bytes, base64url");
  auto subscription = store_.find_subscription(std::string(*endpoint));
  if (!subscription) return store_failure(subscription.error());
  if (!subscription->has_value())
    return error(Status::not_found, "not_found", "no such subscription");
  if (!same_secret((*subscription)->auth, webpush::base64url_encode(*auth_bytes)))
    return error(Status::forbidden, "not_owner", "auth does not match this subscription");
  // Counted or already counted: the same answer, so a repeat learns nothing and changes nothing.
  // Timed here, on arrival: time to device never trusts a reader's clock. The endpoint is
  // reduced to its push service at once and not kept with the beacon.
  const store::BeaconArrival arrival{
      clock_.now_ms(), news::classify_push_service(*endpoint, options_.own_push_origin)};
  auto recorded = store_.record_alert_event(alert_id, (*subscription)->id, *kind,
                                            clock_.now_seconds(), arrival);
  if (!recorded) {
    if (recorded.error().code == store::ErrorCode::kNotFound)
      return error(Status::not_found, "not_found", "no such alert sent to this subscription");
    return store_failure(recorded.error());
  }
  return http::Response(Status::no_content, request.version());
}

http::Response SiteApi::record_optin(const http::Request& request) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(request.body(), ec);
  if (ec || !parsed.is_object())
    return error(Status::bad_request, "invalid_json", "the body is not a JSON object");
  const json::object& body = parsed.as_object();
  const json::string* step = string_at(body, "step");
  const json::string* category = string_at(body, "category");
  const json::string* page = string_at(body, "page");
  static constexpr std::array<std::string_view, store::kOptinStepCount> kSteps = {
      "shown", "clicked", "granted", "denied", "subscribed", "unsubscribed"};
  static constexpr std::array<std::string_view, store::kPageTypeCount> kPages = {
      "other", "home", "article", "live", "category"};
  const auto index_of = [](const auto& names, const json::string* name) -> std::optional<std::size_t> {
    if (name == nullptr) return std::nullopt;
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == std::string_view(*name)) return i;
    return std::nullopt;
  };
  const auto step_index = index_of(kSteps, step);
  if (!step_index)
    return error(Status::bad_request, "invalid_optin",
                 "step: one of shown, clicked, granted, denied, subscribed, unsubscribed");
  const auto page_index = index_of(kPages, page);
  if (!page_index)
    return error(Status::bad_request, "invalid_optin",
                 "page: one of home, article, live, category, other");
  store::CategorySet set = 0;
  if (category == nullptr ||
      (std::string_view(*category) != "none" && !store::parse_category(*category)))
    return error(Status::bad_request, "invalid_optin",
                 "category: one of breaking, live, exclusive, none");
  if (std::string_view(*category) != "none")
    set = static_cast<store::CategorySet>(*store::parse_category(*category));
  // Counted per UTC day; neither the address nor anything else about the reader is stored.
  const std::int64_t day = clock_.now_seconds() / 86'400;
  if (auto counted = store_.record_optin(day, set, static_cast<store::PageType>(*page_index),
                                         static_cast<store::OptinStep>(*step_index));
      !counted)
    return store_failure(counted.error());
  return http::Response(Status::no_content, request.version());
}

}  // namespace flashwire::site
