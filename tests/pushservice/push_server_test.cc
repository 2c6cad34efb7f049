// The push service over real loopback sockets: a WebSocket user agent and an HTTP sender.
#include "pushservice/push_server.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <fstream>
#include <thread>

#include "test_support.h"
#include "webpush/base64url.h"
#include "webpush/message.h"
#include "webpush/vapid.h"
#include "ws_test_client.h"

namespace flashwire::pushservice {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

class PushServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flashwire-pushsrv-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto store = store::open_sqlite_push_store((dir_ / "push.sqlite").string());
    ASSERT_TRUE(store);
    PushServerOptions options;
    options.http.max_body_bytes = 4096;
    options.service.public_url = "";
    auto service = std::make_unique<PushService>(std::move(*store), testing::kTestEndpointKey,
                                                 system_clock(), options.service);
    service_ = service.get();
    server_ = std::make_unique<PushServer>(io_, std::move(service), options);
    auto bound = server_->listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ASSERT_TRUE(bound) << bound.error().message;
    port_ = bound->port();
    service_->set_public_url("http://127.0.0.1:" + std::to_string(port_));
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    asio::post(io_, [this] { server_->stop(); });
    // Let the sessions see their close, then stop the loop.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    io_.stop();
    thread_.join();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A synchronous WebSocket user agent.
  std::unique_ptr<websocket::stream<tcp::socket>> open_ua() {
    auto ws = std::make_unique<websocket::stream<tcp::socket>>(client_io_);
    tcp::endpoint target(asio::ip::make_address("127.0.0.1"), port_);
    ws->next_layer().connect(target);
    ws->set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
      request.set(bhttp::field::sec_websocket_protocol, "push-notification");
    }));
    websocket::response_type response;
    ws->handshake(response, "127.0.0.1", "/");
    EXPECT_EQ(response[bhttp::field::sec_websocket_protocol], "push-notification");
    return ws;
  }
  static json::object exchange(websocket::stream<tcp::socket>& ws, const std::string& frame) {
    ws.write(asio::buffer(frame));
    return read_frame(ws);
  }
  static json::object read_frame(websocket::stream<tcp::socket>& ws) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    return json::parse(beast::buffers_to_string(buffer.data())).as_object();
  }
  // Sends raw bytes over a new connection and returns the whole response text.
  std::string raw_http(const std::string& request) {
    tcp::socket socket(client_io_);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    asio::write(socket, asio::buffer(request));
    std::string response;
    beast::error_code ec;
    char chunk[4096];
    for (;;) {
      const std::size_t n = socket.read_some(asio::buffer(chunk), ec);
      if (ec) break;
      response.append(chunk, n);
    }
    return response;
  }
  bhttp::response<bhttp::string_body> post(
      const std::string& target, const std::string& body,
      const std::vector<std::pair<std::string, std::string>>& headers) {
    tcp::socket socket(client_io_);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    bhttp::request<bhttp::string_body> request(bhttp::verb::post, target, 11);
    request.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    bhttp::write(socket, request);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> response;
    bhttp::read(socket, buffer, response);
    return response;
  }

  std::filesystem::path dir_;
  asio::io_context io_;
  asio::io_context client_io_;
  std::unique_ptr<PushServer> server_;
  PushService* service_ = nullptr;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(PushServerTest, EndToEndOverLoopback) {
  const auto vapid = webpush::P256KeyPair::generate();
  const auto subscriber = webpush::P256KeyPair::generate();
  const webpush::AuthSecret auth{9, 8, 7, 6, 5, 4, 3, 2, 1};

  auto ua = open_ua();
  auto hello = exchange(*ua, R"({"messageType":"hello","broadcasts":{},"use_webpush":true})");
  EXPECT_EQ(hello["status"], 200);
  auto registered = exchange(
      *ua,
      R"({"channelID":"5bd7a2a6-3e5c-4b1f-9a0e-1c2d3e4f5a6b","messageType":"register","key":")" +
          vapid.public_key().to_base64url() + "=\"}");
  ASSERT_EQ(registered["status"], 200);
  const std::string endpoint(registered["pushEndpoint"].as_string());
  const std::string prefix = "http://127.0.0.1:" + std::to_string(port_);
  ASSERT_EQ(endpoint.rfind(prefix + "/wpush/", 0), 0u);

  webpush::MessageEncryptor encryptor;
  const auto body =
      encryptor.encrypt({subscriber.public_key(), auth}, webpush::as_bytes("Polls close at 10pm"));
  ASSERT_TRUE(body);
  const auto now = system_clock().now_seconds();
  const auto token =
      webpush::sign_vapid_token(vapid, {prefix, now + 600, "mailto:desk@news.example"}, now);
  ASSERT_TRUE(token);
  const auto response =
      post(endpoint.substr(prefix.size()), std::string(webpush::as_chars(*body)),
           {{"TTL", "60"},
            {"Content-Encoding", "aes128gcm"},
            {"Urgency", "high"},
            {"Authorization", webpush::format_vapid_authorization(*token, vapid.public_key())}});
  ASSERT_EQ(response.result(), bhttp::status::created) << response.body();

  auto notification = read_frame(*ua);
  EXPECT_EQ(notification["messageType"], "notification");
  auto data = webpush::base64url_decode(notification["data"].as_string());
  ASSERT_TRUE(data);
  auto plain = webpush::decrypt_message(subscriber, auth, *data);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(webpush::as_chars(*plain), "Polls close at 10pm");
  ua->write(asio::buffer(
      std::string(
          R"({"messageType":"ack","updates":[{"channelID":"5bd7a2a6-3e5c-4b1f-9a0e-1c2d3e4f5a6b","version":")") +
      std::string(notification["version"].as_string()) + R"(","code":100}]})"));
  EXPECT_EQ(exchange(*ua, "{}"), json::object());  // ping answered, after the ack was handled
  ua->close(websocket::close_code::normal);
}

