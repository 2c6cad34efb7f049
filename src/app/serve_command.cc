#include "app/serve_command.h"

#include <fcntl.h>
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
#include <memory>
#include <optional>
#include <sstream>

#include "app/cli_error.h"
#include "app/demo_content.h"
#include "app/serve_config.h"
#include "app/site_state.h"
#include "common/clock.h"
#include "common/fd_limit.h"
#include "fanout/engine.h"
#include "newsroom/alert_queue.h"
#include "newsroom/api_tokens.h"
#include "newsroom/newsroom_api.h"
#include "pushservice/push_server.h"
#include "site/api.h"
#include "site/assets.h"
#include "site/live_stream.h"
#include "site/site_handler.h"
#include "store/sqlite/sqlite_push_store.h"
#include "webpush/base64url.h"
#include "webpush/p256.h"
#include "webpush/push_hosts.h"
#include "webpush/vapid.h"

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
    response.body() = metrics ? metrics() : std::string();
    return response;
  }
  bool accepts_websocket(const http::Request&) const override { return false; }
  void start_websocket(boost::beast::tcp_stream stream, http::Request) override {
    boost::beast::error_code ignored;
    stream.socket().close(ignored);
  }
};

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

// What `serve` reads and opens before anything listens.
struct SiteState {
  ServeConfig config;
  std::filesystem::path data;
  std::unique_ptr<store::SiteStore> store;
  webpush::P256KeyPair vapid;
  std::string first_token;  // the editor token this start created, shown once; "" if none
};

// Everything `serve` runs, in the order it is built. Members are destroyed in reverse: the push
// server, the newsroom and the handler go before the engine, the server and the io_context.
struct Services {
  std::optional<webpush::PushHostPolicy> hosts;
  boost::asio::io_context io;
  HandlerSlot slot;
  std::unique_ptr<http::Server> server;
  std::string base_url;
  std::unique_ptr<site::SiteApi> api;
  std::unique_ptr<site::SiteHandler> handler;
  std::unique_ptr<webpush::VapidTokenCache> vapid_tokens;
  std::unique_ptr<fanout::FanoutEngine> engine;
  std::unique_ptr<newsroom::NewsroomApi> newsroom_api;
  std::unique_ptr<site::LiveStream> live_stream;
  std::unique_ptr<pushservice::PushServer> push_server;
  // [metrics] listen: GET /metrics on a listener of its own; none when not configured.
  MetricsHandler metrics_handler;
  std::unique_ptr<http::Server> metrics_server;
  std::string metrics_url;
};

// A site with no tokens gets one editor token with every scope, so the newsroom can be used
// at all; its secret is returned to be shown once.
std::string create_first_token(store::SiteStore& store) {
  auto tokens = store.list_tokens();
  if (!tokens) throw CommandError("site store: " + tokens.error().message);
  if (!tokens->empty()) return {};
  std::vector<std::string> scopes(newsroom::all_scopes().begin(), newsroom::all_scopes().end());
  return create_token(store, "editor", scopes);
}

void add_demo_content(store::SiteStore& store, std::int64_t now) {
  auto count = store.article_count();
  if (!count) throw CommandError("site store: " + count.error().message);
  if (*count != 0) return;
  for (const auto& article : demo_articles(now)) {
    if (auto created = store.create_article(article); !created) {
      throw CommandError("demo content: " + created.error().message);
    }
  }
}

// Step 1: configuration, data directory, site store, VAPID key, first token, demo content.
SiteState open_state(const ServeFlags& flags) {
  ServeConfig config = load_config(flags);
  std::filesystem::path data = prepare_data_dir(config.data_dir);
  auto store = open_site_store(data);
  webpush::P256KeyPair vapid = load_or_create_vapid_key(data);
  const std::int64_t now = system_clock().now_seconds();
  std::string first_token = create_first_token(*store);
  if (config.demo) add_demo_content(*store, now);
  return SiteState{std::move(config), std::move(data), std::move(store), std::move(vapid),
                   std::move(first_token)};
}

