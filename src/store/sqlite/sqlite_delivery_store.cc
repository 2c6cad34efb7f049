#include "store/sqlite/sqlite_delivery_store.h"

#include <sqlite3.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/sqlite/sqlite_util.h"

namespace flashwire::store {

namespace {

using sqlite_detail::clamp_to_int64;
using sqlite_detail::Connection;
using sqlite_detail::prepare_all;
using sqlite_detail::Query;
using sqlite_detail::Stmt;
using sqlite_detail::Transaction;

constexpr int kApplicationId = 0x46574453;  // "FWDS"

// Version 1. delivery_shards is keyed by (alert, after_id): a shard starts where the cursor was,
// so two claims of the same range cannot both succeed.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE deliveries (
  alert_id INTEGER PRIMARY KEY,
  audience INTEGER NOT NULL CHECK (audience >= 0),
  targeted INTEGER NOT NULL DEFAULT 0,
  cursor INTEGER NOT NULL DEFAULT 0,
  started_at_ms INTEGER NOT NULL,
  finished_at_ms INTEGER NOT NULL DEFAULT 0,
  state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 3),
  error TEXT NOT NULL DEFAULT '',
  shards_done INTEGER NOT NULL DEFAULT 0,
  sent INTEGER NOT NULL DEFAULT 0,
  gone INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  retried INTEGER NOT NULL DEFAULT 0,
  last_accept_ms INTEGER NOT NULL DEFAULT 0,
  accept_latency TEXT NOT NULL DEFAULT ''
);
CREATE TABLE delivery_shards (
  alert_id INTEGER NOT NULL REFERENCES deliveries (alert_id) ON DELETE CASCADE,
  after_id INTEGER NOT NULL,
  last_id INTEGER NOT NULL CHECK (last_id > after_id),
  size INTEGER NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (alert_id, after_id)
) WITHOUT ROWID;
CREATE TABLE delivery_failures (
  alert_id INTEGER NOT NULL REFERENCES deliveries (alert_id) ON DELETE CASCADE,
  reason TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (alert_id, reason)
) WITHOUT ROWID;
CREATE TABLE pending_gone (
  subscription_id INTEGER PRIMARY KEY,
  endpoint TEXT NOT NULL
);
)sql";

// Version 2: targeted and accepted per push service, comma-separated counts indexed by
// news::PushServiceKind. NULL for fan-outs begun before (their split is unknown, and stays so:
// completing one of their shards afterwards adds nothing to NULL), '0,0,0,0,0' from begin() on.
constexpr const char* kSchemaV2 = R"sql(
ALTER TABLE deliveries ADD COLUMN service_targeted TEXT;
ALTER TABLE deliveries ADD COLUMN service_accepted TEXT;
)sql";

constexpr const char* const kUpgrades[] = {kSchemaV2};

constexpr sqlite_detail::SchemaSpec kSchema{
    "delivery store", kApplicationId, kSqliteDeliveryStoreSchemaVersion, kSchemaV1, kUpgrades};

template <std::size_t N>
std::string counts_text(const std::array<std::uint64_t, N>& h) {
  std::string out;
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(h[i]);
  }
  return out;
}

