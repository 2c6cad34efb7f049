#include "newsroom/newsroom_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <tuple>

#include "newsroom/api_tokens.h"
#include "store/sqlite/sqlite_site_store.h"

namespace flashwire::newsroom {
namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

constexpr char kOrigin[] = "https://news.example";

class RecordingQueue final : public news::AlertQueue {
 public:
  void enqueue(std::int64_t alert_id) override { enqueued.push_back(alert_id); }
  void cancel(std::int64_t alert_id) override { cancelled.push_back(alert_id); }
  std::optional<news::Delivery> delivery(std::int64_t alert_id) override {
    if (!report || report->alert_id != alert_id) return std::nullopt;
    return report;
  }
  std::vector<std::int64_t> enqueued;
  std::vector<std::int64_t> cancelled;
  std::optional<news::Delivery> report;  // what delivery() answers for its alert
};

// What the newsroom announced (news::ContentEvents), in order.
class RecordingEvents final : public news::ContentEvents {
 public:
  void article_changed(const news::Article& article) override { changed.push_back(article.slug); }
  void live_update_posted(const news::Article& event, const news::LiveUpdate& update) override {
    posted.emplace_back(event.slug, update.id, update.body_markdown);
  }
  std::vector<std::string> changed;  // slugs
  std::vector<std::tuple<std::string, std::int64_t, std::string>> posted;
};

class NewsroomApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flashwire-newsroom-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto store = store::open_sqlite_site_store((dir_ / "site.sqlite").string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    editor_ = make_token("editor", {"articles:write", "alerts:send", "tokens:admin"});
    writer_ = make_token("writer", {"articles:write"});
    NewsroomApiOptions options;
    options.origin = kOrigin;
    api_ = std::make_unique<NewsroomApi>(*store_, clock_, queue_, events_, options);
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string make_token(const std::string& name, std::vector<std::string> scopes) {
    const std::string secret = generate_token_secret();
    store::ApiToken token;
    token.name = name;
    token.secret_hash = hash_token_secret(secret);
    token.scopes = std::move(scopes);
    token.created_at = clock_.now_seconds();
    EXPECT_TRUE(store_->create_token(token));
    return secret;
  }

  http::Response call(bhttp::verb method, const std::string& path, const std::string& body = "",
                      const std::string& token = "", const std::string& client = "10.0.0.1") {
    http::Request request(method, path, 11);
    const std::string& secret = token.empty() ? editor_ : token;
    if (secret != "-") request.set(bhttp::field::authorization, "Bearer " + secret);
    if (!body.empty()) request.set(bhttp::field::content_type, "application/json");
    request.body() = body;
    return handle(request, client);
  }
  http::Response handle(const http::Request& request, const std::string& client = "10.0.0.1") {
    return api_->handle(request, http::RequestContext{client});
  }
  http::Response post(const std::string& path, const json::value& body,
                      const std::string& token = "") {
    return call(bhttp::verb::post, path, json::serialize(body), token);
  }
  static json::object parsed(const http::Response& response) {
    return json::parse(response.body()).as_object();
  }
  static std::string code(const http::Response& response) {
    return std::string(parsed(response).at("error").as_string());
  }
  static json::object article(const std::string& slug) {
    return json::object{{"slug", slug},
                        {"headline", "Ferry service suspended after storm"},
                        {"standfirst", "Crossings to the islands halted until Friday."},
                        {"byline", "By Ana Ruiz"},
                        {"dateline", "PORT ELLIN"},
                        {"category", "breaking"},
                        {"body_markdown", "The harbour master said **no** ferries would sail."}};
  }
  std::int64_t create(const json::object& body) {
    auto response = post("/api/newsroom/articles", body);
    EXPECT_EQ(response.result(), http::Status::created) << response.body();
    return parsed(response).at("id").as_int64();
  }
  static std::string wrong_token() { return generate_token_secret(); }
  std::size_t audit_count() { return store_->recent_audit(1000).value().size(); }
  std::size_t alert_count() { return store_->recent_alerts(1000).value().size(); }
  void subscribe(const std::string& endpoint, store::CategorySet categories) {
    store::Subscription sub;
    sub.endpoint = endpoint;
    sub.p256dh = "p";
    sub.auth = "a";
    sub.categories = categories;
    ASSERT_TRUE(store_->upsert_subscription(sub));
  }

  std::filesystem::path dir_;
  ManualClock clock_{1'800'000'000};
  std::unique_ptr<store::SiteStore> store_;
  RecordingQueue queue_;
  RecordingEvents events_;
  std::string editor_, writer_;
  std::unique_ptr<NewsroomApi> api_;
};

TEST_F(NewsroomApiTest, AnswersOtherPathsNotFound) {
  http::Request request(bhttp::verb::get, "/api/subscriptions", 11);
  request.set(bhttp::field::authorization, "Bearer " + editor_);
  EXPECT_EQ(handle(request).result(), http::Status::not_found);
  http::Request lookalike(bhttp::verb::get, "/api/newsroomx/articles", 11);
  lookalike.set(bhttp::field::authorization, "Bearer " + editor_);
  EXPECT_EQ(handle(lookalike).result(), http::Status::not_found);
}

TEST_F(NewsroomApiTest, RefusesMissingBadUnknownRevokedTokensAndMissingScopes) {
  const std::string revoked = make_token("gone", {"articles:write"});
  ASSERT_TRUE(store_->revoke_token("gone"));
  const std::string unknown = generate_token_secret();
  const std::vector<std::tuple<std::string, std::string, http::Status, std::string>> cases = {
      {"missing", "-", http::Status::unauthorized, "missing_token"},
      {"malformed", "fw_short", http::Status::unauthorized, "invalid_token"},
      {"unknown", unknown, http::Status::unauthorized, "invalid_token"},
      {"revoked", revoked, http::Status::unauthorized, "invalid_token"},
  };
  for (const auto& [name, token, status, error] : cases) {
    auto response = call(bhttp::verb::get, "/api/newsroom/articles", "", token, "10.0.0." + name);
    EXPECT_EQ(response.result(), status) << name;
    EXPECT_EQ(code(response), error) << name;
    EXPECT_EQ(response[bhttp::field::www_authenticate], "Bearer") << name;
    EXPECT_EQ(response.body().find(token), std::string::npos) << "secret echoed: " << name;
  }
  http::Request basic(bhttp::verb::get, "/api/newsroom/articles", 11);
  basic.set(bhttp::field::authorization, "Basic " + editor_);
  EXPECT_EQ(handle(basic, "10.0.0.9").result(), http::Status::unauthorized);

  auto forbidden = call(bhttp::verb::get, "/api/newsroom/audience", "", writer_);
  EXPECT_EQ(forbidden.result(), http::Status::forbidden);
  EXPECT_EQ(code(forbidden), "insufficient_scope");
  EXPECT_NE(parsed(forbidden).at("message").as_string().find("alerts:send"), std::string::npos);
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/audit", "", writer_).result(),
            http::Status::forbidden);
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/articles", "", writer_).result(),
            http::Status::ok);
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/audit").result(), http::Status::ok);
}

