// Internal to the PostgreSQL stores: a small RAII layer over libpq. Connections (with their
// prepared statements), results, text-format parameters, transactions that roll back unless
// committed, a bounded pool, and the mapping of SQLSTATEs to ErrorCode. Not part of the store API;
// include only from src/store/postgres/*.cc and src/store/*.cc.
//
// SQL is always a constant of the code; every value travels as a parameter ($1, $2, …), never
// spliced into the text.
//
// Thread safety: a Connection is used by one thread at a time. Pool is thread-safe.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "store/error.h"

namespace flashwire::store::pg {

struct ConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultDeleter {
  void operator()(PGresult* res) const { PQclear(res); }
};

// SQLSTATE -> ErrorCode: unique violations are kConflict, foreign keys kNotFound (the referenced
// row is missing), check / not-null / data exceptions kInvalid, everything else kIo.
ErrorCode code_for_sqlstate(std::string_view sqlstate);

// `message` with every occurrence of the password in `url` (if it has one) replaced by "***":
// libpq's messages do not carry it, this makes sure of it.
std::string scrub_password(const std::string& url, std::string message);

// Where `url` points, for messages: "host:port/dbname" as libpq parsed it, without user or
// password; "" if libpq cannot parse it.
std::string describe_target(const std::string& url);

// Parameters of one statement, sent as text. Integers are formatted here, so the statement's
// parameter types come from the SQL (casts where the server cannot infer them).
class Params {
 public:
  Params& add(std::int64_t value);
  Params& add(std::string_view text);
  Params& add(const char* text) { return add(std::string_view(text)); }
  Params& add(const std::string& text) { return add(std::string_view(text)); }
  Params& add_bool(bool value) { return add(std::string_view(value ? "t" : "f")); }
  Params& add_null();
  // A PostgreSQL array literal of integers, for a parameter cast to bigint[].
  Params& add_int_array(const std::vector<std::int64_t>& values);
  // A PostgreSQL array literal of texts, for a parameter cast to text[].
  Params& add_text_array(const std::vector<std::string_view>& values);

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers into this object: valid until it changes or dies.
  std::vector<const char*> pointers() const;

 private:
  std::vector<std::string> values_;
  std::vector<bool> null_;
};

// The rows of a statement that succeeded. Values are read in text format.
class Rows {
 public:
  explicit Rows(PGresult* res) : res_(res) {}
  int size() const { return PQntuples(res_.get()); }
  bool empty() const { return size() == 0; }
  bool is_null(int row, int col) const { return PQgetisnull(res_.get(), row, col) != 0; }
  std::int64_t get_int(int row, int col) const;
  std::string get_text(int row, int col) const;
  bool get_bool(int row, int col) const;
  std::vector<std::int64_t> get_int_array(int row, int col) const;
  // Rows changed by an INSERT, UPDATE or DELETE.
  std::int64_t affected() const;

 private:
  std::unique_ptr<PGresult, ResultDeleter> res_;
};

// One open connection and the statements prepared on it.
class Connection {
 public:
  // Connects to `url` (a libpq URI or key=value string). kIo with one line naming the target and
  // libpq's reason (never the password) when the server cannot be reached or refuses us;
  // kInvalid when libpq cannot parse the URL.
  static Result<std::unique_ptr<Connection>> connect(const std::string& url);

  // A statement without parameters (schema, BEGIN, …).
  Result<Rows> exec(const char* sql, std::string_view what);
  // A statement with parameters, prepared on this connection on first use under `name`.
  Result<Rows> run(const char* name, const char* sql, const Params& params, std::string_view what);

  // False once the connection to the server is lost; the pool then drops it.
  bool ok() const { return PQstatus(conn_.get()) == CONNECTION_OK; }
  bool in_transaction() const { return PQtransactionStatus(conn_.get()) != PQTRANS_IDLE; }
  PGconn* get() const { return conn_.get(); }

 private:
  explicit Connection(PGconn* conn, std::string url) : conn_(conn), url_(std::move(url)) {}
  Result<Rows> check(PGresult* res, std::string_view what);

  std::unique_ptr<PGconn, ConnDeleter> conn_;
  std::string url_;
  std::unordered_set<std::string> prepared_;
};

// BEGIN … COMMIT around one interface call; destroying it without a successful commit rolls back.
class Transaction {
 public:
  explicit Transaction(Connection& conn) : conn_(conn) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Status begin(std::string_view what);
  Status commit(std::string_view what);

 private:
  Connection& conn_;
  bool open_ = false;
};

struct PoolOptions {
  std::size_t max_connections = 8;
  // How long acquire() waits for a connection another thread holds before kIo.
  std::chrono::milliseconds acquire_timeout{10000};
};

class Pool;

// A connection borrowed from the pool; returned (or dropped, if broken or left inside a
// transaction) when this handle dies.
class Lease {
 public:
  Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
  Lease(Lease&&) = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease();
  Connection& operator*() const { return *conn_; }
  Connection* operator->() const { return conn_.get(); }

 private:
  Pool* pool_;
  std::unique_ptr<Connection> conn_;
};

// At most `max_connections` connections to one URL, opened on demand and kept idle for reuse. A
// broken connection is dropped when returned, so the next acquire connects afresh (the server
// restarted, a failover happened). The pool must outlive its leases.
class Pool {
 public:
  static Result<std::shared_ptr<Pool>> create(const std::string& url, const PoolOptions& options);
  Result<Lease> acquire();
  const std::string& url() const { return url_; }

 private:
  friend class Lease;
  Pool(std::string url, PoolOptions options) : url_(std::move(url)), options_(options) {}
  void give_back(std::unique_ptr<Connection> conn);

  const std::string url_;
  const PoolOptions options_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;  // idle + leased
};

// Runs `body(conn)` on a connection borrowed from `pool` for the call, and gives it back. `body`
// returns a Result; a connection that cannot be had is its error (kIo).
template <typename Body>
auto with_connection(Pool& pool, Body body) -> decltype(body(std::declval<Connection&>())) {
  auto lease = pool.acquire();
  if (!lease) return tl::unexpected(lease.error());
  return body(**lease);
}

}  // namespace flashwire::store::pg
