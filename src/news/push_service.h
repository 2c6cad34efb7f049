// Which push service hosts a subscription, from its endpoint's origin: the key by which alert
// analytics split their funnel (FCM, Mozilla, Apple, Flashwire's own push service, other).
// Only the host is looked at and only the class is kept, never the endpoint.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace flashwire::news {

// Stored by number (store::PushService has the same values): never renumber.
enum class PushServiceKind : std::uint8_t {
  kOther = 0,
  kFcm = 1,
  kMozilla = 2,
  kApple = 3,
  kOwn = 4
};
// How many kinds there are: arrays indexed by PushServiceKind have this size.
inline constexpr std::size_t kPushServiceKinds = 5;

// `endpoint`: an absolute URL. `own_origin`: the origin of Flashwire's own push service as its
// endpoints begin ("https://push.example"), or empty when it does not run. An endpoint on that
// origin is kOwn; fcm.googleapis.com kFcm; *.push.services.mozilla.com kMozilla;
// web.push.apple.com and *.push.apple.com kApple; anything else kOther.
PushServiceKind classify_push_service(std::string_view endpoint, std::string_view own_origin);

// "other" | "fcm" | "mozilla" | "apple" | "own".
std::string_view push_service_name(PushServiceKind kind);

}  // namespace flashwire::news