TEST_F(NewsroomApiTest, RateLimitsRepeatedFailedAuthentication) {
  const std::string wrong = generate_token_secret();
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/articles", "", wrong, "10.9.9.9").result(),
              http::Status::unauthorized)
        << i;
  }
  auto limited = call(bhttp::verb::get, "/api/newsroom/articles", "", wrong, "10.9.9.9");
  EXPECT_EQ(limited.result(), http::Status::too_many_requests);
  EXPECT_FALSE(limited[bhttp::field::retry_after].empty());
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/articles", "", "-", "10.9.9.9").result(),
            http::Status::too_many_requests)
      << "no token at all counts as a failure too";
  // Other addresses are unaffected, and the address recovers with time.
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/articles", "", wrong, "10.9.9.8").result(),
            http::Status::unauthorized);
  clock_.advance(60);
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/articles", "", wrong, "10.9.9.9").result(),
            http::Status::unauthorized);
}

// Ten random tokens (e.g. from strangers behind the same proxy) must not lock out an editor
// whose token is valid.
TEST_F(NewsroomApiTest, AValidTokenIsNeverLockedOut) {
  for (int i = 0; i < 12; ++i)
    (void)call(bhttp::verb::get, "/api/newsroom/articles", "", generate_token_secret(), "10.9.9.9");
  EXPECT_EQ(
      call(bhttp::verb::get, "/api/newsroom/articles", "", wrong_token(), "10.9.9.9").result(),
      http::Status::too_many_requests);
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/articles", "", editor_, "10.9.9.9").result(),
            http::Status::ok);
}

TEST_F(NewsroomApiTest, AuditsFailedAuthenticationsWithoutTheSecretAndBounded) {
  const std::string revoked = make_token("gone", {"articles:write"});
  ASSERT_TRUE(store_->revoke_token("gone"));
  const std::string unknown = generate_token_secret();
  (void)call(bhttp::verb::get, "/api/newsroom/articles", "", unknown, "10.1.1.1");
  (void)call(bhttp::verb::get, "/api/newsroom/articles", "", revoked, "10.1.1.2");
  (void)call(bhttp::verb::get, "/api/newsroom/articles", "", "fw_short", "10.1.1.3");
  (void)call(bhttp::verb::get, "/api/newsroom/articles", "", "-", "10.1.1.4");  // no attempt
  const auto entries = store_->recent_audit(10).value();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].action, "auth.fail");
  EXPECT_EQ(entries[0].actor, "-");
  EXPECT_EQ(entries[0].detail, "malformed Authorization from 10.1.1.3");
  EXPECT_EQ(entries[1].actor, "gone");
  EXPECT_EQ(entries[1].detail, "revoked token from 10.1.1.2");
  EXPECT_EQ(entries[2].detail, "unknown token from 10.1.1.1");
  for (const auto& entry : entries) {
    EXPECT_EQ(entry.detail.find(unknown), std::string::npos);
    EXPECT_EQ(entry.detail.find(revoked), std::string::npos);
  }
  // Many addresses, each within its own limit: the log grows by at most the site-wide cap.
  for (int i = 0; i < 200; ++i) {
    (void)call(bhttp::verb::get, "/api/newsroom/articles", "", unknown,
               "10.2." + std::to_string(i / 200) + "." + std::to_string(i % 200));
  }
  EXPECT_EQ(audit_count(), 60u);
}

