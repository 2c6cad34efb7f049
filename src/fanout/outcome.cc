#include "fanout/outcome.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <ctime>

namespace flashwire::fanout {

Outcome classify_response(long status, std::string_view retry_after,
                          std::int64_t now_unix_seconds) {
  if (status >= 200 && status < 300) return {OutcomeKind::kSent, {}, std::nullopt};
  const std::string reason = "http_" + std::to_string(status);
  if (status == 404 || status == 410) return {OutcomeKind::kGone, reason, std::nullopt};
  if (status == 401 || status == 403) return {OutcomeKind::kRejected, reason, std::nullopt};
  if (status == 429 || status == 408 || (status >= 500 && status < 600)) {
    return {OutcomeKind::kRetry, reason,
            retry_after.empty() ? std::nullopt : parse_retry_after(retry_after, now_unix_seconds)};
  }
  return {OutcomeKind::kFailed, reason, std::nullopt};
}

Outcome classify_transport(TransportFailure failure) {
  switch (failure) {
    case TransportFailure::kConnect:
      return {OutcomeKind::kRetry, "connect_failed", std::nullopt};
    case TransportFailure::kTimeout:
      return {OutcomeKind::kRetry, "timeout", std::nullopt};
    case TransportFailure::kBroken:
      return {OutcomeKind::kRetry, "connection_broken", std::nullopt};
    case TransportFailure::kTls:
      return {OutcomeKind::kFailed, "tls_error", std::nullopt};
  }
  return {OutcomeKind::kRetry, "transport", std::nullopt};
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool read_int(std::string_view s, int& out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate, the only form senders may generate).
std::optional<std::int64_t> parse_imf_fixdate(std::string_view s) {
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto month = std::find(kMonths.begin(), kMonths.end(), s.substr(8, 3));
  std::tm tm{};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (month == kMonths.end() || !read_int(s.substr(5, 2), day) ||
      !read_int(s.substr(12, 4), year) || !read_int(s.substr(17, 2), hour) ||
      !read_int(s.substr(20, 2), minute) || !read_int(s.substr(23, 2), second)) {
    return std::nullopt;
  }
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 || year < 1970) {
    return std::nullopt;
  }
  tm.tm_mday = day;
  tm.tm_mon = static_cast<int>(month - kMonths.begin());
  tm.tm_year = year - 1900;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

std::optional<Millis> parse_retry_after(std::string_view value, std::int64_t now_unix_seconds) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    if (value.size() > 9) return Millis(std::int64_t{999999999} * 1000);  // absurd, but a delay
    int seconds = 0;
    if (!read_int(value, seconds)) return std::nullopt;
    return Millis(std::int64_t{seconds} * 1000);
  }
  const auto at = parse_imf_fixdate(value);
  if (!at) return std::nullopt;
  return Millis(std::max<std::int64_t>(0, *at - now_unix_seconds) * 1000);
}

Millis backoff_delay(int attempt, std::optional<Millis> retry_after, double jitter,
                     const BackoffPolicy& policy) {
  const int doublings = std::clamp(attempt - 1, 0, 30);
  const double ceiling =
      std::min(static_cast<double>(policy.cap.count()),
               static_cast<double>(policy.base.count()) * std::ldexp(1.0, doublings));
  jitter = std::clamp(jitter, 0.0, 1.0);
  Millis delay(static_cast<std::int64_t>(ceiling / 2 + jitter * ceiling / 2));
  if (retry_after && *retry_after > delay) delay = *retry_after;
  return delay;
}

bool CircuitBreaker::allows(TimePoint now, TimePoint* reopen_at) {
  if (failures_ < threshold_) return true;
  if (now < open_until_) {
    if (reopen_at != nullptr) *reopen_at = open_until_;
    return false;
  }
  // Half-open: one trial at a time.
  if (trial_in_flight_) {
    if (reopen_at != nullptr) *reopen_at = now + Millis(100);
    return false;
  }
  trial_in_flight_ = true;
  return true;
}

void CircuitBreaker::record_success() {
  failures_ = 0;
  trial_in_flight_ = false;
  cooldown_ = Millis(0);
}

void CircuitBreaker::record_broken(TimePoint now) {
  if (trial_in_flight_) record_failure(now);
}

void CircuitBreaker::record_failure(TimePoint now) {
  trial_in_flight_ = false;
  // Requests sent before the breaker opened still fail after it did: they do not reopen it.
  if (failures_ >= threshold_ && now < open_until_) return;
  if (++failures_ < threshold_) return;
  failures_ = threshold_;
  cooldown_ = cooldown_.count() == 0 ? first_cooldown_ : std::min(max_cooldown_, cooldown_ * 2);
  open_until_ = now + cooldown_;
  ++times_opened_;
}

OriginPacer::OriginPacer(Policy policy) : policy_(policy), rate_(policy.cap_per_second) {}

