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

namespace flashwire::store {

struct SqliteOptions {
  // How long a call waits for another connection's write lock before giving up with kIo.
  // 0 or less: fail at once.
  int busy_timeout_ms = 5000;
  // WAL pages written before a commit also copies them back into the database file
  // (PRAGMA wal_autocheckpoint). Commits in between do not sync; each checkpoint syncs the disk
  // twice. A store+delete pair writes about 18 pages, so SQLite's default of 1000 means two syncs
  // every ~55 pairs, which dominated the hot path in measurements. Beyond about 4000 the gain
  // flattens: the WAL index (hash blocks of 4096 frames, with long probe chains for the few hot
  // pages rewritten over and over) eats most of what the fewer syncs save. The price of a longer
  // interval: a WAL file of up to this many 4 KiB pages (about 16 MB here), which stays that size
  // once reached, and a longer window for a power cut (with synchronous=NORMAL, commits since the
  // last checkpoint can be lost; a process crash loses nothing). 0 or less: SQLite's default.
  int wal_autocheckpoint_pages = 4000;
};

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
