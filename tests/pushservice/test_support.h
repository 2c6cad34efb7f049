// Test doubles for the push service: an in-memory session that records what the protocol and
// the service send, and a fixture with a real SQLite store in a fresh directory.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "pushservice/protocol.h"
#include "pushservice/service.h"
#include "store/sqlite/sqlite_push_store.h"

namespace flashwire::pushservice::testing {

class RecordingSession final : public UaSession {
 public:
  void send_text(std::string frame) override {
    if (!closed) frames.push_back(std::move(frame));
  }
  void close(std::uint16_t code, std::string reason) override {
    if (closed) return;
    closed = true;
    close_code = code;
    close_reason = std::move(reason);
  }
  // The frames sent so far, parsed; clears them.
  std::vector<boost::json::object> take() {
    std::vector<boost::json::object> out;
    for (const auto& frame : frames) out.push_back(boost::json::parse(frame).as_object());
    frames.clear();
    return out;
  }

  std::vector<std::string> frames;
  bool closed = false;
  std::uint16_t close_code = 0;
  std::string close_reason;
};

inline const EndpointKey kTestEndpointKey = {7, 7, 7};

class ServiceFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flashwire-push-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    open_service();
  }
  void TearDown() override {
    service_.reset();
    std::filesystem::remove_all(dir_);
  }
  // (Re)opens the service on the same database file, as a restart would.
  void open_service() {
    service_.reset();
    auto store = store::open_sqlite_push_store((dir_ / "push.sqlite").string());
    ASSERT_TRUE(store) << store.error().message;
    options_.public_url = "http://127.0.0.1:8090";
    service_ = std::make_unique<PushService>(std::move(*store), kTestEndpointKey, clock_, options_);
  }

  std::filesystem::path dir_;
  ManualClock clock_{1'800'000'000};
  PushServiceOptions options_;
  std::unique_ptr<PushService> service_;
};

}  // namespace flashwire::pushservice::testing