TEST_F(NewsroomApiTest, CreatesUpdatesAndPublishesArticlesWithAuditAndInvalidation) {
  const std::int64_t id = create(article("ferry-suspended"));
  EXPECT_EQ(events_.changed, std::vector<std::string>{"ferry-suspended"});
  auto draft = store_->find_article(id).value();
  ASSERT_TRUE(draft.has_value());
  EXPECT_FALSE(draft->published);
  EXPECT_EQ(draft->headline, "Ferry service suspended after storm");
  // Drafts are readable by id but not listed.
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/articles/" + std::to_string(id)).result(),
            http::Status::ok);
  EXPECT_TRUE(
      parsed(call(bhttp::verb::get, "/api/newsroom/articles")).at("articles").as_array().empty());

  json::object changed = article("ferry-suspended");
  changed["headline"] = "Ferries suspended until Friday";
  auto updated = call(bhttp::verb::put, "/api/newsroom/articles/" + std::to_string(id),
                      json::serialize(changed));
  ASSERT_EQ(updated.result(), http::Status::ok) << updated.body();
  EXPECT_EQ(store_->find_article(id).value()->headline, "Ferries suspended until Friday");
  EXPECT_EQ(events_.changed.size(), 2u);

  clock_.advance(5);
  auto published =
      call(bhttp::verb::post, "/api/newsroom/articles/" + std::to_string(id) + "/publish");
  ASSERT_EQ(published.result(), http::Status::ok) << published.body();
  auto stored = store_->find_article(id).value();
  EXPECT_TRUE(stored->published);
  EXPECT_EQ(stored->published_at, clock_.now_seconds());
  EXPECT_EQ(events_.changed.size(), 3u);
  // Publishing again changes nothing.
  clock_.advance(5);
  EXPECT_EQ(
      call(bhttp::verb::post, "/api/newsroom/articles/" + std::to_string(id) + "/publish").result(),
      http::Status::ok);
  EXPECT_EQ(store_->find_article(id).value()->published_at, clock_.now_seconds() - 5);
  EXPECT_EQ(events_.changed.size(), 3u);
  EXPECT_EQ(
      parsed(call(bhttp::verb::get, "/api/newsroom/articles")).at("articles").as_array().size(),
      1u);

  json::object live = article("storm-live");
  live["category"] = "live";
  live["publish"] = true;
  auto created = post("/api/newsroom/articles", live);
  ASSERT_EQ(created.result(), http::Status::created);
  EXPECT_EQ(parsed(created).at("url"), "/live/storm-live");
  EXPECT_TRUE(store_->find_article_by_slug("storm-live").value()->published);

  auto entries = store_->recent_audit(10).value();
  std::vector<std::string> actions;
  for (const auto& entry : entries) {
    EXPECT_EQ(entry.actor, "editor");
    actions.push_back(entry.action + " " + entry.detail);
  }
  std::sort(actions.begin(), actions.end());
  EXPECT_EQ(actions, (std::vector<std::string>{
                         "article.create ferry-suspended", "article.create storm-live",
                         "article.publish ferry-suspended", "article.publish storm-live",
                         "article.update ferry-suspended"}));
}

TEST_F(NewsroomApiTest, RejectsInvalidArticlesAndStoresNothing) {
  auto with = [](const char* key, json::value value) {
    json::object body = article("valid-slug");
    body[key] = std::move(value);
    return body;
  };
  auto without = [](const char* key) {
    json::object body = article("valid-slug");
    body.erase(key);
    return body;
  };
  const std::vector<std::tuple<std::string, json::object, std::string>> cases = {
      {"upper-case slug", with("slug", "Bad_Slug"), "slug"},
      {"long slug", with("slug", json::string(121, 'a')), "slug"},
      {"no slug", without("slug"), "slug"},
      {"empty headline", with("headline", ""), "headline"},
      {"long headline", with("headline", json::string(201, 'h')), "headline"},
      {"headline number", with("headline", 7), "headline"},
      {"no body", without("body_markdown"), "body_markdown"},
      {"unknown category", with("category", "sport"), "category"},
      {"http image",
       [&] {
         auto b = with("image_url", "http://cdn.example/a.jpg");
         b["image_alt"] = "x";
         return b;
       }(),
       "image_url"},
      {"scheme-relative image",
       [&] {
         auto b = with("image_url", "//cdn.example/a.jpg");
         b["image_alt"] = "x";
         return b;
       }(),
       "image_url"},
      {"image without alt", with("image_url", "https://cdn.example/a.jpg"), "image_alt"},
      {"publish string", with("publish", "yes"), "publish"},
  };
  for (const auto& [name, body, field] : cases) {
    auto response = post("/api/newsroom/articles", body);
    EXPECT_EQ(response.result(), http::Status::bad_request) << name;
    EXPECT_EQ(code(response), "invalid_field") << name;
    EXPECT_TRUE(parsed(response).at("message").as_string().starts_with(field + ":"))
        << name << ": " << response.body();
  }
  EXPECT_EQ(call(bhttp::verb::post, "/api/newsroom/articles", "{").result(),
            http::Status::bad_request);
  http::Request text(bhttp::verb::post, "/api/newsroom/articles", 11);
  text.set(bhttp::field::authorization, "Bearer " + editor_);
  text.set(bhttp::field::content_type, "text/plain");
  text.body() = json::serialize(article("valid-slug"));
  EXPECT_EQ(handle(text, "10.0.0.1").result(), http::Status::unsupported_media_type);
  EXPECT_EQ(call(bhttp::verb::post, "/api/newsroom/articles", std::string(65 * 1024, ' ')).result(),
            http::Status::payload_too_large);
  EXPECT_EQ(store_->article_count().value(), 0u);

  // A site-relative image with alt text is fine.
  auto image = with("image_url", "/assets/ferry.jpg");
  image["image_alt"] = "A ferry moored in the storm";
  create(image);

  auto conflict = post("/api/newsroom/articles", article("valid-slug"));
  EXPECT_EQ(conflict.result(), http::Status::conflict);
  EXPECT_EQ(code(conflict), "slug_taken");
  auto absent =
      call(bhttp::verb::put, "/api/newsroom/articles/999", json::serialize(article("other")));
  EXPECT_EQ(absent.result(), http::Status::not_found);
  EXPECT_EQ(call(bhttp::verb::post, "/api/newsroom/articles/999/publish").result(),
            http::Status::not_found);
  EXPECT_EQ(store_->article_count().value(), 1u);
  EXPECT_EQ(audit_count(), 1u);
  EXPECT_EQ(events_.changed.size(), 1u);
}

