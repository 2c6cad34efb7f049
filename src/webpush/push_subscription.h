// A browser's PushSubscription, in its toJSON() form
//   {"endpoint": "https://…", "keys": {"p256dh": "<base64url>", "auth": "<base64url>"}}
// checked the way Flashwire accepts one, wherever it comes from (the readers' API, an import):
// the endpoint is on an allowed push service (webpush::PushHostPolicy, so nothing stored can
// aim the fan-out at another host), p256dh is a P-256 point on the curve, auth is 16 bytes.
// Keys come back in their canonical unpadded base64url spelling. Reasons name the field
// ("endpoint: …", "keys: …", "keys.p256dh: …") and never echo the endpoint or key values.
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "common/error.h"
#include "webpush/error.h"
#include "webpush/push_hosts.h"

namespace flashwire::webpush {

struct CheckedSubscription {
  std::string endpoint;
  std::string p256dh;
  std::string auth;
};

// `value` may be null (field missing). Errors: kInvalid, the message the reason, as above.
tl::expected<CheckedSubscription, Error> check_push_subscription(
    const boost::json::value* value, const webpush::PushHostPolicy& hosts);

}  // namespace flashwire::webpush
