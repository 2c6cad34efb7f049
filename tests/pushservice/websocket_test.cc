// The WebSocket layer (pushservice/websocket.h): the frame parser and handshake checks as pure
// functions, then whole connections over loopback with an echo owner, a Hub whose keep-alive
// sweeps the test runs by hand, and a raw client that shows what goes over the wire.
#include "pushservice/websocket.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <variant>
#include <vector>

#include "ws_test_client.h"

namespace flashwire::pushservice::ws {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using pushservice::testing::client_frame;
using pushservice::testing::close_payload;
using pushservice::testing::FrameOptions;
using pushservice::testing::RawWsClient;
using tcp = asio::ip::tcp;

constexpr std::uint8_t kCont = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9,
                       kPong = 0xA;

// --- pure functions ---------------------------------------------------------------------------

TEST(Handshake, AcceptKeyIsTheRfcExample) {
  EXPECT_EQ(accept_key_for(pushservice::testing::kSampleKey), pushservice::testing::kSampleAccept);
}

TEST(FrameHeader, UsesTheShortestLength) {
  char header[10];
  ASSERT_EQ(encode_frame_header(Opcode::kText, 125, header), 2u);
  EXPECT_EQ(static_cast<unsigned char>(header[0]), 0x81);
  EXPECT_EQ(header[1], 125);
  ASSERT_EQ(encode_frame_header(Opcode::kText, 126, header), 4u);
  EXPECT_EQ(header[1], 126);
  EXPECT_EQ(static_cast<unsigned char>(header[2]), 0);
  EXPECT_EQ(static_cast<unsigned char>(header[3]), 126);
  ASSERT_EQ(encode_frame_header(Opcode::kClose, 70000, header), 10u);
  EXPECT_EQ(static_cast<unsigned char>(header[0]), 0x88);
  EXPECT_EQ(header[1], 127);
  EXPECT_EQ(static_cast<unsigned char>(header[7]), 0x01);  // 70000 = 0x011170
  EXPECT_EQ(static_cast<unsigned char>(header[8]), 0x11);
  EXPECT_EQ(static_cast<unsigned char>(header[9]), 0x70);
}

http::Request upgrade_request(std::vector<std::pair<std::string, std::string>> headers) {
  http::Request request(bhttp::verb::get, "/", 11);
  for (const auto& [name, value] : headers) request.set(name, value);
  return request;
}

TEST(Handshake, ChecksEveryRequiredHeader) {
  const std::vector<std::pair<std::string, std::string>> good = {
      {"Upgrade", "websocket"},
      {"Connection", "keep-alive, Upgrade"},
      {"Sec-WebSocket-Version", "13"},
      {"Sec-WebSocket-Key", std::string(pushservice::testing::kSampleKey)}};
  struct Case {
    const char* what;
    std::string header;
    std::string value;  // empty: header removed
    std::optional<http::Status> refusal;
  };
  const std::vector<Case> cases = {
      {"valid", "", "", std::nullopt},
      {"upgrade token in any case", "Upgrade", "WebSocket", std::nullopt},
      {"no Upgrade", "Upgrade", "", http::Status::bad_request},
      {"Upgrade to something else", "Upgrade", "h2c", http::Status::bad_request},
      {"no Connection: upgrade", "Connection", "keep-alive", http::Status::bad_request},
      {"no version", "Sec-WebSocket-Version", "", http::Status::bad_request},
      {"version 8", "Sec-WebSocket-Version", "8", http::Status::upgrade_required},
      {"no key", "Sec-WebSocket-Key", "", http::Status::bad_request},
      {"key of 15 bytes", "Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA", http::Status::bad_request},
      {"key not base64", "Sec-WebSocket-Key",
       "!!!!!!!!!!!!!!!!!!!!!!==", http::Status::bad_request},
  };
  for (const auto& c : cases) {
    auto headers = good;
    for (auto& [name, value] : headers) {
      if (name == c.header) value = c.value;
    }
    std::erase_if(headers, [](const auto& h) { return h.second.empty(); });
    const auto checked = check_upgrade(upgrade_request(headers), "push-notification");
    if (!c.refusal) {
      ASSERT_TRUE(checked) << c.what << ": " << checked.error().message;
      EXPECT_EQ(checked->accept_key, pushservice::testing::kSampleAccept);
    } else {
      ASSERT_FALSE(checked) << c.what;
      EXPECT_EQ(checked.error().status, *c.refusal) << c.what;
      EXPECT_FALSE(checked.error().message.empty());
    }
  }
  auto post = upgrade_request(good);
  post.method(bhttp::verb::post);
  EXPECT_FALSE(check_upgrade(post, ""));
}

TEST(Handshake, AgreesOnTheSubprotocolOnlyWhenOffered) {
  auto with_protocols = [](std::string offered) {
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Upgrade", "websocket"},
        {"Connection", "Upgrade"},
        {"Sec-WebSocket-Version", "13"},
        {"Sec-WebSocket-Key", std::string(pushservice::testing::kSampleKey)}};
    if (!offered.empty()) headers.emplace_back("Sec-WebSocket-Protocol", offered);
    const auto checked = check_upgrade(upgrade_request(headers), "push-notification");
    EXPECT_TRUE(checked);
    return checked && checked->subprotocol;
  };
  EXPECT_TRUE(with_protocols("push-notification"));
  EXPECT_TRUE(with_protocols("chat, push-notification"));
  EXPECT_FALSE(with_protocols(""));
  EXPECT_FALSE(with_protocols("chat"));
  EXPECT_FALSE(with_protocols("push-notification-v2"));
}

