// The flashwire command: every subcommand of the product lives behind this one binary.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>

#include "app/alert_command.h"
#include "app/cli_error.h"
#include "app/fanout_command.h"
#include "app/push_service_command.h"
#include "app/serve_command.h"
#include "app/subscriptions_command.h"
#include "app/token_command.h"
#include "app/vapid_command.h"
#include "app/webpush_command.h"

int main(int argc, char** argv) {
  CLI::App app{"Flashwire: a self-hosted breaking-news site and Web Push alert platform"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "flashwire " FLASHWIRE_VERSION);

  flashwire::app::add_serve_command(app);
  flashwire::app::add_token_command(app);
  flashwire::app::add_subscriptions_command(app);
  flashwire::app::add_vapid_command(app);
  flashwire::app::add_webpush_command(app);
  flashwire::app::add_push_service_command(app);
  flashwire::app::add_fanout_command(app);
  flashwire::app::add_alert_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
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
