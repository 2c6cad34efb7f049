#include "pushservice/protocol.h"

#include <gtest/gtest.h>

#include "test_support.h"
#include "webpush/base64url.h"
#include "webpush/p256.h"

namespace flashwire::pushservice {
namespace {

using testing::RecordingSession;
namespace json = boost::json;

constexpr char kChannel[] = "5bd7a2a6-3e5c-4b1f-9a0e-1c2d3e4f5a6b";
constexpr char kChannel2[] = "0f0e0d0c-0b0a-4908-8706-050403020100";

// One user agent connection: a recording session and the protocol reading into it.
struct Ua {
  Ua(UaBackend& backend, const Clock& clock, ProtocolOptions options = {})
      : protocol(session, backend, clock, options) {}
  bool send(std::string_view frame) { return protocol.on_text(frame); }
  RecordingSession session;
  UaProtocol protocol;
};

class ProtocolTest : public testing::ServiceFixture {
 protected:
  std::unique_ptr<Ua> connect(std::string_view uaid = "") {
    auto ua = std::make_unique<Ua>(*service_, clock_);
    json::object hello{
        {"messageType", "hello"}, {"use_webpush", true}, {"broadcasts", json::object()}};
    if (!uaid.empty()) hello["uaid"] = uaid;
    EXPECT_TRUE(ua->send(json::serialize(hello)));
    return ua;
  }
  std::string register_channel(Ua& ua, std::string_view channel, std::string_view key = "") {
    json::object frame{{"messageType", "register"}, {"channelID", channel}};
    if (!key.empty()) frame["key"] = key;
    ua.session.take();  // earlier frames (the hello reply) are not this test's concern
    ua.send(json::serialize(frame));
    auto frames = ua.session.take();
    EXPECT_EQ(frames.size(), 1u);
    if (frames.empty()) return {};
    EXPECT_EQ(frames[0]["messageType"], "register");
    EXPECT_EQ(frames[0]["status"].as_int64(), 200) << json::serialize(frames[0]);
    return frames[0].contains("pushEndpoint") ? std::string(frames[0]["pushEndpoint"].as_string())
                                              : "";
  }
};

TEST_F(ProtocolTest, HelloWithoutUaidAssignsANewOne) {
  auto ua = connect();
  auto frames = ua->session.take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0]["messageType"], "hello");
  EXPECT_EQ(frames[0]["status"], 200);
  EXPECT_EQ(frames[0]["use_webpush"], true);
  EXPECT_TRUE(is_valid_uaid(frames[0]["uaid"].as_string()));
  EXPECT_EQ(ua->protocol.uaid(), frames[0]["uaid"].as_string());
}

TEST_F(ProtocolTest, KnownUaidIsKeptAndUnknownOneReplaced) {
  auto first = connect();
  const std::string uaid = first->protocol.uaid();
  register_channel(*first, kChannel);
  first->protocol.on_disconnect();

  auto again = connect(uaid);
  EXPECT_EQ(again->protocol.uaid(), uaid);

  auto stranger = connect("ffffffffffffffffffffffffffffffff");
  EXPECT_NE(stranger->protocol.uaid(), "ffffffffffffffffffffffffffffffff");
}

// A refused channel id is echoed cut to 64 bytes; the cut must not split a character, or the
// reply is not valid UTF-8 and a browser drops the connection (1007). Found by fuzzing.
TEST_F(ProtocolTest, RefusedChannelIdIsEchoedCutAtACharacterBoundary) {
  auto ua = connect();
  ua->session.take();
  std::string channel = "x";
  for (int i = 0; i < 40; ++i) channel += "\xc3\xa9";  // "é": the 64-byte cut falls inside one
  for (const char* type : {"register", "unregister"}) {
    ASSERT_TRUE(
        ua->send(json::serialize(json::object{{"messageType", type}, {"channelID", channel}})));
    ASSERT_EQ(ua->session.frames.size(), 1u);
    const std::string frame = std::move(ua->session.frames[0]);
    ua->session.frames.clear();
    boost::system::error_code ec;
    const json::value reply = json::parse(frame, ec);  // rejects invalid UTF-8
    ASSERT_FALSE(ec) << type << ": " << ec.message();
    EXPECT_EQ(reply.at("status"), 400);
    EXPECT_EQ(reply.at("channelID").as_string(), channel.substr(0, 63)) << type;
  }
}

