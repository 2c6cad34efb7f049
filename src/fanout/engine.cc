#include "fanout/engine.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <exception>
#include <set>
#include <sstream>

#include "common/error.h"
#include "news/push_service.h"
#include "store/error_kind.h"

namespace flashwire::fanout {

namespace json = boost::json;

webpush::Bytes alert_payload(const store::Alert& alert, const std::string& icon_url,
                             const std::string& image_url, bool test) {
  json::object o{{"id", alert.id},
                 {"title", alert.title},
                 {"body", alert.body},
                 {"url", alert.url},
                 {"icon", icon_url},
                 {"category", std::string(store::category_name(alert.category))},
                 {"tag", alert.topic.empty() ? "alert-" + std::to_string(alert.id) : alert.topic}};
  // A topic's alerts (one live event) replace each other on the device; the newer one still
  // alerts the reader rather than swapping the text silently.
  if (!alert.topic.empty()) o["renotify"] = true;
  if (!image_url.empty()) o["image"] = image_url;
  if (test) {
    o["test"] = true;
    o["tag"] = "test-" + std::to_string(alert.id);
    o.erase("renotify");
  }
  const std::string text = json::serialize(o);
  return webpush::Bytes(text.begin(), text.end());
}

namespace {

std::string error_text(const store::Error& e) { return e.message; }

// A subscription as the pipeline sends to it, with its push service classified once here, so
// that every count of its shard can be split by service without looking at endpoints again.
Target to_target(store::Subscription&& s, std::string_view own_push_origin) {
  const auto service = news::classify_push_service(s.endpoint, own_push_origin);
  return {s.id, std::move(s.endpoint), std::move(s.p256dh), std::move(s.auth), service};
}

// After a shard is recorded: deletes its gone subscriptions from the site, then clears those
// deleted from the delivery store's queue. What cannot be deleted now stays queued there for the
// next alert (logged, never the endpoint).
void delete_gone(SubscriptionReader& site, store::DeliveryStore& deliveries,
                 const std::vector<store::GoneSubscription>& gone) {
  if (gone.empty()) return;
  std::vector<std::int64_t> deleted;
  for (const auto& g : gone) {
    auto removed = site.delete_subscription(g.endpoint);
    if (removed) {
      deleted.push_back(g.subscription_id);
    } else {
      spdlog::warn("fan-out: a gone subscription stays queued: {}", removed.error().message);
    }
  }
  if (auto cleared = deliveries.clear_gone(deleted); !cleared) {
    spdlog::warn("fan-out: gone subscriptions stay queued: {}", cleared.error().message);
  }
}

// A problem with the whole run: logged and kept with the alert's delivery record.
void record_problem(store::DeliveryStore& deliveries, std::int64_t alert_id,
                    const std::string& message) {
  spdlog::error("fan-out of alert {}: {}", alert_id, message);
  if (auto ok = deliveries.note_error(alert_id, message); !ok) {
    spdlog::warn("fan-out: cannot record the problem: {}", ok.error().message);
  }
}

// Shards of an alert's audience from the site store: first the shards an earlier run left open,
// then new ones from the delivery's cursor.
class StoreSource final : public TargetSource {
 public:
  StoreSource(std::mutex& mutex, SubscriptionReader& site, store::DeliveryStore& deliveries,
              std::int64_t alert_id, store::Category category, std::size_t shard_size,
              std::vector<store::ShardRange> redo, std::int64_t cursor,
              const std::string& own_push_origin)
      : mutex_(mutex),
        site_(site),
        deliveries_(deliveries),
        alert_id_(alert_id),
        category_(category),
        shard_size_(shard_size),
        redo_(std::move(redo)),
        cursor_(cursor),
        own_push_origin_(own_push_origin) {}

  tl::expected<std::optional<Shard>, Error> next_shard() override {
    std::lock_guard lock(mutex_);
    if (next_redo_ < redo_.size()) return reopen(redo_[next_redo_++]);
    auto page = site_.subscriptions_page(category_, cursor_, shard_size_);
    if (!page) {
      return tl::unexpected(
          Error{ErrorCode::kUnavailable, "read subscriptions: " + error_text(page.error())});
    }
    if (page->empty()) return std::optional<Shard>();
    Shard shard;
    shard.range = {cursor_, page->back().id};
    if (auto ok = deliveries_.open_shard(alert_id_, shard.range, page->size()); !ok) {
      return tl::unexpected(
          Error{ErrorCode::kUnavailable, "record shard: " + error_text(ok.error())});
    }
    cursor_ = shard.range.last_id;
    shard.targets.reserve(page->size());
    for (auto& s : *page) shard.targets.push_back(to_target(std::move(s), own_push_origin_));
    return std::optional<Shard>(std::move(shard));
  }

