#include "store/sqlite/sqlite_site_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/site_validation.h"
#include "store/sqlite/sqlite_util.h"

namespace flashwire::store {
namespace {

using site_validation::decode_renditions;
using site_validation::encode_renditions;
using site_validation::invalid;
using site_validation::is_category;
using site_validation::kAllCategories;
using site_validation::kMaxSearchQuery;
using site_validation::search_words;
using site_validation::split_scopes;
using site_validation::validate_alert;
using site_validation::validate_guarded_write;
using site_validation::validate_article;
using site_validation::validate_subscription;
using site_validation::validate_token;
using sqlite_detail::clamp_to_int64;
using sqlite_detail::Connection;
using sqlite_detail::prepare_all;
using sqlite_detail::Query;
using sqlite_detail::Stmt;
using sqlite_detail::Transaction;

// PRAGMA application_id, "FWSS": not the push store's "FWPS", so that neither store opens the
// other's file.
constexpr int kApplicationId = 0x46575353;

// Version 1. Notes on the choices:
// - Every table keys on an INTEGER PRIMARY KEY (the rowid): ids are what the site and the API
//   hand out, and the rowid B-tree is also the index subscriptions_page walks, in id order,
//   testing the category bits as it goes (a bit test cannot use an index).
// - articles_by_publication ends in id so that latest_articles' ORDER BY, ties included, is
//   read straight off the index, stopping after `limit` rows.
// - subscriptions_by_categories is small (one integer per row) and serves count_subscriptions,
//   which otherwise reads every endpoint and key.
// - alerts.article_id is NULL for "not tied to an article", so that the foreign key applies
//   only to real article ids.
// - The CHECKs restate the limits the code validates, as a last line of defence for the file.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE articles (
  id INTEGER PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE
    CHECK (length(slug) BETWEEN 1 AND 120 AND slug NOT GLOB '*[^a-z0-9-]*'),
  headline TEXT NOT NULL,
  standfirst TEXT NOT NULL,
  byline TEXT NOT NULL,
  dateline TEXT NOT NULL,
  category INTEGER NOT NULL CHECK (category IN (1, 2, 4)),
  image_url TEXT NOT NULL,
  image_alt TEXT NOT NULL,
  body_markdown TEXT NOT NULL,
  published INTEGER NOT NULL CHECK (published IN (0, 1)),
  published_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  CHECK (image_url = '' OR image_alt <> '')
);

CREATE INDEX articles_by_publication ON articles (published, published_at DESC, id DESC);

CREATE TABLE subscriptions (
  id INTEGER PRIMARY KEY,
  endpoint TEXT NOT NULL UNIQUE CHECK (endpoint <> ''),
  p256dh TEXT NOT NULL CHECK (p256dh <> ''),
  auth TEXT NOT NULL CHECK (auth <> ''),
  categories INTEGER NOT NULL CHECK (categories BETWEEN 1 AND 7),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE INDEX subscriptions_by_categories ON subscriptions (categories);

CREATE TABLE alerts (
  id INTEGER PRIMARY KEY,
  article_id INTEGER REFERENCES articles (id),
  category INTEGER NOT NULL CHECK (category IN (1, 2, 4)),
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  url TEXT NOT NULL,
  urgency TEXT NOT NULL CHECK (urgency IN ('very-low', 'low', 'normal', 'high')),
  ttl_seconds INTEGER NOT NULL CHECK (ttl_seconds >= 0),
  topic TEXT NOT NULL,
  status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 4),
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE INDEX alerts_by_article ON alerts (article_id);

-- Beacon counts per alert and event (0 received, 1 displayed, 2 clicked, 3 dismissed); the
-- service worker reports each, so a row is updated in place rather than one row per beacon.
CREATE TABLE alert_events (
  alert_id INTEGER NOT NULL REFERENCES alerts (id),
  event INTEGER NOT NULL CHECK (event BETWEEN 0 AND 3),
  count INTEGER NOT NULL CHECK (count >= 0),
  last_at INTEGER NOT NULL,
  PRIMARY KEY (alert_id, event)
) WITHOUT ROWID;

CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE CHECK (name <> ''),
  secret_hash TEXT NOT NULL UNIQUE
    CHECK (length(secret_hash) = 64 AND secret_hash NOT GLOB '*[^0-9a-f]*'),
  scopes TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL CHECK (revoked IN (0, 1))
);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action <> ''),
  detail TEXT NOT NULL
);
)sql";

// Version 2: live-event updates.
// - AUTOINCREMENT: ids must never be reused, even after the newest row is deleted by hand,
//   because readers resume a stream with "everything after id N".
// - live_updates_by_article serves both listings (newest first, and after an id) of one event
//   straight off the index.
constexpr const char* kUpgradeToV2 = R"sql(
CREATE TABLE live_updates (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  article_id INTEGER NOT NULL REFERENCES articles (id),
  body_markdown TEXT NOT NULL CHECK (body_markdown <> ''),
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL
);

CREATE INDEX live_updates_by_article ON live_updates (article_id, id);
)sql";

// Version 3: full-text search over articles (SQLite FTS5).
// - An external-content table: the text lives once, in articles; the index follows it through
//   triggers, inside the same transaction as the change, so it is never stale.
// - unicode61 with diacritics removed: "sao" finds "São", "cafe" finds "café".
// - 'rebuild' indexes the articles a version 2 file already holds.
constexpr const char* kUpgradeToV3 = R"sql(
CREATE VIRTUAL TABLE articles_fts USING fts5(
  headline, standfirst, body_markdown,
  content = 'articles', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
  INSERT INTO articles_fts (rowid, headline, standfirst, body_markdown)
  VALUES (new.id, new.headline, new.standfirst, new.body_markdown);
END;

CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
  INSERT INTO articles_fts (articles_fts, rowid, headline, standfirst, body_markdown)
  VALUES ('delete', old.id, old.headline, old.standfirst, old.body_markdown);
END;

CREATE TRIGGER articles_fts_update AFTER UPDATE ON articles BEGIN
  INSERT INTO articles_fts (articles_fts, rowid, headline, standfirst, body_markdown)
  VALUES ('delete', old.id, old.headline, old.standfirst, old.body_markdown);
  INSERT INTO articles_fts (rowid, headline, standfirst, body_markdown)
  VALUES (new.id, new.headline, new.standfirst, new.body_markdown);
END;

INSERT INTO articles_fts (articles_fts) VALUES ('rebuild');
)sql";

// Version 4: engagement beacons are counted once per subscription, and only for alerts that
// were sent.
// - alerts.sent: set when an alert first becomes kSending and never cleared, so that an alert
//   cancelled while sending still takes beacons and a cancelled draft never does. Alerts that
//   were sending, sent or failed before the upgrade count as sent.
// - alert_beacons: which subscription reported which event for which alert; a second report
//   of the same event is ignored. One short row per beacon (about 20 bytes).
constexpr const char* kUpgradeToV4 = R"sql(
ALTER TABLE alerts ADD COLUMN sent INTEGER NOT NULL DEFAULT 0 CHECK (sent IN (0, 1));
UPDATE alerts SET sent = 1 WHERE status IN (1, 2, 4);

CREATE TABLE alert_beacons (
  alert_id INTEGER NOT NULL REFERENCES alerts (id),
  subscription_id INTEGER NOT NULL,
  event INTEGER NOT NULL CHECK (event BETWEEN 0 AND 3),
  PRIMARY KEY (alert_id, subscription_id, event)
) WITHOUT ROWID;
)sql";

