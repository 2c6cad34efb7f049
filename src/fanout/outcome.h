// What a push service's answer means for one message, and when to try again.
//
// RFC 8030 §5 and the push services' documented behaviour, as the fan-out acts on them:
//   2xx                  sent
//   404, 410             gone: the subscription expired or was unsubscribed; delete it
//   401, 403             rejected: the push service refuses our VAPID signature or key. A
//                        configuration error, not a property of this subscription: stop sending
//                        to that push service and say so loudly.
//   429, 5xx             retry later, honouring Retry-After
//   408                  retry (the service timed out waiting for us)
//   400, 413, other 4xx  failed for this message; the reason is "http_<status>"
//   no answer            transport: connection refused or reset, timeout: retry; repeated
//                        connection failures open the origin's circuit breaker
//   bad certificate      failed as "tls_error", not retried: it does not fix itself, and the
//                        sender stops contacting that origin (like a rejected VAPID key)
//
// Pure functions and two small classes; no I/O, no clock of their own (callers pass the time).
// Thread safety: CircuitBreaker and OriginPacer are used by one thread at a time; the functions
// are safe anywhere.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flashwire::fanout {

using Millis = std::chrono::milliseconds;

enum class OutcomeKind : std::uint8_t { kSent, kGone, kFailed, kRetry, kRejected };

struct Outcome {
  OutcomeKind kind = OutcomeKind::kFailed;
  std::string reason;                 // for kFailed/kRetry/kRejected: "http_413", "transport", …
  std::optional<Millis> retry_after;  // kRetry with a usable Retry-After
};

// The meaning of an HTTP answer. `retry_after` is the raw Retry-After header value (empty when
// absent): delta-seconds or an HTTP-date, read against `now_unix_seconds`.
Outcome classify_response(long status, std::string_view retry_after, std::int64_t now_unix_seconds);

// Kinds of transport failure, as the sender sees them.
enum class TransportFailure : std::uint8_t {
  kConnect,  // refused, unreachable, TLS handshake failed, name not resolved
  kTimeout,  // no complete answer in time
  kBroken,   // connection reset or closed mid-request, nothing or garbage received
  kTls,      // the service's certificate does not verify (untrusted, expired, wrong name)
};
Outcome classify_transport(TransportFailure failure);

// Retry-After (RFC 9110 §10.2.3): delay-seconds, or an IMF-fixdate. nullopt when unparseable.
// A date in the past gives 0.
std::optional<Millis> parse_retry_after(std::string_view value, std::int64_t now_unix_seconds);

struct BackoffPolicy {
  Millis base{500};   // first retry waits about this long
  Millis cap{60000};  // no computed wait is longer (Retry-After may be, within the TTL)
};

// The wait before retry number `attempt` (1 for the first retry): exponential from `base`,
// capped, with "full jitter" drawn from `jitter` in [0, 1) over the upper half of the interval
// so that thousands of messages retried at once do not return at once. A Retry-After, when
// given, is the minimum.
Millis backoff_delay(int attempt, std::optional<Millis> retry_after, double jitter,
                     const BackoffPolicy& policy = {});

// Per push-service origin: after `threshold` consecutive connection failures the breaker opens
// and nothing is sent to that origin for a cool-down that doubles each time it reopens (up to
// `max_cooldown`); after the cool-down one message is let through (half-open); a success closes
// it again.
class CircuitBreaker {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  explicit CircuitBreaker(int threshold = 5, Millis first_cooldown = Millis(1000),
                          Millis max_cooldown = Millis(60000))
      : threshold_(threshold), first_cooldown_(first_cooldown), max_cooldown_(max_cooldown) {}

  // Whether a message may go now; when not, `reopen_at` says when to ask again.
  bool allows(TimePoint now, TimePoint* reopen_at);
  void record_success();
  void record_failure(TimePoint now);
  // A request lost with its connection after it was sent (kBroken): the origin was reachable,
  // so this counts only against a half-open breaker's trial. Over HTTP/2 one lost connection
  // ends a hundred requests at once, which must not read as a hundred failures in a row.
  void record_broken(TimePoint now);
  bool is_open(TimePoint now) const { return failures_ >= threshold_ && now < open_until_; }
  int times_opened() const { return times_opened_; }