void OriginPacer::refill(TimePoint now) {
  if (!started_) {
    started_ = true;
    refilled_ = now;
    window_start_ = now;
    last_climb_ = now;
    last_event_ = now;
    tokens_ = 1;
    return;
  }
  if (now - last_event_ > policy_.stall) {
    // The sender did not run (or had nothing to do) for a while: not time the service's answers
    // can be measured over. (window_start_ stays before now: it moves by less than the gap.)
    window_start_ += (now - last_event_) - policy_.stall;
  }
  last_event_ = std::max(last_event_, now);
  roll_window(now);
  if (rate_ <= 0 || now <= refilled_) return;
  // A burst of at most 50 ms worth (and at least one request): smooth enough for a token bucket
  // on the other side, coarse enough not to cost a wake-up per request.
  const double burst = std::max(1.0, rate_ / 20);
  const double elapsed = std::chrono::duration<double>(now - refilled_).count();
  tokens_ = std::min(burst, tokens_ + elapsed * rate_);
  refilled_ = now;
}

void OriginPacer::roll_window(TimePoint now) {
  if (now - window_start_ < Millis(1000)) return;
  const double seconds = std::chrono::duration<double>(now - window_start_).count();
  sent_per_second_ = static_cast<double>(window_sent_) / seconds;
  accepted_per_second_ = static_cast<double>(window_accepted_) / seconds;
  best_accepted_ =
      std::max(accepted_per_second_, best_accepted_ * std::pow(1 - policy_.best_decay, seconds));
  window_start_ = now;
  window_sent_ = 0;
  window_accepted_ = 0;
}

bool OriginPacer::try_take(TimePoint now, TimePoint* next) {
  refill(now);
  if (now < paused_until_) {
    if (next != nullptr) *next = paused_until_;
    return false;
  }
  if (rate_ <= 0 || tokens_ >= 1) {
    if (rate_ > 0) tokens_ -= 1;
    ++window_sent_;
    return true;
  }
  if (next != nullptr) {
    const double wait_s = (1 - tokens_) / rate_;
    *next = now +
            std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(wait_s)) +
            std::chrono::microseconds(1);
  }
  return false;
}

std::size_t OriginPacer::available(TimePoint now) {
  refill(now);
  if (now < paused_until_) return 0;
  if (rate_ <= 0) return SIZE_MAX;
  return static_cast<std::size_t>(std::max(0.0, tokens_));
}

void OriginPacer::on_accepted(TimePoint now) {
  refill(now);
  ++window_accepted_;
  if (drops_ == 0 || now < last_drop_ + policy_.hold) return;
  if (rate_ < recover_to_) {
    // Back towards what the service took before the throttle, by answers read.
    rate_ = std::min(recover_to_, rate_ + policy_.recovery_per_answer);
    // From there, the additive increase goes on at the scale of that rate.
    if (rate_ >= recover_to_) drop_base_ = std::max(drop_base_, recover_to_);
    last_climb_ = now;
    return;
  }
  // Additive increase, in steps of at least a tenth of a second so that it is smooth.
  const double elapsed = std::chrono::duration<double>(now - last_climb_).count();
  if (elapsed < 0.1) return;
  last_climb_ = now;
  // From a very low drop (a service that refused everything for a while) it still climbs.
  double next_rate = rate_ + policy_.increase * std::max(drop_base_, 20.0) * elapsed;
  if (policy_.cap_per_second > 0) next_rate = std::min(next_rate, policy_.cap_per_second);
  rate_ = next_rate;
}

void OriginPacer::on_throttled(TimePoint now, std::optional<Millis> retry_after) {
  refill(now);
  if (retry_after && *retry_after >= policy_.long_pause) {
    paused_until_ = std::max(paused_until_, now + *retry_after);
  }
  if (drops_ > 0 && now < last_drop_ + policy_.hold) return;
  // The rates lately: the last whole window, or the one in progress once it says enough.
  double sent = sent_per_second_;
  double accepted = accepted_per_second_;
  // A window shorter than 100 ms counts as 100 ms: right at the start a quota's burst is all
  // there is to go by, and a few milliseconds of it would read as a huge rate.
  const double partial = std::max(0.1, std::chrono::duration<double>(now - window_start_).count());
  if (sent < 0 || partial >= 0.25) {
    sent = std::max(sent, static_cast<double>(window_sent_) / partial);
    accepted = std::max(accepted, static_cast<double>(window_accepted_) / partial);
  }
  double base = rate_ > 0 ? std::min(rate_, sent) : sent;
  base = std::min(base, accepted);
  // The best the service took before this throttle (whole windows, decaying), if the last
  // throttle is long enough ago for it to mean something.
  const bool isolated = drops_ == 0 || now - last_drop_ >= policy_.recovery_memory;
  const double before = best_accepted_;
  best_accepted_ = std::max(best_accepted_, accepted);
  rate_ = std::max(
      {policy_.min_per_second, base * policy_.decrease, policy_.floor_share * best_accepted_});
  recover_to_ = isolated ? policy_.decrease * before : 0;
  if (policy_.cap_per_second > 0) recover_to_ = std::min(recover_to_, policy_.cap_per_second);
  drop_base_ = rate_;
  tokens_ = std::min(tokens_, 1.0);
  last_drop_ = now;
  last_climb_ = now;
  ++drops_;
}

}  // namespace flashwire::fanout
