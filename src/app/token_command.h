// `flashwire token create|list|revoke`: editor API tokens in the site store.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_token_command(CLI::App& app);

}  // namespace flashwire::app
