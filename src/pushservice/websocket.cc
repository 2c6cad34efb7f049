#include "pushservice/websocket.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/utf8.h"

namespace flashwire::pushservice::ws {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// Reads per readiness wake-up before the connection yields to the others (64 KiB each).
constexpr int kMaxReadsPerWakeup = 4;
constexpr std::size_t kMaxControlPayload = 125;

bool is_control(unsigned opcode) { return (opcode & 0x8) != 0; }

bool is_known_opcode(unsigned opcode) { return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xA); }

// Close codes a peer may send (RFC 6455 §7.4; 1012–1014 registered since).
bool is_valid_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

// XORs `size` bytes with the 4-byte masking key, eight at a time where it can.
void unmask(char* data, std::size_t size, const unsigned char (&key)[4]) {
  unsigned char key8[8];
  for (std::size_t i = 0; i < 8; ++i) key8[i] = key[i & 3];
  std::uint64_t word_key;
  std::memcpy(&word_key, key8, sizeof word_key);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {  // i stays a multiple of 4: the key's phase is unchanged
    std::uint64_t word;
    std::memcpy(&word, data + i, sizeof word);
    word ^= word_key;
    std::memcpy(data + i, &word, sizeof word);
  }
  for (; i < size; ++i) data[i] = static_cast<char>(data[i] ^ static_cast<char>(key[i & 3]));
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Whether the comma-separated header value `list` holds `token`.
bool has_token(std::string_view list, std::string_view token, bool ignore_case) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = trim(list.substr(0, comma));
    if (ignore_case ? boost::beast::iequals(item, token) : item == token) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// 16 bytes in base64: 22 characters of the alphabet, then "==".
bool is_base64_of_16_bytes(std::string_view key) {
  return key.size() == 24 && key.substr(22) == "==" &&
         std::all_of(key.begin(), key.begin() + 22, is_base64_char);
}

[[noreturn]] void openssl_failed(const char* what) {
  std::fprintf(stderr, "flashwire: OpenSSL failed: %s\n", what);
  std::abort();
}

const EVP_MD* sha1() {
  static EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    if (fetched == nullptr) openssl_failed("SHA-1 is not available");
    return fetched;
  }();
  return md;
}

// An HTTP response written by hand: the connection is not an http::Server connection any more.
std::string serialize(const http::Response& response) {
  std::string out = "HTTP/1.1 ";
  out += std::to_string(response.result_int());
  out += ' ';
  out += response.reason();
  out += "\r\n";
  for (const auto& field : response) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
  out += response.body();
  return out;
}

std::string refusal_response(http::Status status, std::string_view message,
                             std::string_view server_name) {
  const std::string_view code = status == http::Status::upgrade_required      ? "upgrade_required"
                                : status == http::Status::service_unavailable ? "unavailable"
                                                                              : "bad_request";
  http::Response response = http::json_error(status, code, message);
  response.set(bhttp::field::server, server_name);
  response.set(bhttp::field::connection, "close");
  if (status == http::Status::upgrade_required)
    response.set(bhttp::field::sec_websocket_version, "13");
  response.prepare_payload();
  return serialize(response);
}

}  // namespace

std::string accept_key_for(std::string_view client_key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input;
  input.reserve(client_key.size() + kGuid.size());
  input.append(client_key).append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &length, sha1(), nullptr) != 1 ||
      length != 20) {
    openssl_failed("SHA-1 digest");
  }
  unsigned char encoded[32];  // 4 * ceil(20 / 3) = 28, plus the terminating NUL
  const int written = EVP_EncodeBlock(encoded, digest, 20);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(written));
}

