// What the commands that work on a site's own data share (`serve`, `token …`,
// `subscriptions import`, `store migrate`): the --config/--data/--store options, the layered
// configuration, the data directory, the store the site's state lives in (SQLite files in the
// data directory, or PostgreSQL: store/site_state.h), and making editor tokens.
// Every function here reports a problem by throwing CommandError with a one-line message.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "app/serve_config.h"
#include "store/site_state.h"
#include "store/site_store.h"

namespace flashwire::app {

// Adds --config FILE, --data DIR and --store URL to `cmd`; their values land in `flags`, which must
// outlive the parse (commands keep their flags in a shared_ptr captured by their callback).
void add_config_options(CLI::App& cmd, ServeFlags& flags);

// defaults < TOML file < environment < flags (serve_config.h); an invalid setting throws.
ServeConfig load_config(const ServeFlags& flags);

// Creates `dir` (and parents) if needed and makes it private to the owner: it holds keys.
std::filesystem::path prepare_data_dir(const std::string& dir);

// Opens the state `config.store_url` names (for PostgreSQL: connects and migrates). Throws with
// one line naming the problem (never the password): a bad URL, an unreachable server, wrong
// credentials.
std::unique_ptr<store::SiteState> open_store_state(const ServeConfig& config,
                                                   const std::filesystem::path& data);

// The site store of `state` (for SQLite: <data>/site.sqlite, created when absent).
std::unique_ptr<store::SiteStore> open_site_store(store::SiteState& state);

// The state `serve` made, for the commands that work on a site's data beside it (`token …`,
// `subscriptions import`, `store migrate`). With SQLite it never creates a store: one made in
// whatever folder the command ran from would hold tokens and subscriptions the site never sees;
// it throws, naming the path it looked at and the --data / --config options, when there is none.
// A PostgreSQL store is opened (and migrated) as open_store_state does.
std::unique_ptr<store::SiteState> open_existing_store_state(const ServeConfig& config);

// Creates an editor token and returns its secret; only its hash is stored, so the secret can be
// shown once. Throws on a bad name, a missing or unknown scope, or a name already taken.
std::string create_token(store::SiteStore& store, const std::string& name,
                         const std::vector<std::string>& scopes);

// Appends an audit entry with actor "cli" (token changes made from the command line are audited
// like the newsroom's own changes). A failed write is reported on stderr, not thrown: the change
// itself is already stored.
void audit_cli(store::SiteStore& store, std::string action, std::string detail);

}  // namespace flashwire::app