TEST_F(ProtocolTest, RegisterReturnsAnEndpointOnThisService) {
  auto ua = connect();
  ua->session.take();
  const std::string endpoint = register_channel(*ua, kChannel);
  EXPECT_EQ(endpoint.rfind("http://127.0.0.1:8090/wpush/", 0), 0u) << endpoint;
}

TEST_F(ProtocolTest, RegisterAcceptsPaddedAndUnpaddedVapidKeys) {
  auto ua = connect();
  ua->session.take();
  const auto key = webpush::P256KeyPair::generate().public_key().to_base64url();
  EXPECT_FALSE(register_channel(*ua, kChannel, key + "=").empty());
  EXPECT_FALSE(register_channel(*ua, kChannel2, key).empty());
}

TEST_F(ProtocolTest, RegisterRejectsBadChannelIdsAndKeys) {
  auto ua = connect();
  ua->session.take();
  const std::pair<std::string, std::string> cases[] = {
      {R"({"messageType":"register","channelID":"not-a-uuid"})", "bad channel id"},
      {R"({"messageType":"register"})", "missing channel id"},
      {std::string(R"({"messageType":"register","channelID":")") + kChannel + R"(","key":"BAAA"})",
       "short key"},
      {std::string(R"({"messageType":"register","channelID":")") + kChannel + R"(","key":42})",
       "key not a string"},
  };
  for (const auto& [frame, what] : cases) {
    EXPECT_TRUE(ua->send(frame)) << what;
    auto frames = ua->session.take();
    ASSERT_EQ(frames.size(), 1u) << what;
    EXPECT_EQ(frames[0]["status"], 400) << what;
    EXPECT_FALSE(frames[0].contains("pushEndpoint")) << what;
  }
  EXPECT_FALSE(ua->session.closed);
}

TEST_F(ProtocolTest, ReRegisteringWithAnotherKeyIsAConflict) {
  auto ua = connect();
  ua->session.take();
  register_channel(*ua, kChannel, webpush::P256KeyPair::generate().public_key().to_base64url());
  json::object frame{{"messageType", "register"},
                     {"channelID", kChannel},
                     {"key", webpush::P256KeyPair::generate().public_key().to_base64url()}};
  ua->send(json::serialize(frame));
  auto frames = ua->session.take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0]["status"], 409);
}

TEST_F(ProtocolTest, UnregisterAnswers200) {
  auto ua = connect();
  ua->session.take();
  register_channel(*ua, kChannel);
  ua->send(std::string(R"({"messageType":"unregister","channelID":")") + kChannel +
           R"(","code":200})");
  auto frames = ua->session.take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0]["messageType"], "unregister");
  EXPECT_EQ(frames[0]["channelID"], kChannel);
  EXPECT_EQ(frames[0]["status"], 200);
}

TEST_F(ProtocolTest, AnswersPingsAndBroadcastSubscriptions) {
  auto ua = connect();
  ua->session.take();
  EXPECT_TRUE(ua->send("{}"));
  EXPECT_EQ(ua->session.frames, std::vector<std::string>{"{}"});
  ua->session.frames.clear();
  EXPECT_TRUE(ua->send(
      R"({"messageType":"broadcast_subscribe","broadcasts":{"remote-settings/monitor_changes":"v1"}})"));
  auto frames = ua->session.take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0]["messageType"], "broadcast");
  EXPECT_TRUE(frames[0]["broadcasts"].is_object());
}

