#include "store/sqlite/sqlite_push_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string_view>
#include <utility>

namespace flashwire::store {
namespace {

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

struct DbDeleter {
  // close_v2 rather than close: it cannot fail with SQLITE_BUSY over an unfinalized statement.
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbDeleter>;

struct StmtDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

ErrorCode code_for(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorCode::kCorrupt;
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return ErrorCode::kNotFound;
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return ErrorCode::kConflict;
      }
      return ErrorCode::kInvalid;
    case SQLITE_TOOBIG:
      return ErrorCode::kInvalid;
    default:  // SQLITE_IOERR, SQLITE_FULL, SQLITE_BUSY, SQLITE_READONLY, SQLITE_CANTOPEN, ...
      return ErrorCode::kIo;
  }
}

// SQLite's own messages name tables, columns and constraints, never bound values, so they are
// safe to pass on.
tl::unexpected<Error> sqlite_failure(sqlite3* db, int rc, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return make_error(code_for(rc), std::move(message));
}

// One use of a prepared statement: binds, steps, reads columns, and on destruction resets the
// statement (so a read does not hold its snapshot open) and drops the bindings (which point at
// the caller's buffers, bound without copying).
class Query {
 public:
  explicit Query(const Stmt& stmt) : stmt_(stmt.get()) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind_text(int index, std::string_view text) {
    // A null pointer would bind NULL; an empty string must stay an empty string.
    const char* data = text.data() != nullptr ? text.data() : "";
    return note(sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  Query& bind_int(int index, std::int64_t value) {
    return note(sqlite3_bind_int64(stmt_, index, value));
  }
  Query& bind_blob(int index, std::span<const std::uint8_t> bytes) {
    const void* data = bytes.data() != nullptr ? static_cast<const void*>(bytes.data()) : "";
    return note(sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_STATIC));
  }
  Query& bind_null(int index) { return note(sqlite3_bind_null(stmt_, index)); }

  // SQLITE_ROW, SQLITE_DONE, or an error code (including the first failed bind).
  int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(stmt_); }

  std::int64_t column_int(int index) const {
    return static_cast<std::int64_t>(sqlite3_column_int64(stmt_, index));
  }
  std::string column_text(int index) const {
    const unsigned char* text = sqlite3_column_text(stmt_, index);
    const int size = sqlite3_column_bytes(stmt_, index);
    if (text == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
  }
  std::span<const std::uint8_t> column_blob(int index) const {
    const void* data = sqlite3_column_blob(stmt_, index);
    const int size = sqlite3_column_bytes(stmt_, index);
    if (data == nullptr) return {};  // NULL, or a zero-length blob
    return {static_cast<const std::uint8_t*>(data), static_cast<std::size_t>(size)};
  }
  bool column_is_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }

 private:
  Query& note(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }

  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

std::int64_t clamp_to_int64(std::size_t value) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(value, kMax));
}

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

// Runs SQL that returns nothing (pragmas, DDL, transaction control) during open.
Status exec(sqlite3* db, const char* sql, std::string_view what) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return sqlite_failure(db, rc, what);
  return {};
}

// Runs a one-row, one-column query during open.
Result<std::string> query_text(sqlite3* db, const char* sql, std::string_view what) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return sqlite_failure(db, rc, what);
  Query query(stmt);
  rc = query.step();
  if (rc == SQLITE_DONE) return std::string();
  if (rc != SQLITE_ROW) return sqlite_failure(db, rc, what);
  return query.column_text(0);
}

Result<std::int64_t> query_int(sqlite3* db, const char* sql, std::string_view what) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return sqlite_failure(db, rc, what);
  Query query(stmt);
  rc = query.step();
  if (rc != SQLITE_ROW) return sqlite_failure(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, what);
  return query.column_int(0);
}

