// run_pipeline against a scripted HTTP/1.1 server on 127.0.0.1: what was sent (headers, bodies
// that decrypt for their subscriber), how often, and what was reported for each answer.
//
// Every test is bounded by the message deadline, max_attempts and small timeouts; timing is
// only ever asserted as a lower bound (the machine is shared).
#include "fanout/pipeline.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "fanout/request_headers.h"
#include "scripted_http_server.h"
#include "webpush/base64url.h"
#include "webpush/message.h"
#include "webpush/p256.h"
#include "webpush/push_hosts.h"
#include "webpush/vapid.h"

namespace flashwire::fanout {
namespace {

using namespace std::chrono_literals;
using flashwire::testing::RecordedRequest;
using flashwire::testing::ScriptedHttpServer;
using Response = flashwire::testing::ScriptedResponse;
using Reasons = std::map<std::string, std::uint64_t>;

constexpr char kPayload[] =
    R"({"title":"Bridge reopens","body":"Traffic flowing again","url":"https://flashwire.example/a/1"})";
constexpr char kVapidSubject[] = "mailto:alerts@flashwire.example";

std::int64_t now_unix() { return system_clock().now_seconds(); }

std::string path_for(std::int64_t id) { return "/push/" + std::to_string(id); }

// A port on 127.0.0.1 where nothing listens (bound, then closed again).
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Hands out the shards it was given, in order; fails the call numbered `fail_at` (from 1).
class VectorSource final : public TargetSource {
 public:
  explicit VectorSource(std::vector<Shard> shards, std::optional<int> fail_at = std::nullopt)
      : shards_(std::move(shards)), fail_at_(fail_at) {}

  tl::expected<std::optional<Shard>, Error> next_shard() override {
    ++calls_;
    if (fail_at_ && calls_ == *fail_at_) {
      return tl::unexpected(Error{ErrorCode::kUnavailable, "source: locked"});
    }
    if (next_ == shards_.size()) return std::optional<Shard>();
    return std::optional<Shard>(shards_[next_++]);
  }
  int calls() const { return calls_; }

 private:
  std::vector<Shard> shards_;
  std::optional<int> fail_at_;
  std::size_t next_ = 0;
  int calls_ = 0;
};

// Records every report. Its own lock is only there to check the pipeline's promise of one call
// at a time: a second caller inside would be counted as an overlap.
class RecordingSink final : public ProgressSink {
 public:
  struct Report {
    store::ShardRange range;
    std::size_t targets = 0;
    store::DeliveryCounts counts;
    std::vector<store::GoneSubscription> gone;
  };

  tl::expected<void, Error> shard_done(const Shard& shard, const store::DeliveryCounts& counts,
                                       const std::vector<store::GoneSubscription>& gone) override {
    if (inside_.exchange(true)) ++overlaps_;
    std::size_t n = 0;
    {
      std::lock_guard lock(mutex_);
      reports_.push_back({shard.range, shard.targets.size(), counts, gone});
      n = reports_.size();
    }
    tl::expected<void, Error> result;
    if (fail_on && n == *fail_on) {
      result = tl::unexpected(Error{ErrorCode::kUnavailable, "sink: disk full"});
    }
    if (on_report) on_report(n);
    inside_ = false;
    return result;
  }
  void problem(const std::string& message) override {
    std::lock_guard lock(mutex_);
    problems_.push_back(message);
  }

  std::vector<Report> reports() const {
    std::lock_guard lock(mutex_);
    return reports_;
  }
  std::vector<std::string> problems() const {
    std::lock_guard lock(mutex_);
    return problems_;
  }
  int overlaps() const { return overlaps_; }
  // The report of `range`; fails the test unless there is exactly one.
  Report report_of(store::ShardRange range) const {
    std::lock_guard lock(mutex_);
    const auto n = std::count_if(reports_.begin(), reports_.end(),
                                 [&](const Report& r) { return r.range == range; });
    EXPECT_EQ(n, 1) << "reports of (" << range.after_id << ", " << range.last_id << "]";
    for (const auto& r : reports_) {
      if (r.range == range) return r;
    }
    return {};
  }

  std::optional<std::size_t> fail_on;          // the report numbered so fails (from 1)
  std::function<void(std::size_t)> on_report;  // called with the report's number

