#include "app/fanout_command.h"

#include <sys/resource.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "app/cli_error.h"
#include "common/clock.h"
#include "common/cores.h"
#include "fanout/pipeline.h"
#include "webpush/message.h"
#include "webpush/p256.h"
#include "webpush/push_hosts.h"
#include "webpush/vapid.h"

namespace flashwire::app {
namespace {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

std::string read_text_file(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CommandError("cannot open " + path + " for reading");
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() > max_bytes) throw CommandError(path + ": larger than expected");
  return data;
}

json::object parse_object(const std::string& text, const std::string& what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) throw CommandError(what + ": not a JSON object");
  return std::move(v.as_object());
}

std::string string_member(const json::object& o, std::string_view key, const std::string& what) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    throw CommandError(what + ": \"" + std::string(key) + "\" must be a string");
  }
  return std::string(v->as_string());
}

// One line of a subscriptions file: a PushSubscription JSON ({"endpoint", "keys": {"p256dh",
// "auth"}}). A blank line yields nullopt; anything else that is not such an object is an error
// naming the file and line.
tl::expected<std::optional<fanout::Target>, std::string> parse_subscription_line(
    const std::string& line, const std::string& path, std::int64_t line_no) {
  if (line.find_first_not_of(" \t\r") == std::string::npos) {
    return std::optional<fanout::Target>();
  }
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::value* keys = o != nullptr ? o->if_contains("keys") : nullptr;
  const json::value* endpoint = o != nullptr ? o->if_contains("endpoint") : nullptr;
  const json::value* p256dh =
      keys != nullptr && keys->is_object() ? keys->as_object().if_contains("p256dh") : nullptr;
  const json::value* auth =
      keys != nullptr && keys->is_object() ? keys->as_object().if_contains("auth") : nullptr;
  if (endpoint == nullptr || !endpoint->is_string() || p256dh == nullptr || !p256dh->is_string() ||
      auth == nullptr || !auth->is_string()) {
    return tl::unexpected(path + ":" + std::to_string(line_no) +
                          ": not a PushSubscription {endpoint, keys: {p256dh, auth}}");
  }
  return std::optional<fanout::Target>(fanout::Target{line_no, std::string(endpoint->as_string()),
                                                      std::string(p256dh->as_string()),
                                                      std::string(auth->as_string())});
}

// Reads the whole file once before anything is sent, so that a file that will be refused sends
// nothing: the first malformed line among the first `limit` subscriptions is a CommandError.
void check_subscription_file(const std::string& path, std::uint64_t limit) {
  std::ifstream in(path);
  if (!in) throw CommandError("cannot open " + path + " for reading");
  std::string line;
  std::int64_t line_no = 0;
  std::uint64_t taken = 0;
  while (taken < limit && std::getline(in, line)) {
    auto target = parse_subscription_line(line, path, ++line_no);
    if (!target) throw CommandError(target.error());
    if (target->has_value()) ++taken;
  }
  if (in.bad()) throw CommandError("cannot read " + path);
}

// Subscriptions from a file with one PushSubscription JSON per line, read a shard at a time;
// the line number is the target id. check_subscription_file has vetted the file first; a line
// that is malformed all the same (the file changed meanwhile) ends the run.
class JsonLinesSource final : public fanout::TargetSource {
 public:
  JsonLinesSource(const std::string& path, std::size_t shard_size, std::uint64_t limit)
      : in_(path), path_(path), shard_size_(shard_size), limit_(limit) {
    if (!in_) throw CommandError("cannot open " + path + " for reading");
  }

  tl::expected<std::optional<fanout::Shard>, Error> next_shard() override {
    fanout::Shard shard;
    shard.range.after_id = line_;
    std::string line;
    while (shard.targets.size() < shard_size_ && taken_ < limit_ && std::getline(in_, line)) {
      auto target = parse_subscription_line(line, path_, ++line_);
      if (!target) return tl::unexpected(Error{ErrorCode::kInvalid, std::move(target.error())});
      if (!target->has_value()) continue;
      shard.targets.push_back(std::move(**target));
      ++taken_;
    }
    if (shard.targets.empty()) return std::optional<fanout::Shard>();
    shard.range.last_id = line_;
    return std::optional<fanout::Shard>(std::move(shard));
  }

 private:
  std::ifstream in_;
  std::string path_;
  const std::size_t shard_size_;
  const std::uint64_t limit_;
  std::uint64_t taken_ = 0;
  std::int64_t line_ = 0;
};

