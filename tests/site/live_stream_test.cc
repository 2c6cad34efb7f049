// Live events over real loopback sockets: the HTTP server, through a router wired as
// `flashwire serve` wires it, hands GET /live/<slug>/events to the site handler, whose LiveStream
// keeps the connection and streams updates posted through the newsroom API. The server runs on its
// own thread; the test is the client, with every wait bounded by a deadline.
#include "http/live_stream.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include "http/router.h"
#include "news/alert_queue.h"
#include "newsroom/api_tokens.h"
#include "newsroom/newsroom_api.h"
#include "site/site_handler.h"
#include "store/serialized_site_store.h"
#include "store/sqlite/sqlite_site_store.h"

namespace flashwire::site {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kDeadline = 5s;  // the most any single wait in these tests may take

TEST(FormatLiveEvent, IsOneEventWithIdTypeAndOneLineOfJson) {
  const std::string frame = format_live_event({42, 1741788300, "<p>a\nb \"c\"</p>\n"});
  EXPECT_EQ(frame,
            "id: 42\nevent: update\ndata: "
            R"({"id":42,"at":1741788300,"html":"<p>a\nb \"c\"</p>\n"})"
            "\n\n");
}

// One client connection, read with poll() so that no read can hang a test.
class Client {
 public:
  Client(asio::io_context& io, std::uint16_t port, int receive_buffer = 0) : socket_(io) {
    socket_.open(tcp::v4());
    if (receive_buffer > 0)
      socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void send(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // Reads until `needle` has arrived (true) or the deadline passes or the connection ends.
  bool read_until(std::string_view needle, std::chrono::milliseconds within = kDeadline) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (received_.find(needle, consumed_) == std::string::npos) {
      if (!read_some(until)) return false;
    }
    return true;
  }
  // Reads until the server closes the connection (true) or the deadline passes (false).
  bool read_to_end(std::chrono::milliseconds within = kDeadline) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (!closed_) {
      if (!read_some(until) && !closed_) return false;
    }
    return true;
  }
  // Forgets what was received so far (long streams would otherwise be searched from the start).
  void forget() {
    received_.clear();
    consumed_ = 0;
  }
  // The next complete event (up to a blank line) after what was taken before; "" if none came.
  std::string next_event(std::chrono::milliseconds within = kDeadline) {
    if (!read_until("\n\n", within)) return {};
    const std::size_t end = received_.find("\n\n", consumed_) + 2;
    std::string event = received_.substr(consumed_, end - consumed_);
    consumed_ = end;
    return event;
  }
  // Takes the response head ("HTTP/1.1 …\r\n\r\n").
  std::string head() {
    if (!read_until("\r\n\r\n")) return {};
    const std::size_t end = received_.find("\r\n\r\n") + 4;
    consumed_ = end;
    return received_.substr(0, end);
  }
  const std::string& received() const { return received_; }
  bool closed() const { return closed_; }
  // Closed by the server with a FIN (end of file), not a reset.
  bool closed_cleanly() const { return closed_ && close_error_ == asio::error::eof; }
  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  bool read_some(std::chrono::steady_clock::time_point until) {
    if (closed_) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{socket_.native_handle(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[16 * 1024];
    boost::system::error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(chunk), ec);
    if (ec) {
      closed_ = true;
      close_error_ = ec;
      return false;
    }
    received_.append(chunk, n);
    return true;
  }

  tcp::socket socket_;
  std::string received_;
  std::size_t consumed_ = 0;
  bool closed_ = false;
  boost::system::error_code close_error_;
};

class LiveStreamSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flashwire-live-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    store_ = std::move(store::open_sqlite_site_store((dir_ / "site.sqlite").string()).value());
    store::Article event;
    event.slug = "storm-live";
    event.category = store::Category::kLive;
    event.headline = "Storm: live";
    event.body_markdown = "The storm is coming.";
    event.published = true;
    event.published_at = event.updated_at = 1'800'000'000;
    event_id_ = store_->create_article(event).value();
    event.slug = "vote-live";
    event.published = false;
    ASSERT_TRUE(store_->create_article(event));
    event.slug = "plain-news";
    event.category = store::Category::kBreaking;
    event.published = true;
    ASSERT_TRUE(store_->create_article(event));
    token_ = newsroom::generate_token_secret();
    store::ApiToken token{0, "desk", newsroom::hash_token_secret(token_), {"articles:write"},
                          1, false};
    ASSERT_TRUE(store_->create_token(token));
  }

  // With threads > 1 the server serves on that many threads, as `flashwire serve` does, and the
  // site and the newsroom share the store through store::SerializedSiteStore.
  void start(LiveStreamOptions options = {}, unsigned threads = 1) {
    shared_ = std::make_unique<store::SerializedSiteStore>(*store_);
    store::SiteStore& store = threads > 1 ? *shared_ : *store_;
    hosts_.emplace(webpush::PushHostPolicy::create({}).value());
    api_ = std::make_unique<SiteApi>(store, *hosts_, clock_,
                                     SiteApiOptions{"http://127.0.0.1", "BKEY"});
    handler_ = std::make_unique<SiteHandler>(store, *api_, SiteInfo{}, WellKnownFiles{});
    live_ = std::make_unique<LiveStream>(options);
    handler_->set_live_stream(live_.get());
    newsroom_ = std::make_unique<newsroom::NewsroomApi>(
        store, clock_, queue_, *handler_, newsroom::NewsroomApiOptions{"http://127.0.0.1"});
    router_.prefix("/", *handler_).prefix("/api/newsroom", *newsroom_);
    http::ServerOptions server_options;
    server_options.threads = threads;
    server_ = std::make_unique<http::Server>(io_, router_, server_options);
    auto bound = server_->listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ASSERT_TRUE(bound) << bound.error().message;
    port_ = bound->port();
    thread_ = std::thread([this] { io_.run(); });
  }

  // Runs `f` on the server's thread (where the store, handler and streams live) and waits.
  template <typename F>
  auto on_io(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    if (result.wait_for(kDeadline) != std::future_status::ready) {
      // The server's thread is stuck or gone: waiting on would hang the test run.
      std::fprintf(stderr, "the server's thread did not answer within the deadline\n");
      std::abort();
    }
    return result.get();
  }
  // Polls `condition` on the server's thread until it holds (true) or the deadline passes.
  template <typename F>
  bool eventually(F condition) {
    const auto until = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < until) {
      if (on_io(condition)) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  void TearDown() override {
    if (thread_.joinable()) {
      on_io([this] { server_->stop(); });
      server_->join(kDeadline);  // the server's other threads call the handlers no more
      io_.stop();
      thread_.join();
    }
    server_.reset();
    newsroom_.reset();
    handler_.reset();
    live_.reset();
    api_.reset();
    shared_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Client> open_stream(const std::string& target,
                                      const std::string& extra_headers = "") {
    auto client = std::make_unique<Client>(client_io_, port_);
    client->send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" +
                 extra_headers + "\r\n");
    return client;
  }

  // Posts an update through the newsroom API; returns its id (0 on failure).
  std::int64_t post_update(const std::string& markdown, const std::string& slug = "storm-live") {
    const std::string body = json::serialize(json::object{{"body_markdown", markdown}});
    Client client(client_io_, port_);
    client.send("POST /api/newsroom/live/" + slug +
                "/updates HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                "Authorization: Bearer " +
                token_ + "\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_TRUE(client.read_to_end());
    const std::string& response = client.received();
    EXPECT_EQ(response.rfind("HTTP/1.1 201", 0), 0u) << response;
    const std::size_t json_start = response.find("\r\n\r\n");
    if (response.rfind("HTTP/1.1 201", 0) != 0 || json_start == std::string::npos) return 0;
    return json::parse(response.substr(json_start + 4)).at("id").as_int64();
  }

  static json::object event_data(const std::string& event) {
    const std::size_t at = event.find("data: ");
    if (at == std::string::npos) return {};
    return json::parse(event.substr(at + 6, event.find('\n', at) - at - 6)).as_object();
  }
  static std::string expected_frame_start(std::int64_t id) {
    return "id: " + std::to_string(id) + "\nevent: update\ndata: ";
  }

  std::filesystem::path dir_;
  ManualClock clock_{1'800'000'100};
  std::unique_ptr<store::SiteStore> store_;
  std::unique_ptr<store::SerializedSiteStore> shared_;
  std::int64_t event_id_ = 0;
  std::string token_;
  std::optional<webpush::PushHostPolicy> hosts_;
  std::unique_ptr<SiteApi> api_;
  std::unique_ptr<SiteHandler> handler_;
  std::unique_ptr<LiveStream> live_;
  news::PendingAlertQueue queue_;
  std::unique_ptr<newsroom::NewsroomApi> newsroom_;
  http::Router router_;
  asio::io_context io_;
  // Keeps io_.run() going while the server has nothing to do (after stop(), say).
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  asio::io_context client_io_;
  std::unique_ptr<http::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(LiveStreamSocketTest, StreamsAnUpdatePostedThroughTheNewsroomApi) {
  start();
  auto reader = open_stream("/live/storm-live/events");
  const std::string head = reader->head();
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Type: text/event-stream"), std::string::npos) << head;
  EXPECT_NE(head.find("Cache-Control: no-store"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Security-Policy: default-src 'self'"), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << "the body ends when the stream does";
  EXPECT_EQ(reader->next_event(), "retry: 3000\n\n");

  // The page is cached before the update and must show it after.
  const auto page_before = on_io([this] {
    return handler_->handle(http::Request(boost::beast::http::verb::get, "/live/storm-live", 11),
                            {"127.0.0.1"});
  });
  EXPECT_EQ(page_before.body().find("Winds"), std::string::npos);

  on_io([this] {
    clock_.advance(60);  // on the thread that reads it
    return true;
  });
  const std::int64_t id = post_update("Winds **ease**.\n\n<script>alert(1)</script>");
  ASSERT_GT(id, 0);
  const std::string event = reader->next_event();
  EXPECT_EQ(event.rfind(expected_frame_start(id), 0), 0u) << event;
  const json::object data = event_data(event);
  EXPECT_EQ(data.at("id").as_int64(), id);
  EXPECT_EQ(data.at("at").as_int64(), 1'800'000'160);
  const std::string html(data.at("html").as_string());
  EXPECT_NE(html.find("<p>Winds <strong>ease</strong>.</p>"), std::string::npos) << html;
  EXPECT_EQ(html.find("<script"), std::string::npos) << "raw HTML is dropped";

  const auto page_after = on_io([this] {
    return handler_->handle(http::Request(boost::beast::http::verb::get, "/live/storm-live", 11),
                            {"127.0.0.1"});
  });
  EXPECT_NE(page_after.body().find("data-update-id=\"" + std::to_string(id) + "\""),
            std::string::npos);
  EXPECT_NE(page_after.body().find(html), std::string::npos) << "the page shows the same HTML";
}

// A node whose cluster listener lost its connection missed what other nodes changed meanwhile;
// once back it refills the open streams from the store (SiteHandler::refill_live_streams): the
// changes after the revision its streams had, as the events readers know, and the pin as it is.
TEST_F(LiveStreamSocketTest, RefillStreamsWhatChangedInTheStoreAfterTheRevisionItsReadersHad) {
  start();
  const std::int64_t first = post_update("First **report**.");
  ASSERT_GT(first, 0);
  auto reader = open_stream("/live/storm-live/events?after=" + std::to_string(first));
  ASSERT_EQ(reader->head().rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  ASSERT_EQ(reader->next_event(), "retry: 3000\n\n");
  ASSERT_TRUE(eventually([this] { return live_->readers_of(event_id_) == 1; }));

  // What other nodes did while this one heard nothing: straight into the store, no event.
  const std::int64_t missed = on_io([this] {
    return store_->add_live_update({0, event_id_, "Missed *update*.", 1'800'000'200, "desk"})
        .value();
  });
  ASSERT_TRUE(on_io([&] {
    return store_->edit_live_update(first, "First report, corrected.", 1'800'000'300) &&
           store_->pin_live_update(event_id_, first);
  }));
  on_io([this] {
    handler_->refill_live_streams();
    return true;
  });
  const std::string update = reader->next_event();
  EXPECT_EQ(update.rfind(expected_frame_start(first), 0), 0u)
      << "every changed update comes as `update` (a reader who shows it skips it), oldest first: "
      << update;
  EXPECT_EQ(reader->next_event().rfind(expected_frame_start(missed), 0), 0u);
  const std::string changed = reader->next_event();
  EXPECT_EQ(changed.rfind("event: changed\ndata: ", 0), 0u) << changed;
  EXPECT_EQ(event_data(changed).at("id").as_int64(), first);
  EXPECT_NE(changed.find("corrected"), std::string::npos) << changed;
  const std::string pinned = reader->next_event();
  EXPECT_EQ(pinned.rfind("event: pinned\ndata: ", 0), 0u) << pinned;
  EXPECT_EQ(event_data(pinned).at("id").as_int64(), first);

  // The streams are up to date now: the next refill sends only what changed since (a deletion).
  ASSERT_TRUE(on_io([&] { return store_->delete_live_update(missed).has_value(); }));
  on_io([this] {
    handler_->refill_live_streams();
    return true;
  });
  const std::string deleted = reader->next_event();
  EXPECT_EQ(deleted.rfind("event: deleted\ndata: ", 0), 0u) << deleted;
  EXPECT_EQ(event_data(deleted).at("id").as_int64(), missed);
  const std::string pin_now = reader->next_event();
  EXPECT_EQ(pin_now.rfind("event: pinned\ndata: ", 0), 0u) << pin_now;

  // Nothing changed since: nothing is sent, so the next event is the next update posted.
  on_io([this] {
    handler_->refill_live_streams();
    return true;
  });
  const std::int64_t after = post_update("After the gap.");
  ASSERT_GT(after, 0);
  const std::string next = reader->next_event();
  EXPECT_EQ(next.rfind(expected_frame_start(after), 0), 0u) << next;
}

// Readers on three server threads; the update is posted on a connection of yet another turn of
// the round robin: every reader gets it, on its own thread.
TEST_F(LiveStreamSocketTest, ReadersOnEveryServerThreadGetAnUpdatePostedOnAnother) {
  start({}, 3);
  std::vector<std::unique_ptr<Client>> readers;
  for (int i = 0; i < 3; ++i) {  // one after the other: connection i lands on thread i
    readers.push_back(open_stream("/live/storm-live/events"));
    EXPECT_EQ(readers.back()->head().rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
    EXPECT_EQ(readers.back()->next_event(), "retry: 3000\n\n");
  }
  EXPECT_EQ(live_->readers(), 3u);
  const std::int64_t id = post_update("Winds **ease**.");
  ASSERT_GT(id, 0);
  for (auto& reader : readers) {
    const std::string event = reader->next_event();
    EXPECT_EQ(event.rfind(expected_frame_start(id), 0), 0u) << event;
  }
  const auto page = handler_->handle(
      http::Request(boost::beast::http::verb::get, "/live/storm-live", 11), {"127.0.0.1"});
  EXPECT_NE(page.body().find("data-update-id=\"" + std::to_string(id) + "\""), std::string::npos)
      << "the cached page was dropped for the update";
}

TEST_F(LiveStreamSocketTest, AReconnectingReaderGetsOnlyWhatItMissed) {
  start();
  std::vector<std::int64_t> ids;
  for (const char* text : {"one", "two", "three", "four"}) ids.push_back(post_update(text));
  ASSERT_EQ(ids.size(), 4u);

  auto reader =
      open_stream("/live/storm-live/events", "Last-Event-ID: " + std::to_string(ids[1]) + "\r\n");
  ASSERT_EQ(reader->head().rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(reader->next_event(), "retry: 3000\n\n");
  for (const std::size_t i : {2u, 3u}) {
    const std::string event = reader->next_event();
    EXPECT_EQ(event.rfind(expected_frame_start(ids[i]), 0), 0u) << event;
  }
  // A reconnecting reader learns the pin as it is now (none), in case it missed a change.
  EXPECT_EQ(reader->next_event(), "event: unpinned\ndata: {\"id\":0}\n\n");
  // Then what comes next, and nothing in between.
  const std::int64_t five = post_update("five");
  const std::string event = reader->next_event();
  EXPECT_EQ(event.rfind(expected_frame_start(five), 0), 0u) << event;

  // ?after= works the same, and the larger of the two wins.
  auto by_query = open_stream("/live/storm-live/events?after=" + std::to_string(ids[3]),
                              "Last-Event-ID: " + std::to_string(ids[0]) + "\r\n");
  ASSERT_EQ(by_query->head().rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(by_query->next_event(), "retry: 3000\n\n");
  EXPECT_EQ(by_query->next_event().rfind(expected_frame_start(five), 0), 0u);

  // A fresh reader (no id) gets nothing old: the page it came from shows that.
  auto fresh = open_stream("/live/storm-live/events");
  ASSERT_EQ(fresh->head().rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(fresh->next_event(), "retry: 3000\n\n");
  EXPECT_EQ(fresh->next_event(200ms), "");
}

TEST_F(LiveStreamSocketTest, RefusesUnknownEventsBadIdsAndReadersBeyondTheCap) {
  LiveStreamOptions options;
  options.max_readers = 2;
  start(options);
  struct Case {
    std::string target;
    std::string headers;
    std::string status;
    std::string error;
  };
  const Case cases[] = {
      {"/live/no-such-event/events", "", "HTTP/1.1 404", "not_found"},
      {"/live/plain-news/events", "", "HTTP/1.1 404", "not_found"},
      {"/live/vote-live/events", "", "HTTP/1.1 404", "not_found"},  // a draft
      {"/live/storm-live/events", "Last-Event-ID: abc\r\n", "HTTP/1.1 400", "invalid_event_id"},
      {"/live/storm-live/events?after=-1", "", "HTTP/1.1 400", "invalid_event_id"},
  };
  for (const Case& c : cases) {
    auto client = open_stream(c.target, c.headers);
    ASSERT_TRUE(client->read_to_end()) << c.target;
    const std::string& response = client->received();
    EXPECT_EQ(response.rfind(c.status, 0), 0u) << c.target << ": " << response;
    EXPECT_NE(response.find("Content-Type: application/json"), std::string::npos) << response;
    EXPECT_NE(response.find("\"error\":\"" + c.error + "\""), std::string::npos) << response;
  }

  auto first = open_stream("/live/storm-live/events");
  auto second = open_stream("/live/storm-live/events");
  ASSERT_EQ(first->head().rfind("HTTP/1.1 200", 0), 0u);
  ASSERT_EQ(second->head().rfind("HTTP/1.1 200", 0), 0u);
  auto third = open_stream("/live/storm-live/events");
  ASSERT_TRUE(third->read_to_end());
  EXPECT_EQ(third->received().rfind("HTTP/1.1 503", 0), 0u) << third->received();
  EXPECT_NE(third->received().find("\"error\":\"too_many_streams\""), std::string::npos);
  EXPECT_NE(third->received().find("Retry-After: "), std::string::npos);

  // A reader who leaves frees its place at once (the server reads the connection).
  first->close();
  ASSERT_TRUE(eventually([this] { return live_->readers() == 1; }));
  auto again = open_stream("/live/storm-live/events");
  EXPECT_EQ(again->head().rfind("HTTP/1.1 200", 0), 0u);

  // Other methods are not streams.
  Client head_request(client_io_, port_);
  head_request.send(
      "POST /live/storm-live/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Content-Length: 0\r\n\r\n");
  ASSERT_TRUE(head_request.read_to_end());
  EXPECT_EQ(head_request.received().rfind("HTTP/1.1 405", 0), 0u) << head_request.received();
}

TEST_F(LiveStreamSocketTest, SendsHeartbeatsWhileQuiet) {
  LiveStreamOptions options;
  options.heartbeat_interval = 50ms;
  start(options);
  auto reader = open_stream("/live/storm-live/events");
  ASSERT_EQ(reader->head().rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(reader->next_event(), "retry: 3000\n\n");
  EXPECT_EQ(reader->next_event(), ": keep-alive\n\n");
  EXPECT_EQ(reader->next_event(), ": keep-alive\n\n");
}

TEST_F(LiveStreamSocketTest, ASlowReaderIsDisconnectedAndAFastOneIsNot) {
  LiveStreamOptions options;
  options.max_outbox_events = 4;
  start(options);
  // A small receive window, never read: the server's writes to it stall.
  auto slow = std::make_unique<Client>(client_io_, port_, 4096);
  slow->send("GET /live/storm-live/events HTTP/1.1\r\nHost: x\r\n\r\n");
  auto fast = open_stream("/live/storm-live/events");
  ASSERT_EQ(fast->head().rfind("HTTP/1.1 200", 0), 0u);
  ASSERT_TRUE(eventually([this] { return live_->readers() == 2; }));

  const store::Article event =
      on_io([this] { return store_->find_article(event_id_).value().value(); });
  const std::string big(64 * 1024, 'x');
  bool dropped = false;
  for (int i = 1; i <= 400 && !dropped; ++i) {
    dropped = on_io([&] {
      handler_->live_update_posted(event, {1000 + i, event_id_, big, 0, "desk"});
      return live_->readers_dropped() > 0;
    });
    // The fast reader keeps up: it reads each event before the next is published.
    ASSERT_TRUE(fast->read_until(expected_frame_start(1000 + i))) << i;
    fast->forget();
  }
  ASSERT_TRUE(dropped) << "the slow reader's outbox never filled";
  EXPECT_EQ(on_io([this] { return live_->readers_dropped(); }), 1u);
  EXPECT_TRUE(eventually([this] { return live_->readers() == 1; }));
  // The fast reader still gets what comes next.
  on_io([&] {
    handler_->live_update_posted(event, {9999, event_id_, "last", 0, "desk"});
    return true;
  });
  EXPECT_TRUE(fast->read_until(expected_frame_start(9999)));
  EXPECT_FALSE(fast->closed());
}

TEST_F(LiveStreamSocketTest, StoppingTheServerClosesStreamsCleanly) {
  start();
  auto reader = open_stream("/live/storm-live/events");
  ASSERT_EQ(reader->head().rfind("HTTP/1.1 200", 0), 0u);
  ASSERT_TRUE(eventually([this] { return live_->readers() == 1; }));
  on_io([this] {
    server_->stop();
    return true;
  });
  EXPECT_TRUE(reader->read_to_end()) << "the stream ends when the server stops";
  EXPECT_TRUE(reader->closed_cleanly());
  EXPECT_TRUE(eventually([this] { return live_->readers() == 0; }));
  EXPECT_FALSE(on_io([this] { return live_->accepting(); }));
}

TEST_F(LiveStreamSocketTest, TheLivePageRendersUpdatesNewestFirstWithTheBodyLast) {
  start();
  const std::int64_t first = post_update("First *update*.");
  const std::int64_t second = post_update("Second update.");
  const auto page = on_io([this] {
    return handler_->handle(http::Request(boost::beast::http::verb::get, "/live/storm-live", 11),
                            {"127.0.0.1"});
  });
  ASSERT_EQ(page.result(), http::Status::ok);
  const std::string& html = page.body();
  const std::size_t at_second = html.find("data-update-id=\"" + std::to_string(second) + "\"");
  const std::size_t at_first = html.find("data-update-id=\"" + std::to_string(first) + "\"");
  const std::size_t at_body = html.find("data-update-id=\"0\"");
  ASSERT_NE(at_second, std::string::npos);
  EXPECT_LT(at_second, at_first);
  EXPECT_LT(at_first, at_body);
  EXPECT_NE(html.find("<em>update</em>"), std::string::npos);
  EXPECT_NE(html.find("The storm is coming."), std::string::npos);
  EXPECT_NE(html.find("<time datetime=\"2027-01-15T08:01:40Z\" data-local=\"short\">"),
            std::string::npos)
      << "each update shows its time";
  EXPECT_EQ(html.find("No updates yet"), std::string::npos);
  EXPECT_NE(html.find("data-events-url=\"/live/storm-live/events\""), std::string::npos);
}

}  // namespace
}  // namespace flashwire::site
