// Injectable wall clock. Anything with a TTL, a backoff or a token expiry takes a Clock so that
// tests control time instead of sleeping.
//
// Thread safety: implementations must be safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace flashwire {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch.
  virtual std::int64_t now_seconds() const = 0;
  // Milliseconds since the Unix epoch, for records that time short intervals (a fan-out's start
  // and end). Clocks without a finer source answer whole seconds.
  virtual std::int64_t now_ms() const { return now_seconds() * 1000; }
  // A reading for intervals and timers (retries, pacing) that wall-clock steps do not move.
  // Clocks without one answer now_ms(), so that a test clock moves both together.
  virtual std::chrono::steady_clock::time_point steady_now() const {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms()));
  }
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  std::int64_t now_seconds() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::now();
  }
};

// The process-wide SystemClock instance.
inline const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

// A clock that only moves when told to. For tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t now) : now_(now) {}
  std::int64_t now_seconds() const override { return now_; }
  void set(std::int64_t now) { now_ = now; }
  void advance(std::int64_t seconds) { now_ += seconds; }

 private:
  std::int64_t now_;
};

}  // namespace flashwire
