// push_load: load generator for Flashwire's own push service (`flashwire push-service`).
//
//   push_load idle --server 127.0.0.1:PORT [--server-pid PID] [--connections N] [--sources K]
//                  [--duration S] [--concurrency C] [--connect-timeout S] [--settle S] [--register]
//     Opens N WebSocket user agents (subprotocol push-notification), each bound to one of the
//     source addresses 127.0.0.2 … 127.0.0.(K+1) so that N is not capped by one address's
//     ephemeral ports; each says hello (and registers one channel with --register). Holds them
//     idle for S seconds and reports how many stayed open and the service's RSS per connection.
//
//   push_load throughput --server 127.0.0.1:PORT [--server-pid PID] [--subscribers N]
//                  [--http-connections C] [--messages M] [--duration S] [--ttl T] [--payload B]
//     N user agents say hello and register one VAPID-restricted channel each; C keep-alive
//     HTTP/1.1 connections POST bodies encrypted once per subscriber up front (RFC 8291), round
//     robin over the subscribers, with one cached VAPID header; the user agents ack every
//     notification. Reports accepted (201) and delivered messages per second, accept→deliver
//     latency, errors, and messages per CPU-second of the service.
//
// Each run prints one JSON line on stdout (progress goes to stderr). Traffic goes to loopback
// addresses only: the server must be on 127.0.0.0/8. Every phase has a deadline, and a watchdog
// ends the process if the whole run overstays its budget.
//
// Single-threaded: one io_context on the calling thread, C++20 coroutines.

#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "webpush/base64url.h"
#include "webpush/message.h"
#include "webpush/p256.h"
#include "webpush/vapid.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
namespace webpush = flashwire::webpush;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kSubprotocol = "push-notification";

// Figures go out as whole numbers in the unit their name says (_ms, _us, _per_s, _bytes).
std::int64_t whole(double value) { return std::llround(value); }

double seconds_between(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// ---------------------------------------------------------------------------------------------
// Command line

struct Options {
  std::string mode;
  std::string server;  // HOST:PORT, loopback only
  int server_pid = 0;
  // idle
  std::uint64_t connections = 100000;
  unsigned sources = 4;
  double duration_s = 0;  // 0: mode default
  std::uint64_t concurrency = 500;
  double connect_timeout_s = 180;
  double settle_s = 2;
  bool register_channel = false;
  // throughput
  std::uint64_t subscribers = 1000;
  std::uint64_t http_connections = 32;
  std::uint64_t messages = 200000;
  std::int64_t ttl = 3600;
  std::size_t payload = 300;
  double drain_s = 10;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "push_load: " << problem << "\n"
            << "usage: push_load idle --server 127.0.0.1:PORT [--server-pid PID] [--connections N]\n"
            << "                      [--sources K] [--duration S] [--concurrency C]\n"
            << "                      [--connect-timeout S] [--settle S] [--register]\n"
            << "       push_load throughput --server 127.0.0.1:PORT [--server-pid PID] [--subscribers N]\n"
            << "                      [--http-connections C] [--messages M] [--duration S] [--ttl T]\n"
            << "                      [--payload BYTES] [--concurrency C] [--connect-timeout S] [--drain S]\n";
  std::exit(1);
}

template <typename T>
T parse_number(const std::string& flag, const std::string& text) {
  T value{};
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (err != std::errc() || end != text.data() + text.size()) usage(flag + " needs a number, got '" + text + "'");
  return value;
}

Options parse_options(int argc, char** argv) {
  if (argc < 2) usage("missing mode");
  Options o;
  o.mode = argv[1];
  if (o.mode != "idle" && o.mode != "throughput") usage("unknown mode '" + o.mode + "'");
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--register") {
      o.register_channel = true;
      continue;
    }
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--server") o.server = value;
    else if (flag == "--server-pid") o.server_pid = parse_number<int>(flag, value);
    else if (flag == "--connections") o.connections = parse_number<std::uint64_t>(flag, value);
    else if (flag == "--sources") o.sources = parse_number<unsigned>(flag, value);
    else if (flag == "--duration") o.duration_s = parse_number<double>(flag, value);
    else if (flag == "--concurrency") o.concurrency = parse_number<std::uint64_t>(flag, value);
    else if (flag == "--connect-timeout") o.connect_timeout_s = parse_number<double>(flag, value);
    else if (flag == "--settle") o.settle_s = parse_number<double>(flag, value);
    else if (flag == "--subscribers") o.subscribers = parse_number<std::uint64_t>(flag, value);
    else if (flag == "--http-connections") o.http_connections = parse_number<std::uint64_t>(flag, value);
    else if (flag == "--messages") o.messages = parse_number<std::uint64_t>(flag, value);
    else if (flag == "--ttl") o.ttl = parse_number<std::int64_t>(flag, value);
    else if (flag == "--payload") o.payload = parse_number<std::size_t>(flag, value);
    else if (flag == "--drain") o.drain_s = parse_number<double>(flag, value);
    else usage("unknown option " + flag);
  }
  if (o.server.empty()) usage("--server is required");
  if (o.duration_s <= 0) o.duration_s = o.mode == "idle" ? 10 : 60;
  if (o.duration_s > 3600 || o.connect_timeout_s <= 0 || o.connect_timeout_s > 3600 || o.drain_s < 0 ||
      o.drain_s > 600 || o.settle_s < 0 || o.settle_s > 60) {
    usage("durations must be positive and at most an hour");
  }
  if (o.sources > 250) usage("--sources is at most 250 (127.0.0.2 … 127.0.0.251)");
  if (o.concurrency == 0 || o.concurrency > 10000) usage("--concurrency must be 1 … 10000");
  if (o.connections == 0 || o.connections > 1'000'000) usage("--connections must be 1 … 1000000");
  if (o.subscribers == 0 || o.subscribers > 1'000'000) usage("--subscribers must be 1 … 1000000");
  if (o.http_connections == 0 || o.http_connections > 10000) usage("--http-connections must be 1 … 10000");
  if (o.messages == 0 || o.messages > 100'000'000) usage("--messages must be 1 … 100000000");
  if (o.ttl < 0) usage("--ttl must not be negative");
  if (o.payload == 0 || o.payload > webpush::kMaxPlaintextSize) usage("--payload must be 1 … 3993 bytes");
  return o;
}

