#include "app/push_service_command.h"

#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <iostream>

#include "app/cli_error.h"
#include "common/fd_limit.h"
#include "pushservice/push_server.h"
#include "store/sqlite/sqlite_push_store.h"

namespace flashwire::app {
namespace {

struct PushServiceArgs {
  std::string listen = "127.0.0.1:8090";
  std::string data_dir = "data/push";
  std::string public_url;  // default: http://<listen address>
  std::size_t backlog_cap = 100;
  std::int64_t max_ttl = 28 * 24 * 60 * 60;
};

std::string url_host(const boost::asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

void run_push_service(const PushServiceArgs& args) {
  const auto listen = http::parse_listen_address(args.listen);
  if (!listen) throw CommandError("--listen: " + listen.error().message);
  if (args.backlog_cap == 0) throw CommandError("--backlog-cap must be at least 1");
  if (args.max_ttl <= 0) throw CommandError("--max-ttl must be positive");

  const std::filesystem::path data(args.data_dir);
  std::error_code ec;
  std::filesystem::create_directories(data, ec);
  if (ec) throw CommandError("--data: cannot create " + data.string() + ": " + ec.message());
  ::chmod(data.c_str(), 0700);  // holds the endpoint key

  const auto key = pushservice::load_or_create_endpoint_key(data / "endpoint.key");
  if (!key) throw CommandError(key.error().message);
  auto store = store::open_sqlite_push_store((data / "push.sqlite").string());
  if (!store) throw CommandError("store: " + store.error().message);

  raise_open_file_limit();  // one descriptor per connection
  boost::asio::io_context io;
  pushservice::PushServerOptions options;
  options.service.backlog_cap = args.backlog_cap;
  options.service.max_ttl_seconds = args.max_ttl;
  options.http.max_body_bytes = options.service.max_body_bytes;

  // Without --public-url the URL names the port actually bound (--listen …:0), known only
  // after listen(); the service is told then, before the first connection is served.
  options.service.public_url = args.public_url;
  auto service = std::make_unique<pushservice::PushService>(std::move(*store), *key, system_clock(),
                                                            options.service);
  pushservice::PushService* service_ptr = service.get();
  pushservice::PushServer server(io, std::move(service), options);
  const auto bound = server.listen(*listen);
  if (!bound) throw CommandError(bound.error().message);
  const std::string host = url_host(*bound);
  if (args.public_url.empty()) service_ptr->set_public_url("http://" + host);

  std::cout << R"({"event":"listening","address":")" << host << R"(","websocket":"ws://)" << host
            << R"(/","endpoint_base":")" << service_ptr->options().public_url << "/wpush/\"}"
            << std::endl;

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer deadline(io);
  signals.async_wait([&](const boost::system::error_code& error, int) {
    if (error) return;
    server.stop();
    // Give sessions a moment to send their close frames, then stop regardless.
    deadline.expires_after(std::chrono::seconds(2));
    deadline.async_wait([&](const boost::system::error_code&) { io.stop(); });
  });
  io.run();
}

}  // namespace

void add_push_service_command(CLI::App& app) {
  auto args = std::make_shared<PushServiceArgs>();
  auto* cmd = app.add_subcommand(
      "push-service", "Run Flashwire's own push service (RFC 8030 + Firefox's WebSocket protocol)");
  cmd->add_option("--listen", args->listen,
                  "Address to listen on, HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--data", args->data_dir, "Directory for the message store and endpoint key")
      ->capture_default_str();
  cmd->add_option("--public-url", args->public_url,
                  "Base URL senders reach this service at (default: http://<listen address>)");
  cmd->add_option("--backlog-cap", args->backlog_cap, "Stored messages kept per user agent")
      ->capture_default_str();
  cmd->add_option("--max-ttl", args->max_ttl, "Longest TTL honoured, in seconds")
      ->capture_default_str();
  cmd->callback([args] { run_push_service(*args); });
}

}  // namespace flashwire::app