// The lead image's renditions: checked one by one, stored, listed back; an update that does
// not mention them keeps those of the same image.
TEST_F(NewsroomApiTest, ImageRenditionsAreCheckedStoredAndKeptForTheSameImage) {
  auto with_renditions = [](json::value renditions, bool with_image = true) {
    json::object body = article("with-renditions");
    if (with_image) {
      body["image_url"] = "/assets/ferry.svg";
      body["image_alt"] = "A ferry moored in the storm";
    }
    body["image_renditions"] = std::move(renditions);
    return body;
  };
  auto one = [](json::value url, json::value width) {
    return json::array{json::object{{"url", std::move(url)}, {"width", std::move(width)}}};
  };
  json::array nine;
  for (int i = 1; i <= 9; ++i) nine.push_back(json::object{{"url", "/i.png"}, {"width", i}});
  const std::vector<std::pair<std::string, json::object>> refused = {
      {"not an array", with_renditions("/a.png 480w")},
      {"not an object", with_renditions(json::array{"/a.png"})},
      {"no url", with_renditions(json::array{json::object{{"width", 480}}})},
      {"http url", with_renditions(one("http://cdn.example/a.png", 480))},
      {"scheme-relative url", with_renditions(one("//cdn.example/a.png", 480))},
      {"javascript url", with_renditions(one("javascript:alert(1)", 480))},
      {"space in url", with_renditions(one("/a b.png", 480))},
      {"comma in url", with_renditions(one("/a,b.png", 480))},
      {"quote in url", with_renditions(one("/a\".png", 480))},
      {"number url", with_renditions(one(5, 480))},
      {"width 0", with_renditions(one("/a.png", 0))},
      {"width 10001", with_renditions(one("/a.png", 10001))},
      {"fractional width", with_renditions(one("/a.png", 480.5))},
      {"string width", with_renditions(one("/a.png", "480"))},
      {"same width twice",
       with_renditions(json::array{json::object{{"url", "/a.png"}, {"width", 480}},
                                   json::object{{"url", "/b.png"}, {"width", 480}}})},
      {"nine", with_renditions(nine)},
      {"without an image", with_renditions(one("/a.png", 480), /*with_image=*/false)},
  };
  for (const auto& [name, body] : refused) {
    auto response = post("/api/newsroom/articles", body);
    EXPECT_EQ(response.result(), http::Status::bad_request) << name;
    EXPECT_TRUE(parsed(response).at("message").as_string().starts_with("image_renditions:"))
        << name << ": " << response.body();
  }
  EXPECT_EQ(store_->article_count().value(), 0u);

  const json::array renditions{
      json::object{{"url", "/assets/ferry-480.png"}, {"width", 480}},
      json::object{{"url", "https://img.example/ferry-1440.webp?v=2"}, {"width", 1440}}};
  const std::int64_t id = create(with_renditions(renditions));
  const std::vector<news::ImageRendition> stored{{"/assets/ferry-480.png", 480},
                                                 {"https://img.example/ferry-1440.webp?v=2", 1440}};
  EXPECT_EQ(store_->find_article(id).value()->image_renditions, stored);

  // A full update from a form that knows nothing of renditions keeps them for the same image…
  json::object same = with_renditions(nullptr);
  same.erase("image_renditions");
  same["headline"] = "Ferry service resumes";
  auto updated =
      call(bhttp::verb::put, "/api/newsroom/articles/" + std::to_string(id), json::serialize(same));
  ASSERT_EQ(updated.result(), http::Status::ok) << updated.body();
  EXPECT_EQ(parsed(updated).at("image_renditions"), json::value(renditions));
  EXPECT_EQ(store_->find_article(id).value()->image_renditions, stored);
  // … null or [] drops them, and so does another image.
  auto cleared = call(bhttp::verb::put, "/api/newsroom/articles/" + std::to_string(id),
                      json::serialize(with_renditions(json::array{})));
  ASSERT_EQ(cleared.result(), http::Status::ok);
  EXPECT_TRUE(store_->find_article(id).value()->image_renditions.empty());
  ASSERT_EQ(call(bhttp::verb::put, "/api/newsroom/articles/" + std::to_string(id),
                 json::serialize(with_renditions(renditions)))
                .result(),
            http::Status::ok);
  json::object other = same;
  other["image_url"] = "/assets/other.svg";
  ASSERT_EQ(
      call(bhttp::verb::put, "/api/newsroom/articles/" + std::to_string(id), json::serialize(other))
          .result(),
      http::Status::ok);
  EXPECT_TRUE(store_->find_article(id).value()->image_renditions.empty())
      << "sizes of the old image are not sizes of the new one";
}

