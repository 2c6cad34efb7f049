// What only the PostgreSQL backend does: migrations under an advisory lock, connection errors,
// the pool, shared settings, batched import, and shard leases for several nodes. On the real
// server of the test cluster (backends.h); every test has a schema of its own.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backends.h"
#include "store/postgres/pg.h"
#include "store/postgres/pg_schema.h"
#include "store/postgres/pg_site_store.h"
#include "store/site_state.h"

namespace flashwire::store {
namespace {

using testing::Backend;
using testing::RawPg;
using testing::StorePlace;

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    place_ = std::make_unique<StorePlace>(Backend::kPostgres);
    if (!place_->ready()) {
      if (!HasFailure()) GTEST_SKIP() << "no PostgreSQL test cluster";
      return;
    }
  }

  std::unique_ptr<SiteState> open_ok(const StateOptions& options = {}) {
    auto state = place_->open_state(options);
    EXPECT_TRUE(state) << state.error().message;
    return state ? std::move(*state) : nullptr;
  }

  std::unique_ptr<StorePlace> place_;
};

// "1\n2\n…" up to the latest version: the rows of flashwire_schema_migrations after migrating.
std::string all_versions() {
  std::string out;
  for (int v = 1; v <= pg::latest_schema_version(); ++v) out += std::to_string(v) + "\n";
  return out;
}

StateOptions without_migrating() {
  StateOptions options;
  options.migrate = false;
  return options;
}

template <typename T>
void expect_error(const Result<T>& result, ErrorCode code, const std::string& must_mention = "",
                  const std::string& must_not_mention = "") {
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, code) << result.error().message;
  if (!must_mention.empty()) {
    EXPECT_NE(result.error().message.find(must_mention), std::string::npos)
        << result.error().message;
  }
  if (!must_not_mention.empty()) {
    EXPECT_EQ(result.error().message.find(must_not_mention), std::string::npos)
        << result.error().message;
  }
  EXPECT_EQ(result.error().message.find('\n'), std::string::npos) << "one line";
}

// --- migrations ---

TEST_F(PgStoreTest, OpeningMigratesOnceToTheLatestVersion) {
  auto state = open_ok();
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->kind(), StoreKind::kPostgres);
  EXPECT_EQ(state->schema_version(), pg::latest_schema_version());
  EXPECT_EQ(place_->rows("", "SELECT version FROM flashwire_schema_migrations ORDER BY version"),
            all_versions());
  const std::string tables =
      place_->rows("",
                   "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                   "current_schema() ORDER BY table_name");
  EXPECT_EQ(
      tables,
      "alert_beacons\nalert_events\nalerts\napi_tokens\narticles\naudit_log\ndeliveries\n"
      "delivery_failures\ndelivery_shards\neditor_subscriptions\nflashwire_schema_migrations\n"
      "live_updates\n"
      "optin_counts\npending_gone\nsettings\nsubscriptions\n");
  // Opening again applies nothing.
  ASSERT_NE(open_ok(), nullptr);
  EXPECT_EQ(place_->rows("", "SELECT count(*) FROM flashwire_schema_migrations"),
            std::to_string(pg::latest_schema_version()) + "\n");
}

TEST_F(PgStoreTest, NodesStartingTogetherMigrateOnce) {
  constexpr int kNodes = 4;
  std::vector<std::thread> nodes;
  std::vector<std::string> errors(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    nodes.emplace_back([this, i, &errors] {
      auto state = place_->open_state();
      if (!state) errors[static_cast<std::size_t>(i)] = state.error().message;
    });
  }
  for (auto& n : nodes) n.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(place_->rows("", "SELECT version FROM flashwire_schema_migrations ORDER BY version"),
            all_versions());
}

// Undoes version 10 (editors' subscriptions).
#define FW_UNDO_PG_V10 "DROP TABLE editor_subscriptions; "

// Undoes version 8 (search, image renditions; the unaccent extension stays: it is the
// database's).
#define FW_UNDO_PG_V8                                                                        \
  FW_UNDO_PG_V10                                                                             \
  "DROP INDEX articles_search; ALTER TABLE articles DROP COLUMN search_vector, DROP COLUMN " \
  "image_renditions; DROP TEXT SEARCH CONFIGURATION flashwire_search; "

// Undoes version 9 (deliveries' counts per push service).
#define FW_UNDO_PG_V9 \
  "ALTER TABLE deliveries DROP COLUMN service_targeted, DROP COLUMN service_accepted; "

