// Storage for the news site and newsroom: articles, reader subscriptions, alerts, editor API
// tokens, the audit log and live-event updates.
//
// Contract:
// - Every mutating call is atomic: it happens completely or not at all; a failed call leaves
//   everything already stored as it was.
// - Validation of what readers and editors send (URLs, key formats, lengths) happens before the
//   store; the store rejects only what its schema cannot hold (kInvalid) and what conflicts with
//   stored data (kConflict, kNotFound).
// - Thread safety: one SiteStore object is used by one thread at a time; open one per thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "news/alert.h"
#include "news/article.h"
#include "news/category.h"
#include "news/push_service.h"
#include "store/error.h"

namespace flashwire::store {

// The domain values (news/) the store keeps, under the names store users have always used.
using news::Alert;
using news::AlertEngagement;
using news::AlertEvent;
using news::AlertStatus;
using news::Article;
using news::Category;
using news::category_name;
using news::CategorySet;
using news::LiveUpdate;
using news::parse_alert_event;
using news::parse_category;

struct Subscription {
  std::int64_t id = 0;
  std::string endpoint;        // unique
  std::string p256dh;          // base64url, validated before storing
  std::string auth;            // base64url, validated before storing
  CategorySet categories = 0;  // never 0 for a stored subscription
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

struct ApiToken {
  std::int64_t id = 0;
  std::string name;                 // unique, e.g. "desk-ana"
  std::string secret_hash;          // hex SHA-256 of the secret; the secret is never stored
  std::vector<std::string> scopes;  // e.g. "articles:write", "alerts:send"
  std::int64_t created_at = 0;
  bool revoked = false;
};

// Where a subscription's endpoint is hosted, for the per-service split of an alert's analytics.
// Classified from the endpoint's origin when a beacon is counted (news::classify_push_service);
// the endpoint itself is never copied into analytics. Stored as its number.
using PushService = news::PushServiceKind;
inline constexpr std::size_t kPushServiceCount = 5;

// Where and when a beacon arrived, stored with it: the server's arrival time (never the
// reader's clock) is what time to device is measured with.
struct BeaconArrival {
  std::int64_t at_ms = 0;  // Unix ms; 0: unknown (not used for time to device)
  PushService service = PushService::kOther;
};

// What the beacons of one alert say, for its analytics (newsroom/alert_analytics.h).
struct AlertReach {
  // Arrival times (Unix ms) of the "received" beacons that have one, ascending.
  std::vector<std::int64_t> received_at_ms;
  // Beacons counted per push service (index: PushService) and event (index: AlertEvent).
  std::array<std::array<std::uint64_t, 4>, kPushServiceCount> by_service{};
};

// The opt-in funnel: first-party beacons from the readers' opt-in card, counted per UTC day,
// category and page type. Counters only: nothing about the reader is kept.
enum class OptinStep : std::uint8_t {
  kShown = 0,
  kClicked = 1,
  kGranted = 2,
  kDenied = 3,
  kSubscribed = 4,
  kUnsubscribed = 5
};
inline constexpr std::size_t kOptinStepCount = 6;
enum class PageType : std::uint8_t { kOther = 0, kHome = 1, kArticle = 2, kLive = 3, kCategory = 4 };
inline constexpr std::size_t kPageTypeCount = 5;

struct OptinCount {
  std::int64_t day = 0;        // days since the Unix epoch (UTC)
  CategorySet category = 0;    // one category, or 0 for a page of none
  PageType page = PageType::kOther;
  std::array<std::uint64_t, kOptinStepCount> steps{};  // index: OptinStep
};

// An editor's own browser subscription, kept for test sends of alerts (one per editor token).
// Stored apart from readers' subscriptions: it is never part of any audience. Checked like a
// reader's subscription before it is stored (webpush/push_subscription.h).
struct EditorSubscription {
  std::int64_t token_id = 0;  // the editor token it belongs to (ApiToken::id)
  std::string endpoint;
  std::string p256dh;  // base64url
  std::string auth;    // base64url
  std::int64_t created_at = 0;
};

struct AuditEntry {
  std::int64_t id = 0;
  std::int64_t at = 0;
  std::string actor;   // token name
  std::string action;  // "alert.send", "article.publish", …
  std::string detail;  // short, human-readable; never secrets or subscription endpoints
};

// Search highlighting: SiteStore::search_articles puts these around each matched word. They are
// control characters no page text needs, so a page can escape the text and then turn exactly
// these into markup.
inline constexpr char kMarkStart = '\x02';
inline constexpr char kMarkEnd = '\x03';

// One published article that matched a search, best match first.
struct ArticleMatch {
  Article article;
  std::string headline;  // the headline with every matched word marked
  std::string snippet;   // a few words around the best match (standfirst or body), marked
};

// A write of an alert that the newsroom's guardrails (same alert twice, hourly cap) must see
// alone: see SiteStore::guarded_alert_write.
enum class GuardedWrite : std::uint8_t {
  kCreate = 0,    // insert the alert (as create_alert)
  kSend = 1,      // move draft `alert.id` to kSending (as transition_alert kQueued → kSending)
  kSchedule = 2,  // confirm draft `alert.id` for `alert.send_at` (as schedule_alert)
};

// The guardrails' look at the newest alerts, as they are inside the write's transaction: true to
// go on with the write, false to refuse it. Called once, on the caller's thread, while the store
// holds its lock: it must not call the store (nor block).
using AlertGuard = std::function<bool(const std::vector<Alert>& newest)>;

struct GuardedWriteResult {
  bool refused = false;  // the guard said no: nothing was written
  bool written = false;  // the alert was created or moved
  std::int64_t id = 0;   // the alert's id (the new one, for kCreate)
  // refused and written both false: the alert's status had moved on (the compare-and-set of
  // kSend or kSchedule found it confirmed, cancelled or scheduled by someone else).
};

class SiteStore {
 public:
  virtual ~SiteStore() = default;

