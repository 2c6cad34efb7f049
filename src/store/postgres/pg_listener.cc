#include "store/postgres/pg_listener.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <utility>

#include "store/postgres/pg.h"

namespace flashwire::store::pg {

bool valid_channel_name(std::string_view channel) {
  if (channel.empty() || channel.size() > 63) return false;
  if (channel.front() >= '0' && channel.front() <= '9') return false;
  return std::all_of(channel.begin(), channel.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Status notify(Connection& conn, std::string_view channel, std::string_view payload) {
  if (!valid_channel_name(channel)) {
    return make_error(ErrorCode::kInvalid, "notify: bad channel name");
  }
  if (payload.size() >= 8000) {
    return make_error(ErrorCode::kInvalid, "notify: payload of 8000 bytes or more");
  }
  auto sent = conn.run("fw_notify", "SELECT pg_notify($1, $2)", Params().add(channel).add(payload),
                       "notify");
  if (!sent) return tl::unexpected(sent.error());
  return {};
}

PgListener::PgListener(std::string url, PgListenerOptions options)
    : url_(std::move(url)), options_(std::move(options)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

PgListener::~PgListener() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void PgListener::log(std::string_view line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::cerr << "flashwire: " << line << std::endl;
  }
}

Status PgListener::subscribe(const std::string& channel, PgListenerSubscriber subscriber) {
  if (!valid_channel_name(channel)) {
    return make_error(ErrorCode::kInvalid, "listen: bad channel name");
  }
  if (!subscriber.on_notification) {
    return make_error(ErrorCode::kInvalid, "listen: a subscriber needs on_notification");
  }
  bool started = false;
  {
    std::lock_guard lock(mutex_);
    subscribers_[channel].push_back(std::move(subscriber));
    started = started_;
  }
  if (started) wake();  // the thread LISTENs on a new channel
  return {};
}

Status PgListener::start() {
  {
    std::lock_guard lock(mutex_);
    if (started_) return make_error(ErrorCode::kInvalid, "listen: already started");
  }
  if (wake_fd_ < 0) return make_error(ErrorCode::kIo, "listen: eventfd failed");
  auto conn = open_connection();
  if (!conn) return tl::unexpected(conn.error());
  {
    std::lock_guard lock(mutex_);
    started_ = true;
  }
  stopping_ = false;
  connected_ = true;
  thread_ = std::thread([this, c = std::move(*conn)]() mutable { run(std::move(c)); });
  return {};
}

void PgListener::stop() {
  stopping_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
  connected_ = false;
}

void PgListener::wake() {
  if (wake_fd_ < 0) return;
  const std::uint64_t one = 1;
  // A full counter (never in practice) still leaves the descriptor readable: nothing is lost.
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

void PgListener::drain_wakeups() {
  std::uint64_t value = 0;
  while (::read(wake_fd_, &value, sizeof value) > 0) {
  }
}

bool PgListener::wait_or_stop(std::chrono::milliseconds delay) {
  pollfd fd{wake_fd_, POLLIN, 0};
  const auto deadline = std::chrono::steady_clock::now() + delay;
  while (!stopping_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return true;
    const int n = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (n > 0) drain_wakeups();  // a new subscription: it is LISTENed on after reconnecting
  }
  return false;
}

Result<std::unique_ptr<Connection>> PgListener::open_connection() {
  auto conn = Connection::connect(url_);
  if (!conn) return tl::unexpected(conn.error());
  if (options_.on_connect) {
    if (auto ready = options_.on_connect(**conn); !ready) return tl::unexpected(ready.error());
  }
  if (!listen_pending(**conn, true)) {
    return make_error(ErrorCode::kIo,
                      "listen: LISTEN failed on " + describe_target(url_) + ": connection lost");
  }
  return conn;
}

bool PgListener::listen_pending(Connection& conn, bool all) {
  std::vector<std::string> pending;
  {
    std::lock_guard lock(mutex_);
    if (all) listening_.clear();
    for (const auto& [channel, subs] : subscribers_) {
      if (std::find(listening_.begin(), listening_.end(), channel) == listening_.end()) {
        pending.push_back(channel);
      }
    }
  }
  for (const std::string& channel : pending) {
    // LISTEN takes an identifier, not a parameter; valid_channel_name() admits only [a-z0-9_],
    // which never needs quoting, and the quotes keep it a plain identifier anyway.
    const std::string sql = "LISTEN \"" + channel + "\"";
    if (!conn.exec(sql.c_str(), "listen")) return false;
    std::lock_guard lock(mutex_);
    listening_.push_back(channel);
  }
  return true;
}

void PgListener::dispatch(std::string_view channel, std::string_view payload) {
  std::vector<PgListenerSubscriber> subs;
  {
    std::lock_guard lock(mutex_);
    auto it = subscribers_.find(std::string(channel));
    if (it == subscribers_.end()) return;
    subs = it->second;
  }
  notifications_.fetch_add(1);
  for (const auto& sub : subs) sub.on_notification(payload);
}

void PgListener::call_missed() {
  std::vector<PgListenerSubscriber> subs;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [channel, list] : subscribers_) {
      subs.insert(subs.end(), list.begin(), list.end());
    }
  }
  for (const auto& sub : subs) {
    if (sub.on_missed) sub.on_missed();
  }
}

void PgListener::run(std::unique_ptr<Connection> conn) {
  std::chrono::milliseconds backoff = options_.min_backoff;
  while (!stopping_) {
    if (conn == nullptr) {
      // Reconnecting: one attempt per backoff period, woken early only to stop.
      if (!wait_or_stop(backoff)) break;
      backoff = std::min(backoff * 2, options_.max_backoff);
      auto fresh = open_connection();
      if (!fresh) {
        // Said once per outage, not once per attempt: why it does not come back (the server
        // still down, on_connect refusing).
        if (!reconnect_failure_logged_) {
          log("PostgreSQL notifications: cannot reconnect yet: " + fresh.error().message);
        }
        reconnect_failure_logged_ = true;
        continue;
      }
      conn = std::move(*fresh);
      reconnect_failure_logged_ = false;
      backoff = options_.min_backoff;
      connected_ = true;
      reconnects_.fetch_add(1);
      log("PostgreSQL notifications: reconnected to " + describe_target(url_) +
          "; subscribers resync");
      call_missed();
    }

    // Hand out what libpq holds before waiting: a LISTEN (here, in start() or after reconnecting)
    // waits for its answer, and the notifications that arrive meanwhile are queued by libpq
    // without the socket staying readable.
    while (PGnotify* note = PQnotifies(conn->get())) {
      const std::string channel = note->relname != nullptr ? note->relname : "";
      const std::string payload = note->extra != nullptr ? note->extra : "";
      PQfreemem(note);
      dispatch(channel, payload);
    }
    pollfd fds[2] = {{PQsocket(conn->get()), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int n = ::poll(fds, 2, -1);
    if (n < 0 && errno != EINTR) break;  // cannot happen with valid descriptors
    if (fds[1].revents != 0) {
      drain_wakeups();
      if (stopping_) break;
    }
    bool ok = true;
    if (fds[0].revents != 0) ok = PQconsumeInput(conn->get()) == 1 && conn->ok();
    if (ok) ok = listen_pending(*conn, false);  // channels subscribed since the last pass
    if (!ok) {
      connected_ = false;
      losses_.fetch_add(1);
      log("PostgreSQL notifications: connection to " + describe_target(url_) +
          " lost; reconnecting with backoff");
      conn.reset();
    }
  }
  conn.reset();
  connected_ = false;
}

}  // namespace flashwire::store::pg
