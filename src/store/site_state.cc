#include "store/site_state.h"

#include <system_error>
#include <utility>

#include "store/postgres/pg_schema.h"
#include "store/postgres/pg_site_store.h"
#include "store/sqlite/sqlite_delivery_store.h"
#include "store/sqlite/sqlite_site_store.h"

namespace flashwire::store {
namespace {

class SqliteState final : public SiteState {
 public:
  SqliteState(std::filesystem::path dir, SqliteOptions options)
      : dir_(std::move(dir)), options_(options) {}

  StoreKind kind() const override { return StoreKind::kSqlite; }
  std::string describe() const override { return "SQLite files in " + dir_.string(); }
  Result<std::unique_ptr<SiteStore>> open_site_store() override {
    return open_sqlite_site_store((dir_ / "site.sqlite").string(), options_);
  }
  Result<std::unique_ptr<DeliveryStore>> open_delivery_store() override {
    return open_sqlite_delivery_store((dir_ / "delivery.sqlite").string(), options_);
  }
  SettingsStore* settings() override { return nullptr; }
  Result<std::size_t> import_subscriptions(const std::vector<Subscription>& batch) override {
    if (site_ == nullptr) {
      auto opened = open_site_store();
      if (!opened) return tl::unexpected(opened.error());
      site_ = std::move(*opened);
    }
    std::size_t stored = 0;
    for (const Subscription& s : batch) {
      if (auto id = site_->upsert_subscription(s); !id) return tl::unexpected(id.error());
      ++stored;
    }
    return stored;
  }
  int schema_version() const override { return 0; }

 private:
  std::filesystem::path dir_;
  SqliteOptions options_;
  std::unique_ptr<SiteStore> site_;  // import_subscriptions' own
};

class PostgresState final : public SiteState {
 public:
  PostgresState(std::shared_ptr<pg::Pool> pool, int version)
      : pool_(std::move(pool)), version_(version), settings_(make_pg_settings_store(pool_)) {}

  StoreKind kind() const override { return StoreKind::kPostgres; }
  std::string describe() const override {
    return "PostgreSQL at " + pg::describe_target(pool_->url());
  }
  Result<std::unique_ptr<SiteStore>> open_site_store() override {
    return make_pg_site_store(pool_);
  }
  Result<std::unique_ptr<DeliveryStore>> open_delivery_store() override {
    return std::unique_ptr<DeliveryStore>(make_pg_delivery_store(pool_));
  }
  SettingsStore* settings() override { return settings_.get(); }
  Result<std::size_t> import_subscriptions(const std::vector<Subscription>& batch) override {
    return pg_import_subscriptions(*pool_, batch);
  }
  std::shared_ptr<pg::Pool> postgres_pool() override { return pool_; }
  int schema_version() const override { return version_; }

 private:
  std::shared_ptr<pg::Pool> pool_;
  int version_;
  std::unique_ptr<SettingsStore> settings_;
};

}  // namespace

Result<StoreUrl> parse_store_url(const std::string& url, const std::filesystem::path& data_dir) {
  StoreUrl parsed;
  if (url.empty() || url == "sqlite:") {
    parsed.directory = data_dir;
    return parsed;
  }
  if (url.starts_with("sqlite:")) {
    parsed.directory = url.substr(7);
    return parsed;
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    parsed.kind = StoreKind::kPostgres;
    parsed.url = url;
    return parsed;
  }
  // The scheme only: the rest may hold a password.
  const std::size_t colon = url.find(':');
  const std::string scheme = colon == std::string::npos ? std::string() : url.substr(0, colon);
  return make_error(
      ErrorCode::kInvalid,
      "store URL: " +
          (scheme.empty() ? std::string("no scheme") : "unknown scheme \"" + scheme + "\"") +
          " (expected sqlite: or postgresql://…)");
}

Result<std::unique_ptr<SiteState>> open_site_state(const std::string& url,
                                                   const std::filesystem::path& data_dir,
                                                   const StateOptions& options) {
  auto parsed = parse_store_url(url, data_dir);
  if (!parsed) return tl::unexpected(parsed.error());
  if (parsed->kind == StoreKind::kSqlite) {
    std::error_code ec;
    std::filesystem::create_directories(parsed->directory, ec);
    if (ec) {
      return make_error(ErrorCode::kIo,
                        "store: cannot create " + parsed->directory.string() + ": " + ec.message());
    }
    return std::unique_ptr<SiteState>(
        std::make_unique<SqliteState>(parsed->directory, options.sqlite));
  }
  auto pool = pg::Pool::create(parsed->url, options.pool);
  if (!pool) return tl::unexpected(pool.error());
  auto lease = (*pool)->acquire();
  if (!lease) return tl::unexpected(lease.error());
  auto version = options.migrate ? pg::migrate(**lease) : pg::schema_version(**lease);
  if (!version) return tl::unexpected(version.error());
  if (*version != pg::latest_schema_version()) {
    return make_error(ErrorCode::kCorrupt,
                      "store: the database is at schema version " + std::to_string(*version) +
                          ", this Flashwire needs " + std::to_string(pg::latest_schema_version()) +
                          " (run `flashwire store migrate`)");
  }
  // The lease goes back to the pool before the state (which holds the pool) is handed out.
  { pg::Lease done = std::move(*lease); }
  return std::unique_ptr<SiteState>(std::make_unique<PostgresState>(std::move(*pool), *version));
}

}  // namespace flashwire::store