  // Articles. create: kConflict if the slug exists. update: kNotFound if absent.
  virtual Result<std::int64_t> create_article(const Article& article) = 0;
  virtual Status update_article(const Article& article) = 0;
  virtual Result<std::optional<Article>> find_article(std::int64_t id) = 0;
  virtual Result<std::optional<Article>> find_article_by_slug(const std::string& slug) = 0;
  // Published articles, newest first; `category` 0 for all.
  virtual Result<std::vector<Article>> latest_articles(CategorySet category, std::size_t limit) = 0;
  virtual Result<std::size_t> article_count() = 0;
  // Unpublished articles (drafts), most recently updated first, at most `limit`: the whole
  // desk's drafts, whoever wrote them. created_by is kept from create_article (update_article
  // leaves it as it was).
  virtual Result<std::vector<Article>> draft_articles(std::size_t limit) = 0;

  // Subscriptions, keyed by endpoint. upsert: creates, or replaces keys and categories of the
  // subscription with that endpoint (idempotent). Returns its id.
  virtual Result<std::int64_t> upsert_subscription(const Subscription& subscription) = 0;
  virtual Result<std::optional<Subscription>> find_subscription(const std::string& endpoint) = 0;
  // Deletes; returns false if absent.
  virtual Result<bool> delete_subscription(const std::string& endpoint) = 0;
  // Number of subscriptions that include any category in `categories`.
  virtual Result<std::size_t> count_subscriptions(CategorySet categories) = 0;
  // Subscriptions that include `category` with id > after_id, ascending, at most `limit`:
  // the fan-out pages through an audience with this without holding it all in memory.
  virtual Result<std::vector<Subscription>> subscriptions_page(Category category,
                                                               std::int64_t after_id,
                                                               std::size_t limit) = 0;