 private:
  mutable std::mutex mutex_;
  std::vector<Report> reports_;
  std::vector<std::string> problems_;
  std::atomic<bool> inside_{false};
  std::atomic<int> overlaps_{0};
};

auto fields(const store::GoneSubscription& g) {
  return std::make_tuple(g.subscription_id, g.endpoint);
}

std::uint64_t histogram_total(const store::LatencyHistogram& h) {
  std::uint64_t total = 0;
  for (const auto n : h) total += n;
  return total;
}

// Cancels a run that has not ended on its own within `limit`, so that a pipeline that hangs
// fails its test instead of the whole binary timing out.
class Watchdog {
 public:
  Watchdog(std::atomic<bool>& cancel, std::chrono::seconds limit)
      : thread_([this, &cancel, limit] {
          std::unique_lock lock(mutex_);
          if (!done_cv_.wait_for(lock, limit, [this] { return done_; })) {
            fired_ = true;
            cancel = true;
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  bool fired() const { return fired_; }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;  // last: it uses everything above
};

// Every pipeline test runs with each HTTP client the pipeline can use for cleartext origins:
// libcurl, the built-in HTTP/1.1 client one request at a time, and the built-in client
// pipelining up to 4 requests on a connection.
enum class Client { kCurl, kBuiltin, kBuiltinPipelined };

class PipelineTest : public ::testing::TestWithParam<Client> {
 protected:
  struct Subscriber {
    webpush::P256KeyPair keys;
    webpush::AuthSecret auth;
  };

  void SetUp() override {
    init_http_client();
    auto hosts = webpush::PushHostPolicy::create({server_.origin(), other_.origin()}, false);
    ASSERT_TRUE(hosts) << hosts.error().message;
    hosts_ = std::move(*hosts);
    auto vapid = webpush::VapidTokenCache::create(webpush::P256KeyPair::generate(), kVapidSubject,
                                                  system_clock());
    ASSERT_TRUE(vapid) << vapid.error().message;
    vapid_ = std::move(*vapid);

    const std::string payload = kPayload;
    message_.payload.assign(payload.begin(), payload.end());
    message_.deadline_unix = now_unix() + 600;
    message_.urgency = "high";
    message_.topic = "bridge";

    options_.threads = 1;
    options_.concurrency = 8;
    options_.per_origin_in_flight = 8;
    options_.max_attempts = 4;
    options_.request_timeout = 5000ms;
    options_.connect_timeout = 2000ms;
    options_.backoff = {20ms, 200ms};
    options_.breaker_cooldown = 100ms;
    options_.builtin_http1 = GetParam() != Client::kCurl;
    options_.http1_pipeline_depth = GetParam() == Client::kBuiltinPipelined ? 4 : 1;
  }

  // A target with id `id` and a new subscriber key pair, on `server` (server_ by default).
  Target target(std::int64_t id, const ScriptedHttpServer* server = nullptr) {
    Subscriber sub{webpush::P256KeyPair::generate(), {}};
    for (std::size_t i = 0; i < sub.auth.size(); ++i) {
      sub.auth[i] = static_cast<std::uint8_t>(id * 31 + static_cast<std::int64_t>(i) * 7);
    }
    Target t{id, (server ? server : &server_)->url(path_for(id)),
             sub.keys.public_key().to_base64url(), webpush::base64url_encode(sub.auth)};
    subscribers_.insert_or_assign(id, std::move(sub));
    return t;
  }

  // Shards of consecutive ids from 1, of the given sizes, on `server`: (0, 3], (3, 5], …
  std::vector<Shard> shards(const std::vector<std::size_t>& sizes,
                            const ScriptedHttpServer* server = nullptr) {
    std::vector<Shard> out;
    std::int64_t id = next_id_;
    for (const std::size_t size : sizes) {
      Shard shard;
      shard.range.after_id = id;
      for (std::size_t i = 0; i < size; ++i) shard.targets.push_back(target(++id, server));
      if (size == 0) ++id;  // an empty shard still covers an id range
      shard.range.last_id = id;
      out.push_back(std::move(shard));
    }
    next_id_ = id;
    return out;
  }

  RunResult run(std::vector<Shard> shard_list) {
    VectorSource source(std::move(shard_list));
    return run_with(source, sink_);
  }
  // Runs under a watchdog: a run that does not end on its own within 30 s is cancelled and
  // fails the test.
  RunResult run_with(TargetSource& source, ProgressSink& sink) {
    const PipelineDeps deps{*vapid_, *hosts_, system_clock(), webpush::system_random()};
    Watchdog watchdog(cancel_, 30s);
    RunResult result = run_pipeline(message_, source, sink, deps, options_, cancel_, &live_);
    EXPECT_FALSE(watchdog.fired()) << "the run did not end within 30 s";
    return result;
  }

  // The plaintext of a recorded request's body, decrypted as its subscriber's browser would.
  std::string decrypt(const RecordedRequest& request) {
    const auto id = std::stoll(request.path.substr(std::string("/push/").size()));
    const auto it = subscribers_.find(id);
    if (it == subscribers_.end()) return "<no subscriber " + std::to_string(id) + ">";
    auto plain =
        webpush::decrypt_message(it->second.keys, it->second.auth, webpush::as_bytes(request.body));
    if (!plain) return "<" + plain.error().message + ">";
    return std::string(webpush::as_chars(*plain));
  }

  // Checks the RFC 8030/8291/8292 side of a request as a push service would.
  void expect_push_request(const RecordedRequest& r, std::int64_t ttl_at_most,
                           std::int64_t ttl_at_least) {
    SCOPED_TRACE(r.path);
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.header("content-encoding"), "aes128gcm");
    const std::int64_t ttl = std::stoll(r.header("ttl"));
    EXPECT_LE(ttl, ttl_at_most);
    EXPECT_GE(ttl, ttl_at_least);
    EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));
    const std::string authorization = r.header("authorization");
    EXPECT_EQ(authorization.rfind("vapid t=", 0), 0u) << authorization;
    EXPECT_NE(authorization.find(", k="), std::string::npos) << authorization;
    auto parsed = webpush::parse_vapid_authorization(authorization);
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->key, vapid_->key().public_key());
    auto claims =
        webpush::verify_vapid_token(parsed->token, parsed->key, server_.origin(), now_unix());
    EXPECT_TRUE(claims) << claims.error().message;
    EXPECT_EQ(decrypt(r), kPayload);
  }

  ScriptedHttpServer server_;
  ScriptedHttpServer other_;
  std::optional<webpush::PushHostPolicy> hosts_;
  std::unique_ptr<webpush::VapidTokenCache> vapid_;
  Message message_;
  PipelineOptions options_;
  RecordingSink sink_;
  LiveCounters live_;
  std::atomic<bool> cancel_{false};
  std::map<std::int64_t, Subscriber> subscribers_;
  std::int64_t next_id_ = 0;
};

// --- everything accepted ---

TEST_P(PipelineTest, AllAcceptedEveryTargetGetsOneRequestThatDecryptsWithTheRightHeaders) {
  const std::int64_t deadline = message_.deadline_unix;
  const std::int64_t started_ms = now_unix() * 1000;
  const std::int64_t ttl_at_most = deadline - now_unix();
  const RunResult result = run(shards({3, 3, 2}));
  const std::int64_t ttl_at_least = deadline - now_unix();

  EXPECT_EQ(result.error, "");
  EXPECT_FALSE(result.cancelled);
  EXPECT_EQ(result.messages, 8u);
  EXPECT_EQ(result.counts.sent, 8u);
  EXPECT_EQ(result.counts.failed + result.counts.gone + result.counts.retried, 0u);
  EXPECT_EQ(histogram_total(result.counts.accept_latency), 8u);
  EXPECT_GE(result.counts.last_accept_ms, started_ms);

  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 8u);
  for (std::int64_t id = 1; id <= 8; ++id) EXPECT_EQ(server_.count(path_for(id)), 1) << id;
  std::set<std::string> sender_keys;
  for (const auto& r : requests) {
    expect_push_request(r, ttl_at_most, ttl_at_least);
    EXPECT_EQ(r.header("urgency"), "high");
    EXPECT_EQ(r.header("topic"), "bridge");
    ASSERT_GE(r.body.size(), 86u);
    sender_keys.insert(r.body.substr(21, 65));  // RFC 8188 keyid: the sender's public key
  }
  EXPECT_EQ(sender_keys.size(), 8u) << "a new ephemeral key per message by default";

