#include "pushservice/service.h"

#include <openssl/rand.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <limits>

#include "webpush/base64url.h"
#include "webpush/vapid.h"

namespace flashwire::pushservice {
namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

using boost::beast::iequals;  // ASCII, as header values are compared

std::optional<store::Urgency> parse_urgency(std::string_view value) {
  if (value.empty() || iequals(value, "normal")) return store::Urgency::kNormal;
  if (iequals(value, "very-low")) return store::Urgency::kVeryLow;
  if (iequals(value, "low")) return store::Urgency::kLow;
  if (iequals(value, "high")) return store::Urgency::kHigh;
  return std::nullopt;
}

bool is_valid_topic(std::string_view topic) {
  return !topic.empty() && topic.size() <= 32 &&
         std::all_of(topic.begin(), topic.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
         });
}

// A TTL is any run of decimal digits; one too large to hold is as good as "for ever" and is cut
// to the maximum like any long TTL (the docs promise clamping, not a 400).
std::optional<std::int64_t> parse_ttl(std::string_view text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  std::int64_t value = 0;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (err == std::errc::result_out_of_range) return std::numeric_limits<std::int64_t>::max();
  if (err != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Versions on the wire: "s<id>" for a stored message (acking deletes it), "m<n>" for one held in
// memory for a connected user agent, "v<n>" for a TTL 0 message sent and forgotten.
template <typename Integer>
std::optional<Integer> version_number(std::string_view version, char kind) {
  if (version.size() < 2 || version[0] != kind) return std::nullopt;
  Integer n = 0;
  const auto [end, err] = std::from_chars(version.data() + 1, version.data() + version.size(), n);
  if (err != std::errc() || end != version.data() + version.size()) return std::nullopt;
  return n;
}

// The request headers a push message is made of, read in one pass over the fields (a look-up by
// name walks the field set once per header). Each keeps its first occurrence, as request[name].
struct PushHeaders {
  std::string_view ttl, urgency, topic, content_encoding, authorization;
};

PushHeaders read_push_headers(const http::Request& request) {
  PushHeaders headers;
  unsigned seen = 0;
  auto keep_first = [&seen](std::string_view& slot, unsigned bit, std::string_view value) {
    if ((seen & bit) != 0) return;
    seen |= bit;
    slot = value;
  };
  for (const auto& field : request) {
    switch (field.name()) {
      case bhttp::field::ttl:
        keep_first(headers.ttl, 1, field.value());
        break;
      case bhttp::field::urgency:
        keep_first(headers.urgency, 2, field.value());
        break;
      case bhttp::field::topic:
        keep_first(headers.topic, 4, field.value());
        break;
      case bhttp::field::content_encoding:
        keep_first(headers.content_encoding, 8, field.value());
        break;
      case bhttp::field::authorization:
        keep_first(headers.authorization, 16, field.value());
        break;
      default:
        break;
    }
  }
  return headers;
}

// JSON string contents: what the notification frame's strings need escaped.
void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
}

// base64url without padding, appended in place: the body is most of a notification frame, and
// this writes it once, into the frame itself.
void append_base64url(std::string& out, const std::vector<std::uint8_t>& data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const std::size_t n = data.size();
  const std::size_t start = out.size();
  out.resize(start + (n * 4 + 2) / 3);
  char* p = out.data() + start;
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) |
                            std::uint32_t{data[i + 2]};
    *p++ = kAlphabet[(v >> 18) & 63];
    *p++ = kAlphabet[(v >> 12) & 63];
    *p++ = kAlphabet[(v >> 6) & 63];
    *p++ = kAlphabet[v & 63];
  }
  if (n - i == 1) {
    const std::uint32_t v = std::uint32_t{data[i]} << 16;
    *p++ = kAlphabet[(v >> 18) & 63];
    *p++ = kAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    *p++ = kAlphabet[(v >> 18) & 63];
    *p++ = kAlphabet[(v >> 12) & 63];
    *p++ = kAlphabet[(v >> 6) & 63];
  }
}

}  // namespace

PushService::PushService(std::unique_ptr<store::PushStore> store, const EndpointKey& endpoint_key,
                         const Clock& clock, PushServiceOptions options)
    : store_(std::move(store)), codec_(endpoint_key), clock_(clock), options_(std::move(options)) {
  set_public_url(options_.public_url);
}

void PushService::set_public_url(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  options_.public_url = std::move(url);
  audience_ = webpush::audience_for_endpoint(options_.public_url).value_or(options_.public_url);
}

