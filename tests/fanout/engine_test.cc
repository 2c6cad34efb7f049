// FanoutEngine over in-memory stores (tests/support/fake_stores.h) and a scripted push service
// on 127.0.0.1: what it plans, sends, records and cleans up, how it resumes, cancels and
// expires, and that a failing store call or an exception fails the alert with the reason
// instead of being ignored or ending the process.
//
// Nothing here waits for time to pass: every wait is for a condition, bounded by a deadline
// that only a broken engine reaches.
#include "fanout/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "fake_stores.h"
#include "scripted_http_server.h"
#include "webpush/base64url.h"
#include "webpush/message.h"
#include "webpush/p256.h"
#include "webpush/push_hosts.h"
#include "webpush/random.h"
#include "webpush/vapid.h"

namespace flashwire::fanout {
namespace {

// The wall clock stands still (timestamps and deadlines are exact), while the pipeline's timers
// (a retry after a request timed out) run on the real steady clock: these engines wait for real
// answers on real sockets.
class WallFixedClock final : public Clock {
 public:
  explicit WallFixedClock(std::int64_t now) : now_(now) {}
  std::int64_t now_seconds() const override { return now_; }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::now();
  }

 private:
  std::int64_t now_;
};

using namespace std::chrono_literals;
using flashwire::testing::FakeDeliveryStore;
using flashwire::testing::FakeSiteData;
using flashwire::testing::RecordedRequest;
using flashwire::testing::ScriptedHttpServer;
using Response = flashwire::testing::ScriptedResponse;
using store::AlertStatus;
using store::Category;
using store::DeliveryState;

constexpr char kVapidSubject[] = "mailto:alerts@flashwire.example";

// Polls `done` until it holds or `limit` passes; true if it held.
bool eventually(const std::function<bool()>& done, std::chrono::seconds limit = 30s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

std::int64_t id_of(const RecordedRequest& r) {
  return std::stoll(r.path.substr(std::string("/push/").size()));
}

class EngineTest : public ::testing::Test {
 protected:
  struct Subscriber {
    webpush::P256KeyPair keys;
    webpush::AuthSecret auth;
  };

  void SetUp() override {
    auto hosts = webpush::PushHostPolicy::create({server_.origin()}, false);
    ASSERT_TRUE(hosts) << hosts.error().message;
    hosts_ = std::move(*hosts);
    auto vapid = webpush::VapidTokenCache::create(webpush::P256KeyPair::generate(), kVapidSubject,
                                                  system_clock());
    ASSERT_TRUE(vapid) << vapid.error().message;
    vapid_ = std::move(*vapid);

    config_.icon_url = "https://flashwire.example/assets/icon.svg";
    config_.shard_size = 3;
    config_.pipeline.threads = 1;
    config_.pipeline.concurrency = 16;
    config_.pipeline.per_origin_in_flight = 16;
    config_.pipeline.max_attempts = 3;
    config_.pipeline.request_timeout = 5000ms;
    config_.pipeline.connect_timeout = 2000ms;
    config_.pipeline.backoff = {20ms, 200ms};
  }

  void TearDown() override {
    if (engine_) engine_->stop();
  }

  // A subscription to `categories` on the scripted server, with a real key pair. Ids are
  // handed out from 1 by the fake store, in the order of these calls.
  std::int64_t subscribe(
      store::CategorySet categories = static_cast<store::CategorySet>(Category::kBreaking)) {
    const std::int64_t id = ++last_subscription_;
    Subscriber sub{webpush::P256KeyPair::generate(), {}};
    for (std::size_t i = 0; i < sub.auth.size(); ++i) {
      sub.auth[i] = static_cast<std::uint8_t>(id * 13 + static_cast<std::int64_t>(i));
    }
    store::Subscription s;
    s.endpoint = server_.url("/push/" + std::to_string(id));
    s.p256dh = sub.keys.public_key().to_base64url();
    s.auth = webpush::base64url_encode(sub.auth);
    s.categories = categories;
    EXPECT_EQ(site_.add_subscription(s), id);
    subscribers_.insert_or_assign(id, std::move(sub));
    return id;
  }

  // A subscription to breaking news at `endpoint`, which the engine may not reach (a vendor's
  // push service: the host policy allows only the scripted server, so its messages fail
  // "host_not_allowed" without a request).
  std::int64_t subscribe_at(const std::string& endpoint) {
    const std::int64_t id = ++last_subscription_;
    store::Subscription s;
    s.endpoint = endpoint;
    s.p256dh = webpush::P256KeyPair::generate().public_key().to_base64url();
    s.auth = webpush::base64url_encode(webpush::AuthSecret{});
    s.categories = static_cast<store::CategorySet>(Category::kBreaking);
    EXPECT_EQ(site_.add_subscription(s), id);
    return id;
  }

  static std::size_t index(news::PushServiceKind kind) { return static_cast<std::size_t>(kind); }

  // An alert the newsroom has confirmed (status "sending"), not yet handed to the engine.
  std::int64_t confirmed_alert(const std::string& title = "Bridge reopens",
                               const std::string& topic = "") {
    store::Alert a;
    a.category = Category::kBreaking;
    a.title = title;
    a.body = "Traffic is flowing again";
    a.url = "https://flashwire.example/a/bridge";
    a.topic = topic;
    a.ttl_seconds = 3600;
    a.status = AlertStatus::kSending;
    return site_.add_alert(a);
  }

  void start_engine() {
    auto engine = FanoutEngine::create(
        config_, EngineDeps{site_, site_, deliveries_, *vapid_, *hosts_, clock_, random_});
    ASSERT_TRUE(engine) << engine.error().message;
    engine_ = std::move(*engine);
    auto started = engine_->start();
    ASSERT_TRUE(started) << started.error().message;
  }

  // Waits until the alert has left "sending" and its delivery is no longer running.
  bool finished(std::int64_t alert_id) {
    return eventually([&] {
      const auto d = deliveries_.get(alert_id);
      return site_.status(alert_id) != AlertStatus::kSending && d &&
             d->state != DeliveryState::kRunning;
    });
  }

  std::string decrypt(const RecordedRequest& request) {
    const auto it = subscribers_.find(id_of(request));
    if (it == subscribers_.end()) return "<no subscriber>";
    auto plain =
        webpush::decrypt_message(it->second.keys, it->second.auth, webpush::as_bytes(request.body));
    if (!plain) return "<" + plain.error().message + ">";
    return std::string(webpush::as_chars(*plain));
  }

  std::map<std::int64_t, int> requests_per_subscriber() const {
    std::map<std::int64_t, int> out;
    for (const auto& r : server_.requests()) ++out[id_of(r)];
    return out;
  }

  ScriptedHttpServer server_;
  std::optional<webpush::PushHostPolicy> hosts_;
  std::unique_ptr<webpush::VapidTokenCache> vapid_;
  WallFixedClock clock_{system_clock().now_seconds()};
  FakeSiteData site_;
  FakeDeliveryStore deliveries_;
  EngineConfig config_;
  std::unique_ptr<FanoutEngine> engine_;
  std::map<std::int64_t, Subscriber> subscribers_;
  std::int64_t last_subscription_ = 0;
  webpush::RandomSource& random_ = webpush::system_random();
};

TEST_F(EngineTest, EnginePlansTheCategoryAudienceIntoShardsAndSendsEachSubscriberOnce) {
  // Breaking: 1-4 and 6-8; live only: 5 and 9, never sent to.
  for (int i = 0; i < 4; ++i) subscribe();
  subscribe(static_cast<store::CategorySet>(Category::kLive));
  for (int i = 0; i < 3; ++i) subscribe();
  subscribe(static_cast<store::CategorySet>(Category::kLive));
  store::Alert with_image;
  with_image.category = Category::kBreaking;
  with_image.title = "Bridge reopens";
  with_image.body = "Traffic is flowing again";
  with_image.url = "https://flashwire.example/a/bridge";
  with_image.article_id = 42;
  with_image.status = AlertStatus::kSending;
  site_.set_article_image(42, "https://flashwire.example/img/bridge.jpg");
  const std::int64_t alert = site_.add_alert(with_image);

  start_engine();  // resumes every alert left "sending": this one
  ASSERT_TRUE(finished(alert));

  EXPECT_EQ(site_.status(alert), AlertStatus::kSent);
  const auto d = deliveries_.get(alert);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->state, DeliveryState::kDone);
  EXPECT_EQ(d->audience, 7u);
  EXPECT_EQ(d->targeted, 7u);
  EXPECT_EQ(d->counts.sent, 7u);
  EXPECT_EQ(d->counts.failed, 0u);
  EXPECT_EQ(d->error, "");
  EXPECT_EQ(d->started_at_ms, clock_.now_seconds() * 1000);
  EXPECT_EQ(d->finished_at_ms, clock_.now_seconds() * 1000);
  using Shards = std::vector<std::pair<store::ShardRange, bool>>;
  EXPECT_EQ(deliveries_.shards(alert), (Shards{{{0, 3}, true}, {{3, 7}, true}, {{7, 8}, true}}));

  const std::map<std::int64_t, int> expected{{1, 1}, {2, 1}, {3, 1}, {4, 1},
                                             {6, 1}, {7, 1}, {8, 1}};
  EXPECT_EQ(requests_per_subscriber(), expected);
  for (const auto& r : server_.requests()) {
    const std::string payload = decrypt(r);
    EXPECT_NE(payload.find(R"("title":"Bridge reopens")"), std::string::npos) << payload;
    EXPECT_NE(payload.find(R"("image":"https://flashwire.example/img/bridge.jpg")"),
              std::string::npos)
        << payload;
    EXPECT_NE(payload.find(R"("tag":"alert-)" + std::to_string(alert)), std::string::npos);
  }
  EXPECT_NE(engine_->metrics_text().find("flashwire_fanout_alerts_total{state=\"done\"} 1"),
            std::string::npos);
}

TEST_F(EngineTest, EngineCountsTargetedAndAcceptedPerPushServiceOfEachEndpoint) {
  // The scripted server stands for Flashwire's own push service; two readers are on FCM and
  // one on Mozilla, which the engine may not reach from here.
  config_.own_push_origin = server_.origin();
  subscribe();
  subscribe_at("https://fcm.googleapis.com/fcm/send/a");
  subscribe();
  subscribe_at("https://updates.push.services.mozilla.com/wpush/v2/b");
  subscribe();
  subscribe_at("https://fcm.googleapis.com/fcm/send/c");
  subscribe();
  const std::int64_t alert = confirmed_alert();
  start_engine();
  ASSERT_TRUE(finished(alert));

  const auto d = deliveries_.get(alert);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->service_split);
  using news::PushServiceKind;
  const store::ServiceCounts targeted = d->counts.targeted_by_service;
  const store::ServiceCounts accepted = d->counts.accepted_by_service;
  EXPECT_EQ(targeted[index(PushServiceKind::kOwn)], 4u);
  EXPECT_EQ(targeted[index(PushServiceKind::kFcm)], 2u);
  EXPECT_EQ(targeted[index(PushServiceKind::kMozilla)], 1u);
  EXPECT_EQ(targeted[index(PushServiceKind::kApple)], 0u);
  EXPECT_EQ(targeted[index(PushServiceKind::kOther)], 0u);
  EXPECT_EQ(accepted[index(PushServiceKind::kOwn)], 4u);
  EXPECT_EQ(accepted[index(PushServiceKind::kFcm)], 0u);
  EXPECT_EQ(accepted[index(PushServiceKind::kMozilla)], 0u);
  // The split adds up to the totals.
  std::uint64_t targeted_sum = 0;
  std::uint64_t accepted_sum = 0;
  for (std::size_t i = 0; i < targeted.size(); ++i) {
    targeted_sum += targeted[i];
    accepted_sum += accepted[i];
  }
  EXPECT_EQ(targeted_sum, d->targeted);
  EXPECT_EQ(accepted_sum, d->counts.sent);
  EXPECT_EQ(d->counts.sent, 4u);
  EXPECT_EQ(d->counts.failed_by_reason.at("host_not_allowed"), 3u);
}

TEST_F(EngineTest, EngineResumesAfterAStopWithTheOpenShardsThenTheRest) {
  config_.shard_size = 2;
  for (int i = 0; i < 6; ++i) subscribe();
  server_.set_script([](const RecordedRequest&, int) { return Response::hold(); });
  const std::int64_t alert = confirmed_alert();
  start_engine();
  ASSERT_TRUE(server_.wait_for_requests(1, 30s));
  engine_->stop();  // requests in flight are abandoned, their shards stay open

  EXPECT_EQ(site_.status(alert), AlertStatus::kSending);
  auto d = deliveries_.get(alert);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->state, DeliveryState::kRunning);
  EXPECT_EQ(d->counts.sent, 0u);
  ASSERT_GE(d->shards_open, 1u);
  const std::int64_t cursor = d->cursor;

  // Two readers subscribe while the service is down: the walk goes on past them.
  subscribe();
  subscribe();
  server_.set_script([](const RecordedRequest&, int) { return Response::answer(201); });
  const std::size_t before = server_.request_count();
  start_engine();
  ASSERT_TRUE(finished(alert));

  EXPECT_EQ(site_.status(alert), AlertStatus::kSent);
  d = deliveries_.get(alert);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->state, DeliveryState::kDone);
  EXPECT_EQ(d->counts.sent, 8u);  // every subscriber counted once, resent or not
  EXPECT_EQ(d->targeted, 8u);
  // Per push service too (the scripted server is no vendor's and not "own" here: other).
  EXPECT_EQ(d->counts.targeted_by_service[index(news::PushServiceKind::kOther)], 8u);
  EXPECT_EQ(d->counts.accepted_by_service[index(news::PushServiceKind::kOther)], 8u);
  EXPECT_EQ(d->shards_open, 0u);
  EXPECT_EQ(d->cursor, 8);
  // After the restart: the open shards again, and everything after the old cursor.
  std::set<std::int64_t> resent;
  const auto requests = server_.requests();
  for (std::size_t i = before; i < requests.size(); ++i) resent.insert(id_of(requests[i]));
  for (std::int64_t id = cursor + 1; id <= 8; ++id) EXPECT_TRUE(resent.contains(id)) << id;
  for (std::int64_t id = 1; id <= 8; ++id) EXPECT_GE(requests_per_subscriber()[id], 1) << id;
}