// --- FrameReader ------------------------------------------------------------------------------

struct Message {
  std::string text;
};
struct Ping {
  std::string payload;
};
struct Pong {
  std::string payload;
};
struct CloseFrame {
  std::optional<std::uint16_t> code;
  std::string reason;
};
struct Violation {
  std::uint16_t code;
};
using Event = std::variant<Message, Ping, Pong, CloseFrame, Violation>;

class RecordingSink final : public FrameSink {
 public:
  bool on_message(std::string_view text) override {
    events.push_back(Message{std::string(text)});
    return keep_going;
  }
  void on_ping(std::string_view payload) override { events.push_back(Ping{std::string(payload)}); }
  void on_pong(std::string_view payload) override { events.push_back(Pong{std::string(payload)}); }
  void on_close_frame(std::optional<std::uint16_t> code, std::string_view reason) override {
    events.push_back(CloseFrame{code, std::string(reason)});
  }
  void on_violation(std::uint16_t code, std::string_view) override {
    events.push_back(Violation{code});
  }
  std::vector<Event> events;
  bool keep_going = true;
};

// Feeds `bytes` in pieces of `piece` bytes (as separate reads would); stops when the reader does.
bool feed_in_pieces(FrameReader& reader, RecordingSink& sink, std::string bytes, std::size_t piece,
                    std::size_t max_message_bytes = 1 << 20) {
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    const std::size_t n = std::min(piece, bytes.size() - at);
    if (!reader.feed(std::span<char>(bytes.data() + at, n), max_message_bytes, sink)) return false;
  }
  return true;
}

std::vector<std::string> messages(const RecordingSink& sink) {
  std::vector<std::string> out;
  for (const auto& e : sink.events) {
    if (const auto* m = std::get_if<Message>(&e)) out.push_back(m->text);
  }
  return out;
}

std::optional<std::uint16_t> violation_code(const RecordingSink& sink) {
  for (const auto& e : sink.events) {
    if (const auto* v = std::get_if<Violation>(&e)) return v->code;
  }
  return std::nullopt;
}