// Undoes versions 6 to 10 (scheduled alerts, articles.created_by, search, the above; FW_UNDO_PG_V8
// undoes 10 too).
#define FW_UNDO_PG_V6                                                                       \
  FW_UNDO_PG_V9                                                                             \
  FW_UNDO_PG_V8                                                                             \
  "ALTER TABLE articles DROP COLUMN created_by; DROP INDEX alerts_due; ALTER TABLE alerts " \
  "DROP COLUMN send_at, DROP COLUMN scheduled; "

// A database from before editors' subscriptions (version 9): its tokens stay, and migration 10
// lets editors subscribe.
TEST_F(PgStoreTest, Version10AddsEditorSubscriptionsKeepingTokens) {
  ASSERT_NE(open_ok(), nullptr);
  place_->exec("", "",
               FW_UNDO_PG_V10 "DELETE FROM flashwire_schema_migrations WHERE version >= 10");
  place_->exec("", "",
               "INSERT INTO api_tokens (name, secret_hash, scopes, created_at, revoked) VALUES "
               "('desk-ana', repeat('a', 64), 'alerts:send', 1, false)");
  expect_error(place_->open_state(without_migrating()), ErrorCode::kCorrupt, "store migrate");
  auto state = open_ok();
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(place_->rows("", "SELECT count(*) FROM editor_subscriptions"), "0\n");
  place_->exec("", "",
               "INSERT INTO editor_subscriptions (token_id, endpoint, p256dh, auth, created_at) "
               "SELECT id, 'https://push.example.net/x', 'k', 'a', 2 FROM api_tokens");
  EXPECT_EQ(place_->rows("",
                         "SELECT t.name FROM editor_subscriptions e JOIN api_tokens t "
                         "ON t.id = e.token_id"),
            "desk-ana\n");
}

// Undoes versions 4 and 5 (the live desk's columns of live_updates, articles.video_url).
#define FW_UNDO_PG_V4                                                                         \
  "DROP INDEX live_updates_by_revision; DROP INDEX live_updates_one_pinned; "                 \
  "ALTER TABLE live_updates DROP COLUMN edited_at, DROP COLUMN deleted, DROP COLUMN pinned, " \
  "DROP COLUMN revision; ALTER TABLE articles DROP COLUMN video_url; "

// A database from before the counts per push service (version 8) with a fan-out in progress:
// after migrating, that fan-out shows no split (unknown, not zero) and gets none from the shards
// it completes later, while a fan-out begun afterwards has one.
TEST_F(PgStoreTest, Version9LeavesFanOutsFromBeforeWithoutASplit) {
  ASSERT_NE(open_ok(), nullptr);
  place_->exec("", "",
               FW_UNDO_PG_V10 FW_UNDO_PG_V9
               "DELETE FROM flashwire_schema_migrations WHERE version >= 9");
  place_->exec("", "",
               "INSERT INTO deliveries (alert_id, audience, started_at_ms) VALUES (7, 10, 1)");
  place_->exec("", "",
               "INSERT INTO delivery_shards (alert_id, after_id, last_id, size) "
               "VALUES (7, 0, 10, 10)");
  expect_error(place_->open_state(without_migrating()), ErrorCode::kCorrupt, "store migrate");
  auto state = open_ok();
  ASSERT_NE(state, nullptr);
  auto deliveries = state->open_delivery_store();
  ASSERT_TRUE(deliveries) << deliveries.error().message;
  DeliveryCounts counts;
  counts.sent = 4;
  counts.targeted_by_service = {1, 2, 3, 4, 0};
  counts.accepted_by_service = {0, 1, 1, 2, 0};
  ASSERT_TRUE((*deliveries)->complete_shard(7, {0, 10}, counts, {}));
  const Delivery before = (*deliveries)->find(7).value().value();
  EXPECT_FALSE(before.service_split);
  EXPECT_EQ(before.counts.sent, 4u);
  EXPECT_EQ(before.counts.targeted_by_service, ServiceCounts{});
  EXPECT_EQ(place_->rows("", "SELECT service_targeted IS NULL FROM deliveries WHERE alert_id = 7"),
            "t\n");
  const Delivery after = (*deliveries)->begin(8, 10, 2).value();
  EXPECT_TRUE(after.service_split);
  EXPECT_EQ(after.counts.targeted_by_service, ServiceCounts{});
}