TEST_F(NewsroomApiTest, CountsTheAudiencePerCategory) {
  subscribe("https://push.example/1", 1);
  subscribe("https://push.example/2", 1 | 2);
  subscribe("https://push.example/3", 4);
  auto response = call(bhttp::verb::get, "/api/newsroom/audience");
  ASSERT_EQ(response.result(), http::Status::ok);
  EXPECT_EQ(parsed(response), (json::object{{"breaking", 2}, {"live", 1}, {"exclusive", 1}}));
}

TEST_F(NewsroomApiTest, ComposesFromAnArticleAndSendsOnlyAfterConfirmation) {
  subscribe("https://push.example/1", 2);
  json::object live = article("storm-live");
  live["category"] = "live";
  live["publish"] = true;
  const std::int64_t article_id = create(live);

  auto composed =
      post("/api/newsroom/alerts", json::object{{"article_id", article_id}, {"category", "live"}});
  ASSERT_EQ(composed.result(), http::Status::created) << composed.body();
  const std::int64_t id = parsed(composed).at("id").as_int64();
  EXPECT_EQ(parsed(composed).at("audience"), 1);
  EXPECT_EQ(parsed(composed).at("confirm").as_string(),
            "/api/newsroom/alerts/" + std::to_string(id) + "/send");
  auto alert = store_->find_alert(id).value();
  ASSERT_TRUE(alert.has_value());
  EXPECT_EQ(alert->title, "Ferry service suspended after storm");
  EXPECT_EQ(alert->body, "Crossings to the islands halted until Friday.");
  EXPECT_EQ(alert->url, "/live/storm-live");
  EXPECT_EQ(alert->urgency, "high");
  EXPECT_EQ(alert->ttl_seconds, 900);
  EXPECT_EQ(alert->topic, "live-" + std::to_string(article_id));
  EXPECT_EQ(alert->created_by, "editor");
  EXPECT_EQ(alert->status, store::AlertStatus::kQueued);
  EXPECT_TRUE(queue_.enqueued.empty()) << "nothing is sent before confirmation";

  const std::string send = "/api/newsroom/alerts/" + std::to_string(id) + "/send";
  EXPECT_EQ(post(send, json::object{}).result(), http::Status::bad_request);
  EXPECT_EQ(post(send, json::object{{"confirm", false}}).result(), http::Status::bad_request);
  EXPECT_TRUE(queue_.enqueued.empty());

  auto sent = post(send, json::object{{"confirm", true}});
  ASSERT_EQ(sent.result(), http::Status::accepted) << sent.body();
  EXPECT_EQ(parsed(sent).at("progress"), json::value("/api/newsroom/alerts/" + std::to_string(id)));
  EXPECT_EQ(queue_.enqueued, (std::vector<std::int64_t>{id}));
  EXPECT_EQ(store_->find_alert(id).value()->status, store::AlertStatus::kSending);
  auto again = post(send, json::object{{"confirm", true}});
  EXPECT_EQ(again.result(), http::Status::conflict);
  EXPECT_EQ(queue_.enqueued.size(), 1u);
  EXPECT_EQ(store_->recent_audit(1).value().at(0).action, "alert.send");
  EXPECT_EQ(store_->recent_audit(1).value().at(0).detail, "live, audience 1");

  const auto reader = store_->find_subscription("https://push.example/1").value()->id;
  ASSERT_TRUE(store_->record_alert_event(id, reader, store::AlertEvent::kReceived, 1));
  ASSERT_TRUE(store_->record_alert_event(id, reader, store::AlertEvent::kClicked, 2));
  auto one = parsed(call(bhttp::verb::get, "/api/newsroom/alerts/" + std::to_string(id)));
  EXPECT_EQ(one.at("status"), "sending");
  EXPECT_EQ(one.at("engagement"),
            (json::object{{"received", 1}, {"displayed", 0}, {"clicked", 1}, {"dismissed", 0}}));
  auto list = parsed(call(bhttp::verb::get, "/api/newsroom/alerts")).at("alerts").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("engagement").at("clicked"), 1);
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/alerts/999").result(), http::Status::not_found);
}

TEST_F(NewsroomApiTest, CancelsADraft) {
  json::object bridge = article("bridge");
  bridge["publish"] = true;
  create(bridge);
  auto composed = post("/api/newsroom/alerts", json::object{{"category", "breaking"},
                                                            {"title", "Bridge closed"},
                                                            {"url", "/articles/bridge"}});
  ASSERT_EQ(composed.result(), http::Status::created) << composed.body();
  const std::string id = std::to_string(parsed(composed).at("id").as_int64());
  EXPECT_EQ(store_->find_alert(std::stoll(id)).value()->ttl_seconds, 3600);
  auto cancelled = post("/api/newsroom/alerts/" + id + "/cancel", json::object{});
  ASSERT_EQ(cancelled.result(), http::Status::ok) << cancelled.body();
  EXPECT_EQ(store_->find_alert(std::stoll(id)).value()->status, store::AlertStatus::kCancelled);
  EXPECT_EQ(post("/api/newsroom/alerts/" + id + "/send", json::object{{"confirm", true}}).result(),
            http::Status::conflict);
  EXPECT_TRUE(queue_.enqueued.empty());
}