fanout::EngineConfig engine_config_for(const SiteState& state, const std::string& base_url) {
  const FanoutConfig& fanout = state.config.fanout;
  fanout::EngineConfig engine_config;
  engine_config.site_db_path = (state.data / "site.sqlite").string();
  engine_config.delivery_db_path = (state.data / "delivery.sqlite").string();
  engine_config.icon_url = base_url + "/assets/icon.svg";
  engine_config.shard_size = static_cast<std::size_t>(fanout.shard_size);
  engine_config.pipeline.threads = static_cast<unsigned>(fanout.threads);
  engine_config.pipeline.concurrency = static_cast<std::size_t>(fanout.concurrency);
  engine_config.pipeline.per_origin_in_flight = engine_config.pipeline.concurrency;
  engine_config.pipeline.per_origin_connections = fanout.per_origin_connections;
  engine_config.pipeline.per_broadcast_key = fanout.per_broadcast_key;
  engine_config.pipeline.http1_pipeline_depth = static_cast<std::size_t>(fanout.http1_pipeline);
  return engine_config;
}

// The embedded push service ([push_service] enabled), bound on the same io_context.
std::unique_ptr<pushservice::PushServer> start_push_server(const SiteState& state,
                                                           boost::asio::io_context& io) {
  const auto push_data = prepare_data_dir((state.data / "push").string());
  const auto key = pushservice::load_or_create_endpoint_key(push_data / "endpoint.key");
  if (!key) throw CommandError(key.error());
  auto push_store = store::open_sqlite_push_store((push_data / "push.sqlite").string());
  if (!push_store) throw CommandError("push store: " + push_store.error().message);
  pushservice::PushServerOptions options;
  options.service.public_url = state.config.push_service.public_url;
  options.http.max_body_bytes = options.service.max_body_bytes;
  auto push_server = std::make_unique<pushservice::PushServer>(
      io,
      std::make_unique<pushservice::PushService>(std::move(*push_store), *key, system_clock(),
                                                 options.service),
      options);
  const auto push_bound =
      push_server->listen(*http::parse_listen_address(state.config.push_service.listen));
  if (!push_bound) throw CommandError("push_service.listen: " + push_bound.error());
  return push_server;
}

// Step 2: binds the site's listener (with --listen …:0 the site's own URL is known only then)
// and builds the site, the fan-out engine, the newsroom and the embedded push service.
void build_services(SiteState& state, Services& s) {
  const ServeConfig& config = state.config;
  auto hosts = webpush::PushHostPolicy::create(config.push_hosts);
  if (!hosts) throw CommandError("push_hosts: " + hosts.error().message);
  s.hosts.emplace(std::move(*hosts));

  raise_open_file_limit();  // one descriptor per connection
  http::ServerOptions server_options;
  server_options.trusted_proxies = *http::TrustedProxies::parse(
      config.http.trusted_proxies, config.http.forwarded_header == "forwarded"
                                       ? http::ForwardedHeader::kForwarded
                                       : http::ForwardedHeader::kXForwardedFor);
  s.server = std::make_unique<http::Server>(s.io, s.slot, server_options);
  const auto bound = s.server->listen(*http::parse_listen_address(config.listen));
  if (!bound) throw CommandError(bound.error());
  s.base_url = config.base_url;
  if (s.base_url == "http://" + config.listen &&
      bound->port() != http::parse_listen_address(config.listen)->port()) {
    s.base_url = "http://" + bound->address().to_string() + ":" + std::to_string(bound->port());
  }

  site::SiteApiOptions api_options;
  api_options.origin = s.base_url;
  api_options.vapid_public_key = state.vapid.public_key().to_base64url();
  s.api = std::make_unique<site::SiteApi>(*state.store, *s.hosts, system_clock(), api_options);

  site::SiteInfo info;
  info.name = config.site_name;
  info.description =
      "Breaking news, live events and exclusive reporting from " + config.site_name + ".";
  info.base_url = s.base_url;
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
  s.handler = std::make_unique<site::SiteHandler>(*state.store, *s.api, info, well_known);

  // Alerts editors confirm are sent by the fan-out engine, on threads of its own.
  auto vapid_tokens =
      webpush::VapidTokenCache::create(state.vapid, config.vapid_subject, system_clock());
  if (!vapid_tokens) throw CommandError("vapid_subject: " + vapid_tokens.error().message);
  s.vapid_tokens = std::move(*vapid_tokens);
  auto engine = fanout::FanoutEngine::create(engine_config_for(state, s.base_url), *s.vapid_tokens,
                                             *s.hosts, system_clock());
  if (!engine) throw CommandError("fan-out: " + engine.error());
  s.engine = std::move(*engine);

  newsroom::NewsroomApiOptions newsroom_options;
  newsroom_options.origin = s.base_url;
  site::SiteHandler& handler = *s.handler;
  s.newsroom_api = std::make_unique<newsroom::NewsroomApi>(
      *state.store, system_clock(), *s.engine, [&handler] { handler.invalidate_pages(); },
      newsroom_options);
  // Live events: readers' event streams, fed by the updates editors post.
  s.live_stream = std::make_unique<site::LiveStream>();

  if (config.push_service.enabled) s.push_server = start_push_server(state, s.io);

  if (!config.metrics.listen.empty()) {
    s.metrics_server = std::make_unique<http::Server>(s.io, s.metrics_handler);
    const auto bound_metrics =
        s.metrics_server->listen(*http::parse_listen_address(config.metrics.listen));
    if (!bound_metrics) throw CommandError("metrics.listen: " + bound_metrics.error());
    const auto& address = bound_metrics->address();
    s.metrics_url = "http://" +
                    (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) +
                    ":" + std::to_string(bound_metrics->port()) + "/metrics";
  }
}