// A database from before the live desk (version 3): its updates keep their ids as revisions.
TEST_F(PgStoreTest, Version4GivesExistingLiveUpdatesTheirIdsAsRevisions) {
  ASSERT_NE(open_ok(), nullptr);
  place_->exec("", "",
               FW_UNDO_PG_V6 FW_UNDO_PG_V4
               "DELETE FROM flashwire_schema_migrations WHERE version >= 4");
  place_->exec("", "",
               "INSERT INTO articles (slug, headline, standfirst, byline, dateline, category, "
               "image_url, image_alt, body_markdown, published, published_at, updated_at) "
               "VALUES ('storm', 'h', '', '', '', 2, '', '', 'b', true, 1, 1)");
  place_->exec("", "",
               "INSERT INTO live_updates (article_id, body_markdown, created_at, created_by) "
               "SELECT id, 'early', 1, 'desk' FROM articles");
  expect_error(place_->open_state(without_migrating()), ErrorCode::kCorrupt, "store migrate");
  auto state = open_ok();
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(place_->rows("",
                         "SELECT count(*) FROM live_updates WHERE revision = id AND NOT "
                         "deleted AND NOT pinned AND edited_at = 0"),
            "1\n");
}

// A database from before beacons (version 1): made here from a current one by undoing what
// version 2 adds. Migrating keeps every alert and marks sent those that were sending, sent or
// failed (statuses 1, 2, 4), not drafts or cancelled drafts.
TEST_F(PgStoreTest, Version2MarksAlertsThatWereSendingAsSentAndAddsBeacons) {
  ASSERT_NE(open_ok(), nullptr);
  place_->exec("", "",
               "DROP TABLE optin_counts; DROP TABLE alert_beacons; "
               "ALTER TABLE alerts DROP COLUMN sent; " FW_UNDO_PG_V6 FW_UNDO_PG_V4
               "DELETE FROM flashwire_schema_migrations WHERE version >= 2");
  for (int status = 0; status <= 4; ++status) {
    place_->exec("", "",
                 "INSERT INTO alerts (category, title, body, url, urgency, ttl_seconds, topic, "
                 "status, created_by, created_at) VALUES (1, 't', 'b', '/', 'high', 60, '', " +
                     std::to_string(status) + ", 'desk', 1)");
  }
  place_->exec("", "",
               "INSERT INTO subscriptions (endpoint, p256dh, auth, categories, created_at, "
               "updated_at) VALUES ('https://push.example/a', 'k', 'a', 1, 1, 1)");
  expect_error(place_->open_state(without_migrating()), ErrorCode::kCorrupt, "store migrate");

  auto state = open_ok();
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(place_->rows("", "SELECT version FROM flashwire_schema_migrations ORDER BY version"),
            all_versions());
  EXPECT_EQ(place_->rows("", "SELECT status, sent FROM alerts ORDER BY status"),
            "0|f\n1|t\n2|t\n3|f\n4|t\n");
  const std::int64_t reader = std::stoll(place_->rows("", "SELECT id FROM subscriptions"));
  const std::int64_t draft = std::stoll(place_->rows("", "SELECT id FROM alerts WHERE status = 0"));
  const std::int64_t sent = std::stoll(place_->rows("", "SELECT id FROM alerts WHERE status = 2"));
  auto site = state->open_site_store();
  ASSERT_TRUE(site) << site.error().message;
  EXPECT_TRUE((*site)->record_alert_event(sent, reader, AlertEvent::kClicked, 5).value());
  EXPECT_FALSE((*site)->record_alert_event(sent, reader, AlertEvent::kClicked, 6).value());
  EXPECT_EQ((*site)->record_alert_event(draft, reader, AlertEvent::kClicked, 5).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(place_->rows("", "SELECT count(*) FROM alert_beacons"), "1\n");
}

// A database from before search (version 7): migrating indexes the articles it holds, and they
// have no image renditions.
TEST_F(PgStoreTest, Version8IndexesTheArticlesADatabaseHolds) {
  ASSERT_NE(open_ok(), nullptr);
  place_->exec("", "",
               FW_UNDO_PG_V9 FW_UNDO_PG_V8
               "DELETE FROM flashwire_schema_migrations WHERE version >= 8");
  place_->exec("", "",
               "INSERT INTO articles (slug, headline, standfirst, byline, dateline, category, "
               "image_url, image_alt, body_markdown, published, published_at, updated_at) "
               "VALUES ('old', 'Zürich tram strike', '', '', '', 1, '', '', 'b', true, 1, 1)");
  auto state = open_ok();
  ASSERT_NE(state, nullptr);
  auto site = state->open_site_store();
  ASSERT_TRUE(site) << site.error().message;
  auto found = (*site)->search_articles("zurich", 10);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].article.slug, "old");
  EXPECT_TRUE((*found)[0].article.image_renditions.empty());
}

