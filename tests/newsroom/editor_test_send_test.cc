// The editor's own subscription and test sends in the newsroom API (editor_test_send.cc): what is
// stored and answered, and what the API does with each outcome a TestPusher reports. A real
// SQLite store on disk and the real push-host policy and subscription checker; the pusher is a
// stand-in that records what it was asked (tests/app/test_send.test.mjs sends for real).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <functional>

#include "newsroom/api_tokens.h"
#include "newsroom/newsroom_api.h"
#include "store/sqlite/sqlite_site_store.h"

namespace flashwire::newsroom {
namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

constexpr std::int64_t kNow = 1'800'000'000;
constexpr char kPushOrigin[] = "http://127.0.0.1:8090";
constexpr char kEndpoint[] = "http://127.0.0.1:8090/push/editor";
constexpr char kOtherEndpoint[] = "http://127.0.0.1:8090/push/editor-new";
// A P-256 point and a 16-byte secret (RFC 8291's example subscription).
constexpr char kP256dh[] =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr char kAuth[] = "BTBZMqHH6r4Tts7J_aSIgg";

class FakePusher final : public news::TestPusher {
 public:
  news::TestPushResult push(const news::Alert& alert, const std::string& image_url,
                            const news::PushTarget& target) override {
    alerts.push_back(alert);
    images.push_back(image_url);
    targets.push_back(target);
    if (on_push) on_push();
    return next;
  }
  news::TestPushResult next{news::TestPushResult::Kind::kSent, 201, ""};
  std::function<void()> on_push;
  std::vector<news::Alert> alerts;
  std::vector<std::string> images;
  std::vector<news::PushTarget> targets;
};

class NoQueue final : public news::AlertQueue {
 public:
  void enqueue(std::int64_t) override {}
};

class NoEvents final : public news::ContentEvents {
 public:
  void article_changed(const news::Article&) override {}
  void live_update_posted(const news::Article&, const news::LiveUpdate&) override {}
};

class EditorTestSendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flashwire-testsend-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto store = store::open_sqlite_site_store((dir_ / "site.sqlite").string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    ana_ = make_token("desk-ana", {"articles:write", "alerts:send"});
    ben_ = make_token("desk-ben", {"alerts:send"});
    auto hosts = webpush::PushHostPolicy::create({kPushOrigin});
    ASSERT_TRUE(hosts);
    hosts_.emplace(std::move(*hosts));
    NewsroomApiOptions options;
    options.origin = "https://news.example";
    options.push_hosts = &*hosts_;
    options.test_pusher = &pusher_;
    api_ = std::make_unique<NewsroomApi>(*store_, clock_, queue_, events_, options);
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string make_token(const std::string& name, std::vector<std::string> scopes) {
    std::string secret = generate_token_secret();
    store::ApiToken token;
    token.name = name;
    token.secret_hash = hash_token_secret(secret);
    token.scopes = std::move(scopes);
    token.created_at = kNow;
    EXPECT_TRUE(store_->create_token(token));
    return secret;
  }
  std::int64_t token_id(const std::string& secret) {
    return store_->find_token_by_hash(hash_token_secret(secret)).value()->id;
  }

  http::Response call(NewsroomApi& api, bhttp::verb verb, const std::string& path,
                      const std::string& secret, const std::optional<json::object>& body = {}) {
    http::Request request(verb, path, 11);
    request.set(bhttp::field::authorization, "Bearer " + secret);
    if (body) {
      request.set(bhttp::field::content_type, "application/json");
      request.body() = json::serialize(*body);
    }
    request.prepare_payload();
    return api.handle(request, http::RequestContext{"10.0.0.1"});
  }
  http::Response call(bhttp::verb verb, const std::string& path, const std::string& secret,
                      const std::optional<json::object>& body = {}) {
    return call(*api_, verb, path, secret, body);
  }
  static json::object subscription(const std::string& endpoint) {
    return json::object{{"subscription", json::object{{"endpoint", endpoint},
                                                      {"keys", json::object{{"p256dh", kP256dh},
                                                                            {"auth", kAuth}}}}}};
  }
  static json::object parsed(const http::Response& response) {
    return json::parse(response.body()).as_object();
  }
  std::int64_t compose(const std::string& title) {
    auto response = call(bhttp::verb::post, "/api/newsroom/alerts", ana_,
                         json::object{{"category", "breaking"}, {"title", title}, {"url", "/"}});
    EXPECT_EQ(response.result(), http::Status::created) << response.body();
    return parsed(response).at("id").as_int64();
  }
  std::string test_path(std::int64_t id) {
    return "/api/newsroom/alerts/" + std::to_string(id) + "/test";
  }
  std::vector<std::string> audit_actions() {
    std::vector<std::string> out;
    const auto entries = store_->recent_audit(100).value();
    for (const auto& e : entries) out.push_back(e.action + " " + e.detail);
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::SiteStore> store_;
  std::optional<webpush::PushHostPolicy> hosts_;
  ManualClock clock_{kNow};
  NoQueue queue_;
  NoEvents events_;
  FakePusher pusher_;
  std::unique_ptr<NewsroomApi> api_;
  std::string ana_;
  std::string ben_;
};

TEST_F(EditorTestSendTest, StoresOnePerTokenAndAnswersNeitherEndpointNorKeys) {
  auto stored =
      call(bhttp::verb::put, "/api/newsroom/me/subscription", ana_, subscription(kEndpoint));
  ASSERT_EQ(stored.result(), http::Status::ok) << stored.body();
  EXPECT_EQ(parsed(stored).at("push_service").as_string(), "other");
  auto mine = call(bhttp::verb::get, "/api/newsroom/me/subscription", ana_);
  ASSERT_EQ(mine.result(), http::Status::ok);
  EXPECT_EQ(parsed(mine).at("subscribed").as_bool(), true);
  for (const std::string secret : {kEndpoint, "/push/editor", kP256dh, kAuth}) {
    EXPECT_EQ(mine.body().find(secret), std::string::npos) << mine.body();
    EXPECT_EQ(stored.body().find(secret), std::string::npos) << stored.body();
  }
  EXPECT_EQ(store_->find_editor_subscription(token_id(ana_)).value()->endpoint, kEndpoint);
  EXPECT_FALSE(store_->find_editor_subscription(token_id(ben_)).value().has_value());
  EXPECT_EQ(store_->count_subscriptions(7).value(), 0u) << "never a reader";
  EXPECT_EQ(parsed(call(bhttp::verb::get, "/api/newsroom/me/subscription", ben_))
                .at("subscribed")
                .as_bool(),
            false);
  // The route takes GET, PUT and DELETE only.
  auto wrong = call(bhttp::verb::post, "/api/newsroom/me/subscription", ana_);
  EXPECT_EQ(wrong.result(), http::Status::method_not_allowed);
  EXPECT_EQ(wrong[bhttp::field::allow], "GET, PUT, DELETE");
}

TEST_F(EditorTestSendTest, ASentTestIsTheAlertAsComposedAndIsAudited) {
  ASSERT_EQ(call(bhttp::verb::put, "/api/newsroom/me/subscription", ana_, subscription(kEndpoint))
                .result(),
            http::Status::ok);
  const std::int64_t id = compose("Bridge closed");
  auto sent = call(bhttp::verb::post, test_path(id), ana_);
  ASSERT_EQ(sent.result(), http::Status::ok) << sent.body();
  EXPECT_EQ(json::serialize(parsed(sent)), R"({"sent":true,"push_service":"other","status":201})");
  ASSERT_EQ(pusher_.alerts.size(), 1u);
  EXPECT_EQ(pusher_.alerts[0].id, id);
  EXPECT_EQ(pusher_.alerts[0].title, "Bridge closed");
  EXPECT_EQ(pusher_.targets[0].endpoint, kEndpoint);
  EXPECT_EQ(pusher_.targets[0].p256dh, kP256dh);
  EXPECT_EQ(store_->find_alert(id).value()->status, store::AlertStatus::kQueued) << "still a draft";
  EXPECT_EQ(audit_actions().front(),
            "alert.test #" + std::to_string(id) + " via other, sent (201)");
}

TEST_F(EditorTestSendTest, GoneDeletesThatSubscriptionOnlyAndFailuresKeepIt) {
  ASSERT_EQ(call(bhttp::verb::put, "/api/newsroom/me/subscription", ana_, subscription(kEndpoint))
                .result(),
            http::Status::ok);
  const std::int64_t id = compose("Bridge closed");

  pusher_.next = {news::TestPushResult::Kind::kFailed, 500, "retries_exhausted_http_500"};
  auto failed = call(bhttp::verb::post, test_path(id), ana_);
  EXPECT_EQ(failed.result(), http::Status::bad_gateway);
  EXPECT_EQ(parsed(failed).at("error").as_string(), "push_failed");
  EXPECT_EQ(parsed(failed).at("reason").as_string(), "retries_exhausted_http_500");
  EXPECT_TRUE(store_->find_editor_subscription(token_id(ana_)).value().has_value());

  // The editor subscribes another browser while the test is under way: the gone one is not it.
  pusher_.next = {news::TestPushResult::Kind::kGone, 410, ""};
  pusher_.on_push = [&] {
    ASSERT_TRUE(
        store_->put_editor_subscription({token_id(ana_), kOtherEndpoint, kP256dh, kAuth, kNow}));
  };
  auto gone = call(bhttp::verb::post, test_path(id), ana_);
  EXPECT_EQ(gone.result(), http::Status::conflict);
  EXPECT_EQ(parsed(gone).at("error").as_string(), "test_subscription_gone");
  EXPECT_EQ(store_->find_editor_subscription(token_id(ana_)).value()->endpoint, kOtherEndpoint);

  pusher_.on_push = nullptr;
  auto again = call(bhttp::verb::post, test_path(id), ana_);
  EXPECT_EQ(again.result(), http::Status::conflict);
  EXPECT_FALSE(store_->find_editor_subscription(token_id(ana_)).value().has_value());
  EXPECT_EQ(call(bhttp::verb::post, test_path(id), ana_).body().find("no_test_subscription") !=
                std::string::npos,
            true);
  EXPECT_EQ(pusher_.alerts.size(), 3u) << "no push without a subscription";
}

TEST_F(EditorTestSendTest, TenTestsAMinutePerToken) {
  ASSERT_EQ(call(bhttp::verb::put, "/api/newsroom/me/subscription", ana_, subscription(kEndpoint))
                .result(),
            http::Status::ok);
  const std::int64_t id = compose("Bridge closed");
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(call(bhttp::verb::post, test_path(id), ana_).result(), http::Status::ok) << i;
  }
  auto limited = call(bhttp::verb::post, test_path(id), ana_);
  EXPECT_EQ(limited.result(), http::Status::too_many_requests);
  EXPECT_FALSE(limited[bhttp::field::retry_after].empty());
  EXPECT_EQ(pusher_.alerts.size(), 10u);
  // Another token has its own allowance (and no subscription).
  EXPECT_EQ(call(bhttp::verb::post, test_path(id), ben_).result(), http::Status::conflict);
  clock_.advance(60);
  EXPECT_EQ(call(bhttp::verb::post, test_path(id), ana_).result(), http::Status::ok);
}

TEST_F(EditorTestSendTest, WithoutAPusherOrPolicyStoringAndSendingAre503) {
  NewsroomApi bare(*store_, clock_, queue_, events_, NewsroomApiOptions{"https://news.example"});
  const std::int64_t id = compose("Bridge closed");
  auto put =
      call(bare, bhttp::verb::put, "/api/newsroom/me/subscription", ana_, subscription(kEndpoint));
  EXPECT_EQ(put.result(), http::Status::service_unavailable);
  EXPECT_EQ(parsed(put).at("error").as_string(), "test_send_unavailable");
  EXPECT_EQ(call(bare, bhttp::verb::post, test_path(id), ana_).result(),
            http::Status::service_unavailable);
  EXPECT_EQ(call(bare, bhttp::verb::get, "/api/newsroom/me/subscription", ana_).result(),
            http::Status::ok);
  EXPECT_FALSE(store_->find_editor_subscription(token_id(ana_)).value().has_value());
}

}  // namespace
}  // namespace flashwire::newsroom
