// The fan-out's transports: what carries a push message to a push service, behind one interface
// so that the sender (fanout/pipeline.cc) only schedules — which message goes when, per-origin
// caps, the breaker, retries — and never speaks HTTP itself.
//
//   make_http1_transport   cleartext http://, the built-in HTTP/1.1 client (http1_client.h)
//   make_h2_transport      https://, the built-in HTTP/2-over-TLS client (h2_client.h)
//   make_curl_transport    either, through libcurl multi (HTTP/2 by ALPN or HTTP/1.1)
//
// A request is submitted with a tag and comes back once, as a completion with that tag: an HTTP
// status, or a TransportFailure with a one-line error. A transport re-sends a request by itself
// only when the service provably did not process it (HTTP/2 REFUSED_STREAM or above GOAWAY's
// last stream id, HTTP/1.1 requests written behind a "Connection: close" answer); every other
// failure is the caller's to act on.
//
// Thread safety: none; one transport per sender thread. Errors: the factories return them as
// values (no descriptor left, no TLS context); nothing here throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "common/error.h"
#include "fanout/outcome.h"
#include "fanout/request_headers.h"
#include "fanout/tls_trust.h"
#include "webpush/bytes.h"

namespace flashwire::fanout {

struct TransportRequest {
  std::uint64_t tag = 0;
  std::string origin;    // "scheme://authority", as PushHostPolicy::check returns it
  std::string endpoint;  // the whole URL
  std::string path;      // its request target on the origin (checked: no spaces or controls)
  const RequestHeaders* headers = nullptr;  // read during submit(); its forms are shared
  webpush::Bytes body;
};

struct TransportCompletion {
  std::uint64_t tag = 0;
  int status = 0;  // the final HTTP status, when failure is empty
  std::string retry_after;
  std::optional<TransportFailure> failure;
  std::string error;  // with failure: what went wrong, for an operator (may be empty)
};

class Transport {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Transport() = default;
  // Queues a request; nothing is sent before poll(). Request timeouts count on the transport's
  // own (real, steady) clock: they time sockets, which a test clock cannot move.
  virtual void submit(TransportRequest request) = 0;
  // Sends what is queued, reads what arrived, appends finished requests to `done`. Waits at most
  // `timeout_ms` for the network (0: not at all) — or, with `extra_fd` >= 0, until that
  // descriptor polls readable (a way to wait for several transports at once).
  virtual void poll(int timeout_ms, int extra_fd, std::vector<TransportCompletion>& done) = 0;
  // Requests submitted and not yet completed.
  virtual std::size_t active() const = 0;
  // A descriptor that polls readable when poll() has socket work; -1 if there is none to give
  // (libcurl): the caller then waits through this transport's poll() with its own descriptor as
  // `extra_fd`.
  virtual int wait_fd() const = 0;
};

struct TransportOptions {
  long connections_per_origin = 32;
  std::size_t http1_pipeline_depth = 1;
  std::size_t max_in_flight = 256;  // libcurl: easy handles kept
  Millis request_timeout{30000};
  Millis connect_timeout{10000};
  std::shared_ptr<const CaCertificates> extra_ca;
  Millis ping_after{15000};   // HTTP/2: PING a connection silent this long (0: never)
  Millis ping_timeout{5000};  // …closed as dead without the acknowledgement by then
};

// Errors: kUnavailable (no descriptor, no TLS context, no libcurl handle: the process is out of
// a resource) with a one-line message.
tl::expected<std::unique_ptr<Transport>, Error> make_http1_transport(
    const TransportOptions& options);
tl::expected<std::unique_ptr<Transport>, Error> make_h2_transport(const TransportOptions& options);
tl::expected<std::unique_ptr<Transport>, Error> make_curl_transport(
    const TransportOptions& options);

// Call once before any thread makes a libcurl transport (libcurl's global initialisation).
void init_curl();

}  // namespace flashwire::fanout
