// PushStore on one SQLite database file: the push service's durable state.
//
// The database runs in WAL mode with synchronous=NORMAL: a commit is written to the WAL before the
// call returns, and survives a crash of the process; a power cut can lose the commits since the
// last checkpoint (see wal_autocheckpoint_pages) but never corrupts the file. Every mutating call
// is one BEGIN IMMEDIATE transaction, so the write lock is taken up front and a call never fails
// half-way because another writer came first.
//
// Several stores (in this process or others) may open the same file; SQLite serialises their
// writes, and a writer waits up to `busy_timeout_ms` for the lock before failing with kIo.
//
// Behaviour the PushStore contract leaves open, decided here:
// - store_message with backlog_cap 0 is kInvalid: the new message would evict itself.
// - Message ids come from an AUTOINCREMENT column, so an id is never handed out twice, even after
//   the message with the highest id was deleted; user agents ack by id.
// - remove_user_agent does not mark the dropped channels as removed (it has no time to record),
//   so was_removed() is false for them; marks left by earlier remove_channel calls are kept.
// - channels_of lists channels ordered by channel id.
// - Error messages name the operation and SQLite's reason, never ids, keys or payloads.
//
// Thread safety: as PushStore; one thread at a time per store object.
#pragma once

#include <memory>
#include <string>

#include "store/error.h"
#include "store/push_store.h"
#include "store/sqlite/sqlite_options.h"

namespace flashwire::store {

// The schema version this code writes and reads (PRAGMA user_version).
inline constexpr int kSqlitePushStoreSchemaVersion = 1;

// Opens the push store at `path`, creating the file and its schema if the file does not exist or
// is empty. ":memory:" gives a private in-memory store (no WAL), useful in tests of other modules.
// Errors: kIo when the file cannot be opened or created (missing directory, no permission, the
// database stays locked past the busy timeout); kCorrupt when the file is not a SQLite database,
// is another application's database, has a schema version newer than this code knows, or lacks
// the tables its version promises.
Result<std::unique_ptr<PushStore>> open_sqlite_push_store(const std::string& path,
                                                          const SqliteOptions& options = {});

}  // namespace flashwire::store
