// The request headers of one push-service origin, built once per origin and second instead of
// once per message: only TTL (it counts down) and the VAPID token (renewed every few minutes)
// change during a fan-out. Each transport gets them in its own form, built directly from the
// fields: HTTP/1.1 header bytes, HTTP/2 header fields (lower-case names, for nghttp2's HPACK),
// or a libcurl header list.
//
// Ownership: each form is held by shared_ptr, so requests in flight keep the version they were
// given while a newer one is built. Thread safety: none; one cache per sender thread.
// Errors: get() returns nullptr when no VAPID token can be made for the origin.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fanout/h2_client.h"
#include "webpush/vapid.h"

struct curl_slist;

namespace flashwire::fanout {

struct RequestHeaders {
  // HTTP/1.1: "Host: …\r\n" and every field as "Name: value\r\n" (no blank line).
  std::string http1;
  // HTTP/2: lower-case names; no pseudo-headers, no content-length.
  std::shared_ptr<const H2Client::HeaderList> h2;
  // libcurl: the same fields, plus "Expect:" (no 100-continue round trip).
  std::shared_ptr<curl_slist> curl;
};

class RequestHeaderCache {
 public:
  struct MessageFields {
    bool zero_ttl = false;
    std::int64_t deadline_unix = 0;
    std::string urgency;  // empty: left out
    std::string topic;    // empty: left out
  };

  RequestHeaderCache(webpush::VapidTokenCache& vapid, MessageFields message)
      : vapid_(vapid), message_(std::move(message)) {}

  // The headers for `origin` ("scheme://authority") at `now_unix`; built on first use in each
  // second. nullptr if the VAPID token cannot be made.
  const RequestHeaders* get(const std::string& origin, std::int64_t now_unix);

 private:
  struct Entry {
    RequestHeaders headers;
    bool built = false;
    std::int64_t built_at = 0;
    std::string authorization;  // "vapid t=…, k=…"
    std::int64_t authorization_until = 0;
  };
  webpush::VapidTokenCache& vapid_;
  MessageFields message_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace flashwire::fanout