// unaccent is a trusted extension: a role with CREATE on the database creates it when migrating.
// A role without that right gets one line that says what to do, and nothing is migrated.
TEST_F(PgStoreTest, MigratingWhereUnaccentCannotBeCreatedSaysWhatToDoAndAppliesNothing) {
  const std::string socket_dir = testing::cluster_value("PG_SOCKET_DIR").value_or("");
  const std::string user = testing::cluster_value("PG_PASSWORD_USER").value_or("");
  const std::string password = testing::cluster_value("PG_PASSWORD").value_or("");
  const std::string base = testing::cluster_value("PG_URL").value_or("");
  ASSERT_FALSE(socket_dir.empty());
  const std::string db = "noext_" + place_->schema();
  const std::string admin_url = "postgresql:///" + db + "?host=" + socket_dir + "&user=postgres";
  RawPg(base).exec("CREATE DATABASE " + db);
  RawPg(admin_url).exec("CREATE SCHEMA site AUTHORIZATION " + user);
  const std::string url = "postgresql://" + user + ":" + password + "@/" + db +
                          "?host=" + socket_dir + "&options=-csearch_path%3Dsite";
  {
    auto refused = open_site_state(url, place_->dir());
    expect_error(refused, ErrorCode::kIo, "CREATE EXTENSION unaccent", password);
    if (!refused) {
      EXPECT_NE(refused.error().message.find("permission denied"), std::string::npos)
          << refused.error().message;
    }
    EXPECT_EQ(RawPg(admin_url).rows("SELECT count(*) FROM pg_tables WHERE schemaname = 'site'"),
              "0\n")
        << "one transaction: no migration of the run is left";
  }
  RawPg(admin_url).exec("GRANT CREATE ON DATABASE " + db + " TO " + user);
  {
    auto state = open_site_state(url, place_->dir());
    ASSERT_TRUE(state) << state.error().message;
    EXPECT_EQ((*state)->schema_version(), pg::latest_schema_version());
    auto site = (*state)->open_site_store();
    ASSERT_TRUE(site) << site.error().message;
    Article a;
    a.slug = "cafe";
    a.headline = "Café reopens";
    a.body_markdown = "Text.";
    a.published = true;
    a.published_at = 5;
    ASSERT_TRUE((*site)->create_article(a));
    EXPECT_EQ((*site)->search_articles("cafe", 10).value().size(), 1u);
  }
  RawPg(base).exec("DROP DATABASE " + db + " WITH (FORCE)");
}

TEST_F(PgStoreTest, ANewerOrUnmigratedDatabaseIsCorrupt) {
  expect_error(place_->open_state(without_migrating()), ErrorCode::kCorrupt, "store migrate");
  ASSERT_NE(open_ok(), nullptr);
  place_->exec("", "", "INSERT INTO flashwire_schema_migrations (version) VALUES (99)");
  expect_error(place_->open_state(), ErrorCode::kCorrupt, "newer");
  expect_error(place_->open_state(without_migrating()), ErrorCode::kCorrupt);
}

// --- URLs and connection errors ---