std::string PushService::new_uaid() {
  std::uint8_t bytes[16];
  RAND_bytes(bytes, sizeof bytes);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string uaid;
  for (const auto b : bytes) {
    uaid += kDigits[b >> 4];
    uaid += kDigits[b & 15];
  }
  return uaid;
}

http::Response PushService::reject(http::Status status, const std::string& reason,
                                   std::string_view message) {
  ++rejected_[reason];
  return http::json_error(status, reason, message);
}

http::Response PushService::reject_unavailable(std::string_view what) {
  ++rejected_["storage"];
  return http::error_answer(ErrorCode::kUnavailable, what);
}

http::Response PushService::handle_push(const http::Request& request, std::string_view token) {
  const auto ref = codec_.decode(token);
  if (!ref) return reject(http::Status::not_found, "unknown_endpoint", "no such subscription");

  const CachedChannel* channel = nullptr;
  if (auto looked_up = lookup_channel(*ref); !looked_up) {
    return reject_unavailable("push store");
  } else if (*looked_up == nullptr) {
    const auto removed = store_->was_removed(ref->uaid, ref->channel_id);
    if (removed && *removed)
      return reject(http::Status::gone, "gone", "the subscription was removed");
    return reject(http::Status::not_found, "unknown_endpoint", "no such subscription");
  } else {
    channel = *looked_up;
  }
  // The token carries the key hash it was issued for: an endpoint from an earlier registration
  // of the same channel id with another key is not this subscription.
  if (channel->vapid_key_hash != ref->vapid_key_hash) {
    return reject(http::Status::not_found, "unknown_endpoint", "no such subscription");
  }
  const std::optional<store::VapidKey>& vapid_key = channel->vapid_key;

  const PushHeaders headers = read_push_headers(request);
  const std::string_view ttl_header = headers.ttl;
  if (ttl_header.empty())
    return reject(http::Status::bad_request, "missing_ttl",
                  "the TTL header is required (RFC 8030 section 5.2)");
  const auto ttl = parse_ttl(ttl_header);
  if (!ttl)
    return reject(http::Status::bad_request, "invalid_ttl",
                  "TTL must be a non-negative integer number of seconds");
  const auto urgency = parse_urgency(headers.urgency);
  if (!urgency)
    return reject(http::Status::bad_request, "invalid_urgency",
                  "Urgency must be very-low, low, normal or high");
  const std::string_view topic = headers.topic;
  if (!topic.empty() && !is_valid_topic(topic)) {
    return reject(http::Status::bad_request, "invalid_topic",
                  "Topic must be 1 to 32 base64url characters");
  }
  const std::string& body = request.body();
  if (body.size() > options_.max_body_bytes) {
    return reject(http::Status::payload_too_large, "too_large", "the body exceeds 4096 bytes");
  }
  if (!body.empty() && !iequals(headers.content_encoding, "aes128gcm")) {
    return reject(http::Status::unsupported_media_type, "unsupported_encoding",
                  "a body must be sent with Content-Encoding: aes128gcm");
  }

  if (vapid_key) {
    const std::string_view authorization = headers.authorization;
    if (authorization.empty()) {
      return reject(http::Status::unauthorized, "vapid_missing",
                    "this subscription requires a VAPID Authorization header");
    }
    const std::int64_t now = clock_.now_seconds();
    auto cached = verified_tokens_.find(authorization);
    if (cached != verified_tokens_.end() &&
        cached->second.expires_at <= now - options_.vapid_clock_skew_seconds) {
      verified_tokens_.erase(cached);  // it has expired since it was verified
      cached = verified_tokens_.end();
    }
    if (cached == verified_tokens_.end()) {
      auto parsed = webpush::parse_vapid_authorization(authorization);
      if (!parsed)
        return reject(http::Status::unauthorized, "vapid_invalid", parsed.error().message);
      if (parsed->key.raw() != *vapid_key) {
        return reject(http::Status::forbidden, "vapid_key_mismatch",
                      "the VAPID key is not the one this subscription was created with");
      }
      webpush::VapidVerifyOptions verify_options;
      verify_options.clock_skew_seconds = options_.vapid_clock_skew_seconds;
      auto claims =
          webpush::verify_vapid_token(parsed->token, parsed->key, audience_, now, verify_options);
      if (!claims)
        return reject(http::Status::unauthorized, "vapid_invalid", claims.error().message);
      if (verified_tokens_.size() >= kMaxVerifiedTokens) verified_tokens_.clear();
      verified_tokens_.emplace(std::string(authorization),
                               VerifiedToken{claims->expires_at, parsed->key.raw()});
    } else if (cached->second.key != *vapid_key) {
      return reject(http::Status::forbidden, "vapid_key_mismatch",
                    "the VAPID key is not the one this subscription was created with");
    }
  }

  const std::int64_t now = clock_.now_seconds();
  const std::int64_t applied_ttl = std::min(*ttl, options_.max_ttl_seconds);
  store::PushMessage message;
  message.uaid = ref->uaid;
  message.channel_id = ref->channel_id;
  message.topic = std::string(topic);
  message.urgency = *urgency;
  message.received_at = now;
  message.expires_at = now + applied_ttl;
  if (!body.empty()) message.encoding = "aes128gcm";  // the only one accepted above
  const auto* body_bytes = reinterpret_cast<const std::uint8_t*>(body.data());
  message.data.assign(body_bytes, body_bytes + body.size());

  const auto live = sessions_.find(ref->uaid);
  const bool connected = live != sessions_.end();
  std::string version;
  if (connected && live->second.unacked.size() < options_.backlog_cap) {
    // Straight to the browser; kept in memory until acked, stored if the connection ends first.
    const std::uint64_t sequence = ++volatile_counter_;
    version = "m" + std::to_string(sequence);
    send_notification(*live->second.session, message, version);
    if (applied_ttl > 0) live->second.unacked.emplace(sequence, std::move(message));
  } else if (applied_ttl > 0) {
    auto stored = store_->store_message(message, options_.backlog_cap);
    if (!stored) {
      if (stored.error().code == store::ErrorCode::kNotFound) {
        return reject(http::Status::gone, "gone", "the subscription was removed");
      }
      return reject_unavailable("push store");
    }
    replaced_ += stored->replaced;
    evicted_ += stored->evicted;
    message.id = stored->id;
    version = "s" + std::to_string(stored->id);
    if (connected) send_notification(*live->second.session, message, version);
  } else {
    version = "v" + std::to_string(++volatile_counter_);  // TTL 0 and nobody to hand it to
  }
  ++accepted_;

  http::Response response(http::Status::created, request.version());
  response.set(bhttp::field::location, options_.public_url + "/m/" + version);
  response.set(bhttp::field::ttl, std::to_string(applied_ttl));
  return response;
}

