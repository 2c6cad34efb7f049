// The fan-out pipeline: one payload to every subscription a TargetSource yields.
//
//   TargetSource ─shards→ sender threads: encrypt (RFC 8291) → sign (RFC 8292, cached per
//   origin) → POST (RFC 8030: https:// through the built-in HTTP/2 client, fanout/h2_client.h,
//   with HTTP/1.1 over TLS where a service offers no h2, or libcurl multi; cleartext http://
//   through the built-in HTTP/1.1 client, fanout/http1_client.h) → outcome (fanout/outcome.h) →
//   ProgressSink, once per completed shard.
//
// - Every sender thread claims whole shards from the source, keeps at most `max_open_shards`
//   of them and `concurrency / threads` requests in flight, so memory stays bounded whatever
//   the audience size. While messages wait for a paced or saturated origin and requests to
//   others could go out, a thread reads further shards, up to `max_parked_messages` waiting:
//   a slow push service does not hold up the others. A shard is reported to the sink when every message in it has an
//   outcome; the sink makes that durable (or only counts it, for file-based runs).
// - Only origins that PushHostPolicy allows are ever contacted; a target on any other host
//   fails with "host_not_allowed" without a request.
// - Each origin has its own pace (OriginPacer in fanout/outcome.h: a static cap if configured,
//   lowered on 429s and raised again on good answers) and its own queue: messages to an origin
//   that is paced, saturated or down wait in that queue, and the others go on.
// - Retries (429/5xx/timeouts/resets) back off exponentially with jitter, honour Retry-After,
//   and never go past the message's deadline (the alert's TTL): the TTL header carries the time
//   that is left, so a late retry does not extend the alert's life.
// - Vendor limits are checked before sending: a message over `max_message_bytes` fails as
//   "message_too_large", and a VAPID subject Apple refuses fails the messages to Apple's origin
//   as "vapid_subject_rejected", each without a request and reported once.
// - A 401/403, or a certificate that does not verify, stops all sending to that origin for the
//   rest of the run and is reported once through ProgressSink::problem.
// - Cancelling (the `cancel` flag) stops claiming and sending; requests in flight are abandoned
//   and their shards left open.
//
// Thread safety: run_pipeline blocks its caller and runs `threads` threads of its own. It calls
// the source and the sink from those threads one call at a time (they need no locking of their
// own); LiveCounters are updated from all of them at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "fanout/outcome.h"
#include "fanout/tls_trust.h"
#include "news/push_service.h"
#include "store/delivery_store.h"
#include "webpush/bytes.h"
#include "webpush/push_hosts.h"
#include "webpush/random.h"
#include "webpush/vapid.h"

namespace flashwire::fanout {

// One subscription to send to. Keys are as stored (base64url); they are imported and validated
// when the message is encrypted, so a bad stored key fails one message, not the run.
struct Target {
  std::int64_t id = 0;  // subscription id (or line number, for file sources)
  std::string endpoint;
  std::string p256dh;
  std::string auth;
  // The push service hosting the endpoint, classified once by the source (news/push_service.h):
  // the shard's counts split targeted and accepted by it.
  news::PushServiceKind service = news::PushServiceKind::kOther;
};

struct Shard {
  store::ShardRange range;
  std::vector<Target> targets;
};

class TargetSource {
 public:
  virtual ~TargetSource() = default;
  // The next shard, or nullopt when the audience is exhausted. Errors end the run (their
  // message becomes RunResult::error).
  virtual tl::expected<std::optional<Shard>, Error> next_shard() = 0;
};

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // Every message of `shard` has its outcome. `gone` lists the subscriptions answered 404/410.
  // An error ends the run (the shard stays open and is sent again on resume).
  virtual tl::expected<void, Error> shard_done(
      const Shard& shard, const store::DeliveryCounts& counts,
      const std::vector<store::GoneSubscription>& gone) = 0;
  // A problem an operator must see (a push service rejecting our VAPID key). Once per origin.
  virtual void problem(const std::string& message) = 0;
  // Every HTTP answer to a message of `shard` (retried ones included, in order), only when
  // PipelineOptions::report_answers is set: a one-message run (a test send) reports the push
  // service's status with it. Called like the others, one call at a time.
  virtual void answered(const Target& target, int status) {
    (void)target;
    (void)status;
  }
};

