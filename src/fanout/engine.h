// The fan-out engine behind `flashwire serve`: takes confirmed alerts from the newsroom
// (news::AlertQueue), sends each to every subscription of its category through the
// pipeline (fanout/pipeline.h), and records progress durably (store/delivery_store.h).
//
//   enqueue(id) → [engine thread] begin delivery → StoreSource: shards of the site store's
//   subscriptions (open shards of an earlier run first) → run_pipeline → StoreSink: complete the
//   shard in the delivery store, delete gone subscriptions → finish: alert "sent".
//   Each target's push service is classified once when its shard is read; the shard's
//   completion carries its targeted and accepted counts per service (one store call, or with
//   leases the one completion transaction), so they are added exactly once per shard.
//
// - Alerts are sent one after another, in the order they were confirmed.
// - start() resumes every alert the site store still says is "sending" (a crash or a stop
//   mid-fan-out): open shards are sent again, then the walk goes on from the saved cursor.
// - cancel(id) stops a running fan-out within one request round; the newsroom marks the alert
//   "cancelled" in the site store first, so a restart does not resume it.
// - A push service rejecting our VAPID credentials is logged as an error and kept as the
//   delivery's error, shown to editors.
// - Every store call is checked. A store failure that stops the fan-out (the audience cannot be
//   read, progress cannot be recorded) ends the alert "failed" with the reason as the delivery's
//   error; a failing clean-up (deleting gone subscriptions) is logged and retried with the next
//   alert. Only an alert that cannot even be marked failed stays "sending" and is resumed on the
//   next start.
// - No exception leaves the engine thread: one thrown while an alert is sent is logged once and
//   fails that alert with the reason; the engine goes on with the next one.
// - Several nodes (a store with shard leases, store::ShardLeases: PostgreSQL): every node's
//   engine polls the alerts left "sending" at least once per poll interval (and at once when an
//   alert is confirmed on it), plans an alert's audience into shards once (whichever node comes
//   first), and sends the shards it claims under a lease, renewed while it sends. The node that
//   finds every shard done marks the alert "sent" (compare-and-set: exactly once). A node that
//   dies leaves its shards to the others once their leases run out. Each node checks the alert's
//   status at least every half second while it sends and stops when it is no longer "sending"
//   (a cancel on any node). A store failure ends the node's run, not the alert: the node logs
//   the fault once, counts it, and tries again with backoff until the store answers.
//   With a store of one node (SQLite) the engine walks the audience itself, as below.
// - The engine names no storage technology: it is handed the three narrow interfaces below
//   (src/app/ adapts the SQLite stores) and a Clock for the fan-out's timestamps and deadlines.
//   EngineDeps also carries the RandomSource the pipeline draws message keys, salts and retry
//   jitter from (it must be thread-safe: the sender threads share it).
//
// Thread safety: enqueue/cancel/delivery/metrics_text may be called from any thread. The
// engine uses its stores from its own thread and from the pipeline's sender threads, one call
// at a time (it serialises them with one mutex), and from delivery(); the stores need no
// locking of their own but must not be used by anyone else meanwhile.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tl/expected.hpp>

#include "common/clock.h"
#include "common/error.h"
#include "fanout/pipeline.h"
#include "news/alert_queue.h"
#include "store/delivery_store.h"
#include "store/error.h"
#include "store/site_store.h"
#include "webpush/push_hosts.h"
#include "webpush/random.h"
#include "webpush/vapid.h"

namespace flashwire::fanout {

// The alerts the engine sends: reading them, and moving their status on.
class AlertBook {
 public:
  virtual ~AlertBook() = default;
  virtual store::Result<std::optional<store::Alert>> find_alert(std::int64_t id) = 0;
  // Alerts with `status`, oldest first, at most `limit`.
  virtual store::Result<std::vector<store::Alert>> alerts_with_status(store::AlertStatus status,
                                                                      std::size_t limit) = 0;
  // The image URL of an article ("" when it has none); nullopt if the article does not exist.
  virtual store::Result<std::optional<std::string>> article_image(std::int64_t article_id) = 0;
  // Compare-and-set: moves the alert to `to` only if its status is `from` now. True when it
  // moved, false when another status was there first; kNotFound if absent.
  virtual store::Result<bool> transition_alert(std::int64_t id, store::AlertStatus from,
                                               store::AlertStatus to) = 0;
};

// The audience: subscriptions by category, and the removal of those found gone.
class SubscriptionReader {
 public:
  virtual ~SubscriptionReader() = default;
  // Subscriptions that include `category`.
  virtual store::Result<std::size_t> count_subscriptions(store::Category category) = 0;
  // Subscriptions that include `category` with id > after_id, ascending by id, at most `limit`.
  virtual store::Result<std::vector<store::Subscription>> subscriptions_page(
      store::Category category, std::int64_t after_id, std::size_t limit) = 0;
  // Deletes the subscription with this endpoint; false if there was none.
  virtual store::Result<bool> delete_subscription(const std::string& endpoint) = 0;
};

// A store::SiteStore seen as the two interfaces above. Does not own the store.
class SiteStoreView final : public AlertBook, public SubscriptionReader {
 public:
  explicit SiteStoreView(store::SiteStore& site) : site_(site) {}
  store::Result<std::optional<store::Alert>> find_alert(std::int64_t id) override;
  store::Result<std::vector<store::Alert>> alerts_with_status(store::AlertStatus status,
                                                              std::size_t limit) override;
  store::Result<std::optional<std::string>> article_image(std::int64_t article_id) override;
  store::Result<bool> transition_alert(std::int64_t id, store::AlertStatus from,
                                       store::AlertStatus to) override;
  store::Result<std::size_t> count_subscriptions(store::Category category) override;
  store::Result<std::vector<store::Subscription>> subscriptions_page(store::Category category,
                                                                     std::int64_t after_id,
                                                                     std::size_t limit) override;
  store::Result<bool> delete_subscription(const std::string& endpoint) override;