 private:
  // A shard an earlier run claimed: its subscriptions as they are now (gone ones deleted).
  tl::expected<std::optional<Shard>, Error> reopen(store::ShardRange range) {
    Shard shard;
    shard.range = range;
    std::int64_t after = range.after_id;
    while (after < range.last_id) {
      auto page = site_.subscriptions_page(category_, after, shard_size_);
      if (!page) {
        return tl::unexpected(
            Error{ErrorCode::kUnavailable, "read subscriptions: " + error_text(page.error())});
      }
      if (page->empty()) break;
      for (auto& s : *page) {
        if (s.id > range.last_id) break;
        shard.targets.push_back(to_target(std::move(s), own_push_origin_));
      }
      after = page->back().id;
    }
    return std::optional<Shard>(std::move(shard));
  }

  std::mutex& mutex_;
  SubscriptionReader& site_;
  store::DeliveryStore& deliveries_;
  const std::int64_t alert_id_;
  const store::Category category_;
  const std::size_t shard_size_;
  std::vector<store::ShardRange> redo_;
  std::size_t next_redo_ = 0;
  std::int64_t cursor_;
  const std::string& own_push_origin_;
};

// Completed shards into the delivery store; gone subscriptions out of the site store.
class StoreSink final : public ProgressSink {
 public:
  StoreSink(std::mutex& mutex, SubscriptionReader& site, store::DeliveryStore& deliveries,
            std::int64_t alert_id)
      : mutex_(mutex), site_(site), deliveries_(deliveries), alert_id_(alert_id) {}

  tl::expected<void, Error> shard_done(const Shard& shard, const store::DeliveryCounts& counts,
                                       const std::vector<store::GoneSubscription>& gone) override {
    std::lock_guard lock(mutex_);
    if (auto ok = deliveries_.complete_shard(alert_id_, shard.range, counts, gone); !ok) {
      return tl::unexpected(
          Error{ErrorCode::kUnavailable, "record shard: " + error_text(ok.error())});
    }
    delete_gone(site_, deliveries_, gone);
    return {};
  }

  void problem(const std::string& message) override {
    std::lock_guard lock(mutex_);
    record_problem(deliveries_, alert_id_, message);
  }

 private:
  std::mutex& mutex_;
  SubscriptionReader& site_;
  store::DeliveryStore& deliveries_;
  const std::int64_t alert_id_;
};

// The shards this node holds under a lease, so that they can be renewed. Guarded by the
// engine's store mutex, as every store call is.
using HeldShards = std::set<std::pair<std::int64_t, std::int64_t>>;

// Shards claimed under a lease, with the subscriptions in their range as they are now.
class LeaseSource final : public TargetSource {
 public:
  LeaseSource(std::mutex& mutex, SubscriptionReader& site, store::ShardLeases& leases,
              HeldShards& held, std::int64_t alert_id, store::Category category,
              std::size_t page_size, const std::string& node, std::chrono::milliseconds lease,
              const std::string& own_push_origin)
      : mutex_(mutex),
        site_(site),
        leases_(leases),
        held_(held),
        alert_id_(alert_id),
        category_(category),
        page_size_(page_size),
        node_(node),
        lease_(lease),
        own_push_origin_(own_push_origin) {}

  tl::expected<std::optional<Shard>, Error> next_shard() override {
    std::lock_guard lock(mutex_);
    auto claimed = leases_.claim_shard(alert_id_, node_, lease_);
    if (!claimed) {
      return tl::unexpected(
          Error{ErrorCode::kUnavailable, "claim shard: " + error_text(claimed.error())});
    }
    if (!claimed->has_value()) return std::optional<Shard>();
    Shard shard;
    shard.range = (*claimed)->range;
    // Usually one page: the shard was planned with at most page_size subscriptions; more only
    // if subscriptions in the range took the category on since.
    std::int64_t after = shard.range.after_id;
    while (after < shard.range.last_id) {
      auto page = site_.subscriptions_page(category_, after, page_size_);
      if (!page) {
        return tl::unexpected(
            Error{ErrorCode::kUnavailable, "read subscriptions: " + error_text(page.error())});
      }
      for (auto& s : *page) {
        if (s.id > shard.range.last_id) break;
        shard.targets.push_back(to_target(std::move(s), own_push_origin_));
      }
      if (page->size() < page_size_) break;
      after = page->back().id;
    }
    held_.insert({shard.range.after_id, shard.range.last_id});
    return std::optional<Shard>(std::move(shard));
  }

 private:
  std::mutex& mutex_;
  SubscriptionReader& site_;
  store::ShardLeases& leases_;
  HeldShards& held_;
  const std::int64_t alert_id_;
  const store::Category category_;
  const std::size_t page_size_;
  const std::string& node_;
  const std::chrono::milliseconds lease_;
  const std::string& own_push_origin_;
};

// Completes claimed shards; a shard another node took over is dropped (it sends it again).
class LeaseSink final : public ProgressSink {
 public:
  LeaseSink(std::mutex& mutex, SubscriptionReader& site, store::DeliveryStore& deliveries,
            store::ShardLeases& leases, HeldShards& held, std::int64_t alert_id,
            const std::string& node, std::atomic<std::uint64_t>& taken_over)
      : mutex_(mutex),
        site_(site),
        deliveries_(deliveries),
        leases_(leases),
        held_(held),
        alert_id_(alert_id),
        node_(node),
        taken_over_(taken_over) {}