TEST_F(PgStoreTest, BadUrlsWrongPasswordsAndDownServersAreOneClearLine) {
  const std::string socket_dir = testing::cluster_value("PG_SOCKET_DIR").value_or("");
  const std::string user = testing::cluster_value("PG_PASSWORD_USER").value_or("");
  const std::string password = testing::cluster_value("PG_PASSWORD").value_or("");
  ASSERT_FALSE(socket_dir.empty());
  const std::string wrong = "wrong-" + password;

  expect_error(open_site_state("mysql://root:hunter2@db/site", "/nonexistent"), ErrorCode::kInvalid,
               "unknown scheme \"mysql\"", "hunter2");
  expect_error(open_site_state("postgresql://u:hunter2@[::1/site", "/nonexistent"),
               ErrorCode::kInvalid, "cannot be parsed", "hunter2");
  expect_error(
      open_site_state("postgresql://" + user + ":" + wrong + "@/flashwire_test?host=" + socket_dir,
                      "/nonexistent"),
      ErrorCode::kIo, "password authentication failed", wrong);
  // The right password gets in (in a schema of that user's own, where it may migrate).
  const std::string own_schema = "pw" + std::to_string(getpid());
  RawPg(testing::cluster_value("PG_URL").value())
      .exec("CREATE SCHEMA " + own_schema + " AUTHORIZATION " + user);
  auto good = open_site_state("postgresql://" + user + ":" + password + "@/flashwire_test?host=" +
                                  socket_dir + "&options=-csearch_path%3D" + own_schema,
                              "/nonexistent");
  EXPECT_TRUE(good) << good.error().message;
  good = make_error(ErrorCode::kIo, "closed");
  RawPg(testing::cluster_value("PG_URL").value()).exec("DROP SCHEMA " + own_schema + " CASCADE");
  // No server: a socket directory where none listens.
  expect_error(open_site_state("postgresql://" + user + ":" + wrong +
                                   "@/flashwire_test?host=" + place_->dir() + "&connect_timeout=5",
                               "/nonexistent"),
               ErrorCode::kIo, "cannot connect to PostgreSQL at " + place_->dir(), wrong);
}

TEST_F(PgStoreTest, ALostConnectionIsIoOnceAndTheNextCallReconnects) {
  auto state = open_ok();
  ASSERT_NE(state, nullptr);
  auto site = state->open_site_store();
  ASSERT_TRUE(site);
  ASSERT_TRUE((*site)->article_count());
  // The server ends this test's sessions (what a restart or a failover does to every session).
  RawPg(testing::cluster_value("PG_URL").value())
      .exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
            place_->schema() + "'");
  // Calls may fail until the pool notices; never more than once per pooled connection.
  int failures = 0;
  Result<std::size_t> count = make_error(ErrorCode::kIo, "not run");
  for (int i = 0; i < 3 && !(count = (*site)->article_count()); ++i) {
    EXPECT_EQ(count.error().code, ErrorCode::kIo) << count.error().message;
    ++failures;
  }
  ASSERT_TRUE(count) << count.error().message;
  EXPECT_LE(failures, 1);
  EXPECT_EQ(*count, 0u);
}

TEST_F(PgStoreTest, APoolOfOneMakesASecondBorrowerWaitThenGiveUp) {
  auto pool = pg::Pool::create(place_->url(), pg::PoolOptions{
                                                  .max_connections = 1,
                                                  .acquire_timeout = std::chrono::milliseconds(20),
                                              });
  ASSERT_TRUE(pool) << pool.error().message;
  {
    auto held = (*pool)->acquire();
    ASSERT_TRUE(held);
    expect_error((*pool)->acquire(), ErrorCode::kIo, "busy");
  }
  EXPECT_TRUE((*pool)->acquire());  // given back
}

// --- settings ---

TEST_F(PgStoreTest, SettingsKeepTheFirstValueEveryNodePuts) {
  auto a = open_ok();
  auto b = open_ok();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(a->settings(), nullptr);
  EXPECT_EQ(a->settings()->get("vapid").value(), std::nullopt);
  EXPECT_EQ(a->settings()->put_if_absent("vapid", "key-of-a").value(), "key-of-a");
  EXPECT_EQ(b->settings()->put_if_absent("vapid", "key-of-b").value(), "key-of-a");
  EXPECT_EQ(b->settings()->get("vapid").value(), std::optional<std::string>("key-of-a"));
  expect_error(a->settings()->put_if_absent("", "x"), ErrorCode::kInvalid);
}

// --- import ---

