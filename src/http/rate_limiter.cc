#include "http/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace flashwire::http {

RateLimiter::RateLimiter(const Clock& clock, double per_minute, double burst, std::size_t max_keys)
    : clock_(clock), per_second_(per_minute / 60.0), burst_(burst), max_keys_(max_keys) {}

void RateLimiter::refill(Bucket& bucket, std::int64_t now) const {
  if (now > bucket.updated) {
    bucket.tokens =
        std::min(burst_, bucket.tokens + static_cast<double>(now - bucket.updated) * per_second_);
    bucket.updated = now;
  }
}

void RateLimiter::shrink(std::int64_t now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->second, now);
    it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
  }
  if (buckets_.size() >= max_keys_) buckets_.clear();  // under a flood of addresses: start afresh
}

bool RateLimiter::allow(const std::string& key) {
  const std::int64_t now = clock_.now_seconds();
  const std::lock_guard lock(mutex_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) shrink(now);
    it = buckets_.emplace(key, Bucket{burst_, now}).first;
  }
  refill(it->second, now);
  if (it->second.tokens < 1.0) return false;
  it->second.tokens -= 1.0;
  return true;
}

std::int64_t RateLimiter::retry_after(const std::string& key) const {
  Bucket bucket{};
  {
    const std::lock_guard lock(mutex_);
    auto it = buckets_.find(key);
    if (it == buckets_.end()) return 0;
    bucket = it->second;
  }
  refill(bucket, clock_.now_seconds());
  if (bucket.tokens >= 1.0 || per_second_ <= 0) return 0;
  return static_cast<std::int64_t>(std::ceil((1.0 - bucket.tokens) / per_second_));
}

}  // namespace flashwire::http