  tl::expected<void, Error> shard_done(const Shard& shard, const store::DeliveryCounts& counts,
                                       const std::vector<store::GoneSubscription>& gone) override {
    std::lock_guard lock(mutex_);
    held_.erase({shard.range.after_id, shard.range.last_id});
    auto ok = leases_.complete_claimed_shard(alert_id_, shard.range, node_, counts, gone);
    if (!ok && (ok.error().code == store::ErrorCode::kConflict ||
                ok.error().code == store::ErrorCode::kNotFound)) {
      // This node's lease ran out while it sent (a stall, a lost connection): another node
      // has the shard, and its counts are the ones kept.
      ++taken_over_;
      spdlog::warn("fan-out of alert {}: shard ({}, {}] was taken over by another node", alert_id_,
                   shard.range.after_id, shard.range.last_id);
      return {};
    }
    if (!ok) {
      return tl::unexpected(
          Error{ErrorCode::kUnavailable, "record shard: " + error_text(ok.error())});
    }
    delete_gone(site_, deliveries_, gone);
    return {};
  }

  void problem(const std::string& message) override {
    std::lock_guard lock(mutex_);
    record_problem(deliveries_, alert_id_, message);
  }

 private:
  std::mutex& mutex_;
  SubscriptionReader& site_;
  store::DeliveryStore& deliveries_;
  store::ShardLeases& leases_;
  HeldShards& held_;
  const std::int64_t alert_id_;
  const std::string& node_;
  std::atomic<std::uint64_t>& taken_over_;
};

void add_live(store::Delivery& d, const LiveCounters& live) {
  // While a fan-out runs, the stored counts lag by the shards in progress; the live counters
  // of this run are the better figure for everything but what earlier runs recorded.
  d.counts.sent = std::max<std::uint64_t>(d.counts.sent, live.sent.load());
  d.counts.gone = std::max<std::uint64_t>(d.counts.gone, live.gone.load());
  d.counts.failed = std::max<std::uint64_t>(d.counts.failed, live.failed.load());
  d.counts.retried = std::max<std::uint64_t>(d.counts.retried, live.retried.load());
}

}  // namespace

store::Result<std::optional<store::Alert>> SiteStoreView::find_alert(std::int64_t id) {
  return site_.find_alert(id);
}
store::Result<std::vector<store::Alert>> SiteStoreView::alerts_with_status(
    store::AlertStatus status, std::size_t limit) {
  return site_.alerts_with_status(status, limit);
}
store::Result<std::optional<std::string>> SiteStoreView::article_image(std::int64_t article_id) {
  auto found = site_.find_article(article_id);
  if (!found) return tl::unexpected(found.error());
  if (!found->has_value()) return std::optional<std::string>();
  return std::optional<std::string>((*found)->image_url);
}
store::Result<bool> SiteStoreView::transition_alert(std::int64_t id, store::AlertStatus from,
                                                    store::AlertStatus to) {
  return site_.transition_alert(id, from, to);
}
store::Result<std::size_t> SiteStoreView::count_subscriptions(store::Category category) {
  return site_.count_subscriptions(static_cast<store::CategorySet>(category));
}
store::Result<std::vector<store::Subscription>> SiteStoreView::subscriptions_page(
    store::Category category, std::int64_t after_id, std::size_t limit) {
  return site_.subscriptions_page(category, after_id, limit);
}
store::Result<bool> SiteStoreView::delete_subscription(const std::string& endpoint) {
  return site_.delete_subscription(endpoint);
}

tl::expected<std::unique_ptr<FanoutEngine>, Error> FanoutEngine::create(EngineConfig config,
                                                                        EngineDeps deps) {
  const auto invalid = [](const char* message) {
    return tl::unexpected(Error{ErrorCode::kInvalid, message});
  };
  if (config.shard_size == 0) return invalid("shard size must be positive");
  if (config.node_id.empty()) return invalid("node id must not be empty");
  if (config.lease < std::chrono::milliseconds(100)) {
    return invalid("shard lease must be at least 100 ms");
  }
  if (config.poll_interval <= std::chrono::milliseconds(0) ||
      config.poll_interval > std::chrono::milliseconds(1000)) {
    return invalid("poll interval must be in (0, 1000] ms");
  }
  return std::unique_ptr<FanoutEngine>(new FanoutEngine(std::move(config), deps));
}

FanoutEngine::FanoutEngine(EngineConfig config, EngineDeps deps)
    : config_(std::move(config)), deps_(deps), leases_(deps.deliveries.leases()) {}

FanoutEngine::~FanoutEngine() { stop(); }

tl::expected<void, Error> FanoutEngine::start() {
  if (leases_ != nullptr) {
    // Every poll looks at the alerts left sending, so there is nothing to queue here.
    spdlog::info("fan-out: node {} sends alerts with the other nodes of the store",
                 config_.node_id);
    fanout::init_http_client();
    thread_ = std::thread([this] { lease_loop(); });
    return {};
  }
  std::vector<store::Alert> resume;
  {
    std::lock_guard lock(store_mutex_);
    auto sending = deps_.alerts.alerts_with_status(store::AlertStatus::kSending, 10000);
    if (!sending) {
      return tl::unexpected(Error{store::error_kind(sending.error().code),
                                  "read alerts: " + sending.error().message});
    }
    resume = std::move(*sending);
  }
  {
    std::lock_guard lock(queue_mutex_);
    for (const auto& a : resume) queue_.push_back(a.id);
  }
  if (!resume.empty()) spdlog::info("fan-out: resuming {} alert(s) left sending", resume.size());
  fanout::init_http_client();
  thread_ = std::thread([this] { loop(); });
  return {};
}

void FanoutEngine::stop() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
    cancel_current_ = true;
  }
  queue_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FanoutEngine::enqueue(std::int64_t alert_id) {
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back(alert_id);
  }
  queue_cv_.notify_one();
}

