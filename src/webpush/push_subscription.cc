#include "webpush/push_subscription.h"

#include <boost/json.hpp>

#include "webpush/base64url.h"
#include "webpush/message.h"

namespace flashwire::webpush {
namespace {

const boost::json::string* string_at(const boost::json::object& object, std::string_view key) {
  const boost::json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? &value->as_string() : nullptr;
}

}  // namespace

tl::expected<CheckedSubscription, Error> check_push_subscription(
    const boost::json::value* value, const webpush::PushHostPolicy& hosts) {
  const auto invalid = [](std::string reason) {
    return tl::unexpected(Error{ErrorCode::kInvalid, std::move(reason)});
  };
  if (value == nullptr || !value->is_object()) return invalid("must be a PushSubscription object");
  const boost::json::object& sub = value->as_object();
  const boost::json::string* endpoint = string_at(sub, "endpoint");
  if (endpoint == nullptr) return invalid("endpoint: missing");
  if (auto allowed = hosts.check(*endpoint); !allowed)
    return invalid("endpoint: " + allowed.error().message);
  const boost::json::value* keys_value = sub.if_contains("keys");
  if (keys_value == nullptr || !keys_value->is_object()) return invalid("keys: missing");
  const boost::json::string* p256dh = string_at(keys_value->as_object(), "p256dh");
  const boost::json::string* auth = string_at(keys_value->as_object(), "auth");
  if (p256dh == nullptr || auth == nullptr) return invalid("keys: p256dh and auth are required");
  auto keys = webpush::SubscriptionKeys::from_base64url(*p256dh, *auth);
  if (!keys) return invalid("keys." + keys.error().message);
  return CheckedSubscription{std::string(*endpoint), keys->p256dh.to_base64url(),
                             webpush::base64url_encode(keys->auth)};
}

}  // namespace flashwire::webpush