  // Alerts.
  virtual Result<std::int64_t> create_alert(const Alert& alert) = 0;
  virtual Status set_alert_status(std::int64_t id, AlertStatus status) = 0;
  // Compare-and-set: moves the alert to `to` only if its status is `from` now. True when it
  // moved, false when it had another status (someone else moved it first); kNotFound if absent.
  // The fan-out and the newsroom use it so that "sent" never overwrites "cancelled".
  virtual Result<bool> transition_alert(std::int64_t id, AlertStatus from, AlertStatus to) = 0;
  // Alerts with `status`, oldest first, at most `limit` (the fan-out resumes kSending ones).
  virtual Result<std::vector<Alert>> alerts_with_status(AlertStatus status, std::size_t limit) = 0;
  virtual Result<std::optional<Alert>> find_alert(std::int64_t id) = 0;
  virtual Result<std::vector<Alert>> recent_alerts(std::size_t limit) = 0;
  // Confirms a draft for later: sets `scheduled` and `send_at` only if the alert is kQueued and
  // not yet scheduled (compare-and-set). True when it did; false when the alert had moved on
  // (confirmed, cancelled or scheduled by someone else); kNotFound if absent.
  virtual Result<bool> schedule_alert(std::int64_t id, std::int64_t send_at) = 0;
  // Claims scheduled alerts that are due (send_at <= now): moves them kQueued → kSending in one
  // conditional update and returns the ids it moved, at most `limit`, oldest first. Of several
  // callers (nodes) racing for one alert exactly one gets its id.
  virtual Result<std::vector<std::int64_t>> claim_due_alerts(std::int64_t now,
                                                             std::size_t limit) = 0;
  // Reads the newest `newest` alerts (as recent_alerts), asks `guard`, and only if it agrees
  // makes the write — all under one lock that every guarded_alert_write of the store's data
  // takes (SQLite: one BEGIN IMMEDIATE transaction; PostgreSQL: a transaction holding an
  // advisory lock on a fixed key), so of two writes at once (threads, processes, nodes) the
  // second's guard sees the first's result. Other writes do not take the lock: only the
  // guardrails' view is serialised. Errors: those of create_alert, transition_alert and
  // schedule_alert for the same write (kNotFound for a missing alert or article, kInvalid);
  // nothing is written on any error.
  virtual Result<GuardedWriteResult> guarded_alert_write(GuardedWrite write, const Alert& alert,
                                                         std::size_t newest,
                                                         const AlertGuard& guard) = 0;
  // Counts one beacon of a subscription for an alert: true when counted, false when that
  // subscription had already reported this event for this alert (each counts once). kNotFound
  // unless the alert was sent (became kSending at some point: a draft, or a draft cancelled
  // before sending, never counts) to a category the subscription has.
  // `arrival` is kept with the beacon (its time and push service), for the alert's analytics.
  virtual Result<bool> record_alert_event(std::int64_t alert_id, std::int64_t subscription_id,
                                          AlertEvent event, std::int64_t at,
                                          BeaconArrival arrival = {}) = 0;
  // The counts so far (all zero for an alert without beacons). kNotFound if it does not exist.
  virtual Result<AlertEngagement> alert_engagement(std::int64_t alert_id) = 0;

  // The beacons of an alert as analytics need them (AlertReach). kNotFound if it does not
  // exist. Reads one row per received beacon: an alert's audience at most.
  virtual Result<AlertReach> alert_reach(std::int64_t alert_id) = 0;

  // Opt-in funnel: adds one to the counter of (day, category, page, step).
  // kInvalid for a category that is not one category or 0.
  virtual Status record_optin(std::int64_t day, CategorySet category, PageType page,
                              OptinStep step) = 0;
  // Counters of days >= from_day, by day, category and page type, ascending.
  virtual Result<std::vector<OptinCount>> optin_counts(std::int64_t from_day) = 0;

  // API tokens. create: kConflict if the name exists.
  virtual Result<std::int64_t> create_token(const ApiToken& token) = 0;
  virtual Result<std::optional<ApiToken>> find_token_by_hash(const std::string& secret_hash) = 0;
  virtual Result<std::vector<ApiToken>> list_tokens() = 0;
  virtual Status revoke_token(const std::string& name) = 0;  // kNotFound if absent

  // Editors' own subscriptions for test sends, one per token (never in an audience).
  // put: stores it, replacing the token's earlier one; kNotFound if the token does not exist.
  virtual Status put_editor_subscription(const EditorSubscription& subscription) = 0;
  virtual Result<std::optional<EditorSubscription>> find_editor_subscription(
      std::int64_t token_id) = 0;
  // Deletes the token's subscription; with a non-empty `endpoint` only if it is still that one
  // (a subscription found gone must not take a newer one with it). False if nothing was deleted.
  virtual Result<bool> delete_editor_subscription(std::int64_t token_id,
                                                  const std::string& endpoint) = 0;