TEST_F(PgStoreTest, ImportStoresBatchesAsUpsertsInOrder) {
  auto state = open_ok();
  ASSERT_NE(state, nullptr);
  auto site = std::move(state->open_site_store().value());
  const auto existing = site->upsert_subscription(
      {0, "https://push.example.net/s/existing", "old-key", "old-auth", 1, 10, 10});
  ASSERT_TRUE(existing);

  std::vector<Subscription> lines;
  for (int i = 0; i < 12'000; ++i) {  // more than two batches
    lines.push_back({0, "https://push.example.net/s/" + std::to_string(i), "p-" + std::to_string(i),
                     "a", 1, 100, 100});
  }
  lines.push_back({0, "https://push.example.net/s/existing", "new-key", "new-auth", 4, 200, 200});
  lines.push_back({0, "https://push.example.net/s/7", "p-7-again", "a", 2, 300, 300});
  auto stored = state->import_subscriptions(lines);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(*stored, lines.size());
  EXPECT_EQ(site->count_subscriptions(7).value(), 12'001u);

  const auto kept = site->find_subscription("https://push.example.net/s/existing").value().value();
  EXPECT_EQ(kept.id, *existing);
  EXPECT_EQ(kept.p256dh, "new-key");
  EXPECT_EQ(kept.categories, 4);
  EXPECT_EQ(kept.created_at, 10);
  const auto again = site->find_subscription("https://push.example.net/s/7").value().value();
  EXPECT_EQ(again.p256dh, "p-7-again");
  EXPECT_EQ(again.categories, 2);
  // Ids follow the file's order.
  const auto first = site->find_subscription("https://push.example.net/s/0").value().value();
  const auto last = site->find_subscription("https://push.example.net/s/11999").value().value();
  EXPECT_LT(first.id, last.id);

  // A line the schema cannot hold refuses the import before anything is sent.
  const std::string before = place_->rows("", "SELECT count(*) FROM subscriptions");
  std::vector<Subscription> bad = {{0, "https://push.example.net/s/new", "k", "a", 1, 1, 1},
                                   {0, "https://push.example.net/s/bad", "k", "a", 0, 1, 1}};
  expect_error(state->import_subscriptions(bad), ErrorCode::kInvalid, "categories");
  EXPECT_EQ(place_->rows("", "SELECT count(*) FROM subscriptions"), before);
}

// --- shard leases ---

class PgLeaseTest : public PgStoreTest {
 protected:
  static constexpr std::int64_t kAlert = 42;
  static constexpr auto kLong = std::chrono::minutes(5);

  void SetUp() override {
    PgStoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    state_ = open_ok();
    ASSERT_NE(state_, nullptr);
    a_ = store();
    b_ = store();
    ASSERT_TRUE(a_->begin(kAlert, 1000, 1));
  }

  std::unique_ptr<PgDeliveryStore> store() {
    auto opened = state_->open_delivery_store();
    EXPECT_TRUE(opened);
    return std::unique_ptr<PgDeliveryStore>(dynamic_cast<PgDeliveryStore*>(opened->release()));
  }

  // Opens `n` shards of 10 ids each: (0,10], (10,20], …
  void open_shards(int n) {
    for (int i = 0; i < n; ++i) {
      auto ok = a_->open_shard(kAlert, {i * 10, i * 10 + 10}, 10);
      ASSERT_TRUE(ok) << ok.error().message;
    }
  }

  std::optional<ClaimedShard> claim(PgDeliveryStore& s, const std::string& node,
                                    std::chrono::milliseconds lease = kLong) {
    auto claimed = s.claim_shard(kAlert, node, lease);
    EXPECT_TRUE(claimed) << claimed.error().message;
    return claimed ? *claimed : std::nullopt;
  }

  std::unique_ptr<SiteState> state_;
  std::unique_ptr<PgDeliveryStore> a_;
  std::unique_ptr<PgDeliveryStore> b_;
};

TEST_F(PgLeaseTest, PlanningSplitsTheCategoryOnceEvenWithTwoPlannersAtOnce) {
  // Ids 1-25; every fifth is "live" only, the rest "breaking": 20 breaking subscriptions.
  place_->exec("", "",
               "INSERT INTO subscriptions (endpoint, p256dh, auth, categories, created_at, "
               "updated_at) SELECT 'https://push.example/' || g, 'k', 'a', "
               "CASE WHEN g % 5 = 0 THEN 2 ELSE 1 END, 1, 1 FROM generate_series(1, 25) g");
  std::uint64_t planned_a = 0;
  std::uint64_t planned_b = 0;
  std::thread other([&] {
    auto planned = b_->plan_shards(kAlert, Category::kBreaking, 6);
    EXPECT_TRUE(planned) << planned.error().message;
    planned_b = planned.value_or(0);
  });
  auto planned = a_->plan_shards(kAlert, Category::kBreaking, 6);
  other.join();
  ASSERT_TRUE(planned) << planned.error().message;
  planned_a = *planned;
  EXPECT_EQ(planned_a + planned_b, 4u);
  EXPECT_TRUE(planned_a == 0 || planned_b == 0) << planned_a << " and " << planned_b;
  EXPECT_EQ(
      place_->rows("", "SELECT after_id, last_id, size FROM delivery_shards ORDER BY after_id"),
      "0|7|6\n7|14|6\n14|22|6\n22|24|2\n");
  const auto d = a_->find(kAlert);
  ASSERT_TRUE(d && d->has_value());
  EXPECT_EQ((*d)->targeted, 20u);
  EXPECT_EQ((*d)->cursor, 24);
  EXPECT_EQ((*d)->shards_open, 4u);
  // Later calls find it planned.
  EXPECT_EQ(a_->plan_shards(kAlert, Category::kBreaking, 6).value_or(99), 0u);
  expect_error(a_->plan_shards(kAlert, Category::kBreaking, 0), ErrorCode::kInvalid);
  expect_error(a_->plan_shards(7, Category::kBreaking, 6), ErrorCode::kNotFound);

  // Per-node progress: shards done with their planned sizes, leases held now.
  const auto first = claim(*a_, "node-a");
  const auto second = claim(*b_, "node-b");
  const auto third = claim(*b_, "node-b");
  ASSERT_TRUE(first && second && third);
  DeliveryCounts counts;
  counts.sent = 6;
  ASSERT_TRUE(a_->complete_claimed_shard(kAlert, first->range, "node-a", counts, {}));
  ASSERT_TRUE(b_->complete_claimed_shard(kAlert, second->range, "node-b", counts, {}));
  const auto progress = a_->find(kAlert);
  ASSERT_TRUE(progress && progress->has_value());
  EXPECT_EQ((*progress)->nodes,
            (std::vector<NodeProgress>{{"node-a", 1, 6, 0}, {"node-b", 1, 6, 1}}));
  EXPECT_EQ((*progress)->counts.sent, 12u);
}

TEST_F(PgLeaseTest, ClaimsHandOutEachOpenShardOnceInOrder) {
  open_shards(3);
  const auto first = claim(*a_, "node-a");
  const auto second = claim(*b_, "node-b");
  const auto third = claim(*a_, "node-a");
  ASSERT_TRUE(first && second && third);
  EXPECT_EQ(first->range, (ShardRange{0, 10}));
  EXPECT_EQ(second->range, (ShardRange{10, 20}));
  EXPECT_EQ(third->range, (ShardRange{20, 30}));
  EXPECT_EQ(first->size, 10u);
  EXPECT_GT(first->locked_until_ms, 0);
  EXPECT_EQ(claim(*b_, "node-b"), std::nullopt);
  EXPECT_EQ(place_->rows("", "SELECT after_id, node FROM delivery_shards ORDER BY after_id"),
            "0|node-a\n10|node-b\n20|node-a\n");
  // Bad arguments.
  expect_error(a_->claim_shard(kAlert, "", kLong), ErrorCode::kInvalid);
  expect_error(a_->claim_shard(kAlert, "n", std::chrono::milliseconds(-1)), ErrorCode::kInvalid);
}

TEST_F(PgLeaseTest, TwoNodesClaimingAtOnceNeverGetTheSameShard) {
  constexpr int kShards = 200;
  open_shards(kShards);
  std::vector<ShardRange> got_a, got_b;
  auto drain = [this](PgDeliveryStore& s, const std::string& node, std::vector<ShardRange>& got) {
    for (;;) {
      auto claimed = s.claim_shard(kAlert, node, kLong);
      if (!claimed || !claimed->has_value()) return;
      got.push_back((*claimed)->range);
    }
  };
  std::thread ta([&] { drain(*a_, "node-a", got_a); });
  std::thread tb([&] { drain(*b_, "node-b", got_b); });
  ta.join();
  tb.join();
  std::set<std::int64_t> seen;
  for (const auto& r : got_a) EXPECT_TRUE(seen.insert(r.after_id).second) << r.after_id;
  for (const auto& r : got_b) EXPECT_TRUE(seen.insert(r.after_id).second) << r.after_id;
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kShards));
  EXPECT_EQ(place_->rows("", "SELECT count(*) FROM delivery_shards WHERE node = ''"), "0\n");
}