  EXPECT_EQ(sink_.reports().size(), 3u);
  for (const auto& [range, size] :
       {std::pair{store::ShardRange{0, 3}, 3u}, std::pair{store::ShardRange{3, 6}, 3u},
        std::pair{store::ShardRange{6, 8}, 2u}}) {
    const auto report = sink_.report_of(range);
    EXPECT_EQ(report.targets, size);
    EXPECT_EQ(report.counts.sent, size);
    EXPECT_EQ(report.counts.failed + report.counts.gone + report.counts.retried, 0u);
    EXPECT_TRUE(report.gone.empty());
  }
  EXPECT_TRUE(sink_.problems().empty());
  EXPECT_EQ(sink_.overlaps(), 0);

  EXPECT_EQ(live_.sent, 8u);
  EXPECT_EQ(live_.requests, 8u);
  EXPECT_EQ(live_.in_flight, 0u);
  EXPECT_EQ(live_.failed + live_.gone + live_.retried, 0u);
  // One token per push-service origin, not one per message.
  EXPECT_EQ(vapid_->tokens_signed(), 1u);
}

TEST_P(PipelineTest, UrgencyAndTopicHeadersAreLeftOutWhenNotSet) {
  message_.urgency.clear();
  message_.topic.clear();
  const RunResult result = run(shards({2}));
  EXPECT_EQ(result.counts.sent, 2u);
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.headers.count("urgency"), 0u);
    EXPECT_EQ(r.headers.count("topic"), 0u);
    EXPECT_EQ(decrypt(r), kPayload);
  }
}

TEST_P(PipelineTest, APerBroadcastKeyIsOneSenderKeyWithANewSaltPerMessage) {
  options_.per_broadcast_key = true;
  const RunResult result = run(shards({4}));
  EXPECT_EQ(result.counts.sent, 4u);
  std::set<std::string> sender_keys;
  std::set<std::string> salts;
  for (const auto& r : server_.requests()) {
    EXPECT_EQ(decrypt(r), kPayload);
    sender_keys.insert(r.body.substr(21, 65));
    salts.insert(r.body.substr(0, 16));
  }
  EXPECT_EQ(sender_keys.size(), 1u);
  EXPECT_EQ(salts.size(), 4u);
}

// --- answers that mean "try again" ---

TEST_P(PipelineTest, TooManyRequestsIsRetriedOnceAfterRetryAfter) {
  server_.set_script([](const RecordedRequest&, int nth) {
    return nth == 1 ? Response::answer(429, {{"Retry-After", "1"}}) : Response::answer(201);
  });
  const RunResult result = run(shards({1}));

  EXPECT_EQ(result.counts.sent, 1u);
  EXPECT_EQ(result.counts.retried, 1u);
  EXPECT_EQ(result.counts.failed, 0u);
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].path, requests[1].path);
  // Retry-After is the minimum wait (a lower bound only: the machine is shared).
  EXPECT_GE(requests[1].arrived - requests[0].arrived, 1000ms);
  EXPECT_EQ(decrypt(requests[1]), kPayload);
  const auto report = sink_.report_of({0, 1});
  EXPECT_EQ(report.counts.sent, 1u);
  EXPECT_EQ(report.counts.retried, 1u);
  EXPECT_EQ(live_.retried, 1u);
  EXPECT_EQ(live_.requests, 2u);
}

TEST_P(PipelineTest, ServerErrorsAndRequestTimeoutsAreRetried) {
  const int first_answers[] = {500, 502, 503, 408};
  server_.set_script([&first_answers](const RecordedRequest& r, int nth) {
    const auto id = std::stoi(r.path.substr(6));
    return nth == 1 ? Response::answer(first_answers[id - 1]) : Response::answer(201);
  });
  const RunResult result = run(shards({4}));

  EXPECT_EQ(result.counts.sent, 4u);
  EXPECT_EQ(result.counts.retried, 4u);
  EXPECT_EQ(result.counts.failed, 0u);
  EXPECT_EQ(server_.request_count(), 8u);
  for (std::int64_t id = 1; id <= 4; ++id) EXPECT_EQ(server_.count(path_for(id)), 2) << id;
}

TEST_P(PipelineTest, RetriesStopAtMaxAttempts) {
  options_.max_attempts = 3;
  server_.set_script([](const RecordedRequest&, int) { return Response::answer(503); });
  const RunResult result = run(shards({2}));

  EXPECT_EQ(result.counts.sent, 0u);
  EXPECT_EQ(result.counts.failed, 2u);
  EXPECT_EQ(result.counts.failed_by_reason, (Reasons{{"retries_exhausted_http_503", 2}}));
  EXPECT_EQ(result.counts.retried, 4u);
  EXPECT_EQ(server_.count(path_for(1)), 3);
  EXPECT_EQ(server_.count(path_for(2)), 3);
}

// --- answers that are final ---

TEST_P(PipelineTest, GoneSubscriptionsAreReportedForDeletion) {
  server_.set_script([](const RecordedRequest& r, int) {
    if (r.path == path_for(1)) return Response::answer(410);
    if (r.path == path_for(2)) return Response::answer(404);
    return Response::answer(201);
  });
  const RunResult result = run(shards({3}));

  EXPECT_EQ(result.counts.gone, 2u);
  EXPECT_EQ(result.counts.sent, 1u);
  EXPECT_EQ(result.counts.failed + result.counts.retried, 0u);
  EXPECT_EQ(server_.request_count(), 3u);
  auto gone = sink_.report_of({0, 3}).gone;
  std::sort(gone.begin(), gone.end(),
            [](const auto& a, const auto& b) { return a.subscription_id < b.subscription_id; });
  ASSERT_EQ(gone.size(), 2u);
  EXPECT_EQ(fields(gone[0]), std::make_tuple(std::int64_t{1}, server_.url(path_for(1))));
  EXPECT_EQ(fields(gone[1]), std::make_tuple(std::int64_t{2}, server_.url(path_for(2))));
  EXPECT_EQ(live_.gone, 2u);
}

