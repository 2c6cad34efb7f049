// A lean server side of the WebSocket protocol (RFC 6455) for connections that mostly sit idle.
//
// The push service holds one connection per browser for hours, and memory per idle connection is
// what it scales by. So an idle connection here holds its socket, one pending readiness wait, its
// own object and nothing else: no read buffer, no per-connection timer, no coroutine frame.
// - Reading: a connection waits for readability (`async_wait`), then reads what is there with
//   non-blocking `read_some` into one scratch buffer shared by every connection of its Hub (one
//   Hub per io_context thread). Complete frames are parsed and handed over in place; only the bytes
//   of an incomplete frame, or a fragmented message still open, are kept, in a FrameReader the
//   connection holds only until they are consumed.
// - Writing: a frame goes straight to the kernel when nothing else waits; only what the kernel
//   does not take is queued (one async_write in flight at a time), and the queue is freed once
//   written. More than HubOptions::max_outbox_bytes waiting closes the connection with 1008.
// - Keep-alive: one timer per Hub. Every sweep it looks at each connection's last-activity tick;
//   a connection silent for `idle_sweeps` sweeps is pinged, one silent for twice that is dropped,
//   and one still closing two sweeps after its close frame went out is dropped.
//
// Scope: server side only; no extensions (permessage-deflate is not negotiated); text messages
// only. What a client's mistake answers (close code on the wire, then the connection ends):
//   reserved bits set, unknown opcode, unmasked frame, fragmented or over-125-byte control frame,
//   continuation without a message, a new message inside a fragmented one, a 64-bit length with
//   the top bit set, a bad close frame                                           → 1002
//   a binary message (the push protocol is text only; 1002 as before this layer) → 1002
//   a message over HubOptions::max_message_bytes (refused as soon as its header says so) → 1009
//   text, or a close reason, that is not valid UTF-8                              → 1007
// Pings are answered with pongs; a close frame is answered with one echoing its code. After a
// close frame has been written, the connection shuts down its sending side and waits for the
// peer to close (bytes that still arrive are discarded), as RFC 6455 §7.1.1 asks of a server.
//
// Bytes a client sends after its upgrade request but before the 101 arrives are not seen here
// (http::Server has read them into its own buffer): clients wait for the 101, as RFC 6455 asks.
//
// Thread safety: a Hub and its connections belong to one io_context, run on one thread. The
// owner of a Connection is called back (on_open, on_text, on_closed) on that thread, never from
// inside its own send_text or send_close.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "http/server.h"

namespace flashwire::pushservice::ws {

// Close codes (RFC 6455 §7.4.1).
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseGoingAway = 1001;
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseInvalidPayload = 1007;
inline constexpr std::uint16_t kClosePolicyViolation = 1008;
inline constexpr std::uint16_t kCloseMessageTooBig = 1009;

// Frame opcodes (RFC 6455 §5.2).
enum class Opcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// The value of Sec-WebSocket-Accept for a client's Sec-WebSocket-Key:
// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string accept_key_for(std::string_view client_key);

// Writes the header of an unmasked (server-to-client) frame with FIN set into `out`; returns its
// length (2, 4 or 10 bytes).
std::size_t encode_frame_header(Opcode opcode, std::uint64_t payload_size, char (&out)[10]);

// --- Handshake --------------------------------------------------------------------------------

// An upgrade request that can be accepted.
struct Handshake {
  std::string accept_key;    // the Sec-WebSocket-Accept value
  bool subprotocol = false;  // the client offered the Hub's subprotocol: echo it
};
// Why an upgrade request is refused: 400 (malformed: no or bad Sec-WebSocket-Key, Upgrade or
// Connection header missing, not HTTP/1.1 GET) or 426 (Sec-WebSocket-Version other than 13; the
// answer names version 13).
struct HandshakeRefusal {
  http::Status status;
  std::string message;  // one line, for the JSON error body
};
// Checks an upgrade request (RFC 6455 §4.2.1). `subprotocol` (may be empty: none) is agreed when
// it is one of the comma-separated tokens of Sec-WebSocket-Protocol.
tl::expected<Handshake, HandshakeRefusal> check_upgrade(const http::Request& request,
                                                        std::string_view subprotocol);

// --- Frame parsing ----------------------------------------------------------------------------

// Receives what a FrameReader parses. Views point into the reader's input or its own buffers and
// are valid only during the call.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // A complete text message (valid UTF-8). Return false to stop parsing (the connection closed).
  virtual bool on_message(std::string_view text) = 0;
  virtual void on_ping(std::string_view payload) = 0;
  virtual void on_pong(std::string_view payload) = 0;
  // A valid close frame; `code` is empty when the frame had no payload. Parsing stops after it.
  virtual void on_close_frame(std::optional<std::uint16_t> code, std::string_view reason) = 0;
  // The client broke the protocol: the connection should close with `code`. Parsing stops.
  virtual void on_violation(std::uint16_t code, std::string_view reason) = 0;
};