TEST_F(EngineTest, EngineCancelStopsAnAlertMidWayAndGoesOnWithTheNext) {
  for (int i = 0; i < 6; ++i) subscribe();
  server_.set_script([](const RecordedRequest& r, int) {
    // The first alert's requests never get an answer; the second's do.
    return r.header("topic") == "first" ? Response::hold() : Response::answer(201);
  });
  start_engine();
  const std::int64_t first = confirmed_alert("First", "first");
  engine_->enqueue(first);
  ASSERT_TRUE(server_.wait_for_requests(1, 30s));
  // What the newsroom does on cancel: the status first, then the engine.
  ASSERT_TRUE(site_.transition_alert(first, AlertStatus::kSending, AlertStatus::kCancelled)
                  .value_or(false));
  engine_->cancel(first);
  ASSERT_TRUE(eventually([&] {
    const auto d = deliveries_.get(first);
    return d && d->state == DeliveryState::kCancelled;
  }));
  EXPECT_EQ(site_.status(first), AlertStatus::kCancelled);  // never overwritten with "sent"
  EXPECT_EQ(deliveries_.get(first)->counts.sent, 0u);

  const std::int64_t second = confirmed_alert("Second", "second");
  engine_->enqueue(second);
  ASSERT_TRUE(finished(second));
  EXPECT_EQ(site_.status(second), AlertStatus::kSent);
  EXPECT_EQ(deliveries_.get(second)->counts.sent, 6u);
  EXPECT_NE(engine_->metrics_text().find("flashwire_fanout_alerts_total{state=\"cancelled\"} 1"),
            std::string::npos);
}

