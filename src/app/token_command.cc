#include "app/token_command.h"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "app/cli_error.h"
#include "app/site_state.h"

namespace flashwire::app {
namespace {

void add_token_create(CLI::App& token) {
  auto flags = std::make_shared<ServeFlags>();
  auto name = std::make_shared<std::string>();
  auto scopes = std::make_shared<std::vector<std::string>>();
  auto* create = token.add_subcommand("create", "Create a token; prints its secret once");
  add_config_options(*create, *flags);
  create->add_option("--name", *name, "Token name, e.g. desk-ana")->required();
  create->add_option("--scope", *scopes, "articles:write, alerts:send, tokens:admin (repeatable)")
      ->required();
  create->callback([flags, name, scopes] {
    const ServeConfig config = load_config(*flags);
    auto state = open_existing_store_state(config);
    auto store = open_site_store(*state);
    std::cout << create_token(*store, *name, *scopes) << std::endl;
  });
}

void add_token_list(CLI::App& token) {
  auto flags = std::make_shared<ServeFlags>();
  auto* list = token.add_subcommand("list", "List tokens (names and scopes, never secrets)");
  add_config_options(*list, *flags);
  list->callback([flags] {
    const ServeConfig config = load_config(*flags);
    auto state = open_existing_store_state(config);
    auto store = open_site_store(*state);
    auto tokens = store->list_tokens();
    if (!tokens) throw CommandError("store: " + tokens.error().message);
    for (const auto& t : *tokens) {
      std::cout << t.name << '\t';
      for (std::size_t i = 0; i < t.scopes.size(); ++i) std::cout << (i ? "," : "") << t.scopes[i];
      std::cout << (t.revoked ? "\trevoked" : "") << '\n';
    }
  });
}

void add_token_revoke(CLI::App& token) {
  auto flags = std::make_shared<ServeFlags>();
  auto name = std::make_shared<std::string>();
  auto* revoke = token.add_subcommand("revoke", "Revoke a token");
  add_config_options(*revoke, *flags);
  revoke->add_option("--name", *name, "Token name")->required();
  revoke->callback([flags, name] {
    const ServeConfig config = load_config(*flags);
    auto state = open_existing_store_state(config);
    auto store = open_site_store(*state);
    if (auto revoked = store->revoke_token(*name); !revoked) {
      throw CommandError(revoked.error().code == store::ErrorCode::kNotFound
                             ? "no token named " + *name
                             : "store: " + revoked.error().message);
    }
    audit_cli(*store, "token.revoke", *name);
  });
}

}  // namespace

void add_token_command(CLI::App& app) {
  auto* token = app.add_subcommand("token", "Editor API tokens");
  token->require_subcommand(1);
  add_token_create(*token);
  add_token_list(*token);
  add_token_revoke(*token);
}

}  // namespace flashwire::app
