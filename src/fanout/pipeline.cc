#include "fanout/pipeline.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/url/parse.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
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
#include "fanout/request_headers.h"
#include "fanout/transport.h"
#include "webpush/message.h"

namespace flashwire::fanout {

void init_http_client() { init_curl(); }

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
  // Origins no longer contacted, and the reason their messages fail with.
  std::map<std::string, std::string, std::less<>> rejected_origins;
  std::atomic<bool> any_rejected{false};
  std::atomic<bool> stop{false};  // a source or sink failure
  std::string error;
  store::DeliveryCounts counts;
  std::uint64_t messages = 0;

  // The reason an origin was rejected for, if it was.
  std::optional<std::string> rejected_reason(const std::string& origin) {
    if (!any_rejected.load(std::memory_order_relaxed)) return std::nullopt;
    std::lock_guard lock(mutex);
    const auto found = rejected_origins.find(origin);
    if (found == rejected_origins.end()) return std::nullopt;
    return found->second;
  }
  // True the first time an origin is rejected.
  bool reject(const std::string& origin, const std::string& reason) {
    std::lock_guard lock(mutex);
    any_rejected = true;
    return rejected_origins.emplace(origin, reason).second;
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

// A request in flight: the job it carries; its index in slots_ is the transport's tag.
struct Slot {
  Job job;
  Transport* transport = nullptr;  // null while free
};

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
 public:
  Sender(RunShared& run, std::size_t in_flight_cap, std::size_t per_origin_cap,
         long per_origin_connections, unsigned seed)
      : run_(run),
        in_flight_cap_(std::max<std::size_t>(1, in_flight_cap)),
        per_origin_cap_(std::max<std::size_t>(1, per_origin_cap)),
        rng_(seed),
        headers_(run.deps.vapid, {run.message.zero_ttl, run.message.deadline_unix,
                                  run.message.urgency, run.message.topic}) {
    // Nothing here throws: a transport that cannot be made (no descriptors left) is this
    // thread's error, reported by run() as the run's error.
    const TransportOptions options{std::max(1L, per_origin_connections),
                                   run.options.http1_pipeline_depth,
                                   in_flight_cap_,
                                   run.options.request_timeout,
                                   run.options.connect_timeout,
                                   run.options.extra_ca};
    auto made = [this](tl::expected<std::unique_ptr<Transport>, std::string> t) {
      if (t) return std::move(*t);
      if (init_error_.empty()) init_error_ = t.error();
      return std::unique_ptr<Transport>();
    };
    if (run.options.builtin_http1) http1_ = made(make_http1_transport(options));
    if (run.options.builtin_https) h2_ = made(make_h2_transport(options));
    curl_ = made(make_curl_transport(options));
    // One descriptor for the built-in transports, to wait on them together (and beside libcurl).
    wait_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (wait_fd_ < 0 && init_error_.empty()) init_error_ = "epoll_create1 failed";
    for (Transport* t : {http1_.get(), h2_.get()}) {
      if (t == nullptr || wait_fd_ < 0) continue;
      epoll_event event{};
      event.events = EPOLLIN;
      epoll_ctl(wait_fd_, EPOLL_CTL_ADD, t->wait_fd(), &event);
    }
    slots_.resize(in_flight_cap_);
    for (Slot& slot : slots_) free_.push_back(&slot);
  }
  ~Sender() {
    for (Slot& slot : slots_) {
      // Abandoned (cancel or stop): no longer in flight, as the live gauge must say.
      if (slot.transport != nullptr) bump(&LiveCounters::in_flight, run_.live, -1);
    }
    if (wait_fd_ >= 0) ::close(wait_fd_);
  }

  void run() {
    if (!init_error_.empty()) {
      run_.fail(init_error_);
      return;
    }
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
    if (auto reason = run_.rejected_reason(job.origin)) {
      complete(job, {OutcomeKind::kFailed, std::move(*reason), std::nullopt});
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
    const RequestHeaders* headers = headers_.get(job.origin, now_unix);
    if (headers == nullptr) {
      complete(job, {OutcomeKind::kFailed, "vapid_error", std::nullopt});
      return;
    }

    auto path = request_target(target.endpoint, job.origin);
    if (!path) {
      complete(job, {OutcomeKind::kFailed, "invalid_endpoint", std::nullopt});
      return;
    }
    Transport& transport = transport_for(job.origin);
    Slot* slot = free_.back();
    free_.pop_back();
    slot->transport = &transport;
    ++origin_in_flight;
    const auto tag = static_cast<std::uint64_t>(slot - slots_.data());
    transport.submit(
        {tag, job.origin, target.endpoint, std::move(*path), headers, std::move(*body)}, now);
    slot->job = std::move(job);
    bump(&LiveCounters::requests, run_.live);
    bump(&LiveCounters::in_flight, run_.live);
  }

  // The transport for an origin: the built-in clients where enabled, libcurl otherwise.
  Transport& transport_for(const std::string& origin) {
    if (h2_ && origin.starts_with("https:")) return *h2_;
    if (http1_ && origin.starts_with("http:")) return *http1_;
    return *curl_;
  }

  // Waits for socket activity or the next retry (at most 100 ms), then lets every transport act:
  // libcurl waits with the built-in transports' descriptor among its own; otherwise epoll waits.
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
    Transport* only = nullptr;  // the one transport with requests in flight, if just one
    int busy = 0;
    for (Transport* t : {http1_.get(), h2_.get(), curl_.get()}) {
      if (t != nullptr && t->active() > 0) {
        only = t;
        ++busy;
      }
    }
    if (busy == 1 && only != curl_.get()) {
      only->poll(timeout_ms, -1, done_);  // its own wait: one system call fewer per turn
      return;
    }
    // The built-in transports send what start() queued before anyone waits.
    for (Transport* t : {http1_.get(), h2_.get()}) {
      if (t != nullptr && t->active() > 0) t->poll(0, -1, done_);
    }
    if (!done_.empty()) timeout_ms = 0;
    if (curl_->active() > 0) {
      curl_->poll(timeout_ms, wait_fd_, done_);
    } else if (timeout_ms > 0) {
      epoll_event event{};
      epoll_wait(wait_fd_, &event, 1, timeout_ms);
    }
    for (Transport* t : {http1_.get(), h2_.get()}) {
      if (t != nullptr && t->active() > 0) t->poll(0, -1, done_);
    }
  }

  void collect() {
    // answered() may start nothing, so done_ is not appended to while it is walked.
    std::vector<TransportCompletion> done;
    done.swap(done_);
    for (TransportCompletion& c : done) {
      answered(slots_[c.tag], c.failure, c.status, c.retry_after, c.error);
    }
  }

  // One request's end, from any transport.
  void answered(Slot& slot, std::optional<TransportFailure> failure, long status,
                const std::string& retry_after, const std::string& error) {
    slot.transport = nullptr;
    free_.push_back(&slot);
    bump(&LiveCounters::in_flight, run_.live, -1);
    Job job = std::move(slot.job);
    release_origin(job.origin);

    Breaker& breaker = breakers_.at(job.origin);
    if (failure == TransportFailure::kTls) {
      // Not the breaker's business: no amount of waiting makes a certificate verify.
      if (run_.reject(job.origin, "tls_error")) {
        std::lock_guard lock(run_.sink_mutex);
        run_.sink.problem("push service " + job.origin + ": TLS certificate check failed (" +
                          error +
                          "); no more messages are sent to it. A private push service's CA " +
                          "goes in [fanout] ca_file (flashwire fanout --ca-file).");
      }
      complete(job, classify_transport(*failure));
      return;
    }
    if (failure == TransportFailure::kBroken) {
      breaker.record_broken(SteadyClock::now());
      complete(job, classify_transport(*failure));
      return;
    }
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
        if (run_.reject(job.origin, "vapid_rejected")) {
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
  std::unique_ptr<Transport> http1_;  // null when off or not made (init_error_ says why)
  std::unique_ptr<Transport> h2_;     // likewise
  std::unique_ptr<Transport> curl_;   // everything else
  std::vector<TransportCompletion> done_;
  int wait_fd_ = -1;
  std::string init_error_;
  std::vector<Slot> slots_;
  std::vector<Slot*> free_;
  std::list<OpenShard> open_;  // stable addresses: jobs point at their shard
  std::deque<Job> ready_;
  std::priority_queue<Job, std::vector<Job>, LaterFirst> delayed_;
  std::map<std::string, std::deque<Job>, std::less<>> waiting_;  // per origin, over its cap
  std::map<std::string, std::size_t, std::less<>> origin_in_flight_;
  std::map<std::string, Breaker, std::less<>> breakers_;
  RequestHeaderCache headers_;
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
  for (unsigned i = 0; i < threads && !run.stop.load(); ++i) {
    const unsigned s = seed();
    try {
      workers.emplace_back([&run, in_flight, per_origin, connections, s] {
        // No exception leaves a sender thread (it would end the process): whatever escapes is
        // this run's error, and the other threads stop at their next turn.
        try {
          Sender sender(run, in_flight, per_origin, connections, s);
          sender.run();
        } catch (const std::exception& e) {
          run.fail("sender thread: " + exception_message(e));
        } catch (...) {
          run.fail("sender thread: unknown exception");
        }
      });
    } catch (const std::system_error& e) {
      run.fail(std::string("cannot start a sender thread: ") + e.what());
    }
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