 private:
  int threshold_;
  Millis first_cooldown_;
  Millis max_cooldown_;
  int failures_ = 0;
  bool trial_in_flight_ = false;
  int times_opened_ = 0;
  Millis cooldown_{0};
  TimePoint open_until_{};
};

// How fast requests may start to one push-service origin (quota-aware pacing).
//
// A token bucket whose rate is, at first, the static cap (`[fanout] origin_rate_limit`) or none
// at all. When the service throttles (429, or 503 with Retry-After — Mozilla's way), the rate
// drops to `decrease` × the lower of the current rate (or, with none yet, the rate requests were
// started at) and the rate the service accepted lately — at most once per `hold`, since the answers
// to requests already on their way say nothing new — and it climbs back by `increase` × (the rate
// set at that drop) per second of answers without a throttle (additive increase, multiplicative
// decrease), never above the cap nor below a quarter of the best rate the service accepted
// lately. A Retry-After of `long_pause` or more pauses the whole origin
// until then (a service saying "come back in two minutes" is down, not over a per-second quota);
// shorter ones only delay the message they came with (the pipeline's backoff).
//
// A sender starved of CPU (a loaded machine) must not read its own slowness as the service's
// quota. Two things keep it from that:
// - Gaps between the pacer's calls longer than `stall` are left out of the measured time: the
//   sender was not running (or had nothing to do), which says nothing about what the service
//   takes. A sender that ran 50 ms out of 300 is measured over those 50 ms.
// - A throttle after `recovery_memory` without one remembers `decrease` × the best rate the
//   service accepted before it. While the rate is below that, every accepted answer raises it by
//   `recovery_per_answer` requests per second (a second of answers at least doubles it; it climbs
//   as fast as answers are read, not as the clock runs); above it the additive increase goes on. A
//   throttle within `recovery_memory` of the last one forgets it: the quota is right there.
struct PacerPolicy {
  double cap_per_second = 0;  // static cap; 0: none
  double decrease = 0.85;     // factor applied on a throttle
  double increase = 0.05;     // per second, as a share of the rate set at the last drop
  double min_per_second = 1;  // the rate never drops below this
  // …nor below this share of the best rate the service accepted lately (that best decays by
  // `best_decay` a second): a service that throttles a share of requests whatever the pace
  // would otherwise be paced down to nothing.
  double floor_share = 0.25;
  double best_decay = 0.02;
  Millis hold{500};         // after a drop, throttles are not counted again for this long
  Millis long_pause{5000};  // Retry-After at least this long pauses the origin
  Millis stall{100};        // longer gaps between calls are not measured time
  Millis recovery_memory{5000};
  double recovery_per_answer = 1.0;
};

class OriginPacer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Policy = PacerPolicy;
  explicit OriginPacer(Policy policy = {});

  // Whether a request may start now (and takes its token); when not, `next` says when to ask
  // again.
  bool try_take(TimePoint now, TimePoint* next);
  // An accepted answer (2xx, 404, 410: the service took the request).
  void on_accepted(TimePoint now);
  // How many requests may start now (without taking them); SIZE_MAX when unlimited.
  std::size_t available(TimePoint now);
  // A throttle answer; `retry_after` as parsed from its header.
  void on_throttled(TimePoint now, std::optional<Millis> retry_after);
  // The current rate limit in requests per second; 0: none.
  double rate() const { return rate_; }
  int drops() const { return drops_; }

 private:
  void refill(TimePoint now);
  Policy policy_;
  double rate_;  // 0: unlimited
  double tokens_ = 0;
  double drop_base_ = 0;  // the rate set at the last drop
  TimePoint refilled_{};
  TimePoint last_drop_{};
  TimePoint last_climb_{};
  TimePoint paused_until_{};
  TimePoint last_event_{};  // the last call, for gaps (stall)
  double recover_to_ = 0;   // fast recovery up to this rate (0: none)
  bool started_ = false;
  int drops_ = 0;
  // Requests started and answers accepted per second, over whole one-second windows (negative:
  // not measured yet).
  void roll_window(TimePoint now);
  TimePoint window_start_{};
  std::uint64_t window_sent_ = 0;
  std::uint64_t window_accepted_ = 0;
  double sent_per_second_ = -1;
  double accepted_per_second_ = -1;
  double best_accepted_ = 0;  // per second, decaying
};

}  // namespace flashwire::fanout