TEST_F(ProtocolTest, ClosesOnBadFrames) {
  const std::pair<std::string, std::uint16_t> cases[] = {
      {"not json", kCloseProtocolError},
      {"[1,2,3]", kCloseProtocolError},
      {R"({"uaid":"x"})", kCloseProtocolError},
      {R"({"messageType":"launch_missiles"})", kClosePolicyViolation},
      {R"({"messageType":"hello"})", kCloseProtocolError},  // second hello
      {R"({"messageType":"ack","updates":"none"})", kCloseProtocolError},
      {std::string(20000, ' ') + "{}", kClosePolicyViolation},
  };
  for (const auto& [frame, code] : cases) {
    auto ua = connect();
    EXPECT_FALSE(ua->send(frame)) << frame.substr(0, 40);
    EXPECT_TRUE(ua->session.closed) << frame.substr(0, 40);
    EXPECT_EQ(ua->session.close_code, code) << frame.substr(0, 40);
    EXPECT_FALSE(ua->session.close_reason.empty());
    EXPECT_FALSE(ua->send("{}")) << "a closed protocol ignores further frames";
  }
}

TEST_F(ProtocolTest, AnythingBeforeHelloClosesTheConnection) {
  Ua ua(*service_, clock_);
  EXPECT_FALSE(
      ua.send(std::string(R"({"messageType":"register","channelID":")") + kChannel + "\"}"));
  EXPECT_TRUE(ua.session.closed);
  EXPECT_EQ(ua.session.close_code, kCloseProtocolError);
  Ua pinger(*service_, clock_);
  EXPECT_FALSE(pinger.send("{}"));
  EXPECT_TRUE(pinger.session.closed);
}

TEST_F(ProtocolTest, ARegisterFloodClosesTheConnection) {
  ProtocolOptions options;
  options.registers_per_minute = 5;
  Ua ua(*service_, clock_, options);
  ua.send(R"({"messageType":"hello","use_webpush":true})");
  for (int i = 0; i < 5; ++i) {
    char channel[37];
    std::snprintf(channel, sizeof channel, "00000000-0000-4000-8000-%012d", i);
    EXPECT_TRUE(
        ua.send(std::string(R"({"messageType":"register","channelID":")") + channel + "\"}"));
  }
  EXPECT_FALSE(
      ua.send(R"({"messageType":"register","channelID":"00000000-0000-4000-8000-000000000099"})"));
  EXPECT_TRUE(ua.session.closed);
  EXPECT_EQ(ua.session.close_code, kClosePolicyViolation);

  // A well-behaved client gets a fresh allowance each minute.
  Ua patient(*service_, clock_, options);
  patient.send(R"({"messageType":"hello","use_webpush":true})");
  for (int minute = 0; minute < 3; ++minute) {
    for (int i = 0; i < 5; ++i) {
      char channel[37];
      std::snprintf(channel, sizeof channel, "00000000-0000-4000-8000-%06d%06d", minute, i);
      EXPECT_TRUE(patient.send(std::string(R"({"messageType":"register","channelID":")") + channel +
                               "\"}"));
    }
    clock_.advance(60);
  }
  EXPECT_FALSE(patient.session.closed);
}

TEST_F(ProtocolTest, ASecondConnectionForTheSameUaidReplacesTheFirst) {
  auto first = connect();
  const std::string uaid = first->protocol.uaid();
  register_channel(*first, kChannel);
  auto second = connect(uaid);
  EXPECT_TRUE(first->session.closed);
  EXPECT_EQ(first->session.close_code, kCloseReplaced);
  // The old connection going away must not unbind the new one.
  first->protocol.on_disconnect();
  EXPECT_EQ(service_->connected_user_agents(), 1u);
  EXPECT_FALSE(second->session.closed);
}

}  // namespace
}  // namespace flashwire::pushservice
