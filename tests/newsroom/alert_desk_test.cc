// The editors' desk around alerts: guardrails (with force and its audit), scheduling with
// send_at and the scheduler's claim, and the RFC 3339 times it reads. A real SQLite store on
// disk; a clock the tests move; a queue that records what it was handed.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>

#include "newsroom/alert_schedule.h"
#include "newsroom/api_tokens.h"
#include "newsroom/newsroom_api.h"
#include "store/sqlite/sqlite_site_store.h"

namespace flashwire::newsroom {
namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

constexpr char kOrigin[] = "https://news.example";
constexpr std::int64_t kNow = 1'800'000'000;  // 2027-01-15T08:00:00Z

class RecordingQueue final : public news::AlertQueue {
 public:
  void enqueue(std::int64_t alert_id) override { enqueued.push_back(alert_id); }
  void cancel(std::int64_t alert_id) override { cancelled.push_back(alert_id); }
  std::optional<news::Delivery> delivery(std::int64_t) override { return std::nullopt; }
  std::vector<std::int64_t> enqueued;
  std::vector<std::int64_t> cancelled;
};

class NoEvents final : public news::ContentEvents {
 public:
  void article_changed(const news::Article&) override {}
  void live_update_posted(const news::Article&, const news::LiveUpdate&) override {}
};

class AlertDeskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flashwire-desk-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    store_ = open();
    secret_ = generate_token_secret();
    store::ApiToken token;
    token.name = "desk-ana";
    token.secret_hash = hash_token_secret(secret_);
    token.scopes = {"articles:write", "alerts:send"};
    token.created_at = kNow;
    ASSERT_TRUE(store_->create_token(token));
    make_api(NewsroomApiOptions{});
    publish("bridge", "breaking");
    publish("storm", "live");
    subscribe("https://push.example/1", 1 | 2);
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<store::SiteStore> open() {
    auto store = store::open_sqlite_site_store((dir_ / "site.sqlite").string());
    EXPECT_TRUE(store) << store.error().message;
    return std::move(*store);
  }
  void make_api(NewsroomApiOptions options) {
    options.origin = kOrigin;
    api_ = std::make_unique<NewsroomApi>(*store_, clock_, queue_, events_, options);
  }
  void publish(const std::string& slug, const std::string& category) {
    auto response = post("/api/newsroom/articles", json::object{{"slug", slug},
                                                                {"headline", "Headline of " + slug},
                                                                {"category", category},
                                                                {"body_markdown", "Text."},
                                                                {"publish", true}});
    ASSERT_EQ(response.result(), http::Status::created) << response.body();
  }
  void subscribe(const std::string& endpoint, store::CategorySet categories) {
    store::Subscription sub;
    sub.endpoint = endpoint;
    sub.p256dh = "p";
    sub.auth = "a";
    sub.categories = categories;
    ASSERT_TRUE(store_->upsert_subscription(sub));
  }
  http::Response post(const std::string& path, const json::object& body) {
    http::Request request(bhttp::verb::post, path, 11);
    request.set(bhttp::field::authorization, "Bearer " + secret_);
    request.set(bhttp::field::content_type, "application/json");
    request.body() = json::serialize(body);
    return api_->handle(request, http::RequestContext{"10.0.0.1"});
  }
  http::Response get(const std::string& path) {
    http::Request request(bhttp::verb::get, path, 11);
    request.set(bhttp::field::authorization, "Bearer " + secret_);
    return api_->handle(request, http::RequestContext{"10.0.0.1"});
  }
  static json::object parsed(const http::Response& response) {
    return json::parse(response.body()).as_object();
  }
  static std::string code(const http::Response& response) {
    return std::string(parsed(response).at("error").as_string());
  }
  // Composes an alert; returns the answer.
  http::Response compose(json::object body) {
    if (!body.contains("category")) body["category"] = "breaking";
    if (!body.contains("title")) body["title"] = "Bridge closed";
    if (!body.contains("url")) body["url"] = "/articles/bridge";
    return post("/api/newsroom/alerts", body);
  }
  std::int64_t composed(json::object body) {
    auto response = compose(std::move(body));
    EXPECT_EQ(response.result(), http::Status::created) << response.body();
    return response.result() == http::Status::created ? parsed(response).at("id").as_int64() : 0;
  }
  http::Response send(std::int64_t id, bool force = false) {
    json::object body{{"confirm", true}};
    if (force) body["force"] = true;
    return post("/api/newsroom/alerts/" + std::to_string(id) + "/send", body);
  }
  // The audit entries with `action`, newest first, as "detail" strings.
  std::vector<std::string> audited(const std::string& action) {
    std::vector<std::string> out;
    const auto entries = store_->recent_audit(1000).value();  // owned: the loop outlives it
    for (const auto& entry : entries)
      if (entry.action == action) out.push_back(entry.actor + ": " + entry.detail);
    return out;
  }