TEST_F(EngineTest, EngineDeletesSubscriptionsAnswered404Or410) {
  for (int i = 0; i < 5; ++i) subscribe();
  server_.set_script([](const RecordedRequest& r, int) {
    if (r.path == "/push/2") return Response::answer(410);
    if (r.path == "/push/4") return Response::answer(404);
    return Response::answer(201);
  });
  const std::int64_t alert = confirmed_alert();
  start_engine();
  ASSERT_TRUE(finished(alert));

  const auto d = deliveries_.get(alert);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->counts.sent, 3u);
  EXPECT_EQ(d->counts.gone, 2u);
  EXPECT_EQ(site_.subscription_ids(), (std::set<std::int64_t>{1, 3, 5}));
  EXPECT_EQ(deliveries_.gone_queued(), 0u);
  EXPECT_EQ(site_.status(alert), AlertStatus::kSent);
}

TEST_F(EngineTest, EngineKeepsGoneSubscriptionsQueuedWhenTheyCannotBeDeletedAndRetriesLater) {
  for (int i = 0; i < 3; ++i) subscribe();
  server_.set_script([](const RecordedRequest& r, int) {
    return Response::answer(r.path == "/push/3" ? 410 : 201);
  });
  site_.fail("delete_subscription", 1);
  const std::int64_t first = confirmed_alert();
  start_engine();
  ASSERT_TRUE(finished(first));
  // A failed clean-up does not fail the alert; the subscription waits for the next one.
  EXPECT_EQ(site_.status(first), AlertStatus::kSent);
  EXPECT_EQ(deliveries_.gone_queued(), 1u);
  EXPECT_TRUE(site_.subscription_ids().contains(3));

  const std::int64_t second = confirmed_alert();
  engine_->enqueue(second);
  ASSERT_TRUE(finished(second));
  EXPECT_EQ(deliveries_.gone_queued(), 0u);
  EXPECT_EQ(site_.subscription_ids(), (std::set<std::int64_t>{1, 2}));
  EXPECT_EQ(deliveries_.get(second)->counts.sent, 2u);
}

