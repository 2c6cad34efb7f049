#include "newsroom/alert_analytics.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>

#include "news/push_service.h"
#include "newsroom/api_tokens.h"
#include "newsroom/newsroom_api.h"
#include "store/sqlite/sqlite_site_store.h"

namespace flashwire::newsroom {
namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

TEST(TimeToDevice, PercentilesHistogramAndTheTwoMinuteShare) {
  constexpr std::int64_t kStart = 1'800'000'000'000;
  // 10 devices: 500 ms … 9 500 ms, then one at 200 s (beyond two minutes).
  std::vector<std::int64_t> arrivals;
  for (int i = 0; i < 9; ++i) arrivals.push_back(kStart + 500 + i * 1000);
  arrivals.push_back(kStart + 200'000);
  const TimeToDevice ttd = time_to_device(arrivals, kStart);
  EXPECT_EQ(ttd.devices, 10u);
  EXPECT_EQ(ttd.p50_ms, 4'500);    // 5th of 10
  EXPECT_EQ(ttd.p90_ms, 8'500);    // 9th of 10
  EXPECT_EQ(ttd.p99_ms, 200'000);  // 10th of 10
  ASSERT_TRUE(ttd.within_120s);
  EXPECT_DOUBLE_EQ(*ttd.within_120s, 0.9);
  // Buckets: ≤1 s: 500; ≤2 s: 1500; ≤5 s: 2500, 3500, 4500; ≤10 s: 5500 … 8500; ≤300 s: 200 000.
  EXPECT_EQ(ttd.histogram[0], 1u);
  EXPECT_EQ(ttd.histogram[1], 1u);
  EXPECT_EQ(ttd.histogram[2], 3u);
  EXPECT_EQ(ttd.histogram[3], 4u);
  EXPECT_EQ(ttd.histogram[8], 1u);
  std::uint64_t total = 0;
  for (const auto count : ttd.histogram) total += count;
  EXPECT_EQ(total, 10u);
}

TEST(TimeToDevice, NothingToMeasureAndClocksAlittleApart) {
  const TimeToDevice none = time_to_device({}, 1000);
  EXPECT_EQ(none.devices, 0u);
  EXPECT_FALSE(none.p50_ms);
  EXPECT_FALSE(none.within_120s);
  const std::vector<std::int64_t> one{5'000};
  const TimeToDevice no_start = time_to_device(one, 0);
  EXPECT_EQ(no_start.devices, 1u);
  EXPECT_FALSE(no_start.p50_ms) << "a draft has no send start";
  // A beacon recorded by a node whose clock is behind the sending node's: 0, not negative.
  const TimeToDevice early = time_to_device(one, 6'000);
  EXPECT_EQ(early.p50_ms, 0);
  EXPECT_EQ(early.histogram[0], 1u);
  // Exactly two minutes is within.
  const std::vector<std::int64_t> edge{126'000, 126'001};
  EXPECT_DOUBLE_EQ(*time_to_device(edge, 6'000).within_120s, 0.5);
}

TEST(PushServices, ClassifiedFromTheEndpointOrigin) {
  using news::classify_push_service;
  using K = news::PushServiceKind;
  EXPECT_EQ(classify_push_service("https://fcm.googleapis.com/fcm/send/abc", ""), K::kFcm);
  EXPECT_EQ(classify_push_service("https://updates.push.services.mozilla.com/wpush/v2/x", ""),
            K::kMozilla);
  EXPECT_EQ(classify_push_service("https://web.push.apple.com/QK", ""), K::kApple);
  EXPECT_EQ(classify_push_service("https://api.push.apple.com/x", ""), K::kApple);
  EXPECT_EQ(classify_push_service("https://wns2-par02p.notify.windows.com/w/?t=1", ""), K::kOther);
  EXPECT_EQ(classify_push_service("http://127.0.0.1:8090/push/abc", "http://127.0.0.1:8090"),
            K::kOwn);
  // The own origin matches whole: a longer host or another port is not ours.
  EXPECT_EQ(classify_push_service("http://127.0.0.1:80901/push/abc", "http://127.0.0.1:8090"),
            K::kOther);
  EXPECT_EQ(classify_push_service("https://fcm.googleapis.com.evil.example/x", ""), K::kOther);
  EXPECT_EQ(classify_push_service("https://evilpush.apple.com/x", ""), K::kOther);
  EXPECT_EQ(classify_push_service("not a url", ""), K::kOther);
  EXPECT_EQ(news::push_service_name(K::kOwn), "own");
}

TEST(DayText, IsTheUtcDate) {
  EXPECT_EQ(day_text(0), "1970-01-01");
  EXPECT_EQ(day_text(1'800'000'000 / 86'400), "2027-01-15");
}

class RecordingQueue final : public news::AlertQueue {
 public:
  void enqueue(std::int64_t alert_id) override { enqueued.push_back(alert_id); }
  void cancel(std::int64_t) override {}
  std::optional<news::Delivery> delivery(std::int64_t alert_id) override {
    if (!report || report->alert_id != alert_id) return std::nullopt;
    return report;
  }
  std::vector<std::int64_t> enqueued;
  std::optional<news::Delivery> report;
};

class NoEvents final : public news::ContentEvents {
 public:
  void article_changed(const news::Article&) override {}
  void live_update_posted(const news::Article&, const news::LiveUpdate&) override {}
};

class AlertAnalyticsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flashwire-analytics-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto store = store::open_sqlite_site_store((dir_ / "site.sqlite").string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    editor_ = make_token("editor", {"alerts:send"});
    writer_ = make_token("writer", {"articles:write"});
    NewsroomApiOptions options;
    options.origin = "https://news.example";
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
    EXPECT_TRUE(store_->create_token(token));
    return secret;
  }
  http::Response get(const std::string& path, const std::string& token = "") {
    http::Request request(bhttp::verb::get, path, 11);
    request.set(bhttp::field::authorization, "Bearer " + (token.empty() ? editor_ : token));
    return api_->handle(request, http::RequestContext{"10.0.0.1"});
  }
  std::int64_t subscriber(const std::string& endpoint) {
    store::Subscription sub;
    sub.endpoint = endpoint;
    sub.p256dh = "p";
    sub.auth = "a";
    sub.categories = static_cast<store::CategorySet>(store::Category::kBreaking);
    return store_->upsert_subscription(sub).value();
  }
  // An alert handed to the fan-out at kStart, with a delivery report of 4 targeted, 3 accepted.
  std::int64_t sent_alert() {
    store::Alert alert;
    alert.title = "Bridge closed";
    alert.url = "/articles/bridge";
    alert.created_by = "editor";
    const std::int64_t id = store_->create_alert(alert).value();
    EXPECT_TRUE(
        store_->transition_alert(id, store::AlertStatus::kQueued, store::AlertStatus::kSending));
    news::Delivery report;
    report.alert_id = id;
    report.audience = 4;
    report.targeted = 4;
    report.started_at_ms = kStart;
    report.counts.sent = 3;
    // Indexed by news::PushServiceKind: other, fcm, mozilla, apple, own.
    report.counts.targeted_by_service = {0, 2, 1, 0, 1};
    report.counts.accepted_by_service = {0, 2, 0, 0, 1};
    queue_.report = report;
    return id;
  }

  static constexpr std::int64_t kStart = 1'800'000'000'000;
  std::filesystem::path dir_;
  ManualClock clock_{1'800'000'000};
  std::unique_ptr<store::SiteStore> store_;
  RecordingQueue queue_;
  NoEvents events_;
  std::string editor_, writer_;
  std::unique_ptr<NewsroomApi> api_;
};

TEST_F(AlertAnalyticsApiTest, TheAlertCarriesItsFunnelAndTimeToDevice) {
  const std::int64_t id = sent_alert();
  const std::int64_t fcm = subscriber("https://fcm.googleapis.com/fcm/send/a");
  const std::int64_t own = subscriber("http://127.0.0.1:8090/push/b");
  const std::int64_t late = subscriber("https://updates.push.services.mozilla.com/wpush/v2/c");
  using store::AlertEvent;
  using store::PushService;
  ASSERT_TRUE(store_->record_alert_event(id, fcm, AlertEvent::kReceived, 0,
                                         {kStart + 800, PushService::kFcm}));
  ASSERT_TRUE(store_->record_alert_event(id, own, AlertEvent::kReceived, 0,
                                         {kStart + 3'000, PushService::kOwn}));
  ASSERT_TRUE(store_->record_alert_event(id, late, AlertEvent::kReceived, 0,
                                         {kStart + 150'000, PushService::kMozilla}));
  ASSERT_TRUE(store_->record_alert_event(id, fcm, AlertEvent::kDisplayed, 0,
                                         {kStart + 900, PushService::kFcm}));
  ASSERT_TRUE(store_->record_alert_event(id, own, AlertEvent::kDisplayed, 0,
                                         {kStart + 3'100, PushService::kOwn}));
  ASSERT_TRUE(store_->record_alert_event(id, own, AlertEvent::kClicked, 0,
                                         {kStart + 9'000, PushService::kOwn}));

  auto response = get("/api/newsroom/alerts/" + std::to_string(id));
  ASSERT_EQ(response.result(), http::Status::ok) << response.body();
  const json::object alert = json::parse(response.body()).as_object();
  EXPECT_EQ(
      alert.at("funnel"),
      (json::object{
          {"targeted", 4}, {"accepted", 3}, {"received", 3}, {"displayed", 2}, {"clicked", 1}}));
  EXPECT_DOUBLE_EQ(alert.at("click_through_rate").as_double(), 0.5);
  const json::object& ttd = alert.at("time_to_device").as_object();
  EXPECT_EQ(ttd.at("p50_ms"), 3'000);
  EXPECT_EQ(ttd.at("p90_ms"), 150'000);
  EXPECT_EQ(ttd.at("p99_ms"), 150'000);
  EXPECT_NEAR(ttd.at("within_120s").as_double(), 2.0 / 3.0, 1e-9);
  EXPECT_EQ(ttd.at("target_met"), false);
  EXPECT_EQ(ttd.at("devices"), 3);
  const json::array& histogram = ttd.at("histogram").as_array();
  ASSERT_EQ(histogram.size(), kTimeToDeviceBoundsMs.size() + 1);
  EXPECT_EQ(histogram[0], (json::object{{"le_ms", 1000}, {"count", 1}}));
  EXPECT_EQ(histogram[2], (json::object{{"le_ms", 5000}, {"count", 1}}));
  EXPECT_EQ(histogram[8], (json::object{{"le_ms", 300000}, {"count", 1}}));
  EXPECT_EQ(histogram.back().at("le_ms"), nullptr);
  const json::object& by_service = alert.at("by_service").as_object();
  EXPECT_EQ(
      by_service.at("own"),
      (json::object{
          {"targeted", 1}, {"accepted", 1}, {"received", 1}, {"displayed", 1}, {"clicked", 1}}));
  EXPECT_EQ(
      by_service.at("fcm"),
      (json::object{
          {"targeted", 2}, {"accepted", 2}, {"received", 1}, {"displayed", 1}, {"clicked", 0}}));
  EXPECT_EQ(by_service.at("mozilla").at("received"), 1);
  EXPECT_EQ(by_service.at("mozilla").at("targeted"), 1);
  EXPECT_EQ(by_service.at("mozilla").at("accepted"), 0);
  EXPECT_EQ(by_service.at("apple").at("received"), 0);
  EXPECT_EQ(by_service.at("apple").at("targeted"), 0);
  // The engagement and delivery members are still there, as before.
  EXPECT_EQ(alert.at("engagement").at("received"), 3);
  EXPECT_EQ(alert.at("delivery").at("sent"), 3);
}

TEST_F(AlertAnalyticsApiTest, ADraftHasAnEmptyFunnelAndNoTimes) {
  store::Alert alert;
  alert.title = "Draft";
  alert.url = "/articles/draft";
  alert.created_by = "editor";
  const std::int64_t id = store_->create_alert(alert).value();
  const json::object body =
      json::parse(get("/api/newsroom/alerts/" + std::to_string(id)).body()).as_object();
  EXPECT_EQ(body.at("funnel").at("targeted"), 0);
  EXPECT_EQ(body.at("funnel").at("received"), 0);
  EXPECT_EQ(body.at("time_to_device").at("p50_ms"), nullptr);
  EXPECT_EQ(body.at("time_to_device").at("within_120s"), nullptr);
  EXPECT_EQ(body.at("click_through_rate"), nullptr);
  EXPECT_EQ(body.at("by_service").at("own").at("targeted"), 0);
  EXPECT_EQ(body.at("by_service").at("own").at("accepted"), 0);
}

// Sent before the store kept counts per push service: the split is unknown (null, an empty CSV
// value), never a made-up zero; the beacons' split is still there.
TEST_F(AlertAnalyticsApiTest, AnAlertSentBeforeTheSplitWasKeptShowsNone) {
  const std::int64_t id = sent_alert();
  queue_.report->service_split = false;
  queue_.report->counts.targeted_by_service = {};
  queue_.report->counts.accepted_by_service = {};
  const json::object body =
      json::parse(get("/api/newsroom/alerts/" + std::to_string(id)).body()).as_object();
  for (const char* service : {"fcm", "mozilla", "apple", "own", "other"}) {
    SCOPED_TRACE(service);
    EXPECT_EQ(body.at("by_service").at(service).at("targeted"), nullptr);
    EXPECT_EQ(body.at("by_service").at(service).at("accepted"), nullptr);
    EXPECT_EQ(body.at("by_service").at(service).at("received"), 0);
  }
  EXPECT_EQ(body.at("funnel").at("targeted"), 4);
  const std::string csv =
      get("/api/newsroom/alerts/" + std::to_string(id) + "/analytics.csv").body();
  EXPECT_NE(csv.find("by_service.fcm.targeted,\r\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("by_service.own.accepted,\r\n"), std::string::npos) << csv;
}

TEST_F(AlertAnalyticsApiTest, ExportsCsv) {
  const std::int64_t id = sent_alert();
  const std::int64_t fcm = subscriber("https://fcm.googleapis.com/fcm/send/a");
  ASSERT_TRUE(store_->record_alert_event(id, fcm, store::AlertEvent::kReceived, 0,
                                         {kStart + 1'500, store::PushService::kFcm}));
  auto csv = get("/api/newsroom/alerts/" + std::to_string(id) + "/analytics.csv");
  ASSERT_EQ(csv.result(), http::Status::ok) << csv.body();
  EXPECT_EQ(csv[bhttp::field::content_type], "text/csv; charset=utf-8");
  EXPECT_NE(
      csv[bhttp::field::content_disposition].find("alert-" + std::to_string(id) + "-analytics.csv"),
      std::string::npos);
  EXPECT_EQ(csv[bhttp::field::cache_control], "no-store");
  const std::string& body = csv.body();
  EXPECT_TRUE(body.starts_with("metric,value\r\nalert_id," + std::to_string(id) + "\r\n"));
  for (const char* row : {"funnel.targeted,4\r\n", "funnel.accepted,3\r\n", "funnel.received,1\r\n",
                          "time_to_device.p50_ms,1500\r\n", "time_to_device.within_120s,1.0000\r\n",
                          "time_to_device.le_2000_ms,1\r\n", "by_service.fcm.received,1\r\n",
                          "by_service.fcm.targeted,2\r\n", "by_service.fcm.accepted,2\r\n",
                          "by_service.mozilla.accepted,0\r\n", "click_through_rate,\r\n"}) {
    EXPECT_NE(body.find(row), std::string::npos) << row << " in\n" << body;
  }
  EXPECT_EQ(get("/api/newsroom/alerts/999/analytics.csv").result(), http::Status::not_found);
  EXPECT_EQ(get("/api/newsroom/alerts/" + std::to_string(id) + "/analytics.csv", writer_).result(),
            http::Status::forbidden);
}

TEST_F(AlertAnalyticsApiTest, ReportsTheOptInFunnel) {
  const std::int64_t today = clock_.now_seconds() / 86'400;
  const auto breaking = static_cast<store::CategorySet>(store::Category::kBreaking);
  ASSERT_TRUE(
      store_->record_optin(today, breaking, store::PageType::kArticle, store::OptinStep::kShown));
  ASSERT_TRUE(
      store_->record_optin(today, breaking, store::PageType::kArticle, store::OptinStep::kShown));
  ASSERT_TRUE(store_->record_optin(today, breaking, store::PageType::kArticle,
                                   store::OptinStep::kSubscribed));
  ASSERT_TRUE(
      store_->record_optin(today - 40, 0, store::PageType::kHome, store::OptinStep::kDenied));
  auto response = get("/api/newsroom/optin");
  ASSERT_EQ(response.result(), http::Status::ok) << response.body();
  const json::object body = json::parse(response.body()).as_object();
  EXPECT_EQ(body.at("from"), json::value(day_text(today - 29)));
  const json::array& days = body.at("days").as_array();
  ASSERT_EQ(days.size(), 1u) << "40 days ago is outside the default 30";
  EXPECT_EQ(days[0].at("day"), json::value(day_text(today)));
  EXPECT_EQ(days[0].at("category"), "breaking");
  EXPECT_EQ(days[0].at("page"), "article");
  EXPECT_EQ(days[0].at("shown"), 2);
  EXPECT_EQ(days[0].at("subscribed"), 1);
  EXPECT_EQ(body.at("totals").at("denied"), 0);

  const json::object wide = json::parse(get("/api/newsroom/optin?days=90").body()).as_object();
  EXPECT_EQ(wide.at("days").as_array().size(), 2u);
  EXPECT_EQ(wide.at("totals").at("denied"), 1);
  EXPECT_EQ(wide.at("days").as_array()[0].at("category"), "none");
  for (const char* bad : {"?days=0", "?days=91", "?days=x", "?days=", "?days=5&x=1", "?x=1"}) {
    EXPECT_EQ(get(std::string("/api/newsroom/optin") + bad).result(), http::Status::bad_request)
        << bad;
  }
  EXPECT_EQ(get("/api/newsroom/optin", writer_).result(), http::Status::forbidden);
}

TEST_F(AlertAnalyticsApiTest, PagesTheAuditLog) {
  const std::string admin = make_token("admin", {"tokens:admin"});
  for (int i = 1; i <= 150; ++i) {
    ASSERT_TRUE(store_->append_audit({0, i, "desk", "alert.send", std::to_string(i)}));
  }
  const json::array first =
      json::parse(get("/api/newsroom/audit", admin).body()).at("entries").as_array();
  ASSERT_EQ(first.size(), 100u);
  EXPECT_EQ(first.front().at("detail"), "150");
  const std::int64_t last = first.back().at("id").as_int64();
  const json::array next =
      json::parse(get("/api/newsroom/audit?before=" + std::to_string(last), admin).body())
          .at("entries")
          .as_array();
  ASSERT_EQ(next.size(), 50u);
  EXPECT_EQ(next.front().at("detail"), "50");
  EXPECT_EQ(next.back().at("detail"), "1");
  for (const char* bad : {"?before=", "?before=x", "?before=0", "?after=3", "?before=3&x=1"}) {
    EXPECT_EQ(get(std::string("/api/newsroom/audit") + bad, admin).result(),
              http::Status::bad_request)
        << bad;
  }
  EXPECT_EQ(get("/api/newsroom/audit").result(), http::Status::forbidden);
}

TEST_F(AlertAnalyticsApiTest, StreamsOnlyItsOwnPath) {
  const auto stream = [&](bhttp::verb verb, const std::string& path) {
    http::Request request(verb, path, 11);
    return api_->accepts_stream(request);
  };
  EXPECT_TRUE(stream(bhttp::verb::get, "/api/newsroom/alerts/12/events"));
  EXPECT_TRUE(stream(bhttp::verb::get, "/api/newsroom/alerts/12/events?x=1"));
  EXPECT_FALSE(stream(bhttp::verb::post, "/api/newsroom/alerts/12/events"));
  EXPECT_FALSE(stream(bhttp::verb::get, "/api/newsroom/alerts/12"));
  EXPECT_FALSE(stream(bhttp::verb::get, "/api/newsroom/alerts/x/events"));
  EXPECT_FALSE(stream(bhttp::verb::get, "/api/newsroom/alerts//events"));
  EXPECT_FALSE(stream(bhttp::verb::get, "/api/newsroom/alerts/1/2/events"));
}

}  // namespace
}  // namespace flashwire::newsroom