TEST_P(PipelineTest, OtherClientErrorsFailTheMessageWithoutARetry) {
  const int answers[] = {413, 400, 418};
  server_.set_script([&answers](const RecordedRequest& r, int) {
    return Response::answer(answers[std::stoi(r.path.substr(6)) - 1]);
  });
  const RunResult result = run(shards({3}));

  EXPECT_EQ(result.counts.failed, 3u);
  EXPECT_EQ(result.counts.failed_by_reason,
            (Reasons{{"http_400", 1}, {"http_413", 1}, {"http_418", 1}}));
  EXPECT_EQ(result.counts.retried, 0u);
  EXPECT_EQ(server_.request_count(), 3u);
  EXPECT_EQ(sink_.report_of({0, 3}).counts.failed_by_reason, result.counts.failed_by_reason);
}

TEST_P(PipelineTest, ARejectedVapidKeyStopsSendingToThatOriginOnlyAndIsReportedOnce) {
  for (const int status : {403, 401}) {
    SCOPED_TRACE(status);
    RecordingSink sink;
    const std::size_t before = server_.request_count();
    const std::size_t other_before = other_.request_count();
    server_.set_script([status](const RecordedRequest&, int) { return Response::answer(status); });
    options_.per_origin_in_flight = 1;  // so that the first answer comes before any other request

    // Interleaved: five targets on the rejecting service, three on another one.
    std::vector<Shard> list = shards({3, 3, 2});
    int i = 0;
    for (Shard& shard : list) {
      for (Target& t : shard.targets) {
        if (i++ % 3 == 0) t = target(t.id, &other_);
      }
    }
    VectorSource source(list);
    const RunResult result = run_with(source, sink);

    EXPECT_EQ(server_.request_count() - before, 1u);
    EXPECT_EQ(other_.request_count() - other_before, 3u);
    EXPECT_EQ(result.counts.sent, 3u);
    EXPECT_EQ(result.counts.failed, 5u);
    EXPECT_EQ(result.counts.failed_by_reason, (Reasons{{"vapid_rejected", 5}}));
    EXPECT_EQ(result.counts.retried, 0u);
    EXPECT_EQ(result.error, "");
    const auto problems = sink.problems();
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find(server_.origin()), std::string::npos) << problems[0];
    EXPECT_NE(problems[0].find(std::to_string(status)), std::string::npos) << problems[0];
    EXPECT_EQ(sink.reports().size(), 3u);
  }
}

// --- no answer ---

TEST_P(PipelineTest, SlowAnswersTimeOutAndAreRetriedUntilAttemptsRunOut) {
  options_.request_timeout = 300ms;
  options_.max_attempts = 2;
  server_.set_script([](const RecordedRequest&, int) { return Response::hold(); });
  const auto started = std::chrono::steady_clock::now();
  const RunResult result = run(shards({1}));

  EXPECT_GE(std::chrono::steady_clock::now() - started, 600ms);
  EXPECT_EQ(result.counts.failed, 1u);
  EXPECT_EQ(result.counts.failed_by_reason, (Reasons{{"retries_exhausted_timeout", 1}}));
  EXPECT_EQ(result.counts.retried, 1u);
  EXPECT_EQ(server_.count(path_for(1)), 2);
  EXPECT_EQ(sink_.report_of({0, 1}).counts.failed, 1u);
  EXPECT_EQ(live_.in_flight, 0u);
}

TEST_P(PipelineTest, ASlowAnswerWithinTheTimeoutIsFine) {
  options_.request_timeout = 3000ms;
  server_.set_script([](const RecordedRequest&, int) { return Response::answer(201, {}, 200ms); });
  const RunResult result = run(shards({2}));
  EXPECT_EQ(result.counts.sent, 2u);
  EXPECT_EQ(result.counts.retried, 0u);
  EXPECT_EQ(server_.request_count(), 2u);
}

// Each run has its own connections, so the dropped request is the first on a fresh connection
// (libcurl itself re-sends a request once when a reused keep-alive connection turns out closed).
TEST_P(PipelineTest, ConnectionsClosedOrResetWithoutAnAnswerAreRetried) {
  for (const bool reset : {false, true}) {
    SCOPED_TRACE(reset ? "reset" : "closed");
    RecordingSink sink;
    server_.set_script([reset](const RecordedRequest&, int nth) {
      if (nth == 1) return reset ? Response::reset() : Response::close();
      return Response::answer(201);
    });
    std::vector<Shard> list = shards({1});
    const std::string path = path_for(list[0].targets[0].id);
    VectorSource source(list);
    const RunResult result = run_with(source, sink);

    EXPECT_EQ(result.counts.sent, 1u);
    EXPECT_EQ(result.counts.retried, 1u);
    EXPECT_EQ(result.counts.failed, 0u);
    EXPECT_EQ(server_.count(path), 2);
    ASSERT_EQ(sink.reports().size(), 1u);
    EXPECT_EQ(sink.reports()[0].counts.sent, 1u);
  }
}

TEST_P(PipelineTest, RefusedConnectionsOpenTheBreakerAndFailAfterTheirAttempts) {
  const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port());
  auto hosts = webpush::PushHostPolicy::create({server_.origin(), dead}, false);
  ASSERT_TRUE(hosts) << hosts.error().message;
  hosts_ = std::move(*hosts);
  options_.breaker_threshold = 2;
  options_.max_attempts = 2;
  std::vector<Shard> list = shards({3});
  list[0].targets[0].endpoint = dead + "/push/1";
  list[0].targets[1].endpoint = dead + "/push/2";
  const RunResult result = run(list);

  EXPECT_EQ(result.counts.sent, 1u);  // the breaker is per origin
  EXPECT_EQ(result.counts.failed_by_reason, (Reasons{{"retries_exhausted_connect_failed", 2}}));
  EXPECT_EQ(result.counts.retried, 2u);
  EXPECT_EQ(live_.requests, 5u);
  EXPECT_EQ(server_.request_count(), 1u);
}