TEST_F(EngineTest, EngineExpiresEveryMessageOfAnAlertWhoseTtlRanOutWithoutARequest) {
  for (int i = 0; i < 4; ++i) subscribe();
  const std::int64_t alert = confirmed_alert();  // TTL one hour
  // Its fan-out began two hours ago and was interrupted before any shard was claimed.
  ASSERT_TRUE(deliveries_.begin(alert, 4, (clock_.now_seconds() - 7200) * 1000));
  start_engine();
  ASSERT_TRUE(finished(alert));

  const auto d = deliveries_.get(alert);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->counts.sent, 0u);
  EXPECT_EQ(d->counts.failed, 4u);
  EXPECT_EQ(d->counts.failed_by_reason, (std::map<std::string, std::uint64_t>{{"expired", 4}}));
  EXPECT_EQ(server_.request_count(), 0u);
}

TEST_F(EngineTest, EngineFailsTheAlertWithTheReasonWhenAStoreCallFails) {
  for (int i = 0; i < 4; ++i) subscribe();
  struct Case {
    flashwire::testing::FailureScript* store;
    std::string call;
    int times;
    std::string reason;      // the delivery's error
    bool requests_expected;  // whether anything went out before the failure
  };
  const std::vector<Case> cases = {
      {&site_, "count_subscriptions", -1, "count subscriptions: count_subscriptions: disk I/O",
       false},
      {&site_, "subscriptions_page", -1, "read subscriptions: subscriptions_page: disk I/O", false},
      {&deliveries_, "begin", 1, "record progress: begin: disk I/O", false},
      {&deliveries_, "open_shards", -1, "read open shards: open_shards: disk I/O", false},
      {&deliveries_, "open_shard", -1, "record shard: open_shard: disk I/O", false},
      {&deliveries_, "complete_shard", -1, "record shard: complete_shard: disk I/O", true},
      {&deliveries_, "finish", 1, "record completion: finish: disk I/O", true},
  };
  start_engine();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.call);
    c.store->fail(c.call, c.times);
    const std::size_t before = server_.request_count();
    const std::int64_t alert = confirmed_alert();
    engine_->enqueue(alert);
    ASSERT_TRUE(finished(alert));
    EXPECT_EQ(site_.status(alert), AlertStatus::kFailed);
    const auto d = deliveries_.get(alert);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->state, DeliveryState::kFailed);
    EXPECT_EQ(d->error.rfind(c.reason, 0), 0u) << d->error;
    EXPECT_EQ(server_.request_count() > before, c.requests_expected);
    c.store->heal();
  }
  // The engine goes on once the store is healthy again.
  const std::int64_t alert = confirmed_alert();
  engine_->enqueue(alert);
  ASSERT_TRUE(finished(alert));
  EXPECT_EQ(site_.status(alert), AlertStatus::kSent);
  EXPECT_NE(engine_->metrics_text().find("flashwire_fanout_alerts_total{state=\"failed\"} 7"),
            std::string::npos)
      << engine_->metrics_text();
}