std::optional<PushService::ChannelKey> PushService::channel_key(std::string_view uaid,
                                                                std::string_view channel_id) {
  ChannelKey key;
  if (uaid.size() + channel_id.size() != key.size()) return std::nullopt;
  std::copy(uaid.begin(), uaid.end(), key.begin());
  std::copy(channel_id.begin(), channel_id.end(), key.begin() + uaid.size());
  return key;
}

tl::expected<const PushService::CachedChannel*, store::Error> PushService::lookup_channel(
    const EndpointRef& ref) {
  // Tokens always carry a 32-digit uaid and a canonical channel id, as the store's channels do.
  const auto key = channel_key(ref.uaid, ref.channel_id);
  if (!key) return nullptr;
  if (const auto hit = channel_cache_.find(*key); hit != channel_cache_.end()) return &hit->second;
  auto found = store_->find_channel(ref.uaid, ref.channel_id);
  if (!found) return tl::unexpected(found.error());
  if (!found->has_value()) return nullptr;
  CachedChannel channel;
  channel.vapid_key = (*found)->vapid_key;
  if (channel.vapid_key) channel.vapid_key_hash = hash_vapid_key(*channel.vapid_key);
  if (channel_cache_.size() >= kMaxCachedChannels) channel_cache_.clear();
  return &channel_cache_.emplace(*key, std::move(channel)).first->second;
}

void PushService::send_notification(UaSession& session, const store::PushMessage& message,
                                    const std::string& version) {
  // Written straight into one string, the same JSON text a json::object serialised to: the
  // body's base64url is most of the frame, and building a JSON object around it cost as much as
  // encoding it.
  std::string frame;
  frame.reserve(128 + message.channel_id.size() + version.size() + message.encoding.size() +
                (message.data.size() * 4 + 2) / 3);
  frame += R"({"messageType":"notification","channelID":")";
  append_json_escaped(frame, message.channel_id);
  frame += R"(","version":")";
  append_json_escaped(frame, version);
  if (message.data.empty()) {
    frame += R"("})";
  } else {
    frame += R"(","data":")";
    append_base64url(frame, message.data);
    frame += R"(","headers":{"encoding":")";
    append_json_escaped(frame, message.encoding);
    frame += R"("}})";
  }
  session.send_text(std::move(frame));
  ++delivered_;
}

