// `flashwire vapid generate|header|verify`: VAPID (RFC 8292) keys and Authorization headers,
// for operators and for the interoperability tests. Each prints its result on stdout and exits
// 0, or prints one line naming the problem on stderr and exits 1 with nothing on stdout.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_vapid_command(CLI::App& app);

}  // namespace flashwire::app