TEST_F(EngineTest, EngineReportsAnUnreadableArticleImageAndStillSends) {
  for (int i = 0; i < 2; ++i) subscribe();
  store::Alert a;
  a.category = Category::kBreaking;
  a.title = "Bridge reopens";
  a.article_id = 7;
  a.status = AlertStatus::kSending;
  site_.fail("article_image");
  const std::int64_t alert = site_.add_alert(a);
  start_engine();
  ASSERT_TRUE(finished(alert));
  EXPECT_EQ(site_.status(alert), AlertStatus::kSent);
  const auto d = deliveries_.get(alert);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->counts.sent, 2u);
  EXPECT_EQ(d->error, "read article image: article_image: disk I/O error");
}

TEST_F(EngineTest, EngineSurvivesExceptionsAndFailsOnlyTheAlertThatMetThem) {
  for (int i = 0; i < 4; ++i) subscribe();
  start_engine();
  // Thrown on the engine thread.
  site_.throw_on("count_subscriptions", 1);
  const std::int64_t first = confirmed_alert();
  engine_->enqueue(first);
  ASSERT_TRUE(finished(first));
  EXPECT_EQ(site_.status(first), AlertStatus::kFailed);
  EXPECT_EQ(deliveries_.get(first)->error,
            "internal error: count_subscriptions: scripted exception");

  // Thrown on a sender thread of the pipeline (the source is read from there).
  site_.throw_on("subscriptions_page", 1);
  const std::int64_t second = confirmed_alert();
  engine_->enqueue(second);
  ASSERT_TRUE(finished(second));
  EXPECT_EQ(site_.status(second), AlertStatus::kFailed);
  EXPECT_NE(deliveries_.get(second)->error.find("subscriptions_page: scripted exception"),
            std::string::npos)
      << deliveries_.get(second)->error;

  const std::int64_t third = confirmed_alert();
  engine_->enqueue(third);
  ASSERT_TRUE(finished(third));
  EXPECT_EQ(site_.status(third), AlertStatus::kSent);
  EXPECT_EQ(deliveries_.get(third)->counts.sent, 4u);
}

TEST_F(EngineTest, EngineSendsTwoAlertsBackToBackOneAfterTheOther) {
  for (int i = 0; i < 5; ++i) subscribe();
  start_engine();
  const std::int64_t first = confirmed_alert("First", "first");
  const std::int64_t second = confirmed_alert("Second", "second");
  engine_->enqueue(first);
  engine_->enqueue(second);
  ASSERT_TRUE(finished(first));
  ASSERT_TRUE(finished(second));

  EXPECT_EQ(site_.status(first), AlertStatus::kSent);
  EXPECT_EQ(site_.status(second), AlertStatus::kSent);
  EXPECT_EQ(deliveries_.get(first)->counts.sent, 5u);
  EXPECT_EQ(deliveries_.get(second)->counts.sent, 5u);
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 10u);
  // In the order confirmed: every request of the first before any of the second.
  for (std::size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].header("topic"), i < 5 ? "first" : "second") << i;
    EXPECT_NE(decrypt(requests[i]).find(i < 5 ? "\"First\"" : "\"Second\""), std::string::npos);
  }
}

