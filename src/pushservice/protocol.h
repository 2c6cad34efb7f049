// The user-agent side of the push service: Firefox's WebSocket protocol (subprotocol
// "push-notification"), as a transport-free state machine.
//
// A UaProtocol reads one text frame at a time and answers through its UaSession; what the frames
// mean for storage and delivery is the UaBackend's business. That split lets tests drive the
// protocol with in-memory sessions, and the WebSocket transport stay protocol-agnostic.
//
// Frames (JSON objects, keyed by "messageType"): hello, register, unregister, ack, nack,
// broadcast_subscribe, and the ping "{}". The first frame must be hello. Anything malformed,
// unknown, or out of order closes the connection with a reason; other connections are unaffected.
//
// Thread safety: one UaProtocol per connection, used on that connection's thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace flashwire::pushservice {

// WebSocket close codes we use (RFC 6455 §7.4).
inline constexpr std::uint16_t kClosePolicyViolation = 1008;
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseReplaced = 4000;  // another connection took this uaid

// One connected user agent, as the protocol and backend see it.
class UaSession {
 public:
  virtual ~UaSession() = default;
  virtual void send_text(std::string frame) = 0;
  // Sends a close frame with `code` and `reason`, then drops the connection.
  virtual void close(std::uint16_t code, std::string reason) = 0;
};

// What the protocol needs from the service. Status values are the protocol's: 200 ok, 400 bad
// request, 409 conflict, 413 too many channels, 429 too many registrations for the user agent
// (the protocol closes the connection with 1008), 500 storage failure.
class UaBackend {
 public:
  virtual ~UaBackend() = default;
  // Binds `session` to a uaid: the requested one if we know it, else a new one. Replaces (closes)
  // any other session of that uaid, then sends the hello reply and every stored message.
  virtual std::optional<std::string> hello(UaSession& session, std::string_view requested_uaid) = 0;
  struct Registration {
    int status = 500;
    std::string endpoint;
  };
  virtual Registration register_channel(
      const std::string& uaid, const std::string& channel_id,
      const std::optional<std::array<std::uint8_t, 65>>& vapid_key) = 0;
  virtual int unregister_channel(const std::string& uaid, const std::string& channel_id) = 0;
  // code: 100 delivered, 101 decryption failed, 102 not delivered (Firefox's ack codes), or 0
  // for any other code the user agent sent.
  virtual void acknowledge(const std::string& uaid, const std::string& channel_id,
                           const std::string& version, int code) = 0;
  // The user agent refused a message (nack); it is not redelivered.
  virtual void refuse(const std::string& uaid, const std::string& channel_id,
                      const std::string& version, int code) = 0;
  virtual void disconnected(UaSession& session, const std::string& uaid) = 0;
};

struct ProtocolOptions {
  std::size_t max_frame_bytes = 16 * 1024;  // larger frames close the connection
  // Registrations allowed per connection per minute; a flood closes the connection.
  std::size_t registers_per_minute = 60;
};

class UaProtocol {
 public:
  UaProtocol(UaSession& session, UaBackend& backend, const Clock& clock,
             ProtocolOptions options = {});

  // Handles one text frame. Returns false once the connection has been closed.
  bool on_text(std::string_view frame);
  // The transport saw the connection end (closed by either side, or failed).
  void on_disconnect();

  const std::string& uaid() const { return uaid_; }
  bool closed() const { return closed_; }

 private:
  bool fail(std::uint16_t code, std::string reason);

  UaSession& session_;
  UaBackend& backend_;
  const Clock& clock_;
  ProtocolOptions options_;
  std::string uaid_;  // empty until hello
  bool closed_ = false;
  std::int64_t register_window_start_ = 0;
  std::size_t registers_in_window_ = 0;
};

}  // namespace flashwire::pushservice
