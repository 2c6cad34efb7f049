// `flashwire serve`: the news site, the newsroom and the fan-out engine behind it, with the push
// service inside when configured. Runs in the foreground until SIGINT or SIGTERM.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_serve_command(CLI::App& app);

}  // namespace flashwire::app