// Incremental parser of client-to-server frames. Bytes are fed as they arrive, split anywhere;
// complete frames are unmasked in place and reported to a FrameSink, continuation frames are
// reassembled into one message (control frames may come between them). What is left over, an
// incomplete frame or an open fragmented message, is kept inside the reader.
//
// A connection holds a FrameReader only while it is not empty(): idle connections hold none.
class FrameReader {
 public:
  // Parses `data` after whatever this reader kept from earlier calls. `data` may be modified
  // (unmasked in place). Messages over `max_message_bytes` (all fragments together) are refused
  // with 1009 as soon as a frame header says so. Returns false once parsing has stopped (the
  // sink saw a close frame or a violation, or returned false); the reader must not be fed again.
  bool feed(std::span<char> data, std::size_t max_message_bytes, FrameSink& sink);
  // Nothing kept: no partial frame and no fragmented message open.
  bool empty() const { return partial_.empty() && !in_message_; }

 private:
  // Parses the complete frames at the front of [data, data + size); returns the bytes consumed.
  std::size_t parse(char* data, std::size_t size, std::size_t max_message_bytes, FrameSink& sink);

  std::string partial_;  // bytes of a frame not complete yet (still masked)
  std::string message_;  // text of the fragmented message so far
  bool in_message_ = false;
  bool stopped_ = false;
};

// --- Connections ------------------------------------------------------------------------------

struct HubOptions {
  // Largest text message accepted, all fragments together; larger ones close with 1009.
  std::size_t max_message_bytes = 16 * 1024;
  // Bytes allowed to wait for a slow reader; past that the connection closes with 1008 (what
  // was waiting is dropped: a client that does not read its socket must not grow our memory).
  std::size_t max_outbox_bytes = 4 * 1024 * 1024;
  // The keep-alive sweep runs every `sweep_interval` (zero: no timer; the owner calls sweep(),
  // as tests do). A connection that sent nothing for `idle_sweeps` sweeps is pinged; one that
  // sent nothing for 2 × idle_sweeps sweeps is dropped.
  std::chrono::milliseconds sweep_interval{30'000};
  std::uint32_t idle_sweeps = 10;
  // Echoed in Sec-WebSocket-Protocol when the client offers it; empty: none.
  std::string subprotocol;
  // Value of the Server header of the 101 and of refusals.
  std::string server_name = "flashwire";

  // Sweep interval and idle_sweeps for "ping after `idle` of silence, drop after 2 × idle":
  // about eight sweeps per idle period, one every 1 to 30 seconds.
  static HubOptions for_idle_timeout(std::chrono::seconds idle);
};

class Hub;

// One server-side WebSocket connection. The owner derives from it (one allocation per
// connection), makes it with std::make_shared, and calls accept() once.
//
// Lifetime: the connection keeps itself alive (shared_ptr held by its pending operations) until
// its socket is closed; the Hub does not own it.
class Connection : public std::enable_shared_from_this<Connection>, private FrameSink {
 public:
  Connection(std::shared_ptr<Hub> hub, boost::asio::ip::tcp::socket socket);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Completes the handshake for `request` (the upgrade request http::Server read; not kept): a
  // 101 then on_open(), or a 400/426/503 JSON refusal and the connection ends without on_open().
  void accept(const http::Request& request);
  // Sends one text message, unless the connection is closing. Never calls back synchronously.
  void send_text(std::string_view text);
  // Starts the close handshake with `code` and `reason` (cut to 123 bytes); anything sent after
  // is dropped. on_closed() follows once the close frame is written (or cannot be). Idempotent.
  void send_close(std::uint16_t code, std::string_view reason);

