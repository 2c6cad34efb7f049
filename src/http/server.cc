#include "http/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

namespace flashwire::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Appends the status line and header fields of `response` to `out`, byte for byte as Beast's
// serializer writes them. Written with the body as two buffers, this costs a small part of what
// beast::http::async_write does: its serializer walks every field as a buffer of its own, again
// on every partial write.
void append_header(const Response& response, std::string& out) {
  const unsigned version = response.version();
  const unsigned code = response.result_int();
  char start[] = "HTTP/1.1 200 ";
  start[5] = static_cast<char>('0' + version / 10);
  start[7] = static_cast<char>('0' + version % 10);
  start[9] = static_cast<char>('0' + code / 100);
  start[10] = static_cast<char>('0' + code / 10 % 10);
  start[11] = static_cast<char>('0' + code % 10);
  out.append(start, sizeof start - 1);
  out.append(response.reason());
  out.append("\r\n");
  for (const auto& field : response) {
    out.append(field.name_string());
    out.append(": ");
    out.append(field.value());
    out.append("\r\n");
  }
  out.append("\r\n");
}

// RFC 9112 §6.1 and §6.3: a request whose framing a proxy in front of us might read differently
// is refused and its connection closed, since what follows could be taken for another request
// (request smuggling). Transfer-Encoding is refused on HTTP/1.0, together with Content-Length,
// and unless its last coding is chunked. Returns what is wrong, or an empty view.
std::string_view framing_problem(const Request& request) {
  const auto [first, last] = request.equal_range(beast::http::field::transfer_encoding);
  if (first == last) return {};
  if (request.version() < 11) return "Transfer-Encoding is not allowed in an HTTP/1.0 request";
  if (request.count(beast::http::field::content_length) > 0)
    return "a request must not have both Transfer-Encoding and Content-Length";
  std::string_view last_coding;
  for (auto it = first; it != last; ++it) {
    std::string_view rest = it->value();
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string_view coding = rest.substr(0, comma);
      while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t'))
        coding.remove_prefix(1);
      while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t'))
        coding.remove_suffix(1);
      if (!coding.empty()) last_coding = coding;
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  if (!beast::iequals(last_coding, "chunked"))
    return "the last Transfer-Encoding of a request must be chunked";
  return {};
}

}  // namespace

struct Server::State : std::enable_shared_from_this<Server::State> {
  // One io_context connections are served on. Lane 0 is the io_context the server was given;
  // the others are the server's own, each run by one thread of its own.
  struct Lane {
    explicit Lane(asio::io_context& context) : io(context) {}
    asio::io_context& io;
    // Connections of this lane waiting for their next request: stop() closes these at once,
    // while the others finish the request they are answering. Touched on the lane's thread only.
    std::unordered_set<beast::tcp_stream*> waiting;
  };
  struct Worker {
    asio::io_context io{1};  // run by one thread
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    std::thread thread;
  };

  State(asio::io_context& io_context, Handler& h, ServerOptions o)
      : io(io_context), handler(h), options(std::move(o)), acceptor(io_context) {}

  asio::io_context& io;
  Handler& handler;
  ServerOptions options;
  tcp::acceptor acceptor;
  std::atomic<bool> stopped = false;
  std::atomic<std::uint64_t> accepted = 0;
  std::vector<std::unique_ptr<Worker>> workers;
  std::deque<Lane> lanes;  // stable addresses: coroutines hold a Lane&
  std::size_t next_lane = 0;  // the accept loop's, on lane 0's thread
  std::mutex finished_mutex;
  std::condition_variable finished_changed;
  std::size_t workers_finished = 0;
  bool joined = false;
  // Threads for handle() calls that may block (Handler::blocks); made on first use.
  std::mutex blocking_mutex;
  std::unique_ptr<asio::thread_pool> blocking;

