#include "pushservice/service.h"

#include <gtest/gtest.h>

#include "test_support.h"
#include "webpush/base64url.h"
#include "webpush/message.h"
#include "webpush/vapid.h"

namespace flashwire::pushservice {
namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using testing::RecordingSession;
using webpush::P256KeyPair;

constexpr char kChannel[] = "5bd7a2a6-3e5c-4b1f-9a0e-1c2d3e4f5a6b";
constexpr char kAudience[] = "http://127.0.0.1:8090";

struct Browser {
  Browser(UaBackend& backend, const Clock& clock) : protocol(session, backend, clock) {}
  RecordingSession session;
  UaProtocol protocol;
};

class ServiceTest : public testing::ServiceFixture {
 protected:
  // A user agent connects (optionally resuming `uaid`) and takes the hello reply.
  std::unique_ptr<Browser> connect(const std::string& uaid = "") {
    auto browser = std::make_unique<Browser>(*service_, clock_);
    json::object hello{{"messageType", "hello"}, {"use_webpush", true}};
    if (!uaid.empty()) hello["uaid"] = uaid;
    browser->protocol.on_text(json::serialize(hello));
    auto frames = browser->session.take();
    EXPECT_GE(frames.size(), 1u);
    if (!frames.empty()) {
      EXPECT_EQ(frames[0]["messageType"], "hello");
      if (const auto* uaid_value = frames[0].if_contains("uaid");
          uaid_value && uaid_value->is_string())
        last_uaid_ = std::string(uaid_value->as_string());
    }
    pending_ = std::vector<json::object>(frames.begin() + (frames.empty() ? 0 : 1), frames.end());
    return browser;
  }
  // Registers kChannel, restricted to vapid_ unless `restricted` is false; returns the token.
  std::string subscribe(Browser& browser, bool restricted = true) {
    json::object frame{{"messageType", "register"}, {"channelID", kChannel}};
    if (restricted) frame["key"] = vapid_.public_key().to_base64url();
    browser.protocol.on_text(json::serialize(frame));
    auto frames = browser.session.take();
    EXPECT_EQ(frames.size(), 1u);
    const std::string endpoint(frames.at(0)["pushEndpoint"].as_string());
    return endpoint.substr(endpoint.rfind('/') + 1);
  }
  std::string vapid_header(const P256KeyPair& key, const std::string& audience = kAudience,
                           std::int64_t lifetime = 3600) {
    const auto now = clock_.now_seconds();
    auto token =
        webpush::sign_vapid_token(key, {audience, now + lifetime, "mailto:desk@news.example"}, now);
    EXPECT_TRUE(token) << token.error().message;
    return webpush::format_vapid_authorization(token.value_or(""), key.public_key());
  }
  http::Request push_request(const std::string& body = "", const std::string& ttl = "60") {
    http::Request request(bhttp::verb::post, "/wpush/x", 11);
    if (!ttl.empty()) request.set(bhttp::field::ttl, ttl);
    if (!body.empty()) request.set(bhttp::field::content_encoding, "aes128gcm");
    request.set(bhttp::field::authorization, vapid_header(vapid_));
    request.body() = body;
    return request;
  }
  std::string encrypt(std::string_view text) {
    webpush::MessageEncryptor encryptor;
    auto body = encryptor.encrypt({subscriber_.public_key(), auth_}, webpush::as_bytes(text));
    EXPECT_TRUE(body);
    return std::string(webpush::as_chars(*body));
  }
  // Decrypts a notification frame as the browser would.
  std::string open(const json::object& notification) {
    auto body = webpush::base64url_decode(notification.at("data").as_string());
    EXPECT_TRUE(body);
    auto plain = webpush::decrypt_message(subscriber_, auth_, *body);
    EXPECT_TRUE(plain) << plain.error().message;
    return plain ? std::string(webpush::as_chars(*plain)) : "";
  }
  void ack(Browser& browser, const json::object& notification, int code = 100) {
    json::object update{{"channelID", notification.at("channelID")},
                        {"version", notification.at("version")},
                        {"code", code}};
    browser.protocol.on_text(
        json::serialize(json::object{{"messageType", "ack"}, {"updates", json::array{update}}}));
  }
  std::string error_code(const http::Response& response) {
    return std::string(json::parse(response.body()).as_object().at("error").as_string());
  }