std::size_t encode_frame_header(Opcode opcode, std::uint64_t payload_size, char (&out)[10]) {
  out[0] = static_cast<char>(0x80 | static_cast<unsigned>(opcode));
  if (payload_size < 126) {
    out[1] = static_cast<char>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<char>(payload_size >> 8);
    out[3] = static_cast<char>(payload_size & 0xFF);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>((payload_size >> (56 - 8 * i)) & 0xFF);
  return 10;
}

tl::expected<Handshake, HandshakeRefusal> check_upgrade(const http::Request& request,
                                                        std::string_view subprotocol) {
  auto refuse = [](http::Status status, std::string message) {
    return tl::unexpected(HandshakeRefusal{status, std::move(message)});
  };
  if (request.method() != bhttp::verb::get)
    return refuse(http::Status::bad_request, "a WebSocket upgrade must be a GET");
  if (request.version() != 11)
    return refuse(http::Status::bad_request, "a WebSocket upgrade needs HTTP/1.1");
  if (!has_token(request[bhttp::field::connection], "upgrade", true))
    return refuse(http::Status::bad_request, "Connection: Upgrade is missing");
  if (!has_token(request[bhttp::field::upgrade], "websocket", true))
    return refuse(http::Status::bad_request, "Upgrade: websocket is missing");
  const std::string_view version = trim(request[bhttp::field::sec_websocket_version]);
  if (version.empty()) return refuse(http::Status::bad_request, "Sec-WebSocket-Version is missing");
  if (version != "13")
    return refuse(http::Status::upgrade_required, "only WebSocket version 13 is supported");
  const std::string_view key = trim(request[bhttp::field::sec_websocket_key]);
  if (key.empty()) return refuse(http::Status::bad_request, "Sec-WebSocket-Key is missing");
  if (!is_base64_of_16_bytes(key))
    return refuse(http::Status::bad_request, "Sec-WebSocket-Key must be 16 bytes in base64");

  Handshake handshake;
  handshake.accept_key = accept_key_for(key);
  handshake.subprotocol =
      !subprotocol.empty() &&
      has_token(request[bhttp::field::sec_websocket_protocol], subprotocol, false);
  return handshake;
}

// --- FrameReader ------------------------------------------------------------------------------

bool FrameReader::feed(std::span<char> data, std::size_t max_message_bytes, FrameSink& sink) {
  if (stopped_) return false;
  if (partial_.empty()) {
    // The usual case: parse straight from the caller's buffer, keep only an incomplete tail.
    const std::size_t used = parse(data.data(), data.size(), max_message_bytes, sink);
    if (stopped_) return false;
    partial_.assign(data.data() + used, data.size() - used);
  } else {
    partial_.append(data.data(), data.size());
    const std::size_t used = parse(partial_.data(), partial_.size(), max_message_bytes, sink);
    if (stopped_) return false;
    partial_.erase(0, used);
  }
  return true;
}

std::size_t FrameReader::parse(char* data, std::size_t size, std::size_t max_message_bytes,
                               FrameSink& sink) {
  auto violation = [&](std::uint16_t code, std::string_view reason) {
    stopped_ = true;
    sink.on_violation(code, reason);
  };
  std::size_t pos = 0;
  while (!stopped_) {
    const std::size_t available = size - pos;
    if (available < 2) break;
    const auto* bytes = reinterpret_cast<const unsigned char*>(data + pos);
    const bool fin = (bytes[0] & 0x80) != 0;
    const unsigned opcode = bytes[0] & 0x0Fu;
    const bool masked = (bytes[1] & 0x80) != 0;
    const unsigned length7 = bytes[1] & 0x7Fu;
    // Everything the first two bytes can tell is checked before waiting for the rest.
    if ((bytes[0] & 0x70) != 0) {
      violation(kCloseProtocolError, "reserved bits set");
      break;
    }
    if (!is_known_opcode(opcode)) {
      violation(kCloseProtocolError, "unknown opcode");
      break;
    }
    if (!masked) {
      violation(kCloseProtocolError, "client frames must be masked");
      break;
    }
    if (is_control(opcode)) {
      if (!fin) {
        violation(kCloseProtocolError, "fragmented control frame");
        break;
      }
      if (length7 > kMaxControlPayload) {
        violation(kCloseProtocolError, "control frame over 125 bytes");
        break;
      }
    } else if (opcode == static_cast<unsigned>(Opcode::kContinuation)) {
      if (!in_message_) {
        violation(kCloseProtocolError, "continuation frame without a message");
        break;
      }
    } else {
      if (in_message_) {
        violation(kCloseProtocolError, "new message inside a fragmented one");
        break;
      }
      if (opcode == static_cast<unsigned>(Opcode::kBinary)) {
        violation(kCloseProtocolError, "binary frames are not part of the protocol");
        break;
      }
    }

    const std::size_t length_bytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
    const std::size_t header_size = 2 + length_bytes + 4;
    if (available < 2 + length_bytes) break;
    std::uint64_t length = length7;
    if (length_bytes != 0) {
      length = 0;
      for (std::size_t i = 0; i < length_bytes; ++i) length = (length << 8) | bytes[2 + i];
      if ((length >> 63) != 0) {
        violation(kCloseProtocolError, "frame length has its top bit set");
        break;
      }
    }
    if (!is_control(opcode)) {
      const std::uint64_t so_far = in_message_ ? message_.size() : 0;
      if (length > max_message_bytes || so_far + length > max_message_bytes) {
        violation(kCloseMessageTooBig, "message too big");
        break;
      }
    }
    if (available < header_size || available - header_size < length) break;  // wait for more

    unsigned char key[4];
    std::memcpy(key, bytes + 2 + length_bytes, sizeof key);
    char* payload = data + pos + header_size;
    const auto payload_size = static_cast<std::size_t>(length);
    unmask(payload, payload_size, key);
    pos += header_size + payload_size;
    const std::string_view view(payload, payload_size);

    switch (static_cast<Opcode>(opcode)) {
      case Opcode::kPing:
        sink.on_ping(view);
        break;
      case Opcode::kPong:
        sink.on_pong(view);
        break;
      case Opcode::kClose: {
        if (payload_size == 0) {
          stopped_ = true;
          sink.on_close_frame(std::nullopt, {});
          break;
        }
        if (payload_size == 1) {
          violation(kCloseProtocolError, "close frame with a 1-byte payload");
          break;
        }
        const auto code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                     static_cast<unsigned char>(payload[1]));
        if (!is_valid_close_code(code)) {
          violation(kCloseProtocolError, "invalid close code");
          break;
        }
        const std::string_view reason = view.substr(2);
        if (!is_valid_utf8(reason)) {
          violation(kCloseInvalidPayload, "close reason is not valid UTF-8");
          break;
        }
        stopped_ = true;
        sink.on_close_frame(code, reason);
        break;
      }
      case Opcode::kText:
        if (!fin) {
          in_message_ = true;
          message_.assign(view);
        } else if (!is_valid_utf8(view)) {
          violation(kCloseInvalidPayload, "text is not valid UTF-8");
        } else if (!sink.on_message(view)) {
          stopped_ = true;
        }
        break;
      case Opcode::kContinuation:
        message_.append(view);
        if (fin) {
          in_message_ = false;
          if (!is_valid_utf8(message_)) {
            violation(kCloseInvalidPayload, "text is not valid UTF-8");
          } else if (!sink.on_message(message_)) {
            stopped_ = true;
          }
          message_.clear();
        }
        break;
      case Opcode::kBinary:  // refused above
        break;
    }
  }
  return pos;
}

