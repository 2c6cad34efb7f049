#include "store/sqlite/sqlite_push_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>

#include "store/sqlite/sqlite_util.h"

namespace flashwire::store {
namespace {

using sqlite_detail::clamp_to_int64;
using sqlite_detail::Connection;
using sqlite_detail::prepare_all;
using sqlite_detail::Query;
using sqlite_detail::Stmt;
using sqlite_detail::Transaction;

// PRAGMA application_id, "FWPS": tells our database apart from any other SQLite file, so that
// a wrong path is reported as kCorrupt instead of having tables added to someone else's data.
constexpr int kApplicationId = 0x46575053;

// Largest body a push service accepts (RFC 8030 §7.2 lets services cap it; 4096 is the common cap).
constexpr std::size_t kMaxDataSize = 4096;

// Version 1. Notes on the choices:
// - Text primary keys use WITHOUT ROWID tables: the primary key is the only index they need.
// - messages.id is AUTOINCREMENT so that an id, which is the message's version on the wire and
//   what the user agent acks, is never reused after the newest message was deleted.
// - messages_by_topic also serves the foreign key to channels: deleting a channel finds its
//   messages by the (uaid, channel_id) prefix instead of scanning the table.
// - removed_channels has no foreign key: it must outlive the channel it remembers.
// - The CHECKs restate the limits the code validates, as a last line of defence for the file.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE user_agents (
  uaid TEXT NOT NULL PRIMARY KEY,
  created_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE channels (
  uaid TEXT NOT NULL REFERENCES user_agents (uaid) ON DELETE CASCADE,
  channel_id TEXT NOT NULL,
  vapid_key BLOB CHECK (vapid_key IS NULL OR length(vapid_key) = 65),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (uaid, channel_id)
) WITHOUT ROWID;

CREATE TABLE removed_channels (
  uaid TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  removed_at INTEGER NOT NULL,
  PRIMARY KEY (uaid, channel_id)
) WITHOUT ROWID;

CREATE TABLE messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uaid TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  urgency INTEGER NOT NULL CHECK (urgency BETWEEN 0 AND 3),
  received_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  encoding TEXT NOT NULL,
  data BLOB NOT NULL CHECK (length(data) <= 4096),
  FOREIGN KEY (uaid, channel_id) REFERENCES channels (uaid, channel_id) ON DELETE CASCADE
);

CREATE INDEX messages_by_uaid ON messages (uaid, id);
CREATE INDEX messages_by_expiry ON messages (expires_at);
CREATE INDEX messages_by_topic ON messages (uaid, channel_id, topic);
)sql";

constexpr sqlite_detail::SchemaSpec kSchema{"push store", kApplicationId,
                                            kSqlitePushStoreSchemaVersion, kSchemaV1};

Status require_id(std::string_view value, std::string_view what, std::string_view name) {
  if (value.empty()) {
    return make_error(ErrorCode::kInvalid,
                      std::string(what) + ": " + std::string(name) + " is empty");
  }
  return {};
}

Status validate_message(const PushMessage& message, std::size_t backlog_cap) {
  constexpr std::string_view kWhat = "store_message";
  if (auto ok = require_id(message.uaid, kWhat, "uaid"); !ok) return ok;
  if (auto ok = require_id(message.channel_id, kWhat, "channel id"); !ok) return ok;
  if (message.data.size() > kMaxDataSize) {
    return make_error(ErrorCode::kInvalid, "store_message: body of " +
                                               std::to_string(message.data.size()) +
                                               " bytes is over the 4096-byte limit");
  }
  const auto urgency = static_cast<int>(message.urgency);
  if (urgency < static_cast<int>(Urgency::kVeryLow) || urgency > static_cast<int>(Urgency::kHigh)) {
    return make_error(ErrorCode::kInvalid, "store_message: urgency out of range");
  }
  if (message.expires_at < message.received_at) {
    return make_error(ErrorCode::kInvalid, "store_message: expires before it was received");
  }
  if (backlog_cap == 0) {
    // The new message would be evicted by its own insert.
    return make_error(ErrorCode::kInvalid, "store_message: backlog cap is 0");
  }
  return {};
}

class SqlitePushStore final : public PushStore {
 public:
  static Result<std::unique_ptr<PushStore>> create(Connection conn) {
    std::unique_ptr<SqlitePushStore> store(new SqlitePushStore(std::move(conn)));
    if (auto ok = prepare_all(*store, store->conn_, kStatements); !ok) {
      return tl::unexpected(ok.error());
    }
    return std::unique_ptr<PushStore>(std::move(store));
  }

