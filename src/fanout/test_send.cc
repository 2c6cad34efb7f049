#include "fanout/test_send.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>
#include <vector>

#include "fanout/engine.h"

namespace flashwire::fanout {
namespace {

constexpr std::int64_t kSendWindowSeconds = 20;

// The one target, as a single shard.
class OneTarget final : public TargetSource {
 public:
  explicit OneTarget(Target target) : target_(std::move(target)) {}
  tl::expected<std::optional<Shard>, Error> next_shard() override {
    if (taken_) return std::optional<Shard>();
    taken_ = true;
    Shard shard;
    shard.range = {0, 1};
    shard.targets.push_back(target_);
    return std::optional<Shard>(std::move(shard));
  }

 private:
  Target target_;
  bool taken_ = false;
};

// Keeps what the run says about the one message.
class Outcomes final : public ProgressSink {
 public:
  tl::expected<void, Error> shard_done(const Shard&, const store::DeliveryCounts& counts,
                                       const std::vector<store::GoneSubscription>&) override {
    counts_ = counts;
    return {};
  }
  void problem(const std::string& message) override {
    if (problem_.empty()) problem_ = message;
  }
  void answered(const Target&, int status) override { status_ = status; }

  const store::DeliveryCounts& counts() const { return counts_; }
  const std::string& problem() const { return problem_; }
  int status() const { return status_; }

 private:
  store::DeliveryCounts counts_;
  std::string problem_;
  int status_ = 0;
};

}  // namespace

TestSender::TestSender(TestSendConfig config, PipelineDeps deps)
    : config_(std::move(config)), deps_(deps) {
  PipelineOptions& p = config_.pipeline;
  p.threads = 1;
  p.concurrency = 1;
  p.per_origin_in_flight = 1;
  p.per_origin_connections = 1;
  p.max_open_shards = 1;
  p.max_attempts = 2;
  p.request_timeout = std::min(p.request_timeout, Millis(8000));
  p.connect_timeout = std::min(p.connect_timeout, Millis(5000));
  p.backoff = BackoffPolicy{Millis(500), Millis(2000)};
  p.per_broadcast_key = false;
  p.origin_rate_limit = 0;
  p.report_answers = true;
}

news::TestPushResult TestSender::push(const news::Alert& alert, const std::string& image_url,
                                      const news::PushTarget& target) {
  Message message;
  message.payload = alert_payload(alert, config_.icon_url, image_url, /*test=*/true);
  message.deadline_unix = deps_.clock.now_seconds() + kSendWindowSeconds;
  message.zero_ttl = alert.ttl_seconds == 0;
  message.urgency = alert.urgency;
  // No Topic: it would replace a real alert of the same topic still waiting at the push service.

  OneTarget source(Target{1, target.endpoint, target.p256dh, target.auth});
  Outcomes sink;
  const std::atomic<bool> cancel{false};
  const RunResult run = run_pipeline(message, source, sink, deps_, config_.pipeline, cancel);

  news::TestPushResult result;
  result.status = sink.status();
  const store::DeliveryCounts& counts = sink.counts();
  if (counts.sent > 0) {
    result.kind = news::TestPushResult::Kind::kSent;
  } else if (counts.gone > 0) {
    result.kind = news::TestPushResult::Kind::kGone;
  } else {
    result.kind = news::TestPushResult::Kind::kFailed;
    if (!counts.failed_by_reason.empty()) {
      result.reason = counts.failed_by_reason.begin()->first;
    } else if (!run.error.empty()) {
      result.reason = run.error;
    } else {
      result.reason = "no_answer";
    }
    // A refusal before any request (message too large, a rejected VAPID key) says more.
    if (!sink.problem().empty()) result.reason += ": " + sink.problem();
  }
  return result;
}

}  // namespace flashwire::fanout