// Sums the shards; nothing is stored.
class CountingSink final : public fanout::ProgressSink {
 public:
  tl::expected<void, Error> shard_done(const fanout::Shard&, const store::DeliveryCounts&,
                                       const std::vector<store::GoneSubscription>&) override {
    return {};  // run_pipeline sums the counts itself
  }
  void problem(const std::string& message) override {
    std::cerr << "flashwire fanout: " << message << '\n';
  }
};

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

long peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return (usage.ru_maxrss + 512) / 1024;
}

}  // namespace

void add_fanout_command(CLI::App& app) {
  struct Args {
    std::string subs, vapid, payload;
    std::vector<std::string> push_hosts;
    std::size_t concurrency = 256;
    unsigned threads = 0;
    std::uint64_t limit = UINT64_MAX;
    std::int64_t ttl = 3600;
    std::string urgency = "high";
    std::size_t shard_size = 500;
    long connections = 0;
    bool broadcast_key = false;
    std::string http_client = "builtin";
    std::size_t pipeline = 8;
    std::string ca_file;
    std::string https_client = "builtin";
    double origin_rate_limit = 0;
    std::size_t max_message_bytes = 4096;
    std::string topic;
    std::int64_t ping_after_ms = 15000;
    std::int64_t ping_timeout_ms = 5000;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "fanout",
      "Send one payload to every subscription in a JSON-lines file (the benchmark's contract); "
      "prints one JSON line of results");
  cmd->add_option("--subs", args->subs, "subscriptions, one PushSubscription JSON per line")
      ->required();
  cmd->add_option("--vapid", args->vapid, "VAPID key file {subject, publicKey, privateKey}")
      ->required();
  cmd->add_option("--payload", args->payload, "the message plaintext (its exact bytes)")
      ->required();
  cmd->add_option("--push-host", args->push_hosts,
                  "origin allowed besides the vendors' push services, e.g. "
                  "http://127.0.0.1:8090 (repeatable)");
  cmd->add_option("--concurrency", args->concurrency, "requests in flight")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--threads", args->threads, "sender threads (default: one per core)")
      ->check(CLI::Range(0, 256));
  cmd->add_option("--connections", args->connections,
                  "connections per push service (default: concurrency ÷ pipeline, at least 1)")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--limit", args->limit, "send to the first N subscriptions only");
  cmd->add_option("--ttl", args->ttl, "TTL in seconds")->check(CLI::Range(0, 2419200));
  cmd->add_option("--urgency", args->urgency, "very-low | low | normal | high")
      ->check(CLI::IsMember({"very-low", "low", "normal", "high"}));
  cmd->add_option("--shard-size", args->shard_size, "subscriptions read at a time")
      ->check(CLI::Range(1, 1000000));
  cmd->add_flag("--per-broadcast-key", args->broadcast_key,
                "one sender key for all messages (RFC 8291 allows it; fresh keys are the default)");
  cmd->add_option("--http-client", args->http_client,
                  "client for cleartext http:// push services: builtin (default) or curl")
      ->check(CLI::IsMember({"builtin", "curl"}));
  cmd->add_option("--pipeline", args->pipeline,
                  "HTTP/1.1 requests at once on one connection to a cleartext push service "
                  "(built-in client; 1: no pipelining)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--https-client", args->https_client,
                  "client for https:// push services: builtin (HTTP/2, default) or curl")
      ->check(CLI::IsMember({"builtin", "curl"}));
  cmd->add_option("--ca-file", args->ca_file,
                  "PEM file of CA certificates to trust for https:// push services, besides the "
                  "system's (a private push service, a test server)");
  cmd->add_option("--origin-rate-limit", args->origin_rate_limit,
                  "requests per second to one push service, all threads (0: no static cap; "
                  "the pace drops on 429s either way)")
      ->check(CLI::Range(0.0, 1e7));
  cmd->add_option("--max-message-bytes", args->max_message_bytes,
                  "largest encrypted message the push services take (default 4096)")
      ->check(CLI::Range(256, 65536));
  cmd->add_option("--ping-after", args->ping_after_ms,
                  "HTTP/2: PING a connection that has received nothing for this many ms "
                  "(0: never; default 15000)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{3600000}));
  cmd->add_option("--ping-timeout", args->ping_timeout_ms,
                  "HTTP/2: close a connection whose PING is not acknowledged within this many ms "
                  "(default 5000)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{600000}));
  cmd->add_option("--topic", args->topic,
                  "RFC 8030 Topic: at most 32 characters of A-Z, a-z, 0-9, - and _")
      ->check([](const std::string& topic) {
        auto ok = fanout::check_topic(topic);
        return ok ? std::string() : ok.error().message;
      });
  cmd->callback([args] {
    const json::object vapid = parse_object(read_text_file(args->vapid, 1 << 16), args->vapid);
    auto key = webpush::P256KeyPair::from_private_base64url(
        string_member(vapid, "privateKey", args->vapid));
    if (!key) throw CommandError(args->vapid + ": privateKey: " + key.error().message);
    if (const json::value* pub = vapid.if_contains("publicKey"); pub != nullptr) {
      if (!pub->is_string() || pub->as_string() != key->public_key().to_base64url()) {
        throw CommandError(args->vapid + ": publicKey does not match privateKey");
      }
    }
    auto tokens = webpush::VapidTokenCache::create(
        *key, string_member(vapid, "subject", args->vapid), system_clock());
    if (!tokens) throw CommandError(args->vapid + ": subject: " + tokens.error().message);
    auto hosts = webpush::PushHostPolicy::create(args->push_hosts);
    if (!hosts) throw CommandError("--push-host: " + hosts.error().message);
    const std::string payload_text = read_text_file(args->payload, webpush::kMaxPlaintextSize);
    std::shared_ptr<const fanout::CaCertificates> extra_ca;
    if (!args->ca_file.empty()) {
      auto ca = fanout::load_ca_file(args->ca_file);
      if (!ca) throw CommandError("--ca-file: " + ca.error().message);
      extra_ca = std::move(*ca);
    }

    fanout::Message message;
    message.payload.assign(payload_text.begin(), payload_text.end());
    message.deadline_unix = system_clock().now_seconds() +
                            (args->ttl > 0 ? args->ttl : fanout::kZeroTtlSendWindowSeconds);
    message.zero_ttl = args->ttl == 0;
    message.urgency = args->urgency;
    message.topic = args->topic;
    fanout::PipelineOptions options;
    options.threads = args->threads;
    options.concurrency = args->concurrency;
    options.per_origin_in_flight = args->concurrency;
    options.per_origin_connections =
        args->connections != 0
            ? args->connections
            : std::max(1L, static_cast<long>(args->concurrency / args->pipeline));
    options.per_broadcast_key = args->broadcast_key;
    options.builtin_http1 = args->http_client == "builtin";
    options.http1_pipeline_depth = args->pipeline;
    options.extra_ca = std::move(extra_ca);
    options.builtin_https = args->https_client == "builtin";
    options.origin_rate_limit = args->origin_rate_limit;
    options.max_message_bytes = args->max_message_bytes;
    options.ping_after = fanout::Millis(args->ping_after_ms);
    options.ping_timeout = fanout::Millis(args->ping_timeout_ms);

    // Every line is checked before the first request: a refused file sends nothing.
    check_subscription_file(args->subs, args->limit);
    const auto wall0 = SteadyClock::now();
    const double cpu0 = cpu_seconds();
    JsonLinesSource source(args->subs, args->shard_size, args->limit);
    CountingSink sink;
    std::atomic<bool> cancel{false};
    fanout::LiveCounters live;
    const fanout::PipelineDeps deps{**tokens, *hosts, system_clock(), webpush::system_random()};
    const fanout::RunResult result =
        fanout::run_pipeline(message, source, sink, deps, options, cancel, &live);
    const double wall = std::chrono::duration<double>(SteadyClock::now() - wall0).count();
    const double cpu = cpu_seconds() - cpu0;
    if (!result.error.empty()) throw CommandError(result.error);

    const auto& c = result.counts;
    json::object reasons;
    for (const auto& [reason, count] : c.failed_by_reason) reasons[reason] = count;
    // One line in the shape of the peer's (fanout.js); seconds with three decimals.
    const unsigned threads = options.threads != 0 ? options.threads : usable_cores();
    std::ostringstream line;
    line << std::fixed << std::setprecision(3) << R"({"engine":"flashwire","n":)" << result.messages
         << R"(,"ok":)" << c.sent << R"(,"failed":)" << c.failed + c.gone << R"(,"gone":)" << c.gone
         << R"(,"failed_by_reason":)" << json::serialize(reasons) << R"(,"retried":)" << c.retried
         << R"(,"threads":)" << threads << R"(,"wall_s":)" << wall << R"(,"msgs_per_s":)"
         << (wall > 0 ? std::llround(static_cast<double>(c.sent) / wall) : 0) << R"(,"cpu_s":)"
         << cpu << R"(,"msgs_per_cpu_s":)"
         << (cpu > 0 ? std::llround(static_cast<double>(c.sent) / cpu) : 0) << R"(,"peak_rss_mb":)"
         << peak_rss_mb() << '}';
    std::cout << line.str() << std::endl;
    if (c.sent != result.messages) throw CommandError("not every message was accepted", 2);
  });
}

}  // namespace flashwire::app