// ---------------------------------------------------------------------------------------------
// The service process, seen through /proc

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A "Name:   value" field of /proc/PID/status, as a number (VmRSS is in kB).
std::optional<std::int64_t> status_field(int pid, std::string_view name) {
  if (pid <= 0) return std::nullopt;
  const auto text = read_file("/proc/" + std::to_string(pid) + "/status");
  if (!text) return std::nullopt;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 && line[name.size()] == ':') {
      std::istringstream fields(line.substr(name.size() + 1));
      std::int64_t value = 0;
      if (fields >> value) return value;
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> rss_bytes(int pid) {
  const auto kb = status_field(pid, "VmRSS");
  if (!kb) return std::nullopt;
  return *kb * 1024;
}

// utime and stime of /proc/PID/stat, in seconds.
struct CpuTimes {
  double user = 0;
  double system = 0;
};

std::optional<CpuTimes> cpu_times(int pid) {
  if (pid <= 0) return std::nullopt;
  const auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  const std::size_t paren = text->rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(text->substr(paren + 2));  // field 3 (state) onwards
  std::string field;
  std::uint64_t utime = 0;
  std::uint64_t stime = 0;
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) utime = std::stoull(field);
    if (index == 15) stime = std::stoull(field);
  }
  const auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return CpuTimes{static_cast<double>(utime) / ticks, static_cast<double>(stime) / ticks};
}

std::optional<double> cpu_seconds(int pid) {
  const auto times = cpu_times(pid);
  if (!times) return std::nullopt;
  return times->user + times->system;
}

std::optional<std::int64_t> open_files_limit(int pid) {
  if (pid <= 0) return std::nullopt;
  const auto text = read_file("/proc/" + std::to_string(pid) + "/limits");
  if (!text) return std::nullopt;
  const std::size_t at = text->find("Max open files");
  if (at == std::string::npos) return std::nullopt;
  std::istringstream fields(text->substr(at + std::string_view("Max open files").size()));
  std::int64_t soft = 0;
  if (fields >> soft) return soft;
  return std::nullopt;
}

// CPU seconds the whole machine spent busy (everything but idle and iowait), from /proc/stat.
std::optional<double> machine_busy_seconds() {
  const auto text = read_file("/proc/stat");
  if (!text || !text->starts_with("cpu ")) return std::nullopt;
  std::istringstream fields(text->substr(4, text->find('\n') - 4));
  std::uint64_t value = 0;
  std::uint64_t busy = 0;
  for (int index = 0; index < 8 && fields >> value; ++index) {
    if (index != 3 && index != 4) busy += value;  // user nice system [idle iowait] irq softirq steal
  }
  return static_cast<double>(busy) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(usage.ru_utime) + tv(usage.ru_stime);
}

// Raises our own soft RLIMIT_NOFILE to the hard limit; returns the limit now in force.
std::uint64_t raise_own_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