TEST(FrameReader, ParsesLengthsOfEveryWidthFedWholeOrByteByByte) {
  const std::string small = R"({"messageType":"hello"})";
  const std::string medium(300, 'm');   // 16-bit length
  const std::string large(70000, 'L');  // 64-bit length
  const std::string all = client_frame(kText, small) + client_frame(kText, medium) +
                          client_frame(kText, large) +
                          client_frame(kText, "forced 64-bit", {}, 8);  // longer than needed
  for (const std::size_t piece : {all.size(), std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
    FrameReader reader;
    RecordingSink sink;
    ASSERT_TRUE(feed_in_pieces(reader, sink, all, piece)) << "piece " << piece;
    EXPECT_EQ(messages(sink), (std::vector<std::string>{small, medium, large, "forced 64-bit"}))
        << "piece " << piece;
    EXPECT_EQ(sink.events.size(), 4u);
    EXPECT_TRUE(reader.empty());
  }
}

TEST(FrameReader, KeepsAnIncompleteFrameUntilTheRestArrives) {
  const std::string frame = client_frame(kText, "ack");
  FrameReader reader;
  RecordingSink sink;
  ASSERT_TRUE(feed_in_pieces(reader, sink, frame.substr(0, 4), 4));
  EXPECT_TRUE(sink.events.empty());
  EXPECT_FALSE(reader.empty());
  ASSERT_TRUE(feed_in_pieces(reader, sink, frame.substr(4), 100));
  EXPECT_EQ(messages(sink), std::vector<std::string>{"ack"});
  EXPECT_TRUE(reader.empty());
}

TEST(FrameReader, ReassemblesFragmentsWithControlFramesBetween) {
  const std::string bytes = client_frame(kText, R"({"message)", {.fin = false}) +
                            client_frame(kPing, "are you there") +
                            client_frame(kCont, R"(Type":)", {.fin = false}) +
                            client_frame(kPong, "") + client_frame(kCont, R"("hello"})");
  for (const std::size_t piece : {bytes.size(), std::size_t{1}}) {
    FrameReader reader;
    RecordingSink sink;
    ASSERT_TRUE(feed_in_pieces(reader, sink, bytes, piece));
    ASSERT_EQ(sink.events.size(), 3u);
    ASSERT_TRUE(std::holds_alternative<Ping>(sink.events[0]));
    EXPECT_EQ(std::get<Ping>(sink.events[0]).payload, "are you there");
    EXPECT_TRUE(std::holds_alternative<Pong>(sink.events[1]));
    ASSERT_TRUE(std::holds_alternative<Message>(sink.events[2]));
    EXPECT_EQ(std::get<Message>(sink.events[2]).text, R"({"messageType":"hello"})");
    EXPECT_TRUE(reader.empty());
  }
}

TEST(FrameReader, AcceptsACharacterSplitAcrossFragments) {
  FrameReader reader;
  RecordingSink sink;
  ASSERT_TRUE(feed_in_pieces(
      reader, sink, client_frame(kText, "caf\xC3", {.fin = false}) + client_frame(kCont, "\xA9"),
      1));
  EXPECT_EQ(messages(sink), std::vector<std::string>{"caf\xC3\xA9"});
}

TEST(FrameReader, ReportsCloseFrames) {
  {
    FrameReader reader;
    RecordingSink sink;
    EXPECT_FALSE(feed_in_pieces(
        reader, sink,
        client_frame(kClose, close_payload(1000, "bye")) + client_frame(kText, "after the close"),
        1));
    ASSERT_EQ(sink.events.size(), 1u);  // nothing is parsed after a close frame
    const auto& close = std::get<CloseFrame>(sink.events[0]);
    EXPECT_EQ(close.code, 1000);
    EXPECT_EQ(close.reason, "bye");
  }
  {
    FrameReader reader;
    RecordingSink sink;
    EXPECT_FALSE(feed_in_pieces(reader, sink, client_frame(kClose, ""), 100));
    ASSERT_EQ(sink.events.size(), 1u);
    EXPECT_FALSE(std::get<CloseFrame>(sink.events[0]).code.has_value());
  }
}

TEST(FrameReader, RefusesWhatRfc6455Forbids) {
  struct Case {
    const char* what;
    std::string bytes;
    std::uint16_t code;
  };
  std::string top_bit_length = client_frame(kText, "x", {}, 8);
  top_bit_length[2] = static_cast<char>(0x80);
  const std::vector<Case> cases = {
      {"unmasked frame", client_frame(kText, "{}", {.masked = false}), kCloseProtocolError},
      {"reserved bit 1", client_frame(kText, "{}", {.rsv = 4}), kCloseProtocolError},
      {"reserved bit 3", client_frame(kText, "{}", {.rsv = 1}), kCloseProtocolError},
      {"opcode 3", client_frame(0x3, "{}"), kCloseProtocolError},
      {"opcode 0xB", client_frame(0xB, ""), kCloseProtocolError},
      {"binary message", client_frame(kBinary, "\x01\x02"), kCloseProtocolError},
      {"fragmented ping", client_frame(kPing, "p", {.fin = false}), kCloseProtocolError},
      {"126-byte ping", client_frame(kPing, std::string(126, 'p')), kCloseProtocolError},
      {"continuation first", client_frame(kCont, "x"), kCloseProtocolError},
      {"text inside a fragmented text",
       client_frame(kText, "a", {.fin = false}) + client_frame(kText, "b"), kCloseProtocolError},
      {"64-bit length with the top bit", top_bit_length, kCloseProtocolError},
      {"close with one byte", client_frame(kClose, "\x03"), kCloseProtocolError},
      {"close code 1005", client_frame(kClose, close_payload(1005)), kCloseProtocolError},
      {"close code 999", client_frame(kClose, close_payload(999)), kCloseProtocolError},
      {"close code 5000", client_frame(kClose, close_payload(5000)), kCloseProtocolError},
      {"close reason not UTF-8", client_frame(kClose, close_payload(1000, "\xFF")),
       kCloseInvalidPayload},
      {"text not UTF-8", client_frame(kText, "bad \xC0\xAF"), kCloseInvalidPayload},
      {"fragments not UTF-8",
       client_frame(kText, "ok", {.fin = false}) + client_frame(kCont, "\xED\xA0\x80"),
       kCloseInvalidPayload},
      {"message over the limit", client_frame(kText, std::string(1025, 'x')), kCloseMessageTooBig},
      {"fragments over the limit",
       client_frame(kText, std::string(600, 'x'), {.fin = false}) +
           client_frame(kCont, std::string(600, 'y')),
       kCloseMessageTooBig},
  };
  for (const auto& c : cases) {
    for (const std::size_t piece : {c.bytes.size(), std::size_t{1}}) {
      FrameReader reader;
      RecordingSink sink;
      // Followed by a valid frame: nothing after a violation may be reported.
      EXPECT_FALSE(feed_in_pieces(reader, sink, c.bytes + client_frame(kText, "{}"), piece, 1024))
          << c.what;
      EXPECT_EQ(violation_code(sink), c.code) << c.what << ", piece " << piece;
      EXPECT_TRUE(messages(sink).empty()) << c.what;
      EXPECT_FALSE(reader.feed(std::span<char>(), 1024, sink)) << c.what;
    }
  }
}

TEST(FrameReader, RefusesAnOversizedFrameFromItsHeaderAlone) {
  FrameReader reader;
  RecordingSink sink;
  std::string header = client_frame(kText, std::string(5000, 'x')).substr(0, 4);  // 16-bit length
  EXPECT_FALSE(feed_in_pieces(reader, sink, header, 100, 1024));
  EXPECT_EQ(violation_code(sink), kCloseMessageTooBig);
}

TEST(FrameReader, StopsWhenTheSinkSaysSo) {
  FrameReader reader;
  RecordingSink sink;
  sink.keep_going = false;
  EXPECT_FALSE(
      feed_in_pieces(reader, sink, client_frame(kText, "one") + client_frame(kText, "two"), 100));
  EXPECT_EQ(messages(sink), std::vector<std::string>{"one"});
}

// --- connections over loopback ----------------------------------------------------------------

// What the echo connections did, counted on the server's thread and awaited by the test's.
class Counters {
 public:
  void add(int Counters::*counter) {
    {
      std::lock_guard lock(mutex_);
      ++(this->*counter);
    }
    changed_.notify_all();
  }
  int get(int Counters::*counter) {
    std::lock_guard lock(mutex_);
    return this->*counter;
  }
  // Blocks until `counter` reaches `value` (no deadline: ctest's timeout bounds a hang).
  void wait_for(int Counters::*counter, int value) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return this->*counter >= value; });
  }
  int opened = 0;
  int closed = 0;
  int flooded = 0;

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
};

