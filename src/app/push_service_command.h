// `flashwire push-service`: runs Flashwire's own RFC 8030 push service in the foreground.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_push_service_command(CLI::App& app);

}  // namespace flashwire::app
