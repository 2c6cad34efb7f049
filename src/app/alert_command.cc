#include "app/alert_command.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "app/cli_error.h"
#include "app/http_call.h"
#include "app/serve_config.h"
#include "fanout/pipeline.h"
#include "http/server.h"

namespace flashwire::app {
namespace {

namespace json = boost::json;

HttpAnswer call_api(const std::string& server, const std::string& token, const char* method,
                    const std::string& path, const std::string& body) {
  HttpCall call;
  call.method = method;
  call.url = server + path;
  call.headers = {"Authorization: Bearer " + token, "Content-Type: application/json",
                  "Accept: application/json"};
  call.body = body;
  auto answer = http_call(call);
  if (!answer) throw CommandError("cannot reach " + server + ": " + answer.error().message);
  return std::move(*answer);
}

json::object answer_object(const HttpAnswer& a, long expected, const std::string& what) {
  boost::system::error_code ec;
  json::value v = json::parse(a.body, ec);
  if (a.status != expected) {
    std::string message = "HTTP " + std::to_string(a.status);
    if (!ec && v.is_object()) {
      if (const auto* m = v.as_object().if_contains("message"); m != nullptr && m->is_string()) {
        message += ": " + std::string(m->as_string());
      }
    }
    throw CommandError(what + ": " + message);
  }
  if (ec || !v.is_object()) throw CommandError(what + ": the server's answer is not JSON");
  return std::move(v.as_object());
}

std::uint64_t count_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_number() ? v->to_number<std::uint64_t>() : 0;
}

// The site a running `serve` answers on, from its configuration (defaults < --config file <
// environment, as serve reads them): http://<listen>, with a wildcard address replaced by
// loopback (serve listening on every interface is reached on this host through loopback).
std::string server_from_config(const std::optional<std::string>& config_file) {
  ServeFlags flags;
  flags.config_file = config_file;
  auto config = load_serve_config(flags);
  if (!config) throw CommandError("config: " + config.error().message);
  const auto listen = http::parse_listen_address(config->listen);
  if (!listen) throw CommandError("config: listen: " + listen.error().message);
  auto address = listen->address();
  if (address.is_unspecified()) {
    address = address.is_v6() ? boost::asio::ip::address(boost::asio::ip::address_v6::loopback())
                              : boost::asio::ip::address(boost::asio::ip::address_v4::loopback());
  }
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return "http://" + host + ":" + std::to_string(listen->port());
}

}  // namespace

