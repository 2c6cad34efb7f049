// The newsroom's JSON API: editors write and publish articles, compose and send alerts, see
// audience sizes and read the audit log. Every request carries an editor token
// (newsroom/api_tokens.h) as `Authorization: Bearer fw_…`.
//
//   GET  /api/newsroom/articles                 articles:write  published articles, newest first;
//                                                               ?status=draft: every draft
//                                                               (with created_by), newest first
//   GET  /api/newsroom/articles/{id}            articles:write  one article, drafts included
//   POST /api/newsroom/articles                 articles:write  create → 201 {id, slug, url}
//   PUT  /api/newsroom/articles/{id}            articles:write  full update → 200
//   POST /api/newsroom/articles/{id}/publish    articles:write  publish now (idempotent) → 200
//   GET  /api/newsroom/audience                 alerts:send     {"breaking", "live", "exclusive"}
//   GET  /api/newsroom/alerts                   alerts:send     recent alerts, engagement, delivery
//   GET  /api/newsroom/alerts/{id}              alerts:send     one alert, engagement, delivery
//   POST /api/newsroom/alerts                   alerts:send     compose (a draft) → 201
//   POST /api/newsroom/alerts                   (also "send_at": RFC 3339, "force": true)
//   POST /api/newsroom/alerts/{id}/send         alerts:send     {"confirm": true} → 202, fan-out
//                                                               (or "scheduled" when send_at is
//                                                               ahead; "force": true)
//   POST /api/newsroom/alerts/{id}/cancel       alerts:send     a draft, or stop a fan-out → 200
//   POST /api/newsroom/alerts/{id}/test         alerts:send     the alert as composed, to this
//                                                               token's own subscription only →
//                                                               200 {sent, push_service, status};
//                                                               409 no_test_subscription or
//                                                               test_subscription_gone (deleted);
//                                                               502 push_failed; 429 (10 a minute)
//   GET|PUT|DELETE /api/newsroom/me/subscription alerts:send    the token's own browser
//                                                               subscription for test sends: PUT
//                                                               {"subscription": PushSubscription}
//                                                               (checked as a reader's); GET says
//                                                               whether one is stored and its push
//                                                               service, never endpoint or keys
// (editor_test_send.cc; a test send waits for the push service's answer, at most about 20 s, on
// the server's pool for blocking calls — http::Handler::blocks — and is audited as alert.test).
//   GET  /api/newsroom/alerts/{id}/events       alerts:send     Server-Sent Events: the alert as
//                                                               GET alerts/{id} answers it, again
//                                                               whenever it changes
//   GET  /api/newsroom/alerts/{id}/analytics.csv alerts:send    the alert's analytics as CSV
//   GET  /api/newsroom/optin?days=N             alerts:send     the opt-in funnel (1-90 days)
//   GET  /api/newsroom/audit[?before=ID]        tokens:admin    audit entries, newest first (100;
//                                                               before: older than entry ID)
//   GET  /api/newsroom/live/{slug}/updates      articles:write  a live event's updates, newest
//                                                               first (at most 100)
//   POST /api/newsroom/live/{slug}/updates      articles:write  {"body_markdown"} → 201 {id, url}
//                                                               on a published live event
//   PUT  /api/newsroom/live/{slug}/updates/{id} articles:write  {"body_markdown"}: correct it → 200
//   DELETE …/live/{slug}/updates/{id}           articles:write  delete it → 200
//   POST …/live/{slug}/updates/{id}/pin         articles:write  pin it (unpins the one before) →
//   200 DELETE …/live/{slug}/updates/{id}/pin       articles:write  unpin it → 200 POST
//   /api/newsroom/preview                  articles:write  {"body_markdown"} → {"html"}, as
//                                                               readers' pages render it
// (the live desk, live_desk.cc: an update must belong to the event named by {slug} and not be
// deleted, else 404; each change answers the update as stored now and is audited as live.edit,
// live.delete, live.pin or live.unpin).
//
// Sending is two steps so that one stray request cannot notify every reader: composing stores
// the alert with status kQueued but hands it to nobody (the API calls that status "draft");
// only /send with {"confirm": true} moves it (compare-and-set) from kQueued to kSending and calls
// AlertQueue::enqueue, exactly once per alert. Cancelling a kSending alert moves it to
// kCancelled first, then calls AlertQueue::cancel. An alert's "delivery" member is what
// AlertQueue::delivery reports (counts, state, failures by reason, acceptance latency), or null.
//
// Order of checks: token (401 with WWW-Authenticate: Bearer for a missing, malformed, unknown or
// revoked token, or 429 once the client address has failed too often — a valid token is never
// refused by that limit, so bad tokens from others cannot lock an editor out), route (404/405),
// scope (403 naming it), content type and size (415/413), then the fields, each with a 400
// naming it. Failed authentications with a token are audited as "auth.fail" (actor: the revoked
// token's name, or "-"; detail: why and the client address), within the per-address limit and
// at most `failed_auth_audited_per_minute` site-wide.
// Nothing is stored unless every check passes. There is no same-origin check: a bearer token is
// never sent by a browser on its own, so cross-site requests cannot carry one. The token secret
// is never logged, stored or echoed. Errors are JSON {"error", "message"}.
//
// Every change is recorded in the audit log (actor: the token's name) and announced through
// news::ContentEvents once it is stored: article_changed for every article created, updated or
// published (the site drops its rendered pages), live_update_posted for every live update (the
// site drops that event's page and streams the update to readers).
//
// Thread safety: handle() and the stream calls may be called from several threads at once (the
// HTTP server's), given a store that may be (store/serialized_site_store.h): the rate limiters
// are thread-safe and the alert streams are kept under a lock of their own.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "http/rate_limiter.h"
#include "http/server.h"
#include "news/alert_queue.h"
#include "news/content_events.h"
#include "news/test_push.h"
#include "store/site_store.h"
#include "webpush/push_hosts.h"

