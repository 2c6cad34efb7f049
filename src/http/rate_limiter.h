// Per-client token buckets: each key (a client address) may make `burst` requests at once and
// `per_minute` on average. Memory is bounded: when more than `max_keys` clients are tracked, the
// buckets that are full again (idle clients) are dropped first, then everything.
//
// Thread safety: safe to share between threads (the server's threads all check one limiter);
// one mutex, held for a hash look-up.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace flashwire::http {

class RateLimiter {
 public:
  RateLimiter(const Clock& clock, double per_minute, double burst, std::size_t max_keys = 100'000);

  // Takes one token for `key`; false when its bucket is empty (answer 429).
  bool allow(const std::string& key);
  // Seconds until `key` has a token again (for Retry-After); 0 if it has one now.
  std::int64_t retry_after(const std::string& key) const;

 private:
  struct Bucket {
    double tokens;
    std::int64_t updated;  // seconds
  };
  void refill(Bucket& bucket, std::int64_t now) const;
  void shrink(std::int64_t now);

  const Clock& clock_;
  double per_second_;
  double burst_;
  std::size_t max_keys_;
  mutable std::mutex mutex_;  // guards buckets_
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace flashwire::http
