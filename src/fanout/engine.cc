#include "fanout/engine.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <sstream>

#include "store/sqlite/sqlite_delivery_store.h"
#include "store/sqlite/sqlite_site_store.h"

namespace flashwire::fanout {

namespace json = boost::json;

webpush::Bytes alert_payload(const store::Alert& alert, const std::string& icon_url,
                             const std::string& image_url) {
  json::object o{{"id", alert.id},
                 {"title", alert.title},
                 {"body", alert.body},
                 {"url", alert.url},
                 {"icon", icon_url},
                 {"category", std::string(store::category_name(alert.category))},
                 {"tag", "alert-" + std::to_string(alert.id)}};
  if (!image_url.empty()) o["image"] = image_url;
  const std::string text = json::serialize(o);
  return webpush::Bytes(text.begin(), text.end());
}

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string error_text(const store::Error& e) { return e.message; }

// Shards of an alert's audience from the site store: first the shards an earlier run left open,
// then new ones from the delivery's cursor.
class StoreSource final : public TargetSource {
 public:
  StoreSource(std::mutex& mutex, store::SiteStore& site, store::DeliveryStore& deliveries,
              std::int64_t alert_id, store::Category category, std::size_t shard_size,
              std::vector<store::ShardRange> redo, std::int64_t cursor)
      : mutex_(mutex),
        site_(site),
        deliveries_(deliveries),
        alert_id_(alert_id),
        category_(category),
        shard_size_(shard_size),
        redo_(std::move(redo)),
        cursor_(cursor) {}

  tl::expected<std::optional<Shard>, std::string> next_shard() override {
    std::lock_guard lock(mutex_);
    if (next_redo_ < redo_.size()) return reopen(redo_[next_redo_++]);
    auto page = site_.subscriptions_page(category_, cursor_, shard_size_);
    if (!page) return tl::unexpected("read subscriptions: " + error_text(page.error()));
    if (page->empty()) return std::optional<Shard>();
    Shard shard;
    shard.range = {cursor_, page->back().id};
    if (auto ok = deliveries_.open_shard(alert_id_, shard.range, page->size()); !ok) {
      return tl::unexpected("record shard: " + error_text(ok.error()));
    }
    cursor_ = shard.range.last_id;
    shard.targets.reserve(page->size());
    for (auto& s : *page) shard.targets.push_back(to_target(std::move(s)));
    return std::optional<Shard>(std::move(shard));
  }

 private:
  // A shard an earlier run claimed: its subscriptions as they are now (gone ones deleted).
  tl::expected<std::optional<Shard>, std::string> reopen(store::ShardRange range) {
    Shard shard;
    shard.range = range;
    std::int64_t after = range.after_id;
    while (after < range.last_id) {
      auto page = site_.subscriptions_page(category_, after, shard_size_);
      if (!page) return tl::unexpected("read subscriptions: " + error_text(page.error()));
      if (page->empty()) break;
      for (auto& s : *page) {
        if (s.id > range.last_id) break;
        shard.targets.push_back(to_target(std::move(s)));
      }
      after = page->back().id;
    }
    return std::optional<Shard>(std::move(shard));
  }

  static Target to_target(store::Subscription&& s) {
    return {s.id, std::move(s.endpoint), std::move(s.p256dh), std::move(s.auth)};
  }

  std::mutex& mutex_;
  store::SiteStore& site_;
  store::DeliveryStore& deliveries_;
  const std::int64_t alert_id_;
  const store::Category category_;
  const std::size_t shard_size_;
  std::vector<store::ShardRange> redo_;
  std::size_t next_redo_ = 0;
  std::int64_t cursor_;
};

// Completed shards into the delivery store; gone subscriptions out of the site store.
class StoreSink final : public ProgressSink {
 public:
  StoreSink(std::mutex& mutex, store::SiteStore& site, store::DeliveryStore& deliveries,
            std::int64_t alert_id)
      : mutex_(mutex), site_(site), deliveries_(deliveries), alert_id_(alert_id) {}

  tl::expected<void, std::string> shard_done(
      const Shard& shard, const store::DeliveryCounts& counts,
      const std::vector<store::GoneSubscription>& gone) override {
    std::lock_guard lock(mutex_);
    if (auto ok = deliveries_.complete_shard(alert_id_, shard.range, counts, gone); !ok) {
      return tl::unexpected("record shard: " + error_text(ok.error()));
    }
    if (gone.empty()) return {};
    std::vector<std::int64_t> deleted;
    for (const auto& g : gone) {
      if (site_.delete_subscription(g.endpoint)) deleted.push_back(g.subscription_id);
    }
    // What could not be deleted now stays queued in the delivery store for the next alert.
    if (auto ok = deliveries_.clear_gone(deleted); !ok) {
      spdlog::warn("fan-out: gone subscriptions stay queued: {}", ok.error().message);
    }
    return {};
  }

  void problem(const std::string& message) override {
    spdlog::error("fan-out of alert {}: {}", alert_id_, message);
    std::lock_guard lock(mutex_);
    if (auto ok = deliveries_.note_error(alert_id_, message); !ok) {
      spdlog::warn("fan-out: cannot record the problem: {}", ok.error().message);
    }
  }

