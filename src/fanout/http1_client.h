// A lean HTTP/1.1 client for push services reached over cleartext http:// — Flashwire's own push
// service on the same host or network. The fan-out's HTTPS traffic (HTTP/2 to the browser
// vendors' services) stays on libcurl; this client exists because for a cleartext keep-alive
// POST libcurl's per-request work (connection-cache checks, liveness polls, poll() over every
// connection) cost more CPU than the request itself.
//
// - Requests are complete byte strings (head and body) built by the caller, queued per origin
//   and written to keep-alive connections: at most `connections_per_origin` per origin, each
//   carrying at most `pipeline_depth` requests at once (1: one request at a time; more: HTTP/1.1
//   pipelining, answers in order). Requests queued while a connection is busy are written
//   together with one send.
// - Answers are parsed with Beast's HTTP parser (Content-Length, chunked, close-delimited); the
//   body is discarded, the status and Retry-After are kept. 1xx interim answers are skipped.
// - A connection ends when the service says "Connection: close" (requests written behind that
//   answer were never read: they are written again on another connection, without counting as
//   an attempt, and that origin is no longer pipelined to), on EOF, reset or a malformed answer
//   (every request written on it completes with kBroken; a refused connect gives kConnect, one
//   that takes longer than `connect_timeout` kTimeout), or when its oldest request passes
//   `request_timeout` (kTimeout). Requests queued on a connection and not yet written when it
//   ends go to another one. A request still waiting for a connection also times out.
// - A connection that sat idle for `idle_check` is peeked at before reuse, so one the service
//   closed while nothing was being sent (its keep-alive timeout) is not handed a request.
// - Names are resolved once per origin (getaddrinfo, blocking, at the origin's first request).
//
// Thread safety: none; one client per thread. run() is the only call that waits.
// Errors: create() returns them as values; requests complete with a TransportFailure; nothing
// throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "common/error.h"
#include "fanout/outcome.h"

namespace flashwire::fanout {

class Http1Client {
 public:
  using SteadyClock = std::chrono::steady_clock;
  using TimePoint = SteadyClock::time_point;

  struct Options {
    long connections_per_origin = 32;
    std::size_t pipeline_depth = 1;
    Millis request_timeout{30000};  // from submit() to the whole answer
    Millis connect_timeout{10000};
    std::size_t max_response_bytes = 64 * 1024;  // head and body of one answer
    // A connection idle this long is checked (a non-blocking peek) before it carries another
    // request: a service that closed it meanwhile would otherwise fail that request.
    Millis idle_check{1000};
  };

  struct Completion {
    std::uint64_t tag = 0;
    int status = 0;  // the final HTTP status, when failure is empty
    std::string retry_after;
    std::optional<TransportFailure> failure;
  };

  // Errors: kUnavailable when there is no epoll descriptor (the process is out of them).
  static tl::expected<std::unique_ptr<Http1Client>, Error> create(Options options);
  ~Http1Client();  // closes every connection; requests in flight are abandoned
  Http1Client(const Http1Client&) = delete;
  Http1Client& operator=(const Http1Client&) = delete;

  // Queues one request for `origin` ("http://host[:port]", as PushHostPolicy::check returns
  // it). `request` is the whole request: head, blank line, body. `tag` comes back with its
  // completion. Nothing is written until run().
  void submit(std::uint64_t tag, std::string_view origin, std::string request, TimePoint now);

  // Writes what is queued, waits at most `timeout_ms` for the network (0: not at all; less if a
  // request's timeout falls sooner), reads, and appends finished requests to `done`.
  void run(int timeout_ms, std::vector<Completion>& done);

  // Requests submitted and not yet completed.
  std::size_t active() const { return active_; }

  // An epoll descriptor that polls readable when run() has socket work to do; for waiting on
  // this client together with others (curl_multi_poll's extra descriptors).
  int wait_fd() const { return epoll_fd_; }

 private:
  struct Pending;
  struct Connection;
  struct Origin;

  Http1Client(Options options, int epoll_fd);
  Origin& origin_for(std::string_view origin);
  void pump(Origin& origin, TimePoint now);
  Connection* open_connection(Origin& origin, TimePoint now);
  void flush(Connection& connection);
  void on_readable(Connection& connection);
  void on_connected(Connection& connection);
  // Ends a connection: every request on it completes with `failure`, except those `requeue`
  // keeps (written again elsewhere).
  void close(Connection& connection, std::optional<TransportFailure> failure,
             std::size_t requeue_from = SIZE_MAX);
  void watch(Connection& connection, bool writable);
  void expire(TimePoint now);
  void finish(std::uint64_t tag, int status, std::string retry_after,
              std::optional<TransportFailure> failure);

  Options options_;
  int epoll_fd_ = -1;
  std::map<std::string, std::unique_ptr<Origin>, std::less<>> origins_;
  std::vector<Connection*> dirty_;                      // connections with bytes to write
  std::vector<std::unique_ptr<Connection>> graveyard_;  // closed during run(), freed at its end
  std::vector<Completion> done_;
  std::size_t active_ = 0;
  TimePoint next_expiry_check_{};
};

namespace detail {

// The answer parsing of one Http1Client connection on bytes alone, for the fuzz target
// (tests/fuzz/http1_answer_fuzz.cc): `bytes` arrive in pieces of at most `piece` bytes (at
// least 1) on a connection that has written `requests` requests. Parsing stops at a malformed
// answer, an answer to nothing asked, or one that ends the connection, as Http1Client does.
struct ParsedAnswers {
  struct Answer {
    int status = 0;
    std::string retry_after;
  };
  std::vector<Answer> answers;  // complete final answers, in order
  bool broken = false;          // malformed, or more answers than requests
  bool closed = false;          // an answer ended the connection (not keep-alive, or 101)
};
ParsedAnswers parse_answers_for_fuzzing(std::string_view bytes, std::size_t requests,
                                        std::size_t piece, std::size_t max_response_bytes);

}  // namespace detail
}  // namespace flashwire::fanout