// Unparseable or short text reads as zeros: the counts are a report, never a reason to fail.
template <typename Counts>
Counts parse_counts(std::string_view text) {
  Counts h{};
  std::size_t i = 0;
  while (!text.empty() && i < h.size()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    std::uint64_t value = 0;
    std::from_chars(item.data(), item.data() + item.size(), value);
    h[i++] = value;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return h;
}

std::string histogram_text(const LatencyHistogram& h) { return counts_text(h); }

class SqliteDeliveryStore final : public DeliveryStore {
 public:
  static Result<std::unique_ptr<DeliveryStore>> create(Connection conn) {
    std::unique_ptr<SqliteDeliveryStore> store(new SqliteDeliveryStore(std::move(conn)));
    if (auto ok = prepare_all(*store, store->conn_, kStatements); !ok) {
      return tl::unexpected(ok.error());
    }
    return std::unique_ptr<DeliveryStore>(std::move(store));
  }

  Result<Delivery> begin(std::int64_t alert_id, std::uint64_t audience,
                         std::int64_t now_ms) override {
    constexpr std::string_view kWhat = "begin delivery";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    {
      Query q(insert_delivery_);
      q.bind_int(1, alert_id).bind_int(2, clamp_to_int64(audience)).bind_int(3, now_ms);
      if (const int rc = q.step(); rc != SQLITE_DONE) return conn_.failure(rc, kWhat);
    }
    auto found = read(alert_id);
    if (!found) return tl::unexpected(found.error());
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return std::move(**found);
  }

  Result<std::optional<Delivery>> find(std::int64_t alert_id) override { return read(alert_id); }

  Status open_shard(std::int64_t alert_id, ShardRange range, std::uint64_t size) override {
    constexpr std::string_view kWhat = "open_shard";
    if (range.last_id <= range.after_id) {
      return make_error(ErrorCode::kInvalid, "open_shard: empty range");
    }
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      Query q(advance_cursor_);
      q.bind_int(1, alert_id)
          .bind_int(2, range.after_id)
          .bind_int(3, range.last_id)
          .bind_int(4, clamp_to_int64(size));
      if (const int rc = q.step(); rc != SQLITE_DONE) return conn_.failure(rc, kWhat);
      if (conn_.changes() == 0) {
        auto found = read(alert_id);
        if (!found) return tl::unexpected(found.error());
        if (!found->has_value()) {
          return make_error(ErrorCode::kNotFound, "open_shard: no delivery for this alert");
        }
        return make_error(ErrorCode::kConflict, "open_shard: the cursor has moved on");
      }
    }
    {
      Query q(insert_shard_);
      q.bind_int(1, alert_id)
          .bind_int(2, range.after_id)
          .bind_int(3, range.last_id)
          .bind_int(4, clamp_to_int64(size));
      if (const int rc = q.step(); rc != SQLITE_DONE) return conn_.failure(rc, kWhat);
    }
    return tx.commit(kWhat);
  }

  Result<std::vector<ShardRange>> open_shards(std::int64_t alert_id) override {
    Query q(open_shards_);
    q.bind_int(1, alert_id);
    std::vector<ShardRange> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) out.push_back({q.column_int(0), q.column_int(1)});
    if (rc != SQLITE_DONE) return conn_.failure(rc, "open_shards");
    return out;
  }

  Status complete_shard(std::int64_t alert_id, ShardRange range, const DeliveryCounts& counts,
                        const std::vector<GoneSubscription>& gone) override {
    constexpr std::string_view kWhat = "complete_shard";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      Query q(close_shard_);
      q.bind_int(1, alert_id).bind_int(2, range.after_id).bind_int(3, range.last_id);
      if (const int rc = q.step(); rc != SQLITE_DONE) return conn_.failure(rc, kWhat);
      if (conn_.changes() == 0) {
        return make_error(ErrorCode::kNotFound, "complete_shard: the shard is not open");
      }
    }
    auto current = read(alert_id);
    if (!current) return tl::unexpected(current.error());
    if (!current->has_value()) {
      return make_error(ErrorCode::kNotFound, "complete_shard: no delivery for this alert");
    }
    LatencyHistogram latency = (*current)->counts.accept_latency;
    for (std::size_t i = 0; i < latency.size(); ++i) latency[i] += counts.accept_latency[i];
    ServiceCounts targeted = (*current)->counts.targeted_by_service;
    ServiceCounts accepted = (*current)->counts.accepted_by_service;
    for (std::size_t i = 0; i < targeted.size(); ++i) {
      targeted[i] += counts.targeted_by_service[i];
      accepted[i] += counts.accepted_by_service[i];
    }
    const bool split = (*current)->service_split;
    {
      Query q(add_counts_);
      q.bind_int(1, alert_id)
          .bind_int(2, static_cast<std::int64_t>(counts.sent))
          .bind_int(3, static_cast<std::int64_t>(counts.gone))
          .bind_int(4, static_cast<std::int64_t>(counts.failed))
          .bind_int(5, static_cast<std::int64_t>(counts.retried))
          .bind_int(6, counts.last_accept_ms);
      const std::string text = histogram_text(latency);
      q.bind_text(7, text);
      // A fan-out without a split (begun before version 2) keeps none.
      const std::string targeted_text = counts_text(targeted);
      const std::string accepted_text = counts_text(accepted);
      if (split) {
        q.bind_text(8, targeted_text).bind_text(9, accepted_text);
      } else {
        q.bind_null(8).bind_null(9);
      }
      if (const int rc = q.step(); rc != SQLITE_DONE) return conn_.failure(rc, kWhat);
    }
    for (const auto& [reason, count] : counts.failed_by_reason) {
      Query q(add_failure_);
      q.bind_int(1, alert_id).bind_text(2, reason).bind_int(3, static_cast<std::int64_t>(count));
      if (const int rc = q.step(); rc != SQLITE_DONE) return conn_.failure(rc, kWhat);
    }
    for (const GoneSubscription& g : gone) {
      Query q(insert_gone_);
      q.bind_int(1, g.subscription_id).bind_text(2, g.endpoint);
      if (const int rc = q.step(); rc != SQLITE_DONE) return conn_.failure(rc, kWhat);
    }
    return tx.commit(kWhat);
  }

  Status finish(std::int64_t alert_id, DeliveryState state, const std::string& error,
                std::int64_t now_ms) override {
    constexpr std::string_view kWhat = "finish delivery";
    if (state == DeliveryState::kRunning) {
      return make_error(ErrorCode::kInvalid, "finish delivery: state must be final");
    }
    Query q(finish_);
    q.bind_int(1, alert_id)
        .bind_int(2, static_cast<std::int64_t>(state))
        .bind_text(3, error)
        .bind_int(4, now_ms);
    if (const int rc = q.step(); rc != SQLITE_DONE) return conn_.failure(rc, kWhat);
    if (conn_.changes() == 0) {
      return make_error(ErrorCode::kNotFound, "finish delivery: no delivery for this alert");
    }
    return {};
  }

  Status note_error(std::int64_t alert_id, const std::string& error) override {
    Query q(note_error_);
    q.bind_int(1, alert_id).bind_text(2, error);
    if (const int rc = q.step(); rc != SQLITE_DONE) return conn_.failure(rc, "note_error");
    if (conn_.changes() == 0) {
      return make_error(ErrorCode::kNotFound, "note_error: no delivery for this alert");
    }
    return {};
  }

  Result<std::vector<GoneSubscription>> pending_gone(std::size_t limit) override {
    Query q(pending_gone_);
    q.bind_int(1, clamp_to_int64(limit));
    std::vector<GoneSubscription> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) out.push_back({q.column_int(0), q.column_text(1)});
    if (rc != SQLITE_DONE) return conn_.failure(rc, "pending_gone");
    return out;
  }

  Status clear_gone(const std::vector<std::int64_t>& subscription_ids) override {
    constexpr std::string_view kWhat = "clear_gone";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    for (const std::int64_t id : subscription_ids) {
      Query q(delete_gone_);
      q.bind_int(1, id);
      if (const int rc = q.step(); rc != SQLITE_DONE) return conn_.failure(rc, kWhat);
    }
    return tx.commit(kWhat);
  }

 private:
  explicit SqliteDeliveryStore(Connection conn) : conn_(std::move(conn)) {}

  Result<std::optional<Delivery>> read(std::int64_t alert_id) {
    Delivery d;
    {
      Query q(find_delivery_);
      q.bind_int(1, alert_id);
      const int rc = q.step();
      if (rc == SQLITE_DONE) return std::optional<Delivery>();
      if (rc != SQLITE_ROW) return conn_.failure(rc, "find delivery");
      d.alert_id = alert_id;
      d.audience = static_cast<std::uint64_t>(q.column_int(0));
      d.targeted = static_cast<std::uint64_t>(q.column_int(1));
      d.cursor = q.column_int(2);
      d.started_at_ms = q.column_int(3);
      d.finished_at_ms = q.column_int(4);
      d.state = static_cast<DeliveryState>(q.column_int(5));
      d.error = q.column_text(6);
      d.shards_done = static_cast<std::uint64_t>(q.column_int(7));
      d.counts.sent = static_cast<std::uint64_t>(q.column_int(8));
      d.counts.gone = static_cast<std::uint64_t>(q.column_int(9));
      d.counts.failed = static_cast<std::uint64_t>(q.column_int(10));
      d.counts.retried = static_cast<std::uint64_t>(q.column_int(11));
      d.counts.last_accept_ms = q.column_int(12);
      d.counts.accept_latency = parse_counts<LatencyHistogram>(q.column_text(13));
      d.shards_open = static_cast<std::uint64_t>(q.column_int(14));
      d.service_split = !q.column_is_null(15) && !q.column_is_null(16);
      if (d.service_split) {
        d.counts.targeted_by_service = parse_counts<ServiceCounts>(q.column_text(15));
        d.counts.accepted_by_service = parse_counts<ServiceCounts>(q.column_text(16));
      }
    }
    {
      Query q(failures_);
      q.bind_int(1, alert_id);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        d.counts.failed_by_reason[q.column_text(0)] = static_cast<std::uint64_t>(q.column_int(1));
      }
      if (rc != SQLITE_DONE) return conn_.failure(rc, "find delivery");
    }
    return std::optional<Delivery>(std::move(d));
  }

  Connection conn_;
  Stmt insert_delivery_;
  Stmt find_delivery_;
  Stmt failures_;
  Stmt advance_cursor_;
  Stmt insert_shard_;
  Stmt open_shards_;
  Stmt close_shard_;
  Stmt add_counts_;
  Stmt add_failure_;
  Stmt insert_gone_;
  Stmt finish_;
  Stmt note_error_;
  Stmt pending_gone_;
  Stmt delete_gone_;

  struct StatementSql {
    Stmt SqliteDeliveryStore::*member;
    const char* sql;
  };
  static constexpr StatementSql kStatements[] = {
      {&SqliteDeliveryStore::insert_delivery_,
       "INSERT INTO deliveries (alert_id, audience, started_at_ms, service_targeted, "
       "service_accepted) VALUES (?1, ?2, ?3, '0,0,0,0,0', '0,0,0,0,0') "
       "ON CONFLICT (alert_id) DO NOTHING"},
      {&SqliteDeliveryStore::find_delivery_,
       "SELECT audience, targeted, cursor, started_at_ms, finished_at_ms, state, error, "
       "shards_done, sent, gone, failed, retried, last_accept_ms, accept_latency, "
       "(SELECT count(*) FROM delivery_shards s WHERE s.alert_id = d.alert_id AND s.done = 0), "
       "service_targeted, service_accepted "
       "FROM deliveries d WHERE alert_id = ?1"},
      {&SqliteDeliveryStore::failures_,
       "SELECT reason, count FROM delivery_failures WHERE alert_id = ?1 ORDER BY reason"},
      {&SqliteDeliveryStore::advance_cursor_,
       "UPDATE deliveries SET cursor = ?3, targeted = targeted + ?4 "
       "WHERE alert_id = ?1 AND cursor = ?2"},
      {&SqliteDeliveryStore::insert_shard_,
       "INSERT INTO delivery_shards (alert_id, after_id, last_id, size) VALUES (?1, ?2, ?3, ?4)"},
      {&SqliteDeliveryStore::open_shards_,
       "SELECT after_id, last_id FROM delivery_shards WHERE alert_id = ?1 AND done = 0 "
       "ORDER BY after_id"},
      {&SqliteDeliveryStore::close_shard_,
       "UPDATE delivery_shards SET done = 1 "
       "WHERE alert_id = ?1 AND after_id = ?2 AND last_id = ?3 AND done = 0"},
      {&SqliteDeliveryStore::add_counts_,
       "UPDATE deliveries SET shards_done = shards_done + 1, sent = sent + ?2, gone = gone + ?3, "
       "failed = failed + ?4, retried = retried + ?5, "
       "last_accept_ms = max(last_accept_ms, ?6), accept_latency = ?7, service_targeted = ?8, "
       "service_accepted = ?9 WHERE alert_id = ?1"},
      {&SqliteDeliveryStore::add_failure_,
       "INSERT INTO delivery_failures (alert_id, reason, count) VALUES (?1, ?2, ?3) "
       "ON CONFLICT (alert_id, reason) DO UPDATE SET count = count + ?3"},
      {&SqliteDeliveryStore::insert_gone_,
       "INSERT INTO pending_gone (subscription_id, endpoint) VALUES (?1, ?2) "
       "ON CONFLICT (subscription_id) DO NOTHING"},
      {&SqliteDeliveryStore::finish_,
       "UPDATE deliveries SET state = ?2, error = ?3, finished_at_ms = ?4 WHERE alert_id = ?1"},
      {&SqliteDeliveryStore::note_error_, "UPDATE deliveries SET error = ?2 WHERE alert_id = ?1"},
      {&SqliteDeliveryStore::pending_gone_,
       "SELECT subscription_id, endpoint FROM pending_gone ORDER BY subscription_id LIMIT ?1"},
      {&SqliteDeliveryStore::delete_gone_, "DELETE FROM pending_gone WHERE subscription_id = ?1"},
  };
};

}  // namespace

Result<std::unique_ptr<DeliveryStore>> open_sqlite_delivery_store(const std::string& path,
                                                                  const SqliteOptions& options) {
  auto conn = Connection::open(path, options, kSchema);
  if (!conn) return tl::unexpected(conn.error());
  return SqliteDeliveryStore::create(std::move(*conn));
}

}  // namespace flashwire::store