// --- HubOptions -------------------------------------------------------------------------------

HubOptions HubOptions::for_idle_timeout(std::chrono::seconds idle) {
  using std::chrono::milliseconds;
  HubOptions options;
  const milliseconds idle_ms = std::max<milliseconds>(idle, milliseconds(1000));
  options.sweep_interval =
      std::clamp<milliseconds>(idle_ms / 8, milliseconds(1000), milliseconds(30'000));
  options.idle_sweeps = static_cast<std::uint32_t>(
      (idle_ms.count() + options.sweep_interval.count() - 1) / options.sweep_interval.count());
  return options;
}

// --- Connection -------------------------------------------------------------------------------

Connection::Connection(std::shared_ptr<Hub> hub, tcp::socket socket)
    : hub_(std::move(hub)), socket_(std::move(socket)) {}

Connection::~Connection() {
  if (linked_) hub_->unlink(*this);
}

void Connection::accept(const http::Request& request) {
  hub_->link(*this);
  last_activity_ = hub_->tick_;
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
  // Notifications are small and complete in themselves: send each at once.
  socket_.set_option(tcp::no_delay(true), ignored);

  const HubOptions& options = hub_->options_;
  auto handshake = hub_->stopped_
                       ? tl::unexpected(HandshakeRefusal{http::Status::service_unavailable,
                                                         "the server is shutting down"})
                       : check_upgrade(request, options.subprotocol);
  if (!handshake) {
    state_ = State::kClosing;
    write_bytes(
        refusal_response(handshake.error().status, handshake.error().message, options.server_name),
        {});
    if (!outbox_) {
      asio::post(socket_.get_executor(), [self = shared_from_this()] {
        if (self->state_ == State::kClosing) self->close_frame_written();
      });
    }
  } else {
    std::string response =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: ";
    response += handshake->accept_key;
    response += "\r\n";
    if (handshake->subprotocol) {
      response += "Sec-WebSocket-Protocol: ";
      response += options.subprotocol;
      response += "\r\n";
    }
    response += "Server: ";
    response += options.server_name;
    response += "\r\n\r\n";
    write_bytes(response, {});
    state_ = State::kOpen;
    opened_ = true;
    on_open();
  }
  // Asio re-arms the descriptor for every wait (EPOLL_CTL_MOD), so bytes that arrived during
  // the hand-over are reported too.
  wait_readable();
}

void Connection::send_text(std::string_view text) {
  if (state_ != State::kOpen) return;
  send_frame(Opcode::kText, text);
}

void Connection::send_close(std::uint16_t code, std::string_view reason) {
  if (state_ != State::kOpen) return;
  state_ = State::kClosing;
  last_activity_ = hub_->tick_;  // from now on: when the close started
  // reader_ stays: this may run inside its feed() (a violation, or the owner closing from
  // on_text); on_readable drops it afterwards.
  char payload[kMaxControlPayload];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code & 0xFF);
  const std::size_t reason_size = std::min(reason.size(), kMaxControlPayload - 2);
  if (reason_size != 0) std::memcpy(payload + 2, reason.data(), reason_size);
  send_frame(Opcode::kClose, std::string_view(payload, 2 + reason_size));
  if (!outbox_) {
    // Written already; the rest happens outside the caller's call stack.
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->state_ == State::kClosing) self->close_frame_written();
    });
  }
}

