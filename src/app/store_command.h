// `flashwire store migrate`: brings the store a site's state lives in to this Flashwire's schema
// (PostgreSQL: the versioned migrations, under the advisory lock that makes concurrent runs and
// starting nodes migrate once; SQLite: the files' in-place upgrades). `serve` does the same at
// start; this command lets an operator do it ahead of a rolling start.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_store_command(CLI::App& app);

}  // namespace flashwire::app
