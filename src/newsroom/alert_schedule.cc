#include "newsroom/alert_schedule.h"

#include <array>
#include <cstdio>

#include "newsroom/newsroom_api.h"
#include "store/error_kind.h"
#include "store/site_store.h"

namespace flashwire::newsroom {
namespace {

// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// `count` decimal digits at `text[at]`, or -1.
int digits(std::string_view text, std::size_t at, std::size_t count) {
  if (at + count > text.size()) return -1;
  int value = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

// Claimed alerts per step: a backlog after downtime drains over a few seconds.
constexpr std::size_t kClaimedPerStep = 20;

}  // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') ||
      t[13] != ':' || t[16] != ':')
    return std::nullopt;
  const int year = digits(t, 0, 4), month = digits(t, 5, 2), day = digits(t, 8, 2);
  const int hour = digits(t, 11, 2), minute = digits(t, 14, 2), second = digits(t, 17, 2);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 60)
    return std::nullopt;
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const int month_days = kDays[static_cast<std::size_t>(month - 1)] + (month == 2 && leap(year));
  if (day > month_days) return std::nullopt;
  std::size_t at = 19;
  if (at < t.size() && t[at] == '.') {
    const std::size_t start = ++at;
    while (at < t.size() && t[at] >= '0' && t[at] <= '9') ++at;
    if (at == start || at - start > 9) return std::nullopt;
  }
  std::int64_t offset = 0;
  if (at < t.size() && (t[at] == 'Z' || t[at] == 'z')) {
    ++at;
  } else if (at < t.size() && (t[at] == '+' || t[at] == '-')) {
    const int oh = digits(t, at + 1, 2), om = digits(t, at + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || at + 3 >= t.size() || t[at + 3] != ':')
      return std::nullopt;
    offset = (t[at] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != t.size()) return std::nullopt;
  // A leap second (:60) counts as the next second's start, as Unix time has no leap seconds.
  const std::int64_t seconds =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86'400 +
      hour * 3600 + minute * 60 + second - offset;
  if (seconds < 0) return std::nullopt;
  return seconds;
}

std::string format_rfc3339(std::int64_t seconds) {
  std::int64_t days = seconds / 86'400;
  std::int64_t rest = seconds % 86'400;
  if (rest < 0) {
    rest += 86'400;
    --days;
  }
  // civil_from_days
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
  std::array<char, 64> out{};
  std::snprintf(out.data(), out.size(), "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rest / 3600),
                static_cast<long long>(rest / 60 % 60), static_cast<long long>(rest % 60));
  return out.data();
}

tl::expected<std::size_t, Error> NewsroomApi::send_due_alerts() {
  auto claimed = store_.claim_due_alerts(clock_.now_seconds(), kClaimedPerStep);
  if (!claimed) {
    return tl::unexpected(Error{store::error_kind(claimed.error().code),
                                "claim scheduled alerts: " + claimed.error().message});
  }
  for (const std::int64_t id : *claimed) {
    // Claimed means kSending in the store: if this process stops before the queue has it, the
    // fan-out resumes it on the next start like any alert left sending.
    queue_.enqueue(id);
    store::AuditEntry entry;
    entry.at = clock_.now_seconds();
    entry.actor = "scheduler";
    entry.action = "alert.send";
    entry.detail = "scheduled, #" + std::to_string(id);
    (void)store_.append_audit(entry);
  }
  return claimed->size();
}

}  // namespace flashwire::newsroom
