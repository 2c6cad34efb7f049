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
    ASSERT_TRUE(bound) << bound.error();
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

TEST(EndpointKeyFile, IsCreatedPrivateAndReadBackTheSame) {
  char pattern[] = "/tmp/flashwire-key-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::filesystem::path dir = pattern;
  const auto created = load_or_create_endpoint_key(dir / "endpoint.key");
  ASSERT_TRUE(created) << created.error();
  struct stat info {};
  ASSERT_EQ(::stat((dir / "endpoint.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const auto again = load_or_create_endpoint_key(dir / "endpoint.key");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *created);

  std::ofstream(dir / "short.key") << "too short";
  const auto bad = load_or_create_endpoint_key(dir / "short.key");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("32 bytes"), std::string::npos);
  const auto missing_dir = load_or_create_endpoint_key(dir / "nope" / "endpoint.key");
  EXPECT_FALSE(missing_dir);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace flashwire::pushservice