// --- never sent ---

TEST_P(PipelineTest, TargetsOnHostsNotAllowedFailWithoutARequest) {
  std::vector<Shard> list = shards({3, 2});
  list[0].targets[0].endpoint = "http://127.0.0.1:1/push/1";  // not an allowed origin
  list[0].targets[2].endpoint = "https://push.evil.example/push/3";
  list[1].targets[0].endpoint = "not a url";
  list[1].targets[1].endpoint = "http://localhost:" + std::to_string(server_.port()) + "/push/5";
  const RunResult result = run(list);

  EXPECT_EQ(result.counts.sent, 1u);
  EXPECT_EQ(result.counts.failed_by_reason, (Reasons{{"host_not_allowed", 4}}));
  ASSERT_EQ(server_.request_count(), 1u);
  EXPECT_EQ(server_.requests()[0].path, path_for(2));
  // A shard whose targets all failed before sending is still reported.
  EXPECT_EQ(sink_.report_of({3, 5}).counts.failed, 2u);
  EXPECT_EQ(sink_.report_of({0, 3}).counts.failed, 2u);
  EXPECT_EQ(live_.requests, 1u);
}

// --- vendor limits, checked before sending ---

TEST_P(PipelineTest, AMessageOverMaxMessageBytesFailsWithoutARequestAndIsReportedOnce) {
  const std::size_t size = encrypted_size(message_.payload.size());
  options_.max_message_bytes = size - 1;
  const RunResult result = run(shards({3, 2}));

  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.counts.failed_by_reason, (Reasons{{"message_too_large", 5}}));
  EXPECT_EQ(server_.request_count(), 0u);
  EXPECT_EQ(live_.requests, 0u);
  const auto problems = sink_.problems();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find(std::to_string(size) + " bytes"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("max_message_bytes"), std::string::npos) << problems[0];
}

TEST_P(PipelineTest, AMessageAtMaxMessageBytesGoes) {
  options_.max_message_bytes = encrypted_size(message_.payload.size());
  const RunResult result = run(shards({2}));
  EXPECT_EQ(result.counts.sent, 2u);
  ASSERT_EQ(server_.request_count(), 2u);
  EXPECT_EQ(server_.requests()[0].body.size(), options_.max_message_bytes);
}

TEST_P(PipelineTest, AnInvalidTopicRefusesTheRunBeforeAnyRequest) {
  for (const std::string& topic :
       {std::string(33, 'a'), std::string("live news"), std::string("a+b")}) {
    SCOPED_TRACE(topic);
    message_.topic = topic;
    const RunResult result = run(shards({2}));
    EXPECT_NE(result.error.find("topic"), std::string::npos) << result.error;
    EXPECT_EQ(server_.request_count(), 0u);
  }
  message_.topic = std::string(32, '_');
  EXPECT_EQ(run(shards({1})).counts.sent, 1u);
}

TEST_P(PipelineTest, APlaceholderVapidSubjectIsNotSentToAppleButToOthers) {
  auto hosts = webpush::PushHostPolicy::create({server_.origin()});  // the vendors' too
  ASSERT_TRUE(hosts) << hosts.error().message;
  hosts_ = std::move(*hosts);
  auto vapid = webpush::VapidTokenCache::create(webpush::P256KeyPair::generate(),
                                                "mailto:news@example.com", system_clock());
  ASSERT_TRUE(vapid) << vapid.error().message;
  vapid_ = std::move(*vapid);
  std::vector<Shard> list = shards({4});
  // Never contacted: the subject is refused before any connection to Apple is made.
  list[0].targets[1].endpoint = "https://web.push.apple.com/QGuQyavXutnMH7KN8fwp9";
  list[0].targets[3].endpoint = "https://web.push.apple.com/Qk2P0lZr8pPxoqH0Tbw3e";
  const RunResult result = run(list);

  EXPECT_EQ(result.counts.sent, 2u);
  EXPECT_EQ(result.counts.failed_by_reason, (Reasons{{"vapid_subject_rejected", 2}}));
  EXPECT_EQ(server_.request_count(), 2u);
  EXPECT_EQ(live_.requests, 2u);
  const auto problems = sink_.problems();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("https://web.push.apple.com"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("example.com"), std::string::npos) << problems[0];
}

TEST_P(PipelineTest, InvalidStoredKeysFailOneMessageNotTheRun) {
  std::vector<Shard> list = shards({3});
  list[0].targets[1].p256dh = "not-a-key";
  list[0].targets[2].auth = "c2hvcnQ";  // 5 bytes
  const RunResult result = run(list);
  EXPECT_EQ(result.counts.sent, 1u);
  EXPECT_EQ(result.counts.failed_by_reason, (Reasons{{"invalid_keys", 2}}));
  EXPECT_EQ(server_.request_count(), 1u);
  EXPECT_EQ(result.error, "");
}

TEST_P(PipelineTest, ADeadlineReachedExpiresEverythingWithoutARequest) {
  for (const std::int64_t late : {1, 0}) {
    SCOPED_TRACE(late);
    RecordingSink sink;
    message_.deadline_unix = now_unix() - late;
    VectorSource source(shards({3, 2}));
    const RunResult result = run_with(source, sink);

    EXPECT_EQ(result.counts.failed_by_reason, (Reasons{{"expired", 5}}));
    EXPECT_EQ(result.counts.sent, 0u);
    EXPECT_EQ(result.messages, 5u);
    EXPECT_EQ(sink.reports().size(), 2u);
  }
  EXPECT_EQ(server_.request_count(), 0u);
}

TEST_P(PipelineTest, ARetryThatWouldLandAfterTheDeadlineExpiresInstead) {
  message_.deadline_unix = now_unix() + 5;
  server_.set_script([](const RecordedRequest& r, int) {
    if (r.path == path_for(1)) return Response::answer(429, {{"Retry-After", "60"}});
    return Response::answer(500);
  });
  options_.backoff = {20'000ms, 60'000ms};  // the 500's computed wait is past the deadline too
  const RunResult result = run(shards({2}));

  EXPECT_EQ(result.counts.failed_by_reason, (Reasons{{"expired", 2}}));
  EXPECT_EQ(result.counts.retried, 0u);
  EXPECT_EQ(server_.count(path_for(1)), 1);
  EXPECT_EQ(server_.count(path_for(2)), 1);
}

