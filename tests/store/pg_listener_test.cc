// PgListener against the real server of the test cluster (backends.h): notifications reach the
// subscribers of their channel only, and only when the sender's transaction commits; a lost
// connection is noticed, reconnected and reported to every subscriber as "you may have missed
// something"; start() reports a server that cannot be reached. Channels are named after the
// test's schema: LISTEN/NOTIFY is per database, and tests run in parallel on one database.
#include "store/postgres/pg_listener.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "backends.h"
#include "store/postgres/pg.h"

namespace flashwire::store {
namespace {

using testing::Backend;
using testing::RawPg;
using testing::StorePlace;

// How long a test waits for something the server does; the deadline only bounds a failing test.
constexpr auto kPatience = std::chrono::seconds(30);

// What a subscriber saw, for waiting on it from the test's thread.
class Inbox {
 public:
  pg::PgListenerSubscriber subscriber() {
    return {
        .on_notification =
            [this](std::string_view payload) {
              std::lock_guard lock(mutex_);
              payloads_.emplace_back(payload);
              changed_.notify_all();
            },
        .on_missed =
            [this] {
              std::lock_guard lock(mutex_);
              ++missed_;
              changed_.notify_all();
            },
    };
  }
  // Waits until `count` notifications arrived (or kPatience passed); returns them all.
  std::vector<std::string> wait_for(std::size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kPatience, [&] { return payloads_.size() >= count; });
    return payloads_;
  }
  int wait_for_missed(int count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kPatience, [&] { return missed_ >= count; });
    return missed_;
  }
  std::vector<std::string> payloads() {
    std::lock_guard lock(mutex_);
    return payloads_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> payloads_;
  int missed_ = 0;
};

class PgListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    place_ = std::make_unique<StorePlace>(Backend::kPostgres);
    if (!place_->ready()) {
      if (!HasFailure()) GTEST_SKIP() << "no PostgreSQL test cluster";
      return;
    }
    auto pool = pg::Pool::create(place_->url(), {});
    ASSERT_TRUE(pool) << pool.error().message;
    pool_ = *pool;
  }

  // The listener's own application_name, so a test can end its session and only its session.
  std::string listener_url() const {
    return place_->url() + "&application_name=" + place_->schema() + "_listener";
  }
  std::string channel(const std::string& name) const { return place_->schema() + "_" + name; }

  void send(const std::string& channel, const std::string& payload) {
    auto lease = pool_->acquire();
    ASSERT_TRUE(lease) << lease.error().message;
    auto sent = pg::notify(**lease, channel, payload);
    ASSERT_TRUE(sent) << sent.error().message;
  }

  std::unique_ptr<StorePlace> place_;
  std::shared_ptr<pg::Pool> pool_;
};

TEST(PgListenerChannelTest, AcceptsOnlyPlainLowercaseIdentifiers) {
  EXPECT_TRUE(pg::valid_channel_name("flashwire_content"));
  EXPECT_TRUE(pg::valid_channel_name("_x9"));
  EXPECT_TRUE(pg::valid_channel_name(std::string(63, 'a')));
  EXPECT_FALSE(pg::valid_channel_name(""));
  EXPECT_FALSE(pg::valid_channel_name(std::string(64, 'a')));
  EXPECT_FALSE(pg::valid_channel_name("9lives"));
  EXPECT_FALSE(pg::valid_channel_name("Upper"));
  EXPECT_FALSE(pg::valid_channel_name("a\"; DROP TABLE articles; --"));
  EXPECT_FALSE(pg::valid_channel_name("with space"));
}

TEST_F(PgListenerTest, DeliversEachNotificationToTheSubscribersOfItsChannelOnly) {
  pg::PgListener listener(listener_url());
  Inbox first, second, other;
  ASSERT_TRUE(listener.subscribe(channel("news"), first.subscriber()));
  ASSERT_TRUE(listener.subscribe(channel("news"), second.subscriber()));
  ASSERT_TRUE(listener.subscribe(channel("other"), other.subscriber()));
  ASSERT_TRUE(listener.start());
  EXPECT_TRUE(listener.connected());

  send(channel("news"), "article 7");
  send(channel("unheard"), "nobody listens");
  send(channel("news"), "");
  send(channel("other"), "x");
  EXPECT_EQ(first.wait_for(2), (std::vector<std::string>{"article 7", ""}));
  EXPECT_EQ(second.wait_for(2), (std::vector<std::string>{"article 7", ""}));
  // Delivered in order on one thread: "other" was sent last, so once it is in, the rest are too.
  EXPECT_EQ(other.wait_for(1), (std::vector<std::string>{"x"}));
  EXPECT_EQ(first.payloads().size(), 2u);
  EXPECT_EQ(listener.notifications(), 3u);  // per notification, not per subscriber
}

