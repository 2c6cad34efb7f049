// The fan-out engine behind `flashwire serve`: takes confirmed alerts from the newsroom
// (news::AlertQueue), sends each to every subscription of its category through the
// pipeline (fanout/pipeline.h), and records progress durably (store/delivery_store.h).
//
//   enqueue(id) → [engine thread] begin delivery → StoreSource: shards of the site store's
//   subscriptions (open shards of an earlier run first) → run_pipeline → StoreSink: complete the
//   shard in the delivery store, delete gone subscriptions → finish: alert "sent".
//
// - Alerts are sent one after another, in the order they were confirmed.
// - start() resumes every alert the site store still says is "sending" (a crash or a stop
//   mid-fan-out): open shards are sent again, then the walk goes on from the saved cursor.
// - cancel(id) stops a running fan-out within one request round; the newsroom marks the alert
//   "cancelled" in the site store first, so a restart does not resume it.
// - A push service rejecting our VAPID credentials is logged as an error and kept as the
//   delivery's error, shown to editors.
// - The engine opens its own connections to the site and delivery stores; every use of them
//   (sender threads, the engine thread, delivery() from the server thread) takes one mutex.
//
// Thread safety: enqueue/cancel/delivery/metrics_text may be called from any thread.
#pragma once

#include <atomic>
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
#include "fanout/pipeline.h"
#include "news/alert_queue.h"
#include "store/delivery_store.h"
#include "store/site_store.h"
#include "webpush/push_hosts.h"
#include "webpush/vapid.h"

namespace flashwire::fanout {

struct EngineConfig {
  std::string site_db_path;      // the site store's file (its own connection is opened)
  std::string delivery_db_path;  // e.g. data/delivery.db
  std::string icon_url;          // absolute URL of the notification icon
  std::size_t shard_size = 500;  // subscriptions per shard: the most sent twice after a crash,
                                 // per sender thread
  PipelineOptions pipeline;
};

class FanoutEngine final : public news::AlertQueue {
 public:
  // Opens both stores. Errors: a one-line reason (file cannot be opened, not ours).
  static tl::expected<std::unique_ptr<FanoutEngine>, std::string> create(
      EngineConfig config, webpush::VapidTokenCache& vapid, webpush::PushHostPolicy hosts,
      const Clock& clock);
  ~FanoutEngine() override;

  // Starts the engine thread and queues the alerts left "sending". Call once.
  tl::expected<void, std::string> start();
  // Stops sending at once: requests in flight are abandoned, their shards stay open and are
  // sent again when the alert resumes on next start. Blocks until the engine thread has ended.
  void stop();

  void enqueue(std::int64_t alert_id) override;
  void cancel(std::int64_t alert_id) override;
  std::optional<store::Delivery> delivery(std::int64_t alert_id) override;

  // Prometheus text: messages by outcome, requests, in flight, alerts by final state.
  std::string metrics_text() const;

 private:
  FanoutEngine(EngineConfig config, webpush::VapidTokenCache& vapid, webpush::PushHostPolicy hosts,
               const Clock& clock, std::unique_ptr<store::SiteStore> site,
               std::unique_ptr<store::DeliveryStore> deliveries);
  void loop();
  void deliver(std::int64_t alert_id);
  void delete_pending_gone();

  EngineConfig config_;
  webpush::VapidTokenCache& vapid_;
  const webpush::PushHostPolicy hosts_;
  const Clock& clock_;

  mutable std::mutex store_mutex_;  // guards both stores
  std::unique_ptr<store::SiteStore> site_;
  std::unique_ptr<store::DeliveryStore> deliveries_;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::int64_t> queue_;
  bool stopping_ = false;
  std::int64_t current_ = 0;  // the alert being sent, 0 for none
  std::atomic<bool> cancel_current_{false};
  std::thread thread_;

  LiveCounters totals_;          // all alerts since start
  LiveCounters current_counts_;  // the alert being sent (reset per alert)
  std::atomic<std::uint64_t> alerts_done_{0};
  std::atomic<std::uint64_t> alerts_cancelled_{0};
  std::atomic<std::uint64_t> alerts_failed_{0};
};

// The JSON payload the service worker (web/sw.js) shows: {"id", "title", "body", "url",
// "icon", "image"?, "category", "tag"}. The tag is the alert id, so a duplicate replaces the
// notification already shown.
webpush::Bytes alert_payload(const store::Alert& alert, const std::string& icon_url,
                             const std::string& image_url);

}  // namespace flashwire::fanout
