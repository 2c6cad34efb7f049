// Internal to the SQLite stores: what every store on a SQLite file needs the same way. The
// connection (opening, pragmas, schema creation and checks), prepared statements, one use of a
// statement (Query), BEGIN IMMEDIATE transactions that roll back unless committed, and the mapping
// of SQLite's result codes to ErrorCode. Not part of the store API; include only from
// src/store/sqlite/*.cc.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "store/error.h"

namespace flashwire::store {

struct SqliteOptions;

namespace sqlite_detail {

struct DbDeleter {
  // close_v2 rather than close: it cannot fail with SQLITE_BUSY over an unfinalized statement.
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbDeleter>;

struct StmtDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// SQLite result code (extended or primary) -> ErrorCode. Constraint failures: UNIQUE and PRIMARY
// KEY are kConflict, FOREIGN KEY kNotFound (the referenced row is missing), the rest (CHECK, NOT
// NULL) kInvalid. Anything the caller cannot fix by passing other values is kIo.
ErrorCode code_for(int rc);

// An error for a failed SQLite call: "<what>: <SQLite's reason>". SQLite's own messages name
// tables, columns and constraints, never bound values, so they are safe to pass on.
tl::unexpected<Error> sqlite_failure(sqlite3* db, int rc, std::string_view what);

std::int64_t clamp_to_int64(std::size_t value);

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

// What a store's file must be: PRAGMA application_id tells the store's files apart from any other
// SQLite file (another store's included), so that a wrong path is kCorrupt instead of having
// tables added to someone else's data; PRAGMA user_version is the schema version.
//
// Versions: `create_sql` creates version 1; upgrades[i] turns version i + 1 into version i + 2,
// so `version` is 1 + upgrades.size(). A new file gets version 1 and then every upgrade; an
// existing file of an older version gets the upgrades it lacks. Either way in one transaction
// with the version stamp, so a file is never left half-upgraded. Upgrades only add (tables,
// indexes, columns with defaults): nothing stored is rewritten or dropped.
struct SchemaSpec {
  std::string_view name;  // "push store": in error messages, "open push store: ..."
  int application_id;
  int version;             // the newest version: what this code writes, and reads after upgrading
  const char* create_sql;  // creates version 1 in an empty database
  std::span<const char* const> upgrades = {};  // see above
};

class Connection;

// BEGIN IMMEDIATE ... COMMIT around one interface call. Destroying it without a successful
// commit rolls back, so every early return leaves the database as it was.
class Transaction {
 public:
  explicit Transaction(const Connection& connection) : connection_(connection) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status begin(std::string_view what);
  // On failure (e.g. the disk is full) the transaction is still open; the destructor rolls it
  // back.
  Status commit(std::string_view what);

 private:
  const Connection& connection_;
  bool begun_ = false;
};

// One open database in WAL mode with synchronous=NORMAL and foreign keys on, whose schema has been
// created or checked, with the statements that bracket a transaction prepared.
class Connection {
 public:
  // Opens `path` (":memory:" for a private in-memory database, which skips WAL), creating the
  // file and the schema if the file does not exist or is empty. Errors as documented for
  // open_sqlite_push_store: kIo when the file cannot be opened, created or locked; kCorrupt when
  // it is not a SQLite database, is another application's, or has a version other than
  // `schema.version`.
  static Result<Connection> open(const std::string& path, const SqliteOptions& options,
                                 const SchemaSpec& schema);

  Connection(Connection&&) = default;
  Connection& operator=(Connection&&) = default;

  sqlite3* get() const { return db_.get(); }

  // Prepares a statement for the life of the store. A statement that does not compile against
  // the file's tables means a file of this schema version whose tables are not what that version
  // creates: kCorrupt.
  Result<Stmt> prepare(const char* sql) const;

  tl::unexpected<Error> failure(int rc, std::string_view what) const {
    return sqlite_failure(db_.get(), rc, what);
  }
  // Rows changed by the last INSERT, UPDATE or DELETE.
  std::size_t changes() const { return static_cast<std::size_t>(sqlite3_changes64(db_.get())); }
  std::int64_t last_insert_rowid() const {
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_.get()));
  }

 private:
  friend class Transaction;

  Connection(Db db, std::string_view name) : db_(std::move(db)), name_(name) {}

  // Declared first so that it is destroyed last, after the statements are finalized.
  Db db_;
  std::string name_;
  Stmt begin_;
  Stmt commit_;
  Stmt rollback_;
};

// Prepares a store's statements: `statements` is a table of {member pointer, SQL}, and each
// compiled statement goes into its member of `store`. The first failure is returned.
template <typename Store, typename Statements>
Status prepare_all(Store& store, const Connection& connection, const Statements& statements) {
  for (const auto& [member, sql] : statements) {
    auto stmt = connection.prepare(sql);
    if (!stmt) return tl::unexpected(stmt.error());
    store.*member = std::move(*stmt);
  }
  return {};
}

}  // namespace sqlite_detail
}  // namespace flashwire::store
