// The flashwire command: every subcommand of the product lives behind this one binary.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "app/alert_command.h"
#include "app/cli_error.h"
#include "app/fanout_command.h"
#include "app/push_service_command.h"
#include "app/serve_command.h"
#include "app/store_command.h"
#include "app/subscriptions_command.h"
#include "app/token_command.h"
#include "app/vapid_command.h"
#include "app/webpush_command.h"

namespace {

// Where a command line stopped making sense: the deepest command it names ("flashwire token")
// and, when that command needs a subcommand, the word after it that names none.
struct CommandPath {
  std::string path = "flashwire";
  std::string unknown;
};

CommandPath locate(const CLI::App& root, int argc, char** argv) {
  CommandPath at;
  const CLI::App* app = &root;
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word.starts_with('-')) break;
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->get_name() == word) next = sub;
    }
    if (next == nullptr) {
      if (app->get_require_subcommand_min() > 0) at.unknown = word;
      break;
    }
    app = next;
    at.path += ' ';
    at.path += word;
  }
  return at;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Flashwire: a self-hosted breaking-news site and Web Push alert platform"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "flashwire " FLASHWIRE_VERSION);

  flashwire::app::add_serve_command(app);
  flashwire::app::add_token_command(app);
  flashwire::app::add_subscriptions_command(app);
  flashwire::app::add_store_command(app);
  flashwire::app::add_vapid_command(app);
  flashwire::app::add_webpush_command(app);
  flashwire::app::add_push_service_command(app);
  flashwire::app::add_fanout_command(app);
  flashwire::app::add_alert_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // A usage error exits 1 like every other refusal (docs/cli.md), with one line naming it.
    const CommandPath at = locate(app, argc, argv);
    std::cerr << "flashwire: "
              << (at.unknown.empty() ? std::string(e.what())
                                     : "unknown command '" + at.unknown + "'")
              << " (see '" << at.path << " --help')\n";
    return 1;
  } catch (const flashwire::app::CommandError& e) {
    std::fflush(stdout);
    std::cerr << "flashwire: " << e.what() << '\n';
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "flashwire: unexpected error: " << e.what() << '\n';
    return 70;
  }
  return 0;
}
