// webpush::check_push_subscription: the one check every stored subscription passes.
#include "webpush/push_subscription.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "webpush/base64url.h"
#include "webpush/p256.h"

namespace flashwire::webpush {
namespace {

namespace json = boost::json;

class CheckPushSubscriptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto hosts = webpush::PushHostPolicy::create({"http://127.0.0.1:8090"});
    ASSERT_TRUE(hosts) << hosts.error().message;
    hosts_.emplace(std::move(*hosts));
    p256dh_ = webpush::P256KeyPair::generate().public_key().to_base64url();
  }

  json::value subscription(std::string endpoint, json::value p256dh, json::value auth) const {
    return json::object{
        {"endpoint", std::move(endpoint)},
        {"keys", json::object{{"p256dh", std::move(p256dh)}, {"auth", std::move(auth)}}}};
  }
  json::value good() const {
    return subscription("https://fcm.googleapis.com/fcm/send/abc", json::value(p256dh_),
                        json::value("AAECAwQFBgcICQoLDA0ODw"));
  }

  std::optional<webpush::PushHostPolicy> hosts_;
  std::string p256dh_;
};

TEST_F(CheckPushSubscriptionTest, AGoodSubscriptionComesBackInCanonicalSpelling) {
  // Padded base64url (as some browsers and libraries write it) is accepted and stored unpadded.
  const json::value padded =
      subscription("http://127.0.0.1:8090/wpush/x", json::value(p256dh_ + "="),
                   json::value("AAECAwQFBgcICQoLDA0ODw=="));
  auto checked = check_push_subscription(&padded, *hosts_);
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(checked->endpoint, "http://127.0.0.1:8090/wpush/x");
  EXPECT_EQ(checked->p256dh, p256dh_);
  EXPECT_EQ(checked->auth, "AAECAwQFBgcICQoLDA0ODw");

  const json::value plain = good();
  EXPECT_TRUE(check_push_subscription(&plain, *hosts_));
}

TEST_F(CheckPushSubscriptionTest, EachFlawIsNamedWithoutEchoingValues) {
  auto off_curve = webpush::base64url_decode(p256dh_).value();
  off_curve[64] ^= 1;
  const std::string off = webpush::base64url_encode(off_curve);
  const std::vector<std::pair<json::value, std::string>> cases = {
      {json::value("https://fcm.googleapis.com/x"), "must be a PushSubscription object"},
      {json::object{{"keys", json::object{}}}, "endpoint: missing"},
      {subscription("https://evil.example/push", json::value(p256dh_),
                    json::value("AAECAwQFBgcICQoLDA0ODw")),
       "endpoint: endpoint is not on an allowed push service"},
      {subscription("http://169.254.169.254/latest", json::value(p256dh_),
                    json::value("AAECAwQFBgcICQoLDA0ODw")),
       "endpoint:"},
      {json::object{{"endpoint", "https://fcm.googleapis.com/fcm/send/abc"}}, "keys: missing"},
      {subscription("https://fcm.googleapis.com/fcm/send/abc", json::value(p256dh_),
                    json::value(nullptr)),
       "keys: p256dh and auth are required"},
      {subscription("https://fcm.googleapis.com/fcm/send/abc", json::value(off),
                    json::value("AAECAwQFBgcICQoLDA0ODw")),
       "keys.p256dh: P-256 public key is not a point on the curve"},
      {subscription("https://fcm.googleapis.com/fcm/send/abc", json::value(p256dh_),
                    json::value("AAEC")),
       "keys.auth: secret must be 16 bytes, got 3"},
  };
  for (const auto& [value, reason] : cases) {
    auto checked = check_push_subscription(&value, *hosts_);
    ASSERT_FALSE(checked) << json::serialize(value);
    EXPECT_EQ(checked.error().code, ErrorCode::kInvalid);
    EXPECT_EQ(checked.error().message.rfind(reason, 0), 0u) << checked.error().message;
    EXPECT_EQ(checked.error().message.find("evil.example"), std::string::npos);
    EXPECT_EQ(checked.error().message.find(p256dh_.substr(0, 20)), std::string::npos);
  }
  EXPECT_FALSE(check_push_subscription(nullptr, *hosts_));
}

}  // namespace
}  // namespace flashwire::webpush
