// The hand-off from the newsroom to alert delivery.
//
// When an editor confirms an alert (POST /api/newsroom/alerts/{id}/send), the newsroom API marks
// it "sending" in the store and hands its id to an AlertQueue. The fan-out engine
// (fanout/engine.h) implements it in `flashwire serve`; PendingAlertQueue, which only remembers
// the ids, stands in for it in tests of the newsroom. Neither side includes the other: both
// include this contract, and src/app/ connects them.
//
// Thread safety: called on the server's thread; implementations that hand work to other threads
// synchronise themselves.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "news/delivery.h"

namespace flashwire::news {

class AlertQueue {
 public:
  virtual ~AlertQueue() = default;
  // Hands the alert to the fan-out. Called once per confirmed alert, after its status is
  // "sending" in the store; must not block.
  virtual void enqueue(std::int64_t alert_id) = 0;
  // Stops a fan-out in progress (the newsroom has already marked the alert "cancelled").
  virtual void cancel(std::int64_t /*alert_id*/) {}
  // What the fan-out has done with the alert so far; nullopt if it has not started it.
  virtual std::optional<Delivery> delivery(std::int64_t /*alert_id*/) { return std::nullopt; }
};

// Keeps confirmed alerts waiting, in order; nothing is delivered. For tests.
class PendingAlertQueue final : public AlertQueue {
 public:
  void enqueue(std::int64_t alert_id) override { pending_.push_back(alert_id); }
  void cancel(std::int64_t alert_id) override { cancelled_.push_back(alert_id); }
  const std::vector<std::int64_t>& pending() const { return pending_; }
  const std::vector<std::int64_t>& cancelled() const { return cancelled_; }

 private:
  std::vector<std::int64_t> pending_;
  std::vector<std::int64_t> cancelled_;
};

}  // namespace flashwire::news
