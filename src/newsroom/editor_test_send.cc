// The editor's own subscription and the test send of an alert (routes in the table of
// newsroom_api.cc, documented in newsroom_api.h and docs/newsroom.md).
//
// An editor subscribes a browser of their own (the newsroom page does it with the site's
// service worker) and may then send any alert, as composed, to that browser only. The
// subscription is checked exactly as a reader's (webpush::check_push_subscription: the push-host
// policy, the keys), stored against the editor's token in a table no audience reads, and sent to
// through the fan-out's own pipeline (news::TestPusher, fanout/test_send.h). Endpoints and keys
// are never answered, logged or audited: only which push service holds them.
#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "news/push_service.h"
#include "newsroom/newsroom_api.h"
#include "newsroom/newsroom_call.h"
#include "webpush/push_subscription.h"
#include "store/error_kind.h"

namespace flashwire::newsroom {
namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using http::Status;

http::Response error(Status status, std::string_view code, std::string_view message) {
  return http::json_error(status, code, message);
}
http::Response store_failure(const store::Error& e) {
  return http::error_answer(store::error_kind(e.code), e.message);
}
http::Response json_answer(Status status, const json::value& value) {
  return http::json_response(status, json::serialize(value));
}

}  // namespace

bool NewsroomApi::blocks(const http::Request& request) const {
  // POST /api/newsroom/alerts/{id}/test waits for the push service's answer.
  constexpr std::string_view kPrefix = "/api/newsroom/alerts/", kSuffix = "/test";
  if (request.method() != bhttp::verb::post) return false;
  std::string_view path = request.target();
  path = path.substr(0, path.find('?'));
  if (path.size() <= kPrefix.size() + kSuffix.size() || !path.starts_with(kPrefix) ||
      !path.ends_with(kSuffix))
    return false;
  const std::string_view id =
      path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
  return id.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string NewsroomApi::push_service_of(const std::string& endpoint) const {
  return std::string(
      news::push_service_name(news::classify_push_service(endpoint, options_.own_push_origin)));
}

std::optional<http::Response> NewsroomApi::test_send_unavailable() const {
  if (options_.push_hosts != nullptr && options_.test_pusher != nullptr) return std::nullopt;
  return error(Status::service_unavailable, "test_send_unavailable",
               "test sends are not available on this server");
}

http::Response NewsroomApi::get_my_subscription(Call& call) {
  auto found = store_.find_editor_subscription(call.token.id);
  if (!found) return store_failure(found.error());
  if (!found->has_value()) return json_answer(Status::ok, json::object{{"subscribed", false}});
  return json_answer(Status::ok, json::object{{"subscribed", true},
                                              {"push_service", push_service_of((*found)->endpoint)},
                                              {"created_at", (*found)->created_at}});
}

http::Response NewsroomApi::put_my_subscription(Call& call) {
  if (auto refused = test_send_unavailable()) return std::move(*refused);
  auto checked =
      webpush::check_push_subscription(call.body.if_contains("subscription"), *options_.push_hosts);
  if (!checked) {
    return error(Status::bad_request, "invalid_subscription",
                 "subscription: " + checked.error().message);
  }
  store::EditorSubscription subscription{call.token.id, checked->endpoint, checked->p256dh,
                                         checked->auth, clock_.now_seconds()};
  if (auto stored = store_.put_editor_subscription(subscription); !stored)
    return store_failure(stored.error());
  const std::string service = push_service_of(subscription.endpoint);
  record(call, "editor.subscribe", "test alerts via " + service);
  return json_answer(Status::ok, json::object{{"subscribed", true},
                                              {"push_service", service},
                                              {"created_at", subscription.created_at}});
}

http::Response NewsroomApi::delete_my_subscription(Call& call) {
  auto deleted = store_.delete_editor_subscription(call.token.id, "");
  if (!deleted) return store_failure(deleted.error());
  if (*deleted) record(call, "editor.unsubscribe", "test alerts");
  return json_answer(Status::ok, json::object{{"subscribed", false}, {"deleted", *deleted}});
}

http::Response NewsroomApi::test_alert(Call& call) {
  if (auto refused = test_send_unavailable()) return std::move(*refused);
  // Per token: each test is a real push message, so a stuck button or a script cannot make the
  // site hammer a push service on an editor's behalf.
  const std::string key = std::to_string(call.token.id);
  if (test_sends_.retry_after(key) > 0 || !test_sends_.allow(key)) {
    auto response = error(Status::too_many_requests, "rate_limited",
                          "too many test sends from this token; try again shortly");
    response.set(bhttp::field::retry_after,
                 std::to_string(std::max<std::int64_t>(1, test_sends_.retry_after(key))));
    return response;
  }
  auto alert = store_.find_alert(call.id);
  if (!alert) return store_failure(alert.error());
  if (!alert->has_value()) return error(Status::not_found, "not_found", "no such alert");
  auto subscription = store_.find_editor_subscription(call.token.id);
  if (!subscription) return store_failure(subscription.error());
  if (!subscription->has_value()) {
    return error(Status::conflict, "no_test_subscription",
                 "subscribe this browser to test alerts first (PUT /api/newsroom/me/subscription)");
  }
  // The picture, as the fan-out would send it; without it the test still goes out.
  std::string image_url;
  if ((*alert)->article_id != 0) {
    auto article = store_.find_article((*alert)->article_id);
    if (article && article->has_value()) image_url = (*article)->image_url;
  }
  const store::EditorSubscription& target = **subscription;
  const std::string service = push_service_of(target.endpoint);
  const news::TestPushResult result = options_.test_pusher->push(
      **alert, image_url, news::PushTarget{target.endpoint, target.p256dh, target.auth});
  const std::string what = "#" + std::to_string(call.id) + " via " + service;
  switch (result.kind) {
    case news::TestPushResult::Kind::kSent:
      record(call, "alert.test", what + ", sent (" + std::to_string(result.status) + ")");
      return json_answer(
          Status::ok,
          json::object{{"sent", true}, {"push_service", service}, {"status", result.status}});
    case news::TestPushResult::Kind::kGone: {
      // Only that subscription: one stored meanwhile (another tab) stays.
      auto deleted = store_.delete_editor_subscription(call.token.id, target.endpoint);
      if (!deleted) return store_failure(deleted.error());
      record(call, "alert.test",
             what + ", subscription gone (" + std::to_string(result.status) + "), deleted");
      return json_answer(
          Status::conflict,
          json::object{
              {"error", "test_subscription_gone"},
              {"message", "the push service says this browser's subscription no longer exists (" +
                              std::to_string(result.status) +
                              "); it was removed: subscribe this browser again"},
              {"push_service", service},
              {"status", result.status}});
    }
    case news::TestPushResult::Kind::kFailed:
      break;
  }
  record(call, "alert.test", what + ", failed: " + result.reason);
  return json_answer(
      Status::bad_gateway,
      json::object{
          {"error", "push_failed"},
          {"message", "the push service did not take the test: " + result.reason},
          {"reason", result.reason},
          {"push_service", service},
          {"status", result.status == 0 ? json::value(nullptr) : json::value(result.status)}});
}

}  // namespace flashwire::newsroom