TEST_P(PipelineTest, TheTtlHeaderCarriesOnlyTheTimeThatIsLeft) {
  message_.deadline_unix = now_unix() + 30;
  const RunResult result = run(shards({1}));
  EXPECT_EQ(result.counts.sent, 1u);
  ASSERT_EQ(server_.request_count(), 1u);
  const std::int64_t ttl = std::stoll(server_.requests()[0].header("ttl"));
  EXPECT_LE(ttl, 30);
  EXPECT_GE(ttl, 1);
}

// --- stopping early ---

TEST_P(PipelineTest, CancellingStopsClaimingAndSending) {
  options_.concurrency = 1;
  options_.max_open_shards = 1;
  sink_.on_report = [this](std::size_t) { cancel_ = true; };
  const RunResult result = run(shards(std::vector<std::size_t>(20, 1)));

  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(sink_.reports().size(), 1u);
  EXPECT_EQ(server_.request_count(), 1u);
  EXPECT_EQ(result.counts.sent, 1u);
}

TEST_P(PipelineTest, CancellingAbandonsRequestsInFlightAndLeavesTheirShardsOpen) {
  server_.set_script([](const RecordedRequest&, int) { return Response::hold(); });
  std::thread canceller([this] {
    server_.wait_for_requests(2, 10s);
    cancel_ = true;
  });
  const RunResult result = run(shards({2, 2}));
  canceller.join();

  EXPECT_TRUE(result.cancelled);
  EXPECT_TRUE(sink_.reports().empty());
  EXPECT_EQ(result.counts.sent + result.counts.failed, 0u);
  EXPECT_GE(server_.request_count(), 2u);
  // Started, at most once per target (some may not have reached the server when cancelled).
  EXPECT_GE(live_.requests, server_.request_count());
  EXPECT_LE(live_.requests, 4u);
  EXPECT_EQ(live_.in_flight, 0u);  // abandoned requests are no longer in flight
}

TEST_P(PipelineTest, ASinkErrorStopsTheRun) {
  options_.concurrency = 1;
  sink_.fail_on = 2;
  const RunResult result = run(shards(std::vector<std::size_t>(10, 1)));

  EXPECT_EQ(result.error, "sink: disk full");
  EXPECT_FALSE(result.cancelled);
  EXPECT_EQ(sink_.reports().size(), 2u);
  EXPECT_EQ(server_.request_count(), 2u);
  EXPECT_EQ(result.counts.sent, 1u);  // of the shards recorded
}

TEST_P(PipelineTest, ASourceErrorStopsTheRun) {
  VectorSource source(shards({2, 2, 2, 2}), /*fail_at=*/3);
  const RunResult result = run_with(source, sink_);

  EXPECT_EQ(result.error, "source: locked");
  EXPECT_EQ(result.messages, 4u);
  EXPECT_EQ(source.calls(), 3);
  EXPECT_LE(server_.request_count(), 4u);
  EXPECT_EQ(result.counts.sent, sink_.reports().size() * 2);
}

// --- limits and bookkeeping ---

TEST_P(PipelineTest, ThePerOriginInFlightCapIsRespected) {
  options_.concurrency = 16;
  options_.per_origin_in_flight = 3;
  server_.set_script([](const RecordedRequest&, int) { return Response::answer(201, {}, 300ms); });
  const RunResult result = run(shards({6, 6}));

  EXPECT_EQ(result.counts.sent, 12u);
  EXPECT_EQ(server_.request_count(), 12u);
  EXPECT_LE(server_.max_concurrent(), 3);
  EXPECT_GE(server_.max_concurrent(), 2);  // it was the cap, not the client, that held back
}

TEST_P(PipelineTest, AnOriginThatHoldsItsAnswersDoesNotHoldUpTheOthers) {
  // One shard open at a time, one request at a time per origin, and every shard has one target
  // on each origin. server_ answers its first request only once other_ has had all of its own
  // (or after 10 s): if the pipeline read no further than its open shards, other_ would wait.
  constexpr std::size_t kShards = 60;
  options_.max_open_shards = 1;
  options_.per_origin_in_flight = 1;
  std::atomic<bool> others_went_first{false};
  server_.set_script([&](const RecordedRequest&, int) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (other_.request_count() < kShards && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(5ms);
    }
    if (other_.request_count() >= kShards) others_went_first = true;
    return Response::answer(201);
  });
  std::vector<Shard> list = shards(std::vector<std::size_t>(kShards, 2));
  for (Shard& shard : list) shard.targets[1] = target(shard.targets[1].id, &other_);
  const RunResult result = run(std::move(list));

  EXPECT_TRUE(others_went_first) << "other_ got " << other_.request_count() << " of " << kShards
                                 << " requests while server_ held its first answer";
  EXPECT_EQ(result.counts.sent, 2 * kShards);
  EXPECT_EQ(sink_.reports().size(), kShards);
}

TEST_P(PipelineTest, MessagesReadAheadBehindASlowOriginAreBounded) {
  // The same slow origin with max_parked_messages = 5: the pipeline stops reading ahead, so
  // other_ gets only a few requests before server_'s first answer.
  constexpr std::size_t kShards = 60;
  options_.max_open_shards = 1;
  options_.per_origin_in_flight = 1;
  options_.max_parked_messages = 5;
  std::atomic<std::size_t> other_at_first_answer{0};
  server_.set_script([&](const RecordedRequest&, int) {
    if (other_at_first_answer == 0) {
      // Long enough for an unbounded read-ahead to send all of other_'s requests.
      const auto until = std::chrono::steady_clock::now() + 1s;
      while (other_.request_count() < kShards && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(5ms);
      }
      other_at_first_answer = std::max<std::size_t>(1, other_.request_count());
    }
    return Response::answer(201);
  });
  std::vector<Shard> list = shards(std::vector<std::size_t>(kShards, 2));
  for (Shard& shard : list) shard.targets[1] = target(shard.targets[1].id, &other_);
  const RunResult result = run(std::move(list));

  EXPECT_LE(other_at_first_answer.load(), 8u);
  EXPECT_EQ(result.counts.sent, 2 * kShards);
}