TEST_F(PgLeaseTest, AnExpiredLeaseIsClaimedAgainAndTheOldHolderLosesIt) {
  open_shards(1);
  // A lease of 0 ms has run out by the next statement (server time): node A "died".
  const auto dead = claim(*a_, "node-a", std::chrono::milliseconds(0));
  ASSERT_TRUE(dead);
  const auto taken = claim(*b_, "node-b");
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->range, dead->range);
  EXPECT_EQ(claim(*a_, "node-a"), std::nullopt) << "node B's lease is live";

  // Node A comes back: its lease and its results are refused, node B's are taken once.
  expect_error(a_->renew_shard(kAlert, dead->range, "node-a", kLong), ErrorCode::kConflict);
  DeliveryCounts counts;
  counts.sent = 9;
  counts.gone = 1;
  counts.accept_latency[0] = 9;
  expect_error(a_->complete_claimed_shard(kAlert, dead->range, "node-a", counts, {}),
               ErrorCode::kConflict);
  EXPECT_TRUE(b_->renew_shard(kAlert, taken->range, "node-b", kLong));
  EXPECT_TRUE(b_->complete_claimed_shard(kAlert, taken->range, "node-b", counts,
                                         {{5, "https://push.example.net/s/5"}}));
  expect_error(b_->complete_claimed_shard(kAlert, taken->range, "node-b", counts, {}),
               ErrorCode::kNotFound);
  expect_error(b_->renew_shard(kAlert, taken->range, "node-b", kLong), ErrorCode::kConflict);

  const Delivery d = a_->find(kAlert).value().value();
  EXPECT_EQ(d.counts.sent, 9u);
  EXPECT_EQ(d.counts.gone, 1u);
  EXPECT_EQ(d.counts.accept_latency[0], 9u);
  EXPECT_EQ(d.shards_done, 1u);
  EXPECT_EQ(d.shards_open, 0u);
  EXPECT_EQ(a_->pending_gone(10).value().size(), 1u);
  EXPECT_EQ(claim(*a_, "node-a"), std::nullopt) << "a done shard is never claimed";
}

