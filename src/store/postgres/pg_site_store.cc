#include "store/postgres/pg_site_store.h"

#include <algorithm>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/site_validation.h"

namespace flashwire::store {
namespace {

using pg::Connection;
using pg::Params;
using pg::Rows;
using pg::Transaction;
using pg::with_connection;
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

// The key of the advisory lock every node's guarded_alert_write takes ("FWgrd" in ASCII): an
// arbitrary constant all nodes share, apart from the migrations' key.
constexpr std::int64_t kGuardedAlertsLockKey = 0x4657677264;

#define FW_ARTICLE_COLUMNS                                                             \
  "id, slug, headline, standfirst, byline, dateline, category, image_url, image_alt, " \
  "body_markdown, published, published_at, updated_at, video_url, created_by, image_renditions"
#define FW_SUBSCRIPTION_COLUMNS "id, endpoint, p256dh, auth, categories, created_at, updated_at"
#define FW_ALERT_COLUMNS                                                              \
  "id, article_id, category, title, body, url, urgency, ttl_seconds, topic, status, " \
  "created_by, created_at, send_at, scheduled"
#define FW_TOKEN_COLUMNS "id, name, secret_hash, scopes, created_at, revoked"
#define FW_LIVE_UPDATE_COLUMNS \
  "id, article_id, body_markdown, created_at, created_by, edited_at, deleted, pinned, revision"
// The next revision of event $1's updates; only valid while the event's row is locked.
#define FW_NEXT_REVISION \
  "(SELECT coalesce(max(revision), 0) + 1 FROM live_updates WHERE article_id = $1)"

Result<Article> read_article(const Rows& r, int i) {
  const std::int64_t category = r.get_int(i, 6);
  if (!is_category(category)) {
    return make_error(ErrorCode::kCorrupt, "stored article category out of range");
  }
  Article a;
  a.id = r.get_int(i, 0);
  a.slug = r.get_text(i, 1);
  a.headline = r.get_text(i, 2);
  a.standfirst = r.get_text(i, 3);
  a.byline = r.get_text(i, 4);
  a.dateline = r.get_text(i, 5);
  a.category = static_cast<Category>(category);
  a.image_url = r.get_text(i, 7);
  a.image_alt = r.get_text(i, 8);
  a.body_markdown = r.get_text(i, 9);
  a.published = r.get_bool(i, 10);
  a.published_at = r.get_int(i, 11);
  a.updated_at = r.get_int(i, 12);
  a.video_url = r.get_text(i, 13);
  a.created_by = r.get_text(i, 14);
  auto renditions = decode_renditions(r.get_text(i, 15));
  if (!renditions) return tl::unexpected(renditions.error());
  a.image_renditions = std::move(*renditions);
  return a;
}

// $1..$13 in the column order of FW_ARTICLE_COLUMNS, without the id, created_by (set once, by
// create_article, as $14) and image_renditions (the caller adds it as $15).
Params article_params(const Article& a) {
  Params p;
  p.add(a.slug)
      .add(a.headline)
      .add(a.standfirst)
      .add(a.byline)
      .add(a.dateline)
      .add(static_cast<std::int64_t>(a.category))
      .add(a.image_url)
      .add(a.image_alt)
      .add(a.body_markdown)
      .add_bool(a.published)
      .add(a.published_at)
      .add(a.updated_at)
      .add(a.video_url);
  return p;
}

Result<Subscription> read_subscription(const Rows& r, int i) {
  const std::int64_t categories = r.get_int(i, 4);
  if (categories < 1 || categories > kAllCategories) {
    return make_error(ErrorCode::kCorrupt, "stored subscription categories out of range");
  }
  return Subscription{r.get_int(i, 0),
                      r.get_text(i, 1),
                      r.get_text(i, 2),
                      r.get_text(i, 3),
                      static_cast<CategorySet>(categories),
                      r.get_int(i, 5),
                      r.get_int(i, 6)};
}

Result<Alert> read_alert(const Rows& r, int i) {
  const std::int64_t category = r.get_int(i, 2);
  const std::int64_t status = r.get_int(i, 9);
  if (!is_category(category)) {
    return make_error(ErrorCode::kCorrupt, "stored alert category out of range");
  }
  if (status < 0 || status > static_cast<std::int64_t>(AlertStatus::kFailed)) {
    return make_error(ErrorCode::kCorrupt, "stored alert status out of range");
  }
  Alert a;
  a.id = r.get_int(i, 0);
  a.article_id = r.is_null(i, 1) ? 0 : r.get_int(i, 1);
  a.category = static_cast<Category>(category);
  a.title = r.get_text(i, 3);
  a.body = r.get_text(i, 4);
  a.url = r.get_text(i, 5);
  a.urgency = r.get_text(i, 6);
  a.ttl_seconds = r.get_int(i, 7);
  a.topic = r.get_text(i, 8);
  a.status = static_cast<AlertStatus>(status);
  a.created_by = r.get_text(i, 10);
  a.created_at = r.get_int(i, 11);
  a.send_at = r.get_int(i, 12);
  a.scheduled = r.get_bool(i, 13);
  return a;
}

Result<ApiToken> read_token(const Rows& r, int i) {
  return ApiToken{r.get_int(i, 0),  r.get_text(i, 1),
                  r.get_text(i, 2), split_scopes(r.get_text(i, 3)),
                  r.get_int(i, 4),  r.get_bool(i, 5)};
}

Result<LiveUpdate> read_live_update(const Rows& r, int i) {
  return LiveUpdate{r.get_int(i, 0),  r.get_int(i, 1),  r.get_text(i, 2),
                    r.get_int(i, 3),  r.get_text(i, 4), r.get_int(i, 5),
                    r.get_bool(i, 6), r.get_bool(i, 7), r.get_int(i, 8)};
}

Result<AuditEntry> read_audit(const Rows& r, int i) {
  return AuditEntry{r.get_int(i, 0), r.get_int(i, 1), r.get_text(i, 2), r.get_text(i, 3),
                    r.get_text(i, 4)};
}

template <typename T, typename Read>
Result<std::vector<T>> all_of(const Rows& rows, Read read) {
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) {
    auto row = read(rows, i);
    if (!row) return tl::unexpected(row.error());
    out.push_back(std::move(*row));
  }
  return out;
}

template <typename T, typename Read>
Result<std::optional<T>> first_of(const Rows& rows, Read read) {
  if (rows.empty()) return std::optional<T>();
  auto row = read(rows, 0);
  if (!row) return tl::unexpected(row.error());
  return std::optional<T>(std::move(*row));
}

std::int64_t clamp_limit(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(limit, kMax));
}