// Echoes every text message; "close" makes it close with 4001; "flood" makes it send 16 MiB at
// once, more than the kernel and its outbox together take.
class EchoConnection final : public Connection {
 public:
  EchoConnection(std::shared_ptr<Hub> hub, tcp::socket socket, Counters& counters)
      : Connection(std::move(hub), std::move(socket)), counters_(counters) {}

 private:
  void on_open() override { counters_.add(&Counters::opened); }
  bool on_text(std::string_view text) override {
    if (text == "close") {
      send_close(4001, "asked to");
      return false;
    }
    if (text == "flood") {
      const std::string chunk(4096, 'f');
      for (int i = 0; i < 4096; ++i) send_text(chunk);
      counters_.add(&Counters::flooded);
      return true;
    }
    send_text(text);
    return true;
  }
  void on_closed() override { counters_.add(&Counters::closed); }

  Counters& counters_;
};

class EchoHandler final : public http::Handler {
 public:
  EchoHandler(std::shared_ptr<Hub> hub, Counters& counters)
      : hub_(std::move(hub)), counters_(counters) {}
  http::Response handle(const http::Request&, const http::RequestContext&) override {
    return http::json_error(http::Status::not_found, "not_found", "WebSocket only");
  }
  bool accepts_websocket(const http::Request&) const override { return true; }
  void start_websocket(boost::beast::tcp_stream stream, http::Request request) override {
    std::make_shared<EchoConnection>(hub_, stream.release_socket(), counters_)->accept(request);
  }