 private:
  std::mutex& mutex_;
  store::SiteStore& site_;
  store::DeliveryStore& deliveries_;
  const std::int64_t alert_id_;
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

tl::expected<std::unique_ptr<FanoutEngine>, std::string> FanoutEngine::create(
    EngineConfig config, webpush::VapidTokenCache& vapid, webpush::PushHostPolicy hosts,
    const Clock& clock) {
  auto site = store::open_sqlite_site_store(config.site_db_path);
  if (!site) return tl::unexpected("open site store: " + site.error().message);
  auto deliveries = store::open_sqlite_delivery_store(config.delivery_db_path);
  if (!deliveries) return tl::unexpected("open delivery store: " + deliveries.error().message);
  if (config.shard_size == 0) return tl::unexpected(std::string("shard size must be positive"));
  return std::unique_ptr<FanoutEngine>(new FanoutEngine(
      std::move(config), vapid, std::move(hosts), clock, std::move(*site), std::move(*deliveries)));
}

FanoutEngine::FanoutEngine(EngineConfig config, webpush::VapidTokenCache& vapid,
                           webpush::PushHostPolicy hosts, const Clock& clock,
                           std::unique_ptr<store::SiteStore> site,
                           std::unique_ptr<store::DeliveryStore> deliveries)
    : config_(std::move(config)),
      vapid_(vapid),
      hosts_(std::move(hosts)),
      clock_(clock),
      site_(std::move(site)),
      deliveries_(std::move(deliveries)) {}

FanoutEngine::~FanoutEngine() { stop(); }

tl::expected<void, std::string> FanoutEngine::start() {
  std::vector<store::Alert> resume;
  {
    std::lock_guard lock(store_mutex_);
    auto sending = site_->alerts_with_status(store::AlertStatus::kSending, 10000);
    if (!sending) return tl::unexpected("read alerts: " + sending.error().message);
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
  std::lock_guard lock(queue_mutex_);
  std::erase(queue_, alert_id);
  if (current_ == alert_id) cancel_current_ = true;
}

std::optional<store::Delivery> FanoutEngine::delivery(std::int64_t alert_id) {
  std::optional<store::Delivery> d;
  {
    std::lock_guard lock(store_mutex_);
    auto found = deliveries_->find(alert_id);
    if (!found || !found->has_value()) return std::nullopt;
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
    deliver(alert_id);
    std::lock_guard lock(queue_mutex_);
    current_ = 0;
  }
}

void FanoutEngine::delete_pending_gone() {
  auto pending = deliveries_->pending_gone(10000);
  if (!pending || pending->empty()) return;
  std::vector<std::int64_t> done;
  for (const auto& g : *pending) {
    if (site_->delete_subscription(g.endpoint)) done.push_back(g.subscription_id);
  }
  (void)deliveries_->clear_gone(done);
}

void FanoutEngine::deliver(std::int64_t alert_id) {
  store::Alert alert;
  std::string image_url;
  store::Delivery started;
  std::vector<store::ShardRange> redo;
  {
    std::lock_guard lock(store_mutex_);
    delete_pending_gone();
    auto found = site_->find_alert(alert_id);
    if (!found || !found->has_value()) {
      spdlog::error("fan-out: alert {} cannot be read; skipped", alert_id);
      return;
    }
    alert = std::move(**found);
    if (alert.status != store::AlertStatus::kSending) return;  // cancelled meanwhile
    if (alert.article_id != 0) {
      if (auto article = site_->find_article(alert.article_id); article && article->has_value()) {
        image_url = (*article)->image_url;
      }
    }
    auto audience = site_->count_subscriptions(static_cast<store::CategorySet>(alert.category));
    auto begun = deliveries_->begin(alert_id, audience ? *audience : 0, now_ms());
    auto open = deliveries_->open_shards(alert_id);
    if (!begun || !open) {
      spdlog::error("fan-out: alert {}: cannot record progress: {}", alert_id,
                    !begun ? begun.error().message : open.error().message);
      return;  // stays "sending": resumed on next start
    }
    started = std::move(*begun);
    redo = std::move(*open);
  }
  if (started.state != store::DeliveryState::kRunning) {
    // Finished before a crash that came before the alert's status was updated.
    std::lock_guard lock(store_mutex_);
    (void)site_->transition_alert(alert_id, store::AlertStatus::kSending,
                                  store::AlertStatus::kSent);
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

  StoreSource source(store_mutex_, *site_, *deliveries_, alert_id, alert.category,
                     config_.shard_size, std::move(redo), started.cursor);
  StoreSink sink(store_mutex_, *site_, *deliveries_, alert_id);
  const PipelineDeps deps{vapid_, hosts_, clock_};
  const RunResult result = run_pipeline(message, source, sink, deps, config_.pipeline,
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
  if (result.cancelled && stopping) {
    spdlog::info("fan-out: alert {} paused by shutdown; it resumes on next start", alert_id);
    return;
  }
  if (result.cancelled) {
    (void)deliveries_->finish(alert_id, store::DeliveryState::kCancelled, "", now_ms());
    ++alerts_cancelled_;
    spdlog::info("fan-out: alert {} cancelled after {} sent in this run", alert_id, sent_now);
    return;
  }
  if (!result.error.empty()) {
    spdlog::error("fan-out: alert {} failed: {}", alert_id, result.error);
    (void)deliveries_->finish(alert_id, store::DeliveryState::kFailed, result.error, now_ms());
    (void)site_->transition_alert(alert_id, store::AlertStatus::kSending,
                                  store::AlertStatus::kFailed);
    ++alerts_failed_;
    return;
  }
  auto final_state = deliveries_->find(alert_id);
  (void)deliveries_->finish(alert_id, store::DeliveryState::kDone,
                            final_state && final_state->has_value() ? (*final_state)->error : "",
                            now_ms());
  (void)site_->transition_alert(alert_id, store::AlertStatus::kSending, store::AlertStatus::kSent);
  ++alerts_done_;
  if (final_state && final_state->has_value()) {
    const auto& c = (*final_state)->counts;
    spdlog::info("fan-out: alert {} done: {} targeted, {} sent, {} gone, {} failed, {} retries",
                 alert_id, (*final_state)->targeted, c.sent, c.gone, c.failed, c.retried);
  }
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
  return out.str();
}

}  // namespace flashwire::fanout