// Step 3: who answers what — /metrics, the newsroom and live events behind the site handler.
void wire_routes(Services& s) {
  fanout::FanoutEngine& alert_queue = *s.engine;
  s.metrics_handler.metrics = [&alert_queue] { return alert_queue.metrics_text(); };
  site::SiteHandler& handler = *s.handler;
  handler.set_newsroom(s.newsroom_api.get());
  handler.set_live_stream(s.live_stream.get());
  s.newsroom_api->set_on_live_update(
      [&handler](const store::Article& event, const store::LiveUpdate& update) {
        handler.live_update_posted(event, update);
      });
  s.slot.target = &handler;
}

void print_banner(const SiteState& state, const Services& s) {
  std::cout << "Flashwire is serving " << state.config.site_name << "\n  site:     " << s.base_url
            << "/\n";
  std::cout << "  newsroom: " << s.base_url << "/newsroom\n";
  if (s.metrics_server) std::cout << "  metrics:  " << s.metrics_url << "\n";
  if (s.push_server)
    std::cout << "  push service: " << state.config.push_service.public_url
              << "/ (WebSocket and RFC 8030)\n";
  if (!state.first_token.empty()) {
    std::cout << "  editor token (shown once, keep it safe): " << state.first_token << "\n";
  }
  std::cout << std::flush;
}

// Step 4: starts the engine and serves until SIGINT or SIGTERM; then stops accepting and gives
// in-flight requests a moment before leaving the loop.
void run(const SiteState& state, Services& s) {
  print_banner(state, s);
  if (auto started = s.engine->start(); !started) throw CommandError("fan-out: " + started.error());

  boost::asio::signal_set signals(s.io, SIGINT, SIGTERM);
  boost::asio::steady_timer deadline(s.io);
  signals.async_wait([&](const boost::system::error_code& error, int) {
    if (error) return;
    s.server->stop();
    if (s.metrics_server) s.metrics_server->stop();
    if (s.push_server) s.push_server->stop();
    deadline.expires_after(std::chrono::seconds(2));
    deadline.async_wait([&](const boost::system::error_code&) { s.io.stop(); });
  });
  s.io.run();
}

// Step 5: an unfinished alert keeps its durable progress and resumes on next start.
void shut_down(Services& s) { s.engine->stop(); }

void run_serve(const ServeFlags& flags) {
  SiteState state = open_state(flags);
  Services services;
  build_services(state, services);
  wire_routes(services);
  run(state, services);
  shut_down(services);
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

}  // namespace flashwire::app