 private:
  std::shared_ptr<Hub> hub_;
  Counters& counters_;
};

class WebSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HubOptions options;
    options.max_message_bytes = 1024;
    options.max_outbox_bytes = 64 * 1024;
    options.sweep_interval = std::chrono::milliseconds(0);  // the test sweeps
    options.idle_sweeps = 1;
    options.subprotocol = "push-notification";
    hub_ = Hub::create(io_, options);
    handler_ = std::make_unique<EchoHandler>(hub_, counters_);
    server_ = std::make_unique<http::Server>(io_, *handler_);
    auto bound = server_->listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ASSERT_TRUE(bound) << bound.error().message;
    port_ = bound->port();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    on_io([this] {
      server_->stop();
      hub_->stop(kCloseGoingAway, "test over");
    });
    io_.stop();
    thread_.join();
  }
  // Runs `f` on the server's thread and waits for it.
  template <typename F>
  std::invoke_result_t<F> on_io(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }
  std::size_t hub_size() {
    return on_io([this] { return hub_->size(); });
  }
  std::unique_ptr<RawWsClient> open_client() {
    auto client = std::make_unique<RawWsClient>(port_);
    const std::string head = client->upgrade();
    EXPECT_EQ(head.rfind("HTTP/1.1 101 ", 0), 0u) << head;
    return client;
  }
  static void expect_echo(RawWsClient& client, const std::string& text) {
    client.send_text(text);
    const auto frame = client.read_frame();
    ASSERT_TRUE(frame) << text;
    EXPECT_EQ(frame->opcode, kText);
    EXPECT_TRUE(frame->fin);
    EXPECT_FALSE(frame->masked);
    EXPECT_EQ(frame->payload, text);
  }

  asio::io_context io_;
  Counters counters_;
  std::shared_ptr<Hub> hub_;
  std::unique_ptr<EchoHandler> handler_;
  std::unique_ptr<http::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(WebSocketTest, HandshakeAnswersWithTheAcceptKeyAndSubprotocol) {
  RawWsClient client(port_);
  const std::string head = client.upgrade();
  EXPECT_EQ(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nSec-WebSocket-Accept: " + std::string(testing::kSampleAccept) + "\r\n"),
            std::string::npos)
      << head;
  EXPECT_NE(head.find("\r\nSec-WebSocket-Protocol: push-notification\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nServer: flashwire\r\n"), std::string::npos);
  expect_echo(client, "hello");
  expect_echo(client, std::string(1024, 'x'));  // exactly the limit
  expect_echo(client, std::string(200, 'y'));   // a 16-bit length in the answer
}

