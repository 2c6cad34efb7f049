// The built-in HTTP/1.1 client against hand-written answers on loopback sockets: pipelining
// order, answers split anywhere, chunked and close-delimited bodies, interim answers,
// "Connection: close" with requests written behind it, garbage, unsolicited bytes, timeouts,
// refused connections and the connection cap. (The pipeline's outcome rules on top of it are
// tested in pipeline_test.cc, with every client.)
#include "fanout/http1_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace flashwire::fanout {
namespace {

using namespace std::chrono_literals;
using Completion = Http1Client::Completion;

// A loopback server that hands each accepted connection to `serve(fd, nth)` on its own thread
// (nth counts connections from 1). Plain sockets: the tests decide every byte.
class RawServer {
 public:
  using Serve = std::function<void(int fd, int nth)>;
  explicit RawServer(Serve serve) : serve_(std::move(serve)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] {
      for (int nth = 1;; ++nth) {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0 || stopping_) {
          if (fd >= 0) ::close(fd);
          return;
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        connections_ = nth;
        std::lock_guard lock(mutex_);
        workers_.emplace_back([this, fd, nth] {
          serve_(fd, nth);
          ::close(fd);
          std::lock_guard closed_lock(closed_mutex_);
          ++closed_;
          closed_cv_.notify_all();
        });
      }
    });
  }
  ~RawServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    std::lock_guard lock(mutex_);
    for (auto& w : workers_) w.join();
  }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }
  // Waits (at most 10 s) until `count` connections have been served and closed by this side.
  bool wait_closed(int count) {
    std::unique_lock lock(closed_mutex_);
    return closed_cv_.wait_for(lock, 10s, [&] { return closed_ >= count; });
  }

 private:
  Serve serve_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
  std::mutex closed_mutex_;
  std::condition_variable closed_cv_;
  int closed_ = 0;
};