class PgSiteStore final : public SiteStore {
 public:
  explicit PgSiteStore(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

  // --- articles ---

  Result<std::int64_t> create_article(const Article& article) override {
    constexpr std::string_view kWhat = "create_article";
    if (auto ok = validate_article(article, kWhat); !ok) return tl::unexpected(ok.error());
    return with_connection(*pool_, [&](Connection& c) -> Result<std::int64_t> {
      Params p = article_params(article);
      p.add(article.created_by).add(encode_renditions(article.image_renditions));
      auto rows = c.run("site_insert_article",
                        "INSERT INTO articles (slug, headline, standfirst, byline, dateline, "
                        "category, image_url, image_alt, body_markdown, published, published_at, "
                        "updated_at, video_url, created_by, image_renditions) VALUES ($1, $2, $3, "
                        "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
                        p, kWhat);
      if (!rows) return tl::unexpected(rows.error());
      return rows->get_int(0, 0);
    });
  }

  Status update_article(const Article& article) override {
    constexpr std::string_view kWhat = "update_article";
    if (auto ok = validate_article(article, kWhat); !ok) return ok;
    return with_connection(*pool_, [&](Connection& c) -> Status {
      Params p = article_params(article);
      p.add(article.id).add(encode_renditions(article.image_renditions));
      auto rows = c.run("site_update_article",
                        "UPDATE articles SET slug = $1, headline = $2, standfirst = $3, "
                        "byline = $4, dateline = $5, category = $6, image_url = $7, "
                        "image_alt = $8, body_markdown = $9, published = $10, "
                        "published_at = $11, updated_at = $12, video_url = $13, "
                        "image_renditions = $15 WHERE id = $14",
                        p, kWhat);
      if (!rows) return tl::unexpected(rows.error());
      if (rows->affected() == 0) {
        return make_error(ErrorCode::kNotFound, "update_article: no such article");
      }
      return {};
    });
  }

  Result<std::optional<Article>> find_article(std::int64_t id) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::optional<Article>> {
      auto rows =
          c.run("site_find_article", "SELECT " FW_ARTICLE_COLUMNS " FROM articles WHERE id = $1",
                Params().add(id), "find_article");
      if (!rows) return tl::unexpected(rows.error());
      return first_of<Article>(*rows, read_article);
    });
  }

  Result<std::optional<Article>> find_article_by_slug(const std::string& slug) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::optional<Article>> {
      auto rows = c.run("site_find_article_by_slug",
                        "SELECT " FW_ARTICLE_COLUMNS " FROM articles WHERE slug = $1",
                        Params().add(slug), "find_article_by_slug");
      if (!rows) return tl::unexpected(rows.error());
      return first_of<Article>(*rows, read_article);
    });
  }

  Result<std::vector<Article>> latest_articles(CategorySet category, std::size_t limit) override {
    constexpr std::string_view kWhat = "latest_articles";
    if (category > kAllCategories) return invalid(kWhat, "category set out of range");
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<Article>> {
      auto rows = c.run("site_latest_articles",
                        "SELECT " FW_ARTICLE_COLUMNS
                        " FROM articles WHERE published "
                        "AND ($1::bigint = 0 OR (category & $1::bigint) <> 0) "
                        "ORDER BY published_at DESC, id DESC LIMIT $2",
                        Params().add(std::int64_t{category}).add(clamp_limit(limit)), kWhat);
      if (!rows) return tl::unexpected(rows.error());
      return all_of<Article>(*rows, read_article);
    });
  }

  Result<std::vector<Article>> draft_articles(std::size_t limit) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<Article>> {
      auto rows = c.run("site_draft_articles",
                        "SELECT " FW_ARTICLE_COLUMNS
                        " FROM articles WHERE NOT published ORDER BY updated_at DESC, id DESC "
                        "LIMIT $1",
                        Params().add(clamp_limit(limit)), "draft_articles");
      if (!rows) return tl::unexpected(rows.error());
      return all_of<Article>(*rows, read_article);
    });
  }

  Result<std::size_t> article_count() override {
    return count("site_article_count", "SELECT count(*) FROM articles", Params(), "article_count");
  }

  // --- subscriptions ---

  Result<std::int64_t> upsert_subscription(const Subscription& s) override {
    constexpr std::string_view kWhat = "upsert_subscription";
    if (auto ok = validate_subscription(s); !ok) return tl::unexpected(ok.error());
    return with_connection(*pool_, [&](Connection& c) -> Result<std::int64_t> {
      auto rows = c.run(
          "site_upsert_subscription",
          "INSERT INTO subscriptions (endpoint, p256dh, auth, categories, created_at, updated_at) "
          "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (endpoint) DO UPDATE SET "
          "p256dh = excluded.p256dh, auth = excluded.auth, categories = excluded.categories, "
          "updated_at = excluded.updated_at RETURNING id",
          Params()
              .add(s.endpoint)
              .add(s.p256dh)
              .add(s.auth)
              .add(std::int64_t{s.categories})
              .add(s.created_at)
              .add(s.updated_at),
          kWhat);
      if (!rows) return tl::unexpected(rows.error());
      return rows->get_int(0, 0);
    });
  }

  Result<std::optional<Subscription>> find_subscription(const std::string& endpoint) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::optional<Subscription>> {
      auto rows = c.run("site_find_subscription",
                        "SELECT " FW_SUBSCRIPTION_COLUMNS " FROM subscriptions WHERE endpoint = $1",
                        Params().add(endpoint), "find_subscription");
      if (!rows) return tl::unexpected(rows.error());
      return first_of<Subscription>(*rows, read_subscription);
    });
  }

  Result<bool> delete_subscription(const std::string& endpoint) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<bool> {
      auto rows = c.run("site_delete_subscription", "DELETE FROM subscriptions WHERE endpoint = $1",
                        Params().add(endpoint), "delete_subscription");
      if (!rows) return tl::unexpected(rows.error());
      return rows->affected() > 0;
    });
  }

  // --- editors' subscriptions ---

  Status put_editor_subscription(const EditorSubscription& s) override {
    constexpr std::string_view kWhat = "put_editor_subscription";
    if (s.endpoint.empty() || s.p256dh.empty() || s.auth.empty())
      return make_error(ErrorCode::kInvalid,
                        "put_editor_subscription: endpoint and keys are required");
    return with_connection(*pool_, [&](Connection& c) -> Status {
      // Only for a token that exists: kNotFound otherwise, rather than a foreign-key failure.
      auto rows = c.run(
          "site_put_editor_subscription",
          "INSERT INTO editor_subscriptions (token_id, endpoint, p256dh, auth, created_at) "
          "SELECT $1::bigint, $2, $3, $4, $5::bigint "
          "WHERE EXISTS (SELECT 1 FROM api_tokens WHERE id = $1::bigint) "
          "ON CONFLICT (token_id) DO UPDATE SET endpoint = excluded.endpoint, "
          "p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at",
          Params().add(s.token_id).add(s.endpoint).add(s.p256dh).add(s.auth).add(s.created_at),
          kWhat);
      if (!rows) return tl::unexpected(rows.error());
      if (rows->affected() == 0)
        return make_error(ErrorCode::kNotFound, "put_editor_subscription: no such token");
      return {};
    });
  }

  Result<std::optional<EditorSubscription>> find_editor_subscription(
      std::int64_t token_id) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::optional<EditorSubscription>> {
      auto rows = c.run("site_find_editor_subscription",
                        "SELECT token_id, endpoint, p256dh, auth, created_at "
                        "FROM editor_subscriptions WHERE token_id = $1::bigint",
                        Params().add(token_id), "find_editor_subscription");
      if (!rows) return tl::unexpected(rows.error());
      if (rows->size() == 0) return std::optional<EditorSubscription>();
      return std::optional<EditorSubscription>(
          EditorSubscription{rows->get_int(0, 0), rows->get_text(0, 1), rows->get_text(0, 2),
                             rows->get_text(0, 3), rows->get_int(0, 4)});
    });
  }

  Result<bool> delete_editor_subscription(std::int64_t token_id,
                                          const std::string& endpoint) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<bool> {
      auto rows = c.run("site_delete_editor_subscription",
                        "DELETE FROM editor_subscriptions WHERE token_id = $1::bigint "
                        "AND ($2::text = '' OR endpoint = $2::text)",
                        Params().add(token_id).add(endpoint), "delete_editor_subscription");
      if (!rows) return tl::unexpected(rows.error());
      return rows->affected() > 0;
    });
  }

  Result<std::size_t> count_subscriptions(CategorySet categories) override {
    constexpr std::string_view kWhat = "count_subscriptions";
    if (categories > kAllCategories) return invalid(kWhat, "category set out of range");
    return count("site_count_subscriptions",
                 "SELECT count(*) FROM subscriptions WHERE (categories & $1::bigint) <> 0",
                 Params().add(std::int64_t{categories}), kWhat);
  }

  Result<std::vector<Subscription>> subscriptions_page(Category category, std::int64_t after_id,
                                                       std::size_t limit) override {
    constexpr std::string_view kWhat = "subscriptions_page";
    if (!is_category(static_cast<std::int64_t>(category))) {
      return invalid(kWhat, "category out of range");
    }
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<Subscription>> {
      auto rows = c.run(
          "site_subscriptions_page",
          "SELECT " FW_SUBSCRIPTION_COLUMNS
          " FROM subscriptions "
          "WHERE id > $2 AND (categories & $1::bigint) <> 0 ORDER BY id LIMIT $3",
          Params().add(static_cast<std::int64_t>(category)).add(after_id).add(clamp_limit(limit)),
          kWhat);
      if (!rows) return tl::unexpected(rows.error());
      return all_of<Subscription>(*rows, read_subscription);
    });
  }

  // --- alerts ---

  Result<std::int64_t> create_alert(const Alert& alert) override {
    constexpr std::string_view kWhat = "create_alert";
    if (auto ok = validate_alert(alert); !ok) return tl::unexpected(ok.error());
    return with_connection(*pool_, [&](Connection& c) { return insert_alert(c, alert, kWhat); });
  }

  // The insert of create_alert on `c` (in the caller's transaction, if any); `alert` is valid.
  static Result<std::int64_t> insert_alert(Connection& c, const Alert& alert,
                                           std::string_view kWhat) {
    Params p;
    if (alert.article_id != 0) {
      p.add(alert.article_id);
    } else {
      p.add_null();
    }
    p.add(static_cast<std::int64_t>(alert.category))
        .add(alert.title)
        .add(alert.body)
        .add(alert.url)
        .add(alert.urgency)
        .add(alert.ttl_seconds)
        .add(alert.topic)
        .add(static_cast<std::int64_t>(alert.status))
        .add(alert.created_by)
        .add(alert.created_at)
        .add(alert.send_at);
    // The foreign key checks the article in the same statement; its violation is kNotFound,
    // reworded here for a clear message.
    auto rows = c.run("site_insert_alert",
                      "INSERT INTO alerts (article_id, category, title, body, url, urgency, "
                      "ttl_seconds, topic, status, created_by, created_at, sent, send_at) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::bigint, $10, $11, "
                      "$9::bigint IN (1, 2, 4), $12) "
                      "RETURNING id",
                      p, kWhat);
    if (!rows) {
      if (rows.error().code == ErrorCode::kNotFound) {
        return make_error(ErrorCode::kNotFound, "create_alert: no such article");
      }
      return tl::unexpected(rows.error());
    }
    return rows->get_int(0, 0);
  }

  Status set_alert_status(std::int64_t id, AlertStatus status) override {
    constexpr std::string_view kWhat = "set_alert_status";
    if (static_cast<int>(status) > static_cast<int>(AlertStatus::kFailed)) {
      return invalid(kWhat, "status out of range");
    }
    return with_connection(*pool_, [&](Connection& c) -> Status {
      auto rows = c.run(
          "site_set_alert_status",
          "UPDATE alerts SET status = $2::bigint, sent = sent OR $2::bigint = 1 WHERE id = $1",
          Params().add(id).add(static_cast<std::int64_t>(status)), kWhat);
      if (!rows) return tl::unexpected(rows.error());
      if (rows->affected() == 0) {
        return make_error(ErrorCode::kNotFound, "set_alert_status: no such alert");
      }
      return {};
    });
  }

  Result<bool> transition_alert(std::int64_t id, AlertStatus from, AlertStatus to) override {
    constexpr std::string_view kWhat = "transition_alert";
    if (static_cast<int>(from) > static_cast<int>(AlertStatus::kFailed) ||
        static_cast<int>(to) > static_cast<int>(AlertStatus::kFailed)) {
      return invalid(kWhat, "status out of range");
    }
    return with_connection(*pool_,
                           [&](Connection& c) { return move_alert(c, id, from, to, kWhat); });
  }

  // The compare-and-set of transition_alert on `c`.
  static Result<bool> move_alert(Connection& c, std::int64_t id, AlertStatus from, AlertStatus to,
                                 std::string_view kWhat) {
    // One statement: the row lock makes two nodes' transitions from the same status
    // exclusive (the second re-reads the row and finds another status).
    auto rows = c.run(
        "site_transition_alert",
        "UPDATE alerts SET status = $3::bigint, sent = sent OR $3::bigint = 1 WHERE id = $1 AND "
        "status = $2",
        Params().add(id).add(static_cast<std::int64_t>(from)).add(static_cast<std::int64_t>(to)),
        kWhat);
    if (!rows) return tl::unexpected(rows.error());
    if (rows->affected() > 0) return true;
    auto exists =
        c.run("site_alert_exists", "SELECT 1 FROM alerts WHERE id = $1", Params().add(id), kWhat);
    if (!exists) return tl::unexpected(exists.error());
    if (exists->empty()) {
      return make_error(ErrorCode::kNotFound, "transition_alert: no such alert");
    }
    return false;
  }

  Result<bool> schedule_alert(std::int64_t id, std::int64_t send_at) override {
    constexpr std::string_view kWhat = "schedule_alert";
    if (send_at <= 0) return invalid(kWhat, "send_at must be a positive time");
    return with_connection(*pool_,
                           [&](Connection& c) { return schedule_draft(c, id, send_at, kWhat); });
  }

  // The compare-and-set of schedule_alert on `c`.
  static Result<bool> schedule_draft(Connection& c, std::int64_t id, std::int64_t send_at,
                                     std::string_view kWhat) {
    auto rows = c.run("site_schedule_alert",
                      "UPDATE alerts SET scheduled = true, send_at = $2 WHERE id = $1 AND "
                      "status = 0 AND NOT scheduled",
                      Params().add(id).add(send_at), kWhat);
    if (!rows) return tl::unexpected(rows.error());
    if (rows->affected() > 0) return true;
    auto exists =
        c.run("site_alert_exists", "SELECT 1 FROM alerts WHERE id = $1", Params().add(id), kWhat);
    if (!exists) return tl::unexpected(exists.error());
    if (exists->empty()) return make_error(ErrorCode::kNotFound, "schedule_alert: no such alert");
    return false;
  }

  Result<GuardedWriteResult> guarded_alert_write(GuardedWrite write, const Alert& alert,
                                                 std::size_t newest,
                                                 const AlertGuard& guard) override {
    constexpr std::string_view kWhat = "guarded_alert_write";
    if (auto ok = validate_guarded_write(write, alert); !ok) return tl::unexpected(ok.error());
    return with_connection(*pool_, [&](Connection& c) -> Result<GuardedWriteResult> {
      Transaction tx(c);
      if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
      // Every node's guarded writes take this lock, held until commit: a second one waits here
      // and its read (a later statement, so a later snapshot under READ COMMITTED) sees the
      // first one's write.
      if (auto ok = c.run("site_guard_lock", "SELECT pg_advisory_xact_lock($1::bigint)",
                          Params().add(kGuardedAlertsLockKey), kWhat);
          !ok) {
        return tl::unexpected(ok.error());
      }
      auto rows = c.run("site_recent_alerts",
                        "SELECT " FW_ALERT_COLUMNS " FROM alerts ORDER BY id DESC LIMIT $1",
                        Params().add(clamp_limit(newest)), kWhat);
      if (!rows) return tl::unexpected(rows.error());
      auto recent = all_of<Alert>(*rows, read_alert);
      if (!recent) return tl::unexpected(recent.error());
      GuardedWriteResult result;
      result.id = alert.id;
      if (!guard(*recent)) {
        result.refused = true;
        return result;  // rolled back: nothing was written
      }
      if (write == GuardedWrite::kCreate) {
        auto id = insert_alert(c, alert, kWhat);
        if (!id) return tl::unexpected(id.error());
        result.id = *id;
        result.written = true;
      } else {
        auto moved =
            write == GuardedWrite::kSend
                ? move_alert(c, alert.id, AlertStatus::kQueued, AlertStatus::kSending, kWhat)
                : schedule_draft(c, alert.id, alert.send_at, kWhat);
        if (!moved) return tl::unexpected(moved.error());
        result.written = *moved;
      }
      if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
      return result;
    });
  }

  Result<std::vector<std::int64_t>> claim_due_alerts(std::int64_t now, std::size_t limit) override {
    constexpr std::string_view kWhat = "claim_due_alerts";
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<std::int64_t>> {
      // SKIP LOCKED: a node does not wait for rows another node is claiming; the outer
      // "status = 0" re-checks each row under its lock, so one claim wins per alert.
      auto rows = c.run("site_claim_due_alerts",
                        "UPDATE alerts SET status = 1, sent = true WHERE id IN (SELECT id FROM "
                        "alerts WHERE scheduled AND status = 0 AND send_at <= $1 ORDER BY "
                        "send_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) AND status = 0 RETURNING id",
                        Params().add(now).add(clamp_limit(limit)), kWhat);
      if (!rows) return tl::unexpected(rows.error());
      std::vector<std::int64_t> ids;
      for (int i = 0; i < rows->size(); ++i) ids.push_back(rows->get_int(i, 0));
      std::sort(ids.begin(), ids.end());
      return ids;
    });
  }

  Result<std::vector<Alert>> alerts_with_status(AlertStatus status, std::size_t limit) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<Alert>> {
      auto rows =
          c.run("site_alerts_with_status",
                "SELECT " FW_ALERT_COLUMNS " FROM alerts WHERE status = $1 ORDER BY id LIMIT $2",
                Params().add(static_cast<std::int64_t>(status)).add(clamp_limit(limit)),
                "alerts_with_status");
      if (!rows) return tl::unexpected(rows.error());
      return all_of<Alert>(*rows, read_alert);
    });
  }

  Result<std::optional<Alert>> find_alert(std::int64_t id) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::optional<Alert>> {
      auto rows = c.run("site_find_alert", "SELECT " FW_ALERT_COLUMNS " FROM alerts WHERE id = $1",
                        Params().add(id), "find_alert");
      if (!rows) return tl::unexpected(rows.error());
      return first_of<Alert>(*rows, read_alert);
    });
  }

  Result<std::vector<Alert>> recent_alerts(std::size_t limit) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<Alert>> {
      auto rows = c.run("site_recent_alerts",
                        "SELECT " FW_ALERT_COLUMNS " FROM alerts ORDER BY id DESC LIMIT $1",
                        Params().add(clamp_limit(limit)), "recent_alerts");
      if (!rows) return tl::unexpected(rows.error());
      return all_of<Alert>(*rows, read_alert);
    });
  }

  Result<bool> record_alert_event(std::int64_t alert_id, std::int64_t subscription_id,
                                  AlertEvent event, std::int64_t at,
                                  BeaconArrival arrival = {}) override {
    constexpr std::string_view kWhat = "record_alert_event";
    if (static_cast<int>(event) > static_cast<int>(AlertEvent::kDismissed)) {
      return invalid(kWhat, "event out of range");
    }
    return with_connection(*pool_, [&](Connection& c) -> Result<bool> {
      // One statement, so atomic: the alert must have been sent to a category the subscription
      // has; the beacon row is taken first (a repeat, even a concurrent one, conflicts and takes
      // nothing) and the count goes up only for a beacon taken now.
      auto rows = c.run(
          "site_record_beacon",
          "WITH target AS ("
          "  SELECT 1 FROM alerts a JOIN subscriptions s ON s.id = $2::bigint"
          "  WHERE a.id = $1::bigint AND a.sent AND (s.categories & a.category) <> 0), "
          "beacon AS ("
          "  INSERT INTO alert_beacons (alert_id, subscription_id, event, at_ms, service)"
          "  SELECT $1::bigint, $2::bigint, $3::bigint, $5::bigint, $6::bigint FROM target"
          "  ON CONFLICT DO NOTHING "
          "RETURNING 1), "
          "counted AS ("
          "  INSERT INTO alert_events (alert_id, event, count, last_at)"
          "  SELECT $1::bigint, $3::bigint, 1, $4::bigint FROM beacon"
          "  ON CONFLICT (alert_id, event) DO UPDATE SET count = alert_events.count + 1,"
          "  last_at = greatest(alert_events.last_at, excluded.last_at) RETURNING 1) "
          "SELECT (SELECT count(*) FROM target), (SELECT count(*) FROM counted)",
          Params()
              .add(alert_id)
              .add(subscription_id)
              .add(static_cast<std::int64_t>(event))
              .add(at)
              .add(arrival.at_ms)
              .add(static_cast<std::int64_t>(arrival.service)),
          kWhat);
      if (!rows) return tl::unexpected(rows.error());
      if (rows->get_int(0, 0) == 0) {
        return make_error(ErrorCode::kNotFound,
                          "record_alert_event: no such alert sent to this subscription");
      }
      return rows->get_int(0, 1) > 0;
    });
  }

  Result<AlertReach> alert_reach(std::int64_t alert_id) override {
    constexpr std::string_view kWhat = "alert_reach";
    return with_connection(*pool_, [&](Connection& c) -> Result<AlertReach> {
      // The alert row joined with its timed receipts: "no row" means no alert.
      auto times = c.run("site_alert_reach_times",
                         "SELECT b.at_ms FROM alerts a LEFT JOIN alert_beacons b ON "
                         "b.alert_id = a.id AND b.event = 0 AND b.at_ms > 0 WHERE a.id = $1 "
                         "ORDER BY b.at_ms",
                         Params().add(alert_id), kWhat);
      if (!times) return tl::unexpected(times.error());
      if (times->empty()) return make_error(ErrorCode::kNotFound, "alert_reach: no such alert");
      AlertReach reach;
      for (int i = 0; i < times->size(); ++i) {
        if (!times->is_null(i, 0)) reach.received_at_ms.push_back(times->get_int(i, 0));
      }
      auto services = c.run("site_alert_reach_services",
                            "SELECT service, event, count(*) FROM alert_beacons "
                            "WHERE alert_id = $1 GROUP BY service, event",
                            Params().add(alert_id), kWhat);
      if (!services) return tl::unexpected(services.error());
      for (int i = 0; i < services->size(); ++i) {
        const std::int64_t service = services->get_int(i, 0);
        const std::int64_t event = services->get_int(i, 1);
        if (service < 0 || service >= static_cast<std::int64_t>(kPushServiceCount) || event < 0 ||
            event > 3)
          return make_error(ErrorCode::kCorrupt, "stored beacon service or event out of range");
        reach.by_service[static_cast<std::size_t>(service)][static_cast<std::size_t>(event)] =
            static_cast<std::uint64_t>(services->get_int(i, 2));
      }
      return reach;
    });
  }

  Status record_optin(std::int64_t day, CategorySet category, PageType page,
                      OptinStep step) override {
    constexpr std::string_view kWhat = "record_optin";
    if (category != 0 && !is_category(category)) return invalid(kWhat, "category out of range");
    if (static_cast<std::size_t>(page) >= kPageTypeCount ||
        static_cast<std::size_t>(step) >= kOptinStepCount)
      return invalid(kWhat, "page or step out of range");
    return with_connection(*pool_, [&](Connection& c) -> Status {
      auto done = c.run("site_record_optin",
                        "INSERT INTO optin_counts (day, category, page, step, count) "
                        "VALUES ($1::bigint, $2::bigint, $3::bigint, $4::bigint, 1) "
                        "ON CONFLICT (day, category, page, step) "
                        "DO UPDATE SET count = optin_counts.count + 1",
                        Params()
                            .add(day)
                            .add(static_cast<std::int64_t>(category))
                            .add(static_cast<std::int64_t>(page))
                            .add(static_cast<std::int64_t>(step)),
                        kWhat);
      if (!done) return tl::unexpected(done.error());
      return {};
    });
  }

  Result<std::vector<OptinCount>> optin_counts(std::int64_t from_day) override {
    constexpr std::string_view kWhat = "optin_counts";
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<OptinCount>> {
      auto rows = c.run("site_optin_counts",
                        "SELECT day, category, page, step, count FROM optin_counts "
                        "WHERE day >= $1 ORDER BY day, category, page, step",
                        Params().add(from_day), kWhat);
      if (!rows) return tl::unexpected(rows.error());
      std::vector<OptinCount> out;
      for (int i = 0; i < rows->size(); ++i) {
        const std::int64_t day = rows->get_int(i, 0);
        const std::int64_t category = rows->get_int(i, 1);
        const std::int64_t page = rows->get_int(i, 2);
        const std::int64_t step = rows->get_int(i, 3);
        if ((category != 0 && !is_category(category)) || page < 0 ||
            page >= static_cast<std::int64_t>(kPageTypeCount) || step < 0 ||
            step >= static_cast<std::int64_t>(kOptinStepCount))
          return make_error(ErrorCode::kCorrupt, "stored opt-in counter out of range");
        if (out.empty() || out.back().day != day || out.back().category != category ||
            out.back().page != static_cast<PageType>(page)) {
          out.push_back(OptinCount{day, static_cast<CategorySet>(category),
                                   static_cast<PageType>(page), {}});
        }
        out.back().steps[static_cast<std::size_t>(step)] =
            static_cast<std::uint64_t>(rows->get_int(i, 4));
      }
      return out;
    });
  }

  Result<AlertEngagement> alert_engagement(std::int64_t alert_id) override {
    constexpr std::string_view kWhat = "alert_engagement";
    return with_connection(*pool_, [&](Connection& c) -> Result<AlertEngagement> {
      // The alert row joined with its counts: one round trip, and "no row" means no alert.
      auto rows = c.run("site_alert_engagement",
                        "SELECT e.event, e.count FROM alerts a "
                        "LEFT JOIN alert_events e ON e.alert_id = a.id WHERE a.id = $1",
                        Params().add(alert_id), kWhat);
      if (!rows) return tl::unexpected(rows.error());
      if (rows->empty()) {
        return make_error(ErrorCode::kNotFound, "alert_engagement: no such alert");
      }
      AlertEngagement engagement;
      for (int i = 0; i < rows->size(); ++i) {
        if (rows->is_null(i, 0)) continue;
        const auto n = static_cast<std::uint64_t>(rows->get_int(i, 1));
        switch (rows->get_int(i, 0)) {
          case 0:
            engagement.received = n;
            break;
          case 1:
            engagement.displayed = n;
            break;
          case 2:
            engagement.clicked = n;
            break;
          case 3:
            engagement.dismissed = n;
            break;
          default:
            break;
        }
      }
      return engagement;
    });
  }

  // --- API tokens ---

  Result<std::int64_t> create_token(const ApiToken& token) override {
    constexpr std::string_view kWhat = "create_token";
    auto scopes = validate_token(token);
    if (!scopes) return tl::unexpected(scopes.error());
    return with_connection(*pool_, [&](Connection& c) -> Result<std::int64_t> {
      auto rows = c.run("site_insert_token",
                        "INSERT INTO api_tokens (name, secret_hash, scopes, created_at, revoked) "
                        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        Params()
                            .add(token.name)
                            .add(token.secret_hash)
                            .add(*scopes)
                            .add(token.created_at)
                            .add_bool(token.revoked),
                        kWhat);
      if (!rows) return tl::unexpected(rows.error());
      return rows->get_int(0, 0);
    });
  }

  Result<std::optional<ApiToken>> find_token_by_hash(const std::string& secret_hash) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::optional<ApiToken>> {
      auto rows = c.run("site_find_token_by_hash",
                        "SELECT " FW_TOKEN_COLUMNS " FROM api_tokens WHERE secret_hash = $1",
                        Params().add(secret_hash), "find_token_by_hash");
      if (!rows) return tl::unexpected(rows.error());
      return first_of<ApiToken>(*rows, read_token);
    });
  }

  Result<std::vector<ApiToken>> list_tokens() override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<ApiToken>> {
      // COLLATE "C": byte order, as SQLite's BINARY collation, whatever the database's locale.
      auto rows = c.run("site_list_tokens",
                        "SELECT " FW_TOKEN_COLUMNS " FROM api_tokens ORDER BY name COLLATE \"C\"",
                        Params(), "list_tokens");
      if (!rows) return tl::unexpected(rows.error());
      return all_of<ApiToken>(*rows, read_token);
    });
  }

  Status revoke_token(const std::string& name) override {
    return with_connection(*pool_, [&](Connection& c) -> Status {
      auto rows = c.run("site_revoke_token", "UPDATE api_tokens SET revoked = true WHERE name = $1",
                        Params().add(name), "revoke_token");
      if (!rows) return tl::unexpected(rows.error());
      if (rows->affected() == 0) {
        return make_error(ErrorCode::kNotFound, "revoke_token: no such token");
      }
      return {};
    });
  }

  // --- audit log ---

  Status append_audit(const AuditEntry& entry) override {
    constexpr std::string_view kWhat = "append_audit";
    if (entry.action.empty()) return invalid(kWhat, "action is empty");
    return with_connection(*pool_, [&](Connection& c) -> Status {
      auto rows =
          c.run("site_insert_audit",
                "INSERT INTO audit_log (at, actor, action, detail) VALUES ($1, $2, $3, $4)",
                Params().add(entry.at).add(entry.actor).add(entry.action).add(entry.detail), kWhat);
      if (!rows) return tl::unexpected(rows.error());
      return {};
    });
  }

  Result<std::vector<AuditEntry>> recent_audit(std::size_t limit,
                                               std::int64_t before_id = 0) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<AuditEntry>> {
      auto rows = c.run("site_recent_audit",
                        "SELECT id, at, actor, action, detail FROM audit_log "
                        "WHERE $2::bigint <= 0 OR id < $2::bigint ORDER BY id DESC LIMIT $1",
                        Params().add(clamp_limit(limit)).add(before_id), "recent_audit");
      if (!rows) return tl::unexpected(rows.error());
      return all_of<AuditEntry>(*rows, read_audit);
    });
  }

  // --- live events ---

  Result<std::int64_t> add_live_update(const LiveUpdate& update) override {
    constexpr std::string_view kWhat = "add_live_update";
    if (update.body_markdown.empty()) return invalid(kWhat, "body is empty");
    return with_connection(*pool_, [&](Connection& c) -> Result<std::int64_t> {
      // The event's row is locked first (FOR UPDATE), so the event cannot stop being live
      // before the insert, and the event's revisions are handed out one change at a time.
      Transaction tx(c);
      if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
      auto event = c.run(
          "site_lock_live_event",
          "SELECT id FROM articles WHERE id = $1 AND published AND category = $2 FOR UPDATE",
          Params().add(update.article_id).add(static_cast<std::int64_t>(Category::kLive)), kWhat);
      if (!event) return tl::unexpected(event.error());
      if (event->empty()) {
        return make_error(ErrorCode::kNotFound, "add_live_update: no such live event");
      }
      auto rows = c.run(
          "site_insert_live_update",
          "INSERT INTO live_updates (article_id, body_markdown, created_at, created_by, revision) "
          "VALUES ($1, $2, $3, $4, " FW_NEXT_REVISION ") RETURNING id",
          Params()
              .add(update.article_id)
              .add(update.body_markdown)
              .add(update.created_at)
              .add(update.created_by),
          kWhat);
      if (!rows) return tl::unexpected(rows.error());
      const std::int64_t id = rows->get_int(0, 0);
      if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
      return id;
    });
  }

  Result<std::vector<LiveUpdate>> recent_live_updates(std::int64_t article_id,
                                                      std::size_t limit) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<LiveUpdate>> {
      auto rows = c.run("site_recent_live_updates",
                        "SELECT " FW_LIVE_UPDATE_COLUMNS
                        " FROM live_updates WHERE article_id = $1 AND NOT deleted "
                        "ORDER BY id DESC LIMIT $2",
                        Params().add(article_id).add(clamp_limit(limit)), "recent_live_updates");
      if (!rows) return tl::unexpected(rows.error());
      return all_of<LiveUpdate>(*rows, read_live_update);
    });
  }

  Result<std::vector<LiveUpdate>> live_updates_after(std::int64_t article_id, std::int64_t after_id,
                                                     std::size_t limit) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<LiveUpdate>> {
      auto rows = c.run("site_live_updates_after",
                        "SELECT " FW_LIVE_UPDATE_COLUMNS
                        " FROM live_updates WHERE article_id = $1 "
                        "AND id > $2 AND NOT deleted ORDER BY id LIMIT $3",
                        Params().add(article_id).add(after_id).add(clamp_limit(limit)),
                        "live_updates_after");
      if (!rows) return tl::unexpected(rows.error());
      return all_of<LiveUpdate>(*rows, read_live_update);
    });
  }

  Result<std::optional<LiveUpdate>> find_live_update(std::int64_t id) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::optional<LiveUpdate>> {
      auto rows = c.run("site_find_live_update",
                        "SELECT " FW_LIVE_UPDATE_COLUMNS " FROM live_updates WHERE id = $1",
                        Params().add(id), "find_live_update");
      if (!rows) return tl::unexpected(rows.error());
      return first_of<LiveUpdate>(*rows, read_live_update);
    });
  }

  Status edit_live_update(std::int64_t id, const std::string& body_markdown,
                          std::int64_t edited_at) override {
    constexpr std::string_view kWhat = "edit_live_update";
    if (body_markdown.empty()) return invalid(kWhat, "body is empty");
    return change_live_update(
        id, kWhat, "site_edit_live_update",
        "UPDATE live_updates SET body_markdown = $3, edited_at = $4, revision = " FW_NEXT_REVISION
        " WHERE id = $2 AND NOT deleted",
        [&](Params& p) { p.add(body_markdown).add(edited_at); });
  }

  Status delete_live_update(std::int64_t id) override {
    return change_live_update(id, "delete_live_update", "site_delete_live_update",
                              "UPDATE live_updates SET deleted = true, pinned = false, "
                              "revision = " FW_NEXT_REVISION " WHERE id = $2 AND NOT deleted",
                              [](Params&) {});
  }

  Status pin_live_update(std::int64_t article_id, std::int64_t id) override {
    constexpr std::string_view kWhat = "pin_live_update";
    return with_connection(*pool_, [&](Connection& c) -> Status {
      Transaction tx(c);
      if (auto ok = tx.begin(kWhat); !ok) return ok;
      auto event = c.run("site_lock_event_row", "SELECT id FROM articles WHERE id = $1 FOR UPDATE",
                         Params().add(article_id), kWhat);
      if (!event) return tl::unexpected(event.error());
      if (id != 0) {
        auto target = c.run("site_live_update_pinnable",
                            "SELECT pinned FROM live_updates WHERE article_id = $1 AND id = $2 "
                            "AND NOT deleted",
                            Params().add(article_id).add(id), kWhat);
        if (!target) return tl::unexpected(target.error());
        if (target->empty()) {
          return make_error(ErrorCode::kNotFound, "pin_live_update: no such update of this event");
        }
        if (target->get_bool(0, 0)) return tx.commit(kWhat);  // already pinned
      }
      // Unpin first, then pin: the unique index allows one pinned update per event.
      auto unpinned = c.run("site_unpin_live_updates",
                            "UPDATE live_updates SET pinned = false, revision = " FW_NEXT_REVISION
                            " WHERE article_id = $1 AND pinned",
                            Params().add(article_id), kWhat);
      if (!unpinned) return tl::unexpected(unpinned.error());
      if (id != 0) {
        auto pinned = c.run("site_pin_live_update",
                            "UPDATE live_updates SET pinned = true, revision = " FW_NEXT_REVISION
                            " WHERE article_id = $1 AND id = $2",
                            Params().add(article_id).add(id), kWhat);
        if (!pinned) return tl::unexpected(pinned.error());
      }
      return tx.commit(kWhat);
    });
  }

  Result<std::optional<LiveUpdate>> pinned_live_update(std::int64_t article_id) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::optional<LiveUpdate>> {
      auto rows = c.run("site_pinned_live_update",
                        "SELECT " FW_LIVE_UPDATE_COLUMNS
                        " FROM live_updates WHERE article_id = $1 AND pinned",
                        Params().add(article_id), "pinned_live_update");
      if (!rows) return tl::unexpected(rows.error());
      return first_of<LiveUpdate>(*rows, read_live_update);
    });
  }

  Result<std::vector<LiveUpdate>> live_updates_changed(std::int64_t article_id,
                                                       std::int64_t after_revision,
                                                       std::size_t limit) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<LiveUpdate>> {
      auto rows = c.run("site_live_updates_changed",
                        "SELECT " FW_LIVE_UPDATE_COLUMNS
                        " FROM live_updates WHERE article_id = $1 "
                        "AND revision > $2 ORDER BY revision LIMIT $3",
                        Params().add(article_id).add(after_revision).add(clamp_limit(limit)),
                        "live_updates_changed");
      if (!rows) return tl::unexpected(rows.error());
      return all_of<LiveUpdate>(*rows, read_live_update);
    });
  }

  // --- search ---
  // The query's words (search_words) become lexemes as the index makes them (flashwire_search:
  // case and diacritics folded), quoted into a tsquery that needs all of them, the last word's
  // as prefixes. The tsquery is read with the type's own input from quoted lexemes, so no
  // reader input is ever an operator.
  Result<std::vector<ArticleMatch>> search_articles(const std::string& query,
                                                    std::size_t limit) override {
    constexpr std::string_view kWhat = "search_articles";
    if (query.size() > kMaxSearchQuery) return invalid(kWhat, "query longer than 256 bytes");
    const std::vector<std::string_view> words = search_words(query);
    if (words.empty() || limit == 0) return std::vector<ArticleMatch>();
    // The markers of site_store.h, quoted as ts_headline's options want them.
    static const std::string kMarks =
        std::string("StartSel=\"") + kMarkStart + "\", StopSel=\"" + kMarkEnd + "\"";
    static const std::string kHeadlineOptions = kMarks + ", HighlightAll=true";
    static const std::string kSnippetOptions = kMarks + ", MaxWords=24, MinWords=12, ShortWord=2";
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<ArticleMatch>> {
      auto rows = c.run(
          "site_search_articles",
          "WITH words AS ("
          "SELECT w, i, count(*) OVER () AS n FROM unnest($1::text[]) WITH ORDINALITY AS t(w, i)"
          "), lexemes AS ("
          "SELECT i, n, '''' || replace(replace(lex, '\\', '\\\\'), '''', '''''') || '''' AS "
          "quoted FROM words, unnest(tsvector_to_array(to_tsvector('flashwire_search', w))) lex"
          "), q AS ("
          "SELECT string_agg(quoted || CASE WHEN i = n THEN ':*' ELSE '' END, ' & ')::tsquery "
          "AS match_all, "
          "string_agg(quoted || CASE WHEN i = n THEN ':*' ELSE '' END, ' | ')::tsquery "
          "AS match_any FROM lexemes) "
          "SELECT a.id, a.slug, a.headline, a.standfirst, a.byline, a.dateline, a.category, "
          "a.image_url, a.image_alt, a.body_markdown, a.published, a.published_at, a.updated_at, "
          "a.video_url, a.created_by, a.image_renditions, "
          "ts_headline('flashwire_search', a.headline, q.match_all, $3), "
          "CASE WHEN to_tsvector('flashwire_search', a.standfirst) @@ q.match_any "
          "THEN ts_headline('flashwire_search', a.standfirst, q.match_any, $4) "
          "WHEN to_tsvector('flashwire_search', a.body_markdown) @@ q.match_any "
          "THEN ts_headline('flashwire_search', a.body_markdown, q.match_any, $4) "
          "ELSE ts_headline('flashwire_search', a.standfirst, q.match_any, $4) END "
          "FROM articles a, q WHERE a.published AND a.search_vector @@ q.match_all "
          // Weights {D, C, B, A}: body 1, standfirst 4, headline 10, as SQLite's bm25 weights.
          "ORDER BY ts_rank('{0.01, 0.1, 0.4, 1.0}'::real[], a.search_vector, q.match_all) DESC, "
          "a.published_at DESC, a.id DESC LIMIT $2",
          Params()
              .add_text_array(words)
              .add(clamp_limit(limit))
              .add(kHeadlineOptions)
              .add(kSnippetOptions),
          kWhat);
      if (!rows) return tl::unexpected(rows.error());
      return all_of<ArticleMatch>(*rows, [](const Rows& r, int i) -> Result<ArticleMatch> {
        Result<Article> article = read_article(r, i);
        if (!article) return tl::unexpected(article.error());
        return ArticleMatch{std::move(*article), r.get_text(i, 16), r.get_text(i, 17)};
      });
    });
  }

 private:
  // One change to update `id` under its event's row lock (see FW_NEXT_REVISION): `sql` gets the
  // event as $1, the update as $2 and what `add` appends from $3 on. kNotFound when it changes
  // nothing (absent or deleted).
  template <typename Add>
  Status change_live_update(std::int64_t id, std::string_view what, const char* name,
                            const char* sql, Add add) {
    return with_connection(*pool_, [&](Connection& c) -> Status {
      Transaction tx(c);
      if (auto ok = tx.begin(what); !ok) return ok;
      auto event = c.run("site_lock_event_of_update",
                         "SELECT a.id FROM articles a JOIN live_updates u ON u.article_id = a.id "
                         "WHERE u.id = $1 FOR UPDATE OF a",
                         Params().add(id), what);
      if (!event) return tl::unexpected(event.error());
      if (event->empty()) {
        return make_error(ErrorCode::kNotFound, std::string(what) + ": no such update");
      }
      Params p;
      p.add(event->get_int(0, 0)).add(id);
      add(p);
      auto rows = c.run(name, sql, p, what);
      if (!rows) return tl::unexpected(rows.error());
      if (rows->affected() == 0) {
        return make_error(ErrorCode::kNotFound, std::string(what) + ": no such update");
      }
      return tx.commit(what);
    });
  }

  Result<std::size_t> count(const char* name, const char* sql, const Params& params,
                            std::string_view what) {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::size_t> {
      auto rows = c.run(name, sql, params, what);
      if (!rows) return tl::unexpected(rows.error());
      return static_cast<std::size_t>(rows->get_int(0, 0));
    });
  }

  std::shared_ptr<pg::Pool> pool_;
};