void FanoutEngine::cancel(std::int64_t alert_id) {
  {
    std::lock_guard lock(queue_mutex_);
    std::erase(queue_, alert_id);
    if (current_ == alert_id) cancel_current_ = true;
    // With several nodes the delivery may be idle here (other nodes hold its last shards):
    // the engine thread records the cancellation.
    if (leases_ != nullptr) cancelled_.push_back(alert_id);
  }
  if (leases_ != nullptr) queue_cv_.notify_one();
}

std::optional<store::Delivery> FanoutEngine::delivery(std::int64_t alert_id) {
  std::optional<store::Delivery> d;
  {
    std::lock_guard lock(store_mutex_);
    auto found = deps_.deliveries.find(alert_id);
    if (!found) {
      spdlog::warn("fan-out: progress of alert {} cannot be read: {}", alert_id,
                   found.error().message);
      return std::nullopt;
    }
    if (!found->has_value()) return std::nullopt;
    d = std::move(**found);
  }
  std::lock_guard lock(queue_mutex_);
  if (current_ == alert_id) add_live(*d, current_counts_);
  return d;
}

void FanoutEngine::loop() {
  while (true) {
    std::int64_t alert_id = 0;
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      alert_id = queue_.front();
      queue_.pop_front();
      current_ = alert_id;
      cancel_current_ = false;
      current_counts_.sent = current_counts_.gone = current_counts_.failed = 0;
      current_counts_.retried = current_counts_.requests = current_counts_.in_flight = 0;
    }
    // Nothing thrown may leave this thread (it would end the process, and the site with it):
    // the alert being sent fails with the reason, and the engine goes on with the next one.
    std::string thrown;
    try {
      deliver(alert_id);
    } catch (const std::exception& e) {
      thrown = exception_message(e);
    } catch (...) {
      thrown = "unknown exception";
    }
    if (!thrown.empty()) {
      spdlog::error("fan-out: alert {} failed: internal error: {}", alert_id, thrown);
      try {
        std::lock_guard lock(store_mutex_);
        fail_alert(alert_id, "internal error: " + thrown);
      } catch (...) {
        spdlog::error("fan-out: alert {} cannot be marked failed", alert_id);
      }
    }
    std::lock_guard lock(queue_mutex_);
    current_ = 0;
  }
}

void FanoutEngine::fail_alert(std::int64_t alert_id, const std::string& reason) {
  // The delivery record holds the reason editors see; begin() creates it if the fan-out failed
  // before it was recorded, and returns it otherwise.
  const std::int64_t now = deps_.clock.now_ms();
  if (auto begun = deps_.deliveries.begin(alert_id, 0, now); !begun) {
    spdlog::error("fan-out: alert {}: the failure cannot be recorded: {}", alert_id,
                  begun.error().message);
  } else if (auto done =
                 deps_.deliveries.finish(alert_id, store::DeliveryState::kFailed, reason, now);
             !done) {
    spdlog::error("fan-out: alert {}: the failure cannot be recorded: {}", alert_id,
                  done.error().message);
  }
  auto moved = deps_.alerts.transition_alert(alert_id, store::AlertStatus::kSending,
                                             store::AlertStatus::kFailed);
  if (!moved) {
    spdlog::error("fan-out: alert {} cannot be marked failed (it resumes on next start): {}",
                  alert_id, moved.error().message);
    return;
  }
  if (*moved) ++alerts_failed_;
}

void FanoutEngine::delete_pending_gone() {
  // Clean-up left from earlier alerts; what fails here stays queued for the next one.
  auto pending = deps_.deliveries.pending_gone(10000);
  if (!pending) {
    spdlog::warn("fan-out: gone subscriptions cannot be read: {}", pending.error().message);
    return;
  }
  if (pending->empty()) return;
  std::vector<std::int64_t> done;
  for (const auto& g : *pending) {
    auto deleted = deps_.subscriptions.delete_subscription(g.endpoint);
    if (deleted) {
      done.push_back(g.subscription_id);
    } else {
      spdlog::warn("fan-out: a gone subscription stays queued: {}", deleted.error().message);
    }
  }
  if (auto cleared = deps_.deliveries.clear_gone(done); !cleared) {
    spdlog::warn("fan-out: gone subscriptions stay queued: {}", cleared.error().message);
  }
}

