// A lean HTTP/2-over-TLS client for push services reached over https:// — the browser vendors'
// (FCM, Mozilla, Apple). OpenSSL 3 for TLS, nghttp2 for the HTTP/2 framing and HPACK; sockets
// non-blocking on one epoll descriptor, in the design of fanout/http1_client.h.
//
// - Requests are queued per origin and carried as streams on a few connections per origin (at
//   most `connections_per_origin`), each carrying at most min(`max_streams`, the server's
//   SETTINGS_MAX_CONCURRENT_STREAMS) at once. Nothing is sent on a connection before the
//   server's first SETTINGS; a new connection is opened only when the others are full.
// - Each message once: a request goes again (on another connection, not counted as an attempt)
//   only when the server provably did not process it — a stream reset with REFUSED_STREAM, or
//   one above a GOAWAY's last stream id (nghttp2 closes those with REFUSED_STREAM too) — at most
//   `max_resends` times. Any other end without an answer (reset with another code, connection
//   lost) completes as kBroken: the caller decides, as an attempt. An answer that arrives before
//   the body was sent is the answer: the request completes when the answer is whole, and the rest
//   of the body is not sent (RST_STREAM NO_ERROR, RFC 9113 §8.1).
// - TLS: certificate chain and host name (or IP address) always verified against the system's
//   store plus `extra_ca`. ALPN offers h2 and http/1.1. Sessions are kept per origin and resumed
//   on new connections. A certificate that does not verify fails every request queued for the
//   origin with kTls at once (one handshake, not one per message).
// - HTTP/1.1 fallback: a service that does not select h2 (ALPN absent, or http/1.1) is spoken
//   HTTP/1.1 over the same TLS connection, one request at a time per connection (no pipelining)
//   on at most `http1_connections_per_origin` connections, answers read with the parser of the
//   cleartext client (fanout/http1_answer.h). A connection that ends with a request written on
//   it completes that request as kBroken; one that ends before any byte of it was written sends
//   it again elsewhere. An answer that ends the connection ("Connection: close", or one that
//   arrives before the whole body was written) is the answer, and the connection is closed.
// - Timeouts: `connect_timeout` covers TCP and the TLS handshake; `request_timeout` runs from
//   submit() to the answer (the stream is cancelled with RST_STREAM CANCEL; an HTTP/1.1
//   connection is closed).
// - Liveness: an HTTP/2 connection that has received nothing for `ping_after` is sent a PING;
//   without its acknowledgement within `ping_timeout` the connection is closed as dead, and its
//   streams without an answer complete as kBroken (the service may have processed them). Zero
//   `ping_after`: no PINGs. At most one PING is outstanding per connection, so a busy
//   connection is never pinged and an idle one about once per `ping_after`.
// - Names are resolved once per origin (getaddrinfo, blocking, at its first request).
//
// Thread safety: none; one client per thread. run() is the only call that waits.
// Errors: create() returns an error value (epoll or TLS context unavailable); requests complete
// with a TransportFailure and a one-line `error`; nothing throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include "common/error.h"
#include "fanout/outcome.h"
#include "fanout/tls_trust.h"
#include "webpush/bytes.h"

using SSL_CTX = struct ssl_ctx_st;

namespace flashwire::fanout {

class H2Client {
 public:
  using SteadyClock = std::chrono::steady_clock;
  using TimePoint = SteadyClock::time_point;
  // Request header fields besides the pseudo-headers and content-length; lower-case names.
  using HeaderList = std::vector<std::pair<std::string, std::string>>;

  struct Options {
    long connections_per_origin = 4;
    std::size_t max_streams = 128;  // per connection, when the server allows more
    Millis request_timeout{30000};  // from submit() to the answer
    Millis connect_timeout{10000};  // TCP and TLS handshake
    int max_resends = 5;            // of provably unprocessed requests
    std::shared_ptr<const CaCertificates> extra_ca;
    Millis ping_after{15000};   // HTTP/2: PING a connection silent this long; 0: never
    Millis ping_timeout{5000};  // …and close it if the PING is not acknowledged by then
    long http1_connections_per_origin = 32;  // services that do not speak HTTP/2
  };

  struct Completion {
    std::uint64_t tag = 0;
    int status = 0;  // the final HTTP status, when failure is empty
    std::string retry_after;
    std::optional<TransportFailure> failure;
    std::string error;  // with failure: what went wrong, for an operator
  };

  static tl::expected<std::unique_ptr<H2Client>, Error> create(Options options);
  ~H2Client();  // closes every connection; requests in flight are abandoned
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  // Queues one POST for `origin` ("https://host[:port]"). `headers` are shared by many requests
  // (kept alive until each is sent). `tag` comes back with its completion. Nothing is sent until
  // run().
  void submit(std::uint64_t tag, std::string_view origin, std::string path,
              std::shared_ptr<const HeaderList> headers, webpush::Bytes body, TimePoint now);

  // Sends what is queued, waits at most `timeout_ms` for the network (0: not at all), reads,
  // and appends finished requests to `done`.
  void run(int timeout_ms, std::vector<Completion>& done);

  // Requests submitted and not yet completed.
  std::size_t active() const { return active_; }

  // An epoll descriptor that polls readable when run() has socket work to do.
  int wait_fd() const { return epoll_fd_; }

  // Internal; public only for the C callbacks of nghttp2 and OpenSSL.
  struct Pending;
  struct Connection;
  struct Origin;
  void stream_closed(Connection& c, std::int32_t stream_id, std::uint32_t error_code);
  // The server ended its answer on a stream (END_STREAM after the final status).
  void answer_complete(Connection& c, std::int32_t stream_id);

 private:
  H2Client(Options options, int epoll_fd, SSL_CTX* tls);
  Origin& origin_for(std::string_view origin);
  void pump(Origin& origin, TimePoint now);
  bool open_connection(Origin& origin, TimePoint now);
  void start_stream(Connection& c, std::unique_ptr<Pending> pending);
  void start_http1(Connection& c, std::unique_ptr<Pending> pending);
  void read_http1(Connection& c, const std::uint8_t* data, std::size_t length);
  void on_event(Connection& c, std::uint32_t events);
  void handshake(Connection& c);
  void read_tls(Connection& c);
  void flush(Connection& c);
  // HTTP/2: a PING when the connection has been silent for ping_after; closes it when a PING
  // went unanswered for ping_timeout.
  void check_liveness(Connection& c, TimePoint now);
  void watch(Connection& c, bool writable);
  // Ends a connection. Streams on it that had no answer complete with `failure` (an HTTP/1.1
  // request of which no byte was written goes back to the queue); when the connection never
  // opened, the origin's queue fails with it unless another connection is up.
  void close(Connection& c, TransportFailure failure, const std::string& error);
  void expire(TimePoint now);
  void finish(Pending& p, int status, std::optional<TransportFailure> failure, std::string error);

  Options options_;
  int epoll_fd_ = -1;
  SSL_CTX* tls_ = nullptr;
  std::map<std::string, std::unique_ptr<Origin>, std::less<>> origins_;
  std::vector<std::unique_ptr<Connection>> graveyard_;  // closed during run(), freed at its end
  std::vector<Completion> done_;
  std::vector<Origin*> to_pump_;
  std::size_t active_ = 0;
  TimePoint next_expiry_check_{};
};

}  // namespace flashwire::fanout
