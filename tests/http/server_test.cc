#include "http/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace flashwire::http {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// Answers by path: the responses the server must write exactly as Beast would.
Response make_response(std::string_view path) {
  if (path == "/page") {
    Response response(Status::ok, 11);
    response.set(bhttp::field::content_type, "text/html; charset=utf-8");
    response.set(bhttp::field::etag, "\"0123456789abcdef\"");
    response.set("Content-Security-Policy", "default-src 'self'");
    response.set("X-Custom", "");
    response.body() = "<!doctype html><p>hello</p>";
    return response;
  }
  if (path == "/reason") {
    Response response(static_cast<Status>(299), 11);
    response.reason("Fine Anyway");
    response.body() = "custom";
    return response;
  }
  if (path == "/not-modified") {
    Response response(Status::not_modified, 11);
    response.set(bhttp::field::etag, "\"0123456789abcdef\"");
    return response;
  }
  if (path == "/sized-head") {  // a handler answering HEAD the way the site does: size, no body
    Response response(Status::ok, 11);
    response.set(bhttp::field::content_type, "text/html; charset=utf-8");
    response.content_length(4894);
    return response;
  }
  if (path == "/large") {
    Response response(Status::ok, 11);
    response.body() = std::string(3 * 1024 * 1024, 'x');  // several partial writes
    return response;
  }
  return json_error(Status::not_found, "not_found", "no such path");
}

class PathHandler final : public Handler {
 public:
  Response handle(const Request& request, const RequestContext&) override {
    Response response = make_response(request.target());
    response.version(request.version());
    return response;
  }
  bool accepts_websocket(const Request&) const override { return false; }
  void start_websocket(boost::beast::tcp_stream stream, Request) override {
    boost::beast::error_code ignored;
    stream.socket().close(ignored);
  }
};

// What Beast's own serializer writes for `path`, after the server's finishing touches.
std::string beast_bytes(std::string_view path, unsigned version, bool keep_alive) {
  Response response = make_response(path);
  response.version(version);
  response.set(bhttp::field::server, "flashwire");
  response.keep_alive(keep_alive);
  response.prepare_payload();
  std::ostringstream out;
  out << response;
  return out.str();
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto bound = server_.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ASSERT_TRUE(bound) << bound.error().message;
    endpoint_ = *bound;
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    asio::post(io_, [this] { server_.stop(); });
    io_.stop();
    thread_.join();
  }

  tcp::socket connect() {
    tcp::socket socket(client_io_);
    socket.connect(endpoint_);
    return socket;
  }
  // Sends `request` on a new connection and reads until the server closes it.
  std::string exchange(std::string_view request) {
    tcp::socket socket = connect();
    asio::write(socket, asio::buffer(request));
    std::string response;
    boost::beast::error_code ec;
    asio::read(socket, asio::dynamic_buffer(response), ec);
    EXPECT_EQ(ec, asio::error::eof);
    return response;
  }

  asio::io_context io_;
  asio::io_context client_io_;
  PathHandler handler_;
  Server server_{io_, handler_};
  tcp::endpoint endpoint_;
  std::thread thread_;
};

TEST(ErrorAnswer, TakesItsStatusAndCodeFromTheOneMapping) {
  const struct {
    ErrorCode kind;
    Status status;
    const char* body;
  } cases[] = {
      {ErrorCode::kNotFound, Status::not_found, R"({"error":"not_found","message":"no slug x"})"},
      {ErrorCode::kConflict, Status::conflict, R"({"error":"conflict","message":"no slug x"})"},
      {ErrorCode::kInvalid, Status::bad_request, R"({"error":"invalid","message":"no slug x"})"},
      // An unavailable dependency never tells the client its detail.
      {ErrorCode::kUnavailable, Status::service_unavailable,
       R"({"error":"storage","message":"storage unavailable"})"},
  };
  for (const auto& c : cases) {
    const Response response = error_answer(c.kind, "no slug x");
    EXPECT_EQ(response.result(), c.status) << c.body;
    EXPECT_EQ(response.body(), c.body);
    EXPECT_EQ(response[boost::beast::http::field::content_type], "application/json");
  }
}

