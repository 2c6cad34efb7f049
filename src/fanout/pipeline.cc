#include "fanout/pipeline.h"

#include <openssl/evp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/url/parse.hpp>
#include <cctype>
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
#include <span>
#include <thread>

#include "common/cores.h"
#include "common/error.h"
#include "fanout/request_headers.h"
#include "fanout/transport.h"
#include "webpush/base64url.h"
#include "webpush/message.h"

namespace flashwire::fanout {

void init_http_client() { init_curl(); }

tl::expected<void, Error> check_topic(std::string_view topic) {
  const bool base64url = std::all_of(topic.begin(), topic.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
  if (topic.size() > 32 || !base64url) {
    return tl::unexpected(
        Error{ErrorCode::kInvalid, "topic: at most 32 characters of A-Z, a-z, 0-9, - and _"});
  }
  return {};
}

std::size_t encrypted_size(std::size_t plaintext_size) {
  // Header (salt, record size, key id), the plaintext, its 0x02 delimiter, the AEAD tag.
  return webpush::kWebPushHeaderSize + plaintext_size + 1 + 16;
}

bool is_apple_origin(std::string_view origin) {
  constexpr std::string_view kPrefix = "https://";
  if (!origin.starts_with(kPrefix)) return false;
  std::string_view host = origin.substr(kPrefix.size());
  host = host.substr(0, host.find(':'));
  return host == "web.push.apple.com" || host.ends_with(".push.apple.com");
}

std::string topic_for_origin(std::string_view topic, std::string_view origin) {
  if (topic.size() % 4 != 1 || !is_apple_origin(origin)) return std::string(topic);
  std::string input("flashwire topic");
  input.push_back('\0');
  input.append(topic);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length < 24) {
    return {};  // not reachable with a working OpenSSL; no Topic is better than a refused one
  }
  return webpush::base64url_encode(webpush::ByteView(digest.data(), 24));
}

std::string apple_subject_problem(std::string_view subject) {
  std::string domain;
  if (subject.starts_with("mailto:")) {
    const std::size_t at = subject.rfind('@');
    if (at == std::string_view::npos) return "the mailto: subject has no address";
    domain = subject.substr(at + 1);
  } else if (subject.starts_with("https://")) {
    auto url = boost::urls::parse_absolute_uri(subject);
    if (!url) return "the https: subject is not a URL";
    domain = std::string(url->encoded_host());
  } else {
    return "the subject is neither a mailto: address nor an https: URL";
  }
  std::transform(domain.begin(), domain.end(), domain.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (domain.ends_with('.')) domain.pop_back();
  auto is_or_under = [&domain](std::string_view name) {
    return domain == name || domain.ends_with("." + std::string(name));
  };
  // RFC 2606 / RFC 6761 names, which no one reads mail at.
  for (std::string_view reserved : {"localhost", "invalid", "test", "example", "local",
                                    "example.com", "example.org", "example.net"}) {
    if (is_or_under(reserved)) {
      return "the subject's domain " + domain + " is a placeholder (Apple answers 403 BadJwtToken)";
    }
  }
  if (domain.find('.') == std::string::npos) {
    return "the subject's domain " + domain + " is not a public name";
  }
  return {};
}

namespace {

// Every reading of time goes through PipelineDeps::clock: steady_now() for timers and
// intervals, now_seconds()/now_ms() for deadlines and records.
using TimePoint = std::chrono::steady_clock::time_point;

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
        started(deps_in.clock.steady_now()) {}

  const Message& message;
  TargetSource& source;
  ProgressSink& sink;
  const PipelineDeps& deps;
  const PipelineOptions& options;
  const std::atomic<bool>& cancel;
  LiveCounters* live;
  TimePoint started;
  std::optional<webpush::P256KeyPair> broadcast_key;
  // Vendor limits, checked once before the run (empty: none broken).
  std::string too_large;      // the problem with the message's size
  std::string apple_subject;  // why Apple would refuse our VAPID subject

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

// When an origin's pacer lets its next request go.
struct Wakeup {
  TimePoint at;
  std::string origin;
  bool operator>(const Wakeup& other) const { return at > other.at; }
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
         std::size_t parked_cap, long per_origin_connections, double origin_rate,
         std::uint64_t seed)
      : run_(run),
        in_flight_cap_(std::max<std::size_t>(1, in_flight_cap)),
        per_origin_cap_(std::max<std::size_t>(1, per_origin_cap)),
        parked_cap_(std::max<std::size_t>(1, parked_cap)),
        origin_rate_(origin_rate),
        rng_(seed),
        encryptor_(run.deps.random),
        headers_(run.deps.vapid, {run.message.zero_ttl, run.message.deadline_unix,
                                  run.message.urgency, run.message.topic}) {
    // Nothing here throws: a transport that cannot be made (no descriptors left) is this
    // thread's error, reported by run() as the run's error.
    const TransportOptions options{std::max(1L, per_origin_connections),
                                   run.options.http1_pipeline_depth,
                                   in_flight_cap_,
                                   run.options.request_timeout,
                                   run.options.connect_timeout,
                                   run.options.extra_ca,
                                   run.options.ping_after,
                                   run.options.ping_timeout};
    auto made = [this](tl::expected<std::unique_ptr<Transport>, Error> t) {
      if (t) return std::move(*t);
      if (init_error_.empty()) init_error_ = t.error().message;
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
      const TimePoint now = run_.deps.clock.steady_now();
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
    std::size_t max_open = std::max<std::size_t>(1, run_.options.max_open_shards);
    // An origin that is slow, paced or saturated must not hold up the others: while there are
    // more free request slots than messages ready (the open shards' other messages are all on
    // their way or waiting for their origin), read on past the open-shard bound, up to
    // max_parked_messages waiting (memory, not shards, is the limit).
    auto room = [&] {
      if (ready_.size() >= in_flight_cap_) return false;
      if (open_.size() < max_open) return true;
      return parked_ < parked_cap_ && free_.size() > ready_.size();
    };
    while (!source_done_ && room()) {
      auto next = [this] {
        std::lock_guard lock(run_.source_mutex);
        return run_.source.next_shard();
      }();
      if (!next) {
        run_.fail(next.error().message);
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
      for (const Target& t : open.shard.targets)
        ++open.counts.targeted_by_service[static_cast<std::size_t>(t.service)];
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
    while (!wakeups_.empty() && wakeups_.top().at <= now) {
      const std::string origin = wakeups_.top().origin;
      wakeups_.pop();
      wake_pending_.erase(origin);
      // As many as the pacer lets go now; start() parks again whatever it does not.
      auto waiting = waiting_.find(origin);
      if (waiting == waiting_.end()) continue;
      std::size_t n = std::min(waiting->second.size(), pacer_for(origin).available(now));
      if (n == 0 && !waiting->second.empty()) n = 1;  // asks the pacer for the next wake-up
      for (std::size_t i = 0; i < n; ++i) {
        ready_.push_front(std::move(waiting->second.front()));
        waiting->second.pop_front();
        --parked_;
      }
    }
  }

  void park(Job job, std::optional<TimePoint> wake) {
    if (wake) {
      auto [pending, inserted] = wake_pending_.try_emplace(job.origin, *wake);
      if (inserted || *wake < pending->second) {
        pending->second = *wake;
        wakeups_.push({*wake, job.origin});
      }
    }
    waiting_[job.origin].push_back(std::move(job));
    ++parked_;
  }

  OriginPacer& pacer_for(const std::string& origin) {
    auto found = pacers_.find(origin);
    if (found != pacers_.end()) return found->second;
    OriginPacer::Policy policy;
    policy.cap_per_second = origin_rate_;
    return pacers_.emplace(origin, OriginPacer(policy)).first->second;
  }

  void dispatch(TimePoint now) {
    while (!free_.empty() && !ready_.empty()) {
      Job job = std::move(ready_.front());
      ready_.pop_front();
      const auto waiting = waiting_.find(job.origin);  // map nodes are never erased
      const Started started = start(std::move(job), now);
      // A job that ended without a request (expired, origin rejected, bad keys) left its
      // origin's in-flight slot unused, and no answer will come to release it: hand the slot
      // to the next job waiting for that origin, or that job waits forever. (Not when the job
      // was parked: the ones waiting are there for the same reason.)
      if (started == Started::kEnded && waiting != waiting_.end() && !waiting->second.empty() &&
          origin_in_flight_[waiting->first] < per_origin_cap_) {
        ready_.push_front(std::move(waiting->second.front()));
        waiting->second.pop_front();
        --parked_;
      }
    }
  }

  enum class Started { kSent, kEnded, kParked };

  Started start(Job job, TimePoint now) {
    const Target& target = job.shard->shard.targets[job.index];
    const std::int64_t now_unix = run_.deps.clock.now_seconds();
    if (now_unix >= run_.message.deadline_unix) {
      complete(job, {OutcomeKind::kFailed, "expired", std::nullopt});
      return Started::kEnded;
    }
    if (auto reason = run_.rejected_reason(job.origin)) {
      complete(job, {OutcomeKind::kFailed, std::move(*reason), std::nullopt});
      return Started::kEnded;
    }
    if (!run_.too_large.empty()) {
      complete(job, {OutcomeKind::kFailed, "message_too_large", std::nullopt});
      return Started::kEnded;
    }
    if (!run_.apple_subject.empty() && is_apple_origin(job.origin)) {
      if (run_.reject(job.origin, "vapid_subject_rejected")) {
        std::lock_guard lock(run_.sink_mutex);
        run_.sink.problem("push service " + job.origin + ": " + run_.apple_subject +
                          "; no messages are sent to it. Use a real mailto: address or https: "
                          "URL as the VAPID subject.");
      }
      complete(job, {OutcomeKind::kFailed, "vapid_subject_rejected", std::nullopt});
      return Started::kEnded;
    }
    std::size_t& origin_in_flight = origin_in_flight_[job.origin];
    if (origin_in_flight >= per_origin_cap_) {
      park(std::move(job), std::nullopt);  // an answer from that origin wakes it
      return Started::kParked;
    }
    auto keys = webpush::SubscriptionKeys::from_base64url(target.p256dh, target.auth);
    if (!keys) {
      complete(job, {OutcomeKind::kFailed, "invalid_keys", std::nullopt});
      return Started::kEnded;
    }
    // The origin's pace (quota-aware; OriginPacer): asked before the breaker, whose half-open
    // trial must become a request once granted.
    if (TimePoint next; !pacer_for(job.origin).try_take(now, &next)) {
      park(std::move(job), next);
      return Started::kParked;
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
      return Started::kParked;
    }
    auto body = run_.broadcast_key ? encryptor_.encrypt_with_sender_key(*run_.broadcast_key, *keys,
                                                                        run_.message.payload)
                                   : encryptor_.encrypt(*keys, run_.message.payload);
    if (!body) {
      complete(job, {OutcomeKind::kFailed, "payload_too_large", std::nullopt});
      return Started::kEnded;
    }
    const RequestHeaders* headers = headers_.get(job.origin, now_unix);
    if (headers == nullptr) {
      complete(job, {OutcomeKind::kFailed, "vapid_error", std::nullopt});
      return Started::kEnded;
    }

    auto path = request_target(target.endpoint, job.origin);
    if (!path) {
      complete(job, {OutcomeKind::kFailed, "invalid_endpoint", std::nullopt});
      return Started::kEnded;
    }
    Transport& transport = transport_for(job.origin);
    Slot* slot = free_.back();
    free_.pop_back();
    slot->transport = &transport;
    ++origin_in_flight;
    const auto tag = static_cast<std::uint64_t>(slot - slots_.data());
    transport.submit(
        {tag, job.origin, target.endpoint, std::move(*path), headers, std::move(*body)});
    slot->job = std::move(job);
    bump(&LiveCounters::requests, run_.live);
    bump(&LiveCounters::in_flight, run_.live);
    return Started::kSent;
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
    auto until = [&](TimePoint at) {
      // Rounded up: waking a little early would only turn the loop once for nothing.
      const auto ms = std::chrono::ceil<Millis>(at - now).count();
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>(ms, 0, timeout_ms));
    };
    if (!delayed_.empty()) until(delayed_.top().due);
    if (!wakeups_.empty()) until(wakeups_.top().at);
    if (free_.size() == slots_.size()) {
      // Nothing in flight. The HTTP/2 client still waits on its sockets meanwhile: it PINGs
      // idle connections and notices the ones a service closes.
      if (h2_) {
        h2_->poll(timeout_ms, -1, done_);
      } else if (timeout_ms > 0) {
        std::this_thread::sleep_for(Millis(timeout_ms));
      }
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
    const TimePoint now = run_.deps.clock.steady_now();

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
      breaker.record_broken(now);
      complete(job, classify_transport(*failure));
      return;
    }
    if (failure) {
      breaker.record_failure(now);
      complete(job, classify_transport(*failure));
      return;
    }
    breaker.record_success();
    if (run_.options.report_answers) {
      std::lock_guard lock(run_.sink_mutex);
      run_.sink.answered(job.shard->shard.targets[job.index], static_cast<int>(status));
    }
    const Outcome outcome = classify_response(status, retry_after, run_.deps.clock.now_seconds());
    // Slow down on the vendors' throttle answers: 429 (FCM, Apple), 503 with Retry-After
    // (Mozilla). Other 5xx are failures, not a quota.
    // A Retry-After of 0 says "again now": no reason to slow down.
    const bool wait_asked = !outcome.retry_after || outcome.retry_after->count() > 0;
    if ((status == 429 && wait_asked) ||
        (status == 503 && outcome.retry_after && outcome.retry_after->count() > 0)) {
      pacer_for(job.origin).on_throttled(now, outcome.retry_after);
    } else if (outcome.kind == OutcomeKind::kSent || outcome.kind == OutcomeKind::kGone) {
      pacer_for(job.origin).on_accepted(now);
    }
    complete(job, outcome);
  }

  void release_origin(const std::string& origin) {
    --origin_in_flight_[origin];
    auto waiting = waiting_.find(origin);
    if (waiting != waiting_.end() && !waiting->second.empty()) {
      ready_.push_front(std::move(waiting->second.front()));
      waiting->second.pop_front();
      --parked_;
    }
  }

  // Records the outcome of one attempt; a retry goes back on the delayed queue.
  void complete(Job& job, const Outcome& outcome) {
    OpenShard& open = *job.shard;
    store::DeliveryCounts& c = open.counts;
    switch (outcome.kind) {
      case OutcomeKind::kSent: {
        ++c.sent;
        ++c.accepted_by_service[static_cast<std::size_t>(open.shard.targets[job.index].service)];
        const auto ms =
            std::chrono::duration_cast<Millis>(run_.deps.clock.steady_now() - run_.started).count();
        ++c.accept_latency[latency_bucket(ms)];
        c.last_accept_ms = run_.deps.clock.now_ms();
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
        job.due = run_.deps.clock.steady_now() + delay;
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
      run_.fail(recorded.error().message);
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
  const std::size_t parked_cap_;  // this thread's share of max_parked_messages
  const double origin_rate_;  // this thread's share of [fanout] origin_rate_limit; 0: none
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
  // Per origin: jobs over its in-flight cap (an answer wakes them) or its pace (a wake-up does).
  std::map<std::string, std::deque<Job>, std::less<>> waiting_;
  std::size_t parked_ = 0;  // jobs in waiting_
  std::map<std::string, OriginPacer, std::less<>> pacers_;
  std::priority_queue<Wakeup, std::vector<Wakeup>, std::greater<>> wakeups_;
  std::map<std::string, TimePoint, std::less<>> wake_pending_;  // the earliest per origin
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
  if (auto topic = check_topic(message.topic); !topic) {
    RunResult refused;
    refused.error = topic.error().message;
    return refused;
  }
  if (const std::size_t size = encrypted_size(message.payload.size());
      size > options.max_message_bytes) {
    run.too_large = "the message is " + std::to_string(size) + " bytes encrypted, over the " +
                    std::to_string(options.max_message_bytes) +
                    " push services take ([fanout] max_message_bytes); nothing was sent";
    sink.problem(run.too_large);
  }
  run.apple_subject = apple_subject_problem(deps.vapid.subject());
  if (options.per_broadcast_key) run.broadcast_key = webpush::P256KeyPair::generate(deps.random);

  unsigned threads = options.threads != 0 ? options.threads : usable_cores();
  threads = std::max(1u, threads);
  const std::size_t in_flight = std::max<std::size_t>(1, options.concurrency / threads);
  const std::size_t per_origin = std::max<std::size_t>(1, options.per_origin_in_flight / threads);
  const std::size_t parked = std::max<std::size_t>(1, options.max_parked_messages / threads);
  const long connections =
      std::max(1L, options.per_origin_connections / static_cast<long>(threads));

  const double origin_rate = options.origin_rate_limit / threads;

  std::vector<std::thread> workers;
  for (unsigned i = 0; i < threads && !run.stop.load(); ++i) {
    std::uint64_t s = 0;  // the seed of this thread's jitter
    deps.random.fill(std::span(reinterpret_cast<std::uint8_t*>(&s), sizeof s));
    try {
      workers.emplace_back([&run, in_flight, per_origin, parked, connections, origin_rate, s] {
        // No exception leaves a sender thread (it would end the process): whatever escapes is
        // this run's error, and the other threads stop at their next turn.
        try {
          Sender sender(run, in_flight, per_origin, parked, connections, origin_rate, s);
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