TEST_F(PgListenerTest, ANotificationSentInATransactionArrivesOnlyIfItCommits) {
  pg::PgListener listener(listener_url());
  Inbox inbox;
  ASSERT_TRUE(listener.subscribe(channel("tx"), inbox.subscriber()));
  ASSERT_TRUE(listener.start());
  {
    auto lease = pool_->acquire();
    ASSERT_TRUE(lease);
    pg::Transaction rolled_back(**lease);
    ASSERT_TRUE(rolled_back.begin("test"));
    ASSERT_TRUE(pg::notify(**lease, channel("tx"), "rolled back"));
  }  // rolls back
  {
    auto lease = pool_->acquire();
    ASSERT_TRUE(lease);
    pg::Transaction committed(**lease);
    ASSERT_TRUE(committed.begin("test"));
    ASSERT_TRUE(pg::notify(**lease, channel("tx"), "committed"));
    ASSERT_TRUE(committed.commit("test"));
  }
  // Both went through one server in this order: had the first been delivered, it would be first.
  EXPECT_EQ(inbox.wait_for(1), (std::vector<std::string>{"committed"}));
}

TEST_F(PgListenerTest, ALostConnectionIsReconnectedAndSubscribersAreToldTheyMayHaveMissedSome) {
  std::vector<std::string> logged;
  std::mutex log_mutex;
  pg::PgListenerOptions options;
  options.min_backoff = std::chrono::milliseconds(10);
  options.max_backoff = std::chrono::milliseconds(200);
  options.log = [&](std::string_view line) {
    std::lock_guard lock(log_mutex);
    logged.emplace_back(line);
  };
  pg::PgListener listener(listener_url(), options);
  Inbox inbox;
  ASSERT_TRUE(listener.subscribe(channel("resync"), inbox.subscriber()));
  ASSERT_TRUE(listener.start());
  EXPECT_EQ(inbox.wait_for_missed(0), 0);  // nothing missed on the first connection

  // What a server restart or a failover does to the listener's session.
  RawPg(testing::cluster_value("PG_URL").value())
      .exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
            place_->schema() + "_listener'");
  ASSERT_EQ(inbox.wait_for_missed(1), 1);
  EXPECT_EQ(listener.connection_losses(), 1u);
  EXPECT_EQ(listener.reconnects(), 1u);
  EXPECT_TRUE(listener.connected());

  // LISTENing again: notifications flow on the new connection.
  send(channel("resync"), "after");
  EXPECT_EQ(inbox.wait_for(1), (std::vector<std::string>{"after"}));
  listener.stop();
  std::lock_guard lock(log_mutex);
  ASSERT_EQ(logged.size(), 2u);  // once lost, once back; never the password
  EXPECT_NE(logged[0].find("lost"), std::string::npos) << logged[0];
  EXPECT_NE(logged[1].find("reconnected"), std::string::npos) << logged[1];
}

TEST_F(PgListenerTest, OnConnectPreparesEveryConnectionAndItsRefusalFailsStart) {
  std::atomic<int> prepared{0};
  pg::PgListenerOptions options;
  options.min_backoff = std::chrono::milliseconds(10);
  options.max_backoff = std::chrono::milliseconds(200);
  options.log = [](std::string_view) {};
  options.on_connect = [&prepared](pg::Connection& conn) -> Status {
    ++prepared;
    auto ok = conn.exec("SELECT 1", "on_connect");  // the connection is usable here
    if (!ok) return tl::unexpected(ok.error());
    return {};
  };
  pg::PgListener listener(listener_url(), options);
  Inbox inbox;
  ASSERT_TRUE(listener.subscribe(channel("prepared"), inbox.subscriber()));
  ASSERT_TRUE(listener.start());
  EXPECT_EQ(prepared.load(), 1);
  RawPg(testing::cluster_value("PG_URL").value())
      .exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
            place_->schema() + "_listener'");
  ASSERT_EQ(inbox.wait_for_missed(1), 1);
  EXPECT_EQ(prepared.load(), 2) << "the new connection was prepared before subscribers were told";
  listener.stop();

  pg::PgListenerOptions refusing;
  refusing.on_connect = [](pg::Connection&) -> Status {
    return make_error(ErrorCode::kConflict, "node id taken");
  };
  pg::PgListener refused(listener_url(), refusing);
  Inbox unheard;
  ASSERT_TRUE(refused.subscribe(channel("refused"), unheard.subscriber()));
  auto started = refused.start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ErrorCode::kConflict);
  EXPECT_EQ(started.error().message, "node id taken");
  EXPECT_FALSE(refused.connected());
}