  P256KeyPair vapid_ = P256KeyPair::generate();
  P256KeyPair subscriber_ = P256KeyPair::generate();
  webpush::AuthSecret auth_{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  std::vector<json::object> pending_;  // notifications that arrived right after the hello
  std::string last_uaid_;              // the uaid of the latest hello reply
};

TEST_F(ServiceTest, DeliversToAConnectedUserAgentAndAnswers201) {
  auto browser = connect();
  const std::string token = subscribe(*browser);
  const auto response =
      service_->handle_push(push_request(encrypt("Flood barrier approved")), token);
  ASSERT_EQ(response.result(), http::Status::created) << response.body();
  EXPECT_EQ(response[bhttp::field::ttl], "60");
  EXPECT_EQ(std::string(response[bhttp::field::location]).rfind("http://127.0.0.1:8090/m/", 0), 0u);

  auto frames = browser->session.take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0]["messageType"], "notification");
  EXPECT_EQ(frames[0]["channelID"], kChannel);
  EXPECT_EQ(frames[0]["headers"].as_object().at("encoding"), "aes128gcm");
  EXPECT_EQ(open(frames[0]), "Flood barrier approved");
}

TEST_F(ServiceTest, StoresForAnOfflineUserAgentUntilItAcks) {
  auto browser = connect();
  const std::string uaid = browser->protocol.uaid();
  const std::string token = subscribe(*browser);
  browser->protocol.on_disconnect();

  ASSERT_EQ(
      service_->handle_push(push_request(encrypt("while you were away"), "600"), token).result(),
      http::Status::created);
  open_service();  // a restart in between loses nothing

  auto back = connect(uaid);
  ASSERT_EQ(pending_.size(), 1u);
  EXPECT_EQ(open(pending_[0]), "while you were away");
  back->protocol.on_disconnect();

  auto again = connect(uaid);  // not acked: delivered again
  ASSERT_EQ(pending_.size(), 1u);
  ack(*again, pending_[0]);
  again->protocol.on_disconnect();

  connect(uaid);  // acked: gone
  EXPECT_TRUE(pending_.empty());
}

TEST_F(ServiceTest, UnackedMessagesToAConnectedUserAgentSurviveItsDisconnection) {
  auto browser = connect();
  const std::string uaid = browser->protocol.uaid();
  const std::string token = subscribe(*browser);
  ASSERT_EQ(service_->handle_push(push_request(encrypt("first"), "600"), token).result(),
            http::Status::created);
  ASSERT_EQ(service_->handle_push(push_request(encrypt("second"), "600"), token).result(),
            http::Status::created);
  auto frames = browser->session.take();
  ASSERT_EQ(frames.size(), 2u);
  ack(*browser, frames[0]);  // only the first is acked
  browser->protocol.on_disconnect();

  auto back = connect(uaid);
  ASSERT_EQ(pending_.size(), 1u);
  EXPECT_EQ(open(pending_[0]), "second");
  ack(*back, pending_[0]);
  back->protocol.on_disconnect();
  connect(uaid);
  EXPECT_TRUE(pending_.empty());
}

TEST_F(ServiceTest, AGracefulStopKeepsWhatWasInFlight) {
  auto browser = connect();
  const std::string uaid = browser->protocol.uaid();
  const std::string token = subscribe(*browser);
  ASSERT_EQ(service_->handle_push(push_request(encrypt("in flight"), "600"), token).result(),
            http::Status::created);
  ASSERT_EQ(browser->session.take().size(), 1u);
  service_->persist_unacked();
  browser.reset();  // the connection is gone with the process
  open_service();
  connect(uaid);
  ASSERT_EQ(pending_.size(), 1u);
  EXPECT_EQ(open(pending_[0]), "in flight");
}

TEST_F(ServiceTest, AReplacingConnectionReceivesWhatTheOldOneLeftUnacked) {
  auto first = connect();
  const std::string uaid = first->protocol.uaid();
  const std::string token = subscribe(*first);
  ASSERT_EQ(service_->handle_push(push_request(encrypt("breaking"), "600"), token).result(),
            http::Status::created);
  ASSERT_EQ(first->session.take().size(), 1u);
  auto second = connect(uaid);
  EXPECT_TRUE(first->session.closed);
  ASSERT_EQ(pending_.size(), 1u);
  EXPECT_EQ(open(pending_[0]), "breaking");
}