void set_json(json::object& out, std::string_view key, const std::optional<std::int64_t>& value) {
  if (value) out[key] = *value;
  else out[key] = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Small coroutine helpers

// Counts outstanding tasks; wait() returns when all have finished or the deadline passes.
class Latch {
 public:
  Latch(asio::io_context& io, std::uint64_t count) : timer_(io), count_(count) {}
  void add(std::uint64_t n = 1) { count_ += n; }
  void count_down() {
    if (count_ > 0 && --count_ == 0) timer_.cancel();
  }
  std::uint64_t pending() const { return count_; }
  // True when every task finished in time.
  asio::awaitable<bool> wait(SteadyClock::time_point deadline) {
    while (count_ > 0 && SteadyClock::now() < deadline) {
      timer_.expires_at(deadline);
      co_await timer_.async_wait(kNoThrow);
    }
    co_return count_ == 0;
  }

 private:
  asio::steady_timer timer_;
  std::uint64_t count_;
};

asio::awaitable<void> sleep_for(SteadyClock::duration how_long) {
  asio::steady_timer timer(co_await asio::this_coro::executor, how_long);
  co_await timer.async_wait(kNoThrow);
}

// Error counts by "stage: message", at most 32 distinct entries.
class Tally {
 public:
  void add(std::string_view stage, std::string_view what) {
    std::string key(stage);
    key += ": ";
    key += what;
    auto it = counts_.find(key);
    if (it == counts_.end()) {
      if (counts_.size() >= 32) key = "other";
      it = counts_.emplace(key, 0).first;
    }
    ++it->second;
  }
  void add(std::string_view stage, const beast::error_code& ec) { add(stage, ec.message()); }
  std::uint64_t total() const {
    std::uint64_t sum = 0;
    for (const auto& [key, count] : counts_) sum += count;
    return sum;
  }
  json::object to_json() const {
    json::object out;
    for (const auto& [key, count] : counts_) out[key] = count;
    return out;
  }

 private:
  std::map<std::string, std::uint64_t> counts_;
};

std::string uuid_v4(std::mt19937_64& rng) {
  std::uint8_t bytes[16];
  for (int i = 0; i < 16; i += 8) {
    const std::uint64_t r = rng();
    for (int j = 0; j < 8; ++j) bytes[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
  }
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The service's address

struct Target {
  tcp::endpoint endpoint;
  std::string host;    // "127.0.0.1:PORT", for Host headers
  std::string origin;  // "http://127.0.0.1:PORT", the VAPID audience
};

Target parse_target(const std::string& text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos) usage("--server must be HOST:PORT");
  beast::error_code ec;
  const auto address = asio::ip::make_address_v4(text.substr(0, colon), ec);
  if (ec) usage("--server host must be an IPv4 address");
  // Loopback only: this tool must never send load anywhere else.
  if ((address.to_uint() >> 24) != 127) usage("--server must be a loopback address (127.0.0.0/8)");
  const auto port = parse_number<std::uint16_t>("--server port", text.substr(colon + 1));
  if (port == 0) usage("--server port must not be 0");
  return {tcp::endpoint(address, port), text, "http://" + text};
}

// ---------------------------------------------------------------------------------------------
// User agents

using WsStream = websocket::stream<tcp::socket>;

struct UserAgent {
  explicit UserAgent(tcp::socket socket) : ws(std::move(socket)) {}
  WsStream ws;
  std::string uaid;
  std::string channel_id;  // throughput: the one registered channel
  std::string endpoint_path;  // "/wpush/<token>"
  bool open = false;
};

// Opens a TCP connection from `source` (unbound if nullopt) to the service within `timeout`.
asio::awaitable<std::optional<tcp::socket>> connect_from(const Target& target,
                                                         std::optional<asio::ip::address_v4> source,
                                                         SteadyClock::duration timeout, Tally& errors) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  beast::error_code ec;
  stream.socket().open(tcp::v4(), ec);
  if (ec) {
    errors.add("socket", ec);
    co_return std::nullopt;
  }
  if (source) {
    // Let connect() choose the port, so a port is unique per (source, destination) pair rather
    // than per source: each source address then gives a full ephemeral range to this one server.
    const int one = 1;
    ::setsockopt(stream.socket().native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    stream.socket().bind(tcp::endpoint(*source, 0), ec);
    if (ec) {
      errors.add("bind", ec);
      co_return std::nullopt;
    }
  }
  stream.expires_after(timeout);
  auto [connect_ec] = co_await stream.async_connect(target.endpoint, kNoThrow);
  if (connect_ec) {
    errors.add("connect", connect_ec);
    co_return std::nullopt;
  }
  stream.expires_never();
  stream.socket().set_option(tcp::no_delay(true), ec);
  co_return stream.release_socket();
}

// Reads one text frame within the stream's idle timeout and parses it as a JSON object.
asio::awaitable<std::optional<json::object>> read_json(WsStream& ws, Tally& errors, std::string_view stage) {
  beast::flat_buffer buffer;
  auto [ec, n] = co_await ws.async_read(buffer, kNoThrow);
  if (ec) {
    errors.add(stage, ec);
    co_return std::nullopt;
  }
  beast::error_code parse_ec;
  json::value value = json::parse(beast::buffers_to_string(buffer.cdata()), parse_ec);
  if (parse_ec || !value.is_object()) {
    errors.add(stage, "reply is not a JSON object");
    co_return std::nullopt;
  }
  co_return std::move(value.as_object());
}

std::string_view string_field(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  return value != nullptr && value->is_string() ? std::string_view(value->as_string()) : std::string_view();
}

std::int64_t int_field(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  if (value == nullptr) return -1;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64()) return static_cast<std::int64_t>(value->as_uint64());
  return -1;
}

// Connects, upgrades to WebSocket with the push-notification subprotocol, says hello, and
// optionally registers one channel restricted to `vapid_key`, all within `timeout`. nullptr on any
// failure (counted).
asio::awaitable<std::unique_ptr<UserAgent>> open_user_agent(const Target& target,
                                                            std::optional<asio::ip::address_v4> source,
                                                            SteadyClock::duration timeout, Tally& errors,
                                                            const std::string* channel_id,
                                                            const std::string* vapid_key) {
  const auto give_up = SteadyClock::now() + timeout;
  const auto remaining = [give_up] { return std::max<SteadyClock::duration>(give_up - SteadyClock::now(), 1ms); };
  auto socket = co_await connect_from(target, source, remaining(), errors);
  if (!socket) co_return nullptr;
  auto ua = std::make_unique<UserAgent>(std::move(*socket));
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = remaining();
  timeouts.idle_timeout = remaining();  // bounds the wait for the next reply; reset before each
  timeouts.keep_alive_pings = false;
  ua->ws.set_option(timeouts);
  ua->ws.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
    request.set(bhttp::field::sec_websocket_protocol, kSubprotocol);
    request.set(bhttp::field::user_agent, "flashwire-push-load");
  }));
  websocket::response_type response;
  auto [hs_ec] = co_await ua->ws.async_handshake(response, target.host, "/", kNoThrow);
  if (hs_ec) {
    errors.add("websocket handshake", hs_ec);
    co_return nullptr;
  }
  if (response[bhttp::field::sec_websocket_protocol] != kSubprotocol) {
    errors.add("websocket handshake", "subprotocol not echoed");
    co_return nullptr;
  }
  ua->ws.text(true);

  static const std::string kHello = R"({"messageType":"hello","use_webpush":true,"broadcasts":{}})";
  auto [hello_ec, hello_n] = co_await ua->ws.async_write(asio::buffer(kHello), kNoThrow);
  if (hello_ec) {
    errors.add("hello write", hello_ec);
    co_return nullptr;
  }
  timeouts.idle_timeout = remaining();
  ua->ws.set_option(timeouts);
  auto hello = co_await read_json(ua->ws, errors, "hello reply");
  if (!hello) co_return nullptr;
  if (string_field(*hello, "messageType") != "hello" || int_field(*hello, "status") != 200 ||
      string_field(*hello, "uaid").empty()) {
    errors.add("hello reply", "unexpected: " + json::serialize(*hello).substr(0, 120));
    co_return nullptr;
  }
  ua->uaid = std::string(string_field(*hello, "uaid"));

  if (channel_id != nullptr) {
    json::object reg{{"messageType", "register"}, {"channelID", *channel_id}};
    if (vapid_key != nullptr) reg["key"] = *vapid_key;
    const std::string frame = json::serialize(reg);
    auto [reg_ec, reg_n] = co_await ua->ws.async_write(asio::buffer(frame), kNoThrow);
    if (reg_ec) {
      errors.add("register write", reg_ec);
      co_return nullptr;
    }
    timeouts.idle_timeout = remaining();
    ua->ws.set_option(timeouts);
    auto reply = co_await read_json(ua->ws, errors, "register reply");
    if (!reply) co_return nullptr;
    const std::string_view endpoint = string_field(*reply, "pushEndpoint");
    const std::string prefix = target.origin + "/wpush/";
    if (string_field(*reply, "messageType") != "register" || int_field(*reply, "status") != 200 ||
        string_field(*reply, "channelID") != *channel_id || !endpoint.starts_with(prefix)) {
      errors.add("register reply", "unexpected: " + json::serialize(*reply).substr(0, 120));
      co_return nullptr;
    }
    ua->channel_id = *channel_id;
    ua->endpoint_path = std::string(endpoint.substr(target.origin.size()));
  }
  // From here on nothing is expected at any particular time: no idle timeout. The run's own
  // deadlines and the watchdog bound how long we wait.
  timeouts.idle_timeout = websocket::stream_base::none();
  ua->ws.set_option(timeouts);
  ua->open = true;
  co_return ua;
}

