#include "news/alert.h"

namespace flashwire::news {

bool is_urgency(std::string_view urgency) {
  return urgency == "very-low" || urgency == "low" || urgency == "normal" || urgency == "high";
}

std::optional<AlertEvent> parse_alert_event(std::string_view name) {
  if (name == "received") return AlertEvent::kReceived;
  if (name == "displayed") return AlertEvent::kDisplayed;
  if (name == "clicked") return AlertEvent::kClicked;
  if (name == "dismissed") return AlertEvent::kDismissed;
  return std::nullopt;
}

}  // namespace flashwire::news
