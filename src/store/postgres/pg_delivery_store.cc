// PgDeliveryStore (declared in pg_site_store.h with the other PostgreSQL stores).
#include <algorithm>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/postgres/pg_site_store.h"

namespace flashwire::store {
namespace {

using pg::Connection;
using pg::Params;
using pg::Rows;
using pg::Transaction;
using pg::with_connection;

std::int64_t as_int(std::uint64_t value) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(value, kMax));
}

constexpr const char* kFindDelivery =
    "SELECT audience, targeted, cursor_id, started_at_ms, finished_at_ms, state, error, "
    "shards_done, sent, gone, failed, retried, last_accept_ms, accept_latency, "
    "(SELECT count(*) FROM delivery_shards s WHERE s.alert_id = d.alert_id AND NOT s.done), "
    "service_targeted IS NOT NULL AND service_accepted IS NOT NULL, "
    "coalesce(service_targeted, '{}'), coalesce(service_accepted, '{}') "
    "FROM deliveries d WHERE alert_id = $1";

Result<std::optional<Delivery>> read_delivery(Connection& c, std::int64_t alert_id) {
  Delivery d;
  auto rows = c.run("delivery_find", kFindDelivery, Params().add(alert_id), "find delivery");
  if (!rows) return tl::unexpected(rows.error());
  if (rows->empty()) return std::optional<Delivery>();
  d.alert_id = alert_id;
  d.audience = static_cast<std::uint64_t>(rows->get_int(0, 0));
  d.targeted = static_cast<std::uint64_t>(rows->get_int(0, 1));
  d.cursor = rows->get_int(0, 2);
  d.started_at_ms = rows->get_int(0, 3);
  d.finished_at_ms = rows->get_int(0, 4);
  const std::int64_t state = rows->get_int(0, 5);
  if (state < 0 || state > static_cast<std::int64_t>(DeliveryState::kFailed)) {
    return make_error(ErrorCode::kCorrupt, "stored delivery state out of range");
  }
  d.state = static_cast<DeliveryState>(state);
  d.error = rows->get_text(0, 6);
  d.shards_done = static_cast<std::uint64_t>(rows->get_int(0, 7));
  d.counts.sent = static_cast<std::uint64_t>(rows->get_int(0, 8));
  d.counts.gone = static_cast<std::uint64_t>(rows->get_int(0, 9));
  d.counts.failed = static_cast<std::uint64_t>(rows->get_int(0, 10));
  d.counts.retried = static_cast<std::uint64_t>(rows->get_int(0, 11));
  d.counts.last_accept_ms = rows->get_int(0, 12);
  // A short or unreadable histogram reads as zeros: it is a report, never a reason to fail.
  const std::vector<std::int64_t> latency = rows->get_int_array(0, 13);
  for (std::size_t i = 0; i < latency.size() && i < d.counts.accept_latency.size(); ++i) {
    d.counts.accept_latency[i] = static_cast<std::uint64_t>(latency[i]);
  }
  d.shards_open = static_cast<std::uint64_t>(rows->get_int(0, 14));
  d.service_split = rows->get_bool(0, 15);
  if (d.service_split) {
    const std::vector<std::int64_t> targeted = rows->get_int_array(0, 16);
    const std::vector<std::int64_t> accepted = rows->get_int_array(0, 17);
    for (std::size_t i = 0; i < d.counts.targeted_by_service.size(); ++i) {
      if (i < targeted.size())
        d.counts.targeted_by_service[i] = static_cast<std::uint64_t>(targeted[i]);
      if (i < accepted.size())
        d.counts.accepted_by_service[i] = static_cast<std::uint64_t>(accepted[i]);
    }
  }
  auto failures = c.run("delivery_failures",
                        "SELECT reason, count FROM delivery_failures WHERE alert_id = $1 "
                        "ORDER BY reason COLLATE \"C\"",
                        Params().add(alert_id), "find delivery");
  if (!failures) return tl::unexpected(failures.error());
  for (int i = 0; i < failures->size(); ++i) {
    d.counts.failed_by_reason[failures->get_text(i, 0)] =
        static_cast<std::uint64_t>(failures->get_int(i, 1));
  }
  // Shards a node has touched keep its id once done, so this is what each node has sent.
  auto nodes = c.run("delivery_nodes",
                     "SELECT node, count(*) FILTER (WHERE done), "
                     "coalesce(sum(size) FILTER (WHERE done), 0), "
                     "count(*) FILTER (WHERE NOT done AND locked_until > clock_timestamp()) "
                     "FROM delivery_shards WHERE alert_id = $1 AND node <> '' "
                     "GROUP BY node ORDER BY node COLLATE \"C\"",
                     Params().add(alert_id), "find delivery");
  if (!nodes) return tl::unexpected(nodes.error());
  for (int i = 0; i < nodes->size(); ++i) {
    d.nodes.push_back({nodes->get_text(i, 0), static_cast<std::uint64_t>(nodes->get_int(i, 1)),
                       static_cast<std::uint64_t>(nodes->get_int(i, 2)),
                       static_cast<std::uint64_t>(nodes->get_int(i, 3))});
  }
  return std::optional<Delivery>(std::move(d));
}

