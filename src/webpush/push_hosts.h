// Which push services Flashwire will talk to. Subscriptions arrive from browsers, so their
// endpoint URLs are untrusted: storing or POSTing to an arbitrary URL would let anyone aim the
// server at internal hosts (SSRF). Only endpoints on known push services, plus origins an
// operator adds in config (such as Flashwire's own push service), are accepted.
//
// Built-in: https on fcm.googleapis.com (Chrome, Edge, Opera…), updates.push.services.mozilla.com
// (Firefox), web.push.apple.com and *.push.apple.com (Safari), *.notify.windows.com (Windows).
// Thread safety: immutable after construction; share freely.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "webpush/error.h"

namespace flashwire::webpush {

class PushHostPolicy {
 public:
  // `extra_origins`: exact origins also allowed, e.g. "http://127.0.0.1:8090". Errors:
  // kInvalid for an entry that is not an origin.
  static Result<PushHostPolicy> create(const std::vector<std::string>& extra_origins,
                                       bool allow_builtin = true);

  // The endpoint's origin if the endpoint may be used. Errors: kInvalid with the reason
  // (not an absolute URL, not https, host not a push service, credentials or fragment present).
  Result<std::string> check(std::string_view endpoint_url) const;

  const std::vector<std::string>& extra_origins() const { return extra_origins_; }

 private:
  std::vector<std::string> extra_origins_;
  bool allow_builtin_ = true;
};

}  // namespace flashwire::webpush
