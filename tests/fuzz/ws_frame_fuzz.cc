// The WebSocket frame parser (pushservice/websocket.h FrameReader::feed) on any client bytes.
// The first input byte picks where the stream is cut; the same bytes are then fed whole and cut
// into pieces. Properties: what the sink sees does not depend on how the bytes arrive; messages
// are valid UTF-8 and within the size limit; close codes are RFC 6455's; nothing is reported
// after parsing stopped.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "pushservice/websocket.h"

using namespace flashwire::pushservice::ws;

namespace {

constexpr std::size_t kMaxMessage = 1024;

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    std::size_t extra = 0;
    std::uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1, code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2, code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3, code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;  // cut short
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

// Records what the parser reports, as one string per event.
class Recorder final : public FrameSink {
 public:
  std::vector<std::string> events;
  bool stopped = false;

  bool on_message(std::string_view text) override {
    check_running();
    FUZZ_CHECK(text.size() <= kMaxMessage, "a message is within the limit");
    FUZZ_CHECK(valid_utf8(text), "a message is valid UTF-8");
    events.push_back("text:" + std::string(text));
    return true;
  }
  void on_ping(std::string_view payload) override {
    check_running();
    FUZZ_CHECK(payload.size() <= 125, "a ping payload fits a control frame");
    events.push_back("ping:" + std::string(payload));
  }
  void on_pong(std::string_view payload) override {
    check_running();
    events.push_back("pong:" + std::string(payload));
  }
  void on_close_frame(std::optional<std::uint16_t> code, std::string_view reason) override {
    check_running();
    FUZZ_CHECK(valid_utf8(reason), "a close reason is valid UTF-8");
    if (code) {
      FUZZ_CHECK(*code >= 1000 && *code < 5000 && *code != 1004 && *code != 1005 && *code != 1006 &&
                     *code != 1015,
                 "a close code may be sent on the wire");
    } else {
      FUZZ_CHECK(reason.empty(), "no reason without a code");
    }
    events.push_back("close:" + std::to_string(code.value_or(0)) + ":" + std::string(reason));
    stopped = true;
  }
  void on_violation(std::uint16_t code, std::string_view) override {
    check_running();
    FUZZ_CHECK(
        code == kCloseProtocolError || code == kCloseInvalidPayload || code == kCloseMessageTooBig,
        "a violation closes with 1002, 1007 or 1009");
    events.push_back("violation:" + std::to_string(code));
    stopped = true;
  }

 private:
  void check_running() const { FUZZ_CHECK(!stopped, "nothing is reported after parsing stopped"); }
};

// Feeds `bytes` in pieces of the given sizes (cycled); returns what the sink saw.
Recorder feed(std::string bytes, std::span<const std::uint8_t> cuts) {
  Recorder sink;
  FrameReader reader;
  std::size_t offset = 0;
  std::size_t cut = 0;
  bool running = true;
  while (running && offset < bytes.size()) {
    std::size_t piece = bytes.size() - offset;
    if (!cuts.empty()) piece = std::min<std::size_t>(piece, cuts[cut++ % cuts.size()] + 1);
    running = reader.feed(std::span<char>(bytes.data() + offset, piece), kMaxMessage, sink);
    FUZZ_CHECK(running != sink.stopped, "feed returns false exactly when parsing stopped");
    offset += piece;
  }
  return sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t cut_count = std::min<std::size_t>(data[0] % 8, size - 1);
  const std::span<const std::uint8_t> cuts(data + 1, cut_count);
  const std::string bytes(reinterpret_cast<const char*>(data + 1 + cut_count),
                          size - 1 - cut_count);
  const Recorder whole = feed(bytes, {});
  static constexpr std::uint8_t kByteByByte[] = {0};
  const Recorder pieces = feed(bytes, cuts.empty() ? std::span(kByteByByte) : cuts);
  FUZZ_CHECK(whole.events == pieces.events, "the same events however the bytes are cut");
  return 0;
}
