// Flashwire's own RFC 8030 push service: the state shared by the application-server side
// (HTTP POST to an endpoint) and the user-agent side (WebSocket sessions).
//
// Delivery rules:
// - To a connected user agent, a message is sent at once and kept in memory until the user agent
//   acks it. If the connection ends first (or the service is stopped), the unacked messages that
//   still have TTL left are written to the store, and sent again when the user agent returns.
//   A user agent that stops acking gets at most `backlog_cap` messages held in memory; beyond
//   that its messages go through the store.
// - For a user agent that is not connected, a message with TTL > 0 is written to the store before
//   the sender gets 201, and stays there until the user agent acks it, it expires, or a newer
//   message with the same Topic replaces it. A restart loses nothing stored.
// - A TTL 0 message is never stored: it is sent only if the user agent is connected at that
//   moment. Like the in-memory window above, it is lost if the process dies before the ack, as
//   RFC 8030 allows for a push service (and as the browser-vendor services do).
//
// Backlog policy: each user agent holds at most `backlog_cap` stored messages; when a new one
// would exceed it, the oldest are dropped (counted as evicted). For breaking news the newest
// alert matters most.
//
// Thread safety: single-threaded; the HTTP server, the WebSocket sessions and the purge timer all
// run on one io_context thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/clock.h"
#include "http/server.h"
#include "pushservice/endpoint_codec.h"
#include "pushservice/protocol.h"
#include "store/push_store.h"

namespace flashwire::pushservice {

struct PushServiceOptions {
  // Public base URL, e.g. "http://127.0.0.1:8090": endpoints are <public_url>/wpush/<token>, and
  // VAPID tokens must name its origin as their audience.
  std::string public_url;
  std::size_t backlog_cap = 100;                     // stored messages per user agent
  std::int64_t max_ttl_seconds = 28 * 24 * 60 * 60;  // longer TTLs are cut to this (and said so)
  std::size_t max_channels_per_ua = 200;             // a register beyond this is refused (413)
  // Registrations per user agent (uaid) and minute, across its connections: reconnecting does
  // not renew the allowance. Beyond it the connection is closed (1008).
  std::size_t registers_per_minute_per_ua = 60;
  std::size_t max_body_bytes = 4096;                 // RFC 8030 §7.2: larger bodies get 413
  std::int64_t vapid_clock_skew_seconds = 60;        // tolerance for senders' clocks
  ProtocolOptions protocol;
};

class PushService final : public UaBackend {
 public:
  PushService(std::unique_ptr<store::PushStore> store, const EndpointKey& endpoint_key,
              const Clock& clock, PushServiceOptions options);

  // POST <public_url>/wpush/<token>: the application-server side of RFC 8030.
  http::Response handle_push(const http::Request& request, std::string_view token);
  // Prometheus text exposition of the counters below.
  std::string metrics_text();
  // Deletes expired stored messages; returns how many. Called periodically.
  std::size_t purge_expired();

  // Transport bookkeeping for the connections gauge.
  void connection_opened() {
    ++connections_open_;
    ++connections_total_;
  }
  void connection_closed() { --connections_open_; }
  std::size_t connected_user_agents() const { return sessions_.size(); }
  // Writes every message held in memory for connected user agents to the store (graceful stop).
  void persist_unacked();

  const PushServiceOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }
  // Sets the public URL (before serving: endpoints already handed out keep the old one).
  void set_public_url(std::string url);

  // UaBackend
  std::optional<std::string> hello(UaSession& session, std::string_view requested_uaid) override;
  Registration register_channel(
      const std::string& uaid, const std::string& channel_id,
      const std::optional<std::array<std::uint8_t, 65>>& vapid_key) override;
  int unregister_channel(const std::string& uaid, const std::string& channel_id) override;
  void acknowledge(const std::string& uaid, const std::string& channel_id,
                   const std::string& version, int code) override;
  void refuse(const std::string& uaid, const std::string& channel_id, const std::string& version,
              int code) override;
  void disconnected(UaSession& session, const std::string& uaid) override;