TEST_F(ServiceTest, AUserAgentThatNeverAcksIsBoundedInMemory) {
  options_.backlog_cap = 3;
  open_service();
  auto browser = connect();
  const std::string token = subscribe(*browser);
  for (int i = 1; i <= 6; ++i) {
    ASSERT_EQ(service_->handle_push(push_request(encrypt("n" + std::to_string(i)), "600"), token)
                  .result(),
              http::Status::created);
  }
  EXPECT_EQ(browser->session.take().size(), 6u);  // all sent at once
  const std::string metrics = service_->metrics_text();
  EXPECT_NE(metrics.find("flashwire_push_unacked_in_memory 3"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("flashwire_push_stored_messages 3"), std::string::npos) << metrics;
}

TEST_F(ServiceTest, TtlZeroIsOnlyForConnectedUserAgents) {
  auto browser = connect();
  const std::string uaid = browser->protocol.uaid();
  const std::string token = subscribe(*browser);

  ASSERT_EQ(service_->handle_push(push_request(encrypt("now"), "0"), token).result(),
            http::Status::created);
  auto frames = browser->session.take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(open(frames[0]), "now");
  browser->protocol.on_disconnect();

  const auto offline = service_->handle_push(push_request(encrypt("never"), "0"), token);
  EXPECT_EQ(offline.result(), http::Status::created);
  EXPECT_EQ(offline[bhttp::field::ttl], "0");
  connect(uaid);
  EXPECT_TRUE(pending_.empty());
}

TEST_F(ServiceTest, ANewerMessageWithTheSameTopicReplacesTheOlder) {
  auto browser = connect();
  const std::string uaid = browser->protocol.uaid();
  const std::string token = subscribe(*browser);
  browser->protocol.on_disconnect();

  for (const char* text : {"score 1-0", "score 2-0"}) {
    auto request = push_request(encrypt(text), "600");
    request.set("Topic", "match-42");
    ASSERT_EQ(service_->handle_push(request, token).result(), http::Status::created);
  }
  auto other = push_request(encrypt("other topic"), "600");
  other.set("Topic", "weather");
  ASSERT_EQ(service_->handle_push(other, token).result(), http::Status::created);

  connect(uaid);
  ASSERT_EQ(pending_.size(), 2u);
  EXPECT_EQ(open(pending_[0]), "score 2-0");
  EXPECT_EQ(open(pending_[1]), "other topic");
  EXPECT_NE(service_->metrics_text().find("flashwire_push_messages_replaced_total 1"),
            std::string::npos);
}

TEST_F(ServiceTest, ExpiredMessagesAreNeitherDeliveredNorKept) {
  auto browser = connect();
  const std::string uaid = browser->protocol.uaid();
  const std::string token = subscribe(*browser);
  browser->protocol.on_disconnect();
  ASSERT_EQ(service_->handle_push(push_request(encrypt("short-lived"), "30"), token).result(),
            http::Status::created);
  ASSERT_EQ(service_->handle_push(push_request(encrypt("long-lived"), "3600"), token).result(),
            http::Status::created);
  clock_.advance(31);
  connect(uaid)->protocol.on_disconnect();
  ASSERT_EQ(pending_.size(), 1u);
  EXPECT_EQ(open(pending_[0]), "long-lived");
  EXPECT_EQ(service_->purge_expired(), 1u);
  EXPECT_NE(service_->metrics_text().find("flashwire_push_messages_expired_total 1"),
            std::string::npos);
}

TEST_F(ServiceTest, TheBacklogCapDropsTheOldest) {
  options_.backlog_cap = 3;
  open_service();
  auto browser = connect();
  const std::string uaid = browser->protocol.uaid();
  const std::string token = subscribe(*browser);
  browser->protocol.on_disconnect();
  for (int i = 1; i <= 5; ++i) {
    ASSERT_EQ(
        service_->handle_push(push_request(encrypt("alert " + std::to_string(i)), "600"), token)
            .result(),
        http::Status::created);
  }
  connect(uaid);
  ASSERT_EQ(pending_.size(), 3u);
  EXPECT_EQ(open(pending_[0]), "alert 3");
  EXPECT_EQ(open(pending_[2]), "alert 5");
  EXPECT_NE(service_->metrics_text().find("flashwire_push_messages_evicted_total 2"),
            std::string::npos);
}

TEST_F(ServiceTest, CapsTheTtlAndSaysSo) {
  options_.max_ttl_seconds = 86400;
  open_service();
  auto browser = connect();
  const std::string token = subscribe(*browser);
  const auto response = service_->handle_push(push_request(encrypt("x"), "999999"), token);
  ASSERT_EQ(response.result(), http::Status::created);
  EXPECT_EQ(response[bhttp::field::ttl], "86400");
}

// The docs promise that a long TTL is cut to the maximum; one of 11 or more digits is no
// exception (it was refused as invalid).
TEST_F(ServiceTest, ClampsTtlsOfAnyLength) {
  auto browser = connect();
  const std::string token = subscribe(*browser);
  for (const char* ttl : {"99999999999", "99999999999999999999999999", "0000000000060"}) {
    const auto response = service_->handle_push(push_request(encrypt("x"), ttl), token);
    ASSERT_EQ(response.result(), http::Status::created) << ttl << ": " << response.body();
    EXPECT_EQ(response[bhttp::field::ttl],
              std::string(ttl).starts_with("0") ? "60" : std::to_string(options_.max_ttl_seconds))
        << ttl;
  }
}

// Ack codes are the user agent's to choose: only 100, 101 and 102 are counted by value, so
// many distinct codes cannot grow /metrics.
TEST_F(ServiceTest, CountsUnknownAckCodesInOneBucket) {
  auto browser = connect();
  const std::string token = subscribe(*browser);
  json::array updates;
  for (const std::int64_t code : {101LL, 102LL, -5LL, 7LL, 103LL, 99999LL, 4294967396LL}) {
    updates.push_back(json::object{{"channelID", kChannel}, {"version", "s999"}, {"code", code}});
  }
  EXPECT_TRUE(browser->protocol.on_text(
      json::serialize(json::object{{"messageType", "ack"}, {"updates", updates}})));
  const std::string before = service_->metrics_text();
  for (int code = 1000; code < 1500; ++code) {
    json::object update{{"channelID", kChannel}, {"version", "s999"}, {"code", code}};
    browser->protocol.on_text(
        json::serialize(json::object{{"messageType", "ack"}, {"updates", json::array{update}}}));
  }
  const std::string metrics = service_->metrics_text();
  for (const char* line :
       {"flashwire_push_acks_total{code=\"100\"} 0", "flashwire_push_acks_total{code=\"101\"} 1",
        "flashwire_push_acks_total{code=\"102\"} 1",
        "flashwire_push_acks_total{code=\"invalid\"} 505"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << "\n" << metrics;
  }
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'),
            std::count(before.begin(), before.end(), '\n'))
      << "no line per code";
  EXPECT_EQ(metrics.find("code=\"-5\""), std::string::npos);
}

// The registration allowance is the user agent's, not its connection's: reconnecting with the
// same uaid does not renew it, and the stored channels stay capped.
TEST_F(ServiceTest, RegistrationLimitsHoldAcrossReconnects) {
  options_.registers_per_minute_per_ua = 5;
  options_.max_channels_per_ua = 8;
  open_service();
  const auto register_frame = [](int i) {
    char channel[37];
    std::snprintf(channel, sizeof channel, "00000000-0000-4000-8000-%012d", i);
    return json::serialize(json::object{{"messageType", "register"}, {"channelID", channel}});
  };
  auto first = connect();
  const std::string uaid = last_uaid_;
  ASSERT_FALSE(uaid.empty());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(first->protocol.on_text(register_frame(i))) << i;
  first->protocol.on_disconnect();
  auto second = connect(uaid);
  EXPECT_FALSE(second->protocol.on_text(register_frame(5)))
      << "a new connection does not renew the allowance";
  EXPECT_TRUE(second->session.closed);
  EXPECT_EQ(second->session.close_code, kClosePolicyViolation);
  EXPECT_NE(second->session.close_reason.find("too many registrations"), std::string::npos);

  clock_.advance(60);  // a minute later: five more, but only three fit under the cap of 8
  auto third = connect(uaid);
  for (int i = 5; i < 10; ++i) EXPECT_TRUE(third->protocol.on_text(register_frame(i))) << i;
  const auto replies = third->session.take();
  ASSERT_EQ(replies.size(), 5u);
  EXPECT_EQ(replies[2].at("status"), 200);
  EXPECT_EQ(replies[3].at("status"), 413) << "the cap of stored channels per user agent";
  EXPECT_EQ(replies[4].at("status"), 413);
}

TEST_F(ServiceTest, RejectsBadRequestsWithJsonErrors) {
  auto browser = connect();
  const std::string token = subscribe(*browser);
  const std::string body = encrypt("x");
  struct Case {
    std::string name;
    http::Request request;
    http::Status status;
    std::string code;
  };
  std::vector<Case> cases;
  cases.push_back({"no TTL", push_request(body, ""), http::Status::bad_request, "missing_ttl"});
  for (const char* ttl : {"-1", "soon", "1.5", "+5"}) {
    cases.push_back({std::string("TTL ") + ttl, push_request(body, ttl), http::Status::bad_request,
                     "invalid_ttl"});
  }
  auto urgency = push_request(body);
  urgency.set("Urgency", "urgent");
  cases.push_back({"bad urgency", urgency, http::Status::bad_request, "invalid_urgency"});
  for (const std::string& topic :
       {std::string(33, 'a'), std::string("has space"), std::string("dot.dot")}) {
    auto request = push_request(body);
    request.set("Topic", topic);
    cases.push_back({"topic " + topic, request, http::Status::bad_request, "invalid_topic"});
  }
  auto no_encoding = push_request(body);
  no_encoding.erase(bhttp::field::content_encoding);
  cases.push_back({"body without encoding", no_encoding, http::Status::unsupported_media_type,
                   "unsupported_encoding"});
  auto aesgcm = push_request(body);
  aesgcm.set(bhttp::field::content_encoding, "aesgcm");
  cases.push_back(
      {"legacy encoding", aesgcm, http::Status::unsupported_media_type, "unsupported_encoding"});
  cases.push_back({"body over 4096", push_request(std::string(4097, 'x')),
                   http::Status::payload_too_large, "too_large"});
  auto no_auth = push_request(body);
  no_auth.erase(bhttp::field::authorization);
  cases.push_back({"no VAPID", no_auth, http::Status::unauthorized, "vapid_missing"});
  auto other_key = push_request(body);
  other_key.set(bhttp::field::authorization, vapid_header(P256KeyPair::generate()));
  cases.push_back({"other VAPID key", other_key, http::Status::forbidden, "vapid_key_mismatch"});
  auto wrong_aud = push_request(body);
  wrong_aud.set(bhttp::field::authorization, vapid_header(vapid_, "https://push.example.net"));
  cases.push_back(
      {"VAPID for another origin", wrong_aud, http::Status::unauthorized, "vapid_invalid"});
  auto garbage = push_request(body);
  garbage.set(bhttp::field::authorization,
              "vapid t=a.b.c, k=" + vapid_.public_key().to_base64url());
  cases.push_back({"VAPID garbage", garbage, http::Status::unauthorized, "vapid_invalid"});
  auto expired = push_request(body);
  expired.set(bhttp::field::authorization, vapid_header(vapid_, kAudience, 60));
  cases.push_back({"expired VAPID", expired, http::Status::unauthorized, "vapid_invalid"});

  for (auto& c : cases) {
    if (c.name == "expired VAPID") clock_.advance(3600);
    const auto response = service_->handle_push(c.request, token);
    EXPECT_EQ(response.result(), c.status) << c.name << ": " << response.body();
    EXPECT_EQ(response[bhttp::field::content_type], "application/json") << c.name;
    EXPECT_EQ(error_code(response), c.code) << c.name;
  }
  EXPECT_TRUE(browser->session.frames.empty()) << "nothing refused may reach the browser";
  const std::string metrics = service_->metrics_text();
  EXPECT_NE(metrics.find("flashwire_push_messages_rejected_total{reason=\"missing_ttl\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("flashwire_push_messages_rejected_total{reason=\"invalid_ttl\"} 4"),
            std::string::npos);
  EXPECT_NE(metrics.find("flashwire_push_messages_accepted_total 0"), std::string::npos);
}

TEST_F(ServiceTest, AVerifiedTokenIsReusedUntilItExpiresAndOnlyForItsKey) {
  auto browser = connect();
  const std::string token = subscribe(*browser);
  auto request = push_request(encrypt("x"));
  request.set(bhttp::field::authorization, vapid_header(vapid_, kAudience, 600));
  EXPECT_EQ(service_->handle_push(request, token).result(), http::Status::created);
  EXPECT_EQ(service_->handle_push(request, token).result(),
            http::Status::created);  // from the cache

  // Another user agent subscribed with another sender's key: the cached header is not valid there.
  auto other_browser = connect();
  const auto saved = vapid_;
  vapid_ = P256KeyPair::generate();
  const std::string other_token = subscribe(*other_browser);
  vapid_ = saved;
  EXPECT_EQ(service_->handle_push(request, other_token).result(), http::Status::forbidden);

  clock_.advance(600 + options_.vapid_clock_skew_seconds);
  const auto expired = service_->handle_push(request, token);
  EXPECT_EQ(expired.result(), http::Status::unauthorized);
  EXPECT_EQ(error_code(expired), "vapid_invalid");
}

TEST_F(ServiceTest, UnknownEndpointsAre404AndRemovedOnes410) {
  auto browser = connect();
  const std::string token = subscribe(*browser);
  std::string forged = token;
  forged[10] = forged[10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(service_->handle_push(push_request(encrypt("x")), forged).result(),
            http::Status::not_found);
  EXPECT_EQ(service_->handle_push(push_request(encrypt("x")), "nonsense").result(),
            http::Status::not_found);

  browser->protocol.on_text(std::string(R"({"messageType":"unregister","channelID":")") + kChannel +
                            "\"}");
  const auto gone = service_->handle_push(push_request(encrypt("x")), token);
  EXPECT_EQ(gone.result(), http::Status::gone);
  EXPECT_EQ(error_code(gone), "gone");
}

TEST_F(ServiceTest, AnEndpointFromAnEarlierRegistrationWithAnotherKeyIsNotValid) {
  auto browser = connect();
  const std::string old_token = subscribe(*browser);
  browser->protocol.on_text(std::string(R"({"messageType":"unregister","channelID":")") + kChannel +
                            "\"}");
  browser->session.take();
  vapid_ = P256KeyPair::generate();
  const std::string new_token = subscribe(*browser);
  EXPECT_EQ(service_->handle_push(push_request(encrypt("x")), old_token).result(),
            http::Status::not_found);
  EXPECT_EQ(service_->handle_push(push_request(encrypt("x")), new_token).result(),
            http::Status::created);
}

TEST_F(ServiceTest, UnregisteringEndsAnEndpointSendersHaveAlreadyUsed) {
  // The service keeps the channels senders post to: unregistering must still end them at once,
  // and a new registration of the same channel id with another key must not inherit the old one.
  auto browser = connect();
  const std::string old_token = subscribe(*browser);
  EXPECT_EQ(service_->handle_push(push_request(encrypt("first")), old_token).result(),
            http::Status::created);
  browser->protocol.on_text(std::string(R"({"messageType":"unregister","channelID":")") + kChannel +
                            "\"}");
  EXPECT_EQ(service_->handle_push(push_request(encrypt("after")), old_token).result(),
            http::Status::gone);

  browser->session.take();
  vapid_ = P256KeyPair::generate();
  const std::string new_token = subscribe(*browser);
  EXPECT_EQ(service_->handle_push(push_request(encrypt("new")), new_token).result(),
            http::Status::created);
  EXPECT_EQ(service_->handle_push(push_request(encrypt("old")), old_token).result(),
            http::Status::not_found);
}

TEST_F(ServiceTest, UnrestrictedSubscriptionsNeedNoVapid) {
  auto browser = connect();
  const std::string token = subscribe(*browser, /*restricted=*/false);
  auto request = push_request(encrypt("open"));
  request.erase(bhttp::field::authorization);
  EXPECT_EQ(service_->handle_push(request, token).result(), http::Status::created);
  auto empty = push_request("");  // a push without payload is allowed too
  empty.erase(bhttp::field::authorization);
  EXPECT_EQ(service_->handle_push(empty, token).result(), http::Status::created);
  auto frames = browser->session.take();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_FALSE(frames[1].contains("data"));
}

TEST_F(ServiceTest, MetricsCountTheTraffic) {
  auto browser = connect();
  const std::string token = subscribe(*browser);
  ASSERT_EQ(service_->handle_push(push_request(encrypt("x")), token).result(),
            http::Status::created);
  auto frames = browser->session.take();
  ASSERT_EQ(frames.size(), 1u);
  ack(*browser, frames[0]);
  const std::string metrics = service_->metrics_text();
  for (const char* line :
       {"flashwire_push_messages_accepted_total 1", "flashwire_push_messages_delivered_total 1",
        "flashwire_push_registrations_total 1", "flashwire_push_acks_total{code=\"100\"} 1",
        "flashwire_push_stored_messages 0", "flashwire_push_user_agents_connected 1"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << "\n" << metrics;
  }
}

}  // namespace
}  // namespace flashwire::pushservice