// Creates the schema in an empty database, or checks that an existing one is ours and of a
// version this code knows. Holds the write lock throughout, so two processes opening a new file
// at once cannot both create the schema.
Status ensure_schema(sqlite3* db) {
  constexpr std::string_view kWhat = "open push store";
  if (auto ok = exec(db, "BEGIN IMMEDIATE", kWhat); !ok) return ok;
  // Rolls back whatever this function leaves open: nothing must be half-created.
  struct RollbackGuard {
    sqlite3* db;
    ~RollbackGuard() {
      if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  } guard{db};

  auto application_id = query_int(db, "PRAGMA application_id", kWhat);
  if (!application_id) return tl::unexpected(application_id.error());
  auto version = query_int(db, "PRAGMA user_version", kWhat);
  if (!version) return tl::unexpected(version.error());
  auto objects = query_int(db, "SELECT count(*) FROM sqlite_schema", kWhat);
  if (!objects) return tl::unexpected(objects.error());

  if (*application_id == 0 && *version == 0 && *objects == 0) {
    if (auto ok = exec(db, kSchemaV1, kWhat); !ok) return ok;
    const std::string stamp =
        "PRAGMA application_id = " + std::to_string(kApplicationId) +
        "; PRAGMA user_version = " + std::to_string(kSqlitePushStoreSchemaVersion);
    if (auto ok = exec(db, stamp.c_str(), kWhat); !ok) return ok;
  } else if (*application_id != kApplicationId) {
    return make_error(ErrorCode::kCorrupt, "open push store: not a Flashwire push store");
  } else if (*version > kSqlitePushStoreSchemaVersion) {
    return make_error(ErrorCode::kCorrupt, "open push store: schema version " +
                                               std::to_string(*version) +
                                               " is newer than this code knows (" +
                                               std::to_string(kSqlitePushStoreSchemaVersion) + ")");
  } else if (*version < kSqlitePushStoreSchemaVersion) {
    // Version 1 is the first; a stamped file without a version was not written by this code.
    return make_error(ErrorCode::kCorrupt, "open push store: schema version " +
                                               std::to_string(*version) + " is unknown");
  }
  return exec(db, "COMMIT", kWhat);
}

class SqlitePushStore final : public PushStore {
 public:
  static Result<std::unique_ptr<PushStore>> create(Db db) {
    std::unique_ptr<SqlitePushStore> store(new SqlitePushStore(std::move(db)));
    for (const auto& [member, sql] : kStatements) {
      sqlite3_stmt* raw = nullptr;
      // PERSISTENT: these statements live as long as the store; SQLite allocates them for that.
      const int rc =
          sqlite3_prepare_v3(store->db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
      (store.get()->*member).reset(raw);
      if (rc == SQLITE_ERROR) {
        // A version-1 file whose tables do not match what version 1 creates.
        return make_error(ErrorCode::kCorrupt, std::string("open push store: schema is damaged: ") +
                                                   sqlite3_errmsg(store->db_.get()));
      }
      if (rc != SQLITE_OK) return sqlite_failure(store->db_.get(), rc, "open push store");
    }
    return std::unique_ptr<PushStore>(std::move(store));
  }

  Status touch_user_agent(const std::string& uaid, std::int64_t now) override {
    constexpr std::string_view kWhat = "touch_user_agent";
    if (auto ok = require_id(uaid, kWhat, "uaid"); !ok) return ok;
    Transaction tx(*this);
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
    Transaction tx(*this);
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
    Transaction tx(*this);
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
    Transaction tx(*this);
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
    Transaction tx(*this);
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
      result.id = static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_.get()));
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
    Transaction tx(*this);
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
    Transaction tx(*this);
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
  // BEGIN IMMEDIATE ... COMMIT around one interface call. Destroying it without a successful
  // commit rolls back, so every early return leaves the database as it was.
  class Transaction {
   public:
    explicit Transaction(SqlitePushStore& store) : store_(store) {}
    ~Transaction() {
      // SQLite may already have rolled back by itself (after some I/O errors); then there is
      // nothing left to undo, and ROLLBACK would only fail.
      if (begun_ && sqlite3_get_autocommit(store_.db_.get()) == 0) {
        Query q(store_.rollback_);
        q.step();
      }
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    Status begin(std::string_view what) {
      Query q(store_.begin_);
      if (const int rc = q.step(); rc != SQLITE_DONE) return store_.failure(rc, what);
      begun_ = true;
      return {};
    }
    // On failure (e.g. the disk is full) the transaction is still open; the destructor
    // rolls it back.
    Status commit(std::string_view what) {
      Query q(store_.commit_);
      if (const int rc = q.step(); rc != SQLITE_DONE) return store_.failure(rc, what);
      return {};
    }

   private:
    SqlitePushStore& store_;
    bool begun_ = false;
  };

  explicit SqlitePushStore(Db db) : db_(std::move(db)) {}

  tl::unexpected<Error> failure(int rc, std::string_view what) const {
    return sqlite_failure(db_.get(), rc, what);
  }

  std::size_t changes() const { return static_cast<std::size_t>(sqlite3_changes64(db_.get())); }

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
  Db db_;

  Stmt begin_;
  Stmt commit_;
  Stmt rollback_;
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
      {&SqlitePushStore::begin_, "BEGIN IMMEDIATE"},
      {&SqlitePushStore::commit_, "COMMIT"},
      {&SqlitePushStore::rollback_, "ROLLBACK"},
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
  sqlite3* raw = nullptr;
  // NOMUTEX: a store is used by one thread at a time (see push_store.h), so SQLite's
  // per-connection mutex would only cost time. No SQLITE_OPEN_URI: a path is a path.
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);  // closed on every return below unless handed to the store
  if (rc != SQLITE_OK) {
    const char* reason = db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc);
    return make_error(ErrorCode::kIo, "cannot open push store " + path + ": " + reason);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), std::max(options.busy_timeout_ms, 0));

  // The first statement that reads the file: a file that is not a database fails here with
  // SQLITE_NOTADB (kCorrupt).
  auto journal = query_text(db.get(), "PRAGMA journal_mode = WAL", "open push store");
  if (!journal) return tl::unexpected(journal.error());
  // In-memory and temporary databases have no file name and cannot use WAL; they need not.
  const char* file = sqlite3_db_filename(db.get(), "main");
  const bool on_disk = file != nullptr && file[0] != '\0';
  if (on_disk && *journal != "wal") {
    return make_error(ErrorCode::kIo,
                      "open push store: cannot switch to WAL (journal mode is " + *journal + ")");
  }
  // NORMAL is durable against process crashes in WAL mode and avoids an fsync per commit.
  // Foreign keys are off by default in SQLite and are what make the deletes cascade.
  if (auto ok = exec(db.get(), "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
                     "open push store");
      !ok) {
    return tl::unexpected(ok.error());
  }
  if (options.wal_autocheckpoint_pages > 0) {
    sqlite3_wal_autocheckpoint(db.get(), options.wal_autocheckpoint_pages);
  }
  if (auto ok = ensure_schema(db.get()); !ok) return tl::unexpected(ok.error());
  return SqlitePushStore::create(std::move(db));
}

}  // namespace flashwire::store
