// `flashwire alert send --title … --url … [--category C] [--ttl S] [--urgency U] [--topic T]
//     [--wait] [--server URL] [--token T]`: composes and confirms an alert through a running
// `flashwire serve` (newsroom API); with --wait, shows progress until the fan-out is done.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_alert_command(CLI::App& app);

}  // namespace flashwire::app
