#include "site/api.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <filesystem>

#include "store/sqlite/sqlite_site_store.h"
#include "webpush/base64url.h"
#include "webpush/p256.h"

namespace flashwire::site {
namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

constexpr char kOrigin[] = "http://127.0.0.1:8080";

class SiteApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flashwire-siteapi-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto store = store::open_sqlite_site_store((dir_ / "site.sqlite").string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    hosts_.emplace(webpush::PushHostPolicy::create({"http://127.0.0.1:8090"}).value());
    SiteApiOptions options;
    options.origin = kOrigin;
    options.vapid_public_key = "BPUBLIC";
    options.requests_per_minute = 60;
    options.burst = 1000;
    api_ = std::make_unique<SiteApi>(*store_, *hosts_, clock_, options);
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static json::object subscription(const std::string& endpoint,
                                   const std::string& auth = "AAECAwQFBgcICQoLDA0ODw") {
    return json::object{
        {"endpoint", endpoint},
        {"expirationTime", nullptr},
        {"keys",
         json::object{{"p256dh", webpush::P256KeyPair::generate().public_key().to_base64url()},
                      {"auth", auth}}}};
  }
  http::Response call(bhttp::verb method, const std::string& path, const std::string& body,
                      const std::string& client = "10.0.0.1", const std::string& origin = kOrigin) {
    http::Request request(method, path, 11);
    request.set(bhttp::field::content_type, "application/json");
    if (!origin.empty()) request.set(bhttp::field::origin, origin);
    request.body() = body;
    auto response = api_->handle(request, client);
    EXPECT_TRUE(response.has_value()) << path;
    return response.value_or(http::Response{});
  }
  http::Response subscribe(const json::object& sub, const json::array& categories) {
    return call(bhttp::verb::post, "/api/subscriptions",
                json::serialize(json::object{{"subscription", sub}, {"categories", categories}}));
  }
  std::size_t count(store::CategorySet categories = 7) {
    return store_->count_subscriptions(categories).value();
  }
  static std::string code(const http::Response& response) {
    return std::string(json::parse(response.body()).as_object().at("error").as_string());
  }

  std::filesystem::path dir_;
  ManualClock clock_{1'800'000'000};
  std::unique_ptr<store::SiteStore> store_;
  std::optional<webpush::PushHostPolicy> hosts_;
  std::unique_ptr<SiteApi> api_;
};

TEST_F(SiteApiTest, SubscribesWithCategoriesIdempotently) {
  const auto sub = subscription("https://fcm.googleapis.com/fcm/send/abc");
  auto created = subscribe(sub, {"breaking", "exclusive"});
  ASSERT_EQ(created.result(), http::Status::created) << created.body();
  EXPECT_EQ(json::parse(created.body()).at("categories"), (json::array{"breaking", "exclusive"}));
  EXPECT_EQ(count(static_cast<store::CategorySet>(store::Category::kBreaking)), 1u);
  EXPECT_EQ(count(static_cast<store::CategorySet>(store::Category::kLive)), 0u);

  auto again = subscribe(sub, {"live"});  // same endpoint: categories change, no duplicate
  ASSERT_EQ(again.result(), http::Status::ok) << again.body();
  EXPECT_EQ(count(), 1u);
  EXPECT_EQ(count(static_cast<store::CategorySet>(store::Category::kBreaking)), 0u);
  EXPECT_EQ(count(static_cast<store::CategorySet>(store::Category::kLive)), 1u);
}

TEST_F(SiteApiTest, RejectsBadSubscriptionsAndStoresNothing) {
  const auto good = subscription("https://fcm.googleapis.com/fcm/send/abc");
  auto with_key = [&](const char* field, json::value value) {
    json::object sub = good;
    sub["keys"].as_object()[field] = std::move(value);
    return sub;
  };
  json::object off_curve = good;
  {
    auto raw = webpush::base64url_decode(good.at("keys").at("p256dh").as_string()).value();
    raw[64] ^= 1;
    off_curve["keys"].as_object()["p256dh"] = webpush::base64url_encode(raw);
  }
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"not json", "{", "invalid_json"},
      {"array", "[]", "invalid_json"},
      {"no subscription", R"({"categories":["breaking"]})", "invalid_subscription"},
      {"foreign host",
       json::serialize(json::object{{"subscription", subscription("https://evil.example/x")},
                                    {"categories", {"breaking"}}}),
       "invalid_subscription"},
      {"metadata host",
       json::serialize(json::object{{"subscription", subscription("http://169.254.169.254/latest")},
                                    {"categories", {"breaking"}}}),
       "invalid_subscription"},
      {"short auth",
       json::serialize(
           json::object{{"subscription", with_key("auth", "AAEC")}, {"categories", {"breaking"}}}),
       "invalid_subscription"},
      {"bad p256dh",
       json::serialize(json::object{{"subscription", with_key("p256dh", "BAAA")},
                                    {"categories", {"breaking"}}}),
       "invalid_subscription"},
      {"off-curve p256dh",
       json::serialize(json::object{{"subscription", off_curve}, {"categories", {"breaking"}}}),
       "invalid_subscription"},
      {"no categories",
       json::serialize(json::object{{"subscription", good}, {"categories", json::array{}}}),
       "invalid_categories"},
      {"unknown category",
       json::serialize(json::object{{"subscription", good}, {"categories", {"sport"}}}),
       "invalid_categories"},
      {"categories not a list",
       json::serialize(json::object{{"subscription", good}, {"categories", "breaking"}}),
       "invalid_categories"},
  };
  for (const auto& [name, body, expected] : cases) {
    auto response = call(bhttp::verb::post, "/api/subscriptions", body);
    EXPECT_EQ(response.result(), http::Status::bad_request) << name << ": " << response.body();
    EXPECT_EQ(code(response), expected) << name;
  }
  EXPECT_EQ(count(), 0u);
}

