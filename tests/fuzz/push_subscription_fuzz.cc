// check_push_subscription on any JSON text, as the readers' API and `subscriptions import`
// receive it. Properties: an accepted subscription's endpoint passes the same host policy, its
// keys decode to a 65-byte P-256 point and a 16-byte secret, and they are spelled canonically
// (unpadded base64url that re-encodes identically). A refusal's reason never repeats the
// endpoint or a key.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "webpush/push_subscription.h"
#include "webpush/base64url.h"
#include "webpush/p256.h"

using namespace flashwire;

namespace {

const webpush::PushHostPolicy& policy() {
  static const webpush::PushHostPolicy instance = [] {
    auto created = webpush::PushHostPolicy::create({"http://127.0.0.1:8090"});
    FUZZ_CHECK(created.has_value(), "the policy's origins are valid");
    return *created;
  }();
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(text, ec);
  const auto checked = webpush::check_push_subscription(ec ? nullptr : &value, policy());
  if (!checked) {
    const std::string& reason = checked.error().message;
    FUZZ_CHECK(!reason.empty(), "a refusal gives a reason");
    // The reason may be logged or shown: it must not carry the endpoint or key values.
    if (!ec && value.is_object()) {
      const auto& object = value.as_object();
      const auto* keys = object.if_contains("keys");
      for (const boost::json::value* field :
           {object.if_contains("endpoint"),
            keys && keys->is_object() ? keys->as_object().if_contains("p256dh") : nullptr,
            keys && keys->is_object() ? keys->as_object().if_contains("auth") : nullptr}) {
        // Only values marked with '|', which no reason's fixed text uses: otherwise a value that
        // happens to spell part of that text ("must be https") would count as echoed.
        if (field != nullptr && field->is_string() && field->as_string().size() >= 8 &&
            std::string_view(field->as_string()).find('|') != std::string_view::npos) {
          FUZZ_CHECK(reason.find(std::string_view(field->as_string())) == std::string::npos,
                     "a refusal never echoes the endpoint or a key");
        }
      }
    }
    return 0;
  }
  FUZZ_CHECK(policy().check(checked->endpoint).has_value(), "the endpoint passes the policy");
  const auto p256dh = webpush::base64url_decode(checked->p256dh);
  FUZZ_CHECK(p256dh && p256dh->size() == 65 && webpush::P256PublicKey::from_raw(*p256dh),
             "p256dh is a P-256 point");
  FUZZ_CHECK(webpush::base64url_encode(*p256dh) == checked->p256dh, "p256dh is canonical");
  const auto auth = webpush::base64url_decode(checked->auth);
  FUZZ_CHECK(auth && auth->size() == 16, "auth is 16 bytes");
  FUZZ_CHECK(webpush::base64url_encode(*auth) == checked->auth, "auth is canonical");
  return 0;
}
