#include "app/serve_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include "http/server.h"
#include "webpush/push_hosts.h"
#include "webpush/vapid.h"

namespace flashwire::app {
namespace {

// A refused configuration: always the caller's input.
tl::unexpected<Error> invalid(std::string message) {
  return tl::unexpected(Error{ErrorCode::kInvalid, std::move(message)});
}

// Reads a string key if present; a value of another type is an error.
bool read_string(const toml::table& table, std::string_view key, std::string& out,
                 std::string& error, std::string_view prefix = "") {
  const toml::node* node = table.get(key);
  if (node == nullptr) return true;
  if (const auto* value = node->as_string()) {
    out = value->get();
    return true;
  }
  error = std::string(prefix) + std::string(key) + ": must be a string";
  return false;
}

bool read_string_list(const toml::table& table, std::string_view key, std::vector<std::string>& out,
                      std::string& error, std::string_view prefix = "") {
  const toml::node* node = table.get(key);
  if (node == nullptr) return true;
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    error = std::string(prefix) + std::string(key) + ": must be a list of strings";
    return false;
  }
  out.clear();
  for (const auto& item : *array) {
    const auto* value = item.as_string();
    if (value == nullptr) {
      error = std::string(prefix) + std::string(key) + ": must be a list of strings";
      return false;
    }
    out.push_back(value->get());
  }
  return true;
}

bool read_int(const toml::table& table, std::string_view key, int& out, int min, int max,
              std::string& error, std::string_view prefix) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return true;
  const auto* value = node->as_integer();
  if (value == nullptr || value->get() < min || value->get() > max) {
    error = std::string(prefix) + std::string(key) + ": must be a whole number from " +
            std::to_string(min) + " to " + std::to_string(max);
    return false;
  }
  out = static_cast<int>(value->get());
  return true;
}

bool check_keys(const toml::table& table, const std::set<std::string_view>& known,
                std::string_view prefix, std::string& error) {
  for (const auto& [key, value] : table) {
    if (!known.contains(key.str())) {
      error = "unknown setting '" + std::string(prefix) + std::string(key.str()) + "'";
      return false;
    }
  }
  return true;
}

std::string url_for(const std::string& listen) { return "http://" + listen; }

bool is_scheme_name(std::string_view s) {
  return !s.empty() && std::isalpha(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return std::islower(c) || std::isdigit(c) || c == '+' || c == '-' || c == '.';
         });
}

