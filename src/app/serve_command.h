// `flashwire serve` (the news site, with the push service inside when configured) and
// `flashwire token …` (editor API tokens), `flashwire subscriptions import`.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_serve_command(CLI::App& app);
void add_token_commands(CLI::App& app);
void add_subscription_commands(CLI::App& app);

}  // namespace flashwire::app