TEST_F(NewsroomApiTest, ShowsDeliveryProgressAndCancelsWhileSending) {
  json::object bridge = article("bridge");
  bridge["publish"] = true;
  create(bridge);
  subscribe("https://push.example/1", 1);
  auto composed = post("/api/newsroom/alerts", json::object{{"category", "breaking"},
                                                            {"title", "Bridge closed"},
                                                            {"url", "/articles/bridge"}});
  ASSERT_EQ(composed.result(), http::Status::created) << composed.body();
  const std::int64_t id = parsed(composed).at("id").as_int64();
  const std::string path = "/api/newsroom/alerts/" + std::to_string(id);
  EXPECT_TRUE(parsed(call(bhttp::verb::get, path)).at("delivery").is_null())
      << "a draft has no delivery yet";
  ASSERT_EQ(post(path + "/send", json::object{{"confirm", true}}).result(), http::Status::accepted);

  news::Delivery d;
  d.alert_id = id;
  d.audience = 10;
  d.targeted = 10;
  d.started_at_ms = 1'000'000;
  d.counts.sent = 6;
  d.counts.gone = 1;
  d.counts.failed = 1;
  d.counts.failed_by_reason["http_413"] = 1;
  d.counts.retried = 3;
  d.counts.last_accept_ms = 1'000'750;
  d.counts.accept_latency[0] = 6;
  d.error = "push service https://push.example rejected our VAPID credentials (http_403)";
  queue_.report = d;
  const json::value delivery = parsed(call(bhttp::verb::get, path)).at("delivery");
  EXPECT_EQ(delivery.at("state"), "running");
  EXPECT_EQ(delivery.at("sent"), 6);
  EXPECT_EQ(delivery.at("gone"), 1);
  EXPECT_EQ(delivery.at("failed"), 1);
  EXPECT_EQ(delivery.at("pending"), 2);
  EXPECT_EQ(delivery.at("retried"), 3);
  EXPECT_EQ(delivery.at("failed_by_reason"), (json::object{{"http_413", 1}}));
  EXPECT_EQ(delivery.at("time_to_last_accept_ms"), 750);
  EXPECT_EQ(delivery.at("accept_latency").as_array().at(0).at("count"), 6);
  EXPECT_EQ(delivery.at("error"), json::value(d.error));
  auto listed = parsed(call(bhttp::verb::get, "/api/newsroom/alerts")).at("alerts").as_array();
  EXPECT_EQ(listed.at(0).at("delivery").at("sent"), 6);

  auto cancelled = post(path + "/cancel", json::object{});
  ASSERT_EQ(cancelled.result(), http::Status::ok) << cancelled.body();
  EXPECT_EQ(queue_.cancelled, (std::vector<std::int64_t>{id}));
  EXPECT_EQ(store_->find_alert(id).value()->status, store::AlertStatus::kCancelled);
  EXPECT_EQ(store_->recent_audit(1).value().at(0).action, "alert.cancel");
  EXPECT_NE(store_->recent_audit(1).value().at(0).detail.find("while sending"), std::string::npos);
  EXPECT_EQ(post(path + "/cancel", json::object{}).result(), http::Status::conflict)
      << "a cancelled alert cannot be cancelled again";
  EXPECT_EQ(queue_.cancelled.size(), 1u);
}

TEST_F(NewsroomApiTest, RejectsInvalidAlertsAndStoresNothing) {
  const json::object good{{"category", "breaking"}, {"title", "Bridge closed"}, {"url", "/"}};
  auto with = [&](const char* key, json::value value) {
    json::object body = good;
    body[key] = std::move(value);
    return body;
  };
  const std::vector<std::tuple<std::string, json::object, std::string>> cases = {
      {"foreign url", with("url", "https://evil.example/a"), "url"},
      {"look-alike origin", with("url", "https://news.example.evil/a"), "url"},
      {"scheme-relative url", with("url", "//evil.example/a"), "url"},
      {"javascript url", with("url", "javascript:alert(1)"), "url"},
      {"no url", json::object{{"category", "breaking"}, {"title", "x"}}, "url"},
      {"bad urgency", with("urgency", "urgent"), "urgency"},
      {"negative ttl", with("ttl_seconds", -1), "ttl_seconds"},
      {"long ttl", with("ttl_seconds", 2'419'201), "ttl_seconds"},
      {"text ttl", with("ttl_seconds", "60"), "ttl_seconds"},
      {"long topic", with("topic", json::string(33, 'a')), "topic"},
      {"topic with dot", with("topic", "live.1"), "topic"},
      {"empty title", with("title", ""), "title"},
      {"long title", with("title", json::string(121, 't')), "title"},
      {"long body", with("body", json::string(241, 'b')), "body"},
      {"no category", json::object{{"title", "x"}, {"url", "/a"}}, "category"},
      {"unknown article", with("article_id", 999), "article_id"},
  };
  for (const auto& [name, body, field] : cases) {
    auto response = post("/api/newsroom/alerts", body);
    EXPECT_EQ(response.result(), http::Status::bad_request) << name;
    EXPECT_TRUE(parsed(response).at("message").as_string().starts_with(field + ":"))
        << name << ": " << response.body();
  }
  EXPECT_EQ(alert_count(), 0u);
  EXPECT_EQ(audit_count(), 0u);
  EXPECT_TRUE(queue_.enqueued.empty());

  // The site's own absolute URL is accepted; so are the TTL bounds.
  EXPECT_EQ(
      post("/api/newsroom/alerts", with("url", json::string(std::string(kOrigin) + "/preferences")))
          .result(),
      http::Status::created);
  EXPECT_EQ(post("/api/newsroom/alerts", with("ttl_seconds", 2'419'200)).result(),
            http::Status::created);
}

