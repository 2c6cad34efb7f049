// UaProtocol::on_text (pushservice/protocol.h) on any sequence of text frames, one per input
// line, with an in-memory session and backend. Properties: every frame the service sends is a
// JSON object in valid UTF-8 (it goes out as a WebSocket text frame, which a browser drops with
// 1007 otherwise); nothing is sent or reaches the backend after the connection was closed;
// the backend sees only canonical channel ids and the uaid hello assigned; a close says why.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "fuzz_check.h"
#include "pushservice/endpoint_codec.h"
#include "pushservice/protocol.h"

using namespace flashwire;
using namespace flashwire::pushservice;

namespace {

constexpr std::string_view kAssignedUaid = "0123456789abcdef0123456789abcdef";

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    std::size_t extra = 0;
    std::uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1, code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2, code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3, code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<std::uint8_t>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = code << 6 | (next & 0x3F);
    }
    if ((extra == 2 && code < 0x800) || (extra == 3 && (code < 0x10000 || code > 0x10FFFF)) ||
        (code >= 0xD800 && code <= 0xDFFF))
      return false;
    i += extra + 1;
  }
  return true;
}

class Session final : public UaSession {
 public:
  bool closed = false;
  void send_text(std::string frame) override {
    FUZZ_CHECK(!closed, "nothing is sent after close");
    if (!valid_utf8(frame)) std::fprintf(stderr, "frame not UTF-8: %s\n", frame.c_str());
    FUZZ_CHECK(valid_utf8(frame), "a sent frame is valid UTF-8");
    boost::system::error_code ec;
    const auto value = boost::json::parse(frame, ec);
    FUZZ_CHECK(!ec && value.is_object(), "a sent frame is a JSON object");
  }
  void close(std::uint16_t code, std::string reason) override {
    FUZZ_CHECK(!closed, "closed once");
    FUZZ_CHECK(code == kCloseProtocolError || code == kClosePolicyViolation,
               "closes with 1002 or 1008");
    FUZZ_CHECK(!reason.empty() && reason.size() <= 123 && valid_utf8(reason),
               "a close reason fits a close frame");
    closed = true;
  }
};

class Backend final : public UaBackend {
 public:
  explicit Backend(const Session& session) : session_(session) {}
  std::optional<std::string> hello(UaSession&, std::string_view requested) override {
    check_open();
    FUZZ_CHECK(requested.empty() || is_valid_uaid(requested), "hello passes a valid uaid or none");
    return std::string(requested.empty() ? kAssignedUaid : requested);
  }
  Registration register_channel(const std::string& uaid, const std::string& channel_id,
                                const std::optional<std::array<std::uint8_t, 65>>&) override {
    check_channel(uaid, channel_id);
    return {channel_id[0] == 'f' ? 409 : 200, "http://127.0.0.1:8090/wpush/v2/x"};
  }
  int unregister_channel(const std::string& uaid, const std::string& channel_id) override {
    check_channel(uaid, channel_id);
    return 200;
  }
  void acknowledge(const std::string& uaid, const std::string& channel_id,
                   const std::string& version, int) override {
    check_channel(uaid, channel_id);
    FUZZ_CHECK(!version.empty(), "an ack names a version");
  }
  void refuse(const std::string& uaid, const std::string& channel_id, const std::string& version,
              int) override {
    check_open();
    FUZZ_CHECK(is_valid_uaid(uaid), "calls name the uaid hello assigned");
    FUZZ_CHECK(channel_id.empty() || canonical_channel_id(channel_id) == channel_id,
               "a nack's channel id is canonical or empty");
    FUZZ_CHECK(!version.empty(), "a nack names a version");
  }
  void disconnected(UaSession&, const std::string& uaid) override {
    FUZZ_CHECK(is_valid_uaid(uaid), "disconnect names the uaid");
  }

 private:
  void check_open() const { FUZZ_CHECK(!session_.closed, "the backend is not called after close"); }
  void check_channel(const std::string& uaid, const std::string& channel_id) const {
    check_open();
    FUZZ_CHECK(is_valid_uaid(uaid), "calls name the uaid hello assigned");
    FUZZ_CHECK(canonical_channel_id(channel_id) == channel_id, "channel ids are canonical");
  }
  const Session& session_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Session session;
  Backend backend(session);
  ManualClock clock(1796520000);
  UaProtocol protocol(session, backend, clock,
                      {.max_frame_bytes = 4096, .registers_per_minute = 8});
  while (!input.empty()) {
    const auto end = input.find('\n');
    const std::string_view frame = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
    const bool open = protocol.on_text(frame);
    FUZZ_CHECK(open == !session.closed, "on_text returns false exactly when closed");
    if (!open) break;
    clock.advance(frame.size() % 7);
  }
  protocol.on_disconnect();
  return 0;
}
