#include "store/sqlite/sqlite_util.h"

#include <algorithm>
#include <limits>
#include <utility>

// SqliteOptions is declared there, for now; both stores take it.
#include "store/sqlite/sqlite_push_store.h"

namespace flashwire::store::sqlite_detail {
namespace {

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
// version this code knows, upgrading an older one. Holds the write lock throughout, so two
// processes opening a new file at once cannot both create the schema.
Status ensure_schema(sqlite3* db, const SchemaSpec& schema) {
  const std::string what = "open " + std::string(schema.name);
  if (auto ok = exec(db, "BEGIN IMMEDIATE", what); !ok) return ok;
  // Rolls back whatever this function leaves open: nothing must be half-created.
  struct RollbackGuard {
    sqlite3* db;
    ~RollbackGuard() {
      if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  } guard{db};

  auto application_id = query_int(db, "PRAGMA application_id", what);
  if (!application_id) return tl::unexpected(application_id.error());
  auto version = query_int(db, "PRAGMA user_version", what);
  if (!version) return tl::unexpected(version.error());
  auto objects = query_int(db, "SELECT count(*) FROM sqlite_schema", what);
  if (!objects) return tl::unexpected(objects.error());

  // Runs the upgrades from `from` (1 or more) to schema.version and stamps the file with it.
  const auto upgrade = [&](std::int64_t from) -> Status {
    if (schema.version != 1 + static_cast<int>(schema.upgrades.size())) {
      return make_error(ErrorCode::kCorrupt, what + ": schema upgrades do not reach version " +
                                                 std::to_string(schema.version));
    }
    for (auto v = from; v < schema.version; ++v) {
      const std::string step =
          what + ": upgrade from version " + std::to_string(v) + " to " + std::to_string(v + 1);
      const char* sql = schema.upgrades[static_cast<std::size_t>(v - 1)];
      if (const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr); rc != SQLITE_OK) {
        // SQLITE_ERROR here means the file's tables are not what its version promises (say, the
        // table being added exists already): a damaged file, not an I/O problem.
        auto failure = sqlite_failure(db, rc, step);
        if ((rc & 0xff) == SQLITE_ERROR) failure.value().code = ErrorCode::kCorrupt;
        return failure;
      }
    }
    const std::string stamp = "PRAGMA application_id = " + std::to_string(schema.application_id) +
                              "; PRAGMA user_version = " + std::to_string(schema.version);
    return exec(db, stamp.c_str(), what);
  };

  if (*application_id == 0 && *version == 0 && *objects == 0) {
    if (auto ok = exec(db, schema.create_sql, what); !ok) return ok;
    if (auto ok = upgrade(1); !ok) return ok;
  } else if (*application_id != schema.application_id) {
    return make_error(ErrorCode::kCorrupt, what + ": not a Flashwire " + std::string(schema.name));
  } else if (*version > schema.version) {
    return make_error(ErrorCode::kCorrupt, what + ": schema version " + std::to_string(*version) +
                                               " is newer than this code knows (" +
                                               std::to_string(schema.version) + ")");
  } else if (*version < 1) {
    // Version 1 is the first; a stamped file without a version was not written by this code.
    return make_error(ErrorCode::kCorrupt,
                      what + ": schema version " + std::to_string(*version) + " is unknown");
  } else if (*version < schema.version) {
    if (auto ok = upgrade(*version); !ok) return ok;
  }
  return exec(db, "COMMIT", what);
}

}  // namespace

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

tl::unexpected<Error> sqlite_failure(sqlite3* db, int rc, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return make_error(code_for(rc), std::move(message));
}

std::int64_t clamp_to_int64(std::size_t value) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(value, kMax));
}

Transaction::~Transaction() {
  // SQLite may already have rolled back by itself (after some I/O errors); then there is
  // nothing left to undo, and ROLLBACK would only fail.
  if (begun_ && sqlite3_get_autocommit(connection_.get()) == 0) {
    Query q(connection_.rollback_);
    q.step();
  }
}

Status Transaction::begin(std::string_view what) {
  Query q(connection_.begin_);
  if (const int rc = q.step(); rc != SQLITE_DONE) return connection_.failure(rc, what);
  begun_ = true;
  return {};
}

Status Transaction::commit(std::string_view what) {
  Query q(connection_.commit_);
  if (const int rc = q.step(); rc != SQLITE_DONE) return connection_.failure(rc, what);
  return {};
}

Result<Connection> Connection::open(const std::string& path, const SqliteOptions& options,
                                    const SchemaSpec& schema) {
  const std::string what = "open " + std::string(schema.name);
  sqlite3* raw = nullptr;
  // NOMUTEX: a store is used by one thread at a time, so SQLite's per-connection mutex would
  // only cost time. No SQLITE_OPEN_URI: a path is a path.
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);  // closed on every return below unless handed to the connection
  if (rc != SQLITE_OK) {
    const char* reason = db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc);
    return make_error(ErrorCode::kIo,
                      "cannot open " + std::string(schema.name) + " " + path + ": " + reason);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), std::max(options.busy_timeout_ms, 0));

  // The first statement that reads the file: a file that is not a database fails here with
  // SQLITE_NOTADB (kCorrupt).
  auto journal = query_text(db.get(), "PRAGMA journal_mode = WAL", what);
  if (!journal) return tl::unexpected(journal.error());
  // In-memory and temporary databases have no file name and cannot use WAL; they need not.
  const char* file = sqlite3_db_filename(db.get(), "main");
  const bool on_disk = file != nullptr && file[0] != '\0';
  if (on_disk && *journal != "wal") {
    return make_error(ErrorCode::kIo,
                      what + ": cannot switch to WAL (journal mode is " + *journal + ")");
  }
  // NORMAL is durable against process crashes in WAL mode and avoids an fsync per commit.
  // Foreign keys are off by default in SQLite and are what make the deletes cascade.
  if (auto ok = exec(db.get(), "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", what);
      !ok) {
    return tl::unexpected(ok.error());
  }
  if (options.wal_autocheckpoint_pages > 0) {
    sqlite3_wal_autocheckpoint(db.get(), options.wal_autocheckpoint_pages);
  }
  if (auto ok = ensure_schema(db.get(), schema); !ok) return tl::unexpected(ok.error());

  Connection connection(std::move(db), schema.name);
  const std::pair<Stmt Connection::*, const char*> statements[] = {
      {&Connection::begin_, "BEGIN IMMEDIATE"},
      {&Connection::commit_, "COMMIT"},
      {&Connection::rollback_, "ROLLBACK"},
  };
  for (const auto& [member, sql] : statements) {
    auto stmt = connection.prepare(sql);
    if (!stmt) return tl::unexpected(stmt.error());
    connection.*member = std::move(*stmt);
  }
  return connection;
}

Result<Stmt> Connection::prepare(const char* sql) const {
  sqlite3_stmt* raw = nullptr;
  // PERSISTENT: these statements live as long as the store; SQLite allocates them for that.
  const int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  Stmt stmt(raw);
  if (rc == SQLITE_ERROR) {
    // A file of our schema version whose tables do not match what that version creates.
    return make_error(ErrorCode::kCorrupt,
                      "open " + name_ + ": schema is damaged: " + sqlite3_errmsg(db_.get()));
  }
  if (rc != SQLITE_OK) return sqlite_failure(db_.get(), rc, "open " + name_);
  return stmt;
}

}  // namespace flashwire::store::sqlite_detail
