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

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "news/category.h"
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
using news::NodeProgress;
using news::ServiceCounts;

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

// A shard held by a node under a lease (see ShardLeases::claim_shard).
struct ClaimedShard {
  ShardRange range;
  std::uint64_t size = 0;            // subscriptions in the range when it was planned
  std::int64_t locked_until_ms = 0;  // Unix ms, the store's clock
};

class ShardLeases;

class DeliveryStore {
 public:
  virtual ~DeliveryStore() = default;

  // The shard leases of a store that several nodes share (PostgreSQL); nullptr for a store of
  // one node (SQLite), whose fan-out walks the audience itself with open_shard/complete_shard.
  // Owned by the store; valid as long as it is.
  virtual ShardLeases* leases() { return nullptr; }

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
  // Marks the shard done, adds its counts (the per-service ones too, unless the delivery has no
  // split: Delivery::service_split) and queues its gone subscriptions for deletion, in one
  // transaction. kNotFound if the shard is not open (never claimed, or already done: counts
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

// Several nodes sending one alert together. The alert's audience is planned once into open
// shards; every node then takes the next shard under a lease, renews the lease while it sends,
// and completes the shard (counts and gone subscriptions) in one transaction. A lease that runs
// out (its node died or stalled) lets another node take the shard again, so duplicates after a
// node dies are bounded by the shards it held. Per shard a node makes three calls: claim, read
// the shard's subscriptions, complete.
//
// Contract: every call is atomic; leases run on the store's clock, so nodes' clocks do not
// matter. Thread safety: as DeliveryStore (one thread at a time per object).
class ShardLeases {
 public:
  virtual ~ShardLeases() = default;

  // Splits the subscriptions that include `category` into open, unleased shards of at most
  // `shard_size` (ascending ids, each (after_id, last_id]), sets the delivery's cursor to the last
  // id and `targeted` to their number. Once per alert: of several nodes planning at once one
  // plans, the others (and every later call) get 0. Returns the number of shards planned.
  // kNotFound without begin(); kInvalid if shard_size is 0.
  virtual Result<std::uint64_t> plan_shards(std::int64_t alert_id, news::Category category,
                                            std::size_t shard_size) = 0;
  // Hands `node` the lowest open shard nobody holds (never leased, or its lease ran out), leased
  // for `lease`. Two nodes claiming at once never get the same shard and neither waits.
  // std::nullopt when there is nothing to claim now. kInvalid for an empty node or a negative
  // lease.
  virtual Result<std::optional<ClaimedShard>> claim_shard(std::int64_t alert_id,
                                                          const std::string& node,
                                                          std::chrono::milliseconds lease) = 0;
  // Extends the caller's lease; kConflict when the shard is no longer the caller's (its lease
  // ran out and another node claimed it) or is done.
  virtual Status renew_shard(std::int64_t alert_id, ShardRange range, const std::string& node,
                             std::chrono::milliseconds lease) = 0;
  // Marks the caller's shard done, adds its counts and queues its gone subscriptions, in one
  // transaction. kConflict when another node holds it now (the caller drops its results: the
  // other node sends the shard again), kNotFound when it is not open. A caller whose lease ran
  // out but whom nobody replaced still completes: counts are added once either way.
  virtual Status complete_claimed_shard(std::int64_t alert_id, ShardRange range,
                                        const std::string& node, const DeliveryCounts& counts,
                                        const std::vector<GoneSubscription>& gone) = 0;
};

}  // namespace flashwire::store
