#include "app/subscriptions_command.h"

#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "app/cli_error.h"
#include "app/site_state.h"
#include "common/clock.h"
#include "common/error.h"
#include "webpush/push_subscription.h"
#include "webpush/push_hosts.h"

namespace flashwire::app {
namespace {

namespace json = boost::json;

struct ImportArgs {
  ServeFlags flags;
  std::string file;
  std::vector<std::string> categories;
};

void run_import(const ImportArgs& args) {
  const ServeConfig config = load_config(args.flags);
  store::CategorySet set = 0;
  for (const auto& name : args.categories) {
    const auto category = store::parse_category(name);
    if (!category) throw CommandError("--category: unknown category '" + name + "'");
    set |= static_cast<store::CategorySet>(*category);
  }
  auto hosts = webpush::PushHostPolicy::create(config.push_hosts);
  if (!hosts) throw CommandError("push_hosts: " + hosts.error().message);
  std::ifstream in(args.file);
  if (!in) throw CommandError("cannot open " + args.file + " for reading");
  auto state = open_existing_store_state(config);
  const std::int64_t now = system_clock().now_seconds();
  std::uint64_t imported = 0, rejected = 0, line_number = 0;
  // Stored in batches (PostgreSQL sends each as a few statements of thousands of rows): a
  // million lines then cost a few hundred round trips, not a million.
  constexpr std::size_t kBatch = 50'000;
  std::vector<store::Subscription> batch;
  const auto flush = [&] {
    if (batch.empty()) return;
    if (auto stored = state->import_subscriptions(batch); !stored) {
      throw CommandError("store (after " + std::to_string(imported) +
                         " imported): " + stored.error().message);
    }
    imported += batch.size();
    batch.clear();
  };
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    boost::system::error_code ec;
    const json::value v = json::parse(line, ec);
    tl::expected<webpush::CheckedSubscription, Error> checked =
        ec ? tl::unexpected(Error{ErrorCode::kInvalid, "not JSON: " + ec.message()})
           : webpush::check_push_subscription(&v, *hosts);
    if (!checked) {
      // The line number and the reason only: endpoints and keys are never printed.
      if (++rejected <= 10)
        std::cerr << args.file << ':' << line_number << ": " << checked.error().message << '\n';
      continue;
    }
    store::Subscription sub;
    sub.endpoint = std::move(checked->endpoint);
    sub.p256dh = std::move(checked->p256dh);
    sub.auth = std::move(checked->auth);
    sub.categories = set;
    sub.created_at = sub.updated_at = now;
    batch.push_back(std::move(sub));
    if (batch.size() == kBatch) flush();
  }
  flush();
  std::cout << imported << " imported, " << rejected << " rejected" << std::endl;
  if (rejected > 0) throw CommandError(std::to_string(rejected) + " line(s) rejected", 2);
}

}  // namespace

void add_subscriptions_command(CLI::App& app) {
  auto* subscriptions = app.add_subcommand("subscriptions", "Readers' push subscriptions");
  subscriptions->require_subcommand(1);
  auto args = std::make_shared<ImportArgs>();
  auto* import = subscriptions->add_subcommand(
      "import",
      "Import subscriptions from a file with one PushSubscription JSON per line (e.g. moving "
      "from another sender); each is checked like the readers' API checks it");
  add_config_options(*import, args->flags);
  import->add_option("--category", args->categories, "breaking, live, exclusive (repeatable)")
      ->required();
  import
      ->add_option("file", args->file,
                   "JSON lines: {\"endpoint\", \"keys\": {\"p256dh\", \"auth\"}}")
      ->required();
  import->callback([args] { run_import(*args);
});
}  // namespace flashwire::app

}  // namespace flashwire::app