  Status touch_user_agent(const std::string& uaid, std::int64_t now) override {
    constexpr std::string_view kWhat = "touch_user_agent";
    if (auto ok = require_id(uaid, kWhat, "uaid"); !ok) return ok;
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      Query q(upsert_user_agent_);
      q.bind_text(1, uaid).bind_int(2, now);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    return tx.commit(kWhat);
  }

  Result<bool> user_agent_exists(const std::string& uaid) override {
    Query q(user_agent_exists_);
    q.bind_text(1, uaid);
    const int rc = q.step();
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return failure(rc, "user_agent_exists");
  }

  Status remove_user_agent(const std::string& uaid) override {
    constexpr std::string_view kWhat = "remove_user_agent";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      // Channels and, through them, messages go by ON DELETE CASCADE.
      Query q(delete_user_agent_);
      q.bind_text(1, uaid);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    return tx.commit(kWhat);
  }

  Status add_channel(const PushChannel& channel) override {
    constexpr std::string_view kWhat = "add_channel";
    if (auto ok = require_id(channel.uaid, kWhat, "uaid"); !ok) return ok;
    if (auto ok = require_id(channel.channel_id, kWhat, "channel id"); !ok) return ok;
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    {
      Query q(find_channel_);
      q.bind_text(1, channel.uaid).bind_text(2, channel.channel_id);
      const int rc = q.step();
      if (rc == SQLITE_ROW) {
        auto existing = read_key(q, 0);
        if (!existing) return tl::unexpected(existing.error());
        if (*existing != channel.vapid_key) {
          return make_error(ErrorCode::kConflict,
                            "add_channel: channel exists with a different VAPID key");
        }
        return {};  // same registration again; the guard ends the read-only transaction
      }
      if (rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    {
      Query q(user_agent_exists_);
      q.bind_text(1, channel.uaid);
      const int rc = q.step();
      if (rc == SQLITE_DONE)
        return make_error(ErrorCode::kNotFound, "add_channel: no such user agent");
      if (rc != SQLITE_ROW) return failure(rc, kWhat);
    }
    {
      Query q(insert_channel_);
      q.bind_text(1, channel.uaid).bind_text(2, channel.channel_id).bind_int(4, channel.created_at);
      if (channel.vapid_key) {
        q.bind_blob(3, *channel.vapid_key);
      } else {
        q.bind_null(3);
      }
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    {
      // Subscribing again under a removed id makes it live again: no more 410 for it.
      Query q(delete_removed_mark_);
      q.bind_text(1, channel.uaid).bind_text(2, channel.channel_id);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    return tx.commit(kWhat);
  }

  Result<std::optional<PushChannel>> find_channel(const std::string& uaid,
                                                  const std::string& channel_id) override {
    constexpr std::string_view kWhat = "find_channel";
    Query q(find_channel_);
    q.bind_text(1, uaid).bind_text(2, channel_id);
    const int rc = q.step();
    if (rc == SQLITE_DONE) return std::optional<PushChannel>();
    if (rc != SQLITE_ROW) return failure(rc, kWhat);
    auto key = read_key(q, 0);
    if (!key) return tl::unexpected(key.error());
    return PushChannel{uaid, channel_id, *key, q.column_int(1)};
  }

  Result<std::vector<PushChannel>> channels_of(const std::string& uaid) override {
    Query q(channels_of_);
    q.bind_text(1, uaid);
    std::vector<PushChannel> channels;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      auto key = read_key(q, 1);
      if (!key) return tl::unexpected(key.error());
      channels.push_back(PushChannel{uaid, q.column_text(0), *key, q.column_int(2)});
    }
    if (rc != SQLITE_DONE) return failure(rc, "channels_of");
    return channels;
  }

  Status remove_channel(const std::string& uaid, const std::string& channel_id,
                        std::int64_t now) override {
    constexpr std::string_view kWhat = "remove_channel";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return ok;
    bool existed = false;
    {
      // Its messages go by ON DELETE CASCADE.
      Query q(delete_channel_);
      q.bind_text(1, uaid).bind_text(2, channel_id);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      existed = changes() > 0;
    }
    if (existed) {
      Query q(upsert_removed_mark_);
      q.bind_text(1, uaid).bind_text(2, channel_id).bind_int(3, now);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
    }
    return tx.commit(kWhat);
  }

  Result<bool> was_removed(const std::string& uaid, const std::string& channel_id) override {
    Query q(removed_mark_exists_);
    q.bind_text(1, uaid).bind_text(2, channel_id);
    const int rc = q.step();
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return failure(rc, "was_removed");
  }

  Result<StoreMessageResult> store_message(const PushMessage& message,
                                           std::size_t backlog_cap) override {
    constexpr std::string_view kWhat = "store_message";
    if (auto ok = validate_message(message, backlog_cap); !ok) return tl::unexpected(ok.error());
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    {
      // Checked first, rather than left to the foreign key, so the caller gets kNotFound
      // with a clear message before anything (the topic delete) has run.
      Query q(channel_exists_);
      q.bind_text(1, message.uaid).bind_text(2, message.channel_id);
      const int rc = q.step();
      if (rc == SQLITE_DONE)
        return make_error(ErrorCode::kNotFound, "store_message: no such channel");
      if (rc != SQLITE_ROW) return failure(rc, kWhat);
    }
    StoreMessageResult result;
    if (!message.topic.empty()) {
      Query q(delete_topic_);
      q.bind_text(1, message.uaid).bind_text(2, message.channel_id).bind_text(3, message.topic);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      result.replaced = changes();
    }
    {
      Query q(insert_message_);
      q.bind_text(1, message.uaid)
          .bind_text(2, message.channel_id)
          .bind_text(3, message.topic)
          .bind_int(4, static_cast<std::int64_t>(message.urgency))
          .bind_int(5, message.received_at)
          .bind_int(6, message.expires_at)
          .bind_text(7, message.encoding)
          .bind_blob(8, message.data);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      result.id = conn_.last_insert_rowid();
    }
    {
      Query q(evict_oldest_);
      q.bind_text(1, message.uaid).bind_int(2, clamp_to_int64(backlog_cap));
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      result.evicted = changes();
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return result;
  }

  Result<std::vector<PushMessage>> pending_messages(const std::string& uaid, std::int64_t now,
                                                    std::size_t limit) override {
    constexpr std::string_view kWhat = "pending_messages";
    Query q(pending_messages_);
    q.bind_text(1, uaid).bind_int(2, now).bind_int(3, clamp_to_int64(limit));
    std::vector<PushMessage> messages;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      const std::int64_t urgency = q.column_int(3);
      if (urgency < 0 || urgency > 3) {
        return make_error(ErrorCode::kCorrupt, "pending_messages: stored urgency out of range");
      }
      PushMessage& m = messages.emplace_back();
      m.id = q.column_int(0);
      m.uaid = uaid;
      m.channel_id = q.column_text(1);
      m.topic = q.column_text(2);
      m.urgency = static_cast<Urgency>(urgency);
      m.received_at = q.column_int(4);
      m.expires_at = q.column_int(5);
      m.encoding = q.column_text(6);
      const auto data = q.column_blob(7);
      m.data.assign(data.begin(), data.end());
    }
    if (rc != SQLITE_DONE) return failure(rc, kWhat);
    return messages;
  }

  Result<bool> delete_message(const std::string& uaid, std::int64_t id) override {
    constexpr std::string_view kWhat = "delete_message";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    bool deleted = false;
    {
      // The uaid condition keeps one user agent from acking away another's messages.
      Query q(delete_message_);
      q.bind_int(1, id).bind_text(2, uaid);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      deleted = changes() > 0;
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return deleted;
  }

  Result<std::size_t> purge_expired(std::int64_t now) override {
    constexpr std::string_view kWhat = "purge_expired";
    Transaction tx(conn_);
    if (auto ok = tx.begin(kWhat); !ok) return tl::unexpected(ok.error());
    std::size_t purged = 0;
    {
      Query q(purge_expired_);
      q.bind_int(1, now);
      if (const int rc = q.step(); rc != SQLITE_DONE) return failure(rc, kWhat);
      purged = changes();
    }
    if (auto ok = tx.commit(kWhat); !ok) return tl::unexpected(ok.error());
    return purged;
  }

  Result<std::size_t> message_count() override {
    Query q(message_count_);
    const int rc = q.step();
    if (rc != SQLITE_ROW) return failure(rc, "message_count");
    return static_cast<std::size_t>(q.column_int(0));
  }

 private:
  explicit SqlitePushStore(Connection conn) : conn_(std::move(conn)) {}

  tl::unexpected<Error> failure(int rc, std::string_view what) const {
    return conn_.failure(rc, what);
  }

  std::size_t changes() const { return conn_.changes(); }

  static Result<std::optional<VapidKey>> read_key(const Query& q, int column) {
    if (q.column_is_null(column)) return std::optional<VapidKey>();
    const auto bytes = q.column_blob(column);
    VapidKey key;
    if (bytes.size() != key.size()) {
      return make_error(ErrorCode::kCorrupt, "stored VAPID key has the wrong length");
    }
    std::copy(bytes.begin(), bytes.end(), key.begin());
    return std::optional<VapidKey>(key);
  }

  // Declared first so that it is destroyed last, after every statement is finalized.
  Connection conn_;

  Stmt upsert_user_agent_;
  Stmt user_agent_exists_;
  Stmt delete_user_agent_;
  Stmt find_channel_;
  Stmt channel_exists_;
  Stmt insert_channel_;
  Stmt channels_of_;
  Stmt delete_channel_;
  Stmt upsert_removed_mark_;
  Stmt delete_removed_mark_;
  Stmt removed_mark_exists_;
  Stmt delete_topic_;
  Stmt insert_message_;
  Stmt evict_oldest_;
  Stmt pending_messages_;
  Stmt delete_message_;
  Stmt purge_expired_;
  Stmt message_count_;

  struct StatementSql {
    Stmt SqlitePushStore::*member;
    const char* sql;
  };
  static constexpr StatementSql kStatements[] = {
      {&SqlitePushStore::upsert_user_agent_,
       "INSERT INTO user_agents (uaid, created_at, last_seen) VALUES (?1, ?2, ?2) "
       "ON CONFLICT (uaid) DO UPDATE SET last_seen = excluded.last_seen"},
      {&SqlitePushStore::user_agent_exists_, "SELECT 1 FROM user_agents WHERE uaid = ?1"},
      {&SqlitePushStore::delete_user_agent_, "DELETE FROM user_agents WHERE uaid = ?1"},
      {&SqlitePushStore::find_channel_,
       "SELECT vapid_key, created_at FROM channels WHERE uaid = ?1 AND channel_id = ?2"},
      {&SqlitePushStore::channel_exists_,
       "SELECT 1 FROM channels WHERE uaid = ?1 AND channel_id = ?2"},
      {&SqlitePushStore::insert_channel_,
       "INSERT INTO channels (uaid, channel_id, vapid_key, created_at) VALUES (?1, ?2, ?3, ?4)"},
      {&SqlitePushStore::channels_of_,
       "SELECT channel_id, vapid_key, created_at FROM channels WHERE uaid = ?1 "
       "ORDER BY channel_id"},
      {&SqlitePushStore::delete_channel_,
       "DELETE FROM channels WHERE uaid = ?1 AND channel_id = ?2"},
      {&SqlitePushStore::upsert_removed_mark_,
       "INSERT INTO removed_channels (uaid, channel_id, removed_at) VALUES (?1, ?2, ?3) "
       "ON CONFLICT (uaid, channel_id) DO UPDATE SET removed_at = excluded.removed_at"},
      {&SqlitePushStore::delete_removed_mark_,
       "DELETE FROM removed_channels WHERE uaid = ?1 AND channel_id = ?2"},
      {&SqlitePushStore::removed_mark_exists_,
       "SELECT 1 FROM removed_channels WHERE uaid = ?1 AND channel_id = ?2"},
      {&SqlitePushStore::delete_topic_,
       "DELETE FROM messages WHERE uaid = ?1 AND channel_id = ?2 AND topic = ?3"},
      {&SqlitePushStore::insert_message_,
       "INSERT INTO messages (uaid, channel_id, topic, urgency, received_at, expires_at, "
       "encoding, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      // Everything but the newest ?2 messages of the user agent: the newest are kept, and the
      // index on (uaid, id) is walked from its newest end.
      {&SqlitePushStore::evict_oldest_,
       "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE uaid = ?1 "
       "ORDER BY id DESC LIMIT -1 OFFSET ?2)"},
      {&SqlitePushStore::pending_messages_,
       "SELECT id, channel_id, topic, urgency, received_at, expires_at, encoding, data "
       "FROM messages WHERE uaid = ?1 AND expires_at > ?2 ORDER BY id LIMIT ?3"},
      {&SqlitePushStore::delete_message_, "DELETE FROM messages WHERE id = ?1 AND uaid = ?2"},
      {&SqlitePushStore::purge_expired_, "DELETE FROM messages WHERE expires_at <= ?1"},
      {&SqlitePushStore::message_count_, "SELECT count(*) FROM messages"},
  };
};

}  // namespace

Result<std::unique_ptr<PushStore>> open_sqlite_push_store(const std::string& path,
                                                          const SqliteOptions& options) {
  auto conn = Connection::open(path, options, kSchema);
  if (!conn) return tl::unexpected(conn.error());
  return SqlitePushStore::create(std::move(*conn));
}

}  // namespace flashwire::store