std::optional<std::string> PushService::hello(UaSession& session, std::string_view requested_uaid) {
  std::string uaid;
  if (!requested_uaid.empty()) {
    auto exists = store_->user_agent_exists(std::string(requested_uaid));
    if (!exists) return std::nullopt;
    if (*exists) uaid = std::string(requested_uaid);
  }
  const bool known = !uaid.empty();
  if (!known) uaid = new_uaid();  // created in the store at its first registration
  if (known && !store_->touch_user_agent(uaid, clock_.now_seconds())) return std::nullopt;

  if (auto previous = sessions_.find(uaid);
      previous != sessions_.end() && previous->second.session != &session) {
    // The older connection's unacked messages go to the store, and from there to this one.
    persist_unacked(previous->second);
    UaSession* old = previous->second.session;
    sessions_.erase(previous);
    old->close(kCloseReplaced, "replaced by a newer connection");
  }
  sessions_[uaid].session = &session;

  json::object reply;
  reply["messageType"] = "hello";
  reply["uaid"] = uaid;
  reply["status"] = 200;
  reply["use_webpush"] = true;
  reply["broadcasts"] = json::object();
  session.send_text(json::serialize(reply));

  if (known) {
    auto pending = store_->pending_messages(uaid, clock_.now_seconds(), options_.backlog_cap);
    if (pending) {
      for (const auto& message : *pending)
        send_notification(session, message, "s" + std::to_string(message.id));
    }
  }
  return uaid;
}

UaBackend::Registration PushService::register_channel(
    const std::string& uaid, const std::string& channel_id,
    const std::optional<std::array<std::uint8_t, 65>>& vapid_key) {
  // The allowance belongs to the user agent, not the connection: reconnecting renews nothing.
  const std::int64_t now = clock_.now_seconds();
  if (register_windows_.size() >= kMaxRegisterWindows) {
    std::erase_if(register_windows_,
                  [now](const auto& entry) { return now - entry.second.start >= 60; });
    if (register_windows_.size() >= kMaxRegisterWindows) register_windows_.clear();
  }
  RegisterWindow& window = register_windows_[uaid];
  if (now - window.start >= 60) window = RegisterWindow{now, 0};
  if (++window.count > options_.registers_per_minute_per_ua) return {429, {}};
  if (!store_->touch_user_agent(uaid, now)) return {500, {}};
  auto existing = store_->channels_of(uaid);
  if (!existing) return {500, {}};
  const bool already =
      std::any_of(existing->begin(), existing->end(),
                  [&](const store::PushChannel& c) { return c.channel_id == channel_id; });
  if (!already && existing->size() >= options_.max_channels_per_ua) return {413, {}};

  store::PushChannel channel{uaid, channel_id, vapid_key, clock_.now_seconds()};
  if (auto added = store_->add_channel(channel); !added) {
    return {added.error().code == store::ErrorCode::kConflict ? 409 : 500, {}};
  }
  const auto token =
      codec_.encode({uaid, channel_id, vapid_key ? hash_vapid_key(*vapid_key) : KeyHash{}});
  if (!token) return {500, {}};
  ++registrations_;
  return {200, options_.public_url + "/wpush/" + *token};
}

int PushService::unregister_channel(const std::string& uaid, const std::string& channel_id) {
  // Forgotten first: after a failed removal the channel is looked up afresh.
  if (const auto key = channel_key(uaid, channel_id)) channel_cache_.erase(*key);
  if (!store_->remove_channel(uaid, channel_id, clock_.now_seconds())) return 500;
  ++unregistrations_;
  return 200;
}

void PushService::acknowledge(const std::string& uaid, const std::string&,
                              const std::string& version, int code) {
  ++acks_[code >= 100 && code <= 102 ? code - 99 : 0];
  forget(uaid, version);  // whatever the code, the browser has seen it: sending again won't help
}

void PushService::refuse(const std::string& uaid, const std::string&, const std::string& version,
                         int) {
  ++nacks_;
  forget(uaid, version);
}

void PushService::forget(const std::string& uaid, const std::string& version) {
  if (const auto id = version_number<std::int64_t>(version, 's')) {
    (void)store_->delete_message(uaid, *id);
  } else if (const auto sequence = version_number<std::uint64_t>(version, 'm')) {
    if (auto live = sessions_.find(uaid); live != sessions_.end())
      live->second.unacked.erase(*sequence);
  }
}