TEST_F(ServerTest, WritesResponsesByteForByteAsBeastDoes) {
  for (const std::string path : {"/page", "/reason", "/missing"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(exchange("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
              beast_bytes(path, 11, false));
    EXPECT_EQ(exchange("GET " + path + " HTTP/1.0\r\nHost: x\r\n\r\n"),
              beast_bytes(path, 10, false));
  }
}

TEST_F(ServerTest, KeepsConnectionsAliveAndWritesLargeBodiesWhole) {
  tcp::socket socket = connect();
  boost::beast::flat_buffer buffer;
  for (const std::string path : {"/page", "/large", "/page"}) {
    SCOPED_TRACE(path);
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    asio::write(socket, asio::buffer(request));
    bhttp::response<bhttp::string_body> response;
    bhttp::read(socket, buffer, response);
    EXPECT_EQ(response.result(), Status::ok);
    EXPECT_TRUE(response.keep_alive());
    EXPECT_EQ(response.body(), make_response(path).body());
    EXPECT_EQ(response[bhttp::field::server], "flashwire");
  }
}

// HTTP/1.1 pipelining (the fan-out's built-in client may pipeline to a push service): requests
// written back to back in one segment are answered one by one, in order.
TEST_F(ServerTest, AnswersPipelinedRequestsInOrder) {
  const std::string last = "GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string all =
      "GET /page HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /reason HTTP/1.1\r\nHost: x\r\n\r\n" +
      last;
  EXPECT_EQ(exchange(all), beast_bytes("/page", 11, true) + beast_bytes("/missing", 11, true) +
                               beast_bytes("/reason", 11, true) + beast_bytes("/page", 11, false));
}

// stop() closes an idle keep-alive connection at once (not at its 30-second idle timeout), and
// then the server holds no work: io_context::run returns by itself (how `serve` exits quickly).
TEST_F(ServerTest, StopClosesIdleConnectionsAndThenHoldsNoWork) {
  tcp::socket socket = connect();
  asio::write(socket, asio::buffer(std::string("GET /page HTTP/1.1\r\nHost: x\r\n\r\n")));
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  bhttp::read(socket, buffer, response);
  ASSERT_TRUE(response.keep_alive());

  const timeval limit{5, 0};  // far below the idle timeout: only stop() can close it in time
  ASSERT_EQ(setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit), 0);
  asio::post(io_, [this] { server_.stop(); });
  char byte = 0;
  boost::beast::error_code ec;
  socket.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();

  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!io_.stopped() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  EXPECT_TRUE(io_.stopped()) << "work left on the io_context after stop()";
}

TEST_F(ServerTest, FramesHeadAnd304AnswersWithoutABody) {
  // HEAD: the Content-Length a GET would carry, and not one byte of body.
  const std::string page = exchange("HEAD /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string get_page = beast_bytes("/page", 11, false);
  const std::string get_head = get_page.substr(0, get_page.find("\r\n\r\n") + 4);
  EXPECT_EQ(page, get_head) << "the GET's head, Content-Length included, and nothing after it";
  const std::string sized =
      exchange("HEAD /sized-head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(sized.find("Content-Length: 4894\r\n"), std::string::npos) << sized;
  EXPECT_TRUE(sized.ends_with("\r\n\r\n")) << sized;
  // 304: no Content-Length at all (0 would claim an empty representation).
  const std::string not_modified =
      exchange("GET /not-modified HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(not_modified.starts_with("HTTP/1.1 304 Not Modified\r\n")) << not_modified;
  EXPECT_EQ(not_modified.find("Content-Length"), std::string::npos) << not_modified;
  EXPECT_TRUE(not_modified.ends_with("\r\n\r\n")) << not_modified;
}

TEST_F(ServerTest, KeepsTheConnectionAfterAHeadAnswer) {
  tcp::socket socket = connect();
  boost::beast::flat_buffer buffer;
  asio::write(socket, asio::buffer(std::string("HEAD /page HTTP/1.1\r\nHost: x\r\n\r\n")));
  bhttp::response_parser<bhttp::string_body> head;
  head.skip(true);  // a HEAD answer has no body, whatever its Content-Length says
  bhttp::read(socket, buffer, head);
  EXPECT_EQ(head.get()[bhttp::field::content_length],
            std::to_string(make_response("/page").body().size()));
  asio::write(socket, asio::buffer(std::string("GET /page HTTP/1.1\r\nHost: x\r\n\r\n")));
  bhttp::response<bhttp::string_body> next;
  bhttp::read(socket, buffer, next);
  EXPECT_EQ(next.body(), make_response("/page").body()) << "the next answer is framed right";
}

// RFC 9112 §6.1/§6.3: framing a proxy might read differently is refused with one 400, and the
// connection is closed, so the body is never read as another request.
TEST_F(ServerTest, RefusesAmbiguousTransferEncodingAndCloses) {
  const std::string body = "5\r\nhello\r\n0\r\n\r\nGET /page HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<std::string> heads = {
      "POST /page HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
      "POST /page HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "POST /page HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "Transfer-Encoding: identity\r\n\r\n",
      "POST /page HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST /page HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "Content-Length: 30\r\n\r\n",
  };
  for (const std::string& head : heads) {
    const std::string response = exchange(head + body);
    EXPECT_TRUE(response.starts_with("HTTP/1.1 400 ") || response.starts_with("HTTP/1.0 400 "))
        << head << response;
    // One answer only: nothing after its Content-Length bytes, nothing read as a second request.
    const auto header_end = response.find("\r\n\r\n");
    const auto length_at = response.find("Content-Length: ");
    ASSERT_NE(header_end, std::string::npos) << response;
    ASSERT_NE(length_at, std::string::npos) << response;
    EXPECT_EQ(response.size(), header_end + 4 + std::stoul(response.substr(length_at + 16)))
        << head << response;
    EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  }
  // Plain chunked on HTTP/1.1 is fine.
  const std::string fine = exchange(
      "POST /page HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n"
      "\r\n5\r\nhello\r\n0\r\n\r\n");
  EXPECT_TRUE(fine.starts_with("HTTP/1.1 200 ")) << fine;
}

// Which address the handler is told a request comes from.
class AddressHandler final : public Handler {
 public:
  Response handle(const Request&, const RequestContext& context) override {
    Response response(Status::ok, 11);
    response.body() = context.remote_address + " " + context.peer_address;
    return response;
  }
  bool accepts_websocket(const Request&) const override { return false; }
  void start_websocket(boost::beast::tcp_stream, Request) override {}
};

TEST(ServerClientAddressTest, BelievesForwardingHeadersOnlyFromTrustedProxies) {
  for (const bool trusted : {false, true}) {
    asio::io_context io;
    AddressHandler handler;
    ServerOptions options;
    if (trusted) {
      options.trusted_proxies =
          TrustedProxies::parse({"127.0.0.1"}, ForwardedHeader::kXForwardedFor).value();
    }
    Server server(io, handler, options);
    const auto bound = server.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ASSERT_TRUE(bound) << bound.error().message;
    std::thread thread([&io] { io.run(); });
    asio::io_context client_io;
    tcp::socket socket(client_io);
    socket.connect(*bound);
    asio::write(socket, asio::buffer(std::string(
                            "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.1, "
                            "203.0.113.7\r\nConnection: close\r\n\r\n")));
    boost::beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> response;
    bhttp::read(socket, buffer, response);
    EXPECT_EQ(response.body(), trusted ? "203.0.113.7 127.0.0.1" : "127.0.0.1 127.0.0.1");
    asio::post(io, [&server] { server.stop(); });
    io.stop();
    thread.join();
  }
}

}  // namespace
}  // namespace flashwire::http