namespace boost::json {
class object;
}

namespace flashwire::newsroom {

struct NewsroomApiOptions {
  // The site's public origin, e.g. "https://news.example": an alert's absolute URL must be on it.
  std::string origin;
  // Failed authentications allowed per client address (the address http::RequestContext
  // resolves, behind trusted proxies the reader's own): `failed_auth_burst` at once, then
  // `failed_auth_per_minute` on average; beyond that a request from the address without a valid
  // token gets 429.
  double failed_auth_per_minute = 10;
  double failed_auth_burst = 10;
  // Failed authentications written to the audit log, all addresses together (burst and rate).
  double failed_auth_audited_per_minute = 60;
  // Markdown to the HTML readers' pages show (site::render_markdown in `flashwire serve`): the
  // live desk's preview and the "html" of listed updates. Unset: the preview answers 503
  // `preview_unavailable` and "html" is "" (the newsroom does not depend on the site).
  std::function<std::string(std::string_view)> render_markdown = {};
  // Guardrails (alert_guardrails.cc): alerts of one category going out in any hour, at most;
  // 0: no cap. `category_hourly_cap` overrides it per category (breaking, live, exclusive;
  // -1: use hourly_cap).
  std::int64_t hourly_cap = 0;
  std::array<std::int64_t, 3> category_hourly_cap{-1, -1, -1};
  // Test sends (editor_test_send.cc): the push-host policy an editor's own subscription is
  // checked against (the readers' one) and what sends one alert to it; both not owned, and must
  // outlive the API. Either unset: storing a subscription and test sends answer 503
  // `test_send_unavailable`.
  const webpush::PushHostPolicy* push_hosts = nullptr;
  news::TestPusher* test_pusher = nullptr;
  // The origin of the embedded push service ([push_service] public_url; "" when it does not
  // run), so that its subscriptions are named "own".
  std::string own_push_origin = {};
  // Test sends per token: `test_sends_per_minute` on average, as many at once.
  double test_sends_per_minute = 10;
};

// The HTTP handler for /api/newsroom and below (`flashwire serve` routes that prefix here);
// any other path is answered 404. Every answer carries Cache-Control: no-store.
class NewsroomApi final : public http::Handler {
 public:
  // `store`, `clock`, `queue` and `events` are not owned and must outlive the API.
  NewsroomApi(store::SiteStore& store, const Clock& clock, news::AlertQueue& queue,
              news::ContentEvents& events, NewsroomApiOptions options);

  ~NewsroomApi() override;

  http::Response handle(const http::Request& request, const http::RequestContext& context) override;
  // GET alerts/{id}/events is a stream (alert_analytics.cc): authenticated and checked like GET
  // alerts/{id}, whose answer is its first event.
  bool accepts_stream(const http::Request& request) const override;
  // POST alerts/{id}/test waits for the push service (editor_test_send.cc): the server answers it
  // from its pool for blocking calls, not from the thread its other connections share.
  bool blocks(const http::Request& request) const override;
  void start_stream(boost::beast::tcp_stream stream, http::Request request,
                    const http::RequestContext& context) override;
  void stop_streams() override;

  // The scheduler's step (alert_schedule.cc), called at least once a second on the API's
  // thread: claims the scheduled alerts that are due (store::SiteStore::claim_due_alerts, so
  // that of several nodes exactly one sends each) and hands them to the AlertQueue. Returns how
  // many it handed over; a store failure is returned as its error (store::error_kind: kUnavailable
  // for storage trouble), the message naming the call; the next step retries.
  tl::expected<std::size_t, Error> send_due_alerts();

 private:
  struct Call;   // one authenticated request being answered
  struct Route;  // a path pattern, its scope and the handler per method
  using Action = http::Response (NewsroomApi::*)(Call& call);
  // The API's routes, in the table at the top of newsroom_api.cc.
  static std::span<const Route> routes();

