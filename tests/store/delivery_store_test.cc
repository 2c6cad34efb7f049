#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "backends.h"
#include "raw_db.h"
#include "store/site_state.h"
#include "store/sqlite/sqlite_delivery_store.h"
#include "store/sqlite/sqlite_push_store.h"
#include "store/sqlite/sqlite_site_store.h"

namespace flashwire::store {
namespace {

using testing::Backend;
using testing::RawDb;

constexpr std::int64_t kAlert = 7;
constexpr std::int64_t kStartedMs = 1'800'000'000'000;

// Every field, so that EXPECT_EQ compares and prints whole records.
auto fields(const DeliveryCounts& c) {
  return std::make_tuple(c.sent, c.gone, c.failed, c.retried, c.failed_by_reason, c.accept_latency,
                         c.last_accept_ms, c.targeted_by_service, c.accepted_by_service);
}
auto fields(const Delivery& d) {
  return std::make_tuple(d.alert_id, d.audience, d.targeted, d.cursor, d.started_at_ms,
                         d.finished_at_ms, static_cast<int>(d.state), d.error, d.shards_done,
                         d.shards_open, d.service_split, fields(d.counts));
}
auto fields(const GoneSubscription& g) { return std::make_tuple(g.subscription_id, g.endpoint); }
std::vector<std::tuple<std::int64_t, std::string>> fields(const std::vector<GoneSubscription>& gs) {
  std::vector<std::tuple<std::int64_t, std::string>> out;
  for (const auto& g : gs) out.push_back(fields(g));
  return out;
}

std::string endpoint(std::int64_t id) {
  return "https://push.example.net/wpush/v2/sub-" + std::to_string(id);
}

// The counts of one shard: `sent` accepted in the first latency bucket, `failed` split over
// the reasons given; every target on FCM but one on Mozilla, which was accepted.
DeliveryCounts shard_counts(std::uint64_t sent, std::uint64_t gone,
                            std::map<std::string, std::uint64_t> failures,
                            std::uint64_t retried = 0, std::int64_t last_accept_ms = 0) {
  DeliveryCounts c;
  c.sent = sent;
  c.gone = gone;
  for (const auto& [reason, n] : failures) c.failed += n;
  c.failed_by_reason = std::move(failures);
  c.retried = retried;
  c.accept_latency[0] = sent;
  c.last_accept_ms = last_accept_ms;
  const std::uint64_t targeted = sent + gone + c.failed;
  const auto fcm = static_cast<std::size_t>(news::PushServiceKind::kFcm);
  const auto mozilla = static_cast<std::size_t>(news::PushServiceKind::kMozilla);
  c.targeted_by_service[mozilla] = sent > 0 ? 1 : 0;
  c.targeted_by_service[fcm] = targeted - c.targeted_by_service[mozilla];
  c.accepted_by_service[mozilla] = c.targeted_by_service[mozilla];
  c.accepted_by_service[fcm] = sent - c.accepted_by_service[mozilla];
  return c;
}

template <typename T>
void expect_error(const Result<T>& result, ErrorCode code) {
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, code) << result.error().message;
}

// A delivery store on the backend backend() names, opened as the application opens it.
class DeliveryStoreFixture
    : public testing::BackendFixture<DeliveryStore, &SiteState::open_delivery_store> {
 protected:
  DeliveryStoreFixture() : BackendFixture("delivery.sqlite") {}

  // Everything stored, read behind the store's back: equal snapshots mean that nothing changed.
  std::string snapshot() {
    return "deliveries:\n" + rows("SELECT * FROM deliveries ORDER BY alert_id") + "shards:\n" +
           rows("SELECT * FROM delivery_shards ORDER BY alert_id, after_id") + "failures:\n" +
           rows("SELECT * FROM delivery_failures ORDER BY alert_id, reason") + "gone:\n" +
           rows("SELECT * FROM pending_gone ORDER BY subscription_id");
  }

  Delivery begin_ok(std::int64_t alert_id = kAlert, std::uint64_t audience = 100,
                    std::int64_t now_ms = kStartedMs) {
    auto d = store().begin(alert_id, audience, now_ms);
    EXPECT_TRUE(d) << d.error().message;
    return d.value_or(Delivery{});
  }
  Delivery find_ok(std::int64_t alert_id = kAlert) {
    auto d = store().find(alert_id);
    EXPECT_TRUE(d) << d.error().message;
    EXPECT_TRUE(d && d->has_value()) << "no delivery for alert " << alert_id;
    return d && d->has_value() ? **d : Delivery{};
  }
  void open_ok(ShardRange range, std::uint64_t size, std::int64_t alert_id = kAlert) {
    auto ok = store().open_shard(alert_id, range, size);
    EXPECT_TRUE(ok) << ok.error().message;
  }
  void complete_ok(ShardRange range, const DeliveryCounts& counts,
                   const std::vector<GoneSubscription>& gone = {}, std::int64_t alert_id = kAlert) {
    auto ok = store().complete_shard(alert_id, range, counts, gone);
    EXPECT_TRUE(ok) << ok.error().message;
  }
  std::vector<ShardRange> open_shards(std::int64_t alert_id = kAlert) {
    auto shards = store().open_shards(alert_id);
    EXPECT_TRUE(shards) << shards.error().message;
    return shards.value_or(std::vector<ShardRange>{});
  }
  std::vector<GoneSubscription> pending_gone(std::size_t limit = 100) {
    auto gone = store().pending_gone(limit);
    EXPECT_TRUE(gone) << gone.error().message;
    return gone.value_or(std::vector<GoneSubscription>{});
  }
};

// The contract, on every backend.
class DeliveryStoreTest : public DeliveryStoreFixture,
                          public ::testing::WithParamInterface<Backend> {
 protected:
  Backend backend() const override { return GetParam(); }
};
INSTANTIATE_TEST_SUITE_P(Backends, DeliveryStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         testing::backend_name);

// What only the SQLite file does.
class SqliteDeliveryStoreTest : public DeliveryStoreFixture {
 protected:
  Backend backend() const override { return Backend::kSqlite; }
};

// --- begin / find ---

TEST_P(DeliveryStoreTest, BeginCreatesARunningDeliveryAndFindReturnsIt) {
  const Delivery d = begin_ok(kAlert, 100, kStartedMs);
  Delivery expected;
  expected.alert_id = kAlert;
  expected.audience = 100;
  expected.started_at_ms = kStartedMs;
  EXPECT_EQ(fields(d), fields(expected));
  EXPECT_EQ(d.state, DeliveryState::kRunning);
  EXPECT_EQ(fields(find_ok()), fields(expected));

  auto absent = store().find(kAlert + 1);
  ASSERT_TRUE(absent) << absent.error().message;
  EXPECT_FALSE(absent->has_value());
}

TEST_P(DeliveryStoreTest, BeginAgainReturnsTheExistingDeliveryUnchanged) {
  begin_ok(kAlert, 100, kStartedMs);
  open_ok({0, 10}, 4);
  complete_ok({0, 10}, shard_counts(3, 1, {}));
  const Delivery before = find_ok();
  const std::string raw_before = snapshot();

  // A resume after a crash: another audience and time are ignored; the progress is kept.
  const Delivery resumed = begin_ok(kAlert, 5000, kStartedMs + 60'000);
  EXPECT_EQ(fields(resumed), fields(before));
  EXPECT_EQ(resumed.cursor, 10);
  EXPECT_EQ(resumed.counts.sent, 3u);
  EXPECT_EQ(snapshot(), raw_before);

  // Another alert gets its own record.
  EXPECT_EQ(begin_ok(kAlert + 1, 5, kStartedMs + 1).audience, 5u);
  EXPECT_EQ(find_ok(kAlert).audience, 100u);
}

// --- shards ---

TEST_P(DeliveryStoreTest, OpenShardAdvancesTheCursorAndCountsTheTargets) {
  begin_ok();
  open_ok({0, 10}, 4);
  Delivery d = find_ok();
  EXPECT_EQ(d.cursor, 10);
  EXPECT_EQ(d.targeted, 4u);
  EXPECT_EQ(d.shards_open, 1u);
  EXPECT_EQ(d.shards_done, 0u);

  open_ok({10, 25}, 7);
  d = find_ok();
  EXPECT_EQ(d.cursor, 25);
  EXPECT_EQ(d.targeted, 11u);
  EXPECT_EQ(d.shards_open, 2u);
}

TEST_P(DeliveryStoreTest, OpenShardRefusesStaleCursorsUnknownAlertsAndEmptyRanges) {
  begin_ok();
  open_ok({0, 10}, 4);
  const std::string before = snapshot();
  struct Case {
    const char* name;
    std::int64_t alert_id;
    ShardRange range;
    ErrorCode code;
  };
  const Case cases[] = {
      {"the same claim again", kAlert, {0, 10}, ErrorCode::kConflict},
      {"from the old cursor, further", kAlert, {0, 30}, ErrorCode::kConflict},
      {"from ahead of the cursor", kAlert, {11, 30}, ErrorCode::kConflict},
      {"from behind the cursor", kAlert, {5, 30}, ErrorCode::kConflict},
      {"without begin", kAlert + 1, {0, 10}, ErrorCode::kNotFound},
      {"empty range", kAlert, {10, 10}, ErrorCode::kInvalid},
      {"reversed range", kAlert, {10, 3}, ErrorCode::kInvalid},
      {"empty range, unknown alert", kAlert + 1, {0, 0}, ErrorCode::kInvalid},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    expect_error(store().open_shard(c.alert_id, c.range, 3), c.code);
    EXPECT_EQ(snapshot(), before);
  }
  // The rightful next claim still works.
  open_ok({10, 20}, 3);
  EXPECT_EQ(find_ok().cursor, 20);
}

TEST_P(DeliveryStoreTest, OpenShardsListsTheUndoneShardsAscendingPerAlert) {
  begin_ok(kAlert);
  begin_ok(kAlert + 1);
  EXPECT_TRUE(open_shards().empty());
  open_ok({0, 10}, 1);
  open_ok({10, 20}, 1);
  open_ok({20, 35}, 1);
  open_ok({0, 50}, 1, kAlert + 1);
  EXPECT_EQ(open_shards(), (std::vector<ShardRange>{{0, 10}, {10, 20}, {20, 35}}));

  complete_ok({10, 20}, shard_counts(1, 0, {}));
  EXPECT_EQ(open_shards(), (std::vector<ShardRange>{{0, 10}, {20, 35}}));
  complete_ok({0, 10}, shard_counts(1, 0, {}));
  complete_ok({20, 35}, shard_counts(1, 0, {}));
  EXPECT_TRUE(open_shards().empty());
  EXPECT_EQ(open_shards(kAlert + 1), (std::vector<ShardRange>{{0, 50}}));
  EXPECT_TRUE(open_shards(kAlert + 99).empty());

  const Delivery d = find_ok();
  EXPECT_EQ(d.shards_done, 3u);
  EXPECT_EQ(d.shards_open, 0u);
}

TEST_P(DeliveryStoreTest, CompleteShardAddsItsCountsExactlyOnce) {
  begin_ok();
  open_ok({0, 10}, 8);
  const DeliveryCounts counts =
      shard_counts(4, 1, {{"http_413", 1}, {"expired", 2}}, 5, kStartedMs + 900);
  complete_ok({0, 10}, counts, {{3, endpoint(3)}});

  Delivery d = find_ok();
  EXPECT_EQ(fields(d.counts), fields(counts));
  EXPECT_EQ(d.shards_done, 1u);
  EXPECT_EQ(d.shards_open, 0u);
  EXPECT_EQ(d.state, DeliveryState::kRunning);

  // Completing it again (a duplicate report, or a resume racing a late completion) adds nothing.
  const std::string before = snapshot();
  expect_error(store().complete_shard(kAlert, {0, 10}, counts, {{4, endpoint(4)}}),
               ErrorCode::kNotFound);
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(fields(find_ok().counts), fields(counts));
  EXPECT_EQ(pending_gone().size(), 1u);
}

TEST_P(DeliveryStoreTest, CompleteShardOfAShardThatIsNotOpenIsNotFoundAndWritesNothing) {
  begin_ok();
  open_ok({0, 10}, 8);
  const std::string before = snapshot();
  const DeliveryCounts counts = shard_counts(1, 1, {{"http_400", 1}});
  struct Case {
    const char* name;
    std::int64_t alert_id;
    ShardRange range;
  };
  const Case cases[] = {
      {"never claimed", kAlert, {10, 20}},
      {"other end", kAlert, {0, 9}},
      {"other start", kAlert, {1, 10}},
      {"other alert", kAlert + 1, {0, 10}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    expect_error(store().complete_shard(c.alert_id, c.range, counts, {{3, endpoint(3)}}),
                 ErrorCode::kNotFound);
    EXPECT_EQ(snapshot(), before);
  }
}

TEST_P(DeliveryStoreTest, FailureReasonsAndTheLatencyHistogramAccumulate) {
  begin_ok();
  open_ok({0, 10}, 10);
  open_ok({10, 20}, 10);
  open_ok({20, 30}, 10);

  DeliveryCounts first = shard_counts(5, 0, {{"http_413", 2}, {"expired", 1}}, 2, 1000);
  first.accept_latency = {};
  first.accept_latency[0] = 2;
  first.accept_latency[3] = 3;
  DeliveryCounts second = shard_counts(4, 2, {{"expired", 3}, {"vapid_rejected", 1}}, 1, 3000);
  second.accept_latency = {};
  second.accept_latency[3] = 1;
  second.accept_latency.back() = 3;                        // later than the last bound
  DeliveryCounts third = shard_counts(1, 0, {}, 0, 2000);  // an older last accept
  third.accept_latency = {};
  third.accept_latency[5] = 1;
  complete_ok({0, 10}, first);
  complete_ok({20, 30}, third);
  complete_ok({10, 20}, second);

  const Delivery d = find_ok();
  EXPECT_EQ(d.counts.sent, 10u);
  EXPECT_EQ(d.counts.gone, 2u);
  EXPECT_EQ(d.counts.failed, 7u);
  EXPECT_EQ(d.counts.retried, 3u);
  EXPECT_EQ(d.counts.failed_by_reason,
            (std::map<std::string, std::uint64_t>{
                {"expired", 4}, {"http_413", 2}, {"vapid_rejected", 1}}));
  LatencyHistogram expected{};
  expected[0] = 2;
  expected[3] = 4;
  expected[5] = 1;
  expected.back() = 3;
  EXPECT_EQ(d.counts.accept_latency, expected);
  EXPECT_EQ(d.counts.last_accept_ms, 3000);
  EXPECT_EQ(d.shards_done, 3u);

  // The reasons add up to the failures, as DeliveryCounts promises.
  std::uint64_t by_reason = 0;
  for (const auto& [reason, n] : d.counts.failed_by_reason) by_reason += n;
  EXPECT_EQ(by_reason, d.counts.failed);
}

TEST_P(DeliveryStoreTest, CountsPerPushServiceStartAtZeroAndAddUpShardByShard) {
  const Delivery begun = begin_ok();
  EXPECT_TRUE(begun.service_split);
  EXPECT_EQ(begun.counts.targeted_by_service, ServiceCounts{});
  EXPECT_EQ(begun.counts.accepted_by_service, ServiceCounts{});
  open_ok({0, 10}, 10);
  open_ok({10, 20}, 10);
  DeliveryCounts first;
  first.sent = 6;
  first.targeted_by_service = {1, 4, 2, 3, 0};
  first.accepted_by_service = {0, 3, 1, 2, 0};
  DeliveryCounts second;
  second.sent = 5;
  second.targeted_by_service = {0, 6, 0, 0, 4};
  second.accepted_by_service = {0, 1, 0, 0, 4};
  complete_ok({0, 10}, first);
  complete_ok({10, 20}, second);
  const Delivery d = find_ok();
  EXPECT_TRUE(d.service_split);
  EXPECT_EQ(d.counts.targeted_by_service, (ServiceCounts{1, 10, 2, 3, 4}));
  EXPECT_EQ(d.counts.accepted_by_service, (ServiceCounts{0, 4, 1, 2, 4}));
  // Once per shard, as every other count.
  expect_error(store().complete_shard(kAlert, {0, 10}, first, {}), ErrorCode::kNotFound);
  EXPECT_EQ(find_ok().counts.targeted_by_service, (ServiceCounts{1, 10, 2, 3, 4}));
}

TEST(DeliveryCountsTest, AddSumsEverythingAndKeepsTheLatestAccept) {
  DeliveryCounts total = shard_counts(2, 1, {{"expired", 1}}, 1, 5000);
  DeliveryCounts more = shard_counts(3, 0, {{"expired", 2}, {"http_400", 1}}, 4, 4000);
  more.accept_latency.back() = 7;
  total.add(more);
  EXPECT_EQ(total.sent, 5u);
  EXPECT_EQ(total.gone, 1u);
  EXPECT_EQ(total.failed, 4u);
  EXPECT_EQ(total.retried, 5u);
  EXPECT_EQ(total.failed_by_reason,
            (std::map<std::string, std::uint64_t>{{"expired", 3}, {"http_400", 1}}));
  EXPECT_EQ(total.accept_latency[0], 5u);
  EXPECT_EQ(total.accept_latency.back(), 7u);
  EXPECT_EQ(total.last_accept_ms, 5000);
}

TEST(DeliveryStateNameTest, NamesEveryState) {
  EXPECT_STREQ(delivery_state_name(DeliveryState::kRunning), "running");
  EXPECT_STREQ(delivery_state_name(DeliveryState::kDone), "done");
  EXPECT_STREQ(delivery_state_name(DeliveryState::kCancelled), "cancelled");
  EXPECT_STREQ(delivery_state_name(DeliveryState::kFailed), "failed");
}

// --- gone subscriptions ---

TEST_P(DeliveryStoreTest, GoneSubscriptionsQueueOnceAscendingUntilCleared) {
  begin_ok(kAlert);
  begin_ok(kAlert + 1);
  open_ok({0, 10}, 3);
  open_ok({10, 20}, 3);
  open_ok({0, 20}, 3, kAlert + 1);
  EXPECT_TRUE(pending_gone().empty());

  complete_ok({0, 10}, shard_counts(0, 2, {}), {{5, endpoint(5)}, {3, endpoint(3)}});
  complete_ok({10, 20}, shard_counts(0, 1, {}), {{12, endpoint(12)}});
  // The same subscription gone in another alert's fan-out is queued once.
  complete_ok({0, 20}, shard_counts(0, 2, {}), {{3, endpoint(3)}, {9, endpoint(9)}}, kAlert + 1);

  using Gone = std::vector<std::tuple<std::int64_t, std::string>>;
  EXPECT_EQ(fields(pending_gone()),
            (Gone{{3, endpoint(3)}, {5, endpoint(5)}, {9, endpoint(9)}, {12, endpoint(12)}}));
  EXPECT_EQ(fields(pending_gone(2)), (Gone{{3, endpoint(3)}, {5, endpoint(5)}}));
  EXPECT_TRUE(pending_gone(0).empty());

  // Ids not queued are ignored; an empty list is not an error.
  ASSERT_TRUE(store().clear_gone({3, 12, 999}));
  EXPECT_EQ(fields(pending_gone()), (Gone{{5, endpoint(5)}, {9, endpoint(9)}}));
  ASSERT_TRUE(store().clear_gone({}));
  ASSERT_TRUE(store().clear_gone({5, 9}));
  EXPECT_TRUE(pending_gone().empty());
}

// --- finishing ---

TEST_P(DeliveryStoreTest, NoteErrorKeepsTheLatestProblemWithoutEndingTheFanOut) {
  begin_ok();
  ASSERT_TRUE(store().note_error(kAlert, "push service A rejected our VAPID key"));
  ASSERT_TRUE(store().note_error(kAlert, "push service B rejected our VAPID key"));
  Delivery d = find_ok();
  EXPECT_EQ(d.error, "push service B rejected our VAPID key");
  EXPECT_EQ(d.state, DeliveryState::kRunning);
  EXPECT_EQ(d.finished_at_ms, 0);
  open_ok({0, 10}, 2);  // still claims shards

  const std::string before = snapshot();
  expect_error(store().note_error(kAlert + 1, "nobody"), ErrorCode::kNotFound);
  EXPECT_EQ(snapshot(), before);
}

TEST_P(DeliveryStoreTest, FinishRecordsTheFinalStateTimeAndError) {
  for (const auto& [alert_id, state, error] :
       {std::tuple{1, DeliveryState::kDone, ""}, std::tuple{2, DeliveryState::kCancelled, ""},
        std::tuple{3, DeliveryState::kFailed, "sink: disk full"}}) {
    SCOPED_TRACE(delivery_state_name(state));
    begin_ok(alert_id);
    ASSERT_TRUE(store().finish(alert_id, state, error, kStartedMs + 5000));
    const Delivery d = find_ok(alert_id);
    EXPECT_EQ(d.state, state);
    EXPECT_EQ(d.error, error);
    EXPECT_EQ(d.finished_at_ms, kStartedMs + 5000);
    EXPECT_EQ(d.started_at_ms, kStartedMs);
  }

  const std::string before = snapshot();
  expect_error(store().finish(99, DeliveryState::kDone, "", kStartedMs), ErrorCode::kNotFound);
  expect_error(store().finish(1, DeliveryState::kRunning, "", kStartedMs), ErrorCode::kInvalid);
  EXPECT_EQ(snapshot(), before);
}

// A call that fails after the database has started on it must leave nothing behind. A trigger added
// behind the store's back makes the last write of complete_shard fail.
TEST_P(DeliveryStoreTest, AFailedCompletionChangesNothingAndCanBeRetried) {
  begin_ok();
  open_ok({0, 10}, 4);
  const DeliveryCounts counts = shard_counts(2, 1, {{"http_413", 1}}, 1, 1000);
  const std::vector<GoneSubscription> gone = {{3, endpoint(3)}};
  const std::string before = snapshot();
  add_failing_trigger("INSERT", "pending_gone");

  EXPECT_FALSE(store().complete_shard(kAlert, {0, 10}, counts, gone));

  drop_failing_trigger("pending_gone");
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(open_shards(), (std::vector<ShardRange>{{0, 10}}));
  // The store is still usable, with no transaction left open, and the retry counts once.
  complete_ok({0, 10}, counts, gone);
  EXPECT_EQ(fields(find_ok().counts), fields(counts));
}

// --- files ---

TEST_P(DeliveryStoreTest, EverythingPersistsAcrossCloseAndReopen) {
  begin_ok(kAlert, 100, kStartedMs);
  begin_ok(kAlert + 1, 3, kStartedMs + 1);
  open_ok({0, 10}, 4);
  open_ok({10, 20}, 5);
  DeliveryCounts counts = shard_counts(3, 1, {{"http_413", 1}, {"expired", 1}}, 2, 1234);
  counts.accept_latency.back() = 1;
  complete_ok({0, 10}, counts, {{3, endpoint(3)}});
  ASSERT_TRUE(store().note_error(kAlert, "push service rejected our VAPID key"));
  ASSERT_TRUE(store().finish(kAlert + 1, DeliveryState::kCancelled, "", kStartedMs + 9));
  const Delivery before = find_ok(kAlert);
  const Delivery other_before = find_ok(kAlert + 1);

  reopen();

  EXPECT_EQ(fields(find_ok(kAlert)), fields(before));
  EXPECT_EQ(fields(find_ok(kAlert + 1)), fields(other_before));
  EXPECT_EQ(open_shards(), (std::vector<ShardRange>{{10, 20}}));
  EXPECT_EQ(pending_gone().size(), 1u);
  // The walk goes on from where it was.
  expect_error(store().open_shard(kAlert, {0, 10}, 4), ErrorCode::kConflict);
  open_ok({20, 30}, 1);
  complete_ok({10, 20}, shard_counts(5, 0, {}));
  EXPECT_EQ(find_ok().counts.sent, 8u);
}

TEST_F(SqliteDeliveryStoreTest, OpensWithWalVersion1AndItsOwnApplicationId) {
  store_.reset();
  RawDb raw(path_);
  EXPECT_EQ(raw.rows("PRAGMA journal_mode"), "wal\n");
  EXPECT_EQ(raw.rows("PRAGMA user_version"),
            std::to_string(kSqliteDeliveryStoreSchemaVersion) + "\n");
  EXPECT_EQ(raw.rows("PRAGMA application_id"), std::to_string(0x46574453) + "\n");  // "FWDS"
  EXPECT_EQ(raw.rows("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"),
            "deliveries\ndelivery_failures\ndelivery_shards\npending_gone\n");
}

// A version 1 file (before the counts per push service), made from a current one by undoing
// what version 2 adds, with a fan-out in progress: upgraded when opened, that fan-out shows no
// split (unknown rather than zero) and gets none from the shards it completes afterwards; a
// fan-out begun after the upgrade has one.
TEST_F(SqliteDeliveryStoreTest, Version1FilesUpgradeAndKeepTheirFanOutsWithoutASplit) {
  begin_ok();
  open_ok({0, 10}, 10);
  open_ok({10, 20}, 10);
  complete_ok({0, 10}, shard_counts(3, 0, {}));
  store_.reset();
  {
    RawDb raw(path_);
    raw.exec(
        "ALTER TABLE deliveries DROP COLUMN service_targeted; "
        "ALTER TABLE deliveries DROP COLUMN service_accepted; PRAGMA user_version = 1");
  }
  reopen();
  EXPECT_EQ(rows("PRAGMA user_version"), std::to_string(kSqliteDeliveryStoreSchemaVersion) + "\n");
  Delivery d = find_ok();
  EXPECT_FALSE(d.service_split);
  EXPECT_EQ(d.counts.sent, 3u);
  complete_ok({10, 20}, shard_counts(4, 1, {}));
  d = find_ok();
  EXPECT_FALSE(d.service_split);
  EXPECT_EQ(d.counts.sent, 7u);
  EXPECT_EQ(d.counts.targeted_by_service, ServiceCounts{});
  EXPECT_EQ(rows("SELECT service_targeted IS NULL, service_accepted IS NULL FROM deliveries"),
            "1|1\n");

  EXPECT_TRUE(begin_ok(kAlert + 1).service_split);
}

TEST_F(SqliteDeliveryStoreTest, AnotherStoresFileIsCorruptAndIsLeftAsItWas) {
  const std::string site_path = dir_ + "/site.db";
  const std::string push_path = dir_ + "/push.db";
  {
    auto site = open_sqlite_site_store(site_path);
    ASSERT_TRUE(site) << site.error().message;
    auto push = open_sqlite_push_store(push_path);
    ASSERT_TRUE(push) << push.error().message;
  }
  for (const std::string& path : {site_path, push_path}) {
    SCOPED_TRACE(path);
    const std::string schema = RawDb(path).rows("SELECT sql FROM sqlite_schema");
    expect_error(open_sqlite_delivery_store(path), ErrorCode::kCorrupt);
    EXPECT_EQ(RawDb(path).rows("SELECT sql FROM sqlite_schema"), schema);
  }
  // And the other way round.
  begin_ok();
  store_.reset();
  expect_error(open_sqlite_site_store(path_), ErrorCode::kCorrupt);
  expect_error(open_sqlite_push_store(path_), ErrorCode::kCorrupt);
  reopen();
  EXPECT_EQ(find_ok().audience, 100u);
}

TEST_F(SqliteDeliveryStoreTest, AFileThatIsNotADatabaseOrIsNewerIsCorrupt) {
  const std::string garbage = dir_ + "/garbage.db";
  {
    std::ofstream out(garbage, std::ios::binary | std::ios::trunc);
    out << "this is not a database\n";
  }
  expect_error(open_sqlite_delivery_store(garbage), ErrorCode::kCorrupt);

  store_.reset();
  RawDb(path_).exec("PRAGMA user_version = " +
                    std::to_string(kSqliteDeliveryStoreSchemaVersion + 1));
  expect_error(open_sqlite_delivery_store(path_), ErrorCode::kCorrupt);
}

TEST_F(SqliteDeliveryStoreTest, OpeningWhereNoFileCanBeIsIo) {
  expect_error(open_sqlite_delivery_store(dir_ + "/no/such/directory/delivery.db"), ErrorCode::kIo);
}

}  // namespace
}  // namespace flashwire::store