 private:
  http::Response reject(http::Status status, const std::string& reason, std::string_view message);
  // A 503 for a store that failed, by the one mapping (http::error_answer); counted as "storage".
  // `what` names the dependency for the error model; the answer does not carry it.
  http::Response reject_unavailable(std::string_view what);
  void send_notification(UaSession& session, const store::PushMessage& message,
                         const std::string& version);
  // What a POST needs of its channel. Looked up in the store once, then kept (see
  // channel_cache_).
  struct CachedChannel {
    std::optional<store::VapidKey> vapid_key;
    KeyHash vapid_key_hash{};  // all zero without a key, as in endpoint tokens
  };
  // The channel `ref` names, nullptr if the store has no such channel, or the store's error.
  tl::expected<const CachedChannel*, store::Error> lookup_channel(const EndpointRef& ref);
  std::string new_uaid();
  struct Live;
  void persist_unacked(Live& live);
  void forget(const std::string& uaid, const std::string& version);

  std::unique_ptr<store::PushStore> store_;
  EndpointCodec codec_;
  const Clock& clock_;
  PushServiceOptions options_;
  std::string audience_;  // origin of public_url, the VAPID aud we accept
  // A connected user agent: its one live session and the messages sent to it, not yet acked.
  struct Live {
    UaSession* session = nullptr;
    std::map<std::uint64_t, store::PushMessage> unacked;  // by in-memory sequence number
  };
  std::unordered_map<std::string, Live> sessions_;  // by uaid
  // VAPID headers already verified. Senders reuse one token per origin for hours, and an ECDSA
  // verification costs more than the rest of a request.
  struct VerifiedToken {
    std::int64_t expires_at;
    std::array<std::uint8_t, 65> key;  // the k= it was verified under
  };
  struct StringHash {
    using is_transparent = void;  // look-ups by string_view, without a copy
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  std::unordered_map<std::string, VerifiedToken, StringHash, std::equal_to<>>
      verified_tokens_;  // by Authorization value
  static constexpr std::size_t kMaxVerifiedTokens = 4096;
  // Channels that senders posted to, so that a message costs no SQLite query (and its file
  // locking) and no SHA-256 of the channel's VAPID key. Exact, not a guess: only this service
  // changes its store's channels, and unregister_channel erases the entry (registering again
  // with another key is refused while the channel exists). Found channels only; cleared when
  // full (about 170 bytes an entry).
  using ChannelKey = std::array<char, 32 + 36>;  // uaid, then the canonical channel id
  struct ChannelKeyHash {
    std::size_t operator()(const ChannelKey& key) const {
      return std::hash<std::string_view>{}(std::string_view(key.data(), key.size()));
    }
  };
  // nullopt for ids of another length, which no stored channel has.
  static std::optional<ChannelKey> channel_key(std::string_view uaid, std::string_view channel_id);
  std::unordered_map<ChannelKey, CachedChannel, ChannelKeyHash> channel_cache_;
  static constexpr std::size_t kMaxCachedChannels = 16384;
  std::uint64_t volatile_counter_ = 0;

  // Counters for /metrics.
  std::int64_t connections_open_ = 0;
  std::uint64_t connections_total_ = 0;
  std::uint64_t accepted_ = 0;
  std::uint64_t delivered_ = 0;
  std::uint64_t expired_ = 0;
  std::uint64_t replaced_ = 0;
  std::uint64_t evicted_ = 0;
  std::uint64_t registrations_ = 0;
  std::uint64_t unregistrations_ = 0;
  std::map<std::string, std::uint64_t> rejected_;  // by reason
  // By code: 100 delivered, 101 decryption failed, 102 not delivered; anything else a user
  // agent sends is counted once under "invalid" (acks_[0]), so /metrics cannot be grown by it.
  std::array<std::uint64_t, 4> acks_{};
  struct RegisterWindow {
    std::int64_t start = 0;
    std::size_t count = 0;
  };
  std::unordered_map<std::string, RegisterWindow> register_windows_;  // by uaid
  static constexpr std::size_t kMaxRegisterWindows = 100'000;
  std::uint64_t nacks_ = 0;
  std::uint64_t lost_ = 0;
};

}  // namespace flashwire::pushservice
