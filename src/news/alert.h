// Alerts: the notification an editor composes and confirms, its life cycle, and what browsers
// report back about it.
//
// Life cycle (AlertStatus): kQueued (composed, a draft nobody is told about) → kSending (confirmed,
// handed to the AlertQueue) → kSent | kFailed; kQueued or kSending → kCancelled. Moves are
// compare-and-set in the store, so "sent" never overwrites "cancelled".
// A scheduled alert is a kQueued alert with `scheduled` set: confirmed to go at `send_at`. The
// store claims it when due by moving it kQueued → kSending where scheduled and send_at <= now,
// in one conditional update, so that of several nodes exactly one sends it.
// Pure values and functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "news/category.h"

namespace flashwire::news {

enum class AlertStatus : std::uint8_t {
  kQueued = 0,
  kSending = 1,
  kSent = 2,
  kCancelled = 3,
  kFailed = 4
};

struct Alert {
  std::int64_t id = 0;
  std::int64_t article_id = 0;  // 0: not tied to an article
  Category category = Category::kBreaking;
  std::string title;
  std::string body;
  std::string url;
  std::string urgency = "high";  // RFC 8030 Urgency: is_urgency
  std::int64_t ttl_seconds = 3600;
  std::string topic;  // empty: none; live events use one per event
  AlertStatus status = AlertStatus::kQueued;
  std::string created_by;  // API token name
  std::int64_t created_at = 0;
  std::int64_t send_at = 0;  // Unix seconds the editor asked it to go out at; 0: on confirmation
  bool scheduled = false;    // confirmed to go at send_at (status kQueued until it is due)
};

// RFC 8030 §5.3: "very-low" | "low" | "normal" | "high".
bool is_urgency(std::string_view urgency);

// What a browser reports about one alert (the service worker's beacons).
enum class AlertEvent : std::uint8_t {
  kReceived = 0,
  kDisplayed = 1,
  kClicked = 2,
  kDismissed = 3
};
// "received" | "displayed" | "clicked" | "dismissed".
std::optional<AlertEvent> parse_alert_event(std::string_view name);

struct AlertEngagement {
  std::uint64_t received = 0;
  std::uint64_t displayed = 0;
  std::uint64_t clicked = 0;
  std::uint64_t dismissed = 0;
};

}  // namespace flashwire::news