void Connection::send_frame(Opcode opcode, std::string_view payload) {
  char header[10];
  const std::size_t header_size = encode_frame_header(opcode, payload.size(), header);
  write_bytes(std::string_view(header, header_size), payload);
}

void Connection::write_bytes(std::string_view header, std::string_view payload) {
  if (outbox_) {
    std::string& queued = outbox_->queued;
    if (state_ == State::kOpen &&
        queued.size() + header.size() + payload.size() > hub_->options_.max_outbox_bytes) {
      // A client that does not read must not make us buffer without end.
      queued.clear();
      queued.shrink_to_fit();
      send_close(kClosePolicyViolation, "not reading fast enough");
      return;
    }
    queued.append(header);
    queued.append(payload);
    return;
  }
  // Nothing in flight: hand the bytes to the kernel now. The socket is non-blocking.
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(header), asio::buffer(payload)};
  boost::system::error_code ec;
  std::size_t sent = socket_.send(buffers, 0, ec);
  if (ec)
    sent = 0;  // would_block: queue it all; a real error: the async write meets it too and
               // ends the connection from its completion handler, not from inside a send
  const std::size_t total = header.size() + payload.size();
  if (sent == total) return;
  outbox_ = std::make_unique<Outbox>();
  std::string& writing = outbox_->writing;
  writing.reserve(total - sent);
  if (sent < header.size()) {
    writing.append(header.substr(sent));
    writing.append(payload);
  } else {
    writing.append(payload.substr(sent - header.size()));
  }
  start_async_write();
}

void Connection::start_async_write() {
  asio::async_write(socket_, asio::buffer(outbox_->writing),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      self->on_written(ec);
                    });
}

void Connection::on_written(const boost::system::error_code& ec) {
  if (state_ == State::kClosed || ec) {
    outbox_.reset();
    close_socket();
    return;
  }
  if (!outbox_->queued.empty()) {
    outbox_->writing.swap(outbox_->queued);
    outbox_->queued.clear();
    start_async_write();
    return;
  }
  outbox_.reset();  // an idle connection holds no write buffer
  if (state_ == State::kClosing) close_frame_written();
}

void Connection::close_frame_written() {
  state_ = State::kCloseSent;
  notify_closed();
  // The peer answers with its close frame (discarded) and closes; the sweep drops it otherwise.
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

void Connection::wait_readable() {
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       if (self->state_ == State::kClosed) return;
                       if (ec) {
                         self->close_socket();
                         return;
                       }
                       self->on_readable();
                     });
}

void Connection::on_readable() {
  const std::span<char> buffer = hub_->scratch();
  for (int round = 0; round < kMaxReadsPerWakeup; ++round) {
    if (state_ == State::kClosed) return;
    boost::system::error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(buffer.data(), buffer.size()), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      wait_readable();
      return;
    }
    if (ec) {  // end of stream or reset: the peer is gone (or has closed after our close frame)
      close_socket();
      return;
    }
    if (state_ == State::kOpen) {
      last_activity_ = hub_->tick_;
      ping_sent_ = false;
      if (!reader_) reader_ = hub_->take_reader();
      if (!reader_->feed(buffer.first(n), hub_->options_.max_message_bytes, *this)) {
        reader_.reset();  // parsing stopped: the connection is closing
      } else if (reader_->empty()) {
        hub_->return_reader(std::move(reader_));
      }
    }
    if (state_ != State::kOpen) reader_.reset();  // closing: further bytes are discarded
    if (state_ == State::kClosed) return;
    // A short read took everything there was: wait for more. (Nothing is missed: asio re-arms
    // the descriptor for each wait, which reports bytes that are already there.)
    if (n < buffer.size()) {
      wait_readable();
      return;
    }
  }
  // Still more to read: let the other connections have a turn first.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->state_ != State::kClosed) self->on_readable();
  });
}