TEST_P(PipelineTest, ThePerOriginCapIsSharedOutOverThreads) {
  options_.threads = 2;
  options_.concurrency = 16;
  options_.per_origin_in_flight = 4;
  server_.set_script([](const RecordedRequest&, int) { return Response::answer(201, {}, 200ms); });
  const RunResult result = run(shards({4, 4, 4, 4}));

  EXPECT_EQ(result.counts.sent, 16u);
  EXPECT_LE(server_.max_concurrent(), 4);
}

TEST_P(PipelineTest, ZeroLimitsAreTreatedAsOne) {
  options_.concurrency = 0;
  options_.per_origin_in_flight = 0;
  options_.per_origin_connections = 0;
  options_.max_open_shards = 0;
  const RunResult result = run(shards({2, 1}));
  EXPECT_FALSE(result.cancelled);
  EXPECT_EQ(result.counts.sent, 3u);
  EXPECT_EQ(server_.max_concurrent(), 1);
  EXPECT_EQ(sink_.reports().size(), 2u);
}

TEST_P(PipelineTest, EveryShardIsReportedOnceWithItsOwnCounts) {
  std::vector<Shard> list = shards({4, 2, 0, 2});
  list[3].targets[0].endpoint = "https://push.evil.example/push/7";
  server_.set_script([](const RecordedRequest& r, int nth) {
    if (r.path == path_for(2)) return Response::answer(410);
    if (r.path == path_for(3)) return Response::answer(413);
    if (r.path == path_for(4) && nth == 1) return Response::answer(500);
    return Response::answer(201);
  });
  const RunResult result = run(list);

  ASSERT_EQ(sink_.reports().size(), 4u);
  const auto first = sink_.report_of({0, 4});
  EXPECT_EQ(first.counts.sent, 2u);
  EXPECT_EQ(first.counts.gone, 1u);
  EXPECT_EQ(first.counts.failed_by_reason, (Reasons{{"http_413", 1}}));
  EXPECT_EQ(first.counts.retried, 1u);
  ASSERT_EQ(first.gone.size(), 1u);
  EXPECT_EQ(first.gone[0].subscription_id, 2);
  EXPECT_EQ(histogram_total(first.counts.accept_latency), 2u);

  const auto second = sink_.report_of({4, 6});
  EXPECT_EQ(second.counts.sent, 2u);
  EXPECT_EQ(second.counts.failed + second.counts.gone + second.counts.retried, 0u);

  const auto empty = sink_.report_of({6, 7});
  EXPECT_EQ(empty.targets, 0u);
  EXPECT_EQ(empty.counts.sent + empty.counts.failed + empty.counts.gone, 0u);

  const auto last = sink_.report_of({7, 9});
  EXPECT_EQ(last.counts.sent, 1u);
  EXPECT_EQ(last.counts.failed_by_reason, (Reasons{{"host_not_allowed", 1}}));

  EXPECT_EQ(result.messages, 8u);
  EXPECT_EQ(result.counts.sent, 5u);
  EXPECT_EQ(result.counts.gone, 1u);
  EXPECT_EQ(result.counts.failed, 2u);
  EXPECT_EQ(result.counts.retried, 1u);
  EXPECT_EQ(server_.request_count(), 8u);  // 7 targets sent to, one of them twice
}

TEST_P(PipelineTest, TwoThreadsDeliverEveryTargetExactlyOnce) {
  options_.threads = 2;
  options_.concurrency = 8;
  options_.max_open_shards = 2;
  server_.set_script([](const RecordedRequest& r, int nth) {
    const auto id = std::stoi(r.path.substr(6));
    return id % 5 == 0 && nth == 1 ? Response::answer(503) : Response::answer(201);
  });
  const RunResult result = run(shards(std::vector<std::size_t>(12, 5)));

  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.messages, 60u);
  EXPECT_EQ(result.counts.sent, 60u);
  EXPECT_EQ(result.counts.retried, 12u);
  EXPECT_EQ(result.counts.failed, 0u);
  EXPECT_EQ(server_.request_count(), 72u);
  for (std::int64_t id = 1; id <= 60; ++id) {
    EXPECT_EQ(server_.count(path_for(id)), id % 5 == 0 ? 2 : 1) << id;
  }
  ASSERT_EQ(sink_.reports().size(), 12u);
  for (std::int64_t shard = 0; shard < 12; ++shard) {
    EXPECT_EQ(sink_.report_of({shard * 5, shard * 5 + 5}).counts.sent, 5u);
  }
  EXPECT_EQ(sink_.overlaps(), 0);
  EXPECT_EQ(live_.sent, 60u);
  EXPECT_EQ(live_.requests, 72u);
  EXPECT_EQ(live_.in_flight, 0u);
  for (const auto& r : server_.requests()) EXPECT_EQ(decrypt(r), kPayload);
}

// The breaker lets one trial through after its cool-down. A trial that ends without a request
// (the subscriber's stored key is bad) must not leave the origin blocked for the rest of the run.
TEST_P(PipelineTest, ATrialThatNeverLeavesDoesNotBlockTheOriginAfterTheCooldown) {
  message_.deadline_unix = now_unix() + 4;
  options_.concurrency = 1;
  options_.breaker_threshold = 1;
  options_.breaker_cooldown = 100ms;
  options_.backoff = {600ms, 600ms};  // the retry is due after the breaker half-opens
  server_.set_script([](const RecordedRequest&, int nth) {
    return nth == 1 ? Response::reset() : Response::answer(201);
  });
  std::vector<Shard> list = shards({2});
  list[0].targets[1].p256dh = "not-a-key";  // the job the half-open breaker lets through first
  const RunResult result = run(list);

  EXPECT_EQ(result.counts.sent, 1u);
  EXPECT_EQ(result.counts.failed_by_reason, (Reasons{{"invalid_keys", 1}}));
  EXPECT_EQ(server_.count(path_for(1)), 2);
}

