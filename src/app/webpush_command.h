// `flashwire webpush encrypt|decrypt|send`: operator tools over the Web Push core (RFC 8291),
// also used by the interoperability and browser tests. Each prints its result on stdout and
// exits 0, or prints one line naming the problem on stderr and exits 1 with nothing on stdout —
// except `webpush send`, which always prints the push service's answer as JSON.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_webpush_command(CLI::App& app);

}  // namespace flashwire::app