void add_alert_command(CLI::App& app) {
  struct Args {
    std::string server;  // default: from the serve configuration
    std::optional<std::string> config_file;
    std::string token;
    std::string category = "breaking";
    std::string title, body, url, urgency, topic;
    std::optional<std::int64_t> ttl;
    bool wait = false;
  };
  auto args = std::make_shared<Args>();
  auto* alert = app.add_subcommand("alert", "Send alerts through a running flashwire serve");
  alert->require_subcommand(1);
  auto* cmd = alert->add_subcommand(
      "send", "Compose and confirm an alert; it is stored first (202), then fanned out");
  auto* server = cmd->add_option(
      "--server", args->server,
      "the site's URL (default: http://<listen> of the serve configuration, 127.0.0.1:8080)");
  cmd->add_option("--config", args->config_file,
                  "the serve configuration (TOML) to take the site's listen address from")
      ->excludes(server);
  cmd->add_option("--token", args->token,
                  "editor token with alerts:send (default: $FLASHWIRE_TOKEN)");
  cmd->add_option("--category", args->category, "breaking | live | exclusive")
      ->check(CLI::IsMember({"breaking", "live", "exclusive"}))
      ->capture_default_str();
  cmd->add_option("--title", args->title, "notification title")->required();
  cmd->add_option("--body", args->body, "notification text");
  cmd->add_option("--url", args->url, "page the notification opens (on the site)")->required();
  cmd->add_option("--ttl", args->ttl, "seconds a push service keeps it for an offline browser");
  cmd->add_option("--urgency", args->urgency, "very-low | low | normal | high")
      ->check(CLI::IsMember({"very-low", "low", "normal", "high"}));
  cmd->add_option("--topic", args->topic,
                  "replaces an undelivered alert with the same topic (live events); at most 32 "
                  "characters of A-Z, a-z, 0-9, - and _")
      ->check([](const std::string& topic) {
        auto ok = fanout::check_topic(topic);
        return ok ? std::string() : ok.error().message;
      });
  cmd->add_flag("--wait", args->wait, "show progress until the fan-out is done");
  cmd->callback([args] {
    if (args->token.empty()) {
      if (const char* env = std::getenv("FLASHWIRE_TOKEN")) args->token = env;
    }
    if (args->token.empty())
      throw CommandError("an editor token is needed: --token or $FLASHWIRE_TOKEN");
    if (args->server.empty()) args->server = server_from_config(args->config_file);
    while (!args->server.empty() && args->server.back() == '/') args->server.pop_back();
    fanout::init_http_client();

    json::object compose{{"category", args->category}, {"title", args->title}, {"url", args->url}};
    if (!args->body.empty()) compose["body"] = args->body;
    if (!args->urgency.empty()) compose["urgency"] = args->urgency;
    if (!args->topic.empty()) compose["topic"] = args->topic;
    if (args->ttl) compose["ttl_seconds"] = *args->ttl;
    const json::object draft =
        answer_object(call_api(args->server, args->token, "POST", "/api/newsroom/alerts",
                               json::serialize(compose)),
                      201, "compose");
    const std::int64_t id = draft.at("id").to_number<std::int64_t>();
    const std::string path = "/api/newsroom/alerts/" + std::to_string(id);
    const json::object sent = answer_object(
        call_api(args->server, args->token, "POST", path + "/send", R"({"confirm":true})"), 202,
        "send");
    std::cout << "alert " << id << " accepted: sending to " << count_of(sent, "audience")
              << " subscriber(s)" << std::endl;
    if (!args->wait) return;

    const bool tty = isatty(STDERR_FILENO) != 0;
    std::string status = "sending";
    json::object delivery;
    for (int last_line = -1;; std::this_thread::sleep_for(std::chrono::milliseconds(500))) {
      const json::object now =
          answer_object(call_api(args->server, args->token, "GET", path, ""), 200, "progress");
      status = std::string(now.at("status").as_string());
      if (const auto* d = now.if_contains("delivery"); d != nullptr && d->is_object()) {
        delivery = d->as_object();
      }
      const std::uint64_t targeted =
          std::max(count_of(delivery, "targeted"), count_of(delivery, "audience"));
      const std::uint64_t done =
          count_of(delivery, "sent") + count_of(delivery, "gone") + count_of(delivery, "failed");
      const int percent =
          targeted == 0 ? (status == "sending" ? 0 : 100)
                        : static_cast<int>(std::min<std::uint64_t>(100, done * 100 / targeted));
      const int width = 30;
      const std::string bar =
          std::string(static_cast<std::size_t>(percent * width / 100), '#') +
          std::string(static_cast<std::size_t>(width - percent * width / 100), '.');
      std::ostringstream line;
      line << '[' << bar << "] " << percent << "%  sent " << count_of(delivery, "sent") << "  gone "
           << count_of(delivery, "gone") << "  failed " << count_of(delivery, "failed") << "  of "
           << targeted;
      if (tty) {
        std::cerr << '\r' << line.str() << std::flush;
      } else if (percent / 10 != last_line || status != "sending") {
        std::cerr << line.str() << '\n';
      }
      last_line = percent / 10;
      if (status != "sending") break;
    }
    if (tty) std::cerr << '\n';
    if (const auto* e = delivery.if_contains("error"); e != nullptr && e->is_string()) {
      // As text: streaming the json::string itself would print it JSON-quoted and escaped.
      std::cerr << "problem: " << std::string_view(e->as_string()) << '\n';
    }
    std::cout << "alert " << id << ' ' << status << std::endl;
    if (status != "sent") throw CommandError("alert " + std::to_string(id) + " is " + status, 3);
  });
}

}  // namespace flashwire::app