// Running totals for progress bars and /metrics, updated as outcomes arrive (not only per shard).
struct LiveCounters {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> gone{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> retried{0};
  std::atomic<std::uint64_t> requests{0};  // HTTP requests started, retries included
  std::atomic<std::uint64_t> in_flight{0};
};

struct Message {
  webpush::Bytes payload;          // plaintext, at most webpush::kMaxPlaintextSize bytes
  std::int64_t deadline_unix = 0;  // nothing is sent at or after this time (alert start + TTL)
  std::string urgency;             // RFC 8030 Urgency; empty: header left out
  std::string topic;               // RFC 8030 Topic; empty: none
  // TTL 0 (RFC 8030 §5.2: deliver now to a browser that is connected, or drop): every attempt
  // carries "TTL: 0"; deadline_unix then only bounds how long the fan-out keeps sending
  // (kZeroTtlSendWindow after the start).
  bool zero_ttl = false;
};

// How long a fan-out keeps sending an alert with TTL 0: such an alert is about now, so a
// fan-out resumed much later (after a long outage) must not deliver it.
inline constexpr std::int64_t kZeroTtlSendWindowSeconds = 300;

struct PipelineOptions {
  unsigned threads = 0;           // sender threads; 0: one per core it may run on
  std::size_t concurrency = 256;  // requests in flight over all threads
  // The two per-origin caps and `concurrency` are shared out evenly between the threads (each
  // gets cap / threads, at least 1), so with caps smaller than `threads` the total can exceed
  // them by up to threads - 1.
  std::size_t per_origin_in_flight = 256;  // requests in flight to one origin, all threads
  long per_origin_connections = 64;        // connections to one origin, all threads
  std::size_t max_open_shards = 4;         // per thread
  // Messages read ahead, all threads, while some wait for a paced or saturated origin and
  // requests to other origins could go out: a slow push service must not hold up the others,
  // and this bounds what that costs in memory (a few hundred bytes per message).
  std::size_t max_parked_messages = 200000;
  int max_attempts = 6;                    // first try included
  Millis request_timeout{30000};
  Millis connect_timeout{10000};
  BackoffPolicy backoff;
  int breaker_threshold = 5;       // consecutive connection failures that open the breaker
  Millis breaker_cooldown{1000};   // first cool-down; doubles up to a minute
  bool per_broadcast_key = false;  // one sender key per run instead of one per message (opt-in)
  // Cleartext (http://) push services: the built-in HTTP/1.1 client (fanout/http1_client.h)
  // instead of libcurl, with up to `http1_pipeline_depth` requests at once on a connection
  // (1: no pipelining). Pipelining is safe here because every request's outcome is tracked:
  // unanswered ones are sent again, and a repeated alert replaces itself in the browser (its
  // notification tag is the alert id).
  bool builtin_http1 = true;
  std::size_t http1_pipeline_depth = 8;
  // HTTPS push services: the built-in HTTP/2-over-TLS client (fanout/h2_client.h) instead of
  // libcurl. libcurl 7.88 sends some HTTP/2 requests twice on its own (docs/fanout.md).
  bool builtin_https = true;
  // HTTP/2 (built-in client): a connection that has received nothing for `ping_after` is sent a
  // PING; without its acknowledgement within `ping_timeout` it is closed as dead and its
  // unanswered requests are attempts that failed (connection_broken). 0: no PINGs.
  Millis ping_after{15000};
  Millis ping_timeout{5000};
  // HTTPS: CA certificates trusted besides the system's (fanout/tls_trust.h); null: the system
  // store only. A certificate that does not verify fails its messages as "tls_error" and stops
  // all sending to that origin (reported once through ProgressSink::problem).
  std::shared_ptr<const CaCertificates> extra_ca;
  // Requests started per second to one origin, all threads (`[fanout] origin_rate_limit`);
  // 0: no static cap. Either way the pace drops when the origin throttles (429, or 503 with
  // Retry-After) and climbs back on good answers (fanout/outcome.h, OriginPacer).
  double origin_rate_limit = 0;
  // The largest request body a push service takes (`[fanout] max_message_bytes`): 4,096, the
  // record size every vendor accepts (Firefox for Android is reported to take about 3,070). A
  // message whose encrypted body would be larger fails as "message_too_large" without a request
  // (reported once through ProgressSink::problem), instead of a 413 per subscriber.
  std::size_t max_message_bytes = 4096;
  // Call ProgressSink::answered for every HTTP answer (off for fan-outs: it takes the sink's lock
  // per message).
  bool report_answers = false;
};

// Checks made before anything is sent, also by the commands that compose a message: the Topic
// (RFC 8030 §5.4: at most 32 characters of the base64url alphabet). Errors: a one-line message.
tl::expected<void, Error> check_topic(std::string_view topic);

// The encrypted body size of a message with `plaintext_size` bytes (aes128gcm, one record).
std::size_t encrypted_size(std::size_t plaintext_size);

// Apple's push service (web.push.apple.com) answers 403 BadJwtToken to a VAPID subject that is
// a placeholder (an @localhost address, a reserved domain such as .invalid, .test, .example or
// example.com). Empty when `subject` is fine for Apple; otherwise why not.
std::string apple_subject_problem(std::string_view subject);
// Whether an origin is Apple's push service.
bool is_apple_origin(std::string_view origin);

// The Topic header to send to `origin` for a (checked) `topic`. Apple's push service answers
// 400 BadWebPushTopic to topics whose length is 1 more than a multiple of 4 (such a length is
// not valid unpadded base64url, which Apple appears to decode). For Apple such a topic becomes a
// stand-in of 32 base64url characters: the first 24 bytes of SHA-256("flashwire topic\0" +
// topic). The same topic always gives the same stand-in, so a newer alert of an event still
// replaces the older one, and different topics stay different. Any other topic or origin: the
// topic unchanged.
std::string topic_for_origin(std::string_view topic, std::string_view origin);

struct PipelineDeps {
  webpush::VapidTokenCache& vapid;
  const webpush::PushHostPolicy& hosts;
  // The only time the pipeline reads: steady_now() for retries, pacing, the breaker and
  // acceptance latencies; now_seconds()/now_ms() for deadlines and records. (The transports time
  // their sockets on the real steady clock.)
  const Clock& clock;
  // Salts, message keys and retry jitter. Called from every sender thread at once: it must be
  // thread-safe (webpush::system_random() is).
  webpush::RandomSource& random;
};

struct RunResult {
  store::DeliveryCounts counts;  // of the shards completed in this run
  std::uint64_t messages = 0;    // targets taken from the source
  bool cancelled = false;
  std::string error;  // non-empty: the run stopped early (source or sink failure)
};

// Sends `message` to every target of `source`. Blocks until done, cancelled or failed.
RunResult run_pipeline(const Message& message, TargetSource& source, ProgressSink& sink,
                       const PipelineDeps& deps, const PipelineOptions& options,
                       const std::atomic<bool>& cancel, LiveCounters* live = nullptr);

// Call once before any thread uses the pipeline (libcurl's global initialisation).
void init_http_client();

}  // namespace flashwire::fanout