void FanoutEngine::deliver(std::int64_t alert_id) {
  store::Alert alert;
  std::string image_url;
  store::Delivery started;
  std::vector<store::ShardRange> redo;
  {
    std::lock_guard lock(store_mutex_);
    delete_pending_gone();
    auto found = deps_.alerts.find_alert(alert_id);
    if (!found) {
      fail_alert(alert_id, "read alert: " + error_text(found.error()));
      return;
    }
    if (!found->has_value()) {
      spdlog::error("fan-out: alert {} does not exist; skipped", alert_id);
      return;
    }
    alert = std::move(**found);
    if (alert.status != store::AlertStatus::kSending) return;  // cancelled meanwhile
    auto audience = deps_.subscriptions.count_subscriptions(alert.category);
    if (!audience) {
      fail_alert(alert_id, "count subscriptions: " + error_text(audience.error()));
      return;
    }
    auto begun = deps_.deliveries.begin(alert_id, *audience, deps_.clock.now_ms());
    if (!begun) {
      fail_alert(alert_id, "record progress: " + error_text(begun.error()));
      return;
    }
    auto open = deps_.deliveries.open_shards(alert_id);
    if (!open) {
      fail_alert(alert_id, "read open shards: " + error_text(open.error()));
      return;
    }
    started = std::move(*begun);
    redo = std::move(*open);
    if (alert.article_id != 0) {
      // The picture is an extra: without it the alert still goes out, and editors see why.
      auto image = deps_.alerts.article_image(alert.article_id);
      if (image && image->has_value()) {
        image_url = std::move(**image);
      } else if (!image) {
        const std::string why = "read article image: " + error_text(image.error());
        spdlog::warn("fan-out: alert {}: {}", alert_id, why);
        if (auto noted = deps_.deliveries.note_error(alert_id, why); !noted) {
          fail_alert(alert_id, "record progress: " + error_text(noted.error()));
          return;
        }
      }
    }
  }
  if (started.state != store::DeliveryState::kRunning) {
    // Finished before a crash that came before the alert's status was updated.
    std::lock_guard lock(store_mutex_);
    const auto to = started.state == store::DeliveryState::kDone ? store::AlertStatus::kSent
                                                                 : store::AlertStatus::kFailed;
    auto moved = deps_.alerts.transition_alert(alert_id, store::AlertStatus::kSending, to);
    if (!moved) {
      spdlog::error("fan-out: alert {} cannot be marked finished (it resumes on next start): {}",
                    alert_id, moved.error().message);
    }
    return;
  }
  if (!redo.empty() || started.cursor != 0) {
    spdlog::info("fan-out: alert {} resumes ({} shard(s) to send again)", alert_id, redo.size());
  }

  Message message;
  message.payload = alert_payload(alert, config_.icon_url, image_url);
  message.deadline_unix = started.started_at_ms / 1000 +
                          (alert.ttl_seconds > 0 ? alert.ttl_seconds : kZeroTtlSendWindowSeconds);
  message.zero_ttl = alert.ttl_seconds == 0;
  message.urgency = alert.urgency;
  message.topic = alert.topic;

  StoreSource source(store_mutex_, deps_.subscriptions, deps_.deliveries, alert_id, alert.category,
                     config_.shard_size, std::move(redo), started.cursor, config_.own_push_origin);
  StoreSink sink(store_mutex_, deps_.subscriptions, deps_.deliveries, alert_id);
  const PipelineDeps pipeline_deps{deps_.vapid, deps_.hosts, deps_.clock, deps_.random};
  const RunResult result = run_pipeline(message, source, sink, pipeline_deps, config_.pipeline,
                                        cancel_current_, &current_counts_);

  // Moved into the totals at once, so that metrics_text never counts a message twice.
  const std::uint64_t sent_now = current_counts_.sent.exchange(0);
  totals_.sent += sent_now;
  totals_.gone += current_counts_.gone.exchange(0);
  totals_.failed += current_counts_.failed.exchange(0);
  totals_.retried += current_counts_.retried.exchange(0);
  totals_.requests += current_counts_.requests.exchange(0);

  bool stopping = false;
  {
    std::lock_guard lock(queue_mutex_);
    stopping = stopping_;
  }
  std::lock_guard lock(store_mutex_);
  if (result.cancelled && stopping && result.error.empty()) {
    spdlog::info("fan-out: alert {} paused by shutdown; it resumes on next start", alert_id);
    return;
  }
  if (result.cancelled && !stopping) {
    // The newsroom has marked the alert "cancelled" already; only the delivery is left.
    auto done = deps_.deliveries.finish(alert_id, store::DeliveryState::kCancelled, result.error,
                                        deps_.clock.now_ms());
    if (!done) {
      spdlog::error("fan-out: alert {}: the cancellation cannot be recorded: {}", alert_id,
                    done.error().message);
    }
    ++alerts_cancelled_;
    spdlog::info("fan-out: alert {} cancelled after {} sent in this run", alert_id, sent_now);
    return;
  }
  if (!result.error.empty()) {
    spdlog::error("fan-out: alert {} failed: {}", alert_id, result.error);
    fail_alert(alert_id, result.error);
    return;
  }
  auto final_state = deps_.deliveries.find(alert_id);
  if (!final_state || !final_state->has_value()) {
    fail_alert(alert_id, "read progress: " + (final_state ? std::string("record missing")
                                                          : error_text(final_state.error())));
    return;
  }
  const store::Delivery& delivery = **final_state;
  if (auto done = deps_.deliveries.finish(alert_id, store::DeliveryState::kDone, delivery.error,
                                          deps_.clock.now_ms());
      !done) {
    fail_alert(alert_id, "record completion: " + error_text(done.error()));
    return;
  }
  auto moved = deps_.alerts.transition_alert(alert_id, store::AlertStatus::kSending,
                                             store::AlertStatus::kSent);
  if (!moved) {
    // The delivery says "done": the next start moves the alert on (see above).
    spdlog::error("fan-out: alert {} cannot be marked sent (the next start does it): {}", alert_id,
                  moved.error().message);
  }
  ++alerts_done_;
  const auto& c = delivery.counts;
  spdlog::info("fan-out: alert {} done: {} targeted, {} sent, {} gone, {} failed, {} retries",
               alert_id, delivery.targeted, c.sent, c.gone, c.failed, c.retried);
}

