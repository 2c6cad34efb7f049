// `flashwire fanout --subs FILE --vapid FILE --payload FILE [--push-host ORIGIN]…`: sends one
// payload to every PushSubscription in a JSON-lines file through the same pipeline as `serve`
// (nothing stored) and prints one JSON line of results: the contract of the fan-out benchmark
// (bench/fanout/). Exit 0: every message accepted; 2: some were not; 1: nothing could be sent.
#pragma once

#include <CLI/CLI.hpp>

namespace flashwire::app {

void add_fanout_command(CLI::App& app);

}  // namespace flashwire::app
