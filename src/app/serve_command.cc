#include "app/serve_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "app/alert_scheduler.h"
#include "app/cli_error.h"
#include "app/cluster_sync.h"
#include "app/demo_content.h"
#include "app/serve_config.h"
#include "app/site_state.h"
#include "common/clock.h"
#include "common/cores.h"
#include "common/fd_limit.h"
#include "fanout/engine.h"
#include "fanout/test_send.h"
#include "http/live_stream.h"
#include "http/metrics_handler.h"
#include "http/router.h"
#include "newsroom/api_tokens.h"
#include "newsroom/newsroom_api.h"
#include "pushservice/push_server.h"
#include "site/api.h"
#include "site/assets.h"
#include "site/markdown.h"
#include "site/site_handler.h"
#include "store/postgres/pg.h"
#include "store/postgres/pg_listener.h"
#include "store/postgres/pg_site_store.h"
#include "store/serialized_site_store.h"
#include "store/site_state.h"
#include "store/sqlite/sqlite_push_store.h"
#include "webpush/base64url.h"
#include "webpush/p256.h"
#include "webpush/push_hosts.h"
#include "webpush/random.h"
#include "webpush/vapid.h"

namespace flashwire::app {
namespace {

namespace json = boost::json;

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

// With a shared store (PostgreSQL), the VAPID key pair lives in the store: the first node to
// start puts one there and every node signs with it, so a subscription made through one node is
// accepted when another sends to it.
webpush::P256KeyPair load_or_create_shared_vapid_key(store::SettingsStore& settings) {
  const auto generated = webpush::P256KeyPair::generate();
  auto stored = settings.put_if_absent("vapid_private_key",
                                       webpush::base64url_encode(generated.raw_private()));
  if (!stored) throw CommandError("store: VAPID key: " + stored.error().message);
  auto key = webpush::P256KeyPair::from_private_base64url(*stored);
  if (!key) throw CommandError("store: VAPID key: " + key.error().message);
  return std::move(*key);
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

// After SIGINT or SIGTERM: the longest `serve` waits for answers in progress and WebSocket close
// handshakes before it exits regardless (an operator or a supervisor expects it gone within 1 s).
constexpr std::chrono::milliseconds kDrainLimit{500};
// As many as the engine resumes at start (FanoutEngine::start).
constexpr std::size_t kMaxAlertsResumed = 10000;

// What `serve` reads and opens before anything listens.
struct SiteState {
  ServeConfig config;
  std::filesystem::path data;
  std::unique_ptr<store::SiteState> backing;  // where the state lives; outlives `store`
  std::unique_ptr<store::SiteStore> store;
  webpush::P256KeyPair vapid;
  std::string first_token;           // the editor token this start created, shown once; "" if none
  std::size_t alerts_to_resume = 0;  // left "sending" by the last run; the engine resumes them
  // [node] id, or host:pid: the fan-out's per-node progress and the cluster's notices name it.
  std::string node_id;
};

// The site's security headers (CSP, nosniff, no framing) on every answer, the newsroom's too.
http::RouterOptions site_router_options() {
  http::RouterOptions options;
  for (const auto& [name, value] : site::security_headers())
    options.response_headers.emplace_back(name, value);
  return options;
}

// Everything `serve` runs, in the order it is built. Members are destroyed in reverse: the push
// server, the newsroom and the handler go before the engine, the server and the io_context.
struct Services {
  // The server's own threads end before any handler they call goes, also when start-up fails
  // half-way (shut_down has joined them already otherwise).
  ~Services() {
    if (server) server->join(std::chrono::milliseconds(0));
  }

  std::optional<webpush::PushHostPolicy> hosts;
  boost::asio::io_context io;
  // Routes are added in wire_routes, before the io_context runs; every answer carries the site's
  // security headers, the newsroom's too.
  http::Router router{site_router_options()};
  std::unique_ptr<http::MetricsHandler> metrics;
  std::unique_ptr<http::Server> metrics_server;  // [metrics] listen; none when not configured
  std::string metrics_url;
  std::unique_ptr<http::Server> server;
  // The site store as the server's threads share it (the site, its API and the newsroom).
  std::unique_ptr<store::SerializedSiteStore> shared_store;
  std::string base_url;
  std::unique_ptr<site::SiteApi> api;
  std::unique_ptr<site::SiteHandler> handler;
  std::unique_ptr<webpush::VapidTokenCache> vapid_tokens;
  // The engine's own store connections, and the engine, which uses them until it is gone.
  std::unique_ptr<store::SiteStore> engine_site;
  std::unique_ptr<store::DeliveryStore> engine_deliveries;
  std::unique_ptr<fanout::SiteStoreView> engine_site_view;
  std::unique_ptr<fanout::FanoutEngine> engine;
  std::unique_ptr<fanout::TestSender> test_sender;  // the newsroom's test sends
  std::unique_ptr<newsroom::NewsroomApi> newsroom_api;
  std::unique_ptr<AlertScheduler> scheduler;  // scheduled alerts, claimed when due
  std::unique_ptr<http::LiveStream> live_stream;
  std::unique_ptr<pushservice::PushServer> push_server;
  // PostgreSQL store: the session holding the push service's advisory lock (one node only).
  std::unique_ptr<store::pg::Connection> push_lock;
  // With a PostgreSQL store: the other nodes learn of this node's changes and the other way
  // round.
  std::unique_ptr<ClusterSync> cluster;
  // With a PostgreSQL store: the node's one LISTEN connection (app/cluster_sync.h on
  // "flashwire_content", the engine's wake-ups on store::kAlertsChannel), holding the node id's
  // lock. Declared last, stopped first: its thread calls the cluster sync and the engine.
  std::unique_ptr<store::pg::PgListener> listener;
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

// host:pid: unique among the nodes of one store as long as host names are (a node whose id is
// taken is refused at start: ClusterSync::claim_node_id).
std::string default_node_id() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0 || host[0] == '\0') {
    return "node:" + std::to_string(getpid());
  }
  return std::string(host.data()) + ":" + std::to_string(getpid());
}

// Step 1: configuration, data directory, site store, VAPID key, first token, demo content.
SiteState open_state(const ServeFlags& flags) {
  ServeConfig config = load_config(flags);
  std::filesystem::path data = prepare_data_dir(config.data_dir);
  auto backing = open_store_state(config, data);
  auto store = open_site_store(*backing);
  webpush::P256KeyPair vapid = backing->settings() != nullptr
                                   ? load_or_create_shared_vapid_key(*backing->settings())
                                   : load_or_create_vapid_key(data);
  const std::int64_t now = system_clock().now_seconds();
  std::string first_token = create_first_token(*store);
  if (config.demo) add_demo_content(*store, now);
  auto sending = store->alerts_with_status(store::AlertStatus::kSending, kMaxAlertsResumed);
  if (!sending) throw CommandError("site store: " + sending.error().message);
  std::string node_id = config.node_id.empty() ? default_node_id() : config.node_id;
  return SiteState{std::move(config), std::move(data),   std::move(backing),
                   std::move(store),  std::move(vapid),  std::move(first_token),
                   sending->size(),   std::move(node_id)};
}

fanout::EngineConfig engine_config_for(const SiteState& state, const std::string& base_url) {
  const FanoutConfig& fanout = state.config.fanout;
  fanout::EngineConfig engine_config;
  engine_config.icon_url = base_url + "/assets/icon.svg";
  // The same origin the readers' API classifies beacons with (site::ApiOptions), so that the
  // fan-out's and the beacons' split by push service agree.
  if (state.config.push_service.enabled)
    engine_config.own_push_origin = state.config.push_service.public_url;
  engine_config.shard_size = static_cast<std::size_t>(fanout.shard_size);
  engine_config.node_id = state.node_id;
  engine_config.lease = std::chrono::milliseconds(fanout.lease_ms);
  engine_config.poll_interval = std::chrono::milliseconds(fanout.poll_ms);
  engine_config.pipeline.threads = static_cast<unsigned>(fanout.threads);
  engine_config.pipeline.concurrency = static_cast<std::size_t>(fanout.concurrency);
  engine_config.pipeline.per_origin_in_flight = engine_config.pipeline.concurrency;
  engine_config.pipeline.per_origin_connections = fanout.per_origin_connections;
  engine_config.pipeline.per_broadcast_key = fanout.per_broadcast_key;
  engine_config.pipeline.http1_pipeline_depth = static_cast<std::size_t>(fanout.http1_pipeline);
  engine_config.pipeline.builtin_https = fanout.https_client == "builtin";
  engine_config.pipeline.origin_rate_limit = fanout.origin_rate_limit;
  engine_config.pipeline.max_message_bytes = static_cast<std::size_t>(fanout.max_message_bytes);
  if (!fanout.ca_file.empty()) {
    auto ca = fanout::load_ca_file(fanout.ca_file);
    if (!ca) throw CommandError("fanout.ca_file: " + ca.error().message);
    engine_config.pipeline.extra_ca = std::move(*ca);
  }
  return engine_config;
}

// The key of the advisory lock held by the one node of a PostgreSQL site that runs the embedded
// push service: an arbitrary constant, unlike the migrations' key (store/postgres/pg_schema.cc).
constexpr std::int64_t kPushServiceLockKey = 0x466c617368505356;  // "FlashPSV"

// The embedded push service keeps its subscriptions in the node's own SQLite file, so with a
// shared store only one node may run it: that node holds a session-level advisory lock on a
// connection of its own for as long as it runs. A second node gets a clear error at start.
std::unique_ptr<store::pg::Connection> lock_push_service(const std::string& url) {
  auto conn = store::pg::Connection::connect(url);
  if (!conn) throw CommandError("push_service: " + conn.error().message);
  auto locked = (*conn)->run("fw_push_service_lock", "SELECT pg_try_advisory_lock($1::bigint)",
                             store::pg::Params().add(kPushServiceLockKey), "push_service lock");
  if (!locked) throw CommandError("push_service: " + locked.error().message);
  if (!locked->get_bool(0, 0)) {
    throw CommandError(
        "push_service: another node of this site runs the embedded push service; with a "
        "PostgreSQL store it may be enabled on one node only (docs/deploy.md)");
  }
  return std::move(*conn);
}

// The embedded push service ([push_service] enabled), bound on the same io_context.
std::unique_ptr<pushservice::PushServer> start_push_server(const SiteState& state,
                                                           boost::asio::io_context& io) {
  const auto push_data = prepare_data_dir((state.data / "push").string());
  const auto key = pushservice::load_or_create_endpoint_key(push_data / "endpoint.key");
  if (!key) throw CommandError(key.error().message);
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
  if (!push_bound) throw CommandError("push_service.listen: " + push_bound.error().message);
  return push_server;
}

// With a PostgreSQL store: the node's one LISTEN connection, which claims the node id (a second
// node with the same id is refused here), serves the cluster sync (content changes) and wakes the
// fan-out engine as soon as another node plans an alert (store::kAlertsChannel) instead of at its
// next poll. A listener that cannot start (the server down, the id taken) stops `serve`.
void start_listener(const SiteState& state, const std::shared_ptr<store::pg::Pool>& pool,
                    Services& s) {
  store::pg::PgListenerOptions options;
  options.on_connect = [node_id = state.node_id](store::pg::Connection& conn) {
    return ClusterSync::claim_node_id(conn, node_id);
  };
  s.listener = std::make_unique<store::pg::PgListener>(pool->url(), std::move(options));
  auto cluster = ClusterSync::create({.pool = pool,
                                      .listener = *s.listener,
                                      .node_id = state.node_id,
                                      .site = *s.handler,
                                      .store = *s.shared_store,
                                      .io = s.io});
  if (!cluster) throw CommandError("cluster: " + cluster.error().message);
  s.cluster = std::move(*cluster);
  fanout::FanoutEngine& engine = *s.engine;
  // The payload is only a hint: the engine reads the alerts to send from the store; after a
  // reconnect it looks again for what it may have missed.
  auto subscribed =
      s.listener->subscribe(std::string(store::kAlertsChannel),
                            {.on_notification = [&engine](std::string_view) { engine.enqueue(0); },
                             .on_missed = [&engine] { engine.enqueue(0); }});
  if (!subscribed) throw CommandError("cluster: " + subscribed.error().message);
  if (auto started = s.listener->start(); !started) {
    throw CommandError("cluster: " + started.error().message);
  }
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
  // Every core serves readers: the click storm after an alert is what the site is sized for.
  server_options.threads = config.http.threads > 0
                               ? static_cast<unsigned>(config.http.threads)
                               : std::min(usable_cores(), http::ServerOptions::kMaxThreads);
  s.server = std::make_unique<http::Server>(s.io, s.router, server_options);
  const auto bound = s.server->listen(*http::parse_listen_address(config.listen));
  if (!bound) throw CommandError(bound.error().message);
  s.base_url = config.base_url;
  if (s.base_url == "http://" + config.listen &&
      bound->port() != http::parse_listen_address(config.listen)->port()) {
    s.base_url = "http://" + bound->address().to_string() + ":" + std::to_string(bound->port());
  }

  s.shared_store = std::make_unique<store::SerializedSiteStore>(*state.store);
  site::SiteApiOptions api_options;
  api_options.origin = s.base_url;
  api_options.vapid_public_key = state.vapid.public_key().to_base64url();
  // An origin (the config checks it): the endpoints the own push service hands out begin with it.
  if (config.push_service.enabled) api_options.own_push_origin = config.push_service.public_url;
  s.api = std::make_unique<site::SiteApi>(*s.shared_store, *s.hosts, system_clock(), api_options);

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
  s.handler = std::make_unique<site::SiteHandler>(*s.shared_store, *s.api, info, well_known);

  // Alerts editors confirm are sent by the fan-out engine, on threads of its own.
  auto vapid_tokens =
      webpush::VapidTokenCache::create(state.vapid, config.vapid_subject, system_clock());
  if (!vapid_tokens) throw CommandError("vapid_subject: " + vapid_tokens.error().message);
  s.vapid_tokens = std::move(*vapid_tokens);
  // The engine's own connections: it writes progress from its threads while the server reads.
  s.engine_site = open_site_store(*state.backing);
  auto deliveries = state.backing->open_delivery_store();
  if (!deliveries) {
    throw CommandError("fan-out: open delivery store: " + deliveries.error().message);
  }
  s.engine_deliveries = std::move(*deliveries);
  s.engine_site_view = std::make_unique<fanout::SiteStoreView>(*s.engine_site);
  const fanout::EngineDeps engine_deps{.alerts = *s.engine_site_view,
                                       .subscriptions = *s.engine_site_view,
                                       .deliveries = *s.engine_deliveries,
                                       .vapid = *s.vapid_tokens,
                                       .hosts = *s.hosts,
                                       .clock = system_clock(),
                                       .random = webpush::system_random()};
  fanout::EngineConfig engine_config = engine_config_for(state, s.base_url);
  // Test sends of an alert to an editor's own browser go through the same pipeline options
  // (transports, CA, message size) as the fan-out.
  s.test_sender = std::make_unique<fanout::TestSender>(
      fanout::TestSendConfig{engine_config.icon_url, engine_config.pipeline},
      fanout::PipelineDeps{*s.vapid_tokens, *s.hosts, system_clock(), webpush::system_random()});
  auto engine = fanout::FanoutEngine::create(std::move(engine_config), engine_deps);
  if (!engine) throw CommandError("fan-out: " + engine.error().message);
  s.engine = std::move(*engine);

  newsroom::NewsroomApiOptions newsroom_options;
  newsroom_options.origin = s.base_url;
  // The live desk previews and lists updates as readers' pages render them.
  newsroom_options.render_markdown = [](std::string_view markdown) {
    return site::render_markdown(markdown);
  };
  newsroom_options.push_hosts = &*s.hosts;
  newsroom_options.test_pusher = s.test_sender.get();
  if (config.push_service.enabled)
    newsroom_options.own_push_origin = config.push_service.public_url;
  newsroom_options.hourly_cap = config.newsroom.hourly_cap;
  newsroom_options.category_hourly_cap = {config.newsroom.hourly_cap_breaking,
                                          config.newsroom.hourly_cap_live,
                                          config.newsroom.hourly_cap_exclusive};
  site::SiteHandler& handler = *s.handler;
  // Several nodes on one PostgreSQL store: changes made here reach the other nodes' caches and
  // live streams, and theirs reach ours (app/cluster_sync.h). One node on SQLite: the handler.
  news::ContentEvents* content_events = &handler;
  if (auto pool = state.backing->postgres_pool()) {
    start_listener(state, pool, s);
    content_events = s.cluster.get();
  }
  // The newsroom tells the site about changed content (render cache, live streams) through
  // news::ContentEvents, and hands confirmed alerts to the engine through news::AlertQueue.
  s.newsroom_api = std::make_unique<newsroom::NewsroomApi>(
      *s.shared_store, system_clock(), *s.engine, *content_events, newsroom_options);
  newsroom::NewsroomApi& newsroom = *s.newsroom_api;
  s.scheduler =
      std::make_unique<AlertScheduler>(s.io, [&newsroom] { return newsroom.send_due_alerts(); });
  // Live events: readers' event streams, fed by the updates editors post.
  s.live_stream = std::make_unique<http::LiveStream>();

  if (config.push_service.enabled) {
    if (auto pool = state.backing->postgres_pool()) s.push_lock = lock_push_service(pool->url());
    s.push_server = start_push_server(state, s.io);
  }
}

// Step 3: who answers what — the site and the newsroom API below it; /metrics for operators on
// a listener of its own ([metrics] listen), never on the site's port: behind a proxy on the same
// host every reader would look local.
void wire_routes(const SiteState& state, Services& s) {
  fanout::FanoutEngine& alert_queue = *s.engine;
  ClusterSync* cluster = s.cluster.get();
  s.metrics = std::make_unique<http::MetricsHandler>([&alert_queue, cluster] {
    return alert_queue.metrics_text() +
           "# HELP flashwire_storage_unavailable_answers_total Answers 503 because the store "
           "could not serve.\n# TYPE flashwire_storage_unavailable_answers_total counter\n"
           "flashwire_storage_unavailable_answers_total " +
           std::to_string(http::storage_unavailable_answers()) + "\n" +
           (cluster != nullptr ? cluster->metrics_text() : "");
  });
  s.handler->set_live_stream(s.live_stream.get());
  s.handler->set_clock(system_clock());
  s.router.prefix("/", *s.handler).prefix("/api/newsroom", *s.newsroom_api);
  const std::string& listen = state.config.metrics.listen;
  if (listen.empty()) return;
  s.metrics_server = std::make_unique<http::Server>(s.io, *s.metrics);
  const auto bound = s.metrics_server->listen(*http::parse_listen_address(listen));
  if (!bound) throw CommandError("metrics.listen: " + bound.error().message);
  const auto& address = bound->address();
  s.metrics_url = "http://" +
                  (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" +
                  std::to_string(bound->port()) + "/metrics";
}

// `text` as one shell word (single-quoted unless it is plainly safe), for commands to copy.
std::string shell_word(const std::string& text) {
  const bool plain = !text.empty() && text.find_first_not_of(
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789/._-:+@") == std::string::npos;
  if (plain) return text;
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// The start-up block, in one write: tests and supervisors read it as a whole.
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
  } else if (state.backing->kind() != store::StoreKind::kSqlite) {
    // The store URL may hold a password: named, not printed.
    std::cout << "  new editor token: flashwire token create --store <this site's store URL>"
              << " --name NAME --scope articles:write --scope alerts:send\n";
  } else {
    // The first token is shown once only; a lost one is replaced, not recovered.
    std::error_code ec;
    const auto data = std::filesystem::absolute(state.data, ec).lexically_normal();
    std::cout << "  new editor token: flashwire token create --data "
              << shell_word((ec ? state.data : data).string())
              << " --name NAME --scope articles:write --scope alerts:send\n";
  }
  if (state.alerts_to_resume > 0) {
    std::cout << "  fan-out: resuming " << state.alerts_to_resume << " alert(s) left sending\n";
  }
  std::cout << std::flush;
}

// Step 4: starts the engine and serves until SIGINT or SIGTERM.
void run(const SiteState& state, Services& s) {
  // Caught from here on: a supervisor may send SIGTERM as soon as it reads the start-up block.
  boost::asio::signal_set signals(s.io, SIGINT, SIGTERM);
  signals.async_wait([&s](const boost::system::error_code& error, int) {
    if (!error) s.io.stop();
  });
  if (auto started = s.engine->start(); !started) {
    throw CommandError("fan-out: " + started.error().message);
  }
  s.scheduler->start();  // after the engine: what it claims goes straight to the fan-out
  print_banner(state, s);
  s.io.run();
}

// Step 5: stops accepting, closes idle connections and ends readers' streams; answers in
// progress and WebSocket close handshakes get until kDrainLimit. The fan-out stops at once: an
// unfinished alert keeps its durable progress and resumes on next start.
void shut_down(Services& s) {
  s.scheduler->stop();
  if (s.listener) s.listener->stop();
  s.server->stop();
  if (s.metrics_server) s.metrics_server->stop();
  if (s.push_server) s.push_server->stop();
  s.engine->stop();
  const auto deadline = std::chrono::steady_clock::now() + kDrainLimit;
  s.io.restart();
  s.io.run_until(deadline);  // returns as soon as nothing is left to do
  // The server's other threads drained meanwhile; what they still hold ends here, before the
  // handlers they call go.
  s.server->join(std::chrono::duration_cast<std::chrono::milliseconds>(std::max(
      deadline - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration{})));
}

void run_serve(const ServeFlags& flags) {
  SiteState state = open_state(flags);
  Services services;
  build_services(state, services);
  wire_routes(state, services);
  run(state, services);
  shut_down(services);
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd =
      app.add_subcommand("serve", "Run the news site (and the push service, when configured)");
  add_config_options(*cmd, *flags);
  cmd->footer(
      "Settings: defaults < the --config TOML file < FLASHWIRE_* environment < these flags.\n"
      "The file also holds what has no flag: site_name, vapid_subject, push_hosts (push services\n"
      "allowed besides the browsers' own), [fanout] (threads, concurrency, …), [app] (native app\n"
      "links) and [push_service]: with enabled = true, Flashwire's own push service (RFC 8030 and\n"
      "Firefox's WebSocket protocol) runs inside serve on push_service.listen (default\n"
      "127.0.0.1:8090). Every key: docs/site.md. On first start serve creates the data directory\n"
      "(site.sqlite, the VAPID key) and prints an editor token once; SIGINT or SIGTERM stop it\n"
      "within a second, an alert being sent resumes on next start.");
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