void close_user_agent(UserAgent& ua) {
  beast::error_code ignored;
  ua.ws.next_layer().close(ignored);
  ua.open = false;
}

// Opens `count` user agents with at most `concurrency` in flight, until `deadline`. Source
// addresses rotate over 127.0.0.2 … 127.0.0.(sources+1); sources 0 leaves sockets unbound.
// `make_channel(i)` gives user agent i's channel id, or nullptr for hello only.
struct OpenPhase {
  std::uint64_t attempted = 0;
  std::uint64_t opened = 0;
  double seconds = 0;
  bool completed = false;
};

template <typename ChannelFor>
asio::awaitable<OpenPhase> open_user_agents(asio::io_context& io, const Target& target, std::uint64_t count,
                                            unsigned sources, std::uint64_t concurrency,
                                            SteadyClock::time_point deadline, Tally& errors,
                                            std::vector<std::unique_ptr<UserAgent>>& out,
                                            ChannelFor channel_for, const std::string* vapid_key) {
  OpenPhase phase;
  out.clear();
  out.resize(count);
  const auto start = SteadyClock::now();
  std::uint64_t next = 0;
  const std::uint64_t workers = std::min(concurrency, count);
  Latch done(io, workers);
  for (std::uint64_t w = 0; w < workers; ++w) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          while (next < count && SteadyClock::now() < deadline) {
            const std::uint64_t index = next++;
            ++phase.attempted;
            std::optional<asio::ip::address_v4> source;
            if (sources > 0) source = asio::ip::address_v4((127u << 24) | static_cast<std::uint32_t>(2 + index % sources));
            const auto per_connection = std::min<SteadyClock::duration>(
                15s, std::max<SteadyClock::duration>(deadline - SteadyClock::now(), 1ms));
            const std::string* channel = channel_for(index);
            out[index] = co_await open_user_agent(target, source, per_connection, errors, channel, vapid_key);
            if (out[index]) ++phase.opened;
          }
          done.count_down();
        },
        asio::detached);
  }
  // Workers stop starting new connections at the deadline; the one in flight ends within its
  // 15 s. While waiting, progress on stderr every 5 s.
  const auto final_deadline = deadline + 20s;
  bool all_done = false;
  while (!all_done && SteadyClock::now() < final_deadline) {
    all_done = co_await done.wait(std::min(final_deadline, SteadyClock::now() + 5s));
    if (!all_done) std::cerr << "push_load: " << phase.opened << " user agents open, " << errors.total() << " failed\n";
  }
  phase.completed = all_done && phase.opened == count;
  phase.seconds = seconds_between(start, SteadyClock::now());
  co_return phase;
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

// GET /metrics: the service's own counters, as {"name{labels}": value}.
asio::awaitable<json::object> fetch_metrics(const Target& target, Tally& errors) {
  json::object out;
  auto socket = co_await connect_from(target, std::nullopt, 5s, errors);
  if (!socket) co_return out;
  beast::tcp_stream stream(std::move(*socket));
  bhttp::request<bhttp::empty_body> request(bhttp::verb::get, "/metrics", 11);
  request.set(bhttp::field::host, target.host);
  request.keep_alive(false);
  stream.expires_after(10s);
  auto [wec, wn] = co_await bhttp::async_write(stream, request, kNoThrow);
  if (wec) {
    errors.add("metrics", wec);
    co_return out;
  }
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  auto [rec, rn] = co_await bhttp::async_read(stream, buffer, response, kNoThrow);
  if (rec) {
    errors.add("metrics", rec);
    co_return out;
  }
  std::istringstream lines(response.body());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    double value = 0;
    const char* begin = line.data() + space + 1;
    const auto [end, err] = std::from_chars(begin, line.data() + line.size(), value);
    if (err == std::errc()) out[line.substr(0, space)] = whole(value);
  }
  co_return out;
}

// ---------------------------------------------------------------------------------------------
// idle

