#include "app/site_state.h"

#include <sys/stat.h>

#include <iostream>

#include "app/cli_error.h"
#include "common/clock.h"
#include "newsroom/api_tokens.h"

namespace flashwire::app {

void add_config_options(CLI::App& cmd, ServeFlags& flags) {
  cmd.add_option_function<std::string>(
      "--config", [&flags](const std::string& v) { flags.config_file = v; },
      "TOML configuration file");
  cmd.add_option_function<std::string>(
      "--data", [&flags](const std::string& v) { flags.data_dir = v; },
      "Data directory (default: data)");
  cmd.add_option_function<std::string>(
      "--store", [&flags](const std::string& v) { flags.store_url = v; },
      "Where the site's state lives: sqlite: (default, files in the data directory) or "
      "postgresql://… (also FLASHWIRE_STORE_URL, [store] url)");
}

ServeConfig load_config(const ServeFlags& flags) {
  auto config = load_serve_config(flags);
  if (!config) throw CommandError("config: " + config.error().message);
  return std::move(*config);
}

std::filesystem::path prepare_data_dir(const std::string& dir) {
  const std::filesystem::path path(dir);
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw CommandError("data directory " + dir + ": " + ec.message());
  ::chmod(path.c_str(), 0700);  // holds keys
  return path;
}

std::unique_ptr<store::SiteState> open_store_state(const ServeConfig& config,
                                                   const std::filesystem::path& data) {
  auto state = store::open_site_state(config.store_url, data);
  if (!state) throw CommandError("store: " + state.error().message);
  return std::move(*state);
}

std::unique_ptr<store::SiteStore> open_site_store(store::SiteState& state) {
  auto store = state.open_site_store();
  if (!store) throw CommandError("site store: " + store.error().message);
  return std::move(*store);
}

std::unique_ptr<store::SiteState> open_existing_store_state(const ServeConfig& config) {
  const std::filesystem::path data(config.data_dir);
  auto url = store::parse_store_url(config.store_url, data);
  if (!url) throw CommandError("store: " + url.error().message);
  if (url->kind == store::StoreKind::kSqlite) {
    const std::filesystem::path file = url->directory / "site.sqlite";
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) {
      const std::filesystem::path where = std::filesystem::absolute(file, ec);
      throw CommandError("no site store at " + (ec ? file : where).string() +
                         ": run this where `flashwire serve` runs, or point it at the site's data "
                         "with --data DIR or --config FILE");
    }
  }
  return open_store_state(config, data);
}

std::string create_token(store::SiteStore& store, const std::string& name,
                         const std::vector<std::string>& scopes) {
  if (!newsroom::is_valid_token_name(name))
    throw CommandError("token name must be 1-64 of a-z 0-9 . _ -");
  if (scopes.empty()) throw CommandError("a token needs at least one --scope");
  for (const auto& scope : scopes) {
    if (!newsroom::is_known_scope(scope)) {
      throw CommandError("unknown scope '" + scope +
                         "' (known: articles:write, alerts:send, tokens:admin)");
    }
  }
  const std::string secret = newsroom::generate_token_secret();
  store::ApiToken token;
  token.name = name;
  token.secret_hash = newsroom::hash_token_secret(secret);
  token.scopes = scopes;
  token.created_at = system_clock().now_seconds();
  if (auto created = store.create_token(token); !created) {
    throw CommandError(created.error().code == store::ErrorCode::kConflict
                           ? "a token named " + name + " exists"
                           : "store: " + created.error().message);
  }
  std::string scope_list;
  for (const auto& scope : scopes) scope_list += (scope_list.empty() ? "" : ",") + scope;
  audit_cli(store, "token.create", name + ": " + scope_list);
  return secret;
}

void audit_cli(store::SiteStore& store, std::string action, std::string detail) {
  store::AuditEntry entry;
  entry.at = system_clock().now_seconds();
  entry.actor = "cli";
  entry.action = std::move(action);
  entry.detail = std::move(detail);
  if (auto appended = store.append_audit(entry); !appended)
    std::cerr << "warning: audit log: " << appended.error().message << "\n";
}

}  // namespace flashwire::app