// Version 5: alert analytics and the opt-in funnel.
// - alert_beacons.at_ms: when the beacon arrived at the server (Unix ms; 0 for beacons from
//   before the upgrade, which time to device leaves out). service: the push service of the
//   reporting subscription (store::PushService), so that the funnel splits by service without
//   keeping endpoints.
// - optin_counts: counters per UTC day, category (0: a page of none), page type and step; one row
//   per combination, updated in place, so nothing about any reader is kept.
constexpr const char* kUpgradeToV5 = R"sql(
ALTER TABLE alert_beacons ADD COLUMN at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alert_beacons ADD COLUMN service INTEGER NOT NULL DEFAULT 0
  CHECK (service BETWEEN 0 AND 4);

CREATE TABLE optin_counts (
  day INTEGER NOT NULL,
  category INTEGER NOT NULL CHECK (category IN (0, 1, 2, 4)),
  page INTEGER NOT NULL CHECK (page BETWEEN 0 AND 4),
  step INTEGER NOT NULL CHECK (step BETWEEN 0 AND 5),
  count INTEGER NOT NULL CHECK (count >= 0),
  PRIMARY KEY (day, category, page, step)
) WITHOUT ROWID;
)sql";

// Version 6: the live desk corrects, deletes and pins updates.
// - deleted keeps the row (ids are never reused; other nodes learn of the deletion by
//   re-reading); pinned is at most one per event, which the partial unique index enforces.
// - revision orders every change within an event; live_updates_by_revision serves both the
//   next revision (max + 1) and "what changed after revision N". Existing rows take their id,
//   which already grows in posting order.
constexpr const char* kUpgradeToV6 = R"sql(
ALTER TABLE live_updates ADD COLUMN edited_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE live_updates ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1));
ALTER TABLE live_updates ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1));
ALTER TABLE live_updates ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
UPDATE live_updates SET revision = id;

CREATE INDEX live_updates_by_revision ON live_updates (article_id, revision);
CREATE UNIQUE INDEX live_updates_one_pinned ON live_updates (article_id) WHERE pinned = 1;
)sql";

// Version 7: an article may carry a video readers can watch ("" for none).
constexpr const char* kUpgradeToV7 = R"sql(
ALTER TABLE articles ADD COLUMN video_url TEXT NOT NULL DEFAULT '';
)sql";

// Version 8: scheduled alerts. send_at: when the editor wants it out (0: on confirmation);
// scheduled: confirmed for send_at. alerts_due serves the scheduler's claim, which runs every
// second: it reads only scheduled drafts, oldest send_at first.
constexpr const char* kUpgradeToV8 = R"sql(
ALTER TABLE alerts ADD COLUMN send_at INTEGER NOT NULL DEFAULT 0 CHECK (send_at >= 0);
ALTER TABLE alerts ADD COLUMN scheduled INTEGER NOT NULL DEFAULT 0 CHECK (scheduled IN (0, 1));
CREATE INDEX alerts_due ON alerts (scheduled, status, send_at);
)sql";

// Version 9: an article's author (the editor token that created it), for the desk's list of
// drafts. Articles from before are by '' (unknown).
constexpr const char* kUpgradeToV9 = R"sql(
ALTER TABLE articles ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
)sql";

// Version 10: the stored sizes of an article's lead image, one "<width> <url>" line each
// (site_validation::encode_renditions; "" for none), which pages list in the image's srcset.
constexpr const char* kUpgradeToV10 = R"sql(
ALTER TABLE articles ADD COLUMN image_renditions TEXT NOT NULL DEFAULT '';
)sql";

// Version 11: editors' own browser subscriptions, for test sends of alerts. One per editor token
// (the key); a table of its own so that no audience query can ever reach it.
constexpr const char* kUpgradeToV11 = R"sql(
CREATE TABLE editor_subscriptions (
  token_id INTEGER PRIMARY KEY REFERENCES api_tokens (id),
  endpoint TEXT NOT NULL CHECK (endpoint <> ''),
  p256dh TEXT NOT NULL CHECK (p256dh <> ''),
  auth TEXT NOT NULL CHECK (auth <> ''),
  created_at INTEGER NOT NULL
);
)sql";

constexpr const char* kUpgrades[] = {kUpgradeToV2, kUpgradeToV3, kUpgradeToV4, kUpgradeToV5,
                                     kUpgradeToV6, kUpgradeToV7, kUpgradeToV8, kUpgradeToV9,
                                     kUpgradeToV10, kUpgradeToV11};

// A reader's query as an FTS5 expression: every word (site_validation::search_words) becomes a
// quoted phrase, the last one a prefix ("word"*), all of them required. Quoting means no reader
// input is ever read as FTS5 syntax (AND, NEAR, column filters). Empty when there is no word.
std::string fts5_query(std::string_view query) {
  const std::vector<std::string_view> words = search_words(query);
  std::string expression;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) expression += ' ';
    expression += '"';
    expression += words[i];  // letters, digits and UTF-8 sequences only: nothing to escape
    expression += '"';
    if (i + 1 == words.size()) expression += '*';
  }
  return expression;
}

constexpr sqlite_detail::SchemaSpec kSchema{"site store", kApplicationId,
                                            kSqliteSiteStoreSchemaVersion, kSchemaV1, kUpgrades};

// --- rows ---

// The columns every article query selects, in the order read_article reads them.
#define FW_ARTICLE_COLUMNS                                                             \
  "id, slug, headline, standfirst, byline, dateline, category, image_url, image_alt, " \
  "body_markdown, published, published_at, updated_at, video_url, created_by, image_renditions"
#define FW_SUBSCRIPTION_COLUMNS "id, endpoint, p256dh, auth, categories, created_at, updated_at"
#define FW_ALERT_COLUMNS                                                              \
  "id, article_id, category, title, body, url, urgency, ttl_seconds, topic, status, " \
  "created_by, created_at, send_at, scheduled"
#define FW_TOKEN_COLUMNS "id, name, secret_hash, scopes, created_at, revoked"

Result<Article> read_article(const Query& q) {
  const std::int64_t category = q.column_int(6);
  if (!is_category(category)) {
    return make_error(ErrorCode::kCorrupt, "stored article category out of range");
  }
  Article a;
  a.id = q.column_int(0);
  a.slug = q.column_text(1);
  a.headline = q.column_text(2);
  a.standfirst = q.column_text(3);
  a.byline = q.column_text(4);
  a.dateline = q.column_text(5);
  a.category = static_cast<Category>(category);
  a.image_url = q.column_text(7);
  a.image_alt = q.column_text(8);
  a.body_markdown = q.column_text(9);
  a.published = q.column_int(10) != 0;
  a.published_at = q.column_int(11);
  a.updated_at = q.column_int(12);
  a.video_url = q.column_text(13);
  a.created_by = q.column_text(14);
  auto renditions = decode_renditions(q.column_text(15));
  if (!renditions) return tl::unexpected(renditions.error());
  a.image_renditions = std::move(*renditions);
  return a;
}

// Binds ?1..?13 in the column order of FW_ARTICLE_COLUMNS, without the id, created_by (set
// once, by create_article, as ?14) and image_renditions (?15, `renditions`: encode_renditions of
// the article's, which must outlive the statement's step).
void bind_article(Query& q, const Article& a, const std::string& renditions) {
  q.bind_text(1, a.slug)
      .bind_text(2, a.headline)
      .bind_text(3, a.standfirst)
      .bind_text(4, a.byline)
      .bind_text(5, a.dateline)
      .bind_int(6, static_cast<std::int64_t>(a.category))
      .bind_text(7, a.image_url)
      .bind_text(8, a.image_alt)
      .bind_text(9, a.body_markdown)
      .bind_int(10, a.published ? 1 : 0)
      .bind_int(11, a.published_at)
      .bind_int(12, a.updated_at)
      .bind_text(13, a.video_url)
      .bind_text(15, renditions);
}

