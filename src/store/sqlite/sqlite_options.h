// Options shared by the SQLite stores (push store, site store).
#pragma once

namespace flashwire::store {

struct SqliteOptions {
  // How long a call waits for another connection's write lock before giving up with kIo.
  // 0 or less: fail at once.
  int busy_timeout_ms = 5000;
  // WAL pages written before a commit also copies them back into the database file
  // (PRAGMA wal_autocheckpoint). Commits in between do not sync; each checkpoint syncs the disk
  // twice. In the push store a store+delete pair writes about 18 pages, so SQLite's default of 1000
  // means two syncs every ~55 pairs, which dominated the hot path in measurements. Beyond about
  // 4000 the gain flattens: the WAL index (hash blocks of 4096 frames, with long probe chains for
  // the few hot pages rewritten over and over) eats most of what the fewer syncs save. The price of
  // a longer interval: a WAL file of up to this many 4 KiB pages (about 16 MB here), which stays
  // that size once reached, and a longer window for a power cut (with synchronous=NORMAL, commits
  // since the last checkpoint can be lost; a process crash loses nothing). 0 or less: SQLite's
  // default.
  int wal_autocheckpoint_pages = 4000;
};

}  // namespace flashwire::store
