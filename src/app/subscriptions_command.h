// `flashwire subscriptions import --category C FILE`: adds readers' push subscriptions from a
// file with one PushSubscription JSON per line (e.g. when moving from another sender), each
// checked as the readers' API checks it. Exit 0: all imported; 2: some lines rejected (each
// named by line number and reason, never by endpoint or key); 1: nothing could be done.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_subscriptions_command(CLI::App& app);

}  // namespace flashwire::app
