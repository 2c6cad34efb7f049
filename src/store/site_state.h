// Where a site keeps its state, chosen by one URL (`--store`, `[store] url`,
// FLASHWIRE_STORE_URL), and the stores opened on it.
//
// URLs:
// - "" or "sqlite:": SQLite files in the data directory (site.sqlite, delivery.sqlite), the
//   default; "sqlite:DIR": the files in DIR instead.
// - "postgresql://…" or "postgres://…": any libpq connection URI, passed to libpq as it is, so
//   multi-host URIs with target_session_attrs=read-write (failover) work. The schema is migrated
//   when the state is opened (StateOptions::migrate), under an advisory lock.
// Anything else is kInvalid. See docs/store.md.
//
// Errors are one line that names the problem and never the password: kInvalid for a URL that
// cannot be used, kIo for a server that cannot be reached or refuses the credentials, kCorrupt for
// a database migrated by a newer Flashwire.
//
// Thread safety: a SiteState may be shared by threads; each store it opens is for one thread at a
// time (open one per thread). The SiteState must outlive the stores it opened.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/delivery_store.h"
#include "store/error.h"
#include "store/postgres/pg.h"
#include "store/settings_store.h"
#include "store/site_store.h"
#include "store/sqlite/sqlite_options.h"

namespace flashwire::store {

enum class StoreKind { kSqlite, kPostgres };

struct StoreUrl {
  StoreKind kind = StoreKind::kSqlite;
  std::filesystem::path directory;  // kSqlite: where the files are
  std::string url;                  // kPostgres: the libpq URI, as given
};

// Parses without connecting. kInvalid (the message quotes no password) for an unknown scheme.
Result<StoreUrl> parse_store_url(const std::string& url, const std::filesystem::path& data_dir);

struct StateOptions {
  bool migrate = true;  // kPostgres: apply missing migrations; if false, an old schema is kCorrupt
  pg::PoolOptions pool;
  SqliteOptions sqlite;
};

class SiteState {
 public:
  virtual ~SiteState() = default;
  virtual StoreKind kind() const = 0;
  // "SQLite files in DIR" / "PostgreSQL at HOST:PORT/DB": for logs, never with a password.
  virtual std::string describe() const = 0;
  virtual Result<std::unique_ptr<SiteStore>> open_site_store() = 0;
  virtual Result<std::unique_ptr<DeliveryStore>> open_delivery_store() = 0;
  // Values every node shares (the VAPID key pair). nullptr for SQLite, where the data directory's
  // files hold them (one node only).
  virtual SettingsStore* settings() = 0;
  // Stores many subscriptions as upsert_subscription would, one after the other; PostgreSQL
  // sends them in batches. Returns how many were stored; on an error, those before it stay.
  virtual Result<std::size_t> import_subscriptions(const std::vector<Subscription>& batch) = 0;
  // The pool of a PostgreSQL store, for what spans the nodes sharing it (notifications between
  // nodes, see postgres/pg_listener.h; locks); nullptr for SQLite (one node).
  virtual std::shared_ptr<pg::Pool> postgres_pool() { return nullptr; }
  // The PostgreSQL schema version after opening (0 for SQLite, whose files carry their own).
  virtual int schema_version() const = 0;
};

// Opens (for SQLite: creates the directory's files as needed; for PostgreSQL: connects, checks the
// credentials and migrates) the state `url` names. Errors as described above.
Result<std::unique_ptr<SiteState>> open_site_state(const std::string& url,
                                                   const std::filesystem::path& data_dir,
                                                   const StateOptions& options = {});

}  // namespace flashwire::store