TEST_F(NewsroomApiTest, AnswersUnknownRoutesAndMethods) {
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/nothing").result(), http::Status::not_found);
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/articles/abc").result(), http::Status::not_found);
  auto wrong = call(bhttp::verb::delete_, "/api/newsroom/articles/1");
  EXPECT_EQ(wrong.result(), http::Status::method_not_allowed);
  EXPECT_EQ(wrong[bhttp::field::allow], "GET, PUT");
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/audit")[bhttp::field::cache_control], "no-store");
}

TEST_F(NewsroomApiTest, EveryRouteAnswersOtherMethodsWithItsAllowList) {
  const std::vector<std::tuple<bhttp::verb, std::string, std::string>> cases = {
      {bhttp::verb::delete_, "/api/newsroom/articles", "GET, POST"},
      {bhttp::verb::delete_, "/api/newsroom/articles/1", "GET, PUT"},
      {bhttp::verb::get, "/api/newsroom/articles/1/publish", "POST"},
      {bhttp::verb::post, "/api/newsroom/audience", "GET"},
      {bhttp::verb::put, "/api/newsroom/alerts", "GET, POST"},
      {bhttp::verb::post, "/api/newsroom/alerts/3", "GET"},
      {bhttp::verb::get, "/api/newsroom/alerts/3/send", "POST"},
      {bhttp::verb::put, "/api/newsroom/alerts/3/cancel", "POST"},
      {bhttp::verb::head, "/api/newsroom/audit", "GET"},
      {bhttp::verb::put, "/api/newsroom/live/storm-live/updates", "GET, POST"},
  };
  for (const auto& [method, path, allow] : cases) {
    const auto response = call(method, path);
    EXPECT_EQ(response.result(), http::Status::method_not_allowed) << path;
    EXPECT_EQ(response[bhttp::field::allow], allow) << path;
    EXPECT_EQ(code(response), "method_not_allowed") << path;
  }
  for (const char* path : {"/api/newsroom", "/api/newsroom/", "/api/newsroom/articles/0",
                           "/api/newsroom/articles/-1", "/api/newsroom/articles/1/publish/now",
                           "/api/newsroom/alerts/1/resend", "/api/newsroom/live/Storm_Live/updates",
                           "/api/newsroom/live/storm-live", "/api/newsroom/audit/1"}) {
    EXPECT_EQ(call(bhttp::verb::get, path).result(), http::Status::not_found) << path;
  }
}

// --- live events ---

class NewsroomLiveTest : public NewsroomApiTest {
 protected:
  void SetUp() override {
    NewsroomApiTest::SetUp();
    json::object live = article("storm-live");
    live["category"] = "live";
    live["publish"] = true;
    event_ = create(live);
    live["slug"] = "vote-live";
    live["publish"] = false;
    draft_event_ = create(live);
    create(article("plain-news"));
  }
  http::Response post_update(const std::string& slug, const json::value& body,
                             const std::string& token = "") {
    return post("/api/newsroom/live/" + slug + "/updates", body, token);
  }
  std::size_t stored_updates() {
    return store_->recent_live_updates(event_, 1000).value().size() +
           store_->recent_live_updates(draft_event_, 1000).value().size();
  }

  std::int64_t event_ = 0;
  std::int64_t draft_event_ = 0;
};