 private:
  store::SiteStore& site_;
};

// What the engine is handed. Every reference must outlive the engine.
struct EngineDeps {
  AlertBook& alerts;
  SubscriptionReader& subscriptions;
  store::DeliveryStore& deliveries;
  webpush::VapidTokenCache& vapid;
  const webpush::PushHostPolicy& hosts;
  const Clock& clock;
  webpush::RandomSource& random;
};

struct EngineConfig {
  std::string icon_url;  // absolute URL of the notification icon
  // The origin Flashwire's own push service's endpoints begin with ("" when it does not run):
  // its subscriptions count as "own" in the per-service split (news::classify_push_service).
  std::string own_push_origin;
  // With shard leases only: this node's id in the store ([node] id, or host:pid), the lease a
  // node holds a shard under (renewed every third of it while it sends; a dead node's shards
  // wait this long), and how often the node looks for alerts to help with.
  std::string node_id = "node";
  std::chrono::milliseconds lease{10000};
  std::chrono::milliseconds poll_interval{1000};
  std::size_t shard_size = 500;  // subscriptions per shard: the most sent twice after a crash,
                                 // per sender thread
  PipelineOptions pipeline;
};

class FanoutEngine final : public news::AlertQueue {
 public:
  // Errors: kInvalid with a one-line reason (a configuration value out of range).
  static tl::expected<std::unique_ptr<FanoutEngine>, Error> create(EngineConfig config,
                                                                   EngineDeps deps);
  ~FanoutEngine() override;

  // Starts the engine thread and queues the alerts left "sending". Call once. Errors: the store
  // cannot list the alerts left sending (its kind, store::error_kind: kUnavailable for I/O).
  tl::expected<void, Error> start();
  // Stops sending at once: requests in flight are abandoned, their shards stay open and are
  // sent again when the alert resumes on next start. Blocks until the engine thread has ended.
  void stop();

  void enqueue(std::int64_t alert_id) override;
  void cancel(std::int64_t alert_id) override;
  std::optional<store::Delivery> delivery(std::int64_t alert_id) override;

  // Prometheus text: messages by outcome, requests, in flight, alerts by final state, store
  // faults (with shard leases).
  std::string metrics_text() const;

 private:
  FanoutEngine(EngineConfig config, EngineDeps deps);
  void loop();
  void deliver(std::int64_t alert_id);
  // Ends the alert "failed" with `reason` as its delivery's error. Caller holds store_mutex_.
  void fail_alert(std::int64_t alert_id, const std::string& reason);
  void delete_pending_gone();

  // With shard leases (several nodes).
  void lease_loop();
  void poll_sending();
  void take_part(const store::Alert& alert);
  // Ends a cancelled alert's delivery "cancelled" unless it has ended. Caller holds
  // store_mutex_.
  void record_cancelled(std::int64_t alert_id);
  // A store call failed: logged once per outage, counted; the next poll waits longer.
  void store_fault(const std::string& what);
  void store_ok();

  const EngineConfig config_;
  const EngineDeps deps_;

  mutable std::mutex store_mutex_;  // one store call at a time, whichever thread makes it

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::int64_t> queue_;
  std::vector<std::int64_t> cancelled_;  // with shard leases: cancels to record
  bool stopping_ = false;
  std::int64_t current_ = 0;  // the alert being sent, 0 for none
  std::atomic<bool> cancel_current_{false};
  std::thread thread_;

  LiveCounters totals_;          // all alerts since start
  LiveCounters current_counts_;  // the alert being sent (reset per alert)
  std::atomic<std::uint64_t> alerts_done_{0};
  std::atomic<std::uint64_t> alerts_cancelled_{0};
  std::atomic<std::uint64_t> alerts_failed_{0};

  store::ShardLeases* const leases_;      // nullptr: one node
  std::chrono::milliseconds backoff_{0};  // 0: no outage; engine thread only
  bool poll_failed_ = false;              // a store call of this poll failed; engine thread only
  std::atomic<std::uint64_t> store_faults_{0};
  std::atomic<std::uint64_t> shards_taken_over_{0};
};

// The JSON payload the service worker (web/sw.js) shows: {"id", "title", "body", "url",
// "icon", "image"?, "category", "tag", "renotify"?}. The tag is the alert's topic when it has
// one (a live event's alerts replace each other on the device; "renotify": true so the newer
// one alerts again), else "alert-<id>", so a duplicate replaces the notification already shown.
// A test send (news::TestPusher, fanout/test_send.h) adds "test": true and is tagged
// "test-<id>" without "renotify", so it never replaces a notification of a real alert.
webpush::Bytes alert_payload(const store::Alert& alert, const std::string& icon_url,
                             const std::string& image_url, bool test = false);

}  // namespace flashwire::fanout