// Reads from `fd` until `count` whole requests (head and Content-Length body) are in `buffer`,
// or the peer closes, or 10 s pass. Returns how many whole requests the buffer holds.
int read_requests(int fd, std::string& buffer, int count) {
  auto complete = [&buffer] {
    int n = 0;
    std::size_t at = 0;
    for (;;) {
      const auto end = buffer.find("\r\n\r\n", at);
      if (end == std::string::npos) return n;
      std::size_t length = 0;
      const auto cl = buffer.find("Content-Length: ", at);
      if (cl != std::string::npos && cl < end) length = std::stoul(buffer.substr(cl + 16));
      if (buffer.size() < end + 4 + length) return n;
      at = end + 4 + length;
      ++n;
    }
  };
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (complete() < count && std::chrono::steady_clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  return complete();
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Waits until the peer closes (or 10 s pass).
void wait_for_close(int fd) {
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char chunk[4096];
    if (::recv(fd, chunk, sizeof chunk, 0) <= 0) return;
  }
}

std::string request(const std::string& path) {
  const std::string body = "encrypted bytes for " + path;
  return "POST " + path +
         " HTTP/1.1\r\nHost: test\r\nTTL: 60\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

constexpr std::string_view k201 = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";

class Http1ClientTest : public ::testing::Test {
 protected:
  // Runs the client until `count` requests have completed (or 10 s pass); by tag.
  std::map<std::uint64_t, Completion> drive(Http1Client& client, std::size_t count) {
    std::vector<Completion> done;
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (done.size() < count && std::chrono::steady_clock::now() < give_up) {
      client.run(50, done);
    }
    std::map<std::uint64_t, Completion> by_tag;
    for (auto& c : done) {
      EXPECT_TRUE(by_tag.emplace(c.tag, c).second) << "tag " << c.tag << " completed twice";
    }
    EXPECT_EQ(done.size(), count);
    return by_tag;
  }

  static Http1Client::Options options(long connections, std::size_t depth) {
    Http1Client::Options o;
    o.connections_per_origin = connections;
    o.pipeline_depth = depth;
    o.request_timeout = 5000ms;
    o.connect_timeout = 2000ms;
    return o;
  }

  std::chrono::steady_clock::time_point now() const { return std::chrono::steady_clock::now(); }
};

TEST_F(Http1ClientTest, PipelinedRequestsGoOverOneConnectionAndAnswersMatchInOrder) {
  std::string seen;
  RawServer server([&seen](int fd, int) {
    std::string buffer;
    if (read_requests(fd, buffer, 4) != 4) return;
    seen = buffer;
    std::string answers;
    for (int status : {201, 429, 410, 500}) {
      answers += "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 2\r\n\r\nok";
    }
    send_all(fd, answers);
    wait_for_close(fd);
  });
  auto made = Http1Client::create(options(1, 4));
  ASSERT_TRUE(made) << made.error().message;
  Http1Client& client = **made;
  for (std::uint64_t tag = 1; tag <= 4; ++tag) {
    client.submit(tag, server.origin(), request("/push/" + std::to_string(tag)), now());
  }
  EXPECT_EQ(client.active(), 4u);
  auto done = drive(client, 4);
  ASSERT_EQ(done.size(), 4u);
  EXPECT_EQ(done[1].status, 201);
  EXPECT_EQ(done[2].status, 429);
  EXPECT_EQ(done[3].status, 410);
  EXPECT_EQ(done[4].status, 500);
  for (auto& [tag, c] : done) EXPECT_FALSE(c.failure) << tag;
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(client.active(), 0u);
  // Written in submit order, bytes exactly as given.
  EXPECT_EQ(seen,
            request("/push/1") + request("/push/2") + request("/push/3") + request("/push/4"));
}

TEST_F(Http1ClientTest, WithoutPipeliningEachConnectionCarriesOneRequestAtATime) {
  std::atomic<int> most_at_once{0};
  RawServer server([&most_at_once](int fd, int) {
    std::string buffer;
    for (int answered = 0;; ++answered) {
      if (read_requests(fd, buffer, answered + 1) != answered + 1) return;
      // Nothing more arrives before the answer: give a second request every chance to show up.
      std::this_thread::sleep_for(20ms);
      int now_complete = read_requests(fd, buffer, 0);
      most_at_once = std::max(most_at_once.load(), now_complete - answered);
      send_all(fd, k201);
    }
  });
  auto made = Http1Client::create(options(2, 1));
  ASSERT_TRUE(made) << made.error().message;
  Http1Client& client = **made;
  for (std::uint64_t tag = 1; tag <= 6; ++tag) {
    client.submit(tag, server.origin(), request("/push/" + std::to_string(tag)), now());
  }
  auto done = drive(client, 6);
  for (auto& [tag, c] : done) EXPECT_EQ(c.status, 201) << tag;
  EXPECT_EQ(server.connections(), 2);  // the cap, and connections are kept alive
  EXPECT_EQ(most_at_once.load(), 1);
}

TEST_F(Http1ClientTest, AnswersSplitAnywhereWithChunkedBodiesAndRetryAfterAreRead) {
  const std::string answer =
      "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nslow \r\n5\r\ndown!\r\n0\r\n\r\n" +
      std::string(k201);
  RawServer server([&answer](int fd, int) {
    std::string buffer;
    if (read_requests(fd, buffer, 2) != 2) return;
    for (char c : answer) {  // one byte per segment (TCP_NODELAY), small pauses between
      send_all(fd, std::string_view(&c, 1));
      std::this_thread::sleep_for(1ms);
    }
    wait_for_close(fd);
  });
  auto made = Http1Client::create(options(1, 2));
  ASSERT_TRUE(made) << made.error().message;
  Http1Client& client = **made;
  client.submit(1, server.origin(), request("/a"), now());
  client.submit(2, server.origin(), request("/b"), now());
  auto done = drive(client, 2);
  EXPECT_EQ(done[1].status, 429);
  EXPECT_EQ(done[1].retry_after, "7");
  EXPECT_EQ(done[2].status, 201);
  EXPECT_EQ(done[2].retry_after, "");
}

TEST_F(Http1ClientTest, InterimAnswersAreSkipped) {
  RawServer server([](int fd, int) {
    std::string buffer;
    if (read_requests(fd, buffer, 1) != 1) return;
    send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n" + std::string(k201));
    wait_for_close(fd);
  });
  auto made = Http1Client::create(options(1, 1));
  ASSERT_TRUE(made) << made.error().message;
  Http1Client& client = **made;
  client.submit(9, server.origin(), request("/a"), now());
  auto done = drive(client, 1);
  EXPECT_EQ(done[9].status, 201);
  EXPECT_FALSE(done[9].failure);
}

TEST_F(Http1ClientTest, ABodyThatEndsWithTheConnectionIsAnAnswer) {
  RawServer server([](int fd, int) {
    std::string buffer;
    if (read_requests(fd, buffer, 1) != 1) return;
    send_all(fd, "HTTP/1.1 400 Bad Request\r\n\r\n{\"error\":\"no TTL\"}");
    // returning closes the connection: the end of the body
  });
  auto made = Http1Client::create(options(1, 1));
  ASSERT_TRUE(made) << made.error().message;
  Http1Client& client = **made;
  client.submit(1, server.origin(), request("/a"), now());
  auto done = drive(client, 1);
  EXPECT_EQ(done[1].status, 400);
  EXPECT_FALSE(done[1].failure);
}

TEST_F(Http1ClientTest, ConnectionCloseSendsWhatWasWrittenBehindItAgainOnANewConnection) {
  std::atomic<int> first_connection_requests{0};
  RawServer server([&first_connection_requests](int fd, int nth) {
    std::string buffer;
    if (nth == 1) {
      // Wait for all three pipelined requests, answer only the first and close.
      first_connection_requests = read_requests(fd, buffer, 3);
      send_all(fd, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    for (int answered = 0; read_requests(fd, buffer, answered + 1) == answered + 1; ++answered) {
      send_all(fd, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
    }
  });
  auto made = Http1Client::create(options(1, 3));
  ASSERT_TRUE(made) << made.error().message;
  Http1Client& client = **made;
  for (std::uint64_t tag = 1; tag <= 3; ++tag)
    client.submit(tag, server.origin(), request("/x"), now());
  auto done = drive(client, 3);
  EXPECT_EQ(first_connection_requests.load(), 3);
  EXPECT_EQ(done[1].status, 201);
  EXPECT_EQ(done[2].status, 202);  // answered on the second connection
  EXPECT_EQ(done[3].status, 202);
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(Http1ClientTest, GarbageAndOversizedAnswersBreakTheRequest) {
  for (const std::string& bad :
       {std::string("SSH-2.0-OpenSSH_9.2\r\n\r\n"),
        std::string("HTTP/1.1 201 Created\r\nContent-Length: 100000\r\n\r\n") +
            std::string(2000, 'x'),
        std::string("HTTP/1.1 201 Created\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")}) {
    SCOPED_TRACE(bad.substr(0, 30));
    RawServer server([&bad](int fd, int) {
      std::string buffer;
      if (read_requests(fd, buffer, 1) != 1) return;
      send_all(fd, bad);
      wait_for_close(fd);
    });
    auto o = options(1, 1);
    o.max_response_bytes = 1024;
    auto made = Http1Client::create(o);
    ASSERT_TRUE(made) << made.error().message;
    Http1Client& client = **made;
    client.submit(1, server.origin(), request("/a"), now());
    auto done = drive(client, 1);
    ASSERT_TRUE(done[1].failure);
    EXPECT_EQ(*done[1].failure, TransportFailure::kBroken);
  }
}

TEST_F(Http1ClientTest, AnAnswerToNothingEndsThatConnectionButNotTheClient) {
  RawServer server([](int fd, int nth) {
    std::string buffer;
    if (read_requests(fd, buffer, 1) != 1) return;
    // The first connection answers twice; the second answer was asked for by nobody.
    send_all(fd, nth == 1 ? std::string(k201) + std::string(k201) : std::string(k201));
    wait_for_close(fd);
  });
  auto made = Http1Client::create(options(1, 1));
  ASSERT_TRUE(made) << made.error().message;
  Http1Client& client = **made;
  client.submit(1, server.origin(), request("/a"), now());
  auto first = drive(client, 1);
  EXPECT_EQ(first[1].status, 201);
  // Give the stray answer time to arrive and close the connection, then send again.
  std::vector<Completion> none;
  for (int i = 0; i < 5; ++i) client.run(20, none);
  EXPECT_TRUE(none.empty());
  client.submit(2, server.origin(), request("/b"), now());
  auto second = drive(client, 1);
  EXPECT_EQ(second[2].status, 201);
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(Http1ClientTest, AnIdleConnectionTheServiceClosedIsNotReused) {
  RawServer server([](int fd, int) {
    std::string buffer;
    if (read_requests(fd, buffer, 1) != 1) return;
    send_all(fd, k201);  // keep-alive by default, yet the service closes it soon after
  });
  auto o = options(1, 1);
  o.idle_check = 50ms;
  auto made = Http1Client::create(o);
  ASSERT_TRUE(made) << made.error().message;
  Http1Client& client = **made;
  client.submit(1, server.origin(), request("/a"), now());
  EXPECT_EQ(drive(client, 1)[1].status, 201);
  // The sender is busy elsewhere (no run()) while the service closes the idle connection; the
  // next request comes once the connection has been idle for idle_check (time is an input).
  ASSERT_TRUE(server.wait_closed(1)) << "the service did not close the connection";
  client.submit(2, server.origin(), request("/b"), now() + o.idle_check);
  auto second = drive(client, 1);
  EXPECT_FALSE(second[2].failure) << "written onto the closed connection";
  EXPECT_EQ(second[2].status, 201);
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(Http1ClientTest, AServiceThatNeverAnswersTimesOut) {
  RawServer server([](int fd, int) { wait_for_close(fd); });
  auto o = options(1, 1);
  o.request_timeout = 200ms;
  auto made = Http1Client::create(o);
  ASSERT_TRUE(made) << made.error().message;
  Http1Client& client = **made;
  client.submit(1, server.origin(), request("/a"), now());
  client.submit(2, server.origin(), request("/b"), now());  // waits in the queue meanwhile
  auto done = drive(client, 2);
  for (std::uint64_t tag : {1u, 2u}) {
    ASSERT_TRUE(done[tag].failure) << tag;
    EXPECT_EQ(*done[tag].failure, TransportFailure::kTimeout) << tag;
  }
}

TEST_F(Http1ClientTest, AResetBeforeTheAnswerBreaksTheRequest) {
  RawServer server([](int fd, int) {
    std::string buffer;
    if (read_requests(fd, buffer, 1) != 1) return;
    linger reset{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  });
  auto made = Http1Client::create(options(1, 1));
  ASSERT_TRUE(made) << made.error().message;
  Http1Client& client = **made;
  client.submit(1, server.origin(), request("/a"), now());
  auto done = drive(client, 1);
  ASSERT_TRUE(done[1].failure);
  EXPECT_EQ(*done[1].failure, TransportFailure::kBroken);
}

TEST_F(Http1ClientTest, RefusedAndUnusableOriginsFailToConnect) {
  // A port that was just free: nothing listens there.
  int port = 0;
  {
    RawServer probe([](int, int) {});
    port = std::stoi(probe.origin().substr(std::string("http://127.0.0.1:").size()));
  }
  auto made = Http1Client::create(options(2, 1));
  ASSERT_TRUE(made) << made.error().message;
  Http1Client& client = **made;
  client.submit(1, "http://127.0.0.1:" + std::to_string(port), request("/a"), now());
  client.submit(2, "http://[::1", request("/a"), now());  // not an origin
  auto done = drive(client, 2);
  for (std::uint64_t tag : {1u, 2u}) {
    ASSERT_TRUE(done[tag].failure) << tag;
    EXPECT_EQ(*done[tag].failure, TransportFailure::kConnect) << tag;
  }
  EXPECT_EQ(client.active(), 0u);
}

}  // namespace
}  // namespace flashwire::fanout