// Adds a completed shard's counts, failure reasons and gone subscriptions; inside the caller's
// transaction. Every addition is done by the server in one statement (no read-modify-write), so
// nodes completing shards of one alert at once never lose each other's counts.
Status add_shard_results(Connection& c, std::int64_t alert_id, const DeliveryCounts& counts,
                         const std::vector<GoneSubscription>& gone, std::string_view what) {
  std::vector<std::int64_t> latency;
  for (const std::uint64_t n : counts.accept_latency) latency.push_back(as_int(n));
  std::vector<std::int64_t> targeted;
  std::vector<std::int64_t> accepted;
  for (std::size_t i = 0; i < counts.targeted_by_service.size(); ++i) {
    targeted.push_back(as_int(counts.targeted_by_service[i]));
    accepted.push_back(as_int(counts.accepted_by_service[i]));
  }
  // The per-service arrays stay NULL for a fan-out begun before they were kept (CASE): adding
  // to NULL would make up a split that misses the shards completed before.
  auto added = c.run(
      "delivery_add_counts",
      "UPDATE deliveries SET shards_done = shards_done + 1, sent = sent + $2, gone = gone + $3, "
      "failed = failed + $4, retried = retried + $5, "
      "last_accept_ms = greatest(last_accept_ms, $6), "
      "accept_latency = ARRAY(SELECT coalesce(a, 0) + coalesce(b, 0) "
      "FROM unnest(accept_latency, $7::bigint[]) AS t(a, b)), "
      "service_targeted = CASE WHEN service_targeted IS NULL THEN NULL ELSE "
      "ARRAY(SELECT coalesce(a, 0) + coalesce(b, 0) "
      "FROM unnest(service_targeted, $8::bigint[]) AS t(a, b)) END, "
      "service_accepted = CASE WHEN service_accepted IS NULL THEN NULL ELSE "
      "ARRAY(SELECT coalesce(a, 0) + coalesce(b, 0) "
      "FROM unnest(service_accepted, $9::bigint[]) AS t(a, b)) END "
      "WHERE alert_id = $1",
      Params()
          .add(alert_id)
          .add(as_int(counts.sent))
          .add(as_int(counts.gone))
          .add(as_int(counts.failed))
          .add(as_int(counts.retried))
          .add(counts.last_accept_ms)
          .add_int_array(latency)
          .add_int_array(targeted)
          .add_int_array(accepted),
      what);
  if (!added) return tl::unexpected(added.error());
  if (added->affected() == 0) {
    return make_error(ErrorCode::kNotFound, std::string(what) + ": no delivery for this alert");
  }
  for (const auto& [reason, count] : counts.failed_by_reason) {
    auto ok = c.run("delivery_add_failure",
                    "INSERT INTO delivery_failures (alert_id, reason, count) VALUES ($1, $2, $3) "
                    "ON CONFLICT (alert_id, reason) DO UPDATE SET "
                    "count = delivery_failures.count + excluded.count",
                    Params().add(alert_id).add(reason).add(as_int(count)), what);
    if (!ok) return tl::unexpected(ok.error());
  }
  if (!gone.empty()) {
    std::vector<std::int64_t> ids;
    std::vector<std::string_view> endpoints;
    for (const GoneSubscription& g : gone) {
      ids.push_back(g.subscription_id);
      endpoints.push_back(g.endpoint);
    }
    auto ok = c.run("delivery_insert_gone",
                    "INSERT INTO pending_gone (subscription_id, endpoint) "
                    "SELECT * FROM unnest($1::bigint[], $2::text[]) "
                    "ON CONFLICT (subscription_id) DO NOTHING",
                    Params().add_int_array(ids).add_text_array(endpoints), what);
    if (!ok) return tl::unexpected(ok.error());
  }
  return {};
}