TEST_F(SiteApiTest, RefusesCrossSiteRequestsAndNonJson) {
  const std::string body = json::serialize(
      json::object{{"subscription", subscription("https://fcm.googleapis.com/fcm/send/x")},
                   {"categories", {"breaking"}}});
  auto cross =
      call(bhttp::verb::post, "/api/subscriptions", body, "10.0.0.1", "https://evil.example");
  EXPECT_EQ(cross.result(), http::Status::forbidden);
  EXPECT_EQ(code(cross), "cross_origin");

  // No Origin at all is no page of ours either (the docs: Origin must be the site's).
  for (const auto method : {bhttp::verb::post, bhttp::verb::delete_}) {
    auto anonymous = call(method, "/api/subscriptions", body, "10.0.0.1", "");
    EXPECT_EQ(anonymous.result(), http::Status::forbidden) << bhttp::to_string(method);
    EXPECT_EQ(code(anonymous), "cross_origin");
  }
  EXPECT_EQ(
      call(bhttp::verb::post, "/api/events", R"({"alert":1,"event":"clicked"})", "10.0.0.1", "")
          .result(),
      http::Status::forbidden);

  http::Request form(bhttp::verb::post, "/api/subscriptions", 11);
  form.set(bhttp::field::origin, kOrigin);
  form.set(bhttp::field::content_type, "application/x-www-form-urlencoded");
  form.body() = body;
  EXPECT_EQ(api_->handle(form, "10.0.0.1")->result(), http::Status::unsupported_media_type);

  http::Request fetch_cross(bhttp::verb::post, "/api/subscriptions", 11);
  fetch_cross.set(bhttp::field::origin, kOrigin);
  fetch_cross.set(bhttp::field::content_type, "application/json");
  fetch_cross.set("Sec-Fetch-Site", "cross-site");
  fetch_cross.body() = body;
  EXPECT_EQ(api_->handle(fetch_cross, "10.0.0.1")->result(), http::Status::forbidden);

  EXPECT_EQ(call(bhttp::verb::post, "/api/subscriptions", std::string(9000, ' ')).result(),
            http::Status::payload_too_large);
  EXPECT_EQ(call(bhttp::verb::put, "/api/subscriptions", body).result(),
            http::Status::method_not_allowed);
  EXPECT_EQ(count(), 0u);
}