  asio::thread_pool::executor_type blocking_executor() {
    const std::lock_guard lock(blocking_mutex);
    if (!blocking) {
      blocking = std::make_unique<asio::thread_pool>(
          std::clamp<unsigned>(options.blocking_threads, 1, ServerOptions::kMaxThreads));
    }
    return blocking->get_executor();
  }

  // Starts the server's own threads: lanes 1 … threads - 1.
  void start_workers() {
    lanes.emplace_back(io);
    for (unsigned i = 1; i < options.threads; ++i) {
      auto worker = std::make_unique<Worker>();
      worker->guard.emplace(worker->io.get_executor());
      lanes.emplace_back(worker->io);
      workers.push_back(std::move(worker));
    }
    for (auto& worker : workers) {
      worker->thread = std::thread([this, w = worker.get()] { run_worker(*w); });
    }
  }

  // A worker thread's body. An exception from a handler is logged and the thread serves on: it
  // must not end the process, nor leave this lane's connections unserved.
  void run_worker(Worker& worker) {
    for (;;) {
      try {
        worker.io.run();
        break;
      } catch (const std::exception& e) {
        std::cerr << "http: a request failed: " << exception_message(e) << "\n";
      } catch (...) {
        std::cerr << "http: a request failed\n";
      }
    }
    {
      std::lock_guard lock(finished_mutex);
      ++workers_finished;
    }
    finished_changed.notify_all();
  }

  // Stops every worker's io_context and joins its thread. Idempotent.
  void join_workers() {
    if (joined) return;
    joined = true;
    for (auto& worker : workers) worker->io.stop();
    for (auto& worker : workers) {
      if (worker->thread.joinable()) worker->thread.join();
    }
    // A blocking handle() in progress finishes (the handler must not be called once this
    // returns); those not started are dropped, and their connections with them.
    std::unique_ptr<asio::thread_pool> pool;
    {
      const std::lock_guard lock(blocking_mutex);
      pool = std::move(blocking);
    }
    if (pool) {
      pool->stop();
      pool->join();
    }
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();  // keeps the state alive while the loop runs
    while (!stopped) {
      Lane& lane = lanes[next_lane++ % lanes.size()];
      auto [ec, socket] = co_await acceptor.async_accept(lane.io, kNoThrow);
      if (ec) {
        if (ec == asio::error::operation_aborted || stopped) break;
        // EMFILE and friends: keep serving the connections we have, try again shortly.
        asio::steady_timer pause(io, std::chrono::milliseconds(50));
        co_await pause.async_wait(kNoThrow);
        continue;
      }
      ++accepted;
      asio::co_spawn(lane.io, serve(std::move(socket), lane), asio::detached);
    }
  }