TEST_F(PgLeaseTest, ARenewedLeaseIsNotClaimable) {
  open_shards(1);
  const auto held = claim(*a_, "node-a", std::chrono::milliseconds(0));
  ASSERT_TRUE(held);
  ASSERT_TRUE(a_->renew_shard(kAlert, held->range, "node-a", kLong));
  EXPECT_EQ(claim(*b_, "node-b"), std::nullopt);
}

TEST_F(PgLeaseTest, NodesCompletingAtOnceAddEveryCount) {
  constexpr int kShards = 100;
  open_shards(kShards);
  auto work = [this](PgDeliveryStore& s, const std::string& node) {
    for (;;) {
      auto claimed = s.claim_shard(kAlert, node, kLong);
      if (!claimed || !claimed->has_value()) return;
      DeliveryCounts counts;
      counts.sent = 7;
      counts.failed = 3;
      counts.failed_by_reason = {{"http_413", 1}, {"expired", 2}};
      counts.accept_latency[2] = 7;
      counts.targeted_by_service = {2, 3, 0, 5, 0};
      counts.accepted_by_service = {1, 2, 0, 4, 0};
      auto ok = s.complete_claimed_shard(kAlert, (*claimed)->range, node, counts, {});
      EXPECT_TRUE(ok) << ok.error().message;
    }
  };
  std::thread ta([&] { work(*a_, "node-a"); });
  std::thread tb([&] { work(*b_, "node-b"); });
  ta.join();
  tb.join();
  const Delivery d = a_->find(kAlert).value().value();
  EXPECT_EQ(d.shards_done, static_cast<std::uint64_t>(kShards));
  EXPECT_EQ(d.counts.sent, 7u * kShards);
  EXPECT_EQ(d.counts.failed, 3u * kShards);
  EXPECT_EQ(d.counts.accept_latency[2], 7u * kShards);
  EXPECT_EQ(d.counts.failed_by_reason.at("http_413"), 1u * kShards);
  EXPECT_EQ(d.counts.failed_by_reason.at("expired"), 2u * kShards);
  EXPECT_TRUE(d.service_split);
  EXPECT_EQ(d.counts.targeted_by_service,
            (ServiceCounts{2u * kShards, 3u * kShards, 0, 5u * kShards, 0}));
  EXPECT_EQ(d.counts.accepted_by_service,
            (ServiceCounts{1u * kShards, 2u * kShards, 0, 4u * kShards, 0}));
}

}  // namespace
}  // namespace flashwire::store