  // Audit log (append-only).
  virtual Status append_audit(const AuditEntry& entry) = 0;
  // Newest first, at most `limit`; with `before_id` > 0 only entries with a smaller id (the next
  // page of a listing that ended at `before_id`).
  virtual Result<std::vector<AuditEntry>> recent_audit(std::size_t limit,
                                                       std::int64_t before_id = 0) = 0;

  // --- Live events: updates of a published live-category article ---
  // Appends an update; returns its id, greater than every id handed out before (ids are never
  // reused). kNotFound if `update.article_id` is not a published article in the live category;
  // kInvalid if body_markdown is empty. The id in the argument is ignored.
  virtual Result<std::int64_t> add_live_update(const LiveUpdate& update) = 0;
  // The article's updates, newest first (by id), at most `limit`. Empty for an unknown article.
  virtual Result<std::vector<LiveUpdate>> recent_live_updates(std::int64_t article_id,
                                                              std::size_t limit) = 0;
  // The article's updates with id > after_id, oldest first, at most `limit`: what a reader who
  // has seen everything up to `after_id` missed (Last-Event-ID on reconnect).
  virtual Result<std::vector<LiveUpdate>> live_updates_after(std::int64_t article_id,
                                                             std::int64_t after_id,
                                                             std::size_t limit) = 0;

  // --- The live desk: corrections, deletions and one pinned update per event ---
  // recent_live_updates and live_updates_after leave deleted updates out; these see them.
  // Each change below gives the updates it touches a new revision (LiveUpdate::revision), so
  // that whoever shows the event (another node) re-reads it with live_updates_changed.
  // One update by id, deleted or not.
  virtual Result<std::optional<LiveUpdate>> find_live_update(std::int64_t id) = 0;
  // Replaces the text of an update and sets its edited_at. kNotFound if absent or deleted;
  // kInvalid if `body_markdown` is empty.
  virtual Status edit_live_update(std::int64_t id, const std::string& body_markdown,
                                  std::int64_t edited_at) = 0;
  // Marks an update deleted (and unpinned). kNotFound if absent or already deleted.
  virtual Status delete_live_update(std::int64_t id) = 0;
  // Pins update `id` of event `article_id`, unpinning the one pinned before (at most one per
  // event); `id` 0 unpins without pinning another. Pinning the pinned one changes nothing.
  // kNotFound if `id` is not an update of that event or is deleted.
  virtual Status pin_live_update(std::int64_t article_id, std::int64_t id) = 0;
  // The event's pinned update, if any.
  virtual Result<std::optional<LiveUpdate>> pinned_live_update(std::int64_t article_id) = 0;
  // The event's updates whose revision is above `after_revision`, deleted ones included, in
  // revision order, at most `limit`.
  virtual Result<std::vector<LiveUpdate>> live_updates_changed(std::int64_t article_id,
                                                               std::int64_t after_revision,
                                                               std::size_t limit) = 0;

  // --- Search ---
  // Published articles whose headline, standfirst or body contain every word of `query` (the
  // last word also as a prefix: "elect" finds "election"), case and diacritics folded ("zurich"
  // finds "Zürich"), best match first (headline above standfirst above body), at most `limit`.
  // `query` is what a reader typed: words are site_validation::search_words (letters and
  // digits; everything else separates them, no operators; at most 12). A query without words
  // matches nothing. kInvalid when `query` is longer than 256 bytes. The SQLite and PostgreSQL
  // stores both search; a store without full-text search answers kUnsupported (this default), so
  // that the site can say so rather than fail.
  virtual Result<std::vector<ArticleMatch>> search_articles(const std::string& query,
                                                            std::size_t limit) {
    (void)query;
    (void)limit;
    return make_error(ErrorCode::kUnsupported, "search_articles: not supported by this store");
  }
};

}  // namespace flashwire::store
