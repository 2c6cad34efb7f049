#include "pushservice/protocol.h"

#include <boost/json.hpp>

#include "pushservice/endpoint_codec.h"
#include "webpush/p256.h"

namespace flashwire::pushservice {
namespace {

namespace json = boost::json;

std::string_view string_field(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  if (value == nullptr || !value->is_string()) return {};
  return value->as_string();
}

std::optional<std::int64_t> int_field(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  if (value == nullptr) return std::nullopt;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64() && value->as_uint64() < 1'000'000)
    return static_cast<std::int64_t>(value->as_uint64());
  return std::nullopt;
}

std::string reply(std::string_view type, std::string_view channel_id, int status) {
  json::object out;
  out["messageType"] = type;
  out["channelID"] = channel_id;
  out["status"] = status;
  return json::serialize(out);
}

// At most `max` bytes of `text`, cut at a character boundary: what is echoed goes out in a
// WebSocket text frame, which must stay valid UTF-8 (the JSON parser has checked `text` is).
std::string_view utf8_prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text;
  while (max > 0 && (static_cast<unsigned char>(text[max]) & 0xC0) == 0x80) --max;
  return text.substr(0, max);
}

constexpr std::size_t kMaxAckUpdates = 1000;

}  // namespace

UaProtocol::UaProtocol(UaSession& session, UaBackend& backend, const Clock& clock,
                       ProtocolOptions options)
    : session_(session), backend_(backend), clock_(clock), options_(options) {}

bool UaProtocol::fail(std::uint16_t code, std::string reason) {
  if (!closed_) {
    closed_ = true;
    session_.close(code, std::move(reason));
  }
  return false;
}

bool UaProtocol::on_text(std::string_view frame) {
  if (closed_) return false;
  if (frame.size() > options_.max_frame_bytes)
    return fail(kClosePolicyViolation, "frame too large");

  // The parsed frame lives only for this call: build its tree in a stack buffer (spilling to
  // the heap only for large frames) instead of one allocation per node.
  unsigned char storage[4096];
  json::monotonic_resource resource(storage, sizeof storage);
  boost::system::error_code ec;
  json::value parsed = json::parse(frame, ec, &resource);
  if (ec || !parsed.is_object()) return fail(kCloseProtocolError, "frame is not a JSON object");
  const json::object& message = parsed.as_object();

  if (message.empty()) {  // "{}" is the user agent's keep-alive ping
    if (uaid_.empty()) return fail(kCloseProtocolError, "hello expected first");
    session_.send_text("{}");
    return true;
  }
  const std::string_view type = string_field(message, "messageType");
  if (type.empty()) return fail(kCloseProtocolError, "messageType missing");

  if (type == "hello") {
    if (!uaid_.empty()) return fail(kCloseProtocolError, "hello sent twice");
    std::string_view requested = string_field(message, "uaid");
    if (!is_valid_uaid(requested)) requested = {};  // absent, null or malformed: start afresh
    auto assigned = backend_.hello(session_, requested);
    if (!assigned) return fail(kClosePolicyViolation, "service unavailable");
    uaid_ = std::move(*assigned);
    return true;
  }
  if (uaid_.empty()) return fail(kCloseProtocolError, "hello expected first");

  if (type == "register") {
    const std::int64_t now = clock_.now_seconds();
    if (now - register_window_start_ >= 60) {
      register_window_start_ = now;
      registers_in_window_ = 0;
    }
    if (++registers_in_window_ > options_.registers_per_minute) {
      return fail(kClosePolicyViolation, "too many registrations");
    }
    const std::string_view raw_channel = string_field(message, "channelID");
    const auto channel = canonical_channel_id(raw_channel);
    if (!channel) {
      session_.send_text(reply("register", utf8_prefix(raw_channel, 64), 400));
      return true;
    }
    std::optional<std::array<std::uint8_t, 65>> key;
    if (const json::value* key_value = message.if_contains("key");
        key_value != nullptr && !key_value->is_null()) {
      if (!key_value->is_string()) {
        session_.send_text(reply("register", *channel, 400));
        return true;
      }
      auto parsed_key = webpush::P256PublicKey::from_base64url(key_value->as_string());
      if (!parsed_key) {
        session_.send_text(reply("register", *channel, 400));
        return true;
      }
      key = parsed_key->raw();
    }
    const auto registration = backend_.register_channel(uaid_, *channel, key);
    if (registration.status == 429) {
      return fail(kClosePolicyViolation, "too many registrations for this user agent");
    }
    if (registration.status != 200) {
      session_.send_text(reply("register", *channel, registration.status));
      return true;
    }
    json::object out;
    out["messageType"] = "register";
    out["channelID"] = *channel;
    out["status"] = 200;
    out["pushEndpoint"] = registration.endpoint;
    session_.send_text(json::serialize(out));
    return true;
  }

  if (type == "unregister") {
    const std::string_view raw_channel = string_field(message, "channelID");
    const auto channel = canonical_channel_id(raw_channel);
    if (!channel) {
      session_.send_text(reply("unregister", utf8_prefix(raw_channel, 64), 400));
      return true;
    }
    session_.send_text(reply("unregister", *channel, backend_.unregister_channel(uaid_, *channel)));
    return true;
  }

  if (type == "ack") {
    const json::value* updates = message.if_contains("updates");
    if (updates == nullptr || !updates->is_array() || updates->as_array().size() > kMaxAckUpdates) {
      return fail(kCloseProtocolError, "ack needs an updates array");
    }
    for (const json::value& update : updates->as_array()) {
      if (!update.is_object()) return fail(kCloseProtocolError, "ack update is not an object");
      const auto& u = update.as_object();
      const auto channel = canonical_channel_id(string_field(u, "channelID"));
      const std::string_view version = string_field(u, "version");
      if (!channel || version.empty()) continue;  // nothing we could have sent; ignore
      // Only Firefox's three codes mean something; any other is passed on as 0 ("invalid"),
      // never as a value of the client's choosing.
      const std::int64_t code = int_field(u, "code").value_or(100);
      backend_.acknowledge(uaid_, *channel, std::string(version),
                           code >= 100 && code <= 102 ? static_cast<int>(code) : 0);
    }
    return true;
  }

  if (type == "nack") {
    const std::string_view version = string_field(message, "version");
    const auto channel = canonical_channel_id(string_field(message, "channelID"));
    if (!version.empty()) {
      backend_.refuse(uaid_, channel.value_or(std::string()), std::string(version),
                      static_cast<int>(int_field(message, "code").value_or(0)));
    }
    return true;
  }

  if (type == "broadcast_subscribe") {
    session_.send_text(R"({"messageType":"broadcast","broadcasts":{}})");
    return true;
  }

  return fail(kClosePolicyViolation, "unknown messageType");
}

void UaProtocol::on_disconnect() {
  closed_ = true;
  if (!uaid_.empty()) backend_.disconnected(session_, uaid_);
}

}  // namespace flashwire::pushservice
