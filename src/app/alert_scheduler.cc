#include "app/alert_scheduler.h"

#include <iostream>
#include <utility>

namespace flashwire::app {

AlertScheduler::AlertScheduler(boost::asio::io_context& io, Step step,
                               std::chrono::milliseconds period)
    : timer_(io), step_(std::move(step)), period_(period) {}

void AlertScheduler::start() {
  running_ = true;
  tick();
}

void AlertScheduler::stop() {
  running_ = false;
  timer_.cancel();
}

void AlertScheduler::tick() {
  if (!running_) return;
  auto done = step_();
  if (!done && !failing_) std::cerr << "scheduled alerts: " << done.error().message << "\n";
  failing_ = !done;
  timer_.expires_after(period_);
  timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) tick();
  });
}

}  // namespace flashwire::app
