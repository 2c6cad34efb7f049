#include "fanout/pipeline.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <boost/url/parse.hpp>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <random>
#include <set>
#include <thread>

#include "common/cores.h"
#include "common/error.h"
#include "fanout/http1_client.h"
#include "webpush/message.h"

namespace flashwire::fanout {

void init_http_client() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

namespace {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

// What all sender threads of one run share.
struct RunShared {
  RunShared(const Message& message_in, TargetSource& source_in, ProgressSink& sink_in,
            const PipelineDeps& deps_in, const PipelineOptions& options_in,
            const std::atomic<bool>& cancel_in, LiveCounters* live_in)
      : message(message_in),
        source(source_in),
        sink(sink_in),
        deps(deps_in),
        options(options_in),
        cancel(cancel_in),
        live(live_in),
        started(SteadyClock::now()) {}

  const Message& message;
  TargetSource& source;
  ProgressSink& sink;
  const PipelineDeps& deps;
  const PipelineOptions& options;
  const std::atomic<bool>& cancel;
  LiveCounters* live;
  TimePoint started;
  std::optional<webpush::P256KeyPair> broadcast_key;

  std::mutex source_mutex;  // one claim at a time: sources need not be thread-safe
  std::mutex sink_mutex;    // likewise for the sink
  std::mutex mutex;         // guards everything below
  std::set<std::string, std::less<>> rejected_origins;
  std::atomic<bool> any_rejected{false};
  std::atomic<bool> stop{false};  // a source or sink failure
  std::string error;
  store::DeliveryCounts counts;
  std::uint64_t messages = 0;

  bool is_rejected(const std::string& origin) {
    if (!any_rejected.load(std::memory_order_relaxed)) return false;
    std::lock_guard lock(mutex);
    return rejected_origins.contains(origin);
  }
  // True the first time an origin is rejected.
  bool reject(const std::string& origin) {
    std::lock_guard lock(mutex);
    any_rejected = true;
    return rejected_origins.insert(origin).second;
  }
  void fail(std::string why) {
    std::lock_guard lock(mutex);
    if (error.empty()) error = std::move(why);
    stop = true;
  }
};

void bump(std::atomic<std::uint64_t> LiveCounters::*member, LiveCounters* live,
          std::int64_t delta = 1) {
  if (live != nullptr) (live->*member).fetch_add(static_cast<std::uint64_t>(delta));
}

struct OpenShard {
  Shard shard;
  std::size_t outstanding = 0;
  store::DeliveryCounts counts;
  std::vector<store::GoneSubscription> gone;
};

struct Job {
  OpenShard* shard = nullptr;
  std::size_t index = 0;  // into shard->shard.targets
  std::string origin;
  int attempt = 0;  // retries so far
  TimePoint due{};
};

struct LaterFirst {
  bool operator()(const Job& a, const Job& b) const { return a.due > b.due; }
};

// One request's easy handle and buffers, reused from request to request so that libcurl keeps
// its connection cache and nothing is allocated per message beyond the body and headers.
struct Slot {
  CURL* easy = nullptr;
  bool http1 = false;  // in flight on the built-in HTTP/1.1 client, not libcurl
  Job job;
  webpush::Bytes body;
  std::shared_ptr<curl_slist> headers;  // shared with the origin's cache while it is current
  std::string retry_after;
  ~Slot() {
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

std::size_t discard_body(char*, std::size_t size, std::size_t count, void*) { return size * count; }

std::size_t capture_retry_after(char* data, std::size_t size, std::size_t count, void* user) {
  const std::size_t n = size * count;
  constexpr std::string_view kName = "retry-after:";
  if (n > kName.size()) {
    bool match = true;
    for (std::size_t i = 0; i < kName.size() && match; ++i) {
      match = static_cast<char>(std::tolower(static_cast<unsigned char>(data[i]))) == kName[i];
    }
    if (match) static_cast<Slot*>(user)->retry_after.assign(data + kName.size(), n - kName.size());
  }
  return n;
}

std::optional<TransportFailure> transport_failure(CURLcode code) {
  switch (code) {
    case CURLE_OK:
      return std::nullopt;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
      return TransportFailure::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return TransportFailure::kTimeout;
    default:
      return TransportFailure::kBroken;
  }
}

// The request target (path and query) of an endpoint on `origin`.
std::optional<std::string> request_target(const std::string& endpoint, const std::string& origin) {
  std::string target;
  if (endpoint.starts_with(origin)) {
    target = endpoint.substr(origin.size());
  } else {
    auto url = boost::urls::parse_absolute_uri(endpoint);
    if (!url) return std::nullopt;
    target = std::string(url->encoded_target());
  }
  if (target.empty()) target = "/";
  if (target[0] != '/') return std::nullopt;
  // Checked again here because these bytes go straight onto the wire.
  for (const char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return std::nullopt;
    }
  }
  return target;
}

std::size_t latency_bucket(std::int64_t ms) {
  const auto& bounds = store::kAcceptLatencyBoundsMs;
  return static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), ms) -
                                  bounds.begin());
}

