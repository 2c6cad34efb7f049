// Scheduled alerts: the RFC 3339 times editors give as `send_at`, and the limits on them.
// The scheduler itself is NewsroomApi::send_due_alerts (alert_schedule.cc); `flashwire serve`
// calls it every second.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flashwire::newsroom {

// How far ahead an alert may be scheduled.
inline constexpr std::int64_t kMaxScheduleAheadSeconds = 30 * 86'400;

// An RFC 3339 date-time ("2026-12-06T03:10:00Z", "2026-12-06T04:10:00.5+01:00"; 'T' or 't',
// 'Z' or 'z') as Unix seconds, fractions dropped; nullopt when it is not one (including
// out-of-range fields and years before 1970 or after 9999).
std::optional<std::int64_t> parse_rfc3339(std::string_view text);
// Unix seconds as "YYYY-MM-DDTHH:MM:SSZ".
std::string format_rfc3339(std::int64_t seconds);

}  // namespace flashwire::newsroom