Result<Subscription> read_subscription(const Query& q) {
  const std::int64_t categories = q.column_int(4);
  if (categories < 1 || categories > kAllCategories) {
    return make_error(ErrorCode::kCorrupt, "stored subscription categories out of range");
  }
  Subscription s;
  s.id = q.column_int(0);
  s.endpoint = q.column_text(1);
  s.p256dh = q.column_text(2);
  s.auth = q.column_text(3);
  s.categories = static_cast<CategorySet>(categories);
  s.created_at = q.column_int(5);
  s.updated_at = q.column_int(6);
  return s;
}

Result<Alert> read_alert(const Query& q) {
  const std::int64_t category = q.column_int(2);
  const std::int64_t status = q.column_int(9);
  if (!is_category(category)) {
    return make_error(ErrorCode::kCorrupt, "stored alert category out of range");
  }
  if (status < 0 || status > static_cast<std::int64_t>(AlertStatus::kFailed)) {
    return make_error(ErrorCode::kCorrupt, "stored alert status out of range");
  }
  Alert a;
  a.id = q.column_int(0);
  a.article_id = q.column_is_null(1) ? 0 : q.column_int(1);
  a.category = static_cast<Category>(category);
  a.title = q.column_text(3);
  a.body = q.column_text(4);
  a.url = q.column_text(5);
  a.urgency = q.column_text(6);
  a.ttl_seconds = q.column_int(7);
  a.topic = q.column_text(8);
  a.status = static_cast<AlertStatus>(status);
  a.created_by = q.column_text(10);
  a.created_at = q.column_int(11);
  a.send_at = q.column_int(12);
  a.scheduled = q.column_int(13) != 0;
  return a;
}

// The next revision of an event's updates (live_updates_by_revision gives the max at once).
#define FW_NEXT_REVISION(event) \
  "(SELECT coalesce(max(revision), 0) + 1 FROM live_updates WHERE article_id = " event ")"
#define FW_LIVE_UPDATE_COLUMNS \
  "id, article_id, body_markdown, created_at, created_by, edited_at, deleted, pinned, revision"

LiveUpdate read_live_update(const Query& q) {
  return LiveUpdate{q.column_int(0),      q.column_int(1),      q.column_text(2),
                    q.column_int(3),      q.column_text(4),     q.column_int(5),
                    q.column_int(6) != 0, q.column_int(7) != 0, q.column_int(8)};
}

ApiToken read_token(const Query& q) {
  ApiToken t;
  t.id = q.column_int(0);
  t.name = q.column_text(1);
  t.secret_hash = q.column_text(2);
  t.scopes = split_scopes(q.column_text(3));
  t.created_at = q.column_int(4);
  t.revoked = q.column_int(5) != 0;
  return t;
}

class SqliteSiteStore final : public SiteStore {
 public:
  static Result<std::unique_ptr<SiteStore>> create(Connection conn) {
    std::unique_ptr<SqliteSiteStore> store(new SqliteSiteStore(std::move(conn)));
    if (auto ok = prepare_all(*store, store->conn_, kStatements); !ok) {
      return tl::unexpected(ok.error());
    }
    return std::unique_ptr<SiteStore>(std::move(store));
  }

  // --- articles ---

  Result<std::int64_t> create_article(const Article& article) override {
    constexpr std::string_view kWhat = "create_article";
    if (auto ok = validate_article(article, kWhat); !ok) return tl::unexpected(ok.error());
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    std::int64_t id = 0;
    {
      const std::string renditions = encode_renditions(article.image_renditions);
      Query q(insert_article_);
      bind_article(q, article, renditions);
      q.bind_text(14, article.created_by);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      id = conn_.last_insert_rowid();
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return id;
  }

  Status update_article(const Article& article) override {
    constexpr std::string_view kWhat = "update_article";
    if (auto ok = validate_article(article, kWhat); !ok) return ok;
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      const std::string renditions = encode_renditions(article.image_renditions);
      Query q(update_article_);
      bind_article(q, article, renditions);
      q.bind_int(14, article.id);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      if (conn_.changes() == 0)
        return make_error(ErrorCode::kNotFound, "update_article: no such article");
    }
    return tx.commit(kWhat);
  }

  Result<std::optional<Article>> find_article(std::int64_t id) override {
    Query q(find_article_);
    q.bind_int(1, id);
    return find_one<Article>(q, read_article, "find_article");
  }

  Result<std::optional<Article>> find_article_by_slug(const std::string& slug) override {
    Query q(find_article_by_slug_);
    q.bind_text(1, slug);
    return find_one<Article>(q, read_article, "find_article_by_slug");
  }

  Result<std::vector<Article>> latest_articles(CategorySet category, std::size_t limit) override {
    constexpr std::string_view kWhat = "latest_articles";
    if (category > kAllCategories) return invalid(kWhat, "category set out of range");
    Query q(latest_articles_);
    q.bind_int(1, category).bind_int(2, clamp_to_int64(limit));
    return read_all<Article>(q, read_article, kWhat);
  }

  Result<std::vector<Article>> draft_articles(std::size_t limit) override {
    Query q(draft_articles_);
    q.bind_int(1, clamp_to_int64(limit));
    return read_all<Article>(q, read_article, "draft_articles");
  }

  Result<std::size_t> article_count() override {
    Query q(article_count_);
    return count(q, "article_count");
  }

  // --- subscriptions ---