  http::Response answer(const http::Request& request, std::string_view path,
                        const std::string& client_address);
  http::Response route(Call& call);
  // One per route and method; `call.id` or `call.slug` is the path's {id} or {slug}.
  http::Response list_articles(Call& call);
  http::Response get_article(Call& call);
  http::Response create_article(Call& call);
  http::Response update_article(Call& call);
  http::Response publish_article(Call& call);
  http::Response audience(Call& call);
  http::Response list_alerts(Call& call);
  http::Response get_alert(Call& call);
  http::Response compose_alert(Call& call);
  http::Response send_alert(Call& call);
  http::Response cancel_alert(Call& call);
  http::Response audit(Call& call);
  // Alert analytics (alert_analytics.cc).
  http::Response get_alert_csv(Call& call);
  http::Response get_optin(Call& call);
  http::Response alert_view(std::int64_t id);  // GET alerts/{id}'s answer
  http::Response alert_csv(std::int64_t id);
  http::Response optin(std::string_view target);
  struct AlertStreams;  // the open alert streams and the timer that refreshes them
  void refresh_streams();
  http::Response list_live_updates(Call& call);
  http::Response post_live_update(Call& call);
  // The live desk (live_desk.cc).
  struct LiveTarget;
  boost::json::object live_update_json(const store::LiveUpdate& update) const;
  LiveTarget live_target(Call& call);
  http::Response after_live_change(Call& call, const LiveTarget& target,
                                   news::ContentEvents::LiveChange change, std::string action);
  http::Response edit_live_update(Call& call);
  http::Response delete_live_update(Call& call);
  http::Response pin_live_update(Call& call);
  http::Response unpin_live_update(Call& call);
  http::Response preview_markdown(Call& call);
  // The editor's own subscription and test sends (editor_test_send.cc).
  http::Response get_my_subscription(Call& call);
  http::Response put_my_subscription(Call& call);
  http::Response delete_my_subscription(Call& call);
  http::Response test_alert(Call& call);
  std::optional<http::Response> test_send_unavailable() const;
  std::string push_service_of(const std::string& endpoint) const;
  void record(const Call& call, std::string action, std::string detail);

  // Guardrails (alert_guardrails.cc). Each returns the refusal to answer, or nullopt to go on.
  // A refusal that `force` may override is not answered when `force` is set: its code is
  // appended to `overridden`, for the caller to audit once the step has succeeded.
  struct Guard {
    bool force = false;
    std::vector<std::string> overridden;
  };
  // The alert's link resolves to a published article, live event or reader page (url_not_found).
  std::optional<http::Response> check_link(const store::Alert& alert, Guard& guard);
  // No other alert of `newest` with the same title or URL went out (or is scheduled) within
  // 10 minutes of `at` (duplicate_alert).
  std::optional<http::Response> check_duplicate(const store::Alert& alert, std::int64_t at,
                                                const std::vector<store::Alert>& newest,
                                                Guard& guard) const;
  // Fewer than the category's hourly cap of `newest` went out in the hour before `at`
  // (rate_capped).
  std::optional<http::Response> check_rate(const store::Alert& alert, std::int64_t at,
                                           const std::vector<store::Alert>& newest,
                                           Guard& guard) const;
  // Makes `write` of `alert` (store::SiteStore::guarded_alert_write) if check_duplicate — and
  // with `rate` check_rate — let it, seeing the newest alerts in the same store transaction as
  // the write: two editors, threads or nodes writing at once take turns, and the second's check
  // sees the first's alert. Returns the refusal or store failure to answer, or what the store did.
  std::variant<http::Response, store::GuardedWriteResult> guarded_write(store::GuardedWrite write,
                                                                        const store::Alert& alert,
                                                                        std::int64_t at, bool rate,
                                                                        Guard& guard);
  // A confirmed alert must reach someone (empty_audience; never overridden).
  std::optional<http::Response> check_audience(std::size_t audience);
  void record_overrides(const Call& call, std::int64_t alert_id, const Guard& guard);

  store::SiteStore& store_;
  const Clock& clock_;
  news::AlertQueue& queue_;
  news::ContentEvents& events_;
  NewsroomApiOptions options_;
  http::RateLimiter failed_auth_;
  http::RateLimiter failed_auth_audit_;  // one key: the site-wide cap on auth.fail entries
  http::RateLimiter test_sends_;         // per token id
  struct AlertStreamsDeleter {
    void operator()(AlertStreams* streams) const;
  };
  // Guards streams_ and what it holds: streams start on any of the server's threads, and the
  // refresh timer fires on the thread of the first one.
  std::mutex streams_mutex_;
  std::unique_ptr<AlertStreams, AlertStreamsDeleter> streams_;  // created with the first stream
};

}  // namespace flashwire::newsroom