// --- no descriptors left (issue: an exception from a sender thread ended the process) ---

TEST_P(PipelineTest, NoDescriptorLeftFailsTheRunWithAnErrorInsteadOfEndingTheProcess) {
  std::vector<Shard> shard_list = shards({2});
  // The lowest free descriptor number becomes the limit: every new descriptor fails (EMFILE).
  const int probe = ::dup(0);
  ASSERT_GE(probe, 0);
  ::close(probe);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(probe);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  const RunResult result = run(std::move(shard_list));
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);

  EXPECT_NE(result.error.find("Too many open files"), std::string::npos) << result.error;
  EXPECT_EQ(result.counts.sent, 0u);
  EXPECT_EQ(server_.request_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Clients, PipelineTest,
                         ::testing::Values(Client::kCurl, Client::kBuiltin,
                                           Client::kBuiltinPipelined),
                         [](const ::testing::TestParamInfo<Client>& param) {
                           switch (param.param) {
                             case Client::kCurl:
                               return std::string("Curl");
                             case Client::kBuiltin:
                               return std::string("Builtin");
                             case Client::kBuiltinPipelined:
                               return std::string("BuiltinPipelined");
                           }
                           return std::string("Unknown");
                         });

TEST(VendorRulesTest, AppleRefusesPlaceholderSubjects) {
  for (const char* bad :
       {"mailto:ops@localhost", "mailto:news@example.com", "mailto:a@news.example",
        "mailto:a@site.invalid", "mailto:a@host.test", "mailto:a@box.local", "mailto:a@intranet",
        "https://example.org/contact", "https://localhost/contact", "https://a.b.example.net",
        "news@site.com"}) {
    EXPECT_NE(apple_subject_problem(bad), "") << bad;
  }
  for (const char* good : {"mailto:news@flashwire.news", "mailto:ops@push.news-site.co.uk",
                           "https://flashwire.news/contact", "mailto:a@examples.com"}) {
    EXPECT_EQ(apple_subject_problem(good), "") << good;
  }
}

TEST(VendorRulesTest, AppleOriginsAreRecognisedByHost) {
  EXPECT_TRUE(is_apple_origin("https://web.push.apple.com"));
  EXPECT_TRUE(is_apple_origin("https://web.push.apple.com:443"));
  EXPECT_TRUE(is_apple_origin("https://api.push.apple.com"));
  EXPECT_FALSE(is_apple_origin("https://push.apple.com.evil.example"));
  EXPECT_FALSE(is_apple_origin("https://fcm.googleapis.com"));
  EXPECT_FALSE(is_apple_origin("http://web.push.apple.com"));
}

TEST(VendorRulesTest, TopicsAreAtMost32Base64urlCharacters) {
  EXPECT_TRUE(check_topic(""));
  EXPECT_TRUE(check_topic("live-1234_x"));
  EXPECT_TRUE(check_topic(std::string(32, 'Z')));
  EXPECT_FALSE(check_topic(std::string(33, 'Z')));
  EXPECT_FALSE(check_topic("a=b"));
  EXPECT_FALSE(check_topic("a/b"));
  EXPECT_EQ(check_topic("a b").error().code, ErrorCode::kInvalid);
}

// VENDORS.md: Apple answers 400 BadWebPushTopic to topic lengths of 1 more than a multiple of 4.
TEST(VendorRulesTest, AppleGetsAStandInForTopicLengthsItRefuses) {
  const std::string apple = "https://web.push.apple.com";
  const std::string stand_in = topic_for_origin("live-1000", apple);  // 9 characters
  EXPECT_EQ(stand_in.size(), 32u);
  EXPECT_TRUE(check_topic(stand_in)) << stand_in;
  EXPECT_EQ(topic_for_origin("live-1000", apple), stand_in) << "the same event, the same topic";
  EXPECT_NE(topic_for_origin("live-1001", apple), stand_in);
  for (std::size_t n = 1; n <= 32; ++n) {
    const std::string topic(n, 'q');
    const std::string sent = topic_for_origin(topic, apple);
    if (n % 4 == 1) {
      EXPECT_EQ(sent.size(), 32u) << n;
      EXPECT_TRUE(check_topic(sent)) << n;
    } else {
      EXPECT_EQ(sent, topic) << "lengths Apple takes are sent as they are: " << n;
    }
  }
  EXPECT_EQ(topic_for_origin("live-1000", "https://fcm.googleapis.com"), "live-1000");
  EXPECT_EQ(topic_for_origin("live-1000", "https://updates.push.services.mozilla.com"),
            "live-1000");
}

TEST(VendorRulesTest, TheTopicHeaderToAppleIsTheStandIn) {
  auto vapid = webpush::VapidTokenCache::create(webpush::P256KeyPair::generate(),
                                                "mailto:news@flashwire.news", system_clock());
  ASSERT_TRUE(vapid) << vapid.error().message;
  const std::int64_t now = system_clock().now_seconds();
  RequestHeaderCache cache(**vapid, {false, now + 600, "high", "live-1000"});
  auto topic_of = [&](const std::string& origin) {
    const RequestHeaders* headers = cache.get(origin, now);
    EXPECT_NE(headers, nullptr);
    std::string h2_topic;
    for (const auto& [name, value] : *headers->h2) {
      if (name == "topic") h2_topic = value;
    }
    EXPECT_NE(headers->http1.find("Topic: " + h2_topic + "\r\n"), std::string::npos)
        << headers->http1;
    return h2_topic;
  };
  EXPECT_EQ(topic_of("https://web.push.apple.com"),
            topic_for_origin("live-1000", "https://web.push.apple.com"));
  EXPECT_NE(topic_of("https://web.push.apple.com"), "live-1000");
  EXPECT_EQ(topic_of("https://fcm.googleapis.com"), "live-1000");
}

TEST(VendorRulesTest, EncryptedSizeIsTheRecordOfTheLargestPlaintext) {
  EXPECT_EQ(encrypted_size(webpush::kMaxPlaintextSize), webpush::kWebPushRecordSize);
}

}  // namespace
}  // namespace flashwire::fanout