TEST_F(SiteApiTest, UnsubscribingNeedsTheAuthSecret) {
  const auto sub = subscription("https://updates.push.services.mozilla.com/wpush/v2/abc");
  ASSERT_EQ(subscribe(sub, {"breaking"}).result(), http::Status::created);
  const std::string endpoint(sub.at("endpoint").as_string());

  auto wrong = call(
      bhttp::verb::delete_, "/api/subscriptions",
      json::serialize(json::object{{"endpoint", endpoint}, {"auth", "AQEBAQEBAQEBAQEBAQEBAQ"}}));
  EXPECT_EQ(wrong.result(), http::Status::forbidden);
  EXPECT_EQ(count(), 1u);

  // Nor can anyone change its categories without it.
  json::object hijack = subscription(endpoint, "AQEBAQEBAQEBAQEBAQEBAQ");
  EXPECT_EQ(subscribe(hijack, {"live"}).result(), http::Status::forbidden);

  auto right = call(
      bhttp::verb::delete_, "/api/subscriptions",
      json::serialize(json::object{{"endpoint", endpoint}, {"auth", sub.at("keys").at("auth")}}));
  EXPECT_EQ(right.result(), http::Status::no_content);
  EXPECT_EQ(count(), 0u);
  auto missing = call(
      bhttp::verb::delete_, "/api/subscriptions",
      json::serialize(json::object{{"endpoint", endpoint}, {"auth", sub.at("keys").at("auth")}}));
  EXPECT_EQ(missing.result(), http::Status::not_found);
}

TEST_F(SiteApiTest, ARotatedSubscriptionReplacesTheOldOne) {
  const auto old_sub = subscription("http://127.0.0.1:8090/wpush/old");
  ASSERT_EQ(subscribe(old_sub, {"breaking", "live"}).result(), http::Status::created);
  const auto new_sub = subscription("http://127.0.0.1:8090/wpush/new");
  auto response = call(bhttp::verb::post, "/api/subscriptions",
                       json::serialize(json::object{
                           {"subscription", new_sub},
                           {"categories", {"breaking", "live"}},
                           {"replaces", json::object{{"endpoint", old_sub.at("endpoint")},
                                                     {"auth", old_sub.at("keys").at("auth")}}}}));
  ASSERT_EQ(response.result(), http::Status::created) << response.body();
  EXPECT_EQ(count(), 1u);
  EXPECT_FALSE(store_->find_subscription("http://127.0.0.1:8090/wpush/old").value().has_value());
}

TEST_F(SiteApiTest, RateLimitsEachClient) {
  SiteApiOptions options;
  options.origin = kOrigin;
  options.requests_per_minute = 6;
  options.burst = 2;
  SiteApi strict(*store_, *hosts_, clock_, options);
  http::Request request(bhttp::verb::post, "/api/subscriptions", 11);
  request.set(bhttp::field::origin, kOrigin);
  request.set(bhttp::field::content_type, "application/json");
  request.body() = "{}";
  EXPECT_EQ(strict.handle(request, "10.0.0.9")->result(), http::Status::bad_request);
  EXPECT_EQ(strict.handle(request, "10.0.0.9")->result(), http::Status::bad_request);
  auto limited = strict.handle(request, "10.0.0.9");
  EXPECT_EQ(limited->result(), http::Status::too_many_requests);
  EXPECT_EQ((*limited)[bhttp::field::retry_after], "10");
  EXPECT_EQ(strict.handle(request, "10.0.0.10")->result(), http::Status::bad_request)
      << "another client";
}

