// SiteStore, DeliveryStore and SettingsStore on PostgreSQL: the state every node of a
// multi-node site shares (see docs/store.md).
//
// Same contract as the SQLite stores (sqlite_site_store.h, sqlite_delivery_store.h): the same
// values are kInvalid with the same messages (site_validation.h), the same orders, ids that are
// never reused, every mutating call one transaction. Differences that callers can see:
// - Ids come from sequences: an upsert that updates, or a failed insert, may leave a gap.
// - kIo also means "the connection to the server was lost"; the next call connects again.
// - Several processes share the data: a row another node wrote is seen by the next call.
// - guarded_alert_write holds a transaction-scoped advisory lock (one fixed key) from before its
//   read to its commit, so the guardrails of every node take turns.
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

// DeliveryStore for several nodes sending one alert together: the open shards of an alert are
// work items that nodes lease (store::ShardLeases, returned by leases()):
//
// - plan_shards: one transaction that locks the delivery's row, and unless it is planned already
//   splits the category's subscriptions into shards with one INSERT … SELECT (row_number() over
//   the ids), so no node walks the audience.
// - claim_shard: one statement, SELECT … FOR UPDATE SKIP LOCKED then UPDATE: two nodes claiming
//   at once never get the same shard, and neither waits for the other. Leases are in server time
//   (clock_timestamp()).
// - renew_shard / complete_claimed_shard: as ShardLeases says; the completion takes the shard's
//   row lock, so it is ordered against a concurrent claim.
// - open_shard / complete_shard (the DeliveryStore ones) still work for one node: complete_shard
//   completes whatever lease the shard has.
// - find() also reports per-node progress (Delivery::nodes).
// - plan_shards, when it plans, sends NOTIFY on kAlertsChannel with the alert's id at commit.
class PgDeliveryStore : public DeliveryStore, public ShardLeases {
 public:
  ShardLeases* leases() override { return this; }
};

// The LISTEN/NOTIFY channel on which plan_shards announces a newly planned alert (payload: its
// id), so that every node's engine wakes at once (store/postgres/pg_listener.h).
inline constexpr char kAlertsChannel[] = "flashwire_alerts";

std::unique_ptr<PgDeliveryStore> make_pg_delivery_store(std::shared_ptr<pg::Pool> pool);

}  // namespace flashwire::store