TEST_F(EngineTest, EngineUsesOneSenderKeyPerBroadcastWhenAskedAndANewOneForTheNextAlert) {
  config_.pipeline.per_broadcast_key = true;
  for (int i = 0; i < 4; ++i) subscribe();
  start_engine();
  const std::int64_t first = confirmed_alert("First", "first");
  const std::int64_t second = confirmed_alert("Second", "second");
  engine_->enqueue(first);
  engine_->enqueue(second);
  ASSERT_TRUE(finished(first));
  ASSERT_TRUE(finished(second));

  // RFC 8188 header: salt (16), record size (4), key id length (1), key id: the sender key.
  std::map<std::string, std::set<std::string>> keys_by_topic;
  std::set<std::string> salts;
  for (const auto& r : server_.requests()) {
    ASSERT_GE(r.body.size(), 86u);
    EXPECT_EQ(static_cast<unsigned char>(r.body[20]), 65u);
    keys_by_topic[r.header("topic")].insert(r.body.substr(21, 65));
    salts.insert(r.body.substr(0, 16));
    EXPECT_NE(decrypt(r).find("\"title\""), std::string::npos);  // still decrypts
  }
  ASSERT_EQ(keys_by_topic["first"].size(), 1u);
  ASSERT_EQ(keys_by_topic["second"].size(), 1u);
  EXPECT_NE(*keys_by_topic["first"].begin(), *keys_by_topic["second"].begin());
  EXPECT_EQ(salts.size(), 8u);  // a fresh salt per message even so
}

TEST_F(EngineTest, EngineUsesAFreshSenderKeyPerMessageByDefault) {
  for (int i = 0; i < 4; ++i) subscribe();
  const std::int64_t alert = confirmed_alert();
  start_engine();
  ASSERT_TRUE(finished(alert));
  std::set<std::string> keys;
  for (const auto& r : server_.requests()) keys.insert(r.body.substr(21, 65));
  EXPECT_EQ(keys.size(), 4u);
}

TEST_F(EngineTest, EngineRejectsAZeroShardSize) {
  config_.shard_size = 0;
  auto engine = FanoutEngine::create(
      config_, EngineDeps{site_, site_, deliveries_, *vapid_, *hosts_, clock_, random_});
  ASSERT_FALSE(engine);
  EXPECT_EQ(engine.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(engine.error().message, "shard size must be positive");
}

// A live event's alerts share its topic as their tag, so the newer replaces the older on the
// device (and alerts again); other alerts are tagged by id.
TEST(AlertPayload, TagsByTopicWhenThereIsOneAndByIdOtherwise) {
  store::Alert alert;
  alert.id = 42;
  alert.title = "Storm live";
  const auto text = [](const webpush::Bytes& bytes) {
    return std::string(bytes.begin(), bytes.end());
  };
  const std::string plain = text(alert_payload(alert, "https://x.example/i.svg", ""));
  EXPECT_NE(plain.find(R"("tag":"alert-42")"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("renotify"), std::string::npos) << plain;
  alert.topic = "live-7";
  const std::string live = text(alert_payload(alert, "https://x.example/i.svg", ""));
  EXPECT_NE(live.find(R"("tag":"live-7")"), std::string::npos) << live;
  EXPECT_NE(live.find(R"("renotify":true)"), std::string::npos) << live;
}

// --- several nodes: engines sharing one store with shard leases ---

class LeaseEngineTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    deliveries_.enable_leases(site_);
    config_.poll_interval = 20ms;  // polls are what a node waits on; short keeps the test fast
  }
  void TearDown() override {
    for (auto& node : nodes_) node->stop();
    EngineTest::TearDown();
  }
  FanoutEngine& start_node(const std::string& id) {
    EngineConfig config = config_;
    config.node_id = id;
    auto engine = FanoutEngine::create(
        config, EngineDeps{site_, site_, deliveries_, *vapid_, *hosts_, clock_, random_});
    EXPECT_TRUE(engine) << engine.error().message;
    nodes_.push_back(std::move(*engine));
    auto started = nodes_.back()->start();
    EXPECT_TRUE(started) << started.error().message;
    return *nodes_.back();
  }
  static bool has_metric(FanoutEngine& engine, const std::string& line) {
    return engine.metrics_text().find(line + "\n") != std::string::npos;
  }
  std::vector<std::unique_ptr<FanoutEngine>> nodes_;
};

