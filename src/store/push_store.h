// Storage for Flashwire's own push service (RFC 8030): user agents, their channels
// (subscriptions), and messages waiting for user agents that are offline or have not acked.
//
// Contract:
// - Every mutating call is atomic: it either happens completely or not at all, and a failure
//   leaves everything already stored as it was.
// - Messages are kept until acknowledged, until their expiry, or until replaced by a newer
//   message with the same topic on the same channel.
// - Thread safety: a PushStore object is used by one thread at a time. Open one per thread that
//   needs one; SQLite serialises writers between them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/error.h"

namespace flashwire::store {

using VapidKey = std::array<std::uint8_t, 65>;  // uncompressed P-256 point

struct PushChannel {
  std::string uaid;                   // 32 lower-case hex characters
  std::string channel_id;             // UUID as sent by the user agent, lower-cased
  std::optional<VapidKey> vapid_key;  // set when the subscription is restricted to one sender
  std::int64_t created_at = 0;        // Unix seconds
};

enum class Urgency { kVeryLow = 0, kLow = 1, kNormal = 2, kHigh = 3 };

struct PushMessage {
  std::int64_t id = 0;  // assigned by store_message; also the message's "version" on the wire
  std::string uaid;
  std::string channel_id;
  std::string topic;  // empty: no topic
  Urgency urgency = Urgency::kNormal;
  std::int64_t received_at = 0;    // Unix seconds
  std::int64_t expires_at = 0;     // Unix seconds; received_at + TTL
  std::string encoding;            // Content-Encoding, e.g. "aes128gcm"; empty without a body
  std::vector<std::uint8_t> data;  // the encrypted body as received (at most 4096 bytes)
};

struct StoreMessageResult {
  std::int64_t id = 0;
  std::size_t replaced = 0;  // earlier messages with the same topic that this one replaced
  std::size_t evicted = 0;   // oldest messages dropped to keep the backlog within the cap
};

class PushStore {
 public:
  virtual ~PushStore() = default;

  // Creates the user agent if new, and records `now` as its last connection.
  virtual Status touch_user_agent(const std::string& uaid, std::int64_t now) = 0;
  virtual Result<bool> user_agent_exists(const std::string& uaid) = 0;
  // Removes the user agent with its channels and messages. Not an error if absent.
  virtual Status remove_user_agent(const std::string& uaid) = 0;

  // Adds a channel. Re-adding the same (uaid, channel_id) with the same VAPID key is a no-op;
  // with a different key it is kConflict. The user agent must exist (kNotFound otherwise).
  virtual Status add_channel(const PushChannel& channel) = 0;
  virtual Result<std::optional<PushChannel>> find_channel(const std::string& uaid,
                                                          const std::string& channel_id) = 0;
  virtual Result<std::vector<PushChannel>> channels_of(const std::string& uaid) = 0;
  // Removes the channel and its messages; remembers that it was removed so that later
  // senders can be told 410 Gone (see was_removed). Not an error if absent.
  virtual Status remove_channel(const std::string& uaid, const std::string& channel_id,
                                std::int64_t now) = 0;
  // True when the channel existed and was removed (unsubscribed), as opposed to never existing.
  virtual Result<bool> was_removed(const std::string& uaid, const std::string& channel_id) = 0;

  // Stores a message. If it has a topic, messages with the same topic on the same channel are
  // deleted first. If the user agent then holds more than `backlog_cap` messages, the oldest are
  // evicted. All in one transaction. The channel must exist (kNotFound otherwise).
  virtual Result<StoreMessageResult> store_message(const PushMessage& message,
                                                   std::size_t backlog_cap) = 0;
  // Unexpired messages for a user agent, oldest first, at most `limit`.
  virtual Result<std::vector<PushMessage>> pending_messages(const std::string& uaid,
                                                            std::int64_t now,
                                                            std::size_t limit) = 0;
  // Deletes one message after the user agent acknowledged it. Returns false if it was not there.
  virtual Result<bool> delete_message(const std::string& uaid, std::int64_t id) = 0;
  // Deletes every message whose expires_at <= now. Returns how many.
  virtual Result<std::size_t> purge_expired(std::int64_t now) = 0;
  // Number of stored messages (all user agents), for metrics.
  virtual Result<std::size_t> message_count() = 0;
};

}  // namespace flashwire::store