  std::filesystem::path dir_;
  ManualClock clock_{kNow};
  std::unique_ptr<store::SiteStore> store_;
  RecordingQueue queue_;
  NoEvents events_;
  std::string secret_;
  std::unique_ptr<NewsroomApi> api_;
};

TEST_F(AlertDeskTest, RefusesALinkToNoPublishedPageUnlessForcedAndAuditsTheOverride) {
  for (const std::string& url :
       std::vector<std::string>{"/articles/does-not-exist", "/live/bridge", "/articles/Bridge",
                                "/nowhere", std::string(kOrigin) + "/articles/nope?x=1"}) {
    auto refused = compose(json::object{{"url", url}});
    EXPECT_EQ(refused.result(), http::Status::unprocessable_entity) << url;
    EXPECT_EQ(code(refused), "url_not_found") << url;
    EXPECT_EQ(parsed(refused).at("overridable"), true);
  }
  // A draft article is not published: readers would get "not found" too.
  auto draft = post("/api/newsroom/articles", json::object{{"slug", "quiet"},
                                                           {"headline", "Not yet"},
                                                           {"category", "breaking"},
                                                           {"body_markdown", "x"}});
  ASSERT_EQ(draft.result(), http::Status::created);
  EXPECT_EQ(code(compose(json::object{{"url", "/articles/quiet"}})), "url_not_found");
  EXPECT_EQ(store_->recent_alerts(10).value().size(), 0u) << "nothing stored when refused";

  for (const std::string& url :
       std::vector<std::string>{"/articles/bridge", "/articles/bridge#more", "/live/storm", "/",
                                "/preferences", std::string(kOrigin) + "/live/storm"}) {
    EXPECT_NE(composed(json::object{{"url", url}}), 0) << url;
  }
  EXPECT_TRUE(audited("alert.override").empty());

  const std::int64_t forced =
      composed(json::object{{"url", "/articles/does-not-exist"}, {"force", true}});
  ASSERT_NE(forced, 0);
  EXPECT_EQ(audited("alert.override"),
            (std::vector<std::string>{"desk-ana: url_not_found, #" + std::to_string(forced)}));
  EXPECT_EQ(code(compose(json::object{{"force", "yes"}})), "invalid_field");
}