  Result<std::int64_t> upsert_subscription(const Subscription& subscription) override {
    constexpr std::string_view kWhat = "upsert_subscription";
    if (auto ok = validate_subscription(subscription); !ok) return tl::unexpected(ok.error());
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    std::int64_t id = 0;
    {
      Query q(upsert_subscription_);
      q.bind_text(1, subscription.endpoint)
          .bind_text(2, subscription.p256dh)
          .bind_text(3, subscription.auth)
          .bind_int(4, subscription.categories)
          .bind_int(5, subscription.created_at)
          .bind_int(6, subscription.updated_at);
      // RETURNING: the row's id whether it was inserted or updated. SQLite makes the change on
      // the first step; the second finishes the statement.
      int rc = q.step();
      if (rc != SQLITE_ROW) return failure(rc, kWhat);
      id = q.column_int(0);
      if (rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return id;
  }

  Result<std::optional<Subscription>> find_subscription(const std::string& endpoint) override {
    Query q(find_subscription_);
    q.bind_text(1, endpoint);
    return find_one<Subscription>(q, read_subscription, "find_subscription");
  }

  Result<bool> delete_subscription(const std::string& endpoint) override {
    constexpr std::string_view kWhat = "delete_subscription";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    bool deleted = false;
    {
      Query q(delete_subscription_);
      q.bind_text(1, endpoint);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      deleted = conn_.changes() > 0;
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return deleted;
  }

  Result<std::size_t> count_subscriptions(CategorySet categories) override {
    constexpr std::string_view kWhat = "count_subscriptions";
    if (categories > kAllCategories) return invalid(kWhat, "category set out of range");
    Query q(count_subscriptions_);
    q.bind_int(1, categories);
    return count(q, kWhat);
  }

  Result<std::vector<Subscription>> subscriptions_page(Category category, std::int64_t after_id,
                                                       std::size_t limit) override {
    constexpr std::string_view kWhat = "subscriptions_page";
    if (!is_category(static_cast<std::int64_t>(category))) {
      return invalid(kWhat, "category out of range");
    }
    Query q(subscriptions_page_);
    q.bind_int(1, static_cast<std::int64_t>(category))
        .bind_int(2, after_id)
        .bind_int(3, clamp_to_int64(limit));
    return read_all<Subscription>(q, read_subscription, kWhat);
  }

  // --- editors' subscriptions ---

  Status put_editor_subscription(const EditorSubscription& subscription) override {
    constexpr std::string_view kWhat = "put_editor_subscription";
    if (subscription.endpoint.empty() || subscription.p256dh.empty() || subscription.auth.empty())
      return invalid(kWhat, "endpoint and keys are required");
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      Query q(put_editor_subscription_);
      q.bind_int(1, subscription.token_id)
          .bind_text(2, subscription.endpoint)
          .bind_text(3, subscription.p256dh)
          .bind_text(4, subscription.auth)
          .bind_int(5, subscription.created_at);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      if (conn_.changes() == 0)
        return make_error(ErrorCode::kNotFound, "put_editor_subscription: no such token");
    }
    return tx.commit(kWhat);
  }

  Result<std::optional<EditorSubscription>> find_editor_subscription(
      std::int64_t token_id) override {
    Query q(find_editor_subscription_);
    q.bind_int(1, token_id);
    return find_one<EditorSubscription>(
        q,
        [](const Query& row) {
          return EditorSubscription{row.column_int(0), row.column_text(1), row.column_text(2),
                                    row.column_text(3), row.column_int(4)};
        },
        "find_editor_subscription");
  }

  Result<bool> delete_editor_subscription(std::int64_t token_id,
                                          const std::string& endpoint) override {
    constexpr std::string_view kWhat = "delete_editor_subscription";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    bool deleted = false;
    {
      Query q(delete_editor_subscription_);
      q.bind_int(1, token_id).bind_text(2, endpoint);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      deleted = conn_.changes() > 0;
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return deleted;
  }

  // --- alerts ---

  Result<std::int64_t> create_alert(const Alert& alert) override {
    constexpr std::string_view kWhat = "create_alert";
    if (auto ok = validate_alert(alert); !ok) return tl::unexpected(ok.error());
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    auto id = insert_alert(alert, kWhat);
    if (!id) return id;
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return id;
  }

  // The insert of create_alert, inside the caller's transaction; `alert` is validated.
  Result<std::int64_t> insert_alert(const Alert& alert, std::string_view kWhat) {
    if (alert.article_id != 0) {
      // Checked first, rather than left to the foreign key, for a clear message.
      Query q(article_exists_);
      q.bind_int(1, alert.article_id);
      const int rc = q.step();
      if (rc == SQLITE_DONE)
        return make_error(ErrorCode::kNotFound, "create_alert: no such article");
      if (rc != SQLITE_ROW) return failure(rc, kWhat);
    }
    std::int64_t id = 0;
    {
      Query q(insert_alert_);
      if (alert.article_id != 0) {
        q.bind_int(1, alert.article_id);
      } else {
        q.bind_null(1);
      }
      q.bind_int(2, static_cast<std::int64_t>(alert.category))
          .bind_text(3, alert.title)
          .bind_text(4, alert.body)
          .bind_text(5, alert.url)
          .bind_text(6, alert.urgency)
          .bind_int(7, alert.ttl_seconds)
          .bind_text(8, alert.topic)
          .bind_int(9, static_cast<std::int64_t>(alert.status))
          .bind_text(10, alert.created_by)
          .bind_int(11, alert.created_at)
          .bind_int(12, alert.send_at);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      id = conn_.last_insert_rowid();
    }
    return id;
  }

  Status set_alert_status(std::int64_t id, AlertStatus status) override {
    constexpr std::string_view kWhat = "set_alert_status";
    if (static_cast<int>(status) > static_cast<int>(AlertStatus::kFailed)) {
      return invalid(kWhat, "status out of range");
    }
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      Query q(set_alert_status_);
      q.bind_int(1, id).bind_int(2, static_cast<std::int64_t>(status));
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      if (conn_.changes() == 0) {
        return make_error(ErrorCode::kNotFound, "set_alert_status: no such alert");
      }
    }
    return tx.commit(kWhat);
  }

  // After a conditional UPDATE of alert `id` that changed nothing (`moved` false), inside the
  // caller's transaction: kNotFound when there is no such alert (its condition refused it
  // otherwise, which is not an error).
  Result<bool> moved_or_missing(bool moved, std::int64_t id, std::string_view what) {
    if (moved) return true;
    Query q(find_alert_);
    q.bind_int(1, id);
    auto found = find_one<Alert>(q, read_alert, what);
    if (!found) return tl::unexpected(found.error());
    if (!found->has_value())
      return make_error(ErrorCode::kNotFound, std::string(what) + ": no such alert");
    return false;
  }

  Result<bool> transition_alert(std::int64_t id, AlertStatus from, AlertStatus to) override {
    constexpr std::string_view kWhat = "transition_alert";
    if (static_cast<int>(from) > static_cast<int>(AlertStatus::kFailed) ||
        static_cast<int>(to) > static_cast<int>(AlertStatus::kFailed)) {
      return invalid(kWhat, "status out of range");
    }
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    auto moved = move_alert(id, from, to, kWhat);
    if (!moved) return moved;
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return moved;
  }

  // The conditional update of transition_alert, inside the caller's transaction.
  Result<bool> move_alert(std::int64_t id, AlertStatus from, AlertStatus to,
                          std::string_view kWhat) {
    bool moved = false;
    {
      Query q(transition_alert_);
      q.bind_int(1, id)
          .bind_int(2, static_cast<std::int64_t>(from))
          .bind_int(3, static_cast<std::int64_t>(to));
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      moved = conn_.changes() != 0;
    }
    return moved_or_missing(moved, id, kWhat);
  }

  Result<std::vector<Alert>> alerts_with_status(AlertStatus status, std::size_t limit) override {
    Query q(alerts_with_status_);
    q.bind_int(1, static_cast<std::int64_t>(status)).bind_int(2, clamp_to_int64(limit));
    return read_all<Alert>(q, read_alert, "alerts_with_status");
  }

  Result<std::optional<Alert>> find_alert(std::int64_t id) override {
    Query q(find_alert_);
    q.bind_int(1, id);
    return find_one<Alert>(q, read_alert, "find_alert");
  }

  Result<std::vector<Alert>> recent_alerts(std::size_t limit) override {
    Query q(recent_alerts_);
    q.bind_int(1, clamp_to_int64(limit));
    return read_all<Alert>(q, read_alert, "recent_alerts");
  }

  Result<bool> schedule_alert(std::int64_t id, std::int64_t send_at) override {
    constexpr std::string_view kWhat = "schedule_alert";
    if (send_at <= 0) return invalid(kWhat, "send_at must be a positive time");
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    auto moved = schedule_draft(id, send_at, kWhat);
    if (!moved) return moved;
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return moved;
  }

  // The conditional update of schedule_alert, inside the caller's transaction.
  Result<bool> schedule_draft(std::int64_t id, std::int64_t send_at, std::string_view kWhat) {
    bool moved = false;
    {
      Query q(schedule_alert_);
      q.bind_int(1, id).bind_int(2, send_at);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      moved = conn_.changes() != 0;
    }
    return moved_or_missing(moved, id, kWhat);
  }

  Result<GuardedWriteResult> guarded_alert_write(GuardedWrite write, const Alert& alert,
                                                 std::size_t newest,
                                                 const AlertGuard& guard) override {
    constexpr std::string_view kWhat = "guarded_alert_write";
    if (auto ok = validate_guarded_write(write, alert); !ok) return tl::unexpected(ok.error());
    // BEGIN IMMEDIATE takes the file's write lock before the read: a second writer (another
    // connection or process) waits here, then reads what the first one wrote.
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    std::vector<Alert> recent;
    {
      Query q(recent_alerts_);
      q.bind_int(1, clamp_to_int64(newest));
      auto read = read_all<Alert>(q, read_alert, kWhat);
      if (!read) return tl::unexpected(read.error());
      recent = std::move(*read);
    }
    GuardedWriteResult result;
    result.id = alert.id;
    if (!guard(recent)) {
      result.refused = true;
      return result;  // the transaction rolls back: nothing was written
    }
    if (write == GuardedWrite::kCreate) {
      auto id = insert_alert(alert, kWhat);
      if (!id) return tl::unexpected(id.error());
      result.id = *id;
      result.written = true;
    } else {
      auto moved = write == GuardedWrite::kSend
                       ? move_alert(alert.id, AlertStatus::kQueued, AlertStatus::kSending, kWhat)
                       : schedule_draft(alert.id, alert.send_at, kWhat);
      if (!moved) return tl::unexpected(moved.error());
      result.written = *moved;
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return result;
  }

  Result<std::vector<std::int64_t>> claim_due_alerts(std::int64_t now, std::size_t limit) override {
    constexpr std::string_view kWhat = "claim_due_alerts";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    std::vector<std::int64_t> ids;
    {
      Query q(claim_due_alerts_);
      q.bind_int(1, now).bind_int(2, clamp_to_int64(limit));
      for (int rc = q.step();; rc = q.step()) {
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) return failure(rc, kWhat);
        ids.push_back(q.column_int(0));
      }
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  Result<bool> record_alert_event(std::int64_t alert_id, std::int64_t subscription_id,
                                  AlertEvent event, std::int64_t at,
                                  BeaconArrival arrival = {}) override {
    constexpr std::string_view kWhat = "record_alert_event";
    if (static_cast<int>(event) > static_cast<int>(AlertEvent::kDismissed))
      return invalid(kWhat, "event out of range");
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    {
      Query sent(alert_sent_to_);
      sent.bind_int(1, alert_id).bind_int(2, subscription_id);
      const int rc = sent.step();
      if (rc == SQLITE_DONE) {
        return make_error(ErrorCode::kNotFound,
                          "record_alert_event: no such alert sent to this subscription");
      }
      if (rc != SQLITE_ROW) return failure(rc, kWhat);
    }
    {
      Query first(insert_beacon_);
      first.bind_int(1, alert_id)
          .bind_int(2, subscription_id)
          .bind_int(3, static_cast<std::int64_t>(event))
          .bind_int(4, arrival.at_ms)
          .bind_int(5, static_cast<std::int64_t>(arrival.service));
      if (const int rc = first.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    if (conn_.changes() == 0) return false;  // reported before: counted once
    {
      Query q(count_alert_event_);
      q.bind_int(1, alert_id).bind_int(2, static_cast<std::int64_t>(event)).bind_int(3, at);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return true;
  }

  Result<AlertEngagement> alert_engagement(std::int64_t alert_id) override {
    constexpr std::string_view kWhat = "alert_engagement";
    {
      Query exists(find_alert_);
      exists.bind_int(1, alert_id);
      const int rc = exists.step();
      if (rc == SQLITE_DONE)
        return make_error(ErrorCode::kNotFound, "alert_engagement: no such alert");
      if (rc != SQLITE_ROW) return failure(rc, kWhat);
    }
    AlertEngagement engagement;
    Query q(alert_events_);
    q.bind_int(1, alert_id);
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      const auto count = static_cast<std::uint64_t>(q.column_int(1));
      switch (q.column_int(0)) {
        case 0:
          engagement.received = count;
          break;
        case 1:
          engagement.displayed = count;
          break;
        case 2:
          engagement.clicked = count;
          break;
        case 3:
          engagement.dismissed = count;
          break;
        default:
          break;
      }
    }
    if (rc != SQLITE_DONE) return failure(rc, kWhat);
    return engagement;
  }

  Result<AlertReach> alert_reach(std::int64_t alert_id) override {
    constexpr std::string_view kWhat = "alert_reach";
    Transaction tx(conn_);  // one snapshot for both reads
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    {
      Query exists(find_alert_);
      exists.bind_int(1, alert_id);
      const int rc = exists.step();
      if (rc == SQLITE_DONE) return make_error(ErrorCode::kNotFound, "alert_reach: no such alert");
      if (rc != SQLITE_ROW) return failure(rc, kWhat);
    }
    AlertReach reach;
    {
      Query q(alert_received_times_);
      q.bind_int(1, alert_id);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) reach.received_at_ms.push_back(q.column_int(0));
      if (rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    {
      Query q(alert_beacons_by_service_);
      q.bind_int(1, alert_id);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        const std::int64_t service = q.column_int(0);
        const std::int64_t event = q.column_int(1);
        if (service < 0 || service >= static_cast<std::int64_t>(kPushServiceCount) || event < 0 ||
            event > 3)
          return make_error(ErrorCode::kCorrupt, "stored beacon service or event out of range");
        reach.by_service[static_cast<std::size_t>(service)][static_cast<std::size_t>(event)] =
            static_cast<std::uint64_t>(q.column_int(2));
      }
      if (rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return reach;
  }

  // --- opt-in funnel ---

  Status record_optin(std::int64_t day, CategorySet category, PageType page,
                      OptinStep step) override {
    constexpr std::string_view kWhat = "record_optin";
    if (category != 0 && !is_category(category)) return invalid(kWhat, "category out of range");
    if (static_cast<std::size_t>(page) >= kPageTypeCount ||
        static_cast<std::size_t>(step) >= kOptinStepCount)
      return invalid(kWhat, "page or step out of range");
    Query q(count_optin_);
    q.bind_int(1, day)
        .bind_int(2, category)
        .bind_int(3, static_cast<std::int64_t>(page))
        .bind_int(4, static_cast<std::int64_t>(step));
    if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
    return {};
  }

  Result<std::vector<OptinCount>> optin_counts(std::int64_t from_day) override {
    constexpr std::string_view kWhat = "optin_counts";
    Query q(optin_counts_);
    q.bind_int(1, from_day);
    std::vector<OptinCount> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      const std::int64_t day = q.column_int(0);
      const std::int64_t category = q.column_int(1);
      const std::int64_t page = q.column_int(2);
      const std::int64_t step = q.column_int(3);
      if ((category != 0 && !is_category(category)) || page < 0 ||
          page >= static_cast<std::int64_t>(kPageTypeCount) || step < 0 ||
          step >= static_cast<std::int64_t>(kOptinStepCount))
        return make_error(ErrorCode::kCorrupt, "stored opt-in counter out of range");
      if (out.empty() || out.back().day != day || out.back().category != category ||
          out.back().page != static_cast<PageType>(page)) {
        out.push_back(
            OptinCount{day, static_cast<CategorySet>(category), static_cast<PageType>(page), {}});
      }
      out.back().steps[static_cast<std::size_t>(step)] =
          static_cast<std::uint64_t>(q.column_int(4));
    }
    if (rc != SQLITE_DONE) return failure(rc, kWhat);
    return out;
  }

  // --- API tokens ---

  Result<std::int64_t> create_token(const ApiToken& token) override {
    constexpr std::string_view kWhat = "create_token";
    auto scopes = validate_token(token);
    if (!scopes) return tl::unexpected(scopes.error());
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    std::int64_t id = 0;
    {
      Query q(insert_token_);
      q.bind_text(1, token.name)
          .bind_text(2, token.secret_hash)
          .bind_text(3, *scopes)
          .bind_int(4, token.created_at)
          .bind_int(5, token.revoked ? 1 : 0);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      id = conn_.last_insert_rowid();
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return id;
  }

  Result<std::optional<ApiToken>> find_token_by_hash(const std::string& secret_hash) override {
    Query q(find_token_by_hash_);
    q.bind_text(1, secret_hash);
    return find_one<ApiToken>(q, read_token, "find_token_by_hash");
  }

  Result<std::vector<ApiToken>> list_tokens() override {
    Query q(list_tokens_);
    return read_all<ApiToken>(q, read_token, "list_tokens");
  }

  Status revoke_token(const std::string& name) override {
    constexpr std::string_view kWhat = "revoke_token";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      Query q(revoke_token_);
      q.bind_text(1, name);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      if (conn_.changes() == 0)
        return make_error(ErrorCode::kNotFound, "revoke_token: no such token");
    }
    return tx.commit(kWhat);
  }

  // --- audit log ---

  Status append_audit(const AuditEntry& entry) override {
    constexpr std::string_view kWhat = "append_audit";
    if (entry.action.empty()) return invalid(kWhat, "action is empty");
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      Query q(insert_audit_);
      q.bind_int(1, entry.at)
          .bind_text(2, entry.actor)
          .bind_text(3, entry.action)
          .bind_text(4, entry.detail);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    return tx.commit(kWhat);
  }

  Result<std::vector<AuditEntry>> recent_audit(std::size_t limit,
                                               std::int64_t before_id = 0) override {
    Query q(recent_audit_);
    q.bind_int(1, clamp_to_int64(limit)).bind_int(2, before_id);
    return read_all<AuditEntry>(
        q,
        [](const Query& row) {
          return AuditEntry{row.column_int(0), row.column_int(1), row.column_text(2),
                            row.column_text(3), row.column_text(4)};
        },
        "recent_audit");
  }

  // --- live events ---

  Result<std::int64_t> add_live_update(const LiveUpdate& update) override {
    constexpr std::string_view kWhat = "add_live_update";
    if (update.body_markdown.empty()) return invalid(kWhat, "body is empty");
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    {
      // In the same transaction as the insert: the event cannot stop being live in between.
      Query q(live_event_exists_);
      q.bind_int(1, update.article_id).bind_int(2, static_cast<std::int64_t>(Category::kLive));
      const int rc = q.step();
      if (rc == SQLITE_DONE)
        return make_error(ErrorCode::kNotFound, "add_live_update: no such live event");
      if (rc != SQLITE_ROW) return failure(rc, kWhat);
    }
    std::int64_t id = 0;
    {
      Query q(insert_live_update_);
      q.bind_int(1, update.article_id)
          .bind_text(2, update.body_markdown)
          .bind_int(3, update.created_at)
          .bind_text(4, update.created_by);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      id = conn_.last_insert_rowid();
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return id;
  }

  Result<std::vector<LiveUpdate>> recent_live_updates(std::int64_t article_id,
                                                      std::size_t limit) override {
    Query q(recent_live_updates_);
    q.bind_int(1, article_id).bind_int(2, clamp_to_int64(limit));
    return read_all<LiveUpdate>(q, read_live_update, "recent_live_updates");
  }

  Result<std::vector<LiveUpdate>> live_updates_after(std::int64_t article_id, std::int64_t after_id,
                                                     std::size_t limit) override {
    Query q(live_updates_after_);
    q.bind_int(1, article_id).bind_int(2, after_id).bind_int(3, clamp_to_int64(limit));
    return read_all<LiveUpdate>(q, read_live_update, "live_updates_after");
  }

  Result<std::optional<LiveUpdate>> find_live_update(std::int64_t id) override {
    Query q(find_live_update_);
    q.bind_int(1, id);
    return find_one<LiveUpdate>(q, read_live_update, "find_live_update");
  }

  Status edit_live_update(std::int64_t id, const std::string& body_markdown,
                          std::int64_t edited_at) override {
    constexpr std::string_view kWhat = "edit_live_update";
    if (body_markdown.empty()) return invalid(kWhat, "body is empty");
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      Query q(edit_live_update_);
      q.bind_int(1, id).bind_text(2, body_markdown).bind_int(3, edited_at);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      if (conn_.changes() == 0)
        return make_error(ErrorCode::kNotFound, "edit_live_update: no such update");
    }
    return tx.commit(kWhat);
  }

  Status delete_live_update(std::int64_t id) override {
    constexpr std::string_view kWhat = "delete_live_update";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      Query q(delete_live_update_);
      q.bind_int(1, id);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      if (conn_.changes() == 0)
        return make_error(ErrorCode::kNotFound, "delete_live_update: no such update");
    }
    return tx.commit(kWhat);
  }

  Status pin_live_update(std::int64_t article_id, std::int64_t id) override {
    constexpr std::string_view kWhat = "pin_live_update";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    if (id != 0) {
      Query q(live_update_pinnable_);
      q.bind_int(1, article_id).bind_int(2, id);
      const int rc = q.step();
      if (rc == SQLITE_DONE)
        return make_error(ErrorCode::kNotFound, "pin_live_update: no such update of this event");
      if (rc != SQLITE_ROW) return failure(rc, kWhat);
      if (q.column_int(0) != 0) return tx.commit(kWhat);  // already pinned: nothing changes
    }
    // Unpin first, then pin: the unique index allows one pinned update per event at any time.
    for (Stmt* stmt : {&unpin_live_updates_, &pin_live_update_}) {
      if (stmt == &pin_live_update_ && id == 0) break;
      Query q(*stmt);
      q.bind_int(1, article_id);
      if (stmt == &pin_live_update_) q.bind_int(2, id);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    return tx.commit(kWhat);
  }

  Result<std::optional<LiveUpdate>> pinned_live_update(std::int64_t article_id) override {
    Query q(pinned_live_update_);
    q.bind_int(1, article_id);
    return find_one<LiveUpdate>(q, read_live_update, "pinned_live_update");
  }

  Result<std::vector<LiveUpdate>> live_updates_changed(std::int64_t article_id,
                                                       std::int64_t after_revision,
                                                       std::size_t limit) override {
    Query q(live_updates_changed_);
    q.bind_int(1, article_id).bind_int(2, after_revision).bind_int(3, clamp_to_int64(limit));
    return read_all<LiveUpdate>(q, read_live_update, "live_updates_changed");
  }

  // --- search ---

  Result<std::vector<ArticleMatch>> search_articles(const std::string& query,
                                                    std::size_t limit) override {
    constexpr std::string_view kWhat = "search_articles";
    if (query.size() > kMaxSearchQuery) return invalid(kWhat, "query longer than 256 bytes");
    const std::string expression = fts5_query(query);
    if (expression.empty() || limit == 0) return std::vector<ArticleMatch>();
    Query q(search_articles_);
    q.bind_text(1, expression).bind_int(2, clamp_to_int64(limit));
    return read_all<ArticleMatch>(
        q,
        [](const Query& row) -> Result<ArticleMatch> {
          Result<Article> article = read_article(row);
          if (!article) return tl::unexpected(article.error());
          return ArticleMatch{std::move(*article), row.column_text(16), row.column_text(17)};
        },
        kWhat);
  }

 private:
  explicit SqliteSiteStore(Connection conn) : conn_(std::move(conn)) {}

  tl::unexpected<Error> failure(int rc, std::string_view what) const {
    return conn_.failure(rc, what);
  }

  // At most one row: the query is by a unique key.
  template <typename T, typename Read>
  Result<std::optional<T>> find_one(Query& q, Read read, std::string_view what) const {
    const int rc = q.step();
    if (rc == SQLITE_DONE) return std::optional<T>();
    if (rc != SQLITE_ROW) return failure(rc, what);
    Result<T> row = read(q);  // `read` returns T or Result<T>
    if (!row) return tl::unexpected(row.error());
    return std::optional<T>(std::move(*row));
  }

  template <typename T, typename Read>
  Result<std::vector<T>> read_all(Query& q, Read read, std::string_view what) const {
    std::vector<T> rows;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      Result<T> row = read(q);  // `read` returns T or Result<T>
      if (!row) return tl::unexpected(row.error());
      rows.push_back(std::move(*row));
    }
    if (rc != SQLITE_DONE) return failure(rc, what);
    return rows;
  }

  Result<std::size_t> count(Query& q, std::string_view what) const {
    const int rc = q.step();
    if (rc != SQLITE_ROW) return failure(rc, what);
    return static_cast<std::size_t>(q.column_int(0));
  }

  // Declared first so that it is destroyed last, after every statement is finalized.
  Connection conn_;

  Stmt insert_article_;
  Stmt update_article_;
  Stmt find_article_;
  Stmt find_article_by_slug_;
  Stmt latest_articles_;
  Stmt article_count_;
  Stmt draft_articles_;
  Stmt article_exists_;
  Stmt upsert_subscription_;
  Stmt find_subscription_;
  Stmt delete_subscription_;
  Stmt count_subscriptions_;
  Stmt put_editor_subscription_;
  Stmt find_editor_subscription_;
  Stmt delete_editor_subscription_;
  Stmt subscriptions_page_;
  Stmt insert_alert_;
  Stmt set_alert_status_;
  Stmt transition_alert_;
  Stmt alerts_with_status_;
  Stmt find_alert_;
  Stmt recent_alerts_;
  Stmt schedule_alert_;
  Stmt claim_due_alerts_;
  Stmt count_alert_event_;
  Stmt alert_sent_to_;
  Stmt insert_beacon_;
  Stmt alert_events_;
  Stmt alert_received_times_;
  Stmt alert_beacons_by_service_;
  Stmt count_optin_;
  Stmt optin_counts_;
  Stmt insert_token_;
  Stmt find_token_by_hash_;
  Stmt list_tokens_;
  Stmt revoke_token_;
  Stmt insert_audit_;
  Stmt recent_audit_;
  Stmt live_event_exists_;
  Stmt insert_live_update_;
  Stmt recent_live_updates_;
  Stmt live_updates_after_;
  Stmt find_live_update_;
  Stmt edit_live_update_;
  Stmt delete_live_update_;
  Stmt live_update_pinnable_;
  Stmt unpin_live_updates_;
  Stmt pin_live_update_;
  Stmt pinned_live_update_;
  Stmt live_updates_changed_;
  Stmt search_articles_;

  struct StatementSql {
    Stmt SqliteSiteStore::*member;
    const char* sql;
  };
  static constexpr StatementSql kStatements[] = {
      {&SqliteSiteStore::insert_article_,
       "INSERT INTO articles (slug, headline, standfirst, byline, dateline, category, image_url, "
       "image_alt, body_markdown, published, published_at, updated_at, video_url, created_by, "
       "image_renditions) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"},
      {&SqliteSiteStore::update_article_,
       "UPDATE articles SET slug = ?1, headline = ?2, standfirst = ?3, byline = ?4, "
       "dateline = ?5, category = ?6, image_url = ?7, image_alt = ?8, body_markdown = ?9, "
       "published = ?10, published_at = ?11, updated_at = ?12, video_url = ?13, "
       "image_renditions = ?15 WHERE id = ?14"},
      {&SqliteSiteStore::find_article_,
       "SELECT " FW_ARTICLE_COLUMNS " FROM articles WHERE id = ?1"},
      {&SqliteSiteStore::find_article_by_slug_,
       "SELECT " FW_ARTICLE_COLUMNS " FROM articles WHERE slug = ?1"},
      // Walks articles_by_publication from its newest end; a category filter skips rows.
      {&SqliteSiteStore::latest_articles_,
       "SELECT " FW_ARTICLE_COLUMNS " FROM articles WHERE published = 1 "
       "AND (?1 = 0 OR (category & ?1) <> 0) ORDER BY published_at DESC, id DESC LIMIT ?2"},
      {&SqliteSiteStore::article_count_, "SELECT count(*) FROM articles"},
      {&SqliteSiteStore::draft_articles_,
       "SELECT " FW_ARTICLE_COLUMNS " FROM articles WHERE published = 0 "
       "ORDER BY updated_at DESC, id DESC LIMIT ?1"},
      {&SqliteSiteStore::article_exists_, "SELECT 1 FROM articles WHERE id = ?1"},
      {&SqliteSiteStore::upsert_subscription_,
       "INSERT INTO subscriptions (endpoint, p256dh, auth, categories, created_at, updated_at) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (endpoint) DO UPDATE SET "
       "p256dh = excluded.p256dh, auth = excluded.auth, categories = excluded.categories, "
       "updated_at = excluded.updated_at RETURNING id"},
      {&SqliteSiteStore::find_subscription_,
       "SELECT " FW_SUBSCRIPTION_COLUMNS " FROM subscriptions WHERE endpoint = ?1"},
      {&SqliteSiteStore::delete_subscription_, "DELETE FROM subscriptions WHERE endpoint = ?1"},
      // Only for a token that exists: kNotFound otherwise, rather than a foreign-key failure.
      {&SqliteSiteStore::put_editor_subscription_,
       "INSERT INTO editor_subscriptions (token_id, endpoint, p256dh, auth, created_at) "
       "SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM api_tokens WHERE id = ?1) "
       "ON CONFLICT (token_id) DO UPDATE SET endpoint = excluded.endpoint, "
       "p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at"},
      {&SqliteSiteStore::find_editor_subscription_,
       "SELECT token_id, endpoint, p256dh, auth, created_at FROM editor_subscriptions "
       "WHERE token_id = ?1"},
      {&SqliteSiteStore::delete_editor_subscription_,
       "DELETE FROM editor_subscriptions WHERE token_id = ?1 AND (?2 = '' OR endpoint = ?2)"},
      {&SqliteSiteStore::count_subscriptions_,
       "SELECT count(*) FROM subscriptions WHERE (categories & ?1) <> 0"},
      {&SqliteSiteStore::subscriptions_page_,
       "SELECT " FW_SUBSCRIPTION_COLUMNS " FROM subscriptions "
       "WHERE id > ?2 AND (categories & ?1) <> 0 ORDER BY id LIMIT ?3"},
      {&SqliteSiteStore::insert_alert_,
       "INSERT INTO alerts (article_id, category, title, body, url, urgency, ttl_seconds, topic, "
       "status, created_by, created_at, sent, send_at) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?9 IN (1, 2, 4), ?12)"},
      {&SqliteSiteStore::set_alert_status_,
       "UPDATE alerts SET status = ?2, sent = max(sent, ?2 = 1) WHERE id = ?1"},
      {&SqliteSiteStore::transition_alert_,
       "UPDATE alerts SET status = ?3, sent = max(sent, ?3 = 1) WHERE id = ?1 AND status = ?2"},
      {&SqliteSiteStore::alerts_with_status_,
       "SELECT " FW_ALERT_COLUMNS " FROM alerts WHERE status = ?1 ORDER BY id LIMIT ?2"},
      {&SqliteSiteStore::find_alert_, "SELECT " FW_ALERT_COLUMNS " FROM alerts WHERE id = ?1"},
      {&SqliteSiteStore::recent_alerts_,
       "SELECT " FW_ALERT_COLUMNS " FROM alerts ORDER BY id DESC LIMIT ?1"},
      {&SqliteSiteStore::schedule_alert_,
       "UPDATE alerts SET scheduled = 1, send_at = ?2 WHERE id = ?1 AND status = 0 "
       "AND scheduled = 0"},
      // One statement: the status test and the move happen together, so two nodes never both
      // claim an alert (SQLite also serialises writers; PostgreSQL re-checks the row it waited
      // for).
      {&SqliteSiteStore::claim_due_alerts_,
       "UPDATE alerts SET status = 1, sent = 1 WHERE id IN (SELECT id FROM alerts "
       "WHERE scheduled = 1 AND status = 0 AND send_at <= ?1 ORDER BY send_at, id LIMIT ?2) "
       "AND status = 0 RETURNING id"},
      {&SqliteSiteStore::count_alert_event_,
       "INSERT INTO alert_events (alert_id, event, count, last_at) VALUES (?1, ?2, 1, ?3) "
       "ON CONFLICT (alert_id, event) DO UPDATE SET count = count + 1, last_at = max(last_at, ?3)"},
      // The alert was sent (never a draft) and its category is one the subscription chose.
      {&SqliteSiteStore::alert_sent_to_,
       "SELECT 1 FROM alerts JOIN subscriptions ON subscriptions.id = ?2 "
       "WHERE alerts.id = ?1 AND alerts.sent = 1 "
       "AND (subscriptions.categories & alerts.category) <> 0"},
      {&SqliteSiteStore::insert_beacon_,
       "INSERT OR IGNORE INTO alert_beacons (alert_id, subscription_id, event, at_ms, service) "
       "VALUES (?1, ?2, ?3, ?4, ?5)"},
      {&SqliteSiteStore::alert_events_,
       "SELECT event, count FROM alert_events WHERE alert_id = ?1"},
      // The primary key's alert_id prefix bounds the scan to the alert's beacons.
      {&SqliteSiteStore::alert_received_times_,
       "SELECT at_ms FROM alert_beacons WHERE alert_id = ?1 AND event = 0 AND at_ms > 0 "
       "ORDER BY at_ms"},
      {&SqliteSiteStore::alert_beacons_by_service_,
       "SELECT service, event, count(*) FROM alert_beacons WHERE alert_id = ?1 "
       "GROUP BY service, event"},
      {&SqliteSiteStore::count_optin_,
       "INSERT INTO optin_counts (day, category, page, step, count) VALUES (?1, ?2, ?3, ?4, 1) "
       "ON CONFLICT (day, category, page, step) DO UPDATE SET count = count + 1"},
      {&SqliteSiteStore::optin_counts_,
       "SELECT day, category, page, step, count FROM optin_counts WHERE day >= ?1 "
       "ORDER BY day, category, page, step"},
      {&SqliteSiteStore::insert_token_,
       "INSERT INTO api_tokens (name, secret_hash, scopes, created_at, revoked) "
       "VALUES (?1, ?2, ?3, ?4, ?5)"},
      {&SqliteSiteStore::find_token_by_hash_,
       "SELECT " FW_TOKEN_COLUMNS " FROM api_tokens WHERE secret_hash = ?1"},
      {&SqliteSiteStore::list_tokens_, "SELECT " FW_TOKEN_COLUMNS " FROM api_tokens ORDER BY name"},
      {&SqliteSiteStore::revoke_token_, "UPDATE api_tokens SET revoked = 1 WHERE name = ?1"},
      {&SqliteSiteStore::insert_audit_,
       "INSERT INTO audit_log (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)"},
      {&SqliteSiteStore::recent_audit_,
       "SELECT id, at, actor, action, detail FROM audit_log WHERE ?2 <= 0 OR id < ?2 "
       "ORDER BY id DESC LIMIT ?1"},
      {&SqliteSiteStore::live_event_exists_,
       "SELECT 1 FROM articles WHERE id = ?1 AND published = 1 AND category = ?2"},
      {&SqliteSiteStore::insert_live_update_,
       "INSERT INTO live_updates (article_id, body_markdown, created_at, created_by, revision) "
       "VALUES (?1, ?2, ?3, ?4, " FW_NEXT_REVISION("?1") ")"},
      {&SqliteSiteStore::recent_live_updates_,
       "SELECT " FW_LIVE_UPDATE_COLUMNS " FROM live_updates WHERE article_id = ?1 "
       "AND deleted = 0 ORDER BY id DESC LIMIT ?2"},
      {&SqliteSiteStore::live_updates_after_,
       "SELECT " FW_LIVE_UPDATE_COLUMNS " FROM live_updates WHERE article_id = ?1 AND id > ?2 "
       "AND deleted = 0 ORDER BY id LIMIT ?3"},
      {&SqliteSiteStore::find_live_update_,
       "SELECT " FW_LIVE_UPDATE_COLUMNS " FROM live_updates WHERE id = ?1"},
      {&SqliteSiteStore::edit_live_update_,
       "UPDATE live_updates SET body_markdown = ?2, edited_at = ?3, "
       "revision = " FW_NEXT_REVISION("article_id") " WHERE id = ?1 AND deleted = 0"},
      {&SqliteSiteStore::delete_live_update_,
       "UPDATE live_updates SET deleted = 1, pinned = 0, "
       "revision = " FW_NEXT_REVISION("article_id") " WHERE id = ?1 AND deleted = 0"},
      {&SqliteSiteStore::live_update_pinnable_,
       "SELECT pinned FROM live_updates WHERE article_id = ?1 AND id = ?2 AND deleted = 0"},
      {&SqliteSiteStore::unpin_live_updates_,
       "UPDATE live_updates SET pinned = 0, revision = " FW_NEXT_REVISION("?1")
       " WHERE article_id = ?1 AND pinned = 1"},
      {&SqliteSiteStore::pin_live_update_,
       "UPDATE live_updates SET pinned = 1, revision = " FW_NEXT_REVISION("?1")
       " WHERE article_id = ?1 AND id = ?2"},
      {&SqliteSiteStore::pinned_live_update_,
       "SELECT " FW_LIVE_UPDATE_COLUMNS " FROM live_updates WHERE article_id = ?1 AND pinned = 1"},
      {&SqliteSiteStore::live_updates_changed_,
       "SELECT " FW_LIVE_UPDATE_COLUMNS " FROM live_updates WHERE article_id = ?1 "
       "AND revision > ?2 ORDER BY revision LIMIT ?3"},
      // bm25 weights: a match in the headline counts most, then the standfirst. The snippet
      // comes from whichever column matches best (-1), 24 tokens around the match.
      {&SqliteSiteStore::search_articles_,
       "SELECT a.id, a.slug, a.headline, a.standfirst, a.byline, a.dateline, a.category, "
       "a.image_url, a.image_alt, a.body_markdown, a.published, a.published_at, a.updated_at, "
       "a.video_url, a.created_by, a.image_renditions, "
       "highlight(articles_fts, 0, char(2), char(3)), "
       "snippet(articles_fts, -1, char(2), char(3), '…', 24) "
       "FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid "
       "WHERE articles_fts MATCH ?1 AND a.published = 1 "
       "ORDER BY bm25(articles_fts, 10.0, 4.0, 1.0), a.published_at DESC LIMIT ?2"},
  };
};

#undef FW_ARTICLE_COLUMNS
#undef FW_SUBSCRIPTION_COLUMNS
#undef FW_ALERT_COLUMNS
#undef FW_TOKEN_COLUMNS
#undef FW_LIVE_UPDATE_COLUMNS
#undef FW_NEXT_REVISION

}  // namespace

Result<std::unique_ptr<SiteStore>> open_sqlite_site_store(const std::string& path,
                                                          const SqliteOptions& options) {
  auto conn = Connection::open(path, options, kSchema);
  if (!conn) return tl::unexpected(conn.error());
  return SqliteSiteStore::create(std::move(*conn));
}

}  // namespace flashwire::store