class Sender {
  struct OriginHeaders;

 public:
  Sender(RunShared& run, std::size_t in_flight_cap, std::size_t per_origin_cap,
         long per_origin_connections, unsigned seed)
      : run_(run),
        in_flight_cap_(std::max<std::size_t>(1, in_flight_cap)),
        per_origin_cap_(std::max<std::size_t>(1, per_origin_cap)),
        rng_(seed),
        http1_(Http1Client::Options{std::max(1L, per_origin_connections),
                                    run.options.http1_pipeline_depth, run.options.request_timeout,
                                    run.options.connect_timeout}) {
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, std::max(1L, per_origin_connections));
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(in_flight_cap_));
    slots_.resize(in_flight_cap_);
    for (Slot& slot : slots_) {
      slot.easy = curl_easy_init();
      configure(slot);
      free_.push_back(&slot);
    }
  }
  ~Sender() {
    for (Slot& slot : slots_) {
      if (slot.easy != nullptr && busy(slot)) {
        // Abandoned (cancel or stop): no longer in flight, as the live gauge must say.
        if (!slot.http1) curl_multi_remove_handle(multi_, slot.easy);
        bump(&LiveCounters::in_flight, run_.live, -1);
      }
    }
    slots_.clear();  // easy handles before the multi handle
    curl_multi_cleanup(multi_);
  }

  void run() {
    while (true) {
      if (run_.cancel.load() || run_.stop.load()) break;
      const TimePoint now = SteadyClock::now();
      refill();
      promote_due(now);
      dispatch(now);
      if (source_done_ && open_.empty()) break;
      wait(now);
      collect();
    }
  }

 private:
  bool busy(const Slot& slot) const {
    return std::find(free_.begin(), free_.end(), &slot) == free_.end();
  }

  void configure(Slot& slot) {
    CURL* e = slot.easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, &slot);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(run_.options.request_timeout.count()));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(run_.options.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, capture_retry_after);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &slot);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "flashwire");
  }

  // Claims shards while this thread has room: bounded by open shards and queued messages.
  void refill() {
    // At least one: with none open, the source is never read and the run never ends.
    const std::size_t max_open = std::max<std::size_t>(1, run_.options.max_open_shards);
    while (!source_done_ && open_.size() < max_open && ready_.size() < in_flight_cap_) {
      auto next = [this] {
        std::lock_guard lock(run_.source_mutex);
        return run_.source.next_shard();
      }();
      if (!next) {
        run_.fail(next.error());
        source_done_ = true;
        return;
      }
      if (!next->has_value()) {
        source_done_ = true;
        return;
      }
      OpenShard& open = open_.emplace_back();
      open.shard = std::move(**next);
      open.outstanding = open.shard.targets.size();
      {
        std::lock_guard lock(run_.mutex);
        run_.messages += open.outstanding;
      }
      if (open.outstanding == 0) {
        finish_shard(open);
        continue;
      }
      // `open` may be finished (and destroyed) by the last complete() below: count first.
      const std::size_t count = open.shard.targets.size();
      for (std::size_t i = 0; i < count; ++i) {
        Job job{&open, i, {}, 0, {}};
        auto origin = run_.deps.hosts.check(open.shard.targets[i].endpoint);
        if (!origin) {
          complete(job, {OutcomeKind::kFailed, "host_not_allowed", std::nullopt});
          continue;
        }
        job.origin = std::move(*origin);
        ready_.push_back(std::move(job));
      }
    }
  }

  void promote_due(TimePoint now) {
    while (!delayed_.empty() && delayed_.top().due <= now) {
      ready_.push_back(delayed_.top());
      delayed_.pop();
    }
  }

  void dispatch(TimePoint now) {
    while (!free_.empty() && !ready_.empty()) {
      Job job = std::move(ready_.front());
      ready_.pop_front();
      const auto waiting = waiting_.find(job.origin);  // map nodes are never erased
      start(std::move(job), now);
      // A job that ended without a request (expired, origin rejected, bad keys) left its
      // origin's in-flight slot unused, and no answer will come to release it: hand the slot
      // to the next job waiting for that origin, or that job waits forever.
      if (waiting != waiting_.end() && !waiting->second.empty() &&
          origin_in_flight_[waiting->first] < per_origin_cap_) {
        ready_.push_front(std::move(waiting->second.front()));
        waiting->second.pop_front();
      }
    }
  }

  void start(Job job, TimePoint now) {
    const Target& target = job.shard->shard.targets[job.index];
    const std::int64_t now_unix = run_.deps.clock.now_seconds();
    if (now_unix >= run_.message.deadline_unix) {
      complete(job, {OutcomeKind::kFailed, "expired", std::nullopt});
      return;
    }
    if (run_.is_rejected(job.origin)) {
      complete(job, {OutcomeKind::kFailed, "vapid_rejected", std::nullopt});
      return;
    }
    std::size_t& origin_in_flight = origin_in_flight_[job.origin];
    if (origin_in_flight >= per_origin_cap_) {
      waiting_[job.origin].push_back(std::move(job));
      return;
    }
    auto keys = webpush::SubscriptionKeys::from_base64url(target.p256dh, target.auth);
    if (!keys) {
      complete(job, {OutcomeKind::kFailed, "invalid_keys", std::nullopt});
      return;
    }
    // Asked last: a half-open breaker's single trial ends only with a request's outcome, so a
    // job granted the trial must become a request. (Encryption and VAPID failures below are the
    // same for every message to an origin, so they never meet an open breaker.)
    auto [breaker, inserted] = breakers_.try_emplace(job.origin, run_.options.breaker_threshold,
                                                     run_.options.breaker_cooldown);
    TimePoint reopen;
    if (!breaker->second.allows(now, &reopen)) {
      job.due = reopen;
      delayed_.push(std::move(job));
      return;
    }
    auto body = run_.broadcast_key ? encryptor_.encrypt_with_sender_key(*run_.broadcast_key, *keys,
                                                                        run_.message.payload)
                                   : encryptor_.encrypt(*keys, run_.message.payload);
    if (!body) {
      complete(job, {OutcomeKind::kFailed, "payload_too_large", std::nullopt});
      return;
    }
    const OriginHeaders* headers = headers_for(job.origin, now_unix);
    if (headers == nullptr) {
      complete(job, {OutcomeKind::kFailed, "vapid_error", std::nullopt});
      return;
    }

    if (use_http1(job.origin)) {
      auto path = request_target(target.endpoint, job.origin);
      if (!path) {
        complete(job, {OutcomeKind::kFailed, "invalid_endpoint", std::nullopt});
        return;
      }
      std::string request;
      request.reserve(path->size() + headers->raw.size() + body->size() + 64);
      request.append("POST ").append(*path).append(" HTTP/1.1\r\n").append(headers->raw);
      request.append("Content-Length: ").append(std::to_string(body->size())).append("\r\n\r\n");
      request.append(reinterpret_cast<const char*>(body->data()), body->size());
      Slot* slot = free_.back();
      free_.pop_back();
      slot->http1 = true;
      ++origin_in_flight;
      const auto tag = static_cast<std::uint64_t>(slot - slots_.data());
      http1_.submit(tag, job.origin, std::move(request), now);
      slot->job = std::move(job);
      bump(&LiveCounters::requests, run_.live);
      bump(&LiveCounters::in_flight, run_.live);
      return;
    }

    Slot* slot = free_.back();
    free_.pop_back();
    slot->http1 = false;
    slot->body = std::move(*body);
    slot->retry_after.clear();
    slot->headers = headers->list;
    curl_slist* h = slot->headers.get();
    curl_easy_setopt(slot->easy, CURLOPT_URL, target.endpoint.c_str());
    // Over TLS, wait for a connection being set up in case ALPN makes it HTTP/2 and it can carry
    // this request too. Cleartext is HTTP/1.1 here, but libcurl would still wait, for the first
    // request's whole answer: every other request to the origin would queue behind it.
    curl_easy_setopt(slot->easy, CURLOPT_PIPEWAIT, job.origin.starts_with("https:") ? 1L : 0L);
    curl_easy_setopt(slot->easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(slot->body.size()));
    curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDS, slot->body.data());
    ++origin_in_flight;
    slot->job = std::move(job);
    curl_multi_add_handle(multi_, slot->easy);
    ++curl_active_;
    bump(&LiveCounters::requests, run_.live);
    bump(&LiveCounters::in_flight, run_.live);
  }

  // The request headers for an origin: the same for every message of the run except the TTL,
  // which counts down each second, and the VAPID token, renewed every few minutes (the token
  // cache keeps it valid for hours). Built once per origin and second instead of per message;
  // requests in flight keep the list they were given alive. nullptr if no VAPID token.
  const OriginHeaders* headers_for(const std::string& origin, std::int64_t now_unix) {
    OriginHeaders& cached = headers_[origin];
    if (cached.list && cached.built_at == now_unix) return &cached;
    if (cached.authorization.empty() || now_unix >= cached.authorization_until) {
      auto authorization = run_.deps.vapid.authorization(origin);
      if (!authorization) return nullptr;
      cached.authorization = "Authorization: " + *authorization;
      cached.authorization_until = now_unix + 300;
    }
    curl_slist* h = nullptr;
    h = curl_slist_append(
        h, ("TTL: " +
            std::to_string(run_.message.zero_ttl ? 0 : run_.message.deadline_unix - now_unix))
               .c_str());
    h = curl_slist_append(h, "Content-Encoding: aes128gcm");
    h = curl_slist_append(h, "Content-Type: application/octet-stream");
    h = curl_slist_append(h, cached.authorization.c_str());
    if (!run_.message.urgency.empty()) {
      h = curl_slist_append(h, ("Urgency: " + run_.message.urgency).c_str());
    }
    if (!run_.message.topic.empty()) {
      h = curl_slist_append(h, ("Topic: " + run_.message.topic).c_str());
    }
    h = curl_slist_append(h, "Expect:");  // no 100-continue round trip for bodies over 1 KiB
    cached.list = std::shared_ptr<curl_slist>(h, curl_slist_free_all);
    cached.built_at = now_unix;
    if (use_http1(origin)) {
      // The same headers for the built-in client, as bytes; Host is the origin's authority.
      cached.raw = "Host: " + origin.substr(origin.find("://") + 3) + "\r\n";
      for (curl_slist* item = h; item != nullptr; item = item->next) {
        const std::string_view line(item->data);
        if (line == "Expect:") continue;
        cached.raw.append(line).append("\r\n");
      }
      cached.raw.append("User-Agent: flashwire\r\n");
    }
    return &cached;
  }

  bool use_http1(const std::string& origin) const {
    return run_.options.builtin_http1 && origin.starts_with("http:");
  }

  // Waits for socket activity or the next retry (at most 100 ms), then lets libcurl act on
  // every transfer that can move. (Measured against libcurl's event API with epoll on this
  // workload — 128 connections per thread on loopback — this was as fast or slightly faster.)
  void wait(TimePoint now) {
    int timeout_ms = 100;
    if (!delayed_.empty()) {
      const auto until = std::chrono::duration_cast<Millis>(delayed_.top().due - now).count();
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>(until, 0, timeout_ms));
    }
    if (free_.size() == slots_.size()) {
      if (timeout_ms > 0) std::this_thread::sleep_for(Millis(timeout_ms));
      return;
    }
    if (curl_active_ == 0) {
      http1_.run(timeout_ms, http1_done_);
      return;
    }
    // Both kinds in flight: libcurl waits, with the built-in client's descriptor among its own.
    const bool both = http1_.active() > 0;
    curl_waitfd extra{http1_.wait_fd(), CURL_WAIT_POLLIN, 0};
    if (both) http1_.run(0, http1_done_);  // writes what start() queued
    curl_multi_poll(multi_, both ? &extra : nullptr, both ? 1 : 0, timeout_ms, nullptr);
    int running = 0;
    curl_multi_perform(multi_, &running);
    if (both) http1_.run(0, http1_done_);
  }

  void collect() {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Slot* slot = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &slot);
      const CURLcode code = msg->data.result;
      curl_multi_remove_handle(multi_, slot->easy);
      --curl_active_;
      long status = 0;
      if (code == CURLE_OK) curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &status);
      answered(*slot, transport_failure(code), status, slot->retry_after);
    }
    for (Http1Client::Completion& done : http1_done_) {
      answered(slots_[done.tag], done.failure, done.status, done.retry_after);
    }
    http1_done_.clear();
  }

  // One request's end, from either client.
  void answered(Slot& slot, std::optional<TransportFailure> failure, long status,
                const std::string& retry_after) {
    free_.push_back(&slot);
    bump(&LiveCounters::in_flight, run_.live, -1);
    Job job = std::move(slot.job);
    release_origin(job.origin);

    Breaker& breaker = breakers_.at(job.origin);
    if (failure) {
      breaker.record_failure(SteadyClock::now());
      complete(job, classify_transport(*failure));
      return;
    }
    breaker.record_success();
    complete(job, classify_response(status, retry_after, run_.deps.clock.now_seconds()));
  }

  void release_origin(const std::string& origin) {
    --origin_in_flight_[origin];
    auto waiting = waiting_.find(origin);
    if (waiting != waiting_.end() && !waiting->second.empty()) {
      ready_.push_front(std::move(waiting->second.front()));
      waiting->second.pop_front();
    }
  }

  // Records the outcome of one attempt; a retry goes back on the delayed queue.
  void complete(Job& job, const Outcome& outcome) {
    OpenShard& open = *job.shard;
    store::DeliveryCounts& c = open.counts;
    switch (outcome.kind) {
      case OutcomeKind::kSent: {
        ++c.sent;
        const auto ms =
            std::chrono::duration_cast<Millis>(SteadyClock::now() - run_.started).count();
        ++c.accept_latency[latency_bucket(ms)];
        c.last_accept_ms =
            std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        bump(&LiveCounters::sent, run_.live);
        break;
      }
      case OutcomeKind::kGone: {
        ++c.gone;
        const Target& t = open.shard.targets[job.index];
        open.gone.push_back({t.id, t.endpoint});
        bump(&LiveCounters::gone, run_.live);
        break;
      }
      case OutcomeKind::kRejected:
        if (run_.reject(job.origin)) {
          std::lock_guard lock(run_.sink_mutex);
          run_.sink.problem("push service " + job.origin + " rejected our VAPID credentials (" +
                            outcome.reason + "); no more messages are sent to it. Check the " +
                            "VAPID key pair and subject.");
        }
        fail(c, "vapid_rejected");
        break;
      case OutcomeKind::kFailed:
        fail(c, outcome.reason);
        break;
      case OutcomeKind::kRetry: {
        const int attempt = job.attempt + 1;
        if (attempt >= run_.options.max_attempts) {
          fail(c, "retries_exhausted_" + outcome.reason);
          break;
        }
        const Millis delay =
            backoff_delay(attempt, outcome.retry_after,
                          std::uniform_real_distribution<double>(0, 1)(rng_), run_.options.backoff);
        const std::int64_t now_unix = run_.deps.clock.now_seconds();
        if (now_unix + (delay.count() + 999) / 1000 >= run_.message.deadline_unix) {
          fail(c, "expired");
          break;
        }
        ++c.retried;
        bump(&LiveCounters::retried, run_.live);
        job.attempt = attempt;
        job.due = SteadyClock::now() + delay;
        delayed_.push(std::move(job));
        return;  // not done yet
      }
    }
    if (--open.outstanding == 0) finish_shard(open);
  }

  void fail(store::DeliveryCounts& c, const std::string& reason) {
    ++c.failed;
    ++c.failed_by_reason[reason];
    bump(&LiveCounters::failed, run_.live);
  }

  void finish_shard(OpenShard& open) {
    auto recorded = [&] {
      std::lock_guard lock(run_.sink_mutex);
      return run_.sink.shard_done(open.shard, open.counts, open.gone);
    }();
    if (!recorded) {
      run_.fail(recorded.error());
    } else {
      std::lock_guard lock(run_.mutex);
      run_.counts.add(open.counts);
    }
    open_.remove_if([&open](const OpenShard& s) { return &s == &open; });
  }

  using Breaker = CircuitBreaker;
  RunShared& run_;
  const std::size_t in_flight_cap_;
  const std::size_t per_origin_cap_;
  std::mt19937_64 rng_;
  webpush::MessageEncryptor encryptor_;
  CURLM* multi_ = nullptr;
  std::size_t curl_active_ = 0;  // transfers added to multi_ and not yet done
  Http1Client http1_;
  std::vector<Http1Client::Completion> http1_done_;
  std::vector<Slot> slots_;
  std::vector<Slot*> free_;
  std::list<OpenShard> open_;  // stable addresses: jobs point at their shard
  std::deque<Job> ready_;
  std::priority_queue<Job, std::vector<Job>, LaterFirst> delayed_;
  std::map<std::string, std::deque<Job>, std::less<>> waiting_;  // per origin, over its cap
  std::map<std::string, std::size_t, std::less<>> origin_in_flight_;
  std::map<std::string, Breaker, std::less<>> breakers_;
  struct OriginHeaders {
    std::shared_ptr<curl_slist> list;
    std::string raw;  // the same headers as HTTP/1.1 bytes, for the built-in client
    std::int64_t built_at = 0;
    std::string authorization;
    std::int64_t authorization_until = 0;
  };
  std::map<std::string, OriginHeaders, std::less<>> headers_;
  bool source_done_ = false;
};

}  // namespace

