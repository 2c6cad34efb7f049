// `flashwire vapid …` and `flashwire webpush …`: operator tools over the Web Push core, also
// used by the interoperability and browser tests. Every command either prints its result on
// stdout and exits 0, or prints one line naming the problem on stderr and exits 1 — with nothing
// on stdout, except `webpush send`, which always prints the push service's answer as JSON.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_vapid_commands(CLI::App& app);
void add_webpush_commands(CLI::App& app);

}  // namespace flashwire::app