TEST_F(AlertDeskTest, RefusesTheSameTitleOrLinkWithinTenMinutesOfOneThatWentOut) {
  const std::int64_t first = composed({});
  ASSERT_EQ(send(first).result(), http::Status::accepted);

  clock_.advance(1);
  auto same_title = compose(json::object{{"url", "/live/storm"}});
  EXPECT_EQ(same_title.result(), http::Status::conflict);
  EXPECT_EQ(code(same_title), "duplicate_alert");
  EXPECT_EQ(parsed(same_title).at("duplicate_of"), first);
  EXPECT_EQ(code(compose(json::object{{"title", "Another title"}})), "duplicate_alert")
      << "same link";

  // Two drafts composed before either went out: the second confirmation is refused.
  const std::int64_t a = composed(json::object{{"title", "Ferry halted"}, {"url", "/"}});
  const std::int64_t b = composed(json::object{{"title", "Ferry halted"}, {"url", "/"}});
  ASSERT_EQ(send(a).result(), http::Status::accepted);
  auto second = send(b);
  EXPECT_EQ(second.result(), http::Status::conflict);
  EXPECT_EQ(code(second), "duplicate_alert");
  EXPECT_EQ(queue_.enqueued, (std::vector<std::int64_t>{first, a}));

  // force overrides, audited on the step that used it.
  ASSERT_EQ(send(b, true).result(), http::Status::accepted);
  EXPECT_EQ(audited("alert.override"),
            (std::vector<std::string>{"desk-ana: duplicate_alert #" + std::to_string(a) + ", #" +
                                      std::to_string(b)}));

  // Another story may link to the front page too: for pages other than stories only the title
  // counts. Alerts about different updates of one live event link to different updates.
  const std::int64_t front = composed(json::object{{"title", "Ferry resumes"}, {"url", "/"}});
  EXPECT_EQ(send(front).result(), http::Status::accepted);
  const std::int64_t update_1 = composed(json::object{
      {"category", "live"}, {"title", "Storm: update 1"}, {"url", "/live/storm#update-1"}});
  ASSERT_EQ(send(update_1).result(), http::Status::accepted);
  const std::int64_t update_2 = composed(json::object{
      {"category", "live"}, {"title", "Storm: update 2"}, {"url", "/live/storm#update-2"}});
  EXPECT_EQ(send(update_2).result(), http::Status::accepted);
  EXPECT_EQ(code(compose(json::object{
                {"category", "live"}, {"title", "Storm again"}, {"url", "/live/storm#update-2"}})),
            "duplicate_alert");

  // Ten minutes after the first, its title is free again.
  clock_.advance(600);
  EXPECT_NE(composed(json::object{{"url", "/live/storm"}}), 0);
}

TEST_F(AlertDeskTest, AnAlertToNobodyCannotBeConfirmedEvenWithForce) {
  const std::int64_t id = composed(json::object{{"category", "exclusive"}});
  for (const bool force : {false, true}) {
    auto refused = send(id, force);
    EXPECT_EQ(refused.result(), http::Status::unprocessable_entity);
    EXPECT_EQ(code(refused), "empty_audience");
    EXPECT_EQ(parsed(refused).at("overridable"), false);
  }
  EXPECT_TRUE(queue_.enqueued.empty());
  EXPECT_EQ(store_->find_alert(id).value()->status, store::AlertStatus::kQueued);
}

TEST_F(AlertDeskTest, CapsAlertsPerCategoryAndHourFromTheConfiguration) {
  NewsroomApiOptions options;
  options.hourly_cap = 2;
  options.category_hourly_cap = {-1, 5, -1};  // live: its own cap
  make_api(options);
  for (int i = 0; i < 2; ++i) {
    const std::int64_t id = composed(json::object{{"title", "Alert " + std::to_string(i)},
                                                  {"url", i == 0 ? "/" : "/preferences"}});
    ASSERT_EQ(send(id).result(), http::Status::accepted);
    clock_.advance(60);
  }
  const std::int64_t third = composed(json::object{{"title", "Third"}});
  auto capped = send(third);
  EXPECT_EQ(capped.result(), http::Status::too_many_requests);
  EXPECT_EQ(code(capped), "rate_capped");
  EXPECT_EQ(parsed(capped).at("cap"), 2);
  // Another category has its own count (and here its own cap).
  const std::int64_t live =
      composed(json::object{{"category", "live"}, {"title", "Live"}, {"url", "/live/storm"}});
  EXPECT_EQ(send(live).result(), http::Status::accepted);
  // An hour after the first, one slot is free.
  clock_.advance(3600 - 120 + 1);
  EXPECT_EQ(send(third).result(), http::Status::accepted);
  const std::int64_t fourth = composed(json::object{{"title", "Fourth"}, {"url", "/search"}});
  EXPECT_EQ(code(send(fourth)), "rate_capped");
  ASSERT_EQ(send(fourth, true).result(), http::Status::accepted);
  EXPECT_EQ(audited("alert.override"),
            (std::vector<std::string>{"desk-ana: rate_capped, #" + std::to_string(fourth)}));
}

