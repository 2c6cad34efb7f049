// Test support for the suites that run on every store backend: SQLite files in a fresh
// directory, and PostgreSQL in a fresh schema of the throwaway test cluster
// (scripts/pg-test-cluster.sh, started by ctest; FLASHWIRE_TEST_PG_STATE names its state file).
//
// A test gets a store opened through store::open_site_state, as the application opens it, and
// raw access to what is stored (for snapshots, and for setting up what a store would never write
// itself, such as a trigger that makes a write fail).
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raw_db.h"
#include "store/site_state.h"

namespace flashwire::store::testing {

enum class Backend { kSqlite, kPostgres };

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

// A value of the cluster's state file (KEY='value' lines); nullopt when FLASHWIRE_TEST_PG_STATE is
// not set (the binary run by hand, without ctest: PostgreSQL cases are skipped). A state file
// that is named but unreadable is a failure: ctest promised a cluster.
inline std::optional<std::string> cluster_value(const std::string& key) {
  const char* state = std::getenv("FLASHWIRE_TEST_PG_STATE");
  if (state == nullptr || *state == '\0') return std::nullopt;
  std::ifstream in(state);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(key + "=")) continue;
    std::string value = line.substr(key.size() + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  ADD_FAILURE() << "no " << key << " in " << state << " (is the test cluster running?)";
  return std::nullopt;
}

// A raw libpq connection, for looking behind a store's back.
class RawPg {
 public:
  explicit RawPg(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);  // "drop cascades to …"
  }
  ~RawPg() { PQfinish(conn_); }
  RawPg(const RawPg&) = delete;
  RawPg& operator=(const RawPg&) = delete;

  void exec(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(res);
    EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        << sql << ": " << PQerrorMessage(conn_);
    PQclear(res);
  }
  // Every row and column, as text: "a|b\nc|d\n" (NULL for nulls), as RawDb::rows.
  std::string rows(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    EXPECT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(conn_);
    std::string out;
    for (int r = 0; r < PQntuples(res); ++r) {
      for (int c = 0; c < PQnfields(res); ++c) {
        if (c > 0) out += '|';
        out += PQgetisnull(res, r, c) ? "NULL" : PQgetvalue(res, r, c);
      }
      out += '\n';
    }
    PQclear(res);
    return out;
  }

 private:
  PGconn* conn_;
};

