// Durable progress of alert fan-outs: which shards of an alert's audience have been delivered,
// the outcome counts, and the subscriptions found gone that still have to be deleted.
//
// A fan-out walks an alert's audience (the subscriptions of its category, ascending by id) in
// shards: a shard is the id range (after_id, last_id]. Claiming a shard records it as open and
// advances the alert's cursor past it; completing it records it done and adds its counts, in one
// transaction. After a crash, the open shards are sent again and the walk goes on from the
// cursor, so every subscriber is reached, counts are never added twice, and duplicates are
// limited to the shards that were open at the crash.
//
// The data lives in its own file (data/delivery.db), apart from the site store: it is written
// once per shard by every sender thread, and keeping it out of the site's database keeps those
// writes off the file that serves readers.
//
// Contract: every mutating call is atomic. Thread safety: one thread at a time per object.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "news/delivery.h"
#include "store/error.h"

namespace flashwire::store {

// The delivery report (news/delivery.h), under the names store users have always used.
using news::Delivery;
using news::delivery_state_name;
using news::DeliveryCounts;
using news::DeliveryState;
using news::kAcceptLatencyBoundsMs;
using news::LatencyHistogram;

struct ShardRange {
  std::int64_t after_id = 0;  // exclusive
  std::int64_t last_id = 0;   // inclusive
  bool operator==(const ShardRange&) const = default;
};

// A subscription found gone during a fan-out, waiting to be deleted from the site store.
struct GoneSubscription {
  std::int64_t subscription_id = 0;
  std::string endpoint;
};

class DeliveryStore {
 public:
  virtual ~DeliveryStore() = default;

  // Starts the record of an alert's fan-out, or returns the existing one (a resume).
  virtual Result<Delivery> begin(std::int64_t alert_id, std::uint64_t audience,
                                 std::int64_t now_ms) = 0;
  virtual Result<std::optional<Delivery>> find(std::int64_t alert_id) = 0;

  // Records the shard (after_id, last_id] of `size` subscriptions as open and moves the cursor
  // to last_id. kConflict if after_id is not the current cursor (another claim got there
  // first); kNotFound without begin().
  virtual Status open_shard(std::int64_t alert_id, ShardRange range, std::uint64_t size) = 0;
  // Shards claimed and not completed, ascending: what a resume sends again.
  virtual Result<std::vector<ShardRange>> open_shards(std::int64_t alert_id) = 0;
  // Marks the shard done, adds its counts and queues its gone subscriptions for deletion, in
  // one transaction. kNotFound if the shard is not open (never claimed, or already done: counts
  // are added once).
  virtual Status complete_shard(std::int64_t alert_id, ShardRange range,
                                const DeliveryCounts& counts,
                                const std::vector<GoneSubscription>& gone) = 0;
  // Ends the fan-out with `state` (not kRunning) and an optional error. kNotFound without begin().
  virtual Status finish(std::int64_t alert_id, DeliveryState state, const std::string& error,
                        std::int64_t now_ms) = 0;
  // Records a problem seen while running (e.g. a push service rejecting our VAPID key) without
  // ending the fan-out; the latest one is kept.
  virtual Status note_error(std::int64_t alert_id, const std::string& error) = 0;

  // Gone subscriptions not yet deleted from the site store, and their removal once they are.
  virtual Result<std::vector<GoneSubscription>> pending_gone(std::size_t limit) = 0;
  virtual Status clear_gone(const std::vector<std::int64_t>& subscription_ids) = 0;
};

}  // namespace flashwire::store