TEST_F(LeaseEngineTest, TwoNodesShareAnAlertPlannedOnceAndMarkItSentOnce) {
  for (int i = 0; i < 30; ++i) subscribe();
  const std::int64_t alert = confirmed_alert();
  FanoutEngine& a = start_node("node-a");
  FanoutEngine& b = start_node("node-b");
  ASSERT_TRUE(finished(alert));

  EXPECT_EQ(site_.status(alert), AlertStatus::kSent);
  EXPECT_EQ(deliveries_.plans(alert), 1);
  const auto d = deliveries_.get(alert);
  EXPECT_EQ(d->state, DeliveryState::kDone);
  EXPECT_EQ(d->targeted, 30u);
  EXPECT_EQ(d->counts.sent, 30u);  // counted once per shard, whichever node sent it
  // The split per push service rides on the same completions: counted once as well.
  EXPECT_EQ(d->counts.targeted_by_service[index(news::PushServiceKind::kOther)], 30u);
  EXPECT_EQ(d->counts.accepted_by_service[index(news::PushServiceKind::kOther)], 30u);
  EXPECT_EQ(d->shards_done, 10u);
  const auto per_subscriber = requests_per_subscriber();
  ASSERT_EQ(per_subscriber.size(), 30u);
  for (const auto& [id, n] : per_subscriber) EXPECT_EQ(n, 1) << id;
  const auto by = deliveries_.completed_by(alert);
  EXPECT_EQ(by.size(), 10u);
  for (const auto& [after, node] : by) EXPECT_TRUE(node == "node-a" || node == "node-b") << node;
  // Exactly one node moved the alert to "sent".
  const int done =
      static_cast<int>(has_metric(a, "flashwire_fanout_alerts_total{state=\"done\"} 1")) +
      static_cast<int>(has_metric(b, "flashwire_fanout_alerts_total{state=\"done\"} 1"));
  EXPECT_EQ(done, 1);
}

TEST_F(LeaseEngineTest, TwoNodesSplitTargetedAndAcceptedPerPushServiceExactly) {
  config_.own_push_origin = server_.origin();
  for (int i = 0; i < 12; ++i) {
    if (i % 3 == 0) {
      subscribe_at("https://web.push.apple.com/q" + std::to_string(i));
    } else {
      subscribe();
    }
  }
  const std::int64_t alert = confirmed_alert();
  start_node("node-a");
  start_node("node-b");
  ASSERT_TRUE(finished(alert));

  const auto d = deliveries_.get(alert);
  ASSERT_TRUE(d);
  using news::PushServiceKind;
  EXPECT_EQ(d->targeted, 12u);
  EXPECT_EQ(d->counts.targeted_by_service[index(PushServiceKind::kOwn)], 8u);
  EXPECT_EQ(d->counts.targeted_by_service[index(PushServiceKind::kApple)], 4u);
  EXPECT_EQ(d->counts.accepted_by_service[index(PushServiceKind::kOwn)], 8u);
  EXPECT_EQ(d->counts.accepted_by_service[index(PushServiceKind::kApple)], 0u);
  EXPECT_EQ(d->counts.sent, 8u);
}

TEST_F(LeaseEngineTest, AShardOfADeadNodeIsSentByAnotherOnceItsLeaseRunsOut) {
  for (int i = 0; i < 9; ++i) subscribe();
  const std::int64_t alert = confirmed_alert();
  // A node that planned the alert, claimed its first shard and died.
  ASSERT_TRUE(deliveries_.begin(alert, 9, clock_.now_ms()));
  ASSERT_EQ(deliveries_.plan_shards(alert, Category::kBreaking, 3).value_or(0), 3u);
  const auto dead = deliveries_.claim_shard(alert, "dead", 10s);
  ASSERT_TRUE(dead && dead->has_value());
  EXPECT_EQ((*dead)->range, (store::ShardRange{0, 3}));

  start_node("alive");
  ASSERT_TRUE(server_.wait_for_requests(6, 30s));
  ASSERT_TRUE(eventually([&] { return deliveries_.get(alert)->shards_done == 2; }));
  // While the dead node's lease holds, its shard is nobody else's and the alert stays sending.
  EXPECT_EQ(site_.status(alert), AlertStatus::kSending);
  EXPECT_EQ(requests_per_subscriber().count(1), 0u);

  deliveries_.expire_leases("dead");
  ASSERT_TRUE(finished(alert));
  EXPECT_EQ(site_.status(alert), AlertStatus::kSent);
  EXPECT_EQ(deliveries_.get(alert)->counts.sent, 9u);
  EXPECT_EQ(deliveries_.completed_by(alert).at(0), "alive");
  for (std::int64_t id = 1; id <= 9; ++id) EXPECT_EQ(requests_per_subscriber()[id], 1) << id;
}

TEST_F(LeaseEngineTest, ACancelOnAnyNodeStopsEveryNode) {
  for (int i = 0; i < 12; ++i) subscribe();
  server_.set_script([](const RecordedRequest& r, int) {
    return r.header("topic") == "first" ? Response::hold() : Response::answer(201);
  });
  const std::int64_t alert = confirmed_alert("First", "first");
  start_node("node-a");
  start_node("node-b");
  ASSERT_TRUE(server_.wait_for_requests(2, 30s));
  // Another node's newsroom cancelled it: only the store says so.
  ASSERT_TRUE(site_.transition_alert(alert, AlertStatus::kSending, AlertStatus::kCancelled)
                  .value_or(false));
  ASSERT_TRUE(eventually([&] {
    const auto d = deliveries_.get(alert);
    return d && d->state == DeliveryState::kCancelled;
  }));
  EXPECT_EQ(site_.status(alert), AlertStatus::kCancelled);
  EXPECT_EQ(deliveries_.get(alert)->counts.sent, 0u);
  // The nodes have let go of it: the next alert goes out in full.
  const std::int64_t second = confirmed_alert("Second", "second");
  ASSERT_TRUE(finished(second));
  EXPECT_EQ(site_.status(second), AlertStatus::kSent);
  EXPECT_EQ(deliveries_.get(second)->counts.sent, 12u);
}