class PgSettingsStore final : public SettingsStore {
 public:
  explicit PgSettingsStore(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

  Result<std::optional<std::string>> get(const std::string& name) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::optional<std::string>> {
      auto rows = c.run("settings_get", "SELECT value FROM settings WHERE name = $1",
                        Params().add(name), "settings get");
      if (!rows) return tl::unexpected(rows.error());
      if (rows->empty()) return std::optional<std::string>();
      return std::optional<std::string>(rows->get_text(0, 0));
    });
  }

  Result<std::string> put_if_absent(const std::string& name, const std::string& value) override {
    constexpr std::string_view kWhat = "settings put";
    if (name.empty()) return invalid(kWhat, "name is empty");
    return with_connection(*pool_, [&](Connection& c) -> Result<std::string> {
      // ON CONFLICT DO NOTHING waits for a concurrent insert of the same name to commit; the
      // SELECT after it then sees the winner's value.
      auto inserted = c.run("settings_put",
                            "INSERT INTO settings (name, value) VALUES ($1, $2) "
                            "ON CONFLICT (name) DO NOTHING",
                            Params().add(name).add(value), kWhat);
      if (!inserted) return tl::unexpected(inserted.error());
      auto rows = c.run("settings_get", "SELECT value FROM settings WHERE name = $1",
                        Params().add(name), kWhat);
      if (!rows) return tl::unexpected(rows.error());
      if (rows->empty()) return make_error(ErrorCode::kIo, "settings put: the value vanished");
      return rows->get_text(0, 0);
    });
  }

 private:
  std::shared_ptr<pg::Pool> pool_;
};

}  // namespace

