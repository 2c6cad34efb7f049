// A raw WebSocket client for tests: builds client frames byte by byte (masked or not, any flags),
// sends whatever bytes a test wants after the handshake, and reads server frames and close codes
// exactly as they arrive on the wire. Blocking, on its own io_context; one per test connection.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flashwire::pushservice::testing {

// The sample key of RFC 6455 §1.3 and its accept value.
inline constexpr std::string_view kSampleKey = "dGhlIHNhbXBsZSBub25jZQ==";
inline constexpr std::string_view kSampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

struct FrameOptions {
  bool fin = true;
  bool masked = true;
  std::uint8_t rsv = 0;  // bits 4-6 of the first byte, as 0..7
};

// One client-to-server frame, with the length in its shortest form (7, 16 or 64 bits) unless
// `force_length_bytes` (2 or 8) asks for a longer one.
inline std::string client_frame(std::uint8_t opcode, std::string_view payload,
                                FrameOptions options = {}, int force_length_bytes = 0) {
  static constexpr std::uint8_t kMask[4] = {0x37, 0xfa, 0x21, 0x3d};
  std::string out;
  out += static_cast<char>((options.fin ? 0x80 : 0) | ((options.rsv & 7) << 4) | (opcode & 0x0F));
  const std::uint8_t mask_bit = options.masked ? 0x80 : 0;
  const std::uint64_t n = payload.size();
  if (force_length_bytes == 0 && n < 126) {
    out += static_cast<char>(mask_bit | n);
  } else if (force_length_bytes == 2 || (force_length_bytes == 0 && n <= 0xFFFF)) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>((n >> 8) & 0xFF);
    out += static_cast<char>(n & 0xFF);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((n >> (8 * i)) & 0xFF);
  }
  if (options.masked) {
    out.append(reinterpret_cast<const char*>(kMask), 4);
    for (std::size_t i = 0; i < payload.size(); ++i)
      out += static_cast<char>(payload[i] ^ static_cast<char>(kMask[i % 4]));
  } else {
    out.append(payload);
  }
  return out;
}

inline std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string out;
  out += static_cast<char>(code >> 8);
  out += static_cast<char>(code & 0xFF);
  out.append(reason);
  return out;
}

struct ServerFrame {
  bool fin = false;
  bool masked = false;
  std::uint8_t opcode = 0;
  std::string payload;
  // The close code of a close frame with one, else 0.
  std::uint16_t close_code() const {
    if (opcode != 0x8 || payload.size() < 2) return 0;
    return static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                      static_cast<unsigned char>(payload[1]));
  }
};

class RawWsClient {
 public:
  explicit RawWsClient(std::uint16_t port) : socket_(io_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  }

  // Sends an upgrade request for "/" with `headers` (each line ending in \r\n; by default a valid
  // key, version 13 and the push subprotocol) and returns the response's status line and header
  // fields. Bytes after them stay buffered for read_frame().
  std::string upgrade(std::string_view headers = default_headers()) {
    std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    request += headers;
    request += "\r\n";
    send_raw(request);
    for (int reads = 0; reads < 1000; ++reads) {
      const std::size_t end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string head = buffer_.substr(0, end + 4);
        buffer_.erase(0, end + 4);
        return head;
      }
      if (!read_more()) break;
    }
    return buffer_;
  }
  static std::string default_headers() {
    return "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
           std::string(kSampleKey) +
           "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: push-notification\r\n";
  }
  // Everything until the server closes the connection (after the bytes already buffered).
  std::string read_to_end() {
    for (int reads = 0; reads < 100000 && read_more();) ++reads;
    std::string all;
    all.swap(buffer_);
    return all;
  }

  void send_raw(std::string_view bytes) { boost::asio::write(socket_, boost::asio::buffer(bytes)); }
  void send_frame(std::uint8_t opcode, std::string_view payload, FrameOptions options = {}) {
    send_raw(client_frame(opcode, payload, options));
  }
  void send_text(std::string_view text) { send_frame(0x1, text); }

  // The next frame from the server, or nullopt when the connection ended first.
  std::optional<ServerFrame> read_frame() {
    for (int reads = 0; reads < 100000; ++reads) {
      if (auto frame = take_frame()) return frame;
      if (!read_more()) return std::nullopt;
    }
    return std::nullopt;
  }
  // Reads frames until a close frame (skipping at most `max_frames` others); its code, or -1 if
  // the connection ended without one.
  int read_close_code(int max_frames = 100000) {
    for (int i = 0; i <= max_frames; ++i) {
      const auto frame = read_frame();
      if (!frame) return -1;
      if (frame->opcode == 0x8) return frame->close_code();
    }
    return -1;
  }
  // True when the server has closed its side (nothing more arrives).
  bool ended() {
    if (!buffer_.empty()) return false;
    return !read_more();
  }
  // Closes the TCP connection at once, whatever was sent.
  void drop() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }
  boost::asio::ip::tcp::socket& socket() { return socket_; }

 private:
  bool read_more() {
    char chunk[16384];
    boost::system::error_code ec;
    const std::size_t n = socket_.read_some(boost::asio::buffer(chunk), ec);
    if (ec) return false;
    buffer_.append(chunk, n);
    return true;
  }
  std::optional<ServerFrame> take_frame() {
    if (buffer_.size() < 2) return std::nullopt;
    const auto* b = reinterpret_cast<const unsigned char*>(buffer_.data());
    ServerFrame frame;
    frame.fin = (b[0] & 0x80) != 0;
    frame.opcode = b[0] & 0x0F;
    frame.masked = (b[1] & 0x80) != 0;
    std::uint64_t length = b[1] & 0x7F;
    std::size_t header = 2;
    if (length == 126) {
      if (buffer_.size() < 4) return std::nullopt;
      length = (std::uint64_t{b[2]} << 8) | b[3];
      header = 4;
    } else if (length == 127) {
      if (buffer_.size() < 10) return std::nullopt;
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | b[2 + i];
      header = 10;
    }
    if (frame.masked) header += 4;
    if (buffer_.size() < header + length) return std::nullopt;
    frame.payload = buffer_.substr(header, length);
    buffer_.erase(0, header + length);
    return frame;
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  std::string buffer_;
};

}  // namespace flashwire::pushservice::testing
