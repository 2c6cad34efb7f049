// In-memory stores for unit tests of the fan-out engine (fanout/engine.h): the site's alerts and
// subscriptions (FakeSiteData) and the delivery progress (FakeDeliveryStore), each following
// the contract of the interface it implements, plus failure injection: a named call can be made
// to fail (a store::Error of kind kIo) or to throw, every time or only its next n calls.
//
// Thread safety: every method may be called from any thread (one mutex per object), so a test
// can look at the data while the engine runs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fanout/engine.h"
#include "store/delivery_store.h"
#include "store/site_store.h"

namespace flashwire::testing {

// Which calls fail, by method name ("complete_shard", "count_subscriptions", …).
class FailureScript {
 public:
  // The call fails with kIo `times` times from now (-1: every time from now on).
  void fail(const std::string& call, int times = -1) {
    std::lock_guard lock(mutex_);
    failing_[call] = times;
  }
  // The call throws std::runtime_error `times` times from now (-1: every time).
  void throw_on(const std::string& call, int times = -1) {
    std::lock_guard lock(mutex_);
    throwing_[call] = times;
  }
  void heal() {
    std::lock_guard lock(mutex_);
    failing_.clear();
    throwing_.clear();
  }
  // How often the call was made, failures included.
  int calls(const std::string& call) const {
    std::lock_guard lock(mutex_);
    const auto it = calls_.find(call);
    return it == calls_.end() ? 0 : it->second;
  }

 protected:
  // Counts the call; throws if scripted to; returns the error to hand back, if any.
  std::optional<store::Error> check(const std::string& call) {
    bool do_throw = false;
    bool do_fail = false;
    {
      std::lock_guard lock(mutex_);
      ++calls_[call];
      do_throw = take(throwing_, call);
      do_fail = take(failing_, call);
    }
    if (do_throw) throw std::runtime_error(call + ": scripted exception");
    if (do_fail) return store::Error{store::ErrorCode::kIo, call + ": disk I/O error"};
    return std::nullopt;
  }

 private:
  static bool take(std::map<std::string, int>& script, const std::string& call) {
    const auto it = script.find(call);
    if (it == script.end() || it->second == 0) return false;
    if (it->second > 0) --it->second;
    return true;
  }

