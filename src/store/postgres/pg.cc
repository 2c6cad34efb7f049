#include "store/postgres/pg.h"

#include <charconv>
#include <utility>

namespace flashwire::store::pg {
namespace {

// One line: libpq ends its messages with a newline and may add a second line ("DETAIL:", a
// second host's failure); keep the lines joined with "; " so the operator sees every host.
std::string one_line(std::string_view text) {
  std::string out;
  bool pending_sep = false;
  for (char c : text) {
    if (c == '\n' || c == '\r') {
      pending_sep = !out.empty();
      continue;
    }
    if (pending_sep) {
      out += "; ";
      pending_sep = false;
    }
    if (c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}

struct ConninfoDeleter {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
using Conninfo = std::unique_ptr<PQconninfoOption, ConninfoDeleter>;

Conninfo parse_conninfo(const std::string& url) {
  char* error = nullptr;
  Conninfo options(PQconninfoParse(url.c_str(), &error));
  if (error != nullptr) PQfreemem(error);
  return options;
}

std::string option_value(const Conninfo& options, std::string_view key) {
  for (const PQconninfoOption* o = options.get(); o != nullptr && o->keyword != nullptr; ++o) {
    if (key == o->keyword && o->val != nullptr) return o->val;
  }
  return {};
}

}  // namespace

ErrorCode code_for_sqlstate(std::string_view sqlstate) {
  if (sqlstate == "23505") return ErrorCode::kConflict;        // unique_violation
  if (sqlstate == "23503") return ErrorCode::kNotFound;        // foreign_key_violation
  if (sqlstate.starts_with("23")) return ErrorCode::kInvalid;  // check, not null, …
  if (sqlstate.starts_with("22")) return ErrorCode::kInvalid;  // data exception
  return ErrorCode::kIo;
}

std::string scrub_password(const std::string& url, std::string message) {
  const Conninfo options = parse_conninfo(url);
  const std::string password = options ? option_value(options, "password") : std::string();
  if (password.empty()) return message;
  for (std::size_t at = message.find(password); at != std::string::npos;
       at = message.find(password, at + 3)) {
    message.replace(at, password.size(), "***");
  }
  return message;
}

std::string describe_target(const std::string& url) {
  const Conninfo options = parse_conninfo(url);
  if (!options) return {};
  std::string host = option_value(options, "host");
  if (host.empty()) host = option_value(options, "hostaddr");
  if (host.empty()) host = "local socket";
  const std::string port = option_value(options, "port");
  const std::string db = option_value(options, "dbname");
  std::string out = host;
  if (!port.empty()) out += ":" + port;
  if (!db.empty()) out += "/" + db;
  return out;
}

// --- Params ---

Params& Params::add(std::int64_t value) {
  values_.push_back(std::to_string(value));
  null_.push_back(false);
  return *this;
}

Params& Params::add(std::string_view text) {
  values_.emplace_back(text);
  null_.push_back(false);
  return *this;
}

Params& Params::add_null() {
  values_.emplace_back();
  null_.push_back(true);
  return *this;
}

Params& Params::add_int_array(const std::vector<std::int64_t>& values) {
  std::string text = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) text += ',';
    text += std::to_string(values[i]);
  }
  text += '}';
  return add(std::string_view(text));
}

Params& Params::add_text_array(const std::vector<std::string_view>& values) {
  std::string text = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) text += ',';
    text += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') text += '\\';
      text += c;
    }
    text += '"';
  }
  text += '}';
  return add(std::string_view(text));
}

std::vector<const char*> Params::pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (std::size_t i = 0; i < values_.size(); ++i) {
    out.push_back(null_[i] ? nullptr : values_[i].c_str());
  }
  return out;
}

// --- Rows ---

std::int64_t Rows::get_int(int row, int col) const {
  const char* text = PQgetvalue(res_.get(), row, col);
  const int size = PQgetlength(res_.get(), row, col);
  std::int64_t value = 0;
  std::from_chars(text, text + size, value);
  return value;
}

std::string Rows::get_text(int row, int col) const {
  return std::string(PQgetvalue(res_.get(), row, col),
                     static_cast<std::size_t>(PQgetlength(res_.get(), row, col)));
}

bool Rows::get_bool(int row, int col) const { return PQgetvalue(res_.get(), row, col)[0] == 't'; }