TEST_F(PgListenerTest, ASubscriptionAfterStartIsListenedOnByTheRunningListener) {
  pg::PgListener listener(listener_url());
  Inbox first, late;
  ASSERT_TRUE(listener.subscribe(channel("first"), first.subscriber()));
  ASSERT_TRUE(listener.start());
  ASSERT_TRUE(listener.subscribe(channel("late"), late.subscriber()));
  // The LISTEN happens on the listener's thread, at a moment the test cannot see: send until one
  // arrives (bounded), then one more that must arrive too.
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (late.payloads().empty() && std::chrono::steady_clock::now() < deadline) {
    const std::size_t ticks = first.payloads().size();
    send(channel("late"), "probe");
    send(channel("first"), "tick");  // a round trip through the listener between probes
    ASSERT_EQ(first.wait_for(ticks + 1).size(), ticks + 1);
  }
  ASSERT_FALSE(late.payloads().empty());
  const std::size_t before = late.payloads().size();
  send(channel("late"), "last");
  EXPECT_EQ(late.wait_for(before + 1).back(), "last");
}

TEST_F(PgListenerTest, StartReportsAServerThatCannotBeReached) {
  pg::PgListener down("postgresql:///flashwire_test?host=/nonexistent-socket-dir&user=postgres");
  Inbox inbox;
  ASSERT_TRUE(down.subscribe("anything", inbox.subscriber()));
  auto started = down.start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ErrorCode::kIo);
  EXPECT_NE(started.error().message.find("cannot connect"), std::string::npos)
      << started.error().message;
  EXPECT_FALSE(down.connected());

  pg::PgListener bad("postgresql://[nonsense");
  ASSERT_FALSE(bad.start());
  EXPECT_EQ(bad.start().error().code, ErrorCode::kInvalid);
}

TEST_F(PgListenerTest, RefusesBadChannelsSubscribersAndPayloads) {
  pg::PgListener listener(listener_url());
  EXPECT_EQ(listener.subscribe("Bad-Name", Inbox().subscriber()).error().code, ErrorCode::kInvalid);
  EXPECT_EQ(listener.subscribe(channel("x"), pg::PgListenerSubscriber{}).error().code,
            ErrorCode::kInvalid);
  ASSERT_TRUE(listener.start());
  EXPECT_EQ(listener.start().error().code, ErrorCode::kInvalid);  // already started

  auto lease = pool_->acquire();
  ASSERT_TRUE(lease);
  EXPECT_EQ(pg::notify(**lease, "no such;", "x").error().code, ErrorCode::kInvalid);
  EXPECT_EQ(pg::notify(**lease, channel("x"), std::string(8000, 'p')).error().code,
            ErrorCode::kInvalid);
  EXPECT_TRUE(pg::notify(**lease, channel("x"), std::string(7999, 'p')));
}

TEST_F(PgListenerTest, StopEndsTheThreadAndIsIdempotent) {
  pg::PgListener listener(listener_url());
  Inbox inbox;
  ASSERT_TRUE(listener.subscribe(channel("stop"), inbox.subscriber()));
  ASSERT_TRUE(listener.start());
  listener.stop();
  EXPECT_FALSE(listener.connected());
  listener.stop();
  // Its session ends on the server (asynchronously after the close: polled, bounded).
  RawPg raw(testing::cluster_value("PG_URL").value());
  const std::string query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                            place_->schema() + "_listener'";
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (raw.rows(query) != "0\n" && std::chrono::steady_clock::now() < deadline) {
    raw.rows("SELECT pg_sleep(0.01)");
  }
  EXPECT_EQ(raw.rows(query), "0\n");
}

}  // namespace
}  // namespace flashwire::store