json::object run_idle(asio::io_context& io, const Options& options, const Target& target) {
  json::object result;
  result["mode"] = "idle";
  result["requested_connections"] = options.connections;
  result["sources"] = options.sources;
  result["hold_s"] = whole(options.duration_s);
  result["register"] = options.register_channel;
  set_json(result, "server_fd_limit", open_files_limit(options.server_pid));

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Tally errors;
        std::vector<std::unique_ptr<UserAgent>> agents;
        std::mt19937_64 rng(std::random_device{}());
        std::vector<std::string> channels;
        if (options.register_channel) {
          channels.reserve(options.connections);
          for (std::uint64_t i = 0; i < options.connections; ++i) channels.push_back(uuid_v4(rng));
        }
        auto channel_for = [&](std::uint64_t i) -> const std::string* {
          return options.register_channel ? &channels[i] : nullptr;
        };

        const auto rss_before = rss_bytes(options.server_pid);
        const auto cpu_before = cpu_seconds(options.server_pid);
        const auto machine_before = machine_busy_seconds();
        const double own_cpu_before = own_cpu_seconds();
        const auto deadline = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                       std::chrono::duration<double>(options.connect_timeout_s));
        const OpenPhase phase = co_await open_user_agents(io, target, options.connections, options.sources,
                                                          options.concurrency, deadline, errors, agents,
                                                          channel_for, nullptr);
        const auto cpu_connected = cpu_seconds(options.server_pid);
        std::cerr << "push_load: " << phase.opened << " of " << options.connections << " user agents open after "
                  << phase.seconds << " s; holding for " << options.duration_s << " s\n";
        const auto hold_start = SteadyClock::now();

        // Hold: one pending read per user agent, so a close or a ping from the service is seen.
        std::uint64_t closed_during_hold = 0;
        std::uint64_t frames_during_hold = 0;
        Latch readers(io, 0);
        for (auto& agent : agents) {
          if (!agent) continue;
          readers.add();
          asio::co_spawn(
              io,
              [&, ua = agent.get()]() -> asio::awaitable<void> {
                for (int frames = 0; frames < 1000 && ua->open; ++frames) {
                  beast::flat_buffer buffer;
                  auto [ec, n] = co_await ua->ws.async_read(buffer, kNoThrow);
                  if (ec) {
                    if (ua->open) ++closed_during_hold;
                    ua->open = false;
                    break;
                  }
                  ++frames_during_hold;
                }
                readers.count_down();
              },
              asio::detached);
        }
        co_await sleep_for(std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(options.settle_s)));
        const auto rss_connected = rss_bytes(options.server_pid);
        auto metrics = co_await fetch_metrics(target, errors);
        const auto hold_end = hold_start + std::chrono::duration_cast<SteadyClock::duration>(
                                               std::chrono::duration<double>(options.duration_s));
        if (SteadyClock::now() < hold_end) co_await sleep_for(hold_end - SteadyClock::now());
        const auto rss_end = rss_bytes(options.server_pid);
        const auto cpu_end = cpu_seconds(options.server_pid);
        const auto machine_end = machine_busy_seconds();
        const double own_cpu = own_cpu_seconds() - own_cpu_before;
        std::uint64_t open_at_end = 0;
        for (const auto& agent : agents) open_at_end += agent && agent->open ? 1 : 0;

        for (auto& agent : agents) {
          if (agent && agent->open) close_user_agent(*agent);
        }
        co_await readers.wait(SteadyClock::now() + 10s);
        // Let the service see the closes, then look at what it keeps.
        co_await sleep_for(std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(options.settle_s)));
        const auto rss_after_close = rss_bytes(options.server_pid);

        result["opened"] = phase.opened;
        result["open_at_end_of_hold"] = open_at_end;
        result["closed_by_server_during_hold"] = closed_during_hold;
        result["frames_during_hold"] = frames_during_hold;
        result["connect_ms"] = whole(phase.seconds * 1000);
        result["connects_per_s"] = whole(phase.seconds > 0 ? static_cast<double>(phase.opened) / phase.seconds : 0.0);
        result["complete"] = phase.completed && open_at_end == options.connections;
        set_json(result, "server_rss_before_bytes", rss_before);
        set_json(result, "server_rss_connected_bytes", rss_connected);
        set_json(result, "server_rss_end_of_hold_bytes", rss_end);
        set_json(result, "server_rss_after_close_bytes", rss_after_close);
        if (rss_before && rss_connected && phase.opened > 0) {
          result["server_bytes_per_connection"] =
              whole(static_cast<double>(*rss_connected - *rss_before) / static_cast<double>(phase.opened));
        }
        if (rss_before && rss_end && open_at_end > 0) {
          result["server_bytes_per_connection_end_of_hold"] =
              whole(static_cast<double>(*rss_end - *rss_before) / static_cast<double>(open_at_end));
        }
        if (const auto it = metrics.find("flashwire_push_connections"); it != metrics.end()) {
          result["server_reported_connections"] = it->value();
        }
        if (cpu_before && cpu_connected && phase.opened > 0) {
          result["server_cpu_us_per_connect"] = whole((*cpu_connected - *cpu_before) * 1e6 / static_cast<double>(phase.opened));
        }
        if (cpu_before && cpu_end && machine_before && machine_end) {
          const double other = (*machine_end - *machine_before) - (*cpu_end - *cpu_before) - own_cpu;
          result["other_processes_cpu_ms"] = whole(std::max(other, 0.0) * 1000);
        }
        result["errors"] = errors.to_json();
        agents.clear();
      },
      [&io](std::exception_ptr error) {
        io.stop();  // the run is over: leftover timers (progress, watchdog) must not hold it
        if (error) std::rethrow_exception(error);
      });
  io.run();
  return result;
}

// ---------------------------------------------------------------------------------------------
// throughput

// A 300-byte (by default) breaking-news alert, as a news site would send it.
std::string make_alert(std::size_t size) {
  std::string alert =
      R"({"title":"Breaking: council approves new harbour bridge","url":"https://news.example/live/harbour-bridge","tag":"breaking-4711","body":")";
  const std::string tail = R"("})";
  const std::string words = "The vote passed 31 to 12 after a six-hour debate; construction starts in spring. ";
  while (alert.size() + tail.size() < size) alert += words[(alert.size()) % words.size()];
  alert += tail;
  alert.resize(size, ' ');
  return alert;
}

struct Subscriber {
  std::unique_ptr<UserAgent> ua;
  std::string request;   // the whole POST, serialised once
  std::string data_b64;  // what the notification's "data" must be
};

struct InFlight {
  SteadyClock::time_point sent;
  std::uint32_t subscriber;
};

struct Run {
  std::uint64_t limit = 0;
  SteadyClock::time_point deadline;
  std::uint64_t next = 0;
  std::uint64_t posted = 0;
  std::uint64_t accepted = 0;
  std::uint64_t lost = 0;  // written but no response (transport error)
  std::map<unsigned, std::uint64_t> other_statuses;
  std::uint64_t delivered = 0;
  std::uint64_t matched = 0;
  std::uint64_t misrouted = 0;
  std::uint64_t bad_data = 0;
  std::uint64_t acks_sent = 0;
  std::uint64_t other_frames = 0;
  std::uint64_t ua_closed = 0;
  std::uint64_t no_version = 0;
  std::unordered_map<std::string, InFlight> awaiting_delivery;  // by version, after the 201
  std::unordered_map<std::string, InFlight> delivered_early;    // notification before the 201
  std::vector<double> latency_us;
  bool started = false;
  SteadyClock::time_point first_post;
  SteadyClock::time_point last_accept;
  SteadyClock::time_point last_delivery;
  bool stopping = false;