  // `head`: the request was HEAD. Framing (RFC 9110 §6.4.1, §8.6, §15.3.5, §15.4.5): 1xx, 204
  // and 304 answers have neither a body nor a Content-Length; a HEAD answer has no body and the
  // Content-Length a GET would have (the handler's, or its body's size); every other answer has
  // its body's Content-Length.
  asio::awaitable<void> write(beast::tcp_stream& stream, Response& response, bool keep_alive,
                              bool head = false) {
    response.set(beast::http::field::server, options.server_name);
    response.keep_alive(keep_alive);
    const unsigned code = response.result_int();
    if (code < 200 || code == 204 || code == 304) {
      response.body().clear();
      response.erase(beast::http::field::content_length);
      response.erase(beast::http::field::transfer_encoding);
    } else if (head) {
      if (!response.body().empty() || !response.has_content_length()) {
        response.content_length(response.body().size());
      }
      response.body().clear();
    } else {
      response.prepare_payload();
    }
    std::string header;
    header.reserve(1024);
    append_header(response, header);
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(header),
                                                    asio::buffer(response.body())};
    stream.expires_after(options.idle_timeout);
    co_await asio::async_write(stream, buffers, kNoThrow);
  }

  asio::awaitable<void> serve(tcp::socket socket, Lane& lane) {
    auto self = shared_from_this();
    beast::error_code endpoint_error;
    const auto remote = socket.remote_endpoint(endpoint_error);
    const std::string peer = endpoint_error ? std::string() : remote.address().to_string();
    // The client's address as handlers see it: worked out once per connection, unless the peer
    // is a trusted proxy, whose forwarding header is read with every request.
    const bool via_proxy = !endpoint_error && options.trusted_proxies.trusts(remote.address());
    const std::string direct_client =
        endpoint_error ? std::string()
                       : options.trusted_proxies.client_address(remote.address(), {});
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      if (stopped) break;
      beast::http::request_parser<beast::http::string_body> parser;
      parser.header_limit(options.max_header_bytes);
      parser.body_limit(options.max_body_bytes);
      stream.expires_after(options.idle_timeout);
      lane.waiting.insert(&stream);
      auto [ec, bytes] = co_await beast::http::async_read(stream, buffer, parser, kNoThrow);
      lane.waiting.erase(&stream);
      if (ec == beast::http::error::body_limit) {
        Response response =
            json_error(Status::payload_too_large, "payload_too_large",
                       "request body exceeds " + std::to_string(options.max_body_bytes) + " bytes");
        co_await write(stream, response, false);
        break;
      }
      if (ec == beast::http::error::end_of_stream || ec == asio::error::eof ||
          ec == beast::error::timeout || ec == asio::error::connection_reset ||
          ec == asio::error::operation_aborted) {
        break;
      }
      if (ec) {  // malformed request line, headers, chunking, or header too large
        Response response = json_error(Status::bad_request, "bad_request",
                                       "malformed HTTP request: " + ec.message());
        co_await write(stream, response, false);
        break;
      }
      Request request = parser.release();
      if (const std::string_view problem = framing_problem(request); !problem.empty()) {
        Response response = json_error(Status::bad_request, "bad_request", problem);
        co_await write(stream, response, false);
        break;
      }
      const RequestContext context{
          via_proxy ? options.trusted_proxies.client_address(remote.address(), request)
                    : direct_client,
          peer};
      if (beast::websocket::is_upgrade(request)) {
        if (handler.accepts_websocket(request)) {
          stream.expires_never();
          handler.start_websocket(std::move(stream), std::move(request));
          co_return;
        }
        Response response =
            json_error(Status::not_found, "not_found", "no WebSocket service at this path");
        co_await write(stream, response, false);
        break;
      }
      if (handler.accepts_stream(request)) {
        stream.expires_never();
        handler.start_stream(std::move(stream), std::move(request), context);
        co_return;
      }
      const bool keep_alive = request.keep_alive() && !stopped;
      Response response;
      if (handler.blocks(request)) {
        // (Not a conditional expression: GCC 12 mishandles co_await inside one.)
        response = co_await asio::co_spawn(
            blocking_executor(),
            [&]() -> asio::awaitable<Response> { co_return handler.handle(request, context); },
            asio::use_awaitable);
      } else {
        response = handler.handle(request, context);
      }
      co_await write(stream, response, keep_alive, request.method() == beast::http::verb::head);
      if (!keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
};

Response json_error(Status status, std::string_view code, std::string_view message) {
  boost::json::object body;
  body["error"] = code;
  body["message"] = message;
  return json_response(status, boost::json::serialize(body));
}

namespace {
std::atomic<std::uint64_t> unavailable_answers{0};
std::atomic<std::int64_t> unavailable_logged_at{-1};  // steady seconds of the last log line
}  // namespace

std::uint64_t storage_unavailable_answers() { return unavailable_answers.load(); }

Response error_answer(ErrorCode kind, std::string_view message) {
  const auto status = static_cast<Status>(http_status(kind));
  if (kind != ErrorCode::kUnavailable) return json_error(status, error_code_name(kind), message);
  unavailable_answers.fetch_add(1);
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t last = unavailable_logged_at.load();
  if ((last < 0 || now - last >= 60) && unavailable_logged_at.compare_exchange_strong(last, now)) {
    std::cerr << "flashwire: storage unavailable, answering 503: " << message << std::endl;
  }
  Response response = json_error(status, "storage", "storage unavailable");
  // Clients (and the newsroom's page) may try again soon: the pool reconnects on the next call.
  response.set(boost::beast::http::field::retry_after, "5");
  return response;
}

Response json_response(Status status, std::string body) {
  Response response(status, 11);
  response.set(boost::beast::http::field::content_type, "application/json");
  response.set(boost::beast::http::field::cache_control, "no-store");
  response.body() = std::move(body);
  return response;
}

Server::Server(asio::io_context& io, Handler& handler, ServerOptions options)
    : state_(std::make_shared<State>(io, handler, std::move(options))) {}

Server::~Server() {
  // Not stop(): the handler may already be gone; its streams are its own to end.
  state_->stopped = true;
  beast::error_code ignored;
  state_->acceptor.close(ignored);
  state_->join_workers();
}

tl::expected<tcp::endpoint, Error> Server::listen(const tcp::endpoint& endpoint) {
  const unsigned threads = state_->options.threads;
  if (threads == 0 || threads > ServerOptions::kMaxThreads) {
    return tl::unexpected(
        Error{ErrorCode::kInvalid, "threads must be from 1 to " +
                                       std::to_string(ServerOptions::kMaxThreads) + ", got " +
                                       std::to_string(threads)});
  }
  if (!state_->lanes.empty()) {
    return tl::unexpected(Error{ErrorCode::kConflict, "the server is listening already"});
  }
  beast::error_code ec;
  auto& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return tl::unexpected(
        Error{ErrorCode::kUnavailable, "cannot listen on " + endpoint.address().to_string() + ":" +
                                           std::to_string(endpoint.port()) + ": " + ec.message()});
  }
  const tcp::endpoint bound = acceptor.local_endpoint(ec);
  state_->start_workers();
  asio::co_spawn(state_->io, state_->accept_loop(), asio::detached);
  return bound;
}