TEST_F(AlertDeskTest, SchedulesForSendAtAndTheSchedulerSendsItOnceWhenDue) {
  auto bad = [&](json::value send_at) {
    auto response = compose(json::object{{"send_at", send_at}});
    EXPECT_EQ(response.result(), http::Status::bad_request) << json::serialize(send_at);
    return response.result() == http::Status::bad_request &&
           parsed(response).at("message").as_string().starts_with("send_at:");
  };
  EXPECT_TRUE(bad("tomorrow"));
  EXPECT_TRUE(bad(12));
  EXPECT_TRUE(bad(json::string(format_rfc3339(kNow))));                // not in the future
  EXPECT_TRUE(bad(json::string(format_rfc3339(kNow - 60))));           // past
  EXPECT_TRUE(bad(json::string(format_rfc3339(kNow + 31 * 86'400))));  // too far ahead

  const std::string at = format_rfc3339(kNow + 300);
  auto created = compose(json::object{{"send_at", at}});
  ASSERT_EQ(created.result(), http::Status::created) << created.body();
  EXPECT_EQ(parsed(created).at("send_at"), json::value(at));
  const std::int64_t id = parsed(created).at("id").as_int64();
  EXPECT_EQ(parsed(get("/api/newsroom/alerts/" + std::to_string(id))).at("status"), "draft")
      << "composing alone schedules nothing";
  EXPECT_EQ(api_->send_due_alerts().value(), 0u);

  auto confirmed = send(id);
  ASSERT_EQ(confirmed.result(), http::Status::accepted) << confirmed.body();
  EXPECT_EQ(parsed(confirmed).at("status"), "scheduled");
  EXPECT_EQ(parsed(confirmed).at("send_at"), json::value(at));
  EXPECT_TRUE(queue_.enqueued.empty());
  auto shown = parsed(get("/api/newsroom/alerts/" + std::to_string(id)));
  EXPECT_EQ(shown.at("status"), "scheduled");
  EXPECT_EQ(shown.at("send_at"), json::value(at));
  EXPECT_EQ(code(send(id)), "already_scheduled");

  clock_.advance(299);
  EXPECT_EQ(api_->send_due_alerts().value(), 0u);
  clock_.advance(1);
  EXPECT_EQ(api_->send_due_alerts().value(), 1u);
  EXPECT_EQ(api_->send_due_alerts().value(), 0u) << "claimed once";
  EXPECT_EQ(queue_.enqueued, (std::vector<std::int64_t>{id}));
  EXPECT_EQ(store_->find_alert(id).value()->status, store::AlertStatus::kSending);
  EXPECT_EQ(audited("alert.send").front(), "scheduler: scheduled, #" + std::to_string(id));
  EXPECT_EQ(audited("alert.schedule").front(),
            "desk-ana: breaking, #" + std::to_string(id) + " at " + at);
}

TEST_F(AlertDeskTest, AScheduledAlertCanBeCancelledAndIsThenNeverSent) {
  const std::int64_t id =
      composed(json::object{{"send_at", json::string(format_rfc3339(kNow + 60))}});
  ASSERT_EQ(send(id).result(), http::Status::accepted);
  auto cancelled = post("/api/newsroom/alerts/" + std::to_string(id) + "/cancel", {});
  ASSERT_EQ(cancelled.result(), http::Status::ok) << cancelled.body();
  clock_.advance(120);
  EXPECT_EQ(api_->send_due_alerts().value(), 0u);
  EXPECT_TRUE(queue_.enqueued.empty());
  EXPECT_TRUE(queue_.cancelled.empty()) << "nothing was sending";
}

// Two nodes share one store: each claims with its own connection; every due alert goes to
// exactly one of them.
TEST_F(AlertDeskTest, TwoSchedulersOnOneStoreClaimEachAlertOnce) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    const std::int64_t id =
        composed(json::object{{"title", "Scheduled " + std::to_string(i)},
                              {"url", i % 2 ? "/" : "/preferences"},
                              {"send_at", json::string(format_rfc3339(kNow + 10))},
                              {"force", true}});
    ASSERT_EQ(send(id, true).result(), http::Status::accepted);
    ids.push_back(id);
  }
  auto other_store = open();
  RecordingQueue other_queue;
  NewsroomApiOptions options;
  options.origin = kOrigin;
  NewsroomApi other(*other_store, clock_, other_queue, events_, options);
  clock_.advance(10);
  std::size_t total = 0;
  for (int round = 0; round < 3; ++round) {
    total += other.send_due_alerts().value();
    total += api_->send_due_alerts().value();
  }
  EXPECT_EQ(total, ids.size());
  std::vector<std::int64_t> all = queue_.enqueued;
  all.insert(all.end(), other_queue.enqueued.begin(), other_queue.enqueued.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, ids);
}

TEST_F(AlertDeskTest, ListsEveryDraftOfTheDeskWithItsAuthor) {
  auto draft = post("/api/newsroom/articles", json::object{{"slug", "council-vote"},
                                                           {"headline", "Council vote tonight"},
                                                           {"category", "breaking"},
                                                           {"body_markdown", "x"}});
  ASSERT_EQ(draft.result(), http::Status::created) << draft.body();
  clock_.advance(5);
  // Written elsewhere, by another token: still on the desk's list.
  store::Article other;
  other.slug = "storm-warning";
  other.headline = "Storm warning";
  other.body_markdown = "y";
  other.updated_at = clock_.now_seconds();
  other.created_by = "desk-bo";
  ASSERT_TRUE(store_->create_article(other));

  auto listed = parsed(get("/api/newsroom/articles?status=draft")).at("articles").as_array();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].at("slug"), "storm-warning");
  EXPECT_EQ(listed[0].at("created_by"), "desk-bo");
  EXPECT_EQ(listed[0].at("updated_at"), kNow + 5);
  EXPECT_EQ(listed[1].at("slug"), "council-vote");
  EXPECT_EQ(listed[1].at("created_by"), "desk-ana");
  EXPECT_EQ(listed[1].at("published"), false);

  auto published = parsed(get("/api/newsroom/articles")).at("articles").as_array();
  for (const auto& a : published) EXPECT_EQ(a.at("published"), true);
  EXPECT_EQ(parsed(get("/api/newsroom/articles?status=published")).at("articles").as_array(),
            published);
  auto bad = get("/api/newsroom/articles?status=everything");
  EXPECT_EQ(bad.result(), http::Status::bad_request);
  EXPECT_EQ(code(bad), "invalid_field");
}