std::vector<std::int64_t> Rows::get_int_array(int row, int col) const {
  // "{1,2,3}": integers only, no quoting.
  std::vector<std::int64_t> out;
  std::string_view text(PQgetvalue(res_.get(), row, col),
                        static_cast<std::size_t>(PQgetlength(res_.get(), row, col)));
  if (text.size() < 2) return out;
  text = text.substr(1, text.size() - 2);
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    std::int64_t value = 0;
    std::from_chars(item.data(), item.data() + item.size(), value);
    out.push_back(value);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::int64_t Rows::affected() const {
  const char* text = PQcmdTuples(res_.get());
  std::int64_t value = 0;
  std::from_chars(text, text + std::char_traits<char>::length(text), value);
  return value;
}

// --- Connection ---

Result<std::unique_ptr<Connection>> Connection::connect(const std::string& url) {
  if (!parse_conninfo(url)) {
    return make_error(ErrorCode::kInvalid,
                      "PostgreSQL URL cannot be parsed (expected postgresql://[user@]host[:port]/"
                      "dbname[?param=value…])");
  }
  PGconn* raw = PQconnectdb(url.c_str());
  std::unique_ptr<PGconn, ConnDeleter> conn(raw);
  if (conn == nullptr) return make_error(ErrorCode::kIo, "PostgreSQL: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string reason = one_line(PQerrorMessage(conn.get()));
    return make_error(ErrorCode::kIo, "cannot connect to PostgreSQL at " + describe_target(url) +
                                          ": " + scrub_password(url, std::move(reason)));
  }
  // Quiet: NOTICEs (e.g. "relation already exists, skipping") would go to stderr otherwise.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn.release(), url));
}

Result<Rows> Connection::check(PGresult* raw, std::string_view what) {
  Rows rows(raw);  // owns raw from here on, also on failure
  const ExecStatusType status = PQresultStatus(raw);
  if (raw != nullptr && (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)) return rows;
  if (raw == nullptr || PQstatus(conn_.get()) != CONNECTION_OK) {
    return make_error(ErrorCode::kIo,
                      std::string(what) + ": connection to PostgreSQL lost: " +
                          scrub_password(url_, one_line(PQerrorMessage(conn_.get()))));
  }
  const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY);
  // Only the primary message: DETAIL lines quote the offending values (endpoints, hashes).
  return make_error(code_for_sqlstate(state != nullptr ? state : ""),
                    std::string(what) + ": " + (primary != nullptr ? primary : "failed"));
}

Result<Rows> Connection::exec(const char* sql, std::string_view what) {
  return check(PQexec(conn_.get(), sql), what);
}

Result<Rows> Connection::run(const char* name, const char* sql, const Params& params,
                             std::string_view what) {
  if (!prepared_.contains(name)) {
    auto prepared = check(PQprepare(conn_.get(), name, sql, 0, nullptr), what);
    if (!prepared) return prepared;
    prepared_.insert(name);
  }
  const std::vector<const char*> values = params.pointers();
  return check(PQexecPrepared(conn_.get(), name, params.size(), values.data(), nullptr, nullptr, 0),
               what);
}

// --- Transaction ---

Transaction::~Transaction() {
  if (open_) PQclear(PQexec(conn_.get(), "ROLLBACK"));
}

Status Transaction::begin(std::string_view what) {
  auto ok = conn_.exec("BEGIN", what);
  if (!ok) return tl::unexpected(ok.error());
  open_ = true;
  return {};
}

Status Transaction::commit(std::string_view what) {
  auto ok = conn_.exec("COMMIT", what);
  if (!ok) return tl::unexpected(ok.error());
  open_ = false;
  return {};
}

// --- Pool ---

Lease::~Lease() {
  if (conn_ != nullptr && pool_ != nullptr) pool_->give_back(std::move(conn_));
}

Result<std::shared_ptr<Pool>> Pool::create(const std::string& url, const PoolOptions& options) {
  std::shared_ptr<Pool> pool(new Pool(url, options));
  // One connection now: a bad URL, a wrong password or a server that is down shows at start.
  auto first = pool->acquire();
  if (!first) return tl::unexpected(first.error());
  return pool;
}

Result<Lease> Pool::acquire() {
  {
    std::unique_lock lock(mutex_);
    const bool got = freed_.wait_for(lock, options_.acquire_timeout, [this] {
      return !idle_.empty() || open_ < options_.max_connections;
    });
    if (!got) {
      return make_error(ErrorCode::kIo, "PostgreSQL: all " +
                                            std::to_string(options_.max_connections) +
                                            " pooled connections stayed busy");
    }
    if (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;  // reserved while connecting, outside the lock
  }
  auto conn = Connection::connect(url_);
  if (!conn) {
    std::lock_guard lock(mutex_);
    --open_;
    freed_.notify_one();
    return tl::unexpected(conn.error());
  }
  return Lease(this, std::move(*conn));
}

void Pool::give_back(std::unique_ptr<Connection> conn) {
  // A connection left inside a transaction (a failed ROLLBACK) or cut off is not reused.
  if (!conn->ok() || conn->in_transaction()) conn.reset();
  std::lock_guard lock(mutex_);
  if (conn != nullptr) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  freed_.notify_one();
}

}  // namespace flashwire::store::pg
