// http::Server on several threads: connections spread over the threads, each client gets its
// own answers, stop() reaches every thread, and a failing handler does not end the process.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"

namespace flashwire::http {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// Answers with the request's path; notes which threads it was called on. "/boom" throws.
class EchoHandler final : public Handler {
 public:
  Response handle(const Request& request, const RequestContext&) override {
    ++calls;
    {
      const std::lock_guard lock(mutex);
      threads.insert(std::this_thread::get_id());
    }
    if (request.target() == "/boom") throw std::runtime_error("handler failed");
    Response response(Status::ok, request.version());
    response.body() = std::string(request.target());
    if (request.target() == "/slow") {
      // Waits (at most 10 s) until the test lets it go, like a call to a slow service.
      slow_started = true;
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!released && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      response.body() += released ? " released" : " timed out";
    }
    return response;
  }
  bool blocks(const Request& request) const override { return request.target() == "/slow"; }
  std::size_t distinct_threads() {
    const std::lock_guard lock(mutex);
    return threads.size();
  }

  std::atomic<int> calls = 0;
  std::atomic<bool> slow_started = false;
  std::atomic<bool> released = false;
  std::mutex mutex;
  std::set<std::thread::id> threads;
};

class ServerThreadsTest : public ::testing::Test {
 protected:
  void start(unsigned threads) {
    ServerOptions options;
    options.threads = threads;
    server_ = std::make_unique<Server>(io_, handler_, options);
    auto bound = server_->listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ASSERT_TRUE(bound) << bound.error().message;
    endpoint_ = *bound;
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (!server_) return;
    asio::post(io_, [this] { server_->stop(); });
    server_->join(std::chrono::seconds(5));
    io_.stop();
    thread_.join();
  }
  // One request on `socket` (kept alive); the answer's body.
  static std::string get(tcp::socket& socket, const std::string& path) {
    bhttp::request<bhttp::empty_body> request(bhttp::verb::get, path, 11);
    request.set(bhttp::field::host, "x");
    bhttp::write(socket, request);
    boost::beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> response;
    bhttp::read(socket, buffer, response);
    return response.body();
  }

  asio::io_context io_;
  EchoHandler handler_;
  std::unique_ptr<Server> server_;
  tcp::endpoint endpoint_;
  std::thread thread_;
};

TEST_F(ServerThreadsTest, ManyConcurrentClientsOnFourThreadsEachGetTheirOwnAnswers) {
  start(4);
  constexpr int kClients = 16, kRequests = 40;
  std::atomic<int> wrong = 0, failed = 0;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      try {
        asio::io_context client_io;
        tcp::socket socket(client_io);
        socket.connect(endpoint_);
        for (int i = 0; i < kRequests; ++i) {
          const std::string path = "/client/" + std::to_string(c) + "/" + std::to_string(i);
          if (get(socket, path) != path) ++wrong;
        }
      } catch (const std::exception&) {
        ++failed;
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(wrong, 0) << "an answer went to the wrong client or request";
  EXPECT_EQ(handler_.calls, kClients * kRequests);
  // Round robin over the four io_contexts: 16 connections reach every one of them.
  EXPECT_EQ(handler_.distinct_threads(), 4u);
  EXPECT_EQ(server_->connections_accepted(), static_cast<std::uint64_t>(kClients));
}

TEST_F(ServerThreadsTest, ABlockingRequestDoesNotHoldUpTheOtherConnectionsOfItsThread) {
  start(1);  // one thread serves every connection: a blocking handle() there would stop them all
  std::string slow_answer, after_answer;
  std::thread slow_client([&] {
    asio::io_context client_io;
    tcp::socket socket(client_io);
    socket.connect(endpoint_);
    slow_answer = get(socket, "/slow");
    after_answer = get(socket, "/after");  // the connection stays usable afterwards
  });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!handler_.slow_started && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(handler_.slow_started);

  asio::io_context client_io;
  tcp::socket socket(client_io);
  socket.connect(endpoint_);
  EXPECT_EQ(get(socket, "/fast"), "/fast");
  EXPECT_FALSE(handler_.released) << "answered while /slow was still waiting";
  handler_.released = true;
  slow_client.join();
  EXPECT_EQ(slow_answer, "/slow released");
  EXPECT_EQ(after_answer, "/after");
}

TEST_F(ServerThreadsTest, StopClosesIdleConnectionsOnEveryThreadAndJoinEndsThem) {
  start(3);
  asio::io_context client_io;
  std::vector<tcp::socket> sockets;
  for (int i = 0; i < 3; ++i) {  // one per thread: each answered before the next connects
    sockets.emplace_back(client_io);
    sockets.back().connect(endpoint_);
    ASSERT_EQ(get(sockets.back(), "/hello"), "/hello");
  }
  EXPECT_EQ(handler_.distinct_threads(), 3u);
  asio::post(io_, [this] { server_->stop(); });
  for (auto& socket : sockets) {
    char byte = 0;
    boost::beast::error_code ec;
    socket.read_some(asio::buffer(&byte, 1), ec);  // the idle timeout is 30 s: only stop() closes
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
  }
  server_->join(std::chrono::seconds(30));  // returns once the threads have no work left
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!io_.stopped() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  EXPECT_TRUE(io_.stopped()) << "work left on the given io_context after stop()";
}

TEST_F(ServerThreadsTest, AHandlerThatThrowsOnAServerThreadDropsOnlyItsConnection) {
  start(2);
  asio::io_context client_io;
  tcp::socket first(client_io);
  first.connect(endpoint_);  // lane 0: the test's io_context thread
  ASSERT_EQ(get(first, "/one"), "/one");
  tcp::socket second(client_io);
  second.connect(endpoint_);  // lane 1: a thread of the server's own
  bhttp::request<bhttp::empty_body> request(bhttp::verb::get, "/boom", 11);
  request.set(bhttp::field::host, "x");
  bhttp::write(second, request);
  std::string rest;
  boost::beast::error_code ec;
  asio::read(second, asio::dynamic_buffer(rest), ec);
  EXPECT_EQ(ec, asio::error::eof) << "the failed request's connection is closed";
  EXPECT_TRUE(rest.empty());
  tcp::socket third(client_io);
  third.connect(endpoint_);  // lane 0 again, then lane 1: that thread still serves
  EXPECT_EQ(get(third, "/three"), "/three");
  tcp::socket fourth(client_io);
  fourth.connect(endpoint_);
  EXPECT_EQ(get(fourth, "/four"), "/four");
  EXPECT_EQ(get(first, "/again"), "/again");
}

TEST(ServerThreadsOptions, ListenRefusesAThreadCountOutOfRange) {
  for (const unsigned threads : {0u, ServerOptions::kMaxThreads + 1, 1'000'000u}) {
    asio::io_context io;
    EchoHandler handler;
    ServerOptions options;
    options.threads = threads;
    Server server(io, handler, options);
    const auto bound = server.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ASSERT_FALSE(bound) << threads;
    EXPECT_EQ(bound.error().code, ErrorCode::kInvalid);
    EXPECT_EQ(bound.error().message,
              "threads must be from 1 to 256, got " + std::to_string(threads));
  }
}

}  // namespace
}  // namespace flashwire::http