TEST_F(WebSocketTest, RefusedUpgradesGetAStatusAndOthersKeepWorking) {
  auto good = open_client();
  struct Case {
    const char* what;
    std::string headers;
    const char* status_line;
  };
  const std::string key = "Sec-WebSocket-Key: " + std::string(testing::kSampleKey) + "\r\n";
  const std::vector<Case> cases = {
      {"missing key", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
       "HTTP/1.1 400 "},
      {"wrong version",
       "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n" + key,
       "HTTP/1.1 426 "},
      {"short key",
       "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
       "Sec-WebSocket-Key: c2hvcnQ=\r\n",
       "HTTP/1.1 400 "},
  };
  for (const auto& c : cases) {
    RawWsClient client(port_);
    const std::string head = client.upgrade(c.headers);
    const std::string response = head + client.read_to_end();  // JSON body, then closed
    EXPECT_EQ(response.rfind(c.status_line, 0), 0u) << c.what << ": " << response;
    EXPECT_NE(response.find("\r\n\r\n{\"error\":"), std::string::npos) << c.what;
    EXPECT_NE(response.find("\r\nServer: flashwire\r\n"), std::string::npos) << c.what;
    if (std::string_view(c.status_line) == "HTTP/1.1 426 ") {
      EXPECT_NE(response.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos);
    }
    expect_echo(*good, c.what);
  }
  EXPECT_EQ(counters_.get(&Counters::opened), 1);  // refusals never open
}

TEST_F(WebSocketTest, ClientMistakesCloseWithTheirCodeOnTheWire) {
  auto good = open_client();
  struct Case {
    const char* what;
    std::string bytes;
    int code;
  };
  const std::vector<Case> cases = {
      {"garbage after the upgrade", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", kCloseProtocolError},
      {"unmasked frame", client_frame(kText, "hi", {.masked = false}), kCloseProtocolError},
      {"binary frame", client_frame(kBinary, "\x01"), kCloseProtocolError},
      {"reserved bit", client_frame(kText, "hi", {.rsv = 2}), kCloseProtocolError},
      {"message too big", client_frame(kText, std::string(1025, 'x')), kCloseMessageTooBig},
      {"invalid UTF-8", client_frame(kText, "\xC3\x28"), kCloseInvalidPayload},
  };
  for (const auto& c : cases) {
    auto client = open_client();
    client->send_raw(c.bytes);
    EXPECT_EQ(client->read_close_code(), c.code) << c.what;
    EXPECT_TRUE(client->ended()) << c.what;  // the server ends the connection after its close
    expect_echo(*good, c.what);
  }
  EXPECT_EQ(counters_.get(&Counters::closed), static_cast<int>(cases.size()));
}

TEST_F(WebSocketTest, AnswersPingsAndEchoesTheCloseCode) {
  auto client = open_client();
  client->send_frame(kPing, "ping payload");
  auto pong = client->read_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, kPong);
  EXPECT_EQ(pong->payload, "ping payload");

  // A fragmented message with a ping between its fragments.
  client->send_raw(client_frame(kText, "frag", {.fin = false}) + client_frame(kPing, "p") +
                   client_frame(kCont, "mented"));
  pong = client->read_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, kPong);
  const auto echo = client->read_frame();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->payload, "fragmented");

  client->send_frame(kClose, close_payload(3005, "going"));
  EXPECT_EQ(client->read_close_code(), 3005);
  EXPECT_TRUE(client->ended());
  counters_.wait_for(&Counters::closed, 1);
}

