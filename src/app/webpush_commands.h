// `flashwire vapid …` and `flashwire webpush …`: operator tools over the Web Push core, also
// used by the interoperability tests. Every command either prints its result on stdout and
// exits 0, or prints one line naming the problem on stderr, nothing on stdout, and exits 1.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_vapid_commands(CLI::App& app);
void add_webpush_commands(CLI::App& app);

}  // namespace flashwire::app
