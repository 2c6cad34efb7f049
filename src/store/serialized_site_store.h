// A SiteStore that can be shared between threads: every call to the store it wraps is made under
// one mutex, so the wrapped store (one thread at a time, site_store.h) sees one call at a time.
//
// Why a lock and not one store per thread: the site's and newsroom's handlers are shared by the
// HTTP server's threads (http/server.h), and what readers ask for most is served from the site's
// render cache without the store; the calls that reach it are short. Each call stays atomic as
// the wrapped store makes it; a sequence of calls is not (as with several nodes on one database).
//
// Ownership: `inner` is not owned and must outlive this object. Thread safety: any thread.
#pragma once

#include <mutex>

#include "store/site_store.h"

namespace flashwire::store {

class SerializedSiteStore final : public SiteStore {
 public:
  explicit SerializedSiteStore(SiteStore& inner) : inner_(inner) {}

  Result<std::int64_t> create_article(const Article& article) override {
    const std::lock_guard lock(mutex_);
    return inner_.create_article(article);
  }
  Status update_article(const Article& article) override {
    const std::lock_guard lock(mutex_);
    return inner_.update_article(article);
  }
  Result<std::optional<Article>> find_article(std::int64_t id) override {
    const std::lock_guard lock(mutex_);
    return inner_.find_article(id);
  }
  Result<std::optional<Article>> find_article_by_slug(const std::string& slug) override {
    const std::lock_guard lock(mutex_);
    return inner_.find_article_by_slug(slug);
  }
  Result<std::vector<Article>> latest_articles(CategorySet category, std::size_t limit) override {
    const std::lock_guard lock(mutex_);
    return inner_.latest_articles(category, limit);
  }
  Result<std::size_t> article_count() override {
    const std::lock_guard lock(mutex_);
    return inner_.article_count();
  }
  Result<std::vector<Article>> draft_articles(std::size_t limit) override {
    const std::lock_guard lock(mutex_);
    return inner_.draft_articles(limit);
  }
  Status put_editor_subscription(const EditorSubscription& subscription) override {
    const std::lock_guard lock(mutex_);
    return inner_.put_editor_subscription(subscription);
  }
  Result<std::optional<EditorSubscription>> find_editor_subscription(
      std::int64_t token_id) override {
    const std::lock_guard lock(mutex_);
    return inner_.find_editor_subscription(token_id);
  }
  Result<bool> delete_editor_subscription(std::int64_t token_id,
                                          const std::string& endpoint) override {
    const std::lock_guard lock(mutex_);
    return inner_.delete_editor_subscription(token_id, endpoint);
  }
  Result<std::int64_t> upsert_subscription(const Subscription& subscription) override {
    const std::lock_guard lock(mutex_);
    return inner_.upsert_subscription(subscription);
  }
  Result<std::optional<Subscription>> find_subscription(const std::string& endpoint) override {
    const std::lock_guard lock(mutex_);
    return inner_.find_subscription(endpoint);
  }
  Result<bool> delete_subscription(const std::string& endpoint) override {
    const std::lock_guard lock(mutex_);
    return inner_.delete_subscription(endpoint);
  }
  Result<std::size_t> count_subscriptions(CategorySet categories) override {
    const std::lock_guard lock(mutex_);
    return inner_.count_subscriptions(categories);
  }
  Result<std::vector<Subscription>> subscriptions_page(Category category, std::int64_t after_id,
                                                       std::size_t limit) override {
    const std::lock_guard lock(mutex_);
    return inner_.subscriptions_page(category, after_id, limit);
  }
  Result<std::int64_t> create_alert(const Alert& alert) override {
    const std::lock_guard lock(mutex_);
    return inner_.create_alert(alert);
  }
  Result<GuardedWriteResult> guarded_alert_write(GuardedWrite write, const Alert& alert,
                                                 std::size_t newest,
                                                 const AlertGuard& guard) override {
    const std::lock_guard lock(mutex_);
    return inner_.guarded_alert_write(write, alert, newest, guard);
  }
  Status set_alert_status(std::int64_t id, AlertStatus status) override {
    const std::lock_guard lock(mutex_);
    return inner_.set_alert_status(id, status);
  }
  Result<bool> transition_alert(std::int64_t id, AlertStatus from, AlertStatus to) override {
    const std::lock_guard lock(mutex_);
    return inner_.transition_alert(id, from, to);
  }
  Result<std::vector<Alert>> alerts_with_status(AlertStatus status, std::size_t limit) override {
    const std::lock_guard lock(mutex_);
    return inner_.alerts_with_status(status, limit);
  }
  Result<std::optional<Alert>> find_alert(std::int64_t id) override {
    const std::lock_guard lock(mutex_);
    return inner_.find_alert(id);
  }
  Result<std::vector<Alert>> recent_alerts(std::size_t limit) override {
    const std::lock_guard lock(mutex_);
    return inner_.recent_alerts(limit);
  }
  Result<bool> schedule_alert(std::int64_t id, std::int64_t send_at) override {
    const std::lock_guard lock(mutex_);
    return inner_.schedule_alert(id, send_at);
  }
  Result<std::vector<std::int64_t>> claim_due_alerts(std::int64_t now, std::size_t limit) override {
    const std::lock_guard lock(mutex_);
    return inner_.claim_due_alerts(now, limit);
  }
  Result<bool> record_alert_event(std::int64_t alert_id, std::int64_t subscription_id,
                                  AlertEvent event, std::int64_t at,
                                  BeaconArrival arrival = {}) override {
    const std::lock_guard lock(mutex_);
    return inner_.record_alert_event(alert_id, subscription_id, event, at, arrival);
  }
  Result<AlertReach> alert_reach(std::int64_t alert_id) override {
    const std::lock_guard lock(mutex_);
    return inner_.alert_reach(alert_id);
  }
  Status record_optin(std::int64_t day, CategorySet category, PageType page,
                      OptinStep step) override {
    const std::lock_guard lock(mutex_);
    return inner_.record_optin(day, category, page, step);
  }
  Result<std::vector<OptinCount>> optin_counts(std::int64_t from_day) override {
    const std::lock_guard lock(mutex_);
    return inner_.optin_counts(from_day);
  }
  Result<AlertEngagement> alert_engagement(std::int64_t alert_id) override {
    const std::lock_guard lock(mutex_);
    return inner_.alert_engagement(alert_id);
  }
  Result<std::int64_t> create_token(const ApiToken& token) override {
    const std::lock_guard lock(mutex_);
    return inner_.create_token(token);
  }
  Result<std::optional<ApiToken>> find_token_by_hash(const std::string& secret_hash) override {
    const std::lock_guard lock(mutex_);
    return inner_.find_token_by_hash(secret_hash);
  }
  Result<std::vector<ApiToken>> list_tokens() override {
    const std::lock_guard lock(mutex_);
    return inner_.list_tokens();
  }
  Status revoke_token(const std::string& name) override {
    const std::lock_guard lock(mutex_);
    return inner_.revoke_token(name);
  }
  Status append_audit(const AuditEntry& entry) override {
    const std::lock_guard lock(mutex_);
    return inner_.append_audit(entry);
  }
  Result<std::vector<AuditEntry>> recent_audit(std::size_t limit,
                                               std::int64_t before_id = 0) override {
    const std::lock_guard lock(mutex_);
    return inner_.recent_audit(limit, before_id);
  }
  Result<std::int64_t> add_live_update(const LiveUpdate& update) override {
    const std::lock_guard lock(mutex_);
    return inner_.add_live_update(update);
  }
  Result<std::vector<LiveUpdate>> recent_live_updates(std::int64_t article_id,
                                                      std::size_t limit) override {
    const std::lock_guard lock(mutex_);
    return inner_.recent_live_updates(article_id, limit);
  }
  Result<std::vector<LiveUpdate>> live_updates_after(std::int64_t article_id, std::int64_t after_id,
                                                     std::size_t limit) override {
    const std::lock_guard lock(mutex_);
    return inner_.live_updates_after(article_id, after_id, limit);
  }
  Result<std::optional<LiveUpdate>> find_live_update(std::int64_t id) override {
    const std::lock_guard lock(mutex_);
    return inner_.find_live_update(id);
  }
  Status edit_live_update(std::int64_t id, const std::string& body_markdown,
                          std::int64_t edited_at) override {
    const std::lock_guard lock(mutex_);
    return inner_.edit_live_update(id, body_markdown, edited_at);
  }
  Status delete_live_update(std::int64_t id) override {
    const std::lock_guard lock(mutex_);
    return inner_.delete_live_update(id);
  }
  Status pin_live_update(std::int64_t article_id, std::int64_t id) override {
    const std::lock_guard lock(mutex_);
    return inner_.pin_live_update(article_id, id);
  }
  Result<std::optional<LiveUpdate>> pinned_live_update(std::int64_t article_id) override {
    const std::lock_guard lock(mutex_);
    return inner_.pinned_live_update(article_id);
  }
  Result<std::vector<LiveUpdate>> live_updates_changed(std::int64_t article_id,
                                                       std::int64_t after_revision,
                                                       std::size_t limit) override {
    const std::lock_guard lock(mutex_);
    return inner_.live_updates_changed(article_id, after_revision, limit);
  }
  Result<std::vector<ArticleMatch>> search_articles(const std::string& query,
                                                    std::size_t limit) override {
    const std::lock_guard lock(mutex_);
    return inner_.search_articles(query, limit);
  }

 private:
  SiteStore& inner_;
  std::mutex mutex_;
};

}  // namespace flashwire::store
