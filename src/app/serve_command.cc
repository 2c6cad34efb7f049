#include "app/serve_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/cli_error.h"
#include "app/demo_content.h"
#include "app/serve_config.h"
#include "common/clock.h"
#include "common/fd_limit.h"
#include "fanout/engine.h"
#include "newsroom/alert_queue.h"
#include "newsroom/api_tokens.h"
#include "newsroom/newsroom_api.h"
#include "pushservice/push_server.h"
#include "site/api.h"
#include "site/assets.h"
#include "site/push_subscription.h"
#include "site/site_handler.h"
#include "store/sqlite/sqlite_push_store.h"
#include "store/sqlite/sqlite_site_store.h"
#include "webpush/base64url.h"
#include "webpush/message.h"
#include "webpush/p256.h"
#include "webpush/push_hosts.h"

namespace flashwire::app {
namespace {

namespace json = boost::json;

// Lets the server be bound before the site handler exists (the handler needs the bound URL).
// Nothing is served until io_context::run(), by which time the target is set.
struct HandlerSlot final : http::Handler {
  http::Handler* target = nullptr;
  http::Response handle(const http::Request& request,
                        const http::RequestContext& context) override {
    return target->handle(request, context);
  }
  bool accepts_websocket(const http::Request& request) const override {
    return target->accepts_websocket(request);
  }
  void start_websocket(boost::beast::tcp_stream stream, http::Request request) override {
    target->start_websocket(std::move(stream), std::move(request));
  }
  bool accepts_stream(const http::Request& request) const override {
    return target->accepts_stream(request);
  }
  void start_stream(boost::beast::tcp_stream stream, http::Request request,
                    const http::RequestContext& context) override {
    target->start_stream(std::move(stream), std::move(request), context);
  }
  void stop_streams() override {
    if (target != nullptr) target->stop_streams();
  }
};

// GET /metrics (Prometheus text) on the metrics listener ([metrics] listen), apart from the
// site's port: who may scrape it is decided by where that listener is reachable, never by the
// peer's address (behind a proxy on the same host every reader would look local).
struct MetricsHandler final : http::Handler {
  std::function<std::string()> metrics;
  http::Response handle(const http::Request& request, const http::RequestContext&) override {
    const std::string_view target = request.target();
    if (target.substr(0, target.find('?')) != "/metrics")
      return http::json_error(http::Status::not_found, "not_found", "only /metrics is here");
    if (request.method() != boost::beast::http::verb::get &&
        request.method() != boost::beast::http::verb::head) {
      auto response =
          http::json_error(http::Status::method_not_allowed, "method_not_allowed", "use GET");
      response.set(boost::beast::http::field::allow, "GET, HEAD");
      return response;
    }
    http::Response response(http::Status::ok, request.version());
    response.set(boost::beast::http::field::content_type, "text/plain; version=0.0.4");
    response.set(boost::beast::http::field::cache_control, "no-store");
    response.body() = metrics();
    return response;
  }
  bool accepts_websocket(const http::Request&) const override { return false; }
  void start_websocket(boost::beast::tcp_stream stream, http::Request) override {
    boost::beast::error_code ignored;
    stream.socket().close(ignored);
  }
};

// Token changes made from the command line are audited like the newsroom's own changes.
void audit_cli(store::SiteStore& store, std::string action, std::string detail) {
  store::AuditEntry entry;
  entry.at = system_clock().now_seconds();
  entry.actor = "cli";
  entry.action = std::move(action);
  entry.detail = std::move(detail);
  if (auto appended = store.append_audit(entry); !appended)
    std::cerr << "warning: audit log: " << appended.error().message << "\n";
}

void add_config_options(CLI::App& cmd, ServeFlags& flags) {
  cmd.add_option_function<std::string>(
      "--config", [&flags](const std::string& v) { flags.config_file = v; },
      "TOML configuration file");
  cmd.add_option_function<std::string>(
      "--data", [&flags](const std::string& v) { flags.data_dir = v; },
      "Data directory (default: data)");
}

ServeConfig load_config(const ServeFlags& flags) {
  auto config = load_serve_config(flags);
  if (!config) throw CommandError("config: " + config.error());
  return std::move(*config);
}

std::filesystem::path prepare_data_dir(const std::string& dir) {
  const std::filesystem::path path(dir);
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw CommandError("data directory " + dir + ": " + ec.message());
  ::chmod(path.c_str(), 0700);  // holds keys
  return path;
}

std::unique_ptr<store::SiteStore> open_site_store(const std::filesystem::path& data) {
  auto store = store::open_sqlite_site_store((data / "site.sqlite").string());
  if (!store) throw CommandError("site store: " + store.error().message);
  return std::move(*store);
}

// Writes `text` to `path` with mode 0600, atomically (temporary file, fsync, rename).
void write_private_file(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw CommandError(tmp.string() + ": " + std::strerror(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    throw CommandError(path.string() + ": cannot write");
}

// The site's VAPID key pair, made on first start and kept in <data>/vapid.json (0600).
webpush::P256KeyPair load_or_create_vapid_key(const std::filesystem::path& data) {
  const auto path = data / "vapid.json";
  std::ifstream in(path);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    const json::value value = json::parse(text.str(), ec);
    const json::string* private_key = !ec && value.is_object() &&
                                              value.as_object().contains("privateKey") &&
                                              value.at("privateKey").is_string()
                                          ? &value.at("privateKey").as_string()
                                          : nullptr;
    if (private_key == nullptr) throw CommandError(path.string() + ": not a VAPID key file");
    auto key = webpush::P256KeyPair::from_private_base64url(*private_key);
    if (!key) throw CommandError(path.string() + ": " + key.error().message);
    return std::move(*key);
  }
  const auto key = webpush::P256KeyPair::generate();
  write_private_file(path, json::serialize(json::object{
                               {"publicKey", key.public_key().to_base64url()},
                               {"privateKey", webpush::base64url_encode(key.raw_private())}}) +
                               "\n");
  return key;
}

// Creates a token and returns its secret (shown once).
std::string create_token(store::SiteStore& store, const std::string& name,
                         const std::vector<std::string>& scopes) {
  if (!newsroom::is_valid_token_name(name))
    throw CommandError("token name must be 1-64 of a-z 0-9 . _ -");
  if (scopes.empty()) throw CommandError("a token needs at least one --scope");
  for (const auto& scope : scopes) {
    if (!newsroom::is_known_scope(scope)) {
      throw CommandError("unknown scope '" + scope +
                         "' (known: articles:write, alerts:send, tokens:admin)");
    }
  }
  const std::string secret = newsroom::generate_token_secret();
  store::ApiToken token;
  token.name = name;
  token.secret_hash = newsroom::hash_token_secret(secret);
  token.scopes = scopes;
  token.created_at = system_clock().now_seconds();
  if (auto created = store.create_token(token); !created) {
    throw CommandError(created.error().code == store::ErrorCode::kConflict
                           ? "a token named " + name + " exists"
                           : "store: " + created.error().message);
  }
  std::string scope_list;
  for (const auto& scope : scopes) scope_list += (scope_list.empty() ? "" : ",") + scope;
  audit_cli(store, "token.create", name + ": " + scope_list);
  return secret;
}

std::string apple_app_site_association(const AppLinkConfig& app) {
  if (app.apple_team_id.empty() || app.bundle_id.empty()) return {};
  json::object detail{
      {"appIDs", json::array{json::string(app.apple_team_id + "." + app.bundle_id)}},
      {"components", json::array{json::object{{"/", "/articles/*"}}}}};
  return json::serialize(
      json::object{{"applinks", json::object{{"details", json::array{detail}}}}});
}

std::string asset_links(const AppLinkConfig& app) {
  if (app.android_package.empty() || app.android_cert_sha256.empty()) return {};
  json::array fingerprints;
  for (const auto& fingerprint : app.android_cert_sha256) fingerprints.emplace_back(fingerprint);
  json::object target{{"namespace", "android_app"},
                      {"package_name", app.android_package},
                      {"sha256_cert_fingerprints", std::move(fingerprints)}};
  return json::serialize(json::array{
      json::object{{"relation", json::array{"delegate_permission/common.handle_all_urls"}},
                   {"target", std::move(target)}}});
}

void run_serve(const ServeFlags& flags) {
  const ServeConfig config = load_config(flags);
  const auto data = prepare_data_dir(config.data_dir);
  auto store = open_site_store(data);
  const webpush::P256KeyPair vapid = load_or_create_vapid_key(data);
  const std::int64_t now = system_clock().now_seconds();

  std::string first_token;
  auto tokens = store->list_tokens();
  if (!tokens) throw CommandError("site store: " + tokens.error().message);
  if (tokens->empty()) {
    std::vector<std::string> scopes(newsroom::all_scopes().begin(), newsroom::all_scopes().end());
    first_token = create_token(*store, "editor", scopes);
  }
  if (config.demo) {
    auto count = store->article_count();
    if (!count) throw CommandError("site store: " + count.error().message);
    if (*count == 0) {
      for (const auto& article : demo_articles(now)) {
        if (auto created = store->create_article(article); !created) {
          throw CommandError("demo content: " + created.error().message);
        }
      }
    }
  }

  auto hosts = webpush::PushHostPolicy::create(config.push_hosts);
  if (!hosts) throw CommandError("push_hosts: " + hosts.error().message);

  // Bind first: with --listen …:0 the site's own URL is known only then.
  raise_open_file_limit();  // one descriptor per connection
  boost::asio::io_context io;
  HandlerSlot slot;
  http::ServerOptions server_options;
  server_options.trusted_proxies =
      *http::TrustedProxies::parse(config.http.trusted_proxies,
                                   config.http.forwarded_header == "forwarded"
                                       ? http::ForwardedHeader::kForwarded
                                       : http::ForwardedHeader::kXForwardedFor);
  http::Server server(io, slot, server_options);
  const auto bound = server.listen(*http::parse_listen_address(config.listen));
  if (!bound) throw CommandError(bound.error());
  std::string base_url = config.base_url;
  if (base_url == "http://" + config.listen &&
      bound->port() != http::parse_listen_address(config.listen)->port()) {
    base_url = "http://" + bound->address().to_string() + ":" + std::to_string(bound->port());
  }

  site::SiteApiOptions api_options;
  api_options.origin = base_url;
  api_options.vapid_public_key = vapid.public_key().to_base64url();
  site::SiteApi api(*store, *hosts, system_clock(), api_options);

  site::SiteInfo info;
  info.name = config.site_name;
  info.description =
      "Breaking news, live events and exclusive reporting from " + config.site_name + ".";
  info.base_url = base_url;
  info.asset_version = site::assets_version();  // ?v=… on asset URLs: cached as immutable
  info.vapid_public_key = api_options.vapid_public_key;
  site::WellKnownFiles well_known;
  if (config.app) {
    info.app = site::AppInfo{
        config.app->name,          config.app->scheme,          config.app->ios_app_id,
        config.app->ios_store_url, config.app->android_package, config.app->android_store_url};
    well_known.apple_app_site_association = apple_app_site_association(*config.app);
    well_known.assetlinks = asset_links(*config.app);
  }
  site::SiteHandler handler(*store, api, info, well_known);
  // Alerts editors confirm are sent by the fan-out engine, on threads of its own.
  auto vapid_tokens = webpush::VapidTokenCache::create(vapid, config.vapid_subject, system_clock());
  if (!vapid_tokens) throw CommandError("vapid_subject: " + vapid_tokens.error().message);
  fanout::EngineConfig engine_config;
  engine_config.site_db_path = (data / "site.sqlite").string();
  engine_config.delivery_db_path = (data / "delivery.sqlite").string();
  engine_config.icon_url = base_url + "/assets/icon.svg";
  engine_config.shard_size = static_cast<std::size_t>(config.fanout.shard_size);
  engine_config.pipeline.threads = static_cast<unsigned>(config.fanout.threads);
  engine_config.pipeline.concurrency = static_cast<std::size_t>(config.fanout.concurrency);
  engine_config.pipeline.per_origin_in_flight = engine_config.pipeline.concurrency;
  engine_config.pipeline.per_origin_connections = config.fanout.per_origin_connections;
  engine_config.pipeline.per_broadcast_key = config.fanout.per_broadcast_key;
  engine_config.pipeline.http1_pipeline_depth =
      static_cast<std::size_t>(config.fanout.http1_pipeline);
  auto engine = fanout::FanoutEngine::create(engine_config, **vapid_tokens, *hosts, system_clock());
  if (!engine) throw CommandError("fan-out: " + engine.error());
  fanout::FanoutEngine& alert_queue = **engine;
  MetricsHandler metrics_handler;
  metrics_handler.metrics = [&alert_queue] { return alert_queue.metrics_text(); };
  std::unique_ptr<http::Server> metrics_server;
  std::string metrics_url;
  if (!config.metrics.listen.empty()) {
    metrics_server = std::make_unique<http::Server>(io, metrics_handler);
    const auto metrics_bound =
        metrics_server->listen(*http::parse_listen_address(config.metrics.listen));
    if (!metrics_bound) throw CommandError("metrics.listen: " + metrics_bound.error());
    const auto& address = metrics_bound->address();
    metrics_url = "http://" +
                  (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" +
                  std::to_string(metrics_bound->port()) + "/metrics";
  }
  newsroom::NewsroomApiOptions newsroom_options;
  newsroom_options.origin = base_url;
  newsroom::NewsroomApi newsroom_api(
      *store, system_clock(), alert_queue, [&handler] { handler.invalidate_pages(); },
      newsroom_options);
  handler.set_newsroom(&newsroom_api);
  // Live events: readers' event streams, fed by the updates editors post.
  site::LiveStream live_stream;
  handler.set_live_stream(&live_stream);
  newsroom_api.set_on_live_update(
      [&handler](const store::Article& event, const store::LiveUpdate& update) {
        handler.live_update_posted(event, update);
      });
  slot.target = &handler;

  std::unique_ptr<pushservice::PushServer> push_server;
  if (config.push_service.enabled) {
    const auto push_data = prepare_data_dir((data / "push").string());
    const auto key = pushservice::load_or_create_endpoint_key(push_data / "endpoint.key");
    if (!key) throw CommandError(key.error());
    auto push_store = store::open_sqlite_push_store((push_data / "push.sqlite").string());
    if (!push_store) throw CommandError("push store: " + push_store.error().message);
    pushservice::PushServerOptions options;
    options.service.public_url = config.push_service.public_url;
    options.http.max_body_bytes = options.service.max_body_bytes;
    push_server = std::make_unique<pushservice::PushServer>(
        io,
        std::make_unique<pushservice::PushService>(std::move(*push_store), *key, system_clock(),
                                                   options.service),
        options);
    const auto push_bound =
        push_server->listen(*http::parse_listen_address(config.push_service.listen));
    if (!push_bound) throw CommandError("push_service.listen: " + push_bound.error());
  }

  std::cout << "Flashwire is serving " << config.site_name << "\n  site:     " << base_url << "/\n";
  std::cout << "  newsroom: " << base_url << "/newsroom\n";
  if (metrics_server) std::cout << "  metrics:  " << metrics_url << "\n";
  if (push_server)
    std::cout << "  push service: " << config.push_service.public_url
              << "/ (WebSocket and RFC 8030)\n";
  if (!first_token.empty()) {
    std::cout << "  editor token (shown once, keep it safe): " << first_token << "\n";
  }
  std::cout << std::flush;
  if (auto started = alert_queue.start(); !started)
    throw CommandError("fan-out: " + started.error());

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer deadline(io);
  signals.async_wait([&](const boost::system::error_code& error, int) {
    if (error) return;
    server.stop();
    if (metrics_server) metrics_server->stop();
    if (push_server) push_server->stop();
    deadline.expires_after(std::chrono::seconds(2));
    deadline.async_wait([&](const boost::system::error_code&) { io.stop(); });
  });
  io.run();
  alert_queue.stop();  // an unfinished alert resumes on next start
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd =
      app.add_subcommand("serve", "Run the news site (and the push service, when configured)");
  add_config_options(*cmd, *flags);
  cmd->add_option_function<std::string>(
      "--listen", [flags](const std::string& v) { flags->listen = v; },
      "Address to listen on, HOST:PORT (default 127.0.0.1:8080)");
  cmd->add_option_function<std::string>(
      "--base-url", [flags](const std::string& v) { flags->base_url = v; },
      "Public origin of the site (default: http://<listen>)");
  cmd->add_flag("--no-demo", flags->no_demo, "Do not add demo articles to an empty site");
  cmd->callback([flags] { run_serve(*flags); });
}

void add_subscription_commands(CLI::App& app) {
  auto* subscriptions = app.add_subcommand("subscriptions", "Readers' push subscriptions");
  subscriptions->require_subcommand(1);
  auto flags = std::make_shared<ServeFlags>();
  auto file = std::make_shared<std::string>();
  auto categories = std::make_shared<std::vector<std::string>>();
  auto* import = subscriptions->add_subcommand(
      "import",
      "Import subscriptions from a file with one PushSubscription JSON per line (e.g. moving "
      "from another sender); each is checked like the readers' API checks it");
  add_config_options(*import, *flags);
  import->add_option("--category", *categories, "breaking, live, exclusive (repeatable)")
      ->required();
  import->add_option("file", *file, "JSON lines: {\"endpoint\", \"keys\": {\"p256dh\", \"auth\"}}")
      ->required();
  import->callback([flags, file, categories] {
    const ServeConfig config = load_config(*flags);
  store::CategorySet set = 0;
  for (const auto& name : *categories) {
    const auto category = store::parse_category(name);
    if (!category) throw CommandError("--category: unknown category '" + name + "'");
    set |= static_cast<store::CategorySet>(*category);
  }
  auto hosts = webpush::PushHostPolicy::create(config.push_hosts);
  if (!hosts) throw CommandError("push_hosts: " + hosts.error().message);
  std::ifstream in(*file);
  if (!in) throw CommandError("cannot open " + *file + " for reading");
  auto store = open_site_store(prepare_data_dir(config.data_dir));
  const std::int64_t now = system_clock().now_seconds();
  std::uint64_t imported = 0, rejected = 0, line_number = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    boost::system::error_code ec;
    const json::value v = json::parse(line, ec);
    tl::expected<site::CheckedSubscription, std::string> checked =
        ec ? tl::unexpected(std::string("not JSON: ") + ec.message())
           : site::check_push_subscription(&v, *hosts);
    if (!checked) {
      // The line number and the reason only: endpoints and keys are never printed.
      if (++rejected <= 10)
        std::cerr << *file << ':' << line_number << ": " << checked.error() << '\n';
      continue;
    }
    store::Subscription sub;
    sub.endpoint = std::move(checked->endpoint);
    sub.p256dh = std::move(checked->p256dh);
    sub.auth = std::move(checked->auth);
    sub.categories = set;
    sub.created_at = sub.updated_at = now;
    if (auto stored = store->upsert_subscription(sub); !stored) {
      throw CommandError("store (after " + std::to_string(imported) +
                         " imported): " + stored.error().message);
    }
    ++imported;
  }
  std::cout << imported << " imported, " << rejected << " rejected" << std::endl;
  if (rejected > 0) throw CommandError(std::to_string(rejected) + " line(s) rejected", 2);
});
}  // namespace flashwire::app

void add_token_commands(CLI::App& app) {
  auto* token = app.add_subcommand("token", "Editor API tokens");
  token->require_subcommand(1);

  auto flags = std::make_shared<ServeFlags>();
  auto name = std::make_shared<std::string>();
  auto scopes = std::make_shared<std::vector<std::string>>();
  auto* create = token->add_subcommand("create", "Create a token; prints its secret once");
  add_config_options(*create, *flags);
  create->add_option("--name", *name, "Token name, e.g. desk-ana")->required();
  create->add_option("--scope", *scopes, "articles:write, alerts:send, tokens:admin (repeatable)")
      ->required();
  create->callback([flags, name, scopes] {
    const ServeConfig config = load_config(*flags);
    auto store = open_site_store(prepare_data_dir(config.data_dir));
    std::cout << create_token(*store, *name, *scopes) << std::endl;
  });

  auto list_flags = std::make_shared<ServeFlags>();
  auto* list = token->add_subcommand("list", "List tokens (names and scopes, never secrets)");
  add_config_options(*list, *list_flags);
  list->callback([list_flags] {
    const ServeConfig config = load_config(*list_flags);
    auto store = open_site_store(prepare_data_dir(config.data_dir));
    auto tokens = store->list_tokens();
    if (!tokens) throw CommandError("store: " + tokens.error().message);
    for (const auto& t : *tokens) {
      std::cout << t.name << '\t';
      for (std::size_t i = 0; i < t.scopes.size(); ++i) std::cout << (i ? "," : "") << t.scopes[i];
      std::cout << (t.revoked ? "\trevoked" : "") << '\n';
    }
  });

  auto revoke_flags = std::make_shared<ServeFlags>();
  auto revoke_name = std::make_shared<std::string>();
  auto* revoke = token->add_subcommand("revoke", "Revoke a token");
  add_config_options(*revoke, *revoke_flags);
  revoke->add_option("--name", *revoke_name, "Token name")->required();
  revoke->callback([revoke_flags, revoke_name] {
    const ServeConfig config = load_config(*revoke_flags);
    auto store = open_site_store(prepare_data_dir(config.data_dir));
    if (auto revoked = store->revoke_token(*revoke_name); !revoked) {
      throw CommandError(revoked.error().code == store::ErrorCode::kNotFound
                             ? "no token named " + *revoke_name
                             : "store: " + revoked.error().message);
    }
    audit_cli(*store, "token.revoke", *revoke_name);
  });
}

}  // namespace flashwire::app