void PushService::persist_unacked(Live& live) {
  const std::int64_t now = clock_.now_seconds();
  for (auto& [sequence, message] : live.unacked) {
    if (message.expires_at <= now) continue;
    auto stored = store_->store_message(message, options_.backlog_cap);
    if (stored) {
      replaced_ += stored->replaced;
      evicted_ += stored->evicted;
    } else {
      ++lost_;  // the store failed; counted, never silent
    }
  }
  live.unacked.clear();
}

void PushService::persist_unacked() {
  for (auto& [uaid, live] : sessions_) persist_unacked(live);
}

void PushService::disconnected(UaSession& session, const std::string& uaid) {
  auto it = sessions_.find(uaid);
  if (it == sessions_.end() || it->second.session != &session) return;
  persist_unacked(it->second);
  sessions_.erase(it);
}

std::size_t PushService::purge_expired() {
  const auto purged = store_->purge_expired(clock_.now_seconds());
  if (!purged) return 0;
  expired_ += *purged;
  return *purged;
}

std::string PushService::metrics_text() {
  std::string out;
  auto metric = [&out](std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  };
  auto sample = [&out](std::string_view name, std::string_view labels, auto value) {
    out += name;
    out += labels;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  };
  metric("flashwire_push_connections", "gauge", "Open WebSocket connections.");
  sample("flashwire_push_connections", "", connections_open_);
  metric("flashwire_push_connections_total", "counter", "WebSocket connections accepted.");
  sample("flashwire_push_connections_total", "", connections_total_);
  metric("flashwire_push_user_agents_connected", "gauge", "User agents with a live session.");
  sample("flashwire_push_user_agents_connected", "", sessions_.size());
  std::size_t in_memory = 0;
  for (const auto& [uaid, live] : sessions_) in_memory += live.unacked.size();
  metric("flashwire_push_unacked_in_memory", "gauge",
         "Messages sent to connected user agents and not yet acked.");
  sample("flashwire_push_unacked_in_memory", "", in_memory);
  metric("flashwire_push_messages_lost_total", "counter",
         "Unacked messages the store failed to keep.");
  sample("flashwire_push_messages_lost_total", "", lost_);
  metric("flashwire_push_messages_accepted_total", "counter",
         "Messages accepted from senders (201).");
  sample("flashwire_push_messages_accepted_total", "", accepted_);
  metric("flashwire_push_messages_delivered_total", "counter",
         "Notifications sent to user agents.");
  sample("flashwire_push_messages_delivered_total", "", delivered_);
  metric("flashwire_push_messages_expired_total", "counter",
         "Stored messages purged after their TTL.");
  sample("flashwire_push_messages_expired_total", "", expired_);
  metric("flashwire_push_messages_replaced_total", "counter",
         "Stored messages replaced by a newer one with the same Topic.");
  sample("flashwire_push_messages_replaced_total", "", replaced_);
  metric("flashwire_push_messages_evicted_total", "counter",
         "Stored messages dropped by the per-user-agent backlog cap.");
  sample("flashwire_push_messages_evicted_total", "", evicted_);
  metric("flashwire_push_messages_rejected_total", "counter", "Messages refused, by reason.");
  for (const auto& [reason, count] : rejected_)
    sample("flashwire_push_messages_rejected_total", "{reason=\"" + reason + "\"}", count);
  metric("flashwire_push_acks_total", "counter",
         "Acknowledgements from user agents, by code (100 delivered, 101 decryption failed, 102 "
         "not delivered).");
  for (int code = 100; code <= 102; ++code)
    sample("flashwire_push_acks_total", "{code=\"" + std::to_string(code) + "\"}",
           acks_[code - 99]);
  sample("flashwire_push_acks_total", "{code=\"invalid\"}", acks_[0]);
  metric("flashwire_push_nacks_total", "counter", "Messages refused by user agents.");
  sample("flashwire_push_nacks_total", "", nacks_);
  metric("flashwire_push_registrations_total", "counter", "Channels registered.");
  sample("flashwire_push_registrations_total", "", registrations_);
  metric("flashwire_push_unregistrations_total", "counter", "Channels unregistered.");
  sample("flashwire_push_unregistrations_total", "", unregistrations_);
  if (auto stored = store_->message_count()) {
    metric("flashwire_push_stored_messages", "gauge", "Messages waiting for user agents.");
    sample("flashwire_push_stored_messages", "", *stored);
  }
  return out;
}

}  // namespace flashwire::pushservice