void Server::stop() {
  state_->stopped = true;
  beast::error_code ignored;
  state_->acceptor.close(ignored);
  // Their reads end with operation_aborted; each coroutine then closes its connection. Lane 0 is
  // this thread's (or not running); the others are told on their own threads, and once their
  // connections are done their io_contexts run out of work and their threads end.
  auto& lanes = state_->lanes;
  for (std::size_t i = 0; i < lanes.size(); ++i) {
    State::Lane& lane = lanes[i];
    if (i == 0) {
      for (beast::tcp_stream* stream : lane.waiting) stream->cancel();
      continue;
    }
    State::Worker& worker = *state_->workers[i - 1];
    asio::post(lane.io, [state = state_, &lane, &worker] {
      for (beast::tcp_stream* stream : lane.waiting) stream->cancel();
      worker.guard.reset();
    });
  }
  state_->handler.stop_streams();
}

void Server::join(std::chrono::milliseconds limit) {
  State& state = *state_;
  {
    std::unique_lock lock(state.finished_mutex);
    state.finished_changed.wait_for(
        lock, limit, [&state] { return state.workers_finished == state.workers.size(); });
  }
  state.join_workers();
}

std::uint64_t Server::connections_accepted() const { return state_->accepted; }

unsigned Server::threads() const { return state_->options.threads; }

tl::expected<tcp::endpoint, Error> parse_listen_address(std::string_view text) {
  const auto invalid = [](std::string message) {
    return tl::unexpected(Error{ErrorCode::kInvalid, std::move(message)});
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return invalid("listen address must be HOST:PORT, got '" + std::string(text) + "'");
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  const auto [end, err] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (err != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return invalid("listen port must be a number from 0 to 65535, got '" + std::string(port_text) +
                   "'");
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(std::string(host), ec);
  if (ec) return invalid("listen host must be an IP address, got '" + std::string(host) + "'");
  return tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

}  // namespace flashwire::http