TEST_F(SiteApiTest, RecordsBeaconsFromSubscriptionsTheAlertWasSentTo) {
  const auto sub = subscription("https://fcm.googleapis.com/fcm/send/reader");
  ASSERT_EQ(subscribe(sub, {"breaking"}).result(), http::Status::created);
  const json::value endpoint = sub.at("endpoint");
  const json::value auth = sub.at("keys").at("auth");
  store::Alert alert;
  alert.title = "Bridge closed";
  alert.body = "Engineers inspect the pier";
  alert.url = "/articles/bridge-closed";
  alert.created_by = "editor";
  const std::int64_t id = store_->create_alert(alert).value();
  const auto beacon = [&](const json::value& alert_id, const char* event,
                          const json::value& auth_value) {
    return call(
        bhttp::verb::post, "/api/events",
        json::serialize(json::object{
            {"alert", alert_id}, {"event", event}, {"endpoint", endpoint}, {"auth", auth_value}}));
  };
  // A draft never counts: it was sent to nobody.
  EXPECT_EQ(beacon(id, "clicked", auth).result(), http::Status::not_found);
  EXPECT_EQ(store_->alert_engagement(id).value().clicked, 0u);

  ASSERT_TRUE(
      store_->transition_alert(id, store::AlertStatus::kQueued, store::AlertStatus::kSending));
  for (const char* event : {"received", "displayed", "clicked"}) {
    auto response = beacon(id, event, auth);
    EXPECT_EQ(response.result(), http::Status::no_content) << event << ": " << response.body();
  }
  // The service worker may send the id as a string (from the notification's tag); a repeat of
  // an event already reported by this subscription is answered alike and counts nothing.
  EXPECT_EQ(beacon(json::value(std::to_string(id)), "received", auth).result(),
            http::Status::no_content);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(beacon(id, "clicked", auth).result(), http::Status::no_content);
  auto counts = store_->alert_engagement(id).value();
  EXPECT_EQ(counts.received, 1u);
  EXPECT_EQ(counts.displayed, 1u);
  EXPECT_EQ(counts.clicked, 1u);
  // Timed by the server's clock on arrival, and kept with its push service (not its endpoint).
  const auto reach = store_->alert_reach(id).value();
  EXPECT_EQ(reach.received_at_ms, (std::vector<std::int64_t>{clock_.now_ms()}));
  std::uint64_t received = 0;
  for (const auto& service : reach.by_service) received += service[0];
  EXPECT_EQ(received, 1u);

  // Without possession of the subscription, or for a subscription that does not exist, or for
  // another category's alert: nothing.
  EXPECT_EQ(beacon(id, "dismissed", json::value("AQEBAQEBAQEBAQEBAQEBAQ")).result(),
            http::Status::forbidden);
  EXPECT_EQ(call(bhttp::verb::post, "/api/events",
                 json::serialize(json::object{{"alert", id},
                                              {"event", "dismissed"},
                                              {"endpoint", "https://fcm.googleapis.com/fcm/send/x"},
                                              {"auth", auth}}))
                .result(),
            http::Status::not_found);
  alert.category = store::Category::kLive;
  const std::int64_t live = store_->create_alert(alert).value();
  ASSERT_TRUE(
      store_->transition_alert(live, store::AlertStatus::kQueued, store::AlertStatus::kSending));
  EXPECT_EQ(beacon(live, "received", auth).result(), http::Status::not_found);
  EXPECT_EQ(beacon(999999, "received", auth).result(), http::Status::not_found);
  EXPECT_EQ(store_->alert_engagement(id).value().dismissed, 0u);
  EXPECT_EQ(store_->alert_engagement(live).value().received, 0u);

  for (const char* bad : {R"({"alert":1,"event":"opened"})", R"({"alert":-1,"event":"received"})",
                          R"({"alert":"x1","event":"received"})", R"({"event":"received"})", "[]",
                          R"({"alert":1,"event":"received"})",  // no subscription named
                          R"({"alert":1,"event":"received","endpoint":"x","auth":"AAEC"})"}) {
    EXPECT_EQ(call(bhttp::verb::post, "/api/events", bad).result(), http::Status::bad_request)
        << bad;
  }
  EXPECT_EQ(store_->alert_engagement(id).value().received, 1u) << "rejected beacons count nothing";
}

