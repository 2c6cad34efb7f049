// The hand-off from the newsroom to a test send: one alert, as composed, to one editor's own
// browser subscription (POST /api/newsroom/alerts/{id}/test).
//
// The fan-out implements it in `flashwire serve` (fanout/test_send.h) with the same encryption,
// signing, push-host policy and outcome rules as an alert's fan-out; the newsroom only sees this
// contract, as with news::AlertQueue, and src/app/ connects the two.
//
// Thread safety: push() may be called from several threads at once (the HTTP server's); it
// blocks its caller until the push service has answered or the attempt has failed.
#pragma once

#include <string>

#include "news/alert.h"

namespace flashwire::news {

// A subscription as stored (keys base64url), checked before it was stored.
struct PushTarget {
  std::string endpoint;
  std::string p256dh;
  std::string auth;
};

struct TestPushResult {
  enum class Kind {
    kSent,    // the push service accepted it (2xx)
    kGone,    // 404/410: the subscription has expired or was unsubscribed
    kFailed,  // anything else: `reason` says what (no endpoint or key in it)
  };
  Kind kind = Kind::kFailed;
  int status = 0;      // the push service's final HTTP status; 0 when there was no answer
  std::string reason;  // with kFailed: e.g. "http_413", "retries_exhausted_transport"
};

class TestPusher {
 public:
  virtual ~TestPusher() = default;
  // Sends `alert` marked as a test ("test": true in the payload: the service worker shows it as
  // one and reports nothing) to `target`. `image_url` is the article's picture ("" for none).
  virtual TestPushResult push(const Alert& alert, const std::string& image_url,
                              const PushTarget& target) = 0;
};

}  // namespace flashwire::news