std::optional<std::string> apply_file(const std::string& path, ServeConfig& config) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description());
  } catch (const std::exception& e) {
    return path + ": " + e.what();
  }
  std::string error;
  if (!check_keys(
          root,
          {"listen", "data_dir", "base_url", "site_name", "demo", "vapid_subject", "push_hosts",
           "store", "push_service", "http", "metrics", "fanout", "app", "newsroom", "node"},
          "", error)) {
    return path + ": " + error;
  }
  if (!read_string(root, "listen", config.listen, error) ||
      !read_string(root, "data_dir", config.data_dir, error) ||
      !read_string(root, "base_url", config.base_url, error) ||
      !read_string(root, "site_name", config.site_name, error) ||
      !read_string(root, "vapid_subject", config.vapid_subject, error) ||
      !read_string_list(root, "push_hosts", config.push_hosts, error)) {
    return path + ": " + error;
  }
  if (const toml::node* demo = root.get("demo")) {
    if (!demo->is_boolean()) return path + ": demo: must be true or false";
    config.demo = demo->as_boolean()->get();
  }
  if (const toml::node* node = root.get("store")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) return path + ": store: must be a table";
    if (!check_keys(*table, {"url"}, "store.", error) ||
        !read_string(*table, "url", config.store_url, error, "store.")) {
      return path + ": " + error;
    }
  }
  if (const toml::node* node = root.get("push_service")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) return path + ": push_service: must be a table";
    if (!check_keys(*table, {"enabled", "listen", "public_url"}, "push_service.", error))
      return path + ": " + error;
    if (const toml::node* enabled = table->get("enabled")) {
      if (!enabled->is_boolean()) return path + ": push_service.enabled: must be true or false";
      config.push_service.enabled = enabled->as_boolean()->get();
    }
    if (!read_string(*table, "listen", config.push_service.listen, error, "push_service.") ||
        !read_string(*table, "public_url", config.push_service.public_url, error,
                     "push_service.")) {
      return path + ": " + error;
    }
  }
  if (const toml::node* node = root.get("http")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) return path + ": http: must be a table";
    if (!check_keys(*table, {"trusted_proxies", "forwarded_header", "threads"}, "http.", error) ||
        !read_int(*table, "threads", config.http.threads, 1,
                  static_cast<int>(http::ServerOptions::kMaxThreads), error, "http.") ||
        !read_string_list(*table, "trusted_proxies", config.http.trusted_proxies, error, "http.") ||
        !read_string(*table, "forwarded_header", config.http.forwarded_header, error, "http.")) {
      return path + ": " + error;
    }
  }
  if (const toml::node* node = root.get("metrics")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) return path + ": metrics: must be a table";
    if (!check_keys(*table, {"listen"}, "metrics.", error) ||
        !read_string(*table, "listen", config.metrics.listen, error, "metrics.")) {
      return path + ": " + error;
    }
  }
  if (const toml::node* node = root.get("fanout")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) return path + ": fanout: must be a table";
    if (!check_keys(*table,
                    {"threads", "concurrency", "per_origin_connections", "shard_size",
                     "per_broadcast_key", "http1_pipeline", "ca_file", "https_client",
                     "origin_rate_limit", "max_message_bytes", "lease_ms", "poll_ms"},
                    "fanout.", error)) {
      return path + ": " + error;
    }
    FanoutConfig& f = config.fanout;
    if (!read_int(*table, "threads", f.threads, 0, 64, error, "fanout.") ||
        !read_int(*table, "concurrency", f.concurrency, 1, 10000, error, "fanout.") ||
        !read_int(*table, "per_origin_connections", f.per_origin_connections, 1, 1000, error,
                  "fanout.") ||
        !read_int(*table, "shard_size", f.shard_size, 1, 100000, error, "fanout.") ||
        !read_int(*table, "http1_pipeline", f.http1_pipeline, 1, 64, error, "fanout.") ||
        !read_int(*table, "origin_rate_limit", f.origin_rate_limit, 0, 10000000, error,
                  "fanout.") ||
        !read_int(*table, "max_message_bytes", f.max_message_bytes, 256, 65536, error, "fanout.") ||
        !read_int(*table, "lease_ms", f.lease_ms, 100, 600000, error, "fanout.") ||
        !read_int(*table, "poll_ms", f.poll_ms, 1, 1000, error, "fanout.") ||
        !read_string(*table, "ca_file", f.ca_file, error, "fanout.") ||
        !read_string(*table, "https_client", f.https_client, error, "fanout.")) {
      return path + ": " + error;
    }
    if (f.https_client != "builtin" && f.https_client != "curl") {
      return path + ": fanout.https_client: must be \"builtin\" or \"curl\"";
    }
    if (const toml::node* key = table->get("per_broadcast_key")) {
      if (!key->is_boolean()) return path + ": fanout.per_broadcast_key: must be true or false";
      f.per_broadcast_key = key->as_boolean()->get();
    }
  }
  if (const toml::node* node = root.get("newsroom")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) return path + ": newsroom: must be a table";
    NewsroomConfig& n = config.newsroom;
    // At most 1000 an hour: the guardrail counts among the last 1000 alerts.
    if (!check_keys(
            *table,
            {"hourly_cap", "hourly_cap_breaking", "hourly_cap_live", "hourly_cap_exclusive"},
            "newsroom.", error) ||
        !read_int(*table, "hourly_cap", n.hourly_cap, 0, 1000, error, "newsroom.") ||
        !read_int(*table, "hourly_cap_breaking", n.hourly_cap_breaking, 0, 1000, error,
                  "newsroom.") ||
        !read_int(*table, "hourly_cap_live", n.hourly_cap_live, 0, 1000, error, "newsroom.") ||
        !read_int(*table, "hourly_cap_exclusive", n.hourly_cap_exclusive, 0, 1000, error,
                  "newsroom.")) {
      return path + ": " + error;
    }
  }
  if (const toml::node* node = root.get("node")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) return path + ": node: must be a table";
    if (!check_keys(*table, {"id"}, "node.", error) ||
        !read_string(*table, "id", config.node_id, error, "node.")) {
      return path + ": " + error;
    }
    // The id is shown to editors and kept in the store: printable ASCII, no spaces.
    const bool printable = std::all_of(config.node_id.begin(), config.node_id.end(),
                                       [](char c) { return c > ' ' && c < 0x7f; });
    if (config.node_id.empty() || config.node_id.size() > 64 || !printable) {
      return path + ": node.id: 1 to 64 printable characters without spaces";
    }
  }
  if (const toml::node* node = root.get("app")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) return path + ": app: must be a table";
    if (!check_keys(*table,
                    {"name", "scheme", "ios_app_id", "ios_store_url", "apple_team_id", "bundle_id",
                     "android_package", "android_store_url", "android_cert_sha256"},
                    "app.", error)) {
      return path + ": " + error;
    }
    AppLinkConfig app;
    if (!read_string(*table, "name", app.name, error, "app.") ||
        !read_string(*table, "scheme", app.scheme, error, "app.") ||
        !read_string(*table, "ios_app_id", app.ios_app_id, error, "app.") ||
        !read_string(*table, "ios_store_url", app.ios_store_url, error, "app.") ||
        !read_string(*table, "apple_team_id", app.apple_team_id, error, "app.") ||
        !read_string(*table, "bundle_id", app.bundle_id, error, "app.") ||
        !read_string(*table, "android_package", app.android_package, error, "app.") ||
        !read_string(*table, "android_store_url", app.android_store_url, error, "app.") ||
        !read_string_list(*table, "android_cert_sha256", app.android_cert_sha256, error, "app.")) {
      return path + ": " + error;
    }
    config.app = std::move(app);
  }
  return std::nullopt;
}

