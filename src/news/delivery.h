// What the fan-out reports about an alert's delivery: counts by outcome, state and the first
// problem seen. The fan-out produces it (and keeps it durably through store/delivery_store.h);
// the newsroom shows it to editors through AlertQueue::delivery (news/alert_queue.h).
// Plain values; thread-safe as values are.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "news/push_service.h"

namespace flashwire::news {

// Upper bounds (milliseconds after the fan-out started) of the acceptance-latency buckets; the
// last bucket counts everything later.
inline constexpr std::array<std::int64_t, 11> kAcceptLatencyBoundsMs = {
    100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 3600000};
using LatencyHistogram = std::array<std::uint64_t, kAcceptLatencyBoundsMs.size() + 1>;
// A count per push service, indexed by PushServiceKind (news/push_service.h).
using ServiceCounts = std::array<std::uint64_t, kPushServiceKinds>;

// What happened to the messages of one shard (or, summed, of a whole alert).
struct DeliveryCounts {
  std::uint64_t sent = 0;     // accepted by the push service (2xx)
  std::uint64_t gone = 0;     // 404/410: the subscription no longer exists
  std::uint64_t failed = 0;   // given up on; the reasons below add up to this
  std::uint64_t retried = 0;  // retry attempts (a message retried twice counts 2)
  std::map<std::string, std::uint64_t> failed_by_reason;  // "http_413", "expired", …
  LatencyHistogram accept_latency{};                      // one count per sent message
  std::int64_t last_accept_ms = 0;                        // Unix ms of the latest accept; 0 if none
  // Per push service (classified once per target from its endpoint): the subscriptions the
  // shard held when it was sent, and those of `sent` (accepted) — each sums to its total.
  ServiceCounts targeted_by_service{};
  ServiceCounts accepted_by_service{};

  void add(const DeliveryCounts& other);
};

enum class DeliveryState : std::uint8_t { kRunning = 0, kDone = 1, kCancelled = 2, kFailed = 3 };
// "running" | "done" | "cancelled" | "failed".
const char* delivery_state_name(DeliveryState state);

// What one node has done of an alert several nodes send together (PostgreSQL): shards it has
// completed, the subscriptions in them, and the shards it holds under a lease now.
struct NodeProgress {
  std::string node;  // [node] id, or host:pid
  std::uint64_t shards_done = 0;
  std::uint64_t subscriptions_done = 0;
  std::uint64_t shards_held = 0;
  bool operator==(const NodeProgress&) const = default;
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
  DeliveryCounts counts;            // of the completed shards
  // False for a fan-out begun before the store kept counts per push service (an upgrade): its
  // counts.targeted_by_service and accepted_by_service are unknown, not zero.
  bool service_split = true;
  std::vector<NodeProgress> nodes;  // by node id; empty for a store of one node (SQLite)
};

}  // namespace flashwire::news