// An empty place for a store, removed afterwards: a temp directory (SQLite), or a new schema in
// the test cluster's database (PostgreSQL), which the store URL selects with search_path.
class StorePlace {
 public:
  explicit StorePlace(Backend backend) : backend_(backend) {
    std::string pattern = "/tmp/flashwire-store-test-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp";
      return;
    }
    dir_ = pattern;
    if (backend_ == Backend::kSqlite) {
      url_ = "sqlite:";
      ready_ = true;
      return;
    }
    const auto base = cluster_value("PG_URL");
    if (!base) return;
    static std::atomic<int> counter{0};
    schema_ = "t" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    base_url_ = *base;
    RawPg(base_url_).exec("CREATE SCHEMA " + schema_);
    url_ = base_url_ + "&options=-csearch_path%3D" + schema_ + "&application_name=" + schema_;
    ready_ = true;
  }
  ~StorePlace() {
    raw_.reset();
    if (!schema_.empty()) RawPg(base_url_).exec("DROP SCHEMA " + schema_ + " CASCADE");
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  StorePlace(const StorePlace&) = delete;
  StorePlace& operator=(const StorePlace&) = delete;

  // False when the PostgreSQL cluster is not configured (the test skips) or setup failed.
  bool ready() const { return ready_; }
  Backend backend() const { return backend_; }
  // For open_site_state; its connections carry the schema as application_name.
  const std::string& url() const { return url_; }
  const std::string& schema() const { return schema_; }
  const std::string& dir() const { return dir_; }  // the data directory

  Result<std::unique_ptr<SiteState>> open_state(const StateOptions& options = {}) const {
    return open_site_state(url_, dir_, options);
  }

  // Raw SQL on what the store wrote; `file` is the SQLite file the query is for.
  std::string rows(const std::string& file, const std::string& sql) const {
    if (backend_ == Backend::kSqlite) return RawDb(dir_ + "/" + file).rows(sql);
    return raw().rows(sql);
  }
  void exec(const std::string& file, const std::string& sqlite_sql,
            const std::string& pg_sql) const {
    if (backend_ == Backend::kSqlite) {
      RawDb(dir_ + "/" + file).exec(sqlite_sql);
    } else {
      raw().exec(pg_sql);
    }
  }

  // A trigger that makes every `op` ("INSERT", "UPDATE", "DELETE") on `table` fail after the row
  // is written, and its removal: for testing that a failed call leaves nothing behind.
  void add_failing_trigger(const std::string& file, const std::string& op,
                           const std::string& table) const {
    exec(file,
         "CREATE TRIGGER boom AFTER " + op + " ON " + table +
             " BEGIN SELECT RAISE(ABORT, 'boom'); END",
         "CREATE OR REPLACE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
         "$$BEGIN RAISE EXCEPTION 'boom'; END$$; CREATE TRIGGER boom AFTER " +
             op + " ON " + table + " FOR EACH ROW EXECUTE FUNCTION boom()");
  }
  void drop_failing_trigger(const std::string& file, const std::string& table) const {
    exec(file, "DROP TRIGGER boom", "DROP TRIGGER boom ON " + table);
  }

 private:
  // One connection for every look behind the store's back (PostgreSQL), opened on first use.
  RawPg& raw() const {
    if (raw_ == nullptr) raw_ = std::make_unique<RawPg>(url_);
    return *raw_;
  }

  Backend backend_;
  bool ready_ = false;
  mutable std::unique_ptr<RawPg> raw_;
  std::string dir_;
  std::string url_;
  std::string base_url_;
  std::string schema_;
};

// A store of type `Store` on a fresh StorePlace of the backend `backend()` names, opened through
// open_site_state with `open` (e.g. &SiteState::open_site_store). `file`: the SQLite file it uses.
template <typename Store, auto open>
class BackendFixture : public ::testing::Test {
 protected:
  explicit BackendFixture(std::string file) : file_(std::move(file)) {}
  virtual Backend backend() const = 0;

  void SetUp() override {
    place_ = std::make_unique<StorePlace>(backend());
    if (!place_->ready()) {
      if (!::testing::Test::HasFailure()) GTEST_SKIP() << "no PostgreSQL test cluster";
      return;
    }
    dir_ = place_->dir();
    path_ = dir_ + "/" + file_;
    store_ = open_store();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    states_.clear();
    place_.reset();
  }

  std::unique_ptr<Store> open_store() {
    auto state = place_->open_state();
    EXPECT_TRUE(state) << state.error().message;
    if (!state) return nullptr;
    auto store = ((**state).*open)();
    EXPECT_TRUE(store) << store.error().message;
    states_.push_back(std::move(*state));
    return store ? std::move(*store) : nullptr;
  }

  // Closes the store and opens it again on the same data.
  void reopen() {
    store_.reset();
    states_.clear();
    store_ = open_store();
    ASSERT_NE(store_, nullptr);
  }

  Store& store() { return *store_; }
  std::string rows(const std::string& sql) { return place_->rows(file_, sql); }
  void add_failing_trigger(const std::string& op, const std::string& table) {
    place_->add_failing_trigger(file_, op, table);
  }
  void drop_failing_trigger(const std::string& table) {
    place_->drop_failing_trigger(file_, table);
  }

  std::string file_;
  std::unique_ptr<StorePlace> place_;
  std::string dir_;   // the data directory
  std::string path_;  // the SQLite file (SQLite backend)
  std::vector<std::unique_ptr<SiteState>> states_;
  std::unique_ptr<Store> store_;
};

}  // namespace flashwire::store::testing