 protected:
  // The handshake succeeded.
  virtual void on_open() = 0;
  // One complete text message. Return false once the owner has closed the connection.
  virtual bool on_text(std::string_view text) = 0;
  // The connection ended (close sent or received, peer gone, write failed, idle). Called once,
  // and only after on_open().
  virtual void on_closed() = 0;

 private:
  friend class Hub;
  enum class State : std::uint8_t { kHandshake, kOpen, kClosing, kCloseSent, kClosed };

  void send_frame(Opcode opcode, std::string_view payload);
  void write_bytes(std::string_view header, std::string_view payload);
  void start_async_write();
  void on_written(const boost::system::error_code& ec);
  void close_frame_written();
  void wait_readable();
  void on_readable();
  void close_socket();
  void notify_closed();

  // FrameSink
  bool on_message(std::string_view text) override;
  void on_ping(std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_close_frame(std::optional<std::uint16_t> code, std::string_view reason) override;
  void on_violation(std::uint16_t code, std::string_view reason) override;

  // What waits to be written: only exists while a write is in flight.
  struct Outbox {
    std::string writing;  // handed to async_write
    std::string queued;   // appended while that write is in flight
  };

  std::shared_ptr<Hub> hub_;
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<FrameReader> reader_;  // only while it holds something
  std::unique_ptr<Outbox> outbox_;       // only while a write is in flight
  Connection* prev_ = nullptr;           // the Hub's list of connections
  Connection* next_ = nullptr;
  std::uint32_t last_activity_ = 0;  // Hub sweep count when the peer last sent something (or,
                                     // once closing, when the close started)
  State state_ = State::kHandshake;
  bool linked_ = false;
  bool opened_ = false;  // on_open() was called
  bool closed_notified_ = false;
  bool ping_sent_ = false;  // a keep-alive ping is unanswered
};

// The connections of one io_context: their shared read buffer, their keep-alive sweep, and
// shutting them all down. Made with Hub::create; connections keep it alive.
class Hub : public std::enable_shared_from_this<Hub> {
 public:
  static std::shared_ptr<Hub> create(boost::asio::io_context& io, HubOptions options);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Refuses new upgrades (503) and sends every connection a close frame with `code` and
  // `reason`; the keep-alive sweep ends once the last connection has.
  void stop(std::uint16_t code, std::string_view reason);
  // One keep-alive pass (the timer calls it; with sweep_interval zero, the owner does).
  void sweep();
  // Connections accepted and not yet ended (including those still closing).
  std::size_t size() const { return size_; }
  const HubOptions& options() const { return options_; }

 private:
  friend class Connection;
  Hub(boost::asio::io_context& io, HubOptions options);
  void link(Connection& connection);
  void unlink(Connection& connection);
  void schedule_sweep();
  std::unique_ptr<FrameReader> take_reader();
  void return_reader(std::unique_ptr<FrameReader> reader);
  std::span<char> scratch() { return {scratch_.get(), kScratchBytes}; }

  static constexpr std::size_t kScratchBytes = 64 * 1024;
  HubOptions options_;
  boost::asio::steady_timer timer_;
  std::unique_ptr<char[]> scratch_;
  std::unique_ptr<FrameReader> spare_reader_;  // recycled, so feeding an idle connection
                                               // allocates nothing
  Connection* head_ = nullptr;
  std::size_t size_ = 0;
  std::uint32_t tick_ = 0;  // sweeps so far
  bool sweeping_ = false;   // the timer is armed
  bool stopped_ = false;
};

}  // namespace flashwire::pushservice::ws
