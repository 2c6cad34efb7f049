// SiteStore, DeliveryStore and SettingsStore on PostgreSQL: the state every node of a
// multi-node site shares (see docs/store.md).
//
// Same contract as the SQLite stores (sqlite_site_store.h, sqlite_delivery_store.h): the same
// values are kInvalid with the same messages (site_validation.h), the same orders, ids that are
// never reused, every mutating call one transaction. Differences that callers can see:
// - Ids come from sequences: an upsert that updates, or a failed insert, may leave a gap.
// - kIo also means "the connection to the server was lost"; the next call connects again.
// - Several processes share the data: a row another node wrote is seen by the next call.
//
// Each call borrows one connection from the pool for its duration, so any number of store objects
// can share a pool of a few connections. Thread safety: as the interfaces (one thread at a time
// per store object); the pool is thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/delivery_store.h"
#include "store/error.h"
#include "store/postgres/pg.h"
#include "store/settings_store.h"
#include "store/site_store.h"

namespace flashwire::store {

// The schema must be at pg::latest_schema_version() (see open_site_state).
std::unique_ptr<SiteStore> make_pg_site_store(std::shared_ptr<pg::Pool> pool);
std::unique_ptr<SettingsStore> make_pg_settings_store(std::shared_ptr<pg::Pool> pool);

// Batched upsert of many subscriptions in one statement per 5,000 (what `subscriptions import`
// uses): the same rules and effect as upsert_subscription for each, in order (a later line for
// the same endpoint wins). Every batch is one transaction; on an error the batches before it stay
// stored. Returns how many rows were inserted or updated.
Result<std::size_t> pg_import_subscriptions(pg::Pool& pool,
                                            const std::vector<Subscription>& subscriptions);

// A shard held by a node under a lease (see PgDeliveryStore::claim_shard).
struct ClaimedShard {
  ShardRange range;
  std::uint64_t size = 0;
  std::int64_t locked_until_ms = 0;  // Unix ms, server time
};

// DeliveryStore for several nodes sending one alert together. On top of the DeliveryStore
// contract, the open shards of an alert are work items that nodes lease:
//
// - open_shard (any node, usually the one that planned the alert) records a shard as open,
//   unleased.
// - claim_shard(alert, node, lease) hands the calling node the lowest open shard nobody holds:
//   never leased, or whose lease ran out (its node died or stalled). One statement,
//   SELECT … FOR UPDATE SKIP LOCKED then UPDATE: two nodes claiming at once never get the same
//   shard, and neither waits for the other. Leases are in server time (clock_timestamp()), so
//   nodes' clocks do not matter. std::nullopt when there is nothing to claim now.
// - renew_shard extends the caller's lease while it works; kConflict when the shard is no longer
//   the caller's (its lease ran out and another node claimed it) or is done.
// - complete_claimed_shard marks the caller's shard done, adds its counts and queues its gone
//   subscriptions, in one transaction; kConflict when another node holds it now (the caller must
//   drop its results: the other node sends the shard again), kNotFound when it is not open.
//   A caller whose lease ran out but whom nobody replaced still completes: counts are added once
//   either way.
// - complete_shard (the DeliveryStore one) completes whatever lease the shard has.
class PgDeliveryStore : public DeliveryStore {
 public:
  virtual Result<std::optional<ClaimedShard>> claim_shard(std::int64_t alert_id,
                                                          const std::string& node,
                                                          std::chrono::milliseconds lease) = 0;
  virtual Status renew_shard(std::int64_t alert_id, ShardRange range, const std::string& node,
                             std::chrono::milliseconds lease) = 0;
  virtual Status complete_claimed_shard(std::int64_t alert_id, ShardRange range,
                                        const std::string& node, const DeliveryCounts& counts,
                                        const std::vector<GoneSubscription>& gone) = 0;
};

std::unique_ptr<PgDeliveryStore> make_pg_delivery_store(std::shared_ptr<pg::Pool> pool);

}  // namespace flashwire::store