TEST_F(WebSocketTest, OwnerClosesWithItsCode) {
  auto client = open_client();
  client->send_text("close");
  const auto frame = client->read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->close_code(), 4001);
  EXPECT_EQ(frame->payload.substr(2), "asked to");
  counters_.wait_for(&Counters::closed, 1);         // once the close frame is written
  client->send_frame(kClose, close_payload(4001));  // the client's answer
  EXPECT_TRUE(client->ended());
}

TEST_F(WebSocketTest, ClientVanishingMidFrameEndsOnlyItsConnection) {
  auto good = open_client();
  auto client = open_client();
  const std::string frame = client_frame(kText, std::string(500, 'x'));
  client->send_raw(frame.substr(0, 100));  // the header and part of the payload
  client->drop();
  counters_.wait_for(&Counters::closed, 1);
  EXPECT_EQ(hub_size(), 1u);
  expect_echo(*good, "still here");
}

TEST_F(WebSocketTest, KeepAlivePingsSilentClientsAndDropsUnansweredOnes) {
  auto answering = open_client();
  auto silent = open_client();
  on_io([this] { hub_->sweep(); });  // both silent for a sweep: pinged
  auto ping = answering->read_frame();
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->opcode, kPing);
  ping = silent->read_frame();
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->opcode, kPing);

  answering->send_frame(kPong, "");
  expect_echo(*answering, "the pong was read before this");
  // The silent one has sent nothing for two sweeps: dropped. The answering one was heard from
  // one sweep ago: pinged again.
  on_io([this] { hub_->sweep(); });
  EXPECT_TRUE(silent->ended());
  EXPECT_EQ(counters_.get(&Counters::closed), 1);
  EXPECT_EQ(hub_size(), 1u);
  ping = answering->read_frame();
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->opcode, kPing);
  answering->send_frame(kPong, "");
  expect_echo(*answering, "alive");
}

TEST_F(WebSocketTest, ClosingConnectionsThatNeverFinishAreDropped) {
  auto client = open_client();
  client->send_text("close");
  EXPECT_EQ(client->read_close_code(), 4001);  // and it neither answers nor closes
  counters_.wait_for(&Counters::closed, 1);
  EXPECT_EQ(hub_size(), 1u);  // still waiting for the client to close
  on_io([this] { hub_->sweep(); });
  on_io([this] { hub_->sweep(); });
  EXPECT_TRUE(client->ended());
  EXPECT_EQ(hub_size(), 0u);
}

TEST_F(WebSocketTest, AClientThatDoesNotReadIsClosedInsteadOfBuffered) {
  // 16 MiB offered at once: more than the kernel's socket buffers take (at most 4 MiB to send
  // and what the client's receive window allows) and the 64 KiB outbox together.
  auto client = open_client();
  client->send_text("flood");
  counters_.wait_for(&Counters::flooded, 1);
  // What the kernel took arrives, then the close: the rest was dropped, not queued.
  EXPECT_EQ(client->read_close_code(4096), kClosePolicyViolation);
  EXPECT_TRUE(client->ended());
}

TEST_F(WebSocketTest, StopClosesEveryConnectionAndRefusesNewOnes) {
  auto first = open_client();
  auto second = open_client();
  on_io([this] { hub_->stop(kCloseGoingAway, "server shutting down"); });
  EXPECT_EQ(first->read_close_code(), kCloseGoingAway);
  EXPECT_EQ(second->read_close_code(), kCloseGoingAway);
  RawWsClient late(port_);  // the HTTP server still listens; the hub refuses
  EXPECT_EQ(late.upgrade().rfind("HTTP/1.1 503 ", 0), 0u);
}

}  // namespace
}  // namespace flashwire::pushservice::ws