  void record(SteadyClock::time_point sent, std::uint32_t posted_to,
              SteadyClock::time_point received, std::uint32_t received_by) {
    latency_us.push_back(std::chrono::duration<double, std::micro>(received - sent).count());
    if (posted_to != received_by) ++misrouted;
    ++matched;
  }
};

// The key a message is matched by: its version, as the 201's Location ends with it and the
// notification carries it. The service's version format ("s<id>", "m<n>", …) is its own business.
std::optional<std::string> version_key(std::string_view version) {
  if (version.empty() || version.size() > 64) return std::nullopt;
  return std::string(version);
}

// One keep-alive HTTP/1.1 connection posting messages until the run's count or deadline.
asio::awaitable<void> http_sender(Run& run, std::vector<Subscriber>& subscribers, const Target& target,
                                  Tally& errors, Latch& done) {
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  int connects = 0;
  while (run.next < run.limit && SteadyClock::now() < run.deadline) {
    if (!stream) {
      if (++connects > 50) break;  // a service that keeps dropping us: give up on this connection
      auto socket = co_await connect_from(target, std::nullopt, 5s, errors);
      if (!socket) {
        co_await sleep_for(100ms);
        continue;
      }
      stream.emplace(std::move(*socket));
      buffer.clear();
    }
    const std::uint64_t index = run.next++;
    const auto s = static_cast<std::uint32_t>(index % subscribers.size());
    const auto sent = SteadyClock::now();
    if (!run.started) {
      run.started = true;
      run.first_post = sent;
    }
    ++run.posted;
    stream->expires_after(15s);
    auto [wec, wn] = co_await asio::async_write(*stream, asio::buffer(subscribers[s].request), kNoThrow);
    if (wec) {
      errors.add("POST write", wec);
      ++run.lost;
      stream.reset();
      continue;
    }
    bhttp::response<bhttp::string_body> response;
    auto [rec, rn] = co_await bhttp::async_read(*stream, buffer, response, kNoThrow);
    if (rec) {
      errors.add("POST response", rec);
      ++run.lost;
      stream.reset();
      continue;
    }
    const auto status = response.result_int();
    if (status == 201) {
      ++run.accepted;
      run.last_accept = SteadyClock::now();
      const std::string_view location = response[bhttp::field::location];
      const std::size_t slash = location.rfind('/');
      const auto key = slash == std::string_view::npos ? std::nullopt : version_key(location.substr(slash + 1));
      if (!key) {
        ++run.no_version;
      } else if (auto early = run.delivered_early.find(*key); early != run.delivered_early.end()) {
        run.record(sent, s, early->second.sent, early->second.subscriber);
        run.delivered_early.erase(early);
      } else {
        run.awaiting_delivery.emplace(*key, InFlight{sent, s});
      }
    } else {
      ++run.other_statuses[status];
    }
    if (!response.keep_alive()) stream.reset();
  }
  if (stream) {
    beast::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
  done.count_down();
}

// One user agent during the run: reads notifications, checks them, acks each at once.
asio::awaitable<void> ua_reader(Run& run, Subscriber& subscriber, std::uint32_t index, Latch& done) {
  UserAgent& ua = *subscriber.ua;
  beast::flat_buffer buffer;
  // At most one frame per message of the run, plus a few control replies.
  for (std::uint64_t frames = 0; frames < run.limit + 100 && ua.open; ++frames) {
    buffer.clear();
    auto [ec, n] = co_await ua.ws.async_read(buffer, kNoThrow);
    const auto received = SteadyClock::now();
    if (ec) {
      if (ua.open && !run.stopping) ++run.ua_closed;
      ua.open = false;
      break;
    }
    const auto data = buffer.cdata();
    const std::string_view text(static_cast<const char*>(data.data()), data.size());
    unsigned char scratch[8192];
    json::monotonic_resource memory(scratch, sizeof scratch);
    beast::error_code parse_ec;
    json::value value = json::parse(text, parse_ec, &memory);
    if (parse_ec || !value.is_object() || string_field(value.as_object(), "messageType") != "notification") {
      ++run.other_frames;
      continue;
    }
    const json::object& frame = value.as_object();
    ++run.delivered;
    run.last_delivery = received;
    const std::string_view version = string_field(frame, "version");
    if (string_field(frame, "channelID") != ua.channel_id) ++run.misrouted;
    if (string_field(frame, "data") != subscriber.data_b64) ++run.bad_data;
    const json::value* headers = frame.if_contains("headers");
    if (headers == nullptr || !headers->is_object() || string_field(headers->as_object(), "encoding") != "aes128gcm") {
      ++run.bad_data;
    }
    if (const auto key = version_key(version)) {
      if (auto sent = run.awaiting_delivery.find(*key); sent != run.awaiting_delivery.end()) {
        run.record(sent->second.sent, sent->second.subscriber, received, index);
        run.awaiting_delivery.erase(sent);
      } else {
        run.delivered_early.emplace(*key, InFlight{received, index});
      }
    } else {
      ++run.no_version;
    }
    std::string ack = R"({"messageType":"ack","updates":[{"channelID":")";
    ack += ua.channel_id;
    ack += R"(","version":")";
    ack += version;
    ack += R"(","code":100}]})";
    auto [wec, wn] = co_await ua.ws.async_write(asio::buffer(ack), kNoThrow);
    if (wec) {
      if (!run.stopping) ++run.ua_closed;
      ua.open = false;
      break;
    }
    ++run.acks_sent;
  }
  done.count_down();
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