std::unique_ptr<SiteStore> make_pg_site_store(std::shared_ptr<pg::Pool> pool) {
  return std::make_unique<PgSiteStore>(std::move(pool));
}

std::unique_ptr<SettingsStore> make_pg_settings_store(std::shared_ptr<pg::Pool> pool) {
  return std::make_unique<PgSettingsStore>(std::move(pool));
}

Result<std::size_t> pg_import_subscriptions(pg::Pool& pool,
                                            const std::vector<Subscription>& subscriptions) {
  constexpr std::string_view kWhat = "import subscriptions";
  constexpr std::size_t kBatch = 5000;
  for (const Subscription& s : subscriptions) {
    if (auto ok = validate_subscription(s); !ok) return tl::unexpected(ok.error());
  }
  return with_connection(pool, [&](Connection& c) -> Result<std::size_t> {
    std::size_t stored = 0;
    for (std::size_t begin = 0; begin < subscriptions.size(); begin += kBatch) {
      const std::size_t end = std::min(subscriptions.size(), begin + kBatch);
      // ON CONFLICT cannot touch one row twice in a statement: keep the last line of each
      // endpoint in the batch (what upserting them in order would leave).
      std::unordered_map<std::string_view, std::size_t> last;
      for (std::size_t i = begin; i < end; ++i) last[subscriptions[i].endpoint] = i;
      std::vector<std::string_view> endpoints, p256dh, auth;
      std::vector<std::int64_t> categories, created, updated;
      for (std::size_t i = begin; i < end; ++i) {
        const Subscription& s = subscriptions[i];
        if (last[s.endpoint] != i) continue;
        endpoints.push_back(s.endpoint);
        p256dh.push_back(s.p256dh);
        auth.push_back(s.auth);
        categories.push_back(s.categories);
        created.push_back(s.created_at);
        updated.push_back(s.updated_at);
      }
      Params p;
      p.add_text_array(endpoints)
          .add_text_array(p256dh)
          .add_text_array(auth)
          .add_int_array(categories)
          .add_int_array(created)
          .add_int_array(updated);
      auto rows = c.run(
          "site_import_subscriptions",
          "INSERT INTO subscriptions (endpoint, p256dh, auth, categories, created_at, updated_at) "
          "SELECT e, p, a, c, cr, up FROM unnest($1::text[], $2::text[], $3::text[], "
          "$4::bigint[], $5::bigint[], $6::bigint[]) WITH ORDINALITY AS t(e, p, a, c, cr, up, n) "
          "ORDER BY n ON CONFLICT (endpoint) DO UPDATE SET p256dh = excluded.p256dh, "
          "auth = excluded.auth, categories = excluded.categories, "
          "updated_at = excluded.updated_at",
          p, kWhat);
      if (!rows) return tl::unexpected(rows.error());
      stored += static_cast<std::size_t>(rows->affected());
    }
    return stored;
  });
}

#undef FW_ARTICLE_COLUMNS
#undef FW_SUBSCRIPTION_COLUMNS
#undef FW_ALERT_COLUMNS
#undef FW_TOKEN_COLUMNS
#undef FW_LIVE_UPDATE_COLUMNS

}  // namespace flashwire::store