// --- several nodes (shard leases) ---

void FanoutEngine::lease_loop() {
  std::vector<std::int64_t> cancelled;
  while (true) {
    {
      std::unique_lock lock(queue_mutex_);
      const auto wait = backoff_.count() > 0 ? backoff_ : config_.poll_interval;
      queue_cv_.wait_for(lock, wait,
                         [this] { return stopping_ || !queue_.empty() || !cancelled_.empty(); });
      if (stopping_) return;
      // An alert confirmed on this node only wakes it: the poll finds it in the store.
      queue_.clear();
      cancelled.swap(cancelled_);
    }
    try {
      for (const std::int64_t id : cancelled) {
        std::lock_guard lock(store_mutex_);
        record_cancelled(id);
      }
      cancelled.clear();
      poll_sending();
    } catch (const std::exception& e) {
      spdlog::error("fan-out: internal error while polling: {}", exception_message(e));
    } catch (...) {
      spdlog::error("fan-out: internal error while polling");
    }
  }
}

void FanoutEngine::poll_sending() {
  poll_failed_ = false;
  std::vector<store::Alert> sending;
  {
    std::lock_guard lock(store_mutex_);
    auto found = deps_.alerts.alerts_with_status(store::AlertStatus::kSending, 1000);
    if (!found) {
      store_fault("read alerts: " + error_text(found.error()));
      return;
    }
    sending = std::move(*found);
  }
  for (const store::Alert& alert : sending) {
    {
      std::lock_guard lock(queue_mutex_);
      if (stopping_) return;
      current_ = alert.id;
      cancel_current_ = false;
      current_counts_.sent = current_counts_.gone = current_counts_.failed = 0;
      current_counts_.retried = current_counts_.requests = current_counts_.in_flight = 0;
    }
    std::string thrown;
    try {
      take_part(alert);
    } catch (const std::exception& e) {
      thrown = exception_message(e);
    } catch (...) {
      thrown = "unknown exception";
    }
    if (!thrown.empty()) {
      spdlog::error("fan-out: alert {} failed: internal error: {}", alert.id, thrown);
      try {
        std::lock_guard lock(store_mutex_);
        fail_alert(alert.id, "internal error: " + thrown);
      } catch (...) {
        spdlog::error("fan-out: alert {} cannot be marked failed", alert.id);
      }
    }
    {
      std::lock_guard lock(queue_mutex_);
      current_ = 0;
    }
    if (poll_failed_) return;  // the store is failing: the next poll, after a backoff, tries again
  }
  store_ok();
}

void FanoutEngine::record_cancelled(std::int64_t alert_id) {
  // Whichever node gets here first records it; the others find it recorded.
  auto progress = deps_.deliveries.find(alert_id);
  if (!progress) return store_fault("read progress: " + error_text(progress.error()));
  if (!progress->has_value() || (**progress).state != store::DeliveryState::kRunning) return;
  auto done =
      deps_.deliveries.finish(alert_id, store::DeliveryState::kCancelled, "", deps_.clock.now_ms());
  if (!done) return store_fault("record cancellation: " + error_text(done.error()));
  ++alerts_cancelled_;
}

void FanoutEngine::store_fault(const std::string& what) {
  using std::chrono::milliseconds;
  poll_failed_ = true;
  if (backoff_.count() == 0) {
    // Once per outage: the polls that keep failing only wait longer.
    ++store_faults_;
    spdlog::error("fan-out: node {}: the store failed ({}); retrying with backoff", config_.node_id,
                  what);
    backoff_ = milliseconds(250);
  } else {
    backoff_ = std::min(backoff_ * 2, milliseconds(4000));
  }
}