TEST_F(PushServerTest, AnswersHealthAndMetrics) {
  const std::string health =
      raw_http("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  EXPECT_NE(health.find(R"({"status":"ok"})"), std::string::npos);
  const std::string metrics =
      raw_http("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(metrics.find("# TYPE flashwire_push_connections gauge"), std::string::npos) << metrics;
}

TEST_F(PushServerTest, RefusesGarbageAndOversizedRequestsButKeepsServing) {
  const std::string garbage = raw_http("HELLO THERE\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;
  EXPECT_NE(garbage.find("\"error\":\"bad_request\""), std::string::npos);

  const std::string big =
      raw_http("POST /wpush/x HTTP/1.1\r\nHost: x\r\nTTL: 60\r\nContent-Length: 5000\r\n\r\n" +
               std::string(5000, 'x'));
  EXPECT_EQ(big.rfind("HTTP/1.1 413", 0), 0u) << big;

  const std::string get = raw_http("GET /wpush/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(get.rfind("HTTP/1.1 405", 0), 0u) << get;
  const std::string unknown = raw_http(
      "POST /wpush/nonsense HTTP/1.1\r\nHost: x\r\nTTL: 1\r\nConnection: close\r\nContent-Length: "
      "0\r\n\r\n");
  EXPECT_EQ(unknown.rfind("HTTP/1.1 404", 0), 0u) << unknown;

  // A user agent that speaks nonsense is closed; another one is unaffected.
  auto good = open_ua();
  EXPECT_EQ(exchange(*good, R"({"messageType":"hello","use_webpush":true})")["status"], 200);
  auto bad = open_ua();
  bad->write(asio::buffer(std::string("this is not json")));
  beast::flat_buffer buffer;
  beast::error_code ec;
  bad->read(buffer, ec);
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(bad->reason().code, kCloseProtocolError);
  EXPECT_EQ(exchange(*good, "{}"), json::object());
}

// --- The WebSocket side on the wire (raw client: exact bytes in, close codes out) ------------

constexpr std::uint8_t kText = 0x1, kCont = 0x0, kPing = 0x9, kPong = 0xA, kClose = 0x8;

TEST_F(PushServerTest, RefusesBadUpgradesWithAStatusAndKeepsServing) {
  auto good = open_ua();
  EXPECT_EQ(exchange(*good, R"({"messageType":"hello","use_webpush":true})")["status"], 200);
  struct Case {
    const char* what;
    std::string headers;
    const char* status_line;
  };
  const std::vector<Case> cases = {
      {"missing key", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
       "HTTP/1.1 400 "},
      {"wrong version",
       "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 12\r\n"
       "Sec-WebSocket-Key: " +
           std::string(testing::kSampleKey) + "\r\n",
       "HTTP/1.1 426 "},
  };
  for (const auto& c : cases) {
    testing::RawWsClient client(port_);
    const std::string head = client.upgrade(c.headers);
    const std::string response = head + client.read_to_end();
    EXPECT_EQ(response.rfind(c.status_line, 0), 0u) << c.what << ": " << response;
    EXPECT_NE(response.find("\"error\":"), std::string::npos) << c.what;
    EXPECT_EQ(exchange(*good, "{}"), json::object()) << c.what;
  }
}

TEST_F(PushServerTest, ProtocolMistakesCloseWithTheirCodeOnTheWire) {
  auto good = open_ua();
  EXPECT_EQ(exchange(*good, R"({"messageType":"hello","use_webpush":true})")["status"], 200);
  const std::string hello = R"({"messageType":"hello","use_webpush":true})";
  struct Case {
    const char* what;
    std::string bytes;
    int code;
  };
  const std::vector<Case> cases = {
      {"garbage after the upgrade", "POST /wpush/x HTTP/1.1\r\n\r\n", ws::kCloseProtocolError},
      {"unmasked hello", testing::client_frame(kText, hello, {.masked = false}),
       ws::kCloseProtocolError},
      {"binary hello", testing::client_frame(0x2, hello), ws::kCloseProtocolError},
      {"frame over 16 KiB", testing::client_frame(kText, std::string(16 * 1024 + 1, ' ')),
       ws::kCloseMessageTooBig},
      {"invalid UTF-8", testing::client_frame(kText, "{\"messageType\":\"\xFF\"}"),
       ws::kCloseInvalidPayload},
      {"hello twice", testing::client_frame(kText, hello) + testing::client_frame(kText, hello),
       kCloseProtocolError},
  };
  for (const auto& c : cases) {
    testing::RawWsClient client(port_);
    ASSERT_EQ(client.upgrade().rfind("HTTP/1.1 101 ", 0), 0u) << c.what;
    client.send_raw(c.bytes);
    EXPECT_EQ(client.read_close_code(), c.code) << c.what;
    EXPECT_TRUE(client.ended()) << c.what;
    EXPECT_EQ(exchange(*good, "{}"), json::object()) << c.what;
  }
}

TEST_F(PushServerTest, FragmentedHelloWithAPingInBetween) {
  testing::RawWsClient client(port_);
  const std::string head = client.upgrade();
  ASSERT_EQ(head.rfind("HTTP/1.1 101 ", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nSec-WebSocket-Accept: " + std::string(testing::kSampleAccept)),
            std::string::npos);
  EXPECT_NE(head.find("\r\nSec-WebSocket-Protocol: push-notification\r\n"), std::string::npos);
  client.send_raw(testing::client_frame(kText, R"({"messageType":)", {.fin = false}) +
                  testing::client_frame(kPing, "are you there") +
                  testing::client_frame(kCont, R"("hello","use_webpush":true})"));
  const auto pong = client.read_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, kPong);
  EXPECT_EQ(pong->payload, "are you there");
  const auto reply = client.read_frame();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->opcode, kText);
  EXPECT_EQ(json::parse(reply->payload).as_object()["status"], 200);
  client.send_frame(kClose, testing::close_payload(1000));
  EXPECT_EQ(client.read_close_code(), 1000);  // echoed
  EXPECT_TRUE(client.ended());
}

TEST_F(PushServerTest, AClientVanishingMidFrameEndsOnlyItsSession) {
  auto good = open_ua();
  EXPECT_EQ(exchange(*good, R"({"messageType":"hello","use_webpush":true})")["status"], 200);
  auto connections = [this] {
    const std::string metrics =
        raw_http("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const std::string name = "\nflashwire_push_connections ";
    const std::size_t at = metrics.find(name);
    return at == std::string::npos ? -1 : std::stoi(metrics.substr(at + name.size()));
  };
  {
    testing::RawWsClient client(port_);
    ASSERT_EQ(client.upgrade().rfind("HTTP/1.1 101 ", 0), 0u);
    client.send_text(R"({"messageType":"hello","use_webpush":true})");
    ASSERT_TRUE(client.read_frame());
    const std::string frame = testing::client_frame(kText, std::string(300, ' '));
    client.send_raw(frame.substr(0, 150));
    EXPECT_EQ(connections(), 2);
    client.drop();
  }
  // The service sees the end when it next reads that socket; each /metrics request is another
  // turn of its loop.
  int open = connections();
  for (int turn = 0; turn < 10000 && open != 1; ++turn) open = connections();
  EXPECT_EQ(open, 1);
  EXPECT_EQ(exchange(*good, "{}"), json::object());
}

TEST_F(PushServerTest, ASecondConnectionForTheSameUaidReplacesTheFirst) {
  auto first = open_ua();
  auto hello = exchange(*first, R"({"messageType":"hello","use_webpush":true})");
  ASSERT_EQ(hello["status"], 200);
  const std::string uaid(hello["uaid"].as_string());
  // The uaid is only known to the store once it registers a channel.
  ASSERT_EQ(
      exchange(*first,
               R"({"messageType":"register","channelID":"5bd7a2a6-3e5c-4b1f-9a0e-1c2d3e4f5a6b"})")
          ["status"],
      200);
  auto second = open_ua();
  auto again = exchange(*second, R"({"messageType":"hello","uaid":")" + uaid + R"("})");
  EXPECT_EQ(again["uaid"].as_string(), uaid);
  beast::flat_buffer buffer;
  beast::error_code ec;
  first->read(buffer, ec);
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(first->reason().code, kCloseReplaced);
  EXPECT_EQ(exchange(*second, "{}"), json::object());
}

TEST_F(PushServerTest, StopClosesEverySessionWithGoingAway) {
  auto first = open_ua();
  auto second = open_ua();
  EXPECT_EQ(exchange(*first, R"({"messageType":"hello","use_webpush":true})")["status"], 200);
  asio::post(io_, [this] { server_->stop(); });
  for (auto* ua : {first.get(), second.get()}) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ua->read(buffer, ec);
    EXPECT_EQ(ec, websocket::error::closed);
    EXPECT_EQ(ua->reason().code, ws::kCloseGoingAway);
  }
}

TEST(HubOptions, SweepAboutEightTimesPerIdlePeriod) {
  auto five_minutes = ws::HubOptions::for_idle_timeout(std::chrono::seconds(300));
  EXPECT_EQ(five_minutes.sweep_interval, std::chrono::seconds(30));
  EXPECT_EQ(five_minutes.idle_sweeps, 10u);
  auto one_minute = ws::HubOptions::for_idle_timeout(std::chrono::seconds(60));
  EXPECT_EQ(one_minute.sweep_interval, std::chrono::milliseconds(7500));
  EXPECT_EQ(one_minute.idle_sweeps, 8u);
  auto one_second = ws::HubOptions::for_idle_timeout(std::chrono::seconds(1));
  EXPECT_EQ(one_second.sweep_interval, std::chrono::seconds(1));
  EXPECT_EQ(one_second.idle_sweeps, 1u);
}

TEST(EndpointKeyFile, IsCreatedPrivateAndReadBackTheSame) {
  char pattern[] = "/tmp/flashwire-key-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::filesystem::path dir = pattern;
  const auto created = load_or_create_endpoint_key(dir / "endpoint.key");
  ASSERT_TRUE(created) << created.error().message;
  struct stat info {};
  ASSERT_EQ(::stat((dir / "endpoint.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const auto again = load_or_create_endpoint_key(dir / "endpoint.key");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *created);

  std::ofstream(dir / "short.key") << "too short";
  const auto bad = load_or_create_endpoint_key(dir / "short.key");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalid);
  EXPECT_NE(bad.error().message.find("32 bytes"), std::string::npos);
  const auto missing_dir = load_or_create_endpoint_key(dir / "nope" / "endpoint.key");
  ASSERT_FALSE(missing_dir);
  EXPECT_EQ(missing_dir.error().code, ErrorCode::kUnavailable);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace flashwire::pushservice
