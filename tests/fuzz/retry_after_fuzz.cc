// parse_retry_after on any header value, at a "now" taken from the input (within the range a
// wall clock can show), then through backoff_delay as the fan-out uses it. Properties: a delay
// is never negative, delay-seconds mean exactly that many seconds, and the backoff honours it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "fanout/outcome.h"
#include "fuzz_check.h"

using namespace flashwire::fanout;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint32_t now_bits = 0;
  if (size >= sizeof now_bits) {
    std::memcpy(&now_bits, data, sizeof now_bits);
    data += sizeof now_bits;
    size -= sizeof now_bits;
  }
  // 1970 to 2106: every "now" a server can see.
  const std::int64_t now = now_bits;
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  const auto delay = parse_retry_after(value, now);
  if (!delay) return 0;
  FUZZ_CHECK(delay->count() >= 0, "a Retry-After delay is never negative");
  std::string_view trimmed = value;
  while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t'))
    trimmed.remove_prefix(1);
  while (!trimmed.empty() && std::strchr(" \t\r\n", trimmed.back()) != nullptr)
    trimmed.remove_suffix(1);
  if (!trimmed.empty() && trimmed.size() <= 9 &&
      trimmed.find_first_not_of("0123456789") == std::string_view::npos) {
    std::int64_t seconds = 0;
    for (const char c : trimmed) seconds = seconds * 10 + (c - '0');
    FUZZ_CHECK(delay->count() == seconds * 1000, "delay-seconds are taken literally");
  }
  const Millis wait = backoff_delay(3, delay, 0.5);
  FUZZ_CHECK(wait >= *delay, "the backoff waits at least the Retry-After");
  const Outcome outcome = classify_response(503, value, now);
  FUZZ_CHECK(outcome.kind == OutcomeKind::kRetry && outcome.retry_after == delay,
             "a 503 carries the same Retry-After");
  return 0;
}