TEST_F(LeaseEngineTest, ACancelWhileTheNodeIsIdleIsRecorded) {
  for (int i = 0; i < 6; ++i) subscribe();
  const std::int64_t alert = confirmed_alert();
  ASSERT_TRUE(deliveries_.begin(alert, 6, clock_.now_ms()));
  ASSERT_EQ(deliveries_.plan_shards(alert, Category::kBreaking, 3).value_or(0), 2u);
  ASSERT_TRUE(deliveries_.claim_shard(alert, "elsewhere", 10s).value_or(std::nullopt));
  FanoutEngine& node = start_node("here");
  ASSERT_TRUE(eventually([&] { return deliveries_.get(alert)->shards_done == 1; }));
  ASSERT_TRUE(site_.transition_alert(alert, AlertStatus::kSending, AlertStatus::kCancelled)
                  .value_or(false));
  node.cancel(alert);
  ASSERT_TRUE(
      eventually([&] { return deliveries_.get(alert)->state == DeliveryState::kCancelled; }));
  EXPECT_TRUE(has_metric(node, "flashwire_fanout_alerts_total{state=\"cancelled\"} 1"));
}

TEST_F(LeaseEngineTest, AStoreOutageIsLoggedOnceCountedAndTheAlertStillFinishes) {
  for (int i = 0; i < 9; ++i) subscribe();
  deliveries_.fail("claim_shard", 4);  // four polls in a row find the store down
  const std::int64_t alert = confirmed_alert();
  FanoutEngine& node = start_node("node-a");
  ASSERT_TRUE(finished(alert));
  EXPECT_EQ(site_.status(alert), AlertStatus::kSent);  // a fault never fails the alert
  EXPECT_EQ(deliveries_.get(alert)->counts.sent, 9u);
  EXPECT_TRUE(has_metric(node, "flashwire_fanout_store_faults_total 1"));
  for (std::int64_t id = 1; id <= 9; ++id) EXPECT_EQ(requests_per_subscriber()[id], 1) << id;
}

TEST_F(LeaseEngineTest, AShardTakenOverMeanwhileIsDroppedNotCountedTwice) {
  for (int i = 0; i < 3; ++i) subscribe();
  // The first attempt of every message gets no answer: the node sits on its shard until the
  // request times out and the retry is answered.
  config_.pipeline.request_timeout = 2000ms;
  server_.set_script([](const RecordedRequest&, int nth) {
    return nth == 1 ? Response::hold() : Response::answer(201);
  });
  const std::int64_t alert = confirmed_alert();
  FanoutEngine& slow = start_node("slow");
  ASSERT_TRUE(server_.wait_for_requests(3, 30s));
  // Its lease ran out while it waited; another node took the shard and completed it.
  deliveries_.expire_leases("slow");
  const auto other = deliveries_.claim_shard(alert, "other", 10s);
  ASSERT_TRUE(other && other->has_value());
  store::DeliveryCounts counts;
  counts.sent = 3;
  counts.targeted_by_service[index(news::PushServiceKind::kOther)] = 3;
  counts.accepted_by_service[index(news::PushServiceKind::kOther)] = 3;
  ASSERT_TRUE(deliveries_.complete_claimed_shard(alert, (*other)->range, "other", counts, {}));
  ASSERT_TRUE(finished(alert));
  EXPECT_EQ(deliveries_.get(alert)->counts.sent, 3u);
  // The slow node's per-service counts went with the rest of its dropped completion.
  // (Indexed by news::PushServiceKind: kOther is 0.)
  EXPECT_EQ(deliveries_.get(alert)->counts.targeted_by_service,
            (store::ServiceCounts{3, 0, 0, 0, 0}));
  EXPECT_EQ(deliveries_.get(alert)->counts.accepted_by_service,
            (store::ServiceCounts{3, 0, 0, 0, 0}));
  EXPECT_TRUE(has_metric(slow, "flashwire_fanout_shards_taken_over_total 1"));
}

TEST_F(LeaseEngineTest, EngineRejectsAnEmptyNodeIdOrAShortLease) {
  EngineConfig config = config_;
  config.node_id = "";
  EXPECT_FALSE(FanoutEngine::create(
      config, EngineDeps{site_, site_, deliveries_, *vapid_, *hosts_, clock_, random_}));
  config.node_id = "n";
  config.lease = 10ms;
  EXPECT_FALSE(FanoutEngine::create(
      config, EngineDeps{site_, site_, deliveries_, *vapid_, *hosts_, clock_, random_}));
}

}  // namespace
}  // namespace flashwire::fanout