TEST_F(NewsroomLiveTest, PostsUpdatesWithAuditAndTheHookAndListsThemNewestFirst) {
  const std::size_t audits = audit_count();
  clock_.advance(30);
  auto created = post_update("storm-live", json::object{{"body_markdown", "Winds **ease**."}});
  ASSERT_EQ(created.result(), http::Status::created) << created.body();
  const std::int64_t first = parsed(created).at("id").as_int64();
  EXPECT_EQ(parsed(created).at("url").as_string(),
            "/live/storm-live#update-" + std::to_string(first));
  EXPECT_EQ(created[bhttp::field::cache_control], "no-store");
  ASSERT_EQ(events_.posted.size(), 1u);
  EXPECT_EQ(events_.posted[0],
            std::make_tuple(std::string("storm-live"), first, std::string("Winds **ease**.")));
  EXPECT_EQ(audit_count(), audits + 1);
  const auto entry = store_->recent_audit(1).value().at(0);
  EXPECT_EQ(entry.action, "live.update");
  EXPECT_EQ(entry.actor, "editor");
  EXPECT_EQ(entry.detail, "storm-live, #" + std::to_string(first));

  clock_.advance(30);
  auto second = post_update("storm-live", json::object{{"body_markdown", "Power is back."}},
                            writer_);  // articles:write is enough
  ASSERT_EQ(second.result(), http::Status::created) << second.body();
  const std::int64_t second_id = parsed(second).at("id").as_int64();
  EXPECT_GT(second_id, first);

  auto listed = call(bhttp::verb::get, "/api/newsroom/live/storm-live/updates", "", writer_);
  ASSERT_EQ(listed.result(), http::Status::ok) << listed.body();
  const json::object list = parsed(listed);
  const auto& updates = list.at("updates").as_array();
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0].at("id").as_int64(), second_id);
  EXPECT_EQ(updates[0].at("body_markdown").as_string(), "Power is back.");
  EXPECT_EQ(updates[0].at("created_by").as_string(), "writer");
  EXPECT_EQ(updates[0].at("created_at").as_int64(), clock_.now_seconds());
  EXPECT_EQ(updates[1].at("id").as_int64(), first);
  // A draft live event has no updates yet, but editors may look.
  auto draft = call(bhttp::verb::get, "/api/newsroom/live/vote-live/updates");
  ASSERT_EQ(draft.result(), http::Status::ok);
  EXPECT_TRUE(parsed(draft).at("updates").as_array().empty());
  EXPECT_FALSE(parsed(draft).at("published").as_bool());
}

TEST_F(NewsroomLiveTest, RejectsBadUpdatesInTheUsualOrderAndStoresNothing) {
  const std::size_t audits = audit_count();
  const std::string ok = R"({"body_markdown":"fine"})";
  const std::string path = "/api/newsroom/live/storm-live/updates";
  struct Case {
    const char* name;
    http::Response response;
    http::Status status;
    const char* error;
  };
  const std::string alerts_only = make_token("alerts-only", {"alerts:send"});
  http::Request as_text(bhttp::verb::post, path, 11);
  as_text.set(bhttp::field::authorization, "Bearer " + editor_);
  as_text.set(bhttp::field::content_type, "text/plain");
  as_text.body() = ok;
  const Case cases[] = {
      {"no token", call(bhttp::verb::post, path, ok, "-"), http::Status::unauthorized,
       "missing_token"},
      {"no scope", call(bhttp::verb::post, path, ok, alerts_only), http::Status::forbidden,
       "insufficient_scope"},
      {"wrong method", call(bhttp::verb::put, path, ok), http::Status::method_not_allowed,
       "method_not_allowed"},
      {"not JSON", handle(as_text, "10.0.0.1"), http::Status::unsupported_media_type,
       "unsupported_media_type"},
      {"too large",
       call(bhttp::verb::post, path,
            json::serialize(json::object{{"body_markdown", std::string(65 * 1024, 'a')}})),
       http::Status::payload_too_large, "payload_too_large"},
      {"no body", call(bhttp::verb::post, path), http::Status::bad_request, "invalid_json"},
      {"an array", call(bhttp::verb::post, path, "[1]"), http::Status::bad_request, "invalid_json"},
      {"missing text", post_update("storm-live", json::object{}), http::Status::bad_request,
       "invalid_field"},
      {"blank text", post_update("storm-live", json::object{{"body_markdown", " \n\t "}}),
       http::Status::bad_request, "invalid_field"},
      {"not a string", post_update("storm-live", json::object{{"body_markdown", 42}}),
       http::Status::bad_request, "invalid_field"},
      {"over 20 KB",
       post_update("storm-live", json::object{{"body_markdown", std::string(20'001, 'a')}}),
       http::Status::bad_request, "invalid_field"},
      {"control character",
       post_update("storm-live", json::object{{"body_markdown", std::string("a\x01z")}}),
       http::Status::bad_request, "invalid_field"},
      {"unknown slug", post_update("no-such-event", json::parse(ok)), http::Status::not_found,
       "not_found"},
      {"bad slug", post_update("Storm_Live", json::parse(ok)), http::Status::not_found,
       "not_found"},
      {"not a live event", post_update("plain-news", json::parse(ok)), http::Status::not_found,
       "not_found"},
      {"a draft event", post_update("vote-live", json::parse(ok)), http::Status::conflict,
       "not_published"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(c.response.result(), c.status) << c.name << ": " << c.response.body();
    EXPECT_EQ(code(c.response), c.error) << c.name;
  }
  EXPECT_EQ(
      std::string(parsed(cases[7].response).at("message").as_string()).rfind("body_markdown", 0),
      0u)
      << "the message starts with the field's name";
  EXPECT_EQ(stored_updates(), 0u);
  EXPECT_TRUE(events_.posted.empty());
  EXPECT_EQ(audit_count(), audits);
  // The largest allowed update, with tabs and line breaks, is fine.
  std::string largest(20'000, 'a');
  largest[10] = '\n';
  largest[11] = '\t';
  EXPECT_EQ(post_update("storm-live", json::object{{"body_markdown", largest}}).result(),
            http::Status::created);
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/live/plain-news/updates").result(),
            http::Status::not_found);
  EXPECT_EQ(call(bhttp::verb::get, "/api/newsroom/live/storm-live").result(),
            http::Status::not_found);
}

}  // namespace
}  // namespace flashwire::newsroom
