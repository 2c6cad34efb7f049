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

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/error.h"

namespace flashwire::store {

// Upper bounds (milliseconds after the fan-out started) of the acceptance-latency buckets; the
// last bucket counts everything later.
inline constexpr std::array<std::int64_t, 11> kAcceptLatencyBoundsMs = {
    100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 3600000};
using LatencyHistogram = std::array<std::uint64_t, kAcceptLatencyBoundsMs.size() + 1>;

// What happened to the messages of one shard (or, summed, of a whole alert).
struct DeliveryCounts {
  std::uint64_t sent = 0;     // accepted by the push service (2xx)
  std::uint64_t gone = 0;     // 404/410: the subscription no longer exists
  std::uint64_t failed = 0;   // given up on; the reasons below add up to this
  std::uint64_t retried = 0;  // retry attempts (a message retried twice counts 2)
  std::map<std::string, std::uint64_t> failed_by_reason;  // "http_413", "expired", …
  LatencyHistogram accept_latency{};                      // one count per sent message
  std::int64_t last_accept_ms = 0;                        // Unix ms of the latest accept; 0 if none

  void add(const DeliveryCounts& other);
};

enum class DeliveryState : std::uint8_t { kRunning = 0, kDone = 1, kCancelled = 2, kFailed = 3 };
// "running" | "done" | "cancelled" | "failed".
const char* delivery_state_name(DeliveryState state);

struct ShardRange {
  std::int64_t after_id = 0;  // exclusive
  std::int64_t last_id = 0;   // inclusive
  bool operator==(const ShardRange&) const = default;
};

struct Delivery {
  std::int64_t alert_id = 0;
  std::uint64_t audience = 0;  // subscriptions of the category when the fan-out began
  std::uint64_t targeted = 0;  // subscriptions in the shards claimed so far
  std::int64_t cursor = 0;     // last subscription id claimed
  std::int64_t started_at_ms = 0;
  std::int64_t finished_at_ms = 0;  // 0 while running
  DeliveryState state = DeliveryState::kRunning;
  std::string error;  // why it failed, or a configuration problem seen on the way
  std::uint64_t shards_done = 0;
  std::uint64_t shards_open = 0;
  DeliveryCounts counts;  // of the completed shards
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
