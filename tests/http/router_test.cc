#include "http/router.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

#include "http/metrics_handler.h"

namespace flashwire::http {
namespace {

namespace bhttp = boost::beast::http;

// Answers with its name in the body and an X-Handler header; records hand-offs.
class NamedHandler final : public Handler {
 public:
  explicit NamedHandler(std::string name, bool streams = false, bool websockets = false)
      : name_(std::move(name)), streams_(streams), websockets_(websockets) {}
  Response handle(const Request& request, const RequestContext&) override {
    Response response(Status::ok, request.version());
    response.set("X-Handler", name_);
    response.body() = name_;
    return response;
  }
  bool accepts_websocket(const Request&) const override { return websockets_; }
  void start_websocket(boost::beast::tcp_stream, Request request) override {
    websocket_targets.emplace_back(request.target());
  }
  bool accepts_stream(const Request&) const override { return streams_; }
  void start_stream(boost::beast::tcp_stream, Request request, const RequestContext&) override {
    stream_targets.emplace_back(request.target());
  }
  void stop_streams() override { ++stops; }

  std::vector<std::string> websocket_targets;
  std::vector<std::string> stream_targets;
  int stops = 0;

 private:
  std::string name_;
  bool streams_;
  bool websockets_;
};

Request request(Method method, std::string_view target) { return Request(method, target, 11); }

class RouterTest : public ::testing::Test {
 protected:
  std::string routed(Method method, std::string_view target) {
    const Response response = router_.handle(request(method, target), RequestContext{"10.0.0.1"});
    if (response.result() != Status::ok) return std::to_string(response.result_int());
    return response.body();
  }
  NamedHandler site_{"site", /*streams=*/true};
  NamedHandler newsroom_{"newsroom"};
  NamedHandler metrics_{"metrics"};
  NamedHandler push_{"push", /*streams=*/false, /*websockets=*/true};
  Router router_;
};

TEST_F(RouterTest, TheLongestMatchingPathWinsWhateverTheOrderOfAdding) {
  router_.prefix("/api/newsroom", newsroom_).prefix("/", site_).exact("/metrics", metrics_);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/", "site"},
      {"/articles/storm", "site"},
      {"/api/subscriptions", "site"},
      {"/api/newsroom", "newsroom"},
      {"/api/newsroom/", "newsroom"},
      {"/api/newsroom/alerts/7/send", "newsroom"},
      {"/api/newsroom?x=1", "newsroom"},
      {"/api/newsroomx", "site"},  // a prefix matches whole segments only
      {"/api/newsroo", "site"},
      {"/metrics", "metrics"},
      {"/metrics?format=text", "metrics"},  // the query is not part of the path
      {"/metrics/more", "site"},            // exact means exact
  };
  for (const auto& [target, expected] : cases) {
    EXPECT_EQ(routed(Method::get, target), expected) << target;
  }
}

TEST_F(RouterTest, ExactBeatsAPrefixOfTheSameLength) {
  router_.prefix("/feed", site_).exact("/feed", metrics_);
  EXPECT_EQ(routed(Method::get, "/feed"), "metrics");
  EXPECT_EQ(routed(Method::get, "/feed/x"), "site");
}

TEST_F(RouterTest, APrefixsTrailingSlashIsIgnored) {
  router_.prefix("/api/newsroom/", newsroom_);
  EXPECT_EQ(routed(Method::get, "/api/newsroom"), "newsroom");
  EXPECT_EQ(routed(Method::post, "/api/newsroom/articles"), "newsroom");
}

TEST_F(RouterTest, ARouteThatDoesNotTakeTheMethodPassesTheRequestOn) {
  router_.prefix("/", site_).exact("/metrics", metrics_, {Method::get});
  EXPECT_EQ(routed(Method::get, "/metrics"), "metrics");
  EXPECT_EQ(routed(Method::post, "/metrics"), "site");
  EXPECT_EQ(routed(Method::head, "/metrics"), "site");
}

TEST_F(RouterTest, UnroutedRequestsAreAnsweredNotFoundAsJson) {
  router_.prefix("/api", newsroom_);
  const Response response = router_.handle(request(Method::get, "/elsewhere"), {"10.0.0.1"});
  EXPECT_EQ(response.result(), Status::not_found);
  EXPECT_EQ(response[bhttp::field::content_type], "application/json");
  EXPECT_NE(response.body().find("\"not_found\""), std::string::npos) << response.body();
  EXPECT_EQ(router_.route(request(Method::get, "/elsewhere")), nullptr);
  EXPECT_EQ(router_.route(request(Method::get, "/api/x")), &newsroom_);
}

TEST_F(RouterTest, SetsResponseHeadersTheHandlerDidNotSet) {
  Router router(RouterOptions{{{"X-Frame-Options", "DENY"}, {"X-Handler", "router"}}});
  router.prefix("/api", newsroom_);
  const Response routed_response = router.handle(request(Method::get, "/api/x"), {"10.0.0.1"});
  EXPECT_EQ(routed_response["X-Frame-Options"], "DENY");
  EXPECT_EQ(routed_response["X-Handler"], "newsroom") << "the handler's own value stands";
  const Response unrouted = router.handle(request(Method::get, "/nothing"), {"10.0.0.1"});
  EXPECT_EQ(unrouted["X-Frame-Options"], "DENY");
}

TEST_F(RouterTest, HandsStreamsAndWebSocketsToTheRoutedHandler) {
  router_.prefix("/", site_).prefix("/api/newsroom", newsroom_).prefix("/push", push_);
  boost::asio::io_context io;
  const Request events = request(Method::get, "/live/storm/events");
  ASSERT_TRUE(router_.accepts_stream(events));
  router_.start_stream(boost::beast::tcp_stream(io), events, {"10.0.0.1"});
  EXPECT_EQ(site_.stream_targets, std::vector<std::string>{"/live/storm/events"});
  EXPECT_FALSE(router_.accepts_stream(request(Method::get, "/api/newsroom/live/storm/updates")))
      << "the newsroom streams nothing, even where the site would";

  const Request upgrade = request(Method::get, "/push/ws");
  EXPECT_TRUE(router_.accepts_websocket(upgrade));
  EXPECT_FALSE(router_.accepts_websocket(request(Method::get, "/ws")));
  router_.start_websocket(boost::beast::tcp_stream(io), upgrade);
  EXPECT_EQ(push_.websocket_targets, std::vector<std::string>{"/push/ws"});
  EXPECT_TRUE(site_.websocket_targets.empty());
}

TEST_F(RouterTest, StopStreamsReachesEveryHandlerOnce) {
  router_.prefix("/", site_).exact("/", site_).prefix("/api/newsroom", newsroom_);
  router_.stop_streams();
  EXPECT_EQ(site_.stops, 1);
  EXPECT_EQ(newsroom_.stops, 1);
  EXPECT_EQ(metrics_.stops, 0);
}

TEST(MetricsHandlerTest, AnswersLoopbackGetsWithPrometheusText) {
  int renders = 0;
  MetricsHandler metrics([&renders] {
    ++renders;
    return std::string("flashwire_up 1\n");
  });
  const Response ok = metrics.handle(request(Method::get, "/metrics"), {"127.0.0.1"});
  EXPECT_EQ(ok.result(), Status::ok);
  EXPECT_EQ(ok[bhttp::field::content_type], "text/plain; version=0.0.4");
  EXPECT_EQ(ok[bhttp::field::cache_control], "no-store");
  EXPECT_EQ(ok.body(), "flashwire_up 1\n");
  EXPECT_EQ(metrics.handle(request(Method::get, "/metrics"), {"::1"}).result(), Status::ok);

  EXPECT_EQ(metrics.handle(request(Method::get, "/metrics"), {"203.0.113.9"}).result(),
            Status::not_found);
  const Response post = metrics.handle(request(Method::post, "/metrics"), {"127.0.0.1"});
  EXPECT_EQ(post.result(), Status::method_not_allowed);
  EXPECT_EQ(post[bhttp::field::allow], "GET");
  EXPECT_EQ(renders, 2) << "rendered only for answers that carry it";
}

TEST(MetricsHandlerTest, KnowsLoopbackAddresses) {
  for (const char* address : {"127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(is_loopback_address(address)) << address;
  }
  for (const char* address :
       {"10.0.0.1", "128.0.0.1", "::2", "::ffff:10.0.0.1", "", "1127.0.0.1", "fe80::1"}) {
    EXPECT_FALSE(is_loopback_address(address)) << address;
  }
}

}  // namespace
}  // namespace flashwire::http
