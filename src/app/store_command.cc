#include "app/store_command.h"

#include <iostream>
#include <memory>

#include "app/cli_error.h"
#include "app/site_state.h"

namespace flashwire::app {

void add_store_command(CLI::App& app) {
  auto* store_cmd = app.add_subcommand("store", "The store the site's state lives in");
  store_cmd->require_subcommand(1);
  auto flags = std::make_shared<ServeFlags>();
  auto* migrate = store_cmd->add_subcommand(
      "migrate", "Apply the schema migrations this Flashwire needs; prints the schema version");
  add_config_options(*migrate, *flags);
  migrate->callback([flags] {
    const ServeConfig config = load_config(*flags);
    auto state = open_existing_store_state(config);
    if (state->kind() == store::StoreKind::kSqlite) {
      // Opening a SQLite store upgrades its file in place.
      if (auto site = state->open_site_store(); !site) {
        throw CommandError("site store: " + site.error().message);
      }
      if (auto deliveries = state->open_delivery_store(); !deliveries) {
        throw CommandError("delivery store: " + deliveries.error().message);
      }
      std::cout << state->describe() << ": up to date" << std::endl;
      return;
    }
    std::cout << state->describe() << ": schema version " << state->schema_version() << std::endl;
  });
}

}  // namespace flashwire::app