void FanoutEngine::store_ok() {
  if (backoff_.count() == 0) return;
  spdlog::info("fan-out: node {}: the store answers again", config_.node_id);
  backoff_ = std::chrono::milliseconds(0);
}

void FanoutEngine::take_part(const store::Alert& alert) {
  const std::int64_t alert_id = alert.id;
  std::string image_url;
  store::Delivery started;
  {
    std::lock_guard lock(store_mutex_);
    delete_pending_gone();
    auto found = deps_.deliveries.find(alert_id);
    if (!found) return store_fault("read progress: " + error_text(found.error()));
    if (found->has_value()) {
      started = std::move(**found);
    } else {
      auto audience = deps_.subscriptions.count_subscriptions(alert.category);
      if (!audience) return store_fault("count subscriptions: " + error_text(audience.error()));
      auto begun = deps_.deliveries.begin(alert_id, *audience, deps_.clock.now_ms());
      if (!begun) return store_fault("record progress: " + error_text(begun.error()));
      started = std::move(*begun);
    }
    if (started.state != store::DeliveryState::kRunning) {
      // Finished by a node that died before it could update the alert's status.
      const auto to = started.state == store::DeliveryState::kDone ? store::AlertStatus::kSent
                                                                   : store::AlertStatus::kFailed;
      auto moved = deps_.alerts.transition_alert(alert_id, store::AlertStatus::kSending, to);
      if (!moved) store_fault("mark alert finished: " + error_text(moved.error()));
      return;
    }
    if (started.cursor == 0 && started.shards_open == 0 && started.shards_done == 0) {
      auto planned = leases_->plan_shards(alert_id, alert.category, config_.shard_size);
      if (!planned) return store_fault("plan shards: " + error_text(planned.error()));
      if (*planned > 0) {
        spdlog::info("fan-out: alert {}: node {} planned {} shard(s)", alert_id, config_.node_id,
                     *planned);
      }
    }
    if (alert.article_id != 0) {
      auto image = deps_.alerts.article_image(alert.article_id);
      if (image && image->has_value()) {
        image_url = std::move(**image);
      } else if (!image) {
        return store_fault("read article image: " + error_text(image.error()));
      }
    }
  }

  Message message;
  message.payload = alert_payload(alert, config_.icon_url, image_url);
  message.deadline_unix = started.started_at_ms / 1000 +
                          (alert.ttl_seconds > 0 ? alert.ttl_seconds : kZeroTtlSendWindowSeconds);
  message.zero_ttl = alert.ttl_seconds == 0;
  message.urgency = alert.urgency;
  message.topic = alert.topic;

  HeldShards held;
  LeaseSource source(store_mutex_, deps_.subscriptions, *leases_, held, alert_id, alert.category,
                     config_.shard_size, config_.node_id, config_.lease, config_.own_push_origin);
  LeaseSink sink(store_mutex_, deps_.subscriptions, deps_.deliveries, *leases_, held, alert_id,
                 config_.node_id, shards_taken_over_);

  // While the pipeline sends: renew the leases of the shards held every third of a lease, and
  // look at the alert's status every half second at most, so that a cancel on any node stops
  // this one too.
  std::mutex keeper_mutex;
  std::condition_variable keeper_cv;
  bool keeper_stop = false;
  std::thread keeper([&] {
    using Steady = std::chrono::steady_clock;
    const auto renew_every = config_.lease / 3;
    const auto check_every =
        std::min<std::chrono::milliseconds>(config_.poll_interval, std::chrono::milliseconds(500));
    auto next_renew = Steady::now() + renew_every;
    auto next_check = Steady::now() + check_every;
    std::unique_lock lock(keeper_mutex);
    while (!keeper_stop) {
      keeper_cv.wait_until(lock, std::min(next_renew, next_check), [&] { return keeper_stop; });
      if (keeper_stop) break;
      lock.unlock();
      try {
        const auto now = Steady::now();
        if (now >= next_check) {
          next_check = now + check_every;
          std::lock_guard store_lock(store_mutex_);
          auto found = deps_.alerts.find_alert(alert_id);
          if (found && (!found->has_value() || (**found).status != store::AlertStatus::kSending)) {
            cancel_current_ = true;
          }
        }
        if (now >= next_renew) {
          next_renew = now + renew_every;
          std::lock_guard store_lock(store_mutex_);
          for (const auto& [after, last] : held) {
            auto renewed =
                leases_->renew_shard(alert_id, {after, last}, config_.node_id, config_.lease);
            if (!renewed && renewed.error().code == store::ErrorCode::kConflict) {
              spdlog::warn("fan-out of alert {}: lost the lease of shard ({}, {}]", alert_id, after,
                           last);
            }
          }
        }
      } catch (const std::exception& e) {
        spdlog::error("fan-out of alert {}: lease keeper: {}", alert_id, exception_message(e));
      } catch (...) {
        spdlog::error("fan-out of alert {}: lease keeper failed", alert_id);
      }
      lock.lock();
    }
  });
  const PipelineDeps pipeline_deps{deps_.vapid, deps_.hosts, deps_.clock, deps_.random};
  const RunResult result = run_pipeline(message, source, sink, pipeline_deps, config_.pipeline,
                                        cancel_current_, &current_counts_);
  {
    std::lock_guard lock(keeper_mutex);
    keeper_stop = true;
  }
  keeper_cv.notify_all();
  keeper.join();

  totals_.sent += current_counts_.sent.exchange(0);
  totals_.gone += current_counts_.gone.exchange(0);
  totals_.failed += current_counts_.failed.exchange(0);
  totals_.retried += current_counts_.retried.exchange(0);
  totals_.requests += current_counts_.requests.exchange(0);

  bool stopping = false;
  {
    std::lock_guard lock(queue_mutex_);
    stopping = stopping_;
  }
  // Shards held at a shutdown go to the other nodes (or to this one on its next start) when
  // their leases run out.
  if (stopping) return;
  std::lock_guard lock(store_mutex_);
  if (!result.error.empty()) return store_fault(result.error);
  if (result.cancelled) {
    auto found = deps_.alerts.find_alert(alert_id);
    if (!found) return store_fault("read alert: " + error_text(found.error()));
    if (!found->has_value() || (**found).status != store::AlertStatus::kCancelled) return;
    spdlog::info("fan-out: alert {} cancelled; node {} stopped", alert_id, config_.node_id);
    return record_cancelled(alert_id);
  }
  auto open = deps_.deliveries.open_shards(alert_id);
  if (!open) return store_fault("read open shards: " + error_text(open.error()));
  if (!open->empty()) return;  // other nodes hold them; the next poll looks again
  auto final_state = deps_.deliveries.find(alert_id);
  if (!final_state) return store_fault("read progress: " + error_text(final_state.error()));
  if (!final_state->has_value()) return;
  const store::Delivery& delivery = **final_state;
  // Every node that finds the shards all done may record it; the alert moves to "sent" once.
  if (delivery.state == store::DeliveryState::kRunning) {
    auto done = deps_.deliveries.finish(alert_id, store::DeliveryState::kDone, delivery.error,
                                        deps_.clock.now_ms());
    if (!done) return store_fault("record completion: " + error_text(done.error()));
  }
  auto moved = deps_.alerts.transition_alert(alert_id, store::AlertStatus::kSending,
                                             store::AlertStatus::kSent);
  if (!moved) return store_fault("mark alert sent: " + error_text(moved.error()));
  if (!*moved) return;
  ++alerts_done_;
  const auto& c = delivery.counts;
  spdlog::info(
      "fan-out: alert {} done (marked by node {}): {} targeted, {} sent, {} gone, {} failed, "
      "{} retries",
      alert_id, config_.node_id, delivery.targeted, c.sent, c.gone, c.failed, c.retried);
}