RunResult run_pipeline(const Message& message, TargetSource& source, ProgressSink& sink,
                       const PipelineDeps& deps, const PipelineOptions& options,
                       const std::atomic<bool>& cancel, LiveCounters* live) {
  init_http_client();
  RunShared run(message, source, sink, deps, options, cancel, live);
  if (options.per_broadcast_key) run.broadcast_key = webpush::P256KeyPair::generate();

  unsigned threads = options.threads != 0 ? options.threads : usable_cores();
  threads = std::max(1u, threads);
  const std::size_t in_flight = std::max<std::size_t>(1, options.concurrency / threads);
  const std::size_t per_origin = std::max<std::size_t>(1, options.per_origin_in_flight / threads);
  const long connections =
      std::max(1L, options.per_origin_connections / static_cast<long>(threads));

  std::vector<std::thread> workers;
  std::random_device seed;
  for (unsigned i = 0; i < threads; ++i) {
    const unsigned s = seed();
    workers.emplace_back([&run, in_flight, per_origin, connections, s] {
      // An exception leaving a thread ends the process: it ends this run instead.
      try {
        Sender sender(run, in_flight, per_origin, connections, s);
        sender.run();
      } catch (const std::exception& e) {
        run.fail("sender thread: " + exception_message(e));
      } catch (...) {
        run.fail("sender thread: unknown exception");
      }
    });
  }
  for (auto& w : workers) w.join();

  RunResult result;
  result.counts = std::move(run.counts);
  result.messages = run.messages;
  result.cancelled = cancel.load();
  result.error = run.error;
  return result;
}

}  // namespace flashwire::fanout
