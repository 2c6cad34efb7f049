// PgListener: PostgreSQL LISTEN/NOTIFY for the nodes of one site. One dedicated libpq connection
// LISTENs on named channels; a thread of its own waits on that connection's socket (and on a
// wake-up descriptor, no polling loop) and hands each notification to the callbacks subscribed to
// its channel. A node needs one, whatever the number of channels and subscribers: `serve` has its
// fan-out engine and its cluster sync subscribe to the one it owns.
//
// Notifications are best effort: while the connection is down, nothing is received and what was
// sent in between is lost. So the listener reconnects with backoff (min_backoff doubling up to
// max_backoff) and, once it LISTENs again, calls every subscriber's `on_missed`: "you may have
// missed something, read the state again". A subscriber that does so never stays stale.
//
// The sender side is notify(): `SELECT pg_notify(channel, payload)` on any connection. Sent
// inside a transaction, PostgreSQL delivers it at commit, and only if it commits.
//
// Threads: subscribe(), start(), stop() and the counters may be called from any thread.
// Callbacks run on the listener's thread, one at a time, in the order PostgreSQL delivered the
// notifications; they must not block for long (the next notification waits) and must not call
// stop() or destroy the listener. Exceptions must not leave a callback.
//
// Ownership: the listener owns its connection and its thread; the destructor stops both.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/error.h"

namespace flashwire::store::pg {

class Connection;

struct PgListenerOptions {
  // First wait after the connection is lost or a reconnect fails; doubled after each failure.
  std::chrono::milliseconds min_backoff{100};
  // The longest wait between two reconnect attempts.
  std::chrono::milliseconds max_backoff{5000};
  // Where the listener reports faults (connection lost, reconnected): one line each, never the
  // password. Default: stderr, prefixed "flashwire: ".
  std::function<void(std::string_view line)> log;
  // Runs on every new connection before it LISTENs: in start() and after each reconnect (e.g. to
  // name the session and take a session-level lock that lives as long as the connection). Its
  // error fails start() as it is; after a reconnect it is logged (once until a reconnect
  // succeeds) and the connection is dropped and tried again after the backoff. Optional.
  std::function<Status(Connection& conn)> on_connect;
};

struct PgListenerSubscriber {
  // A notification on the channel, with its payload ("" if none). Required.
  std::function<void(std::string_view payload)> on_notification;
  // The connection was lost and is back: notifications may have been missed. Optional.
  std::function<void()> on_missed;
};

// A channel name the listener accepts: 1-63 characters of [a-z0-9_], not starting with a digit.
// Kept this strict so that a name can never need quoting.
bool valid_channel_name(std::string_view channel);

class PgListener {
 public:
  // Does not connect yet; `url` is a libpq URI or key=value string.
  explicit PgListener(std::string url, PgListenerOptions options = {});
  ~PgListener();
  PgListener(const PgListener&) = delete;
  PgListener& operator=(const PgListener&) = delete;

  // Adds `subscriber` to `channel`. Before start(), the channel is LISTENed on from the first
  // connection; after start(), the listener's thread LISTENs on it (notifications sent before it
  // did are not seen). kInvalid for a bad channel name or a subscriber without on_notification.
  Status subscribe(const std::string& channel, PgListenerSubscriber subscriber);

  // Connects, runs on_connect and LISTENs on the subscribed channels on the caller's thread, so
  // that a bad URL, a wrong password or a server that is down shows here (kInvalid / kIo, one
  // line, as Connection::connect), as does on_connect's error, then starts the listener's
  // thread. kInvalid if already started.
  Status start();

  // Stops the thread and closes the connection; idempotent. Waits for a callback that runs.
  void stop();

  // True while the listener holds a working connection with every channel LISTENed on.
  bool connected() const { return connected_.load(); }
  // Connections lost since start (each logged once).
  std::uint64_t connection_losses() const { return losses_.load(); }
  // Successful reconnects since start (each followed by on_missed calls).
  std::uint64_t reconnects() const { return reconnects_.load(); }
  // Notifications handed to subscribers since start.
  std::uint64_t notifications() const { return notifications_.load(); }

 private:
  void run(std::unique_ptr<Connection> conn);
  // A new connection, prepared (on_connect) and LISTENing on every channel; the error otherwise.
  Result<std::unique_ptr<Connection>> open_connection();
  // LISTENs on every channel not yet LISTENed on this connection; false if the connection failed.
  bool listen_pending(Connection& conn, bool all);
  void dispatch(std::string_view channel, std::string_view payload);
  void call_missed();
  // Waits up to `delay` or until stop() wakes us; false when stopping.
  bool wait_or_stop(std::chrono::milliseconds delay);
  void drain_wakeups();
  void wake();
  void log(std::string_view line) const;

  const std::string url_;
  const PgListenerOptions options_;
  int wake_fd_ = -1;  // eventfd: stop() and subscribe() wake the thread through it

  mutable std::mutex mutex_;  // guards subscribers_, listening_, started_
  std::map<std::string, std::vector<PgListenerSubscriber>> subscribers_;
  std::vector<std::string> listening_;  // channels LISTENed on by the current connection
  bool started_ = false;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> losses_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::uint64_t> notifications_{0};
  bool reconnect_failure_logged_ = false;  // the listener's thread only
  std::thread thread_;
};

// Sends `payload` on `channel` through `conn` (SELECT pg_notify($1, $2)). kInvalid for a bad
// channel name or a payload of 8000 bytes or more (PostgreSQL's limit); kIo when the statement
// fails. Inside an open transaction, delivery happens at its commit.
Status notify(Connection& conn, std::string_view channel, std::string_view payload);

}  // namespace flashwire::store::pg
