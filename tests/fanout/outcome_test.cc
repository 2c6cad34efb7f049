#include "fanout/outcome.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>

namespace flashwire::fanout {
namespace {

using namespace std::chrono_literals;

// RFC 9110's example date, "Sun, 06 Nov 1994 08:49:37 GMT", in Unix seconds.
constexpr std::int64_t kExampleDate = 784111777;
constexpr char kExampleDateText[] = "Sun, 06 Nov 1994 08:49:37 GMT";

auto fields(const Outcome& o) { return std::make_tuple(o.kind, o.reason, o.retry_after); }

Outcome outcome(OutcomeKind kind, std::string reason = {},
                std::optional<Millis> retry_after = std::nullopt) {
  return {kind, std::move(reason), retry_after};
}

// --- classify_response ---

TEST(ClassifyResponseTest, EachStatusHasItsMeaning) {
  struct Case {
    long status;
    Outcome expected;
  };
  const Case cases[] = {
      {200, outcome(OutcomeKind::kSent)},
      {201, outcome(OutcomeKind::kSent)},
      {202, outcome(OutcomeKind::kSent)},
      {404, outcome(OutcomeKind::kGone, "http_404")},
      {410, outcome(OutcomeKind::kGone, "http_410")},
      {401, outcome(OutcomeKind::kRejected, "http_401")},
      {403, outcome(OutcomeKind::kRejected, "http_403")},
      {429, outcome(OutcomeKind::kRetry, "http_429")},
      {408, outcome(OutcomeKind::kRetry, "http_408")},
      {500, outcome(OutcomeKind::kRetry, "http_500")},
      {502, outcome(OutcomeKind::kRetry, "http_502")},
      {503, outcome(OutcomeKind::kRetry, "http_503")},
      {599, outcome(OutcomeKind::kRetry, "http_599")},
      {400, outcome(OutcomeKind::kFailed, "http_400")},
      {413, outcome(OutcomeKind::kFailed, "http_413")},
      {402, outcome(OutcomeKind::kFailed, "http_402")},
      {405, outcome(OutcomeKind::kFailed, "http_405")},
      {411, outcome(OutcomeKind::kFailed, "http_411")},
      {415, outcome(OutcomeKind::kFailed, "http_415")},
      {422, outcome(OutcomeKind::kFailed, "http_422")},
      {499, outcome(OutcomeKind::kFailed, "http_499")},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.status);
    EXPECT_EQ(fields(classify_response(c.status, "", kExampleDate)), fields(c.expected));
  }
}

TEST(ClassifyResponseTest, RetryAfterIsReadOnlyForRetries) {
  EXPECT_EQ(classify_response(429, "120", kExampleDate).retry_after, Millis(120'000));
  EXPECT_EQ(classify_response(503, "7", kExampleDate).retry_after, Millis(7'000));
  EXPECT_EQ(classify_response(500, "0", kExampleDate).retry_after, Millis(0));
  EXPECT_EQ(classify_response(429, kExampleDateText, kExampleDate - 30).retry_after,
            Millis(30'000));
  // A date in the past means "now".
  EXPECT_EQ(classify_response(429, kExampleDateText, kExampleDate + 3600).retry_after, Millis(0));
  // Garbage is no Retry-After, but still a retry.
  const Outcome garbage = classify_response(429, "soon", kExampleDate);
  EXPECT_EQ(fields(garbage), fields(outcome(OutcomeKind::kRetry, "http_429")));
  // Other answers ignore it.
  EXPECT_EQ(classify_response(201, "120", kExampleDate).retry_after, std::nullopt);
  EXPECT_EQ(classify_response(410, "120", kExampleDate).retry_after, std::nullopt);
  EXPECT_EQ(classify_response(413, "120", kExampleDate).retry_after, std::nullopt);
  EXPECT_EQ(classify_response(403, "120", kExampleDate).retry_after, std::nullopt);
}

// --- classify_transport ---

TEST(ClassifyTransportTest, EveryTransportFailureIsRetriedWithItsOwnReason) {
  EXPECT_EQ(fields(classify_transport(TransportFailure::kConnect)),
            fields(outcome(OutcomeKind::kRetry, "connect_failed")));
  EXPECT_EQ(fields(classify_transport(TransportFailure::kTimeout)),
            fields(outcome(OutcomeKind::kRetry, "timeout")));
  EXPECT_EQ(fields(classify_transport(TransportFailure::kBroken)),
            fields(outcome(OutcomeKind::kRetry, "connection_broken")));
}

// --- parse_retry_after ---

TEST(ParseRetryAfterTest, DelaySecondsAndImfFixdates) {
  struct Case {
    const char* value;
    std::int64_t now;
    std::optional<Millis> expected;
  };
  const Case cases[] = {
      {"0", kExampleDate, Millis(0)},
      {"1", kExampleDate, Millis(1000)},
      {"3600", kExampleDate, Millis(3'600'000)},
      {" 5\r\n", kExampleDate, Millis(5000)},  // as a header callback hands it over
      {"\t42 ", kExampleDate, Millis(42'000)},
      {kExampleDateText, kExampleDate - 90, Millis(90'000)},
      {kExampleDateText, kExampleDate, Millis(0)},
      {kExampleDateText, kExampleDate + 1, Millis(0)},
      {kExampleDateText, kExampleDate + 86400 * 365, Millis(0)},
      {" Sun, 06 Nov 1994 08:49:37 GMT\r\n", kExampleDate - 1, Millis(1000)},
      {"Thu, 01 Jan 2060 00:00:00 GMT", 2840140800 - 10, Millis(10'000)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.value);
    EXPECT_EQ(parse_retry_after(c.value, c.now), c.expected);
  }
}

TEST(ParseRetryAfterTest, AnythingElseIsUnparseable) {
  for (const char* value : {
           "",
           "   ",
           "-1",
           "+5",
           "1.5",
           "5s",
           "five",
           "0x10",
           "Sunday, 06-Nov-94 08:49:37 GMT",  // RFC 850: obsolete, senders must not generate it
           "Sun Nov  6 08:49:37 1994",        // asctime
           "Sun, 06 Nov 1994 08:49:37 UTC",
           "Sun, 06 Foo 1994 08:49:37 GMT",
           "Sun, 32 Nov 1994 08:49:37 GMT",
           "Sun, 06 Nov 1994 24:49:37 GMT",
           "Sun, 06 Nov 1994 08:60:37 GMT",
           "Sun, 6 Nov 1994 08:49:37 GMT",
           "Sun, 06 Nov 1994 08:49:37 GMT extra",
       }) {
    SCOPED_TRACE(value);
    EXPECT_EQ(parse_retry_after(value, kExampleDate), std::nullopt);
  }
}

TEST(ParseRetryAfterTest, AHugeDelayIsStillADelay) {
  const auto delay = parse_retry_after("99999999999999999999", kExampleDate);
  ASSERT_TRUE(delay.has_value());
  EXPECT_GE(*delay, Millis(std::int64_t{999'999'999} * 1000));
}

// --- backoff_delay ---

TEST(BackoffDelayTest, GrowsExponentiallyFromTheBaseUpToTheCap) {
  const BackoffPolicy policy{Millis(500), Millis(60'000)};
  // With jitter 0 the wait is the lower end, half of base·2^(attempt-1).
  EXPECT_EQ(backoff_delay(1, std::nullopt, 0.0, policy), Millis(250));
  EXPECT_EQ(backoff_delay(2, std::nullopt, 0.0, policy), Millis(500));
  EXPECT_EQ(backoff_delay(3, std::nullopt, 0.0, policy), Millis(1000));
  EXPECT_EQ(backoff_delay(4, std::nullopt, 0.0, policy), Millis(2000));
  EXPECT_EQ(backoff_delay(8, std::nullopt, 0.0, policy), Millis(30'000));  // 64 s capped at 60
  Millis previous(0);
  for (int attempt = 1; attempt <= 12; ++attempt) {
    SCOPED_TRACE(attempt);
    const Millis delay = backoff_delay(attempt, std::nullopt, 0.5, policy);
    EXPECT_GE(delay, previous);
    EXPECT_LE(delay, policy.cap);
    previous = delay;
  }
  // Far beyond the cap, and absurd attempt numbers, stay at the cap.
  for (const int attempt : {8, 9, 20, 31, 64, 1000, 1 << 30}) {
    SCOPED_TRACE(attempt);
    EXPECT_LE(backoff_delay(attempt, std::nullopt, 0.999999, policy), policy.cap);
    EXPECT_GE(backoff_delay(attempt, std::nullopt, 0.999999, policy), policy.cap * 99 / 100);
    EXPECT_EQ(backoff_delay(attempt, std::nullopt, 0.0, policy), policy.cap / 2);
  }
  // Attempt numbers below 1 are treated as the first retry.
  EXPECT_EQ(backoff_delay(0, std::nullopt, 0.0, policy), Millis(250));
  EXPECT_EQ(backoff_delay(-3, std::nullopt, 0.0, policy), Millis(250));
}

TEST(BackoffDelayTest, TheDefaultPolicyStartsAtHalfASecondAndCapsAtAMinute) {
  EXPECT_EQ(BackoffPolicy{}.base, Millis(500));
  EXPECT_EQ(BackoffPolicy{}.cap, Millis(60'000));
  EXPECT_EQ(backoff_delay(1, std::nullopt, 0.0), Millis(250));
  EXPECT_LE(backoff_delay(40, std::nullopt, 0.999), Millis(60'000));
}

TEST(BackoffDelayTest, JitterSpreadsOverTheUpperHalfOfTheInterval) {
  const BackoffPolicy policy{Millis(800), Millis(10'000)};
  for (int attempt = 1; attempt <= 6; ++attempt) {
    SCOPED_TRACE(attempt);
    const std::int64_t ceiling = std::min<std::int64_t>(10'000, 800LL << (attempt - 1));
    Millis previous(0);
    for (int step = 0; step < 100; ++step) {
      const double jitter = step / 100.0;
      const Millis delay = backoff_delay(attempt, std::nullopt, jitter, policy);
      EXPECT_GE(delay.count(), ceiling / 2) << jitter;
      EXPECT_LE(delay.count(), ceiling) << jitter;
      EXPECT_GE(delay, previous) << jitter;  // more jitter, longer wait
      previous = delay;
    }
    // The whole upper half is used, not one point of it.
    EXPECT_GE(backoff_delay(attempt, std::nullopt, 0.99, policy).count() -
                  backoff_delay(attempt, std::nullopt, 0.0, policy).count(),
              ceiling * 45 / 100);
  }
  // Out-of-range jitter is clamped.
  EXPECT_EQ(backoff_delay(1, std::nullopt, -5.0, policy), Millis(400));
  EXPECT_LE(backoff_delay(1, std::nullopt, 7.0, policy), Millis(800));
}

TEST(BackoffDelayTest, RetryAfterIsTheMinimum) {
  const BackoffPolicy policy{Millis(500), Millis(60'000)};
  // Longer than the computed wait: Retry-After wins, even beyond the cap.
  EXPECT_EQ(backoff_delay(1, Millis(5000), 0.5, policy), Millis(5000));
  EXPECT_EQ(backoff_delay(1, Millis(120'000), 0.0, policy), Millis(120'000));
  // Shorter: the computed wait stands.
  EXPECT_EQ(backoff_delay(1, Millis(100), 0.0, policy), Millis(250));
  EXPECT_EQ(backoff_delay(3, Millis(0), 0.0, policy), Millis(1000));
  for (int step = 0; step < 20; ++step) {
    const double jitter = step / 20.0;
    EXPECT_GE(backoff_delay(2, Millis(3000), jitter, policy), Millis(3000));
    EXPECT_EQ(backoff_delay(2, Millis(3000), jitter, policy),
              std::max(Millis(3000), backoff_delay(2, std::nullopt, jitter, policy)));
  }
}

// --- CircuitBreaker ---

class CircuitBreakerTest : public ::testing::Test {
 protected:
  using TimePoint = CircuitBreaker::TimePoint;

  // threshold 3, cool-down 1 s doubling up to 4 s.
  CircuitBreaker breaker_{3, Millis(1000), Millis(4000)};
  const TimePoint t0_ = TimePoint() + std::chrono::hours(1);

  bool allows(TimePoint now, TimePoint* reopen_at = nullptr) {
    return breaker_.allows(now, reopen_at);
  }
  void fail_times(int n, TimePoint now) {
    for (int i = 0; i < n; ++i) breaker_.record_failure(now);
  }
};

TEST_F(CircuitBreakerTest, RequestsLostWithTheirConnectionDoNotOpenItButFailATrial) {
  // A hundred streams ending with one lost connection: the origin was reachable.
  for (int i = 0; i < 100; ++i) breaker_.record_broken(t0_);
  EXPECT_FALSE(breaker_.is_open(t0_));
  EXPECT_TRUE(allows(t0_));

  // Open it, let the cool-down pass: the half-open trial lost with its connection reopens it.
  fail_times(3, t0_);
  EXPECT_TRUE(breaker_.is_open(t0_));
  const TimePoint later = t0_ + Millis(1000);
  EXPECT_TRUE(allows(later));   // the trial
  EXPECT_FALSE(allows(later));  // only one
  breaker_.record_broken(later);
  EXPECT_TRUE(breaker_.is_open(later));
  EXPECT_EQ(breaker_.times_opened(), 2);
}

TEST_F(CircuitBreakerTest, ClosedUntilThresholdConsecutiveFailures) {
  EXPECT_TRUE(allows(t0_));
  EXPECT_FALSE(breaker_.is_open(t0_));
  fail_times(2, t0_);
  EXPECT_TRUE(allows(t0_));
  EXPECT_TRUE(allows(t0_));  // closed: any number of messages
  EXPECT_FALSE(breaker_.is_open(t0_));
  EXPECT_EQ(breaker_.times_opened(), 0);

  // A success in between resets the count: failures must be consecutive.
  breaker_.record_success();
  fail_times(2, t0_);
  EXPECT_TRUE(allows(t0_));
  EXPECT_EQ(breaker_.times_opened(), 0);

  breaker_.record_failure(t0_);
  EXPECT_TRUE(breaker_.is_open(t0_));
  EXPECT_EQ(breaker_.times_opened(), 1);
  TimePoint reopen{};
  EXPECT_FALSE(allows(t0_, &reopen));
  EXPECT_EQ(reopen, t0_ + 1000ms);
}

TEST_F(CircuitBreakerTest, OpenForTheCooldownThenOneTrialAtATime) {
  fail_times(3, t0_);
  TimePoint reopen{};
  EXPECT_FALSE(allows(t0_ + 999ms, &reopen));
  EXPECT_EQ(reopen, t0_ + 1000ms);
  EXPECT_FALSE(allows(t0_ + 500ms));  // no reopen_at wanted: still fine

  // Half-open: one message goes; the next waits for its outcome.
  EXPECT_FALSE(breaker_.is_open(t0_ + 1000ms));
  EXPECT_TRUE(allows(t0_ + 1000ms));
  reopen = {};
  EXPECT_FALSE(allows(t0_ + 1000ms, &reopen));
  EXPECT_GT(reopen, t0_ + 1000ms);
  EXPECT_FALSE(allows(t0_ + 5000ms));  // however long the trial takes
}

TEST_F(CircuitBreakerTest, ASuccessfulTrialClosesIt) {
  fail_times(3, t0_);
  ASSERT_TRUE(allows(t0_ + 1000ms));
  breaker_.record_success();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(allows(t0_ + 1001ms));
  EXPECT_FALSE(breaker_.is_open(t0_ + 1001ms));
  // Closed again for real: it takes the threshold again to open.
  fail_times(2, t0_ + 2000ms);
  EXPECT_TRUE(allows(t0_ + 2000ms));
  EXPECT_EQ(breaker_.times_opened(), 1);
}

TEST_F(CircuitBreakerTest, AFailedTrialReopensWithADoubledCooldownUpToTheMaximum) {
  fail_times(3, t0_);
  TimePoint now = t0_;
  Millis expected_cooldown(1000);
  const Millis cooldowns[] = {Millis(2000), Millis(4000), Millis(4000), Millis(4000)};
  for (const Millis next : cooldowns) {
    SCOPED_TRACE(next.count());
    now += expected_cooldown;
    EXPECT_FALSE(allows(now - 1ms));
    ASSERT_TRUE(allows(now));  // the trial
    breaker_.record_failure(now);
    expected_cooldown = next;
    TimePoint reopen{};
    EXPECT_TRUE(breaker_.is_open(now));
    EXPECT_FALSE(allows(now, &reopen));
    EXPECT_EQ(reopen, now + next);
  }
  EXPECT_EQ(breaker_.times_opened(), 5);
}

TEST_F(CircuitBreakerTest, FailuresWhileOpenDoNotExtendIt) {
  fail_times(3, t0_);
  // Requests sent before it opened come back failed during the cool-down.
  fail_times(10, t0_ + 200ms);
  breaker_.record_failure(t0_ + 999ms);
  EXPECT_EQ(breaker_.times_opened(), 1);
  TimePoint reopen{};
  EXPECT_FALSE(allows(t0_ + 500ms, &reopen));
  EXPECT_EQ(reopen, t0_ + 1000ms);
  EXPECT_TRUE(allows(t0_ + 1000ms));
  // …and they did not double the next cool-down either.
  breaker_.record_failure(t0_ + 1000ms);
  EXPECT_FALSE(allows(t0_ + 1000ms, &reopen));
  EXPECT_EQ(reopen, t0_ + 3000ms);
}

TEST_F(CircuitBreakerTest, AThresholdOfOneOpensOnTheFirstFailure) {
  CircuitBreaker eager(1, Millis(50), Millis(60'000));
  EXPECT_TRUE(eager.allows(t0_, nullptr));
  eager.record_failure(t0_);
  EXPECT_TRUE(eager.is_open(t0_));
  EXPECT_FALSE(eager.allows(t0_ + 49ms, nullptr));
  EXPECT_TRUE(eager.allows(t0_ + 50ms, nullptr));
}

// OriginPacer: time is only what the test passes in, so these run the pacer through seconds of
// traffic without waiting.
class OriginPacerTest : public ::testing::Test {
 protected:
  using TimePoint = OriginPacer::TimePoint;
  // `n` requests spread evenly over [from, from + span), the first `accepted` of them accepted.
  void traffic(OriginPacer& pacer, TimePoint from, Millis span, int n, int accepted) {
    for (int i = 0; i < n; ++i) {
      const TimePoint at = from + span * i / n;
      ASSERT_TRUE(pacer.try_take(at, nullptr)) << "request " << i;
      if (i < accepted) pacer.on_accepted(at);
    }
  }
  TimePoint t0_ = TimePoint(std::chrono::hours(1));
};

TEST_F(OriginPacerTest, WithoutACapOrAThrottleEverythingGoes) {
  OriginPacer pacer;
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(pacer.try_take(t0_, nullptr));
  EXPECT_EQ(pacer.rate(), 0);
  EXPECT_EQ(pacer.available(t0_), SIZE_MAX);
}

TEST_F(OriginPacerTest, AStaticCapSpacesRequestsOut) {
  OriginPacer pacer(PacerPolicy{.cap_per_second = 100});
  EXPECT_TRUE(pacer.try_take(t0_, nullptr));
  TimePoint next{};
  EXPECT_FALSE(pacer.try_take(t0_, &next));
  EXPECT_GT(next, t0_);
  EXPECT_LE(next, t0_ + 11ms);
  EXPECT_TRUE(pacer.try_take(next, nullptr));
  // Idle for a second: no more than a 50 ms burst (5 requests) is saved up.
  EXPECT_EQ(pacer.available(t0_ + 1s), 5u);
  // Over ten seconds, about 100 a second get through, however often it is asked.
  int taken = 0;
  for (TimePoint t = t0_ + 1s; t < t0_ + 11s; t += 1ms) taken += pacer.try_take(t, nullptr);
  EXPECT_GE(taken, 1000);
  EXPECT_LE(taken, 1006);
}

TEST_F(OriginPacerTest, AThrottleDropsTheRateBelowWhatTheServiceAccepted) {
  OriginPacer pacer;
  // 1,000 a second sent, 800 of them accepted: the service's quota is about 800.
  traffic(pacer, t0_, 1000ms, 1000, 800);
  pacer.on_throttled(t0_ + 1000ms, Millis(1000));
  EXPECT_EQ(pacer.drops(), 1);
  EXPECT_NEAR(pacer.rate(), 0.85 * 800, 1);
  // A short Retry-After is the message's business: the origin is not paused.
  EXPECT_TRUE(pacer.try_take(t0_ + 1000ms, nullptr));
}

TEST_F(OriginPacerTest, ThrottlesWithinTheHoldCountOnce) {
  OriginPacer pacer(PacerPolicy{.cap_per_second = 1000});
  traffic(pacer, t0_, 1000ms, 1000, 1000);
  pacer.on_throttled(t0_ + 1000ms, std::nullopt);
  const double after_first = pacer.rate();
  EXPECT_NEAR(after_first, 850, 1);
  // The answers to requests already on their way: no new information.
  for (int i = 0; i < 50; ++i) pacer.on_throttled(t0_ + 1000ms + Millis(i * 9), std::nullopt);
  EXPECT_EQ(pacer.rate(), after_first);
  EXPECT_EQ(pacer.drops(), 1);
  pacer.on_throttled(t0_ + 1500ms, std::nullopt);
  EXPECT_EQ(pacer.drops(), 2);
  EXPECT_LT(pacer.rate(), after_first);
}

TEST_F(OriginPacerTest, GoodAnswersClimbBackUpToTheCapAndNoFurther) {
  OriginPacer pacer(PacerPolicy{.cap_per_second = 1000});
  traffic(pacer, t0_, 1000ms, 1000, 1000);
  pacer.on_throttled(t0_ + 1000ms, std::nullopt);
  EXPECT_NEAR(pacer.rate(), 850, 1);
  // Nothing during the hold; then +5 % of 850 per second since the drop, additively.
  pacer.on_accepted(t0_ + 1400ms);
  EXPECT_NEAR(pacer.rate(), 850, 1);
  for (Millis t = 1500ms; t <= 3000ms; t += 100ms) pacer.on_accepted(t0_ + t);
  EXPECT_NEAR(pacer.rate(), 850 + 0.05 * 850 * 2, 1);
  for (Millis t = 3000ms; t <= 60000ms; t += 100ms) pacer.on_accepted(t0_ + t);
  EXPECT_EQ(pacer.rate(), 1000);
}

// A simulated push service with a quota (a token bucket of `quota` per second, burst a tenth of
// it, 429 beyond) answering after `latency`, and a sender that starts a request whenever the
// pacer lets it (at most 256 at once, the default concurrency, or twice what the quota needs
// over the latency), for `seconds` of fake time.
struct QuotaRun {
  double accepted_per_second = 0;  // after the first five seconds
  double throttled_share = 0;      // of all requests
};
// `starved_tick`, for the first `starved_for`: the sender runs only that often (a loaded machine),
// reading every answer that arrived meanwhile and starting what the pacer lets it at once.
QuotaRun run_against_quota(OriginPacer& pacer, double quota, Millis latency, int seconds,
                           Millis starved_tick = Millis(0), Millis starved_for = Millis(0),
                           int warm_seconds = 5) {
  using TimePoint = OriginPacer::TimePoint;
  const TimePoint t0 = TimePoint(std::chrono::hours(1));
  const TimePoint warm = t0 + std::chrono::seconds(warm_seconds);
  double tokens = quota / 10;
  TimePoint refilled = t0;
  std::multimap<TimePoint, bool> answers;  // when, and whether accepted
  std::uint64_t requests = 0, throttled = 0, accepted_after_warmup = 0;
  const TimePoint end = t0 + std::chrono::seconds(seconds);
  const auto in_flight = static_cast<std::size_t>(
      std::max(256.0, 2 * quota * std::chrono::duration<double>(latency).count()));
  for (TimePoint now = t0; now < end;
       now += now < t0 + starved_for ? TimePoint::duration(starved_tick)
                                     : TimePoint::duration(std::chrono::microseconds(100))) {
    while (!answers.empty() && answers.begin()->first <= now) {
      if (answers.begin()->second) {
        pacer.on_accepted(now);
        if (now >= warm) ++accepted_after_warmup;
      } else {
        pacer.on_throttled(now, Millis(1000));
      }
      answers.erase(answers.begin());
    }
    while (answers.size() < in_flight && pacer.try_take(now, nullptr)) {
      tokens = std::min(quota / 10,
                        tokens + std::chrono::duration<double>(now - refilled).count() * quota);
      refilled = now;
      const bool ok = tokens >= 1;
      if (ok) tokens -= 1;
      ++requests;
      throttled += ok ? 0 : 1;
      answers.emplace(now + latency, ok);
    }
  }
  return {static_cast<double>(accepted_after_warmup) / (seconds - warm_seconds),
          static_cast<double>(throttled) / static_cast<double>(requests)};
}

TEST_F(OriginPacerTest, AgainstAQuotaItSettlesJustUnderIt) {
  for (const double quota : {500.0, 5000.0, 20000.0}) {
    for (const Millis latency : {Millis(2), Millis(20), Millis(100)}) {
      SCOPED_TRACE(std::to_string(quota) + "/s, " + std::to_string(latency.count()) + " ms");
      OriginPacer pacer;
      const QuotaRun run = run_against_quota(pacer, quota, latency, 60);
      EXPECT_GE(run.accepted_per_second, 0.9 * quota);
      EXPECT_LE(run.accepted_per_second, quota * 1.01);
      EXPECT_LE(run.throttled_share, 0.02);
    }
  }
}

// The sender runs only every 300 ms for the first two seconds (a loaded machine), and the
// quota's first 429s arrive in that time. Measured over wall time, the few answers it read would
// set the pace at a third of the quota, from which the additive increase climbs for half a
// minute; measured over the time it ran, the pace settles near the quota again.
TEST_F(OriginPacerTest, ASenderStarvedAtTheFirstThrottleStillFindsTheQuota) {
  OriginPacer pacer;
  const QuotaRun run =
      run_against_quota(pacer, 2000, Millis(20), 40, Millis(300), Millis(2000), 10);
  EXPECT_GE(run.accepted_per_second, 0.85 * 2000);
  EXPECT_LE(run.throttled_share, 0.05);
}

// Three good seconds at 2,000 a second, then a second in which the sender read only 150 answers
// (starved, though never for long at a time) and a throttle: the pace drops to what it read, and
// then climbs back to near what the service took before within a few seconds of answers, not at
// 5 % a second.
TEST_F(OriginPacerTest, AfterAStarvedThrottleItRecoversToWhatTheServiceTookBefore) {
  OriginPacer pacer;
  traffic(pacer, t0_, 3000ms, 6000, 6000);
  traffic(pacer, t0_ + 3000ms, 1000ms, 150, 150);
  pacer.on_throttled(t0_ + 4000ms, Millis(1000));
  EXPECT_LT(pacer.rate(), 600);
  for (Millis t = 4000ms; t < 7000ms; t += 1ms) {
    while (pacer.try_take(t0_ + t, nullptr)) pacer.on_accepted(t0_ + t);
  }
  EXPECT_GE(pacer.rate(), 0.8 * 2000);
  EXPECT_LE(pacer.rate(), 2000);
  // A second throttle soon after is the quota itself: no fast recovery past it.
  pacer.on_throttled(t0_ + 7000ms, Millis(1000));
  const double dropped = pacer.rate();
  for (Millis t = 7000ms; t < 8000ms; t += 1ms) {
    while (pacer.try_take(t0_ + t, nullptr)) pacer.on_accepted(t0_ + t);
  }
  EXPECT_LE(pacer.rate(), dropped * 1.05);
}

// After two good seconds every ninth request is answered 429 however slowly they come: the
// pace drops, but not below a quarter of the best the service took, so the run still ends.
TEST_F(OriginPacerTest, AServiceThatThrottlesAShareAtAnyPaceIsNotPacedDownToNothing) {
  OriginPacer pacer;
  std::uint64_t n = 0;
  for (Millis t{0}; t < 10s; t += 1ms) {
    // A sender that takes at most 8 a millisecond, each answered at once.
    for (int i = 0; i < 8 && pacer.try_take(t0_ + t, nullptr); ++i) {
      if (++n % 9 == 0 && t >= 2s) {
        pacer.on_throttled(t0_ + t, Millis(1000));
      } else {
        pacer.on_accepted(t0_ + t);
      }
    }
  }
  EXPECT_GT(pacer.drops(), 3);
  EXPECT_GE(pacer.rate(), 0.25 * 8000 * 0.8);
}

TEST_F(OriginPacerTest, ALongRetryAfterPausesTheOrigin) {
  OriginPacer pacer;
  traffic(pacer, t0_, 1000ms, 100, 100);
  pacer.on_throttled(t0_ + 1000ms, Millis(120000));  // Mozilla's 503 + Retry-After: 120
  TimePoint next{};
  EXPECT_FALSE(pacer.try_take(t0_ + 1000ms, &next));
  EXPECT_EQ(next, t0_ + 121000ms);
  EXPECT_EQ(pacer.available(t0_ + 60s), 0u);
  EXPECT_FALSE(pacer.try_take(t0_ + 120999ms, nullptr));
  EXPECT_TRUE(pacer.try_take(t0_ + 121000ms, nullptr));
}

TEST_F(OriginPacerTest, AThrottleRightAtTheStartReadsTheFirstAnswersAsATenthOfASecond) {
  OriginPacer pacer;
  // A burst of 500 accepted within 5 ms, then the quota's 429s.
  traffic(pacer, t0_, 5ms, 600, 500);
  pacer.on_throttled(t0_ + 5ms, Millis(1000));
  EXPECT_EQ(pacer.drops(), 1);
  EXPECT_NEAR(pacer.rate(), 0.85 * 5000, 1);
}

TEST_F(OriginPacerTest, AServiceThatRefusedEverythingStillGetsClimbedBackTo) {
  OriginPacer pacer;
  traffic(pacer, t0_, 1000ms, 500, 0);
  pacer.on_throttled(t0_ + 1000ms, std::nullopt);
  EXPECT_EQ(pacer.rate(), 1);  // the floor
  for (Millis t = 1000ms; t <= 61000ms; t += 100ms) pacer.on_accepted(t0_ + t);
  EXPECT_GT(pacer.rate(), 50);
}

}  // namespace
}  // namespace flashwire::fanout