TEST_F(SiteApiTest, ServesTheVapidKeyAndIgnoresOtherPaths) {
  http::Request request(bhttp::verb::get, "/api/vapid-public-key", 11);
  auto response = api_->handle(request, "10.0.0.1");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body(), R"({"publicKey":"BPUBLIC"})");
  http::Request other(bhttp::verb::get, "/api/elsewhere", 11);
  EXPECT_FALSE(api_->handle(other, "10.0.0.1"));
}

TEST_F(SiteApiTest, AStorageFailureAnswers503WithoutItsDetail) {
  // Another connection removes the table under the store: every call on it fails from now on.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "site.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE subscriptions", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  const auto response = subscribe(subscription("https://fcm.googleapis.com/fcm/send/x"), {"live"});
  EXPECT_EQ(response.result(), http::Status::service_unavailable);
  EXPECT_EQ(code(response), "storage");
  EXPECT_EQ(response.body().find("subscriptions"), std::string::npos) << response.body();
}

}  // namespace
// Opt-in beacons: counters per day, category, page type and step; anything else is refused and
// counts nothing.
TEST_F(SiteApiTest, CountsOptInBeaconsAndRefusesBadOnes) {
  const auto optin = [&](const json::object& body) {
    return call(bhttp::verb::post, "/api/optin", json::serialize(body));
  };
  const json::object good{{"step", "shown"}, {"category", "breaking"}, {"page", "article"}};
  EXPECT_EQ(optin(good).result(), http::Status::no_content);
  EXPECT_EQ(optin(good).result(), http::Status::no_content);
  EXPECT_EQ(optin({{"step", "granted"}, {"category", "none"}, {"page", "home"}}).result(),
            http::Status::no_content);
  for (const json::object& bad : std::vector<json::object>{
           {{"step", "bought"}, {"category", "breaking"}, {"page", "article"}},
           {{"step", "shown"}, {"category", "sport"}, {"page", "article"}},
           {{"step", "shown"}, {"category", "breaking"}, {"page", "admin"}},
           {{"step", 1}, {"category", "breaking"}, {"page", "article"}},
           {{"category", "breaking"}, {"page", "article"}},
           {{"step", "shown"}, {"page", "article"}}}) {
    auto response = optin(bad);
    EXPECT_EQ(response.result(), http::Status::bad_request) << json::serialize(bad);
    EXPECT_EQ(code(response), "invalid_optin");
  }
  EXPECT_EQ(call(bhttp::verb::post, "/api/optin", "[1]").result(), http::Status::bad_request);
  EXPECT_EQ(call(bhttp::verb::get, "/api/optin", "").result(), http::Status::method_not_allowed);
  EXPECT_EQ(call(bhttp::verb::post, "/api/optin", json::serialize(good), "10.0.0.1",
                 "https://elsewhere.example")
                .result(),
            http::Status::forbidden);

  const auto counts = store_->optin_counts(0).value();
  ASSERT_EQ(counts.size(), 2u);
  const std::int64_t today = clock_.now_seconds() / 86'400;
  EXPECT_EQ(counts[0].day, today);
  EXPECT_EQ(counts[0].category, 0);
  EXPECT_EQ(counts[0].page, store::PageType::kHome);
  EXPECT_EQ(counts[0].steps[static_cast<std::size_t>(store::OptinStep::kGranted)], 1u);
  EXPECT_EQ(counts[1].category, static_cast<store::CategorySet>(store::Category::kBreaking));
  EXPECT_EQ(counts[1].page, store::PageType::kArticle);
  EXPECT_EQ(counts[1].steps[static_cast<std::size_t>(store::OptinStep::kShown)], 2u);
  EXPECT_EQ(counts[1].steps[static_cast<std::size_t>(store::OptinStep::kClicked)], 0u);
}

}  // namespace flashwire::site