json::object run_throughput(asio::io_context& io, const Options& options, const Target& target) {
  json::object result;
  result["mode"] = "throughput";
  result["subscribers"] = options.subscribers;
  result["http_connections"] = options.http_connections;
  result["requested_messages"] = options.messages;
  result["max_duration_s"] = whole(options.duration_s);
  result["ttl"] = options.ttl;
  result["payload_bytes"] = options.payload;

  // Keys, bodies and requests, all before any load: the run then measures the service alone.
  std::cerr << "push_load: encrypting one " << options.payload << "-byte alert for each of " << options.subscribers
            << " subscribers\n";
  const auto set_up_start = SteadyClock::now();
  const auto vapid = webpush::P256KeyPair::generate();
  const std::string vapid_key = vapid.public_key().to_base64url();
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const auto token = webpush::sign_vapid_token(vapid, {target.origin, now + 12 * 3600, "mailto:ops@news.example"}, now);
  if (!token) {
    std::cerr << "push_load: cannot sign the VAPID token: " << token.error().message << "\n";
    std::exit(1);
  }
  const std::string authorization = webpush::format_vapid_authorization(*token, vapid.public_key());
  const std::string alert = make_alert(options.payload);
  webpush::MessageEncryptor encryptor;
  std::mt19937_64 rng(std::random_device{}());
  std::vector<std::string> channels(options.subscribers);
  std::vector<Subscriber> subscribers(options.subscribers);
  std::size_t body_bytes = 0;
  for (std::size_t i = 0; i < subscribers.size(); ++i) {
    channels[i] = uuid_v4(rng);
    const auto ua_key = webpush::P256KeyPair::generate();
    webpush::AuthSecret auth{};
    webpush::system_random().fill(auth);
    const webpush::SubscriptionKeys keys{ua_key.public_key(), auth};
    auto body = encryptor.encrypt(keys, webpush::as_bytes(alert));
    if (!body) {
      std::cerr << "push_load: encryption failed: " << body.error().message << "\n";
      std::exit(1);
    }
    if (i == 0) {  // the body is what a browser can decrypt
      auto plain = webpush::decrypt_message(ua_key, auth, *body);
      if (!plain || webpush::as_chars(*plain) != alert) {
        std::cerr << "push_load: encrypted body does not decrypt back to the alert\n";
        std::exit(1);
      }
    }
    body_bytes = body->size();
    subscribers[i].data_b64 = webpush::base64url_encode(*body);
    subscribers[i].request = std::string(webpush::as_chars(*body));  // the path is added after register
  }
  result["body_bytes"] = body_bytes;
  result["encrypt_ms"] = whole(seconds_between(set_up_start, SteadyClock::now()) * 1000);

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Tally errors;
        std::vector<std::unique_ptr<UserAgent>> agents;
        const auto deadline = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                       std::chrono::duration<double>(options.connect_timeout_s));
        const OpenPhase phase = co_await open_user_agents(
            io, target, options.subscribers, options.sources, options.concurrency, deadline, errors, agents,
            [&](std::uint64_t i) -> const std::string* { return &channels[i]; }, &vapid_key);
        result["subscribers_registered"] = phase.opened;
        result["register_ms"] = whole(phase.seconds * 1000);
        if (!phase.completed) {
          std::cerr << "push_load: only " << phase.opened << " of " << options.subscribers
                    << " subscribers registered; stopping\n";
          result["complete"] = false;
          result["errors"] = errors.to_json();
          for (auto& agent : agents) {
            if (agent) close_user_agent(*agent);
          }
          co_return;
        }
        for (std::size_t i = 0; i < subscribers.size(); ++i) {
          Subscriber& s = subscribers[i];
          s.ua = std::move(agents[i]);
          std::string request = "POST " + s.ua->endpoint_path + " HTTP/1.1\r\nHost: " + target.host +
                                "\r\nTTL: " + std::to_string(options.ttl) +
                                "\r\nUrgency: high\r\nContent-Encoding: aes128gcm\r\n"
                                "Content-Type: application/octet-stream\r\nAuthorization: " +
                                authorization + "\r\nContent-Length: " + std::to_string(s.request.size()) +
                                "\r\n\r\n";
          s.request = request + s.request;
        }
        std::cerr << "push_load: " << phase.opened << " subscribers registered in " << phase.seconds
                  << " s; posting up to " << options.messages << " messages for up to " << options.duration_s << " s\n";

        Run run;
        run.limit = options.messages;
        run.latency_us.reserve(options.messages);
        run.awaiting_delivery.reserve(4096);
        Latch readers(io, subscribers.size());
        for (std::size_t i = 0; i < subscribers.size(); ++i) {
          asio::co_spawn(io, ua_reader(run, subscribers[i], static_cast<std::uint32_t>(i), readers), asio::detached);
        }
        const auto cpu_start = cpu_seconds(options.server_pid);
        const auto times_start = cpu_times(options.server_pid);
        const double own_cpu_start = own_cpu_seconds();
        const auto machine_start = machine_busy_seconds();
        const auto start = SteadyClock::now();
        run.deadline = start + std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(options.duration_s));
        Latch senders(io, options.http_connections);
        for (std::uint64_t c = 0; c < options.http_connections; ++c) {
          asio::co_spawn(io, http_sender(run, subscribers, target, errors, senders), asio::detached);
        }
        // In-flight requests finish within their 15 s write/read expiry. Progress every 5 s.
        bool senders_done = false;
        while (!senders_done && SteadyClock::now() < run.deadline + 20s) {
          senders_done = co_await senders.wait(std::min(run.deadline + 20s, SteadyClock::now() + 5s));
          if (!senders_done) std::cerr << "push_load: " << run.accepted << " accepted, " << run.delivered << " delivered\n";
        }
        const auto posting_end = SteadyClock::now();
        // Drain: notifications still on their way.
        const auto drain_deadline = posting_end + std::chrono::duration_cast<SteadyClock::duration>(
                                                      std::chrono::duration<double>(options.drain_s));
        while (run.delivered < run.accepted && SteadyClock::now() < drain_deadline) co_await sleep_for(5ms);
        // The acks of the last notifications reach the service.
        co_await sleep_for(200ms);
        const auto end = SteadyClock::now();
        const auto cpu_end = cpu_seconds(options.server_pid);
        const auto times_end = cpu_times(options.server_pid);
        const double own_cpu = own_cpu_seconds() - own_cpu_start;
        const auto machine_end = machine_busy_seconds();
        const auto rss_end = rss_bytes(options.server_pid);
        auto metrics = co_await fetch_metrics(target, errors);

        run.stopping = true;
        for (auto& s : subscribers) {
          if (s.ua && s.ua->open) close_user_agent(*s.ua);
        }
        co_await readers.wait(SteadyClock::now() + 10s);

        std::sort(run.latency_us.begin(), run.latency_us.end());
        const double accept_window = run.accepted > 0 ? seconds_between(run.first_post, run.last_accept) : 0;
        const double deliver_window = run.delivered > 0 ? seconds_between(run.first_post, run.last_delivery) : 0;
        result["posted"] = run.posted;
        result["accepted"] = run.accepted;
        result["delivered"] = run.delivered;
        result["acks_sent"] = run.acks_sent;
        result["matched"] = run.matched;
        result["missing_deliveries"] = run.accepted >= run.matched ? run.accepted - run.matched : 0;
        result["unmatched_notifications"] = run.delivered_early.size();
        result["misrouted"] = run.misrouted;
        result["bad_data"] = run.bad_data;
        result["no_version"] = run.no_version;
        result["lost_requests"] = run.lost;
        result["ua_closed_during_run"] = run.ua_closed;
        result["other_frames"] = run.other_frames;
        json::object statuses;
        for (const auto& [status, count] : run.other_statuses) statuses[std::to_string(status)] = count;
        result["non_201_statuses"] = statuses;
        result["posting_ms"] = whole(accept_window * 1000);
        result["accepted_per_s"] = whole(accept_window > 0 ? static_cast<double>(run.accepted) / accept_window : 0.0);
        result["delivered_per_s"] = whole(deliver_window > 0 ? static_cast<double>(run.delivered) / deliver_window : 0.0);
        result["latency_us"] = json::object{
            {"p50", whole(percentile(run.latency_us, 0.50))},
            {"p90", whole(percentile(run.latency_us, 0.90))},
            {"p99", whole(percentile(run.latency_us, 0.99))},
            {"max", whole(run.latency_us.empty() ? 0.0 : run.latency_us.back())},
            {"samples", run.latency_us.size()},
        };
        const double wall = seconds_between(start, end);
        result["run_ms"] = whole(wall * 1000);
        if (cpu_start && cpu_end) {
          const double server_cpu = *cpu_end - *cpu_start;
          result["server_cpu_ms"] = whole(server_cpu * 1000);
          if (times_start && times_end) {
            result["server_cpu_user_ms"] = whole((times_end->user - times_start->user) * 1000);
            result["server_cpu_system_ms"] = whole((times_end->system - times_start->system) * 1000);
          }
          result["server_cpu_percent"] = whole(wall > 0 ? 100 * server_cpu / wall : 0.0);
          result["msgs_per_server_cpu_s"] = whole(server_cpu > 0 ? static_cast<double>(run.accepted) / server_cpu : 0.0);
        }
        result["generator_cpu_ms"] = whole(own_cpu * 1000);
        if (cpu_start && cpu_end && machine_start && machine_end) {
          // CPU time that neither the service nor this generator used: other processes on the
          // machine, which make the figures unreliable when large.
          const double other = (*machine_end - *machine_start) - (*cpu_end - *cpu_start) - own_cpu;
          result["other_processes_cpu_ms"] = whole(std::max(other, 0.0) * 1000);
        }
        result["generator_cpu_percent"] = whole(wall > 0 ? 100 * own_cpu / wall : 0.0);
        set_json(result, "server_rss_end_bytes", rss_end);
        json::object server;
        for (const char* name : {"flashwire_push_messages_accepted_total", "flashwire_push_messages_delivered_total",
                                 "flashwire_push_acks_total{code=\"100\"}", "flashwire_push_stored_messages",
                                 "flashwire_push_messages_evicted_total", "flashwire_push_connections"}) {
          if (const auto it = metrics.find(name); it != metrics.end()) server[name] = it->value();
        }
        for (const auto& [key, value] : metrics) {
          if (key.starts_with("flashwire_push_messages_rejected_total")) server[key] = value;
        }
        result["server_metrics"] = server;
        result["complete"] = senders_done && run.accepted == run.posted && run.matched == run.accepted &&
                             run.misrouted == 0 && run.bad_data == 0;
        result["errors"] = errors.to_json();
        for (auto& s : subscribers) s.ua.reset();
      },
      [&io](std::exception_ptr error) {
        io.stop();  // the run is over: leftover timers (progress, watchdog) must not hold it
        if (error) std::rethrow_exception(error);
      });
  io.run();
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  const Target target = parse_target(options.server);

  // Descriptors: one per connection, plus a few. Without enough, say so before starting.
  const std::uint64_t fd_limit = raise_own_fd_limit();
  const std::uint64_t needed =
      (options.mode == "idle" ? options.connections : options.subscribers + options.http_connections) + 64;
  if (needed > fd_limit) {
    std::cerr << "push_load: needs " << needed << " file descriptors, RLIMIT_NOFILE allows " << fd_limit
              << " (raise it with ulimit -n)\n";
    return 1;
  }

  // Watchdog: whatever happens, the process ends. The run's own deadlines come well before; the
  // timer reports a partial result, the alarm is the last resort.
  const double budget = options.connect_timeout_s + options.duration_s + options.drain_s + 2 * options.settle_s + 120;
  alarm(static_cast<unsigned>(budget + 30));

  asio::io_context io(1);
  asio::steady_timer watchdog(io, std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(budget)));
  bool timed_out = false;
  watchdog.async_wait([&](const beast::error_code& ec) {
    if (ec) return;
    timed_out = true;
    std::cerr << "push_load: run budget of " << budget << " s exceeded, stopping\n";
    io.stop();
  });

  json::object result = options.mode == "idle" ? run_idle(io, options, target) : run_throughput(io, options, target);
  if (timed_out) {
    result["complete"] = false;
    result["aborted"] = "run budget exceeded";
  }
  result["server"] = target.host;
  result["server_pid"] = options.server_pid;
  result["generator_fd_limit"] = fd_limit;
  std::cout << json::serialize(result) << std::endl;
  return 0;
}