  mutable std::mutex mutex_;
  std::map<std::string, int> failing_;
  std::map<std::string, int> throwing_;
  std::map<std::string, int> calls_;
};

// Alerts, articles' images and subscriptions, as the engine sees the site store.
class FakeSiteData final : public fanout::AlertBook,
                           public fanout::SubscriptionReader,
                           public FailureScript {
 public:
  // --- set-up and inspection by the test ---
  std::int64_t add_alert(store::Alert alert) {
    std::lock_guard lock(mutex_);
    alert.id = next_alert_id_++;
    alerts_[alert.id] = alert;
    return alert.id;
  }
  void set_article_image(std::int64_t article_id, std::string url) {
    std::lock_guard lock(mutex_);
    images_[article_id] = std::move(url);
  }
  std::int64_t add_subscription(store::Subscription s) {
    std::lock_guard lock(mutex_);
    s.id = next_subscription_id_++;
    subscriptions_[s.id] = s;
    return s.id;
  }
  std::optional<store::AlertStatus> status(std::int64_t alert_id) const {
    std::lock_guard lock(mutex_);
    const auto it = alerts_.find(alert_id);
    if (it == alerts_.end()) return std::nullopt;
    return it->second.status;
  }
  void set_status(std::int64_t alert_id, store::AlertStatus status) {
    std::lock_guard lock(mutex_);
    alerts_.at(alert_id).status = status;
  }
  std::set<std::int64_t> subscription_ids() const {
    std::lock_guard lock(mutex_);
    std::set<std::int64_t> out;
    for (const auto& [id, s] : subscriptions_) out.insert(id);
    return out;
  }

  // --- fanout::AlertBook ---
  store::Result<std::optional<store::Alert>> find_alert(std::int64_t id) override {
    if (auto e = check("find_alert")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    const auto it = alerts_.find(id);
    if (it == alerts_.end()) return std::optional<store::Alert>();
    return std::optional<store::Alert>(it->second);
  }
  store::Result<std::vector<store::Alert>> alerts_with_status(store::AlertStatus status,
                                                              std::size_t limit) override {
    if (auto e = check("alerts_with_status")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    std::vector<store::Alert> out;
    for (const auto& [id, a] : alerts_) {
      if (a.status == status && out.size() < limit) out.push_back(a);
    }
    return out;
  }
  store::Result<std::optional<std::string>> article_image(std::int64_t article_id) override {
    if (auto e = check("article_image")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    const auto it = images_.find(article_id);
    if (it == images_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  store::Result<bool> transition_alert(std::int64_t id, store::AlertStatus from,
                                       store::AlertStatus to) override {
    if (auto e = check("transition_alert")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    const auto it = alerts_.find(id);
    if (it == alerts_.end()) {
      return store::make_error(store::ErrorCode::kNotFound, "transition_alert: no such alert");
    }
    if (it->second.status != from) return false;
    it->second.status = to;
    return true;
  }

  // --- fanout::SubscriptionReader ---
  store::Result<std::size_t> count_subscriptions(store::Category category) override {
    if (auto e = check("count_subscriptions")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(subscriptions_.begin(), subscriptions_.end(),
                      [category](const auto& entry) { return includes(entry.second, category); }));
  }
  store::Result<std::vector<store::Subscription>> subscriptions_page(store::Category category,
                                                                     std::int64_t after_id,
                                                                     std::size_t limit) override {
    if (auto e = check("subscriptions_page")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    std::vector<store::Subscription> out;
    for (auto it = subscriptions_.upper_bound(after_id);
         it != subscriptions_.end() && out.size() < limit; ++it) {
      if (includes(it->second, category)) out.push_back(it->second);
    }
    return out;
  }
  store::Result<bool> delete_subscription(const std::string& endpoint) override {
    if (auto e = check("delete_subscription")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    for (auto it = subscriptions_.begin(); it != subscriptions_.end(); ++it) {
      if (it->second.endpoint == endpoint) {
        subscriptions_.erase(it);
        return true;
      }
    }
    return false;
  }

 private:
  static bool includes(const store::Subscription& s, store::Category category) {
    return (s.categories & static_cast<store::CategorySet>(category)) != 0;
  }

  mutable std::mutex mutex_;
  std::int64_t next_alert_id_ = 1;
  std::int64_t next_subscription_id_ = 1;
  std::map<std::int64_t, store::Alert> alerts_;
  std::map<std::int64_t, std::string> images_;
  std::map<std::int64_t, store::Subscription> subscriptions_;  // by id, ascending
};

// Delivery progress in memory, with the contract of store::DeliveryStore; after
// enable_leases(site), also of store::ShardLeases (several nodes), planning from `site`'s
// subscriptions. Leases never run out by themselves: expire_leases(node) ends a node's leases,
// as its death would once they ran out.
class FakeDeliveryStore final : public store::DeliveryStore,
                                public store::ShardLeases,
                                public FailureScript {
 public:
  void enable_leases(FakeSiteData& site) {
    std::lock_guard lock(mutex_);
    site_ = &site;
  }
  void expire_leases(const std::string& node) {
    std::lock_guard lock(mutex_);
    for (auto& [id, record] : deliveries_) {
      for (auto& [key, lease] : record.leases) {
        if (lease.node == node) lease.held = false;
      }
    }
  }
  // The node that completed each shard, by after_id.
  std::map<std::int64_t, std::string> completed_by(std::int64_t alert_id) const {
    std::lock_guard lock(mutex_);
    std::map<std::int64_t, std::string> out;
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) return out;
    for (const auto& [after, lease] : it->second.leases) {
      if (lease.done) out[after] = lease.node;
    }
    return out;
  }
  int plans(std::int64_t alert_id) const {
    std::lock_guard lock(mutex_);
    const auto it = deliveries_.find(alert_id);
    return it == deliveries_.end() ? 0 : it->second.plans;
  }

  store::ShardLeases* leases() override {
    std::lock_guard lock(mutex_);
    return site_ == nullptr ? nullptr : this;
  }

  // --- store::ShardLeases ---
  store::Result<std::uint64_t> plan_shards(std::int64_t alert_id, store::Category category,
                                           std::size_t shard_size) override {
    if (auto e = check("plan_shards")) return tl::unexpected(*e);
    if (shard_size == 0) return store::make_error(store::ErrorCode::kInvalid, "shard size 0");
    auto page = site_->subscriptions_page(category, 0, 1u << 30);
    if (!page) return tl::unexpected(page.error());
    std::lock_guard lock(mutex_);
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) {
      return store::make_error(store::ErrorCode::kNotFound, "plan_shards: no delivery");
    }
    Record& r = it->second;
    if (r.delivery.cursor != 0 || !r.shards.empty()) return std::uint64_t{0};
    ++r.plans;
    std::uint64_t planned = 0;
    for (std::size_t i = 0; i < page->size(); i += shard_size) {
      const std::size_t n = std::min(shard_size, page->size() - i);
      const store::ShardRange range{r.delivery.cursor, (*page)[i + n - 1].id};
      r.shards.emplace_back(range, false);
      r.leases[range.after_id] = Lease{range, n, "", false, false};
      r.delivery.cursor = range.last_id;
      r.delivery.targeted += n;
      ++r.delivery.shards_open;
      ++planned;
    }
    return planned;
  }
  store::Result<std::optional<store::ClaimedShard>> claim_shard(
      std::int64_t alert_id, const std::string& node, std::chrono::milliseconds lease) override {
    if (auto e = check("claim_shard")) return tl::unexpected(*e);
    if (node.empty() || lease.count() < 0) {
      return store::make_error(store::ErrorCode::kInvalid, "claim_shard: bad node or lease");
    }
    std::lock_guard lock(mutex_);
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) return std::optional<store::ClaimedShard>();
    for (auto& [after, l] : it->second.leases) {
      if (l.done || l.held) continue;
      l.node = node;
      l.held = true;
      return std::optional<store::ClaimedShard>(store::ClaimedShard{l.range, l.size, 0});
    }
    return std::optional<store::ClaimedShard>();
  }
  store::Status renew_shard(std::int64_t alert_id, store::ShardRange range, const std::string& node,
                            std::chrono::milliseconds) override {
    if (auto e = check("renew_shard")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    Lease* l = find_lease(alert_id, range);
    if (l == nullptr || l->done || !l->held || l->node != node) {
      return store::make_error(store::ErrorCode::kConflict, "renew_shard: not this node's");
    }
    return {};
  }
  store::Status complete_claimed_shard(std::int64_t alert_id, store::ShardRange range,
                                       const std::string& node, const store::DeliveryCounts& counts,
                                       const std::vector<store::GoneSubscription>& gone) override {
    if (auto e = check("complete_claimed_shard")) return tl::unexpected(*e);
    {
      std::lock_guard lock(mutex_);
      Lease* l = find_lease(alert_id, range);
      if (l == nullptr || l->done) {
        return store::make_error(store::ErrorCode::kNotFound, "complete_claimed_shard: not open");
      }
      if (l->node != node) {
        return store::make_error(store::ErrorCode::kConflict,
                                 "complete_claimed_shard: another node holds it");
      }
      l->done = true;
      l->held = false;
    }
    return complete_open(alert_id, range, counts, gone);
  }

  // --- inspection by the test ---
  std::optional<store::Delivery> get(std::int64_t alert_id) const {
    std::lock_guard lock(mutex_);
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) return std::nullopt;
    return it->second.delivery;
  }
  // Every shard ever opened for the alert, in order, and whether it is done.
  std::vector<std::pair<store::ShardRange, bool>> shards(std::int64_t alert_id) const {
    std::lock_guard lock(mutex_);
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) return {};
    return it->second.shards;
  }
  std::size_t gone_queued() const {
    std::lock_guard lock(mutex_);
    return gone_.size();
  }

  // --- store::DeliveryStore ---
  store::Result<store::Delivery> begin(std::int64_t alert_id, std::uint64_t audience,
                                       std::int64_t now_ms) override {
    if (auto e = check("begin")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    auto [it, created] = deliveries_.try_emplace(alert_id);
    if (created) {
      it->second.delivery.alert_id = alert_id;
      it->second.delivery.audience = audience;
      it->second.delivery.started_at_ms = now_ms;
    }
    return it->second.delivery;
  }
  store::Result<std::optional<store::Delivery>> find(std::int64_t alert_id) override {
    if (auto e = check("find")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) return std::optional<store::Delivery>();
    return std::optional<store::Delivery>(it->second.delivery);
  }
  store::Status open_shard(std::int64_t alert_id, store::ShardRange range,
                           std::uint64_t size) override {
    if (auto e = check("open_shard")) return tl::unexpected(*e);
    if (range.last_id <= range.after_id) {
      return store::make_error(store::ErrorCode::kInvalid, "open_shard: empty range");
    }
    std::lock_guard lock(mutex_);
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) {
      return store::make_error(store::ErrorCode::kNotFound, "open_shard: no delivery");
    }
    store::Delivery& d = it->second.delivery;
    if (d.cursor != range.after_id) {
      return store::make_error(store::ErrorCode::kConflict, "open_shard: the cursor has moved on");
    }
    d.cursor = range.last_id;
    d.targeted += size;
    ++d.shards_open;
    it->second.shards.emplace_back(range, false);
    return {};
  }
  store::Result<std::vector<store::ShardRange>> open_shards(std::int64_t alert_id) override {
    if (auto e = check("open_shards")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    std::vector<store::ShardRange> out;
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) return out;
    for (const auto& [range, done] : it->second.shards) {
      if (!done) out.push_back(range);
    }
    return out;
  }
  store::Status complete_shard(std::int64_t alert_id, store::ShardRange range,
                               const store::DeliveryCounts& counts,
                               const std::vector<store::GoneSubscription>& gone) override {
    if (auto e = check("complete_shard")) return tl::unexpected(*e);
    return complete_open(alert_id, range, counts, gone);
  }
  store::Status complete_open(std::int64_t alert_id, store::ShardRange range,
                              const store::DeliveryCounts& counts,
                              const std::vector<store::GoneSubscription>& gone) {
    std::lock_guard lock(mutex_);
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) {
      return store::make_error(store::ErrorCode::kNotFound, "complete_shard: no delivery");
    }
    auto shard = std::find_if(it->second.shards.begin(), it->second.shards.end(),
                              [&](const auto& s) { return s.first == range && !s.second; });
    if (shard == it->second.shards.end()) {
      return store::make_error(store::ErrorCode::kNotFound, "complete_shard: not open");
    }
    shard->second = true;
    store::Delivery& d = it->second.delivery;
    --d.shards_open;
    ++d.shards_done;
    d.counts.add(counts);
    for (const auto& g : gone) gone_[g.subscription_id] = g.endpoint;
    return {};
  }
  store::Status finish(std::int64_t alert_id, store::DeliveryState state, const std::string& error,
                       std::int64_t now_ms) override {
    if (auto e = check("finish")) return tl::unexpected(*e);
    if (state == store::DeliveryState::kRunning) {
      return store::make_error(store::ErrorCode::kInvalid, "finish: state must be final");
    }
    std::lock_guard lock(mutex_);
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) {
      return store::make_error(store::ErrorCode::kNotFound, "finish: no delivery");
    }
    it->second.delivery.state = state;
    it->second.delivery.error = error;
    it->second.delivery.finished_at_ms = now_ms;
    return {};
  }
  store::Status note_error(std::int64_t alert_id, const std::string& error) override {
    if (auto e = check("note_error")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) {
      return store::make_error(store::ErrorCode::kNotFound, "note_error: no delivery");
    }
    it->second.delivery.error = error;
    return {};
  }
  store::Result<std::vector<store::GoneSubscription>> pending_gone(std::size_t limit) override {
    if (auto e = check("pending_gone")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    std::vector<store::GoneSubscription> out;
    for (const auto& [id, endpoint] : gone_) {
      if (out.size() == limit) break;
      out.push_back({id, endpoint});
    }
    return out;
  }
  store::Status clear_gone(const std::vector<std::int64_t>& subscription_ids) override {
    if (auto e = check("clear_gone")) return tl::unexpected(*e);
    std::lock_guard lock(mutex_);
    for (const auto id : subscription_ids) gone_.erase(id);
    return {};
  }

 private:
  struct Lease {
    store::ShardRange range;
    std::uint64_t size = 0;
    std::string node;  // who holds or held it
    bool held = false;
    bool done = false;
  };
  struct Record {
    store::Delivery delivery;
    std::vector<std::pair<store::ShardRange, bool>> shards;  // in the order opened; true: done
    std::map<std::int64_t, Lease> leases;                    // planned shards, by after_id
    int plans = 0;
  };
  Lease* find_lease(std::int64_t alert_id, store::ShardRange range) {
    const auto it = deliveries_.find(alert_id);
    if (it == deliveries_.end()) return nullptr;
    const auto l = it->second.leases.find(range.after_id);
    if (l == it->second.leases.end() || !(l->second.range == range)) return nullptr;
    return &l->second;
  }
  FakeSiteData* site_ = nullptr;
  mutable std::mutex mutex_;
  std::map<std::int64_t, Record> deliveries_;
  std::map<std::int64_t, std::string> gone_;  // by subscription id
};

}  // namespace flashwire::testing
