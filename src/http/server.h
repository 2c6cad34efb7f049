// A small HTTP/1.1 server on Boost.Beast: accepts connections, reads requests within limits,
// hands each to a Handler, and hands WebSocket upgrades and streaming responses (Server-Sent
// Events) over to the Handler whole.
//
// The server owns limits and transport errors (oversized headers or bodies, malformed requests,
// idle connections); handlers own meaning. A request over the body limit is answered 413, a
// malformed one 400, both as JSON, without reaching the handler.
//
// Threads (ServerOptions::threads): one acceptor on the io_context the server was given hands
// each new connection, round robin, to one of `threads` io_contexts: the given one and
// `threads - 1` of the server's own, each run by a thread of the server's own. A connection then
// lives on that one io_context, so nothing of it is shared between threads and Asio takes no
// lock for it; every core serves requests, and a single acceptor balances connections evenly
// (SO_REUSEPORT acceptors would spread them by a hash of the peer, and would let a second
// process bind the same port without an error).
//
// Thread safety: run the given io_context on one thread. With threads == 1 (the default) the
// handler runs on that thread only. With threads > 1 the handler is called from several threads
// at once: everything it reaches must be thread-safe. stop() and join() may be called from any
// thread that does not run one of the server's io_contexts.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "common/error.h"
#include "http/client_address.h"

namespace flashwire::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Status = boost::beast::http::status;

struct ServerOptions {
  // Largest request header accepted; larger ones get 431-like treatment (400 and close).
  std::uint32_t max_header_bytes = 8 * 1024;
  // Largest request body accepted; larger ones are answered 413 and the connection closed.
  std::uint64_t max_body_bytes = 64 * 1024;
  // A connection with no complete request within this time is closed.
  std::chrono::seconds idle_timeout{30};
  // Value of the Server header.
  std::string server_name = "flashwire";
  // Peers whose X-Forwarded-For / Forwarded is believed (RequestContext::remote_address); none
  // by default.
  TrustedProxies trusted_proxies;
  // Threads serving connections (see the top of this file), 1 to kMaxThreads.
  unsigned threads = 1;
  // Threads for the requests a handler says may block (Handler::blocks), started with the first
  // such request; 1 to kMaxThreads. More such requests at once wait for a free one.
  unsigned blocking_threads = 2;
  static constexpr unsigned kMaxThreads = 256;
};

// What the server knows about a request beyond its bytes.
struct RequestContext {
  // The client's IP address, e.g. "203.0.113.7", for rate limits and lock-outs: the TCP peer's,
  // or behind a trusted proxy the one it forwarded for (ServerOptions::trusted_proxies).
  std::string remote_address;
  std::string peer_address = {};  // the TCP peer's IP address
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Answers one request. Runs on the server's io_context and must not block for long, unless
  // blocks() said so for this request.
  virtual Response handle(const Request& request, const RequestContext& context) = 0;
  // Whether `request` (a WebSocket upgrade) is for a path this handler serves over WebSocket.
  // By default none is.
  virtual bool accepts_websocket(const Request& /*request*/) const { return false; }
  // Takes over an accepted upgrade: the handler completes the WebSocket handshake on `stream`.
  // Only called after accepts_websocket said true; the default closes the connection.
  virtual void start_websocket(boost::beast::tcp_stream stream, Request /*request*/) {
    boost::beast::error_code ignored;
    stream.socket().close(ignored);
  }

  // Whether answering `request` may block for long (it waits for another service, e.g. a push
  // service): the server then calls handle() for it on a thread of its own small pool
  // (ServerOptions::blocking_threads) and writes the answer from the connection's thread as
  // usual, so the other connections of that thread go on meanwhile. By default none does.
  virtual bool blocks(const Request& /*request*/) const { return false; }

  // Streaming hand-off, for responses that last as long as the client listens (Server-Sent
  // Events). Asked for every request that is not a WebSocket upgrade, before handle(): true
  // means the handler answers `request` itself, on a connection it keeps.
  virtual bool accepts_stream(const Request& /*request*/) const { return false; }
  // Takes over the connection `request` came on. The server has written nothing for it and
  // forgets the connection: the handler writes the whole response (status line and headers
  // included, refusals too), owns `stream` from then on and closes it when done. No timeout is
  // left set on `stream`; bytes the client sent after `request` are dropped (a streaming client
  // sends nothing more). Runs on the server's io_context; must not block.
  virtual void start_stream(boost::beast::tcp_stream stream, Request /*request*/,
                            const RequestContext& /*context*/) {
    boost::beast::error_code ignored;
    stream.socket().close(ignored);
  }
  // Called by Server::stop(): end every stream taken over with start_stream, promptly and
  // cleanly (what was queued may be dropped; the socket is shut down, not reset), and refuse new
  // ones. Not called by ~Server (the handler may be gone by then).
  virtual void stop_streams() {}
};

// A JSON error body {"error": code, "message": message} with the given status.
Response json_error(Status status, std::string_view code, std::string_view message);
// The answer to a failed call, by the one error model (common/error.h): the status from
// http_status(kind) and {"error": error_code_name(kind), "message": message}, except that an
// unavailable dependency answers {"error": "storage", "message": "storage unavailable"} (its
// detail can name internals; it belongs in the log, not in an answer) with Retry-After: 5, and
// is counted (storage_unavailable_answers) and logged to stderr with its detail — the first one
// and then at most one a minute, so an outage does not flood the log. Thread-safe.
Response error_answer(ErrorCode kind, std::string_view message);
// How many answers error_answer gave for an unavailable dependency since start (for /metrics).
std::uint64_t storage_unavailable_answers();
// A JSON response with the given body (already serialised).
Response json_response(Status status, std::string body);

class Server {
 public:
  Server(boost::asio::io_context& io, Handler& handler, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting, and starts the server's own threads. Returns the bound endpoint
  // (port 0 picks a free port), or: kInvalid for a thread count out of range, kConflict when
  // called a second time, kUnavailable when the address cannot be bound (in use, permission
  // denied, not an address of this host); the message is one line naming the address. Call once.
  tl::expected<boost::asio::ip::tcp::endpoint, Error> listen(
      const boost::asio::ip::tcp::endpoint& endpoint);
  // Stops accepting new connections, closes the connections waiting for a request (idle
  // keep-alive ones included) and asks the handler to end its streams (Handler::stop_streams).
  // A connection answering a request finishes that answer, then closes. Once they have, the
  // server holds no more work on the io_context (io_context::run returns), and its own threads
  // end (see join()).
  void stop();
  // After stop(): waits up to `limit` for the server's own threads to finish the answers in
  // progress, then abandons what is left (the connections close) and joins them. From then on no
  // thread of the server calls the handler. The destructor does it with no wait if it was not
  // done. Nothing to do with threads == 1.
  void join(std::chrono::milliseconds limit);

  // Connections accepted so far (HTTP; WebSockets and streams belong to the handler). Any thread.
  std::uint64_t connections_accepted() const;
  // Threads serving connections (ServerOptions::threads).
  unsigned threads() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// Parses "host:port" ("127.0.0.1:8090", "[::1]:8090"). kInvalid, with a message naming the
// problem, for anything else.
tl::expected<boost::asio::ip::tcp::endpoint, Error> parse_listen_address(std::string_view text);

}  // namespace flashwire::http
