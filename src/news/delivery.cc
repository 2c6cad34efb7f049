#include "news/delivery.h"

namespace flashwire::news {

void DeliveryCounts::add(const DeliveryCounts& other) {
  sent += other.sent;
  gone += other.gone;
  failed += other.failed;
  retried += other.retried;
  for (const auto& [reason, count] : other.failed_by_reason) failed_by_reason[reason] += count;
  for (std::size_t i = 0; i < accept_latency.size(); ++i) {
    accept_latency[i] += other.accept_latency[i];
  }
  for (std::size_t i = 0; i < targeted_by_service.size(); ++i) {
    targeted_by_service[i] += other.targeted_by_service[i];
    accepted_by_service[i] += other.accepted_by_service[i];
  }
  if (other.last_accept_ms > last_accept_ms) last_accept_ms = other.last_accept_ms;
}

const char* delivery_state_name(DeliveryState state) {
  switch (state) {
    case DeliveryState::kRunning:
      return "running";
    case DeliveryState::kDone:
      return "done";
    case DeliveryState::kCancelled:
      return "cancelled";
    case DeliveryState::kFailed:
      return "failed";
  }
  return "unknown";
}

}  // namespace flashwire::news