std::optional<std::string> validate(ServeConfig& config) {
  if (auto listen = http::parse_listen_address(config.listen); !listen)
    return "listen: " + listen.error().message;
  if (config.data_dir.empty()) return "data_dir: must not be empty";
  if (config.base_url.empty()) config.base_url = url_for(config.listen);
  while (config.base_url.size() > 1 && config.base_url.back() == '/') config.base_url.pop_back();
  if (auto origin = webpush::validate_vapid_audience(config.base_url); !origin) {
    return "base_url: must be an origin like https://news.example (no path), got '" +
           config.base_url + "'";
  }
  if (config.site_name.empty() || config.site_name.size() > 80)
    return "site_name: must be 1 to 80 characters";
  if (auto ok = webpush::validate_vapid_subject(config.vapid_subject); !ok) {
    return "vapid_subject: " + ok.error().message;
  }
  if (config.push_service.enabled) {
    if (auto listen = http::parse_listen_address(config.push_service.listen); !listen) {
      return "push_service.listen: " + listen.error().message;
    }
    if (config.push_service.listen == config.listen)
      return "push_service.listen: must differ from listen";
    if (config.push_service.public_url.empty())
      config.push_service.public_url = url_for(config.push_service.listen);
    if (auto ok = webpush::validate_vapid_audience(config.push_service.public_url); !ok) {
      return "push_service.public_url: must be an origin, got '" + config.push_service.public_url +
             "'";
    }
    // Subscriptions to our own push service must be accepted by the site.
    if (std::find(config.push_hosts.begin(), config.push_hosts.end(),
                  config.push_service.public_url) == config.push_hosts.end()) {
      config.push_hosts.push_back(config.push_service.public_url);
    }
  }
  if (config.http.forwarded_header != "x-forwarded-for" &&
      config.http.forwarded_header != "forwarded") {
    return "http.forwarded_header: one of x-forwarded-for, forwarded";
  }
  if (auto proxies = http::TrustedProxies::parse(config.http.trusted_proxies,
                                                 http::ForwardedHeader::kXForwardedFor);
      !proxies) {
    return "http.trusted_proxies: " + proxies.error().message;
  }
  if (!config.metrics.listen.empty()) {
    const auto metrics = http::parse_listen_address(config.metrics.listen);
    if (!metrics) return "metrics.listen: " + metrics.error().message;
    if (metrics->port() != 0 &&
        (config.metrics.listen == config.listen ||
         (config.push_service.enabled && config.metrics.listen == config.push_service.listen)))
      return "metrics.listen: must differ from the site's and the push service's";
  }
  if (auto policy = webpush::PushHostPolicy::create(config.push_hosts); !policy) {
    return "push_hosts: " + policy.error().message;
  }
  if (config.app) {
    const AppLinkConfig& app = *config.app;
    if (app.name.empty()) return "app.name: required when [app] is present";
    if (!is_scheme_name(app.scheme))
      return "app.scheme: must be a URL scheme name like 'flashwire'";
    if (app.scheme == "http" || app.scheme == "https" || app.scheme == "javascript" ||
        app.scheme == "data") {
      return "app.scheme: must be the app's own scheme, not " + app.scheme;
    }
    if (!app.ios_app_id.empty() &&
        !std::all_of(app.ios_app_id.begin(), app.ios_app_id.end(), ::isdigit)) {
      return "app.ios_app_id: must be the numeric App Store id";
    }
    for (const std::string* url : {&app.ios_store_url, &app.android_store_url}) {
      if (!url->empty() && !url->starts_with("https://"))
        return "app store URLs must start with https://";
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> process_getenv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

tl::expected<ServeConfig, Error> load_serve_config(const ServeFlags& flags, const Getenv& getenv) {
  ServeConfig config;
  if (flags.config_file) {
    if (auto error = apply_file(*flags.config_file, config)) return invalid(*error);
  }
  if (auto v = getenv("FLASHWIRE_LISTEN")) config.listen = *v;
  if (auto v = getenv("FLASHWIRE_DATA_DIR")) config.data_dir = *v;
  if (auto v = getenv("FLASHWIRE_BASE_URL")) config.base_url = *v;
  if (auto v = getenv("FLASHWIRE_SITE_NAME")) config.site_name = *v;
  if (auto v = getenv("FLASHWIRE_VAPID_SUBJECT")) config.vapid_subject = *v;
  if (auto v = getenv("FLASHWIRE_STORE_URL")) config.store_url = *v;
  if (auto v = getenv("FLASHWIRE_DEMO")) {
    if (*v != "0" && *v != "1") return invalid("FLASHWIRE_DEMO: must be 0 or 1");
    config.demo = *v == "1";
  }
  if (flags.listen) config.listen = *flags.listen;
  if (flags.data_dir) config.data_dir = *flags.data_dir;
  if (flags.store_url) config.store_url = *flags.store_url;
  if (flags.base_url) config.base_url = *flags.base_url;
  if (flags.no_demo) config.demo = false;
  if (auto error = validate(config)) return invalid(*error);
  return config;
}

}  // namespace flashwire::app