void Connection::close_socket() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  boost::system::error_code ignored;
  socket_.close(ignored);  // pending wait and write complete with operation_aborted
  reader_.reset();
  hub_->unlink(*this);
  notify_closed();
}

void Connection::notify_closed() {
  if (!opened_ || closed_notified_) return;
  closed_notified_ = true;
  on_closed();
}

bool Connection::on_message(std::string_view text) {
  return on_text(text) && state_ == State::kOpen;
}

void Connection::on_ping(std::string_view payload) {
  if (state_ == State::kOpen) send_frame(Opcode::kPong, payload);
}

void Connection::on_pong(std::string_view) {}  // any frame counts as activity

void Connection::on_close_frame(std::optional<std::uint16_t> code, std::string_view) {
  // Echo the peer's code (RFC 6455 §5.5.1); a close without one is answered with 1000.
  send_close(code.value_or(kCloseNormal), {});
}

void Connection::on_violation(std::uint16_t code, std::string_view reason) {
  send_close(code, reason);
}

// --- Hub --------------------------------------------------------------------------------------

std::shared_ptr<Hub> Hub::create(asio::io_context& io, HubOptions options) {
  return std::shared_ptr<Hub>(new Hub(io, std::move(options)));
}

Hub::Hub(asio::io_context& io, HubOptions options)
    : options_(std::move(options)), timer_(io), scratch_(std::make_unique<char[]>(kScratchBytes)) {}

Hub::~Hub() = default;

void Hub::link(Connection& connection) {
  connection.linked_ = true;
  connection.prev_ = nullptr;
  connection.next_ = head_;
  if (head_ != nullptr) head_->prev_ = &connection;
  head_ = &connection;
  ++size_;
  schedule_sweep();
}

void Hub::unlink(Connection& connection) {
  if (!connection.linked_) return;
  connection.linked_ = false;
  if (connection.prev_ != nullptr)
    connection.prev_->next_ = connection.next_;
  else
    head_ = connection.next_;
  if (connection.next_ != nullptr) connection.next_->prev_ = connection.prev_;
  connection.prev_ = connection.next_ = nullptr;
  --size_;
}

void Hub::stop(std::uint16_t code, std::string_view reason) {
  stopped_ = true;
  // send_close never unlinks (the socket closes later, from a completion handler).
  for (Connection* connection = head_; connection != nullptr; connection = connection->next_) {
    connection->send_close(code, reason);
  }
}

void Hub::sweep() {
  ++tick_;
  const std::uint32_t idle = std::max<std::uint32_t>(options_.idle_sweeps, 1);
  for (Connection* connection = head_; connection != nullptr;) {
    // Closing a socket unlinks only that connection, and frees nothing yet (its pending
    // operations hold it): keep the successor before acting.
    Connection* next = connection->next_;
    const std::uint32_t silent = tick_ - connection->last_activity_;
    switch (connection->state_) {
      case Connection::State::kOpen:
        if (silent >= 2 * idle) {
          connection->close_socket();  // the ping went unanswered
        } else if (silent >= idle && !connection->ping_sent_) {
          connection->ping_sent_ = true;
          connection->send_frame(Opcode::kPing, {});
        }
        break;
      case Connection::State::kClosing:
      case Connection::State::kCloseSent:
        if (silent >= 2) connection->close_socket();
        break;
      case Connection::State::kHandshake:
      case Connection::State::kClosed:
        break;
    }
    connection = next;
  }
}

void Hub::schedule_sweep() {
  if (sweeping_ || options_.sweep_interval.count() <= 0) return;
  sweeping_ = true;
  timer_.expires_after(options_.sweep_interval);
  timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    const auto self = weak.lock();
    if (!self) return;
    self->sweeping_ = false;
    if (ec) return;
    self->sweep();
    if (self->head_ != nullptr) self->schedule_sweep();  // idle without connections
  });
}

std::unique_ptr<FrameReader> Hub::take_reader() {
  if (spare_reader_) return std::move(spare_reader_);
  return std::make_unique<FrameReader>();
}

void Hub::return_reader(std::unique_ptr<FrameReader> reader) {
  if (!spare_reader_) spare_reader_ = std::move(reader);
}

}  // namespace flashwire::pushservice::ws