TEST(Rfc3339, ParsesTheProfileAndRefusesEverythingElse) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339("2027-01-15T08:00:00Z"), kNow);
  EXPECT_EQ(parse_rfc3339("2027-01-15t08:00:00.999z"), kNow);
  EXPECT_EQ(parse_rfc3339("2027-01-15T09:30:00+01:30"), kNow);
  EXPECT_EQ(parse_rfc3339("2027-01-15T03:00:00-05:00"), kNow);
  EXPECT_EQ(parse_rfc3339("2024-02-29T00:00:00Z"), 1'709'164'800);
  for (const char* bad :
       {"", "2027-01-15", "2027-01-15T08:00:00", "2027-01-15 08:00:00Z", "2027-13-01T00:00:00Z",
        "2027-02-29T00:00:00Z", "2027-01-32T00:00:00Z", "2027-01-15T24:00:00Z",
        "2027-01-15T08:60:00Z", "2027-01-15T08:00:00.Z", "2027-01-15T08:00:00+0100",
        "2027-01-15T08:00:00Z ", "1969-12-31T23:59:59Z", "2027-01-15T08:00:00+24:00",
        "+2027-01-15T08:00:00Z"}) {
    EXPECT_FALSE(parse_rfc3339(bad).has_value()) << bad;
  }
  EXPECT_EQ(format_rfc3339(kNow), "2027-01-15T08:00:00Z");
  EXPECT_EQ(format_rfc3339(1'709'164'800), "2024-02-29T00:00:00Z");
  for (const std::int64_t t : {0LL, 86'399LL, 951'782'400LL, 4'102'444'800LL})
    EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), t);
}

}  // namespace
}  // namespace flashwire::newsroom
