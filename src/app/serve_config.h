// Configuration of `flashwire serve`, from defaults < TOML file < environment < flags, parsed and
// validated once at start-up. Bad configuration stops the process with one clear message.
//
// clang-format off
// TOML layout (every key optional):
//   listen = "127.0.0.1:8080"      data_dir = "data"      base_url = "https://news.example"
//   site_name = "Flashwire News"   demo = true            vapid_subject = "mailto:desk@news.example"
//   push_hosts = ["http://127.0.0.1:8090"]  # origins allowed besides the vendors' push services
//   [store]  url = "sqlite:"       # or postgresql://… (docs/store.md)
//   [push_service]  enabled = false  listen = "127.0.0.1:8090"  public_url = ""
//   [http]  trusted_proxies = ["127.0.0.1"]  forwarded_header = "x-forwarded-for"  # or "forwarded"
//   [metrics]  listen = ""          # e.g. "127.0.0.1:9100"; empty: no /metrics at all
//   [fanout]  threads = 0  concurrency = 256  per_origin_connections = 64  shard_size = 500
//             per_broadcast_key = false  http1_pipeline = 8  lease_ms = 10000  poll_ms = 1000
//   [node]  id = ""                # default: host:pid (several nodes on one PostgreSQL store)
//   [newsroom]  hourly_cap = 0  hourly_cap_breaking = …  hourly_cap_live = …  hourly_cap_exclusive = …
//   [app]  name = "…"  scheme = "flashwire"  ios_app_id = "…"  ios_store_url = "…"
//          apple_team_id = "…"  bundle_id = "…"  android_package = "…"  android_store_url = "…"
//          android_cert_sha256 = ["AB:CD:…"]
// clang-format on
// Environment: FLASHWIRE_LISTEN, FLASHWIRE_DATA_DIR, FLASHWIRE_BASE_URL, FLASHWIRE_SITE_NAME,
// FLASHWIRE_VAPID_SUBJECT, FLASHWIRE_DEMO (0/1), FLASHWIRE_STORE_URL.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "common/error.h"

namespace flashwire::app {

struct AppLinkConfig {
  std::string name;        // shown as "Open in <name>"
  std::string scheme;      // deep links: <scheme>://article/<slug>
  std::string ios_app_id;  // numeric App Store id, for the Smart App Banner
  std::string ios_store_url;
  std::string apple_team_id;  // with bundle_id: apple-app-site-association
  std::string bundle_id;
  std::string android_package;
  std::string android_store_url;
  std::vector<std::string> android_cert_sha256;  // assetlinks.json fingerprints
};

struct EmbeddedPushServiceConfig {
  bool enabled = false;
  std::string listen = "127.0.0.1:8090";
  std::string public_url;  // default: http://<listen>
};

// [http]: the site's HTTP server behind reverse proxies (http/client_address.h).
struct HttpConfig {
  // Addresses and CIDR blocks of the proxies in front of the site; only their forwarding header
  // is believed. Empty: every request is its TCP peer's.
  std::vector<std::string> trusted_proxies;
  std::string forwarded_header = "x-forwarded-for";  // what they write: or "forwarded" (RFC 7239)
  // Threads serving the site's connections (http/server.h), 1 to 256; 0 (the default when not
  // set): one per core the process may run on (common/cores.h).
  int threads = 0;
};

// [metrics]: Prometheus text at GET /metrics on a listener of its own, never on the site's port.
struct MetricsConfig {
  std::string listen;  // HOST:PORT; empty (the default): not served
};

// [fanout]: how alerts are sent (fanout/pipeline.h, fanout/engine.h).
struct FanoutConfig {
  int threads = 0;                  // sender threads; 0: one per core it may run on
  int concurrency = 256;            // requests in flight, all threads
  int per_origin_connections = 64;  // connections to one push service
  int shard_size = 500;             // subscriptions per durable progress step
  bool per_broadcast_key = false;   // one RFC 8291 sender key per alert (opt-in)
  // Cleartext (http://) push services, such as Flashwire's own: requests at once on one
  // HTTP/1.1 connection (1: no pipelining).
  int http1_pipeline = 8;
  // PEM file of CA certificates trusted for HTTPS push services besides the system's (a
  // private push service); empty: the system store only.
  std::string ca_file;
  // https:// push services: "builtin" (HTTP/2 over TLS, fanout/h2_client.h) or "curl".
  std::string https_client = "builtin";
  // Requests per second to one push service, all threads (its quota, when known); 0: none. The
  // pace drops on 429s either way.
  int origin_rate_limit = 0;
  // The largest encrypted message push services take (bytes); larger alerts fail without a
  // request as "message_too_large".
  int max_message_bytes = 4096;
  // With a shared store (PostgreSQL): how long a node holds a shard it sends (renewed every
  // third of it); a node that dies leaves its shards to the others after this long.
  int lease_ms = 10000;
  // With a shared store: how often a node looks for alerts confirmed on other nodes (and for a
  // cancel while it is idle).
  int poll_ms = 1000;
};

// [newsroom]: the editors' desk guardrails (docs/newsroom.md).
struct NewsroomConfig {
  int hourly_cap = 0;  // alerts of one category going out per hour, at most; 0: no cap
  // Per category; -1 (not set): hourly_cap.
  int hourly_cap_breaking = -1;
  int hourly_cap_live = -1;
  int hourly_cap_exclusive = -1;
};

struct ServeConfig {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "data";
  // [store] url: where the site's state lives ("sqlite:" — files in data_dir — or a libpq URI).
  // May hold a password: never printed.
  std::string store_url = "sqlite:";
  std::string base_url;  // default: http://<listen>
  std::string site_name = "Flashwire News";
  bool demo = true;
  std::string vapid_subject = "mailto:newsroom@flashwire.example";
  std::vector<std::string> push_hosts;
  EmbeddedPushServiceConfig push_service;
  HttpConfig http;
  MetricsConfig metrics;
  FanoutConfig fanout;
  NewsroomConfig newsroom;
  std::optional<AppLinkConfig> app;
  // [node] id: this node's name among the nodes of a shared store (per-node progress of an
  // alert, cluster notices); unique among the running ones (a second node with a taken id is
  // refused at start; docs/deploy.md); empty (the default): host:pid.
  std::string node_id;
};

// Values given on the command line; unset ones leave the lower layers alone.
struct ServeFlags {
  std::optional<std::string> config_file;
  std::optional<std::string> listen;
  std::optional<std::string> data_dir;
  std::optional<std::string> store_url;
  std::optional<std::string> base_url;
  bool no_demo = false;
};

using Getenv = std::function<std::optional<std::string>(const char* name)>;
std::optional<std::string> process_getenv(const char* name);

// Errors: kInvalid, the message naming the setting and what is wrong with it, e.g. "listen:
// port must be …".
tl::expected<ServeConfig, Error> load_serve_config(const ServeFlags& flags,
                                                   const Getenv& getenv = process_getenv);

}  // namespace flashwire::app
