#include "store/site_store.h"

namespace flashwire::store {

std::optional<Category> parse_category(std::string_view name) {
  if (name == "breaking") return Category::kBreaking;
  if (name == "live") return Category::kLive;
  if (name == "exclusive") return Category::kExclusive;
  return std::nullopt;
}

std::string_view category_name(Category category) {
  switch (category) {
    case Category::kBreaking:
      return "breaking";
    case Category::kLive:
      return "live";
    case Category::kExclusive:
      return "exclusive";
  }
  return "breaking";
}

std::optional<AlertEvent> parse_alert_event(std::string_view name) {
  if (name == "received") return AlertEvent::kReceived;
  if (name == "displayed") return AlertEvent::kDisplayed;
  if (name == "clicked") return AlertEvent::kClicked;
  if (name == "dismissed") return AlertEvent::kDismissed;
  return std::nullopt;
}

}  // namespace flashwire::store
