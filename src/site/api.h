// The readers' JSON API: subscribing to alerts, changing categories, unsubscribing, and the
// service worker's delivery beacons.
//
//   POST   /api/subscriptions   {"subscription": PushSubscription JSON, "categories": [...],
//                                "replaces"?: {"endpoint", "auth"}}       → 201 new / 200 updated
//   DELETE /api/subscriptions   {"endpoint", "auth"}                      → 204 (possession proven)
//   POST   /api/events          {"alert": id, "event": "received"|"displayed"|"clicked"|
//                                "dismissed", "endpoint", "auth"}  → 204 (once per subscription
//                                and event; 404 unless the alert was sent to its category)
//   POST   /api/optin           {"step": "shown"|"clicked"|"granted"|"denied"|"subscribed"|
//                                "unsubscribed", "category": "breaking"|"live"|"exclusive"|
//                                "none", "page": "home"|"article"|"live"|"category"|"other"}
//                                → 204 (one counter of the day goes up; nothing else is kept)
//   GET    /api/vapid-public-key → {"publicKey": …}
//
// Every request is checked before anything is stored, so an invalid one changes nothing:
// same-origin (an Origin header that is the site's — a missing one is refused — and
// Sec-Fetch-Site, when sent, same-origin or none), JSON content type, size, the endpoint on an
// allowed push service (no SSRF), a valid P-256 key and a 16-byte auth secret, known categories.
// Clients are rate limited per address. Every error is JSON {"error", "message"}.
//
// Thread safety: handle() may be called from several threads at once given a store that may be
// (store/serialized_site_store.h); its rate limiter is thread-safe.
#pragma once

#include <string>

#include "common/clock.h"
#include "http/rate_limiter.h"
#include "http/server.h"
#include "store/site_store.h"
#include "webpush/push_hosts.h"

namespace flashwire::site {

struct SiteApiOptions {
  std::string origin;               // the site's origin, e.g. "https://news.example"
  std::string vapid_public_key;     // base64url, handed to browsers as applicationServerKey
  double requests_per_minute = 30;  // per client address, for the write endpoints
  double burst = 20;
  // The origin of Flashwire's own push service ("https://push.example"), or empty: beacons from
  // subscriptions on it count as push service "own" in alert analytics.
  std::string own_push_origin = {};
};

class SiteApi {
 public:
  SiteApi(store::SiteStore& store, const webpush::PushHostPolicy& hosts, const Clock& clock,
          SiteApiOptions options);

  // Routes /api/... requests; nullopt for paths that are not this API's.
  std::optional<http::Response> handle(const http::Request& request,
                                       const std::string& client_address);

 private:
  http::Response subscribe(const http::Request& request);
  http::Response unsubscribe(const http::Request& request);
  http::Response record_event(const http::Request& request);
  http::Response record_optin(const http::Request& request);
  // Same-origin, JSON, size and rate checks shared by the write endpoints.
  std::optional<http::Response> check_write(const http::Request& request,
                                            const std::string& client_address);

  store::SiteStore& store_;
  const webpush::PushHostPolicy& hosts_;
  const Clock& clock_;
  SiteApiOptions options_;
  http::RateLimiter limiter_;
};

}  // namespace flashwire::site
