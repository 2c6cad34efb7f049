// The hand-off from the newsroom to alert delivery.
//
// When an editor confirms an alert (POST /api/newsroom/alerts/{id}/send), the newsroom API marks
// it "sending" in the store and hands its id to an AlertQueue. The fan-out engine, which pages
// through the audience and sends the pushes, will implement this interface; until it exists, the
// app wires PendingAlertQueue, which only remembers the ids: confirmed alerts stay "sending" in
// the store and nothing is delivered.
//
// Thread safety: called on the server's thread; implementations that hand work to other threads
// synchronise themselves.
#pragma once

#include <cstdint>
#include <vector>

namespace flashwire::newsroom {

class AlertQueue {
 public:
  virtual ~AlertQueue() = default;
  // Hands the alert to the fan-out. Called once per confirmed alert, after its status is
  // "sending" in the store; must not block.
  virtual void enqueue(std::int64_t alert_id) = 0;
};

// Keeps confirmed alerts waiting, in order, for a fan-out that does not exist yet. Nothing is
// delivered; the ids are kept in memory only (the store still says "sending" after a restart).
class PendingAlertQueue final : public AlertQueue {
 public:
  void enqueue(std::int64_t alert_id) override { pending_.push_back(alert_id); }
  const std::vector<std::int64_t>& pending() const { return pending_; }

 private:
  std::vector<std::int64_t> pending_;
};

}  // namespace flashwire::newsroom