class PgDeliveryStoreImpl final : public PgDeliveryStore {
 public:
  explicit PgDeliveryStoreImpl(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

  Result<Delivery> begin(std::int64_t alert_id, std::uint64_t audience,
                         std::int64_t now_ms) override {
    constexpr std::string_view kWhat = "begin delivery";
    return with_connection(*pool_, [&](Connection& c) -> Result<Delivery> {
      auto inserted = c.run("delivery_insert",
                            "INSERT INTO deliveries (alert_id, audience, started_at_ms, "
                            "service_targeted, service_accepted) "
                            "VALUES ($1, $2, $3, '{0,0,0,0,0}', '{0,0,0,0,0}') "
                            "ON CONFLICT (alert_id) DO NOTHING",
                            Params().add(alert_id).add(as_int(audience)).add(now_ms), kWhat);
      if (!inserted) return tl::unexpected(inserted.error());
      auto found = read_delivery(c, alert_id);
      if (!found) return tl::unexpected(found.error());
      if (!found->has_value()) return make_error(ErrorCode::kIo, "begin delivery: row vanished");
      return std::move(**found);
    });
  }

  Result<std::optional<Delivery>> find(std::int64_t alert_id) override {
    return with_connection(*pool_, [&](Connection& c) { return read_delivery(c, alert_id); });
  }

  Status open_shard(std::int64_t alert_id, ShardRange range, std::uint64_t size) override {
    constexpr std::string_view kWhat = "open_shard";
    if (range.last_id <= range.after_id) {
      return make_error(ErrorCode::kInvalid, "open_shard: empty range");
    }
    return with_connection(*pool_, [&](Connection& c) -> Status {
      Transaction tx(c);
      if (auto ok = tx.begin(kWhat); !ok) return ok;
      // Compare-and-set on the cursor: of two nodes opening from the same cursor, the second
      // re-reads the updated row and changes nothing.
      auto moved = c.run(
          "delivery_advance_cursor",
          "UPDATE deliveries SET cursor_id = $3, targeted = targeted + $4 "
          "WHERE alert_id = $1 AND cursor_id = $2",
          Params().add(alert_id).add(range.after_id).add(range.last_id).add(as_int(size)), kWhat);
      if (!moved) return tl::unexpected(moved.error());
      if (moved->affected() == 0) {
        auto found = read_delivery(c, alert_id);
        if (!found) return tl::unexpected(found.error());
        if (!found->has_value()) {
          return make_error(ErrorCode::kNotFound, "open_shard: no delivery for this alert");
        }
        return make_error(ErrorCode::kConflict, "open_shard: the cursor has moved on");
      }
      auto inserted = c.run(
          "delivery_insert_shard",
          "INSERT INTO delivery_shards (alert_id, after_id, last_id, size) "
          "VALUES ($1, $2, $3, $4)",
          Params().add(alert_id).add(range.after_id).add(range.last_id).add(as_int(size)), kWhat);
      if (!inserted) return tl::unexpected(inserted.error());
      return tx.commit(kWhat);
    });
  }

  Result<std::vector<ShardRange>> open_shards(std::int64_t alert_id) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<ShardRange>> {
      auto rows = c.run("delivery_open_shards",
                        "SELECT after_id, last_id FROM delivery_shards "
                        "WHERE alert_id = $1 AND NOT done ORDER BY after_id",
                        Params().add(alert_id), "open_shards");
      if (!rows) return tl::unexpected(rows.error());
      std::vector<ShardRange> out;
      for (int i = 0; i < rows->size(); ++i)
        out.push_back({rows->get_int(i, 0), rows->get_int(i, 1)});
      return out;
    });
  }

  Status complete_shard(std::int64_t alert_id, ShardRange range, const DeliveryCounts& counts,
                        const std::vector<GoneSubscription>& gone) override {
    return complete(alert_id, range, nullptr, counts, gone, "complete_shard");
  }

  Status finish(std::int64_t alert_id, DeliveryState state, const std::string& error,
                std::int64_t now_ms) override {
    constexpr std::string_view kWhat = "finish delivery";
    if (state == DeliveryState::kRunning) {
      return make_error(ErrorCode::kInvalid, "finish delivery: state must be final");
    }
    return with_connection(*pool_, [&](Connection& c) -> Status {
      auto rows =
          c.run("delivery_finish",
                "UPDATE deliveries SET state = $2, error = $3, finished_at_ms = $4 "
                "WHERE alert_id = $1",
                Params().add(alert_id).add(static_cast<std::int64_t>(state)).add(error).add(now_ms),
                kWhat);
      if (!rows) return tl::unexpected(rows.error());
      if (rows->affected() == 0) {
        return make_error(ErrorCode::kNotFound, "finish delivery: no delivery for this alert");
      }
      return {};
    });
  }

  Status note_error(std::int64_t alert_id, const std::string& error) override {
    return with_connection(*pool_, [&](Connection& c) -> Status {
      auto rows =
          c.run("delivery_note_error", "UPDATE deliveries SET error = $2 WHERE alert_id = $1",
                Params().add(alert_id).add(error), "note_error");
      if (!rows) return tl::unexpected(rows.error());
      if (rows->affected() == 0) {
        return make_error(ErrorCode::kNotFound, "note_error: no delivery for this alert");
      }
      return {};
    });
  }

  Result<std::vector<GoneSubscription>> pending_gone(std::size_t limit) override {
    return with_connection(*pool_, [&](Connection& c) -> Result<std::vector<GoneSubscription>> {
      auto rows = c.run("delivery_pending_gone",
                        "SELECT subscription_id, endpoint FROM pending_gone "
                        "ORDER BY subscription_id LIMIT $1",
                        Params().add(as_int(limit)), "pending_gone");
      if (!rows) return tl::unexpected(rows.error());
      std::vector<GoneSubscription> out;
      for (int i = 0; i < rows->size(); ++i)
        out.push_back({rows->get_int(i, 0), rows->get_text(i, 1)});
      return out;
    });
  }

  Status clear_gone(const std::vector<std::int64_t>& subscription_ids) override {
    return with_connection(*pool_, [&](Connection& c) -> Status {
      auto rows = c.run("delivery_clear_gone",
                        "DELETE FROM pending_gone WHERE subscription_id = ANY($1::bigint[])",
                        Params().add_int_array(subscription_ids), "clear_gone");
      if (!rows) return tl::unexpected(rows.error());
      return {};
    });
  }

  // --- leases ---

  Result<std::uint64_t> plan_shards(std::int64_t alert_id, news::Category category,
                                    std::size_t shard_size) override {
    constexpr std::string_view kWhat = "plan_shards";
    if (shard_size == 0) return make_error(ErrorCode::kInvalid, "plan_shards: shard size is 0");
    return with_connection(*pool_, [&](Connection& c) -> Result<std::uint64_t> {
      Transaction tx(c);
      if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
      // The delivery's row lock makes planners take turns; the second finds the plan made.
      auto state = c.run("delivery_plan_lock",
                         "SELECT cursor_id <> 0 OR EXISTS (SELECT 1 FROM delivery_shards s "
                         "WHERE s.alert_id = d.alert_id) FROM deliveries d WHERE alert_id = $1 "
                         "FOR UPDATE",
                         Params().add(alert_id), kWhat);
      if (!state) return tl::unexpected(state.error());
      if (state->empty()) {
        return make_error(ErrorCode::kNotFound, "plan_shards: no delivery for this alert");
      }
      if (state->get_bool(0, 0)) {
        if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
        return std::uint64_t{0};
      }
      // Shard g holds the subscriptions numbered g*size+1 … (g+1)*size in id order; its range
      // starts after the previous shard's last id.
      auto planned = c.run(
          "delivery_plan_shards",
          "WITH planned AS ("
          "  INSERT INTO delivery_shards (alert_id, after_id, last_id, size) "
          "  SELECT $1, coalesce(lag(last_id) OVER (ORDER BY g), 0), last_id, n FROM ("
          "    SELECT (rn - 1) / $3::bigint AS g, max(id) AS last_id, count(*) AS n FROM ("
          "      SELECT id, row_number() OVER (ORDER BY id) AS rn FROM subscriptions "
          "      WHERE (categories & $2::bigint) <> 0) numbered GROUP BY g) grouped "
          "  RETURNING last_id, size) "
          "UPDATE deliveries SET cursor_id = coalesce((SELECT max(last_id) FROM planned), 0), "
          "targeted = (SELECT coalesce(sum(size), 0) FROM planned) WHERE alert_id = $1 "
          "RETURNING (SELECT count(*) FROM planned)",
          Params().add(alert_id).add(static_cast<std::int64_t>(category)).add(as_int(shard_size)),
          kWhat);
      if (!planned) return tl::unexpected(planned.error());
      const auto shards = static_cast<std::uint64_t>(planned->get_int(0, 0));
      if (shards > 0) {
        // Delivered at commit: the other nodes wake and claim at once instead of at their next
        // poll (a notification lost meanwhile only costs that poll's wait).
        auto notified = c.run("delivery_notify_planned", "SELECT pg_notify($1, $2::bigint::text)",
                              Params().add(std::string_view(kAlertsChannel)).add(alert_id), kWhat);
        if (!notified) return tl::unexpected(notified.error());
      }
      if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
      return shards;
    });
  }

  Result<std::optional<ClaimedShard>> claim_shard(std::int64_t alert_id, const std::string& node,
                                                  std::chrono::milliseconds lease) override {
    constexpr std::string_view kWhat = "claim_shard";
    if (node.empty()) return make_error(ErrorCode::kInvalid, "claim_shard: node is empty");
    if (lease.count() < 0) return make_error(ErrorCode::kInvalid, "claim_shard: negative lease");
    return with_connection(*pool_, [&](Connection& c) -> Result<std::optional<ClaimedShard>> {
      // SKIP LOCKED: a row another node is claiming right now is passed over, not waited for,
      // and that node's claim commits before anyone else can see the row unleased.
      auto rows = c.run(
          "delivery_claim_shard",
          "UPDATE delivery_shards s SET node = $2, "
          "locked_until = clock_timestamp() + $3::bigint * interval '1 millisecond' "
          "FROM (SELECT alert_id, after_id FROM delivery_shards "
          "      WHERE alert_id = $1 AND NOT done "
          "        AND (locked_until IS NULL OR locked_until <= clock_timestamp()) "
          "      ORDER BY after_id LIMIT 1 FOR UPDATE SKIP LOCKED) free "
          "WHERE s.alert_id = free.alert_id AND s.after_id = free.after_id "
          "RETURNING s.after_id, s.last_id, s.size, "
          "(extract(epoch FROM s.locked_until) * 1000)::bigint",
          Params().add(alert_id).add(node).add(static_cast<std::int64_t>(lease.count())), kWhat);
      if (!rows) return tl::unexpected(rows.error());
      if (rows->empty()) return std::optional<ClaimedShard>();
      return std::optional<ClaimedShard>(
          ClaimedShard{{rows->get_int(0, 0), rows->get_int(0, 1)},
                       static_cast<std::uint64_t>(rows->get_int(0, 2)),
                       rows->get_int(0, 3)});
    });
  }

  Status renew_shard(std::int64_t alert_id, ShardRange range, const std::string& node,
                     std::chrono::milliseconds lease) override {
    constexpr std::string_view kWhat = "renew_shard";
    if (lease.count() < 0) return make_error(ErrorCode::kInvalid, "renew_shard: negative lease");
    return with_connection(*pool_, [&](Connection& c) -> Status {
      auto rows =
          c.run("delivery_renew_shard",
                "UPDATE delivery_shards SET "
                "locked_until = clock_timestamp() + $5::bigint * interval '1 millisecond' "
                "WHERE alert_id = $1 AND after_id = $2 AND last_id = $3 AND node = $4 AND NOT done",
                Params()
                    .add(alert_id)
                    .add(range.after_id)
                    .add(range.last_id)
                    .add(node)
                    .add(static_cast<std::int64_t>(lease.count())),
                kWhat);
      if (!rows) return tl::unexpected(rows.error());
      if (rows->affected() == 0) {
        return make_error(ErrorCode::kConflict, "renew_shard: the shard is no longer this node's");
      }
      return {};
    });
  }

  Status complete_claimed_shard(std::int64_t alert_id, ShardRange range, const std::string& node,
                                const DeliveryCounts& counts,
                                const std::vector<GoneSubscription>& gone) override {
    return complete(alert_id, range, &node, counts, gone, "complete_claimed_shard");
  }

 private:
  // Completes the shard; with `node`, only if that node holds it.
  Status complete(std::int64_t alert_id, ShardRange range, const std::string* node,
                  const DeliveryCounts& counts, const std::vector<GoneSubscription>& gone,
                  std::string_view what) {
    return with_connection(*pool_, [&](Connection& c) -> Status {
      Transaction tx(c);
      if (auto ok = tx.begin(what); !ok) return ok;
      // The row lock (FOR UPDATE) orders this against a concurrent claim or completion.
      auto shard = c.run("delivery_lock_shard",
                         "SELECT node FROM delivery_shards WHERE alert_id = $1 AND after_id = $2 "
                         "AND last_id = $3 AND NOT done FOR UPDATE",
                         Params().add(alert_id).add(range.after_id).add(range.last_id), what);
      if (!shard) return tl::unexpected(shard.error());
      if (shard->empty()) {
        return make_error(ErrorCode::kNotFound, std::string(what) + ": the shard is not open");
      }
      if (node != nullptr && shard->get_text(0, 0) != *node) {
        return make_error(ErrorCode::kConflict,
                          std::string(what) + ": another node holds the shard now");
      }
      auto closed = c.run("delivery_close_shard",
                          "UPDATE delivery_shards SET done = true, locked_until = NULL "
                          "WHERE alert_id = $1 AND after_id = $2",
                          Params().add(alert_id).add(range.after_id), what);
      if (!closed) return tl::unexpected(closed.error());
      if (auto ok = add_shard_results(c, alert_id, counts, gone, what); !ok) return ok;
      return tx.commit(what);
    });
  }

  std::shared_ptr<pg::Pool> pool_;
};

}  // namespace

std::unique_ptr<PgDeliveryStore> make_pg_delivery_store(std::shared_ptr<pg::Pool> pool) {
  return std::make_unique<PgDeliveryStoreImpl>(std::move(pool));
}

}  // namespace flashwire::store
