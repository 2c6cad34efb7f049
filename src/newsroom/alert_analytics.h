// Per-alert analytics for the newsroom: time to device, the funnel and its split by push service,
// the CSV export, and the opt-in funnel's figures. Pure functions over what the store and the
// fan-out report; the NewsroomApi routes that serve them live in alert_analytics.cc.
//
// Time to device is the server's arrival time of a device's "received" beacon minus the alert's
// send start (the fan-out's started_at_ms): both are server clocks, never a reader's. Beacons that
// arrive before the recorded start (clocks of two nodes a little apart) count as 0 ms.
//
// Thread safety: pure functions; thread-safe.
#pragma once

#include <array>
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "news/delivery.h"
#include "store/site_store.h"

namespace flashwire::newsroom {

// Upper bounds (ms after the send start) of the time-to-device histogram's buckets; the last
// bucket counts everything later. 120 000 is a bound so that "within 2 minutes" reads off it.
inline constexpr std::array<std::int64_t, 11> kTimeToDeviceBoundsMs = {
    1'000, 2'000, 5'000, 10'000, 20'000, 30'000, 60'000, 120'000, 300'000, 900'000, 3'600'000};
// The target newsrooms steer by: this share of reached devices within kTargetMs.
inline constexpr double kTargetShare = 0.9;
inline constexpr std::int64_t kTargetMs = 120'000;

struct TimeToDevice {
  std::uint64_t devices = 0;  // received beacons with an arrival time
  // Nearest-rank percentiles; nullopt without devices or without a send start.
  std::optional<std::int64_t> p50_ms, p90_ms, p99_ms;
  std::optional<double> within_120s;  // share of `devices` within kTargetMs, 0..1
  std::array<std::uint64_t, kTimeToDeviceBoundsMs.size() + 1> histogram{};
};

// `received_at_ms` ascending (AlertReach::received_at_ms); `send_start_ms` 0 when the alert was
// never handed to the fan-out (then only `devices` is filled in).
TimeToDevice time_to_device(std::span<const std::int64_t> received_at_ms,
                            std::int64_t send_start_ms);

// The members GET /api/newsroom/alerts/{id} gains: "funnel" {targeted, accepted, received,
// displayed, clicked}, "click_through_rate" (clicked / displayed, null before any display),
// "time_to_device" {p50_ms, p90_ms, p99_ms, within_120s, target_met, devices, histogram
// [{le_ms, count}]} and "by_service" {fcm|mozilla|apple|own|other: {targeted, accepted,
// received, displayed, clicked}}. `delivery` is null for a draft (targeted and accepted 0);
// targeted and accepted are null for a delivery without a split (Delivery::service_split).
boost::json::object alert_analytics_json(const store::AlertEngagement& engagement,
                                         const store::AlertReach& reach,
                                         const std::optional<news::Delivery>& delivery);

// The analytics of one alert as CSV (RFC 4180): a header "metric,value" and one row per figure
// (funnel, rates, percentiles, histogram buckets, per-service counts, accept latency); an
// unknown figure is an empty value.
std::string alert_analytics_csv(std::int64_t alert_id, const store::AlertEngagement& engagement,
                                const store::AlertReach& reach,
                                const std::optional<news::Delivery>& delivery);

// The opt-in funnel (GET /api/newsroom/optin): {"from": "YYYY-MM-DD", "days": [{day, category,
// page, shown, clicked, granted, denied, subscribed, unsubscribed}], "totals": {…}} with
// "totals" summed over every row.
boost::json::object optin_json(std::int64_t from_day, const std::vector<store::OptinCount>& rows);

// The alert as GET /api/newsroom/alerts lists it (newsroom_api.cc): fields, engagement, delivery.
boost::json::object alert_json(const store::Alert& alert, const store::AlertEngagement& engagement,
                               const std::optional<news::Delivery>& delivery);

// "YYYY-MM-DD" of a day number (days since 1970-01-01, UTC).
std::string day_text(std::int64_t day);

}  // namespace flashwire::newsroom