std::string FanoutEngine::metrics_text() const {
  std::ostringstream out;
  auto counter = [&out](const char* name, const char* help, const char* label,
                        std::initializer_list<std::pair<const char*, std::uint64_t>> samples) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n";
    for (const auto& [value, n] : samples) {
      out << name << '{' << label << "=\"" << value << "\"} " << n << '\n';
    }
  };
  // Totals of finished alerts plus the one in progress.
  counter("flashwire_fanout_messages_total", "Messages by outcome.", "outcome",
          {{"sent", totals_.sent + current_counts_.sent},
           {"gone", totals_.gone + current_counts_.gone},
           {"failed", totals_.failed + current_counts_.failed}});
  counter("flashwire_fanout_alerts_total", "Alerts whose fan-out ended, by state.", "state",
          {{"done", alerts_done_.load()},
           {"cancelled", alerts_cancelled_.load()},
           {"failed", alerts_failed_.load()}});
  out << "# HELP flashwire_fanout_retries_total Retry attempts.\n"
      << "# TYPE flashwire_fanout_retries_total counter\n"
      << "flashwire_fanout_retries_total " << totals_.retried + current_counts_.retried << '\n'
      << "# HELP flashwire_fanout_requests_total HTTP requests to push services.\n"
      << "# TYPE flashwire_fanout_requests_total counter\n"
      << "flashwire_fanout_requests_total " << totals_.requests + current_counts_.requests << '\n'
      << "# HELP flashwire_fanout_in_flight Requests waiting for an answer.\n"
      << "# TYPE flashwire_fanout_in_flight gauge\n"
      << "flashwire_fanout_in_flight " << current_counts_.in_flight << '\n';
  if (leases_ != nullptr) {
    out << "# HELP flashwire_fanout_store_faults_total Store outages seen by this node's "
           "fan-out (each logged once).\n"
        << "# TYPE flashwire_fanout_store_faults_total counter\n"
        << "flashwire_fanout_store_faults_total " << store_faults_.load() << '\n'
        << "# HELP flashwire_fanout_shards_taken_over_total Shards this node sent whose lease "
           "another node took over meanwhile (their results were dropped).\n"
        << "# TYPE flashwire_fanout_shards_taken_over_total counter\n"
        << "flashwire_fanout_shards_taken_over_total " << shards_taken_over_.load() << '\n';
  }
  return out.str();
}

}  // namespace flashwire::fanout
