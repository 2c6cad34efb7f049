// The scheduler behind scheduled alerts in `flashwire serve`: runs one step (the newsroom's
// NewsroomApi::send_due_alerts) on the server's io_context every `period`, so the step shares
// the thread of the newsroom API and its store connection. A step's error is logged to stderr
// and the next step retries; nothing is lost, as due alerts stay in the store until claimed.
//
// Thread safety: start and stop on the io_context's thread, or before it runs.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <tl/expected.hpp>

#include "common/error.h"

namespace flashwire::app {

class AlertScheduler {
 public:
  using Step = std::function<tl::expected<std::size_t, Error>()>;
  // `io` is not owned and must outlive the scheduler.
  AlertScheduler(boost::asio::io_context& io, Step step,
                 std::chrono::milliseconds period = std::chrono::milliseconds(500));
  // Runs a first step at once, then one every period until stop().
  void start();
  void stop();

 private:
  void tick();

  boost::asio::steady_timer timer_;
  Step step_;
  std::chrono::milliseconds period_;
  bool running_ = false;
  bool failing_ = false;  // the last step failed: the next failure is not logged again
};

}  // namespace flashwire::app
