// Fan-out subcommands:
//   flashwire fanout --subs FILE --vapid FILE --payload FILE [--push-host ORIGIN]…
//       sends one payload to every PushSubscription in a JSON-lines file through the same
//       pipeline as `serve` (nothing stored) and prints one JSON line of results: the contract
//       of the fan-out benchmark (bench/fanout/).
//   flashwire alert send --title … --url … [--category C] [--ttl S] [--urgency U] [--topic T]
//       [--wait] [--server URL] [--token T]
//       composes and confirms an alert through a running `flashwire serve` (newsroom API); with
//       --wait, shows progress until the fan-out is done.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_fanout_commands(CLI::App& app);

}  // namespace flashwire::app
