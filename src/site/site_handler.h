// The news site over HTTP: routes reader pages, static assets, well-known files and the readers'
// JSON API (site/api.h), with caching done properly.
//
//   GET /                        home          GET /articles/<slug>   article
//   GET /live/<slug>             live event page: a live-category article's updates, newest
//                                first, its body the opening entry
//   GET /live/<slug>/events      its Server-Sent Events stream (site/live_stream.h), handed over
//                                by the server (accepts_stream); 204 when no LiveStream is set
//   GET /preferences             settings      GET /feed.atom         Atom feed
//   GET /search?q=               search results (SiteStore::search_articles), never cached
//   GET /manifest.webmanifest, /robots.txt, /sitemap.xml, /news-sitemap.xml (the last never
//                                cached: it lists the last 48 hours by the clock)
//   GET /newsroom                the editors' UI (a page like the others; it calls /api/newsroom/,
//                                which `flashwire serve` routes to the newsroom, not here)
//   GET /sw.js, /assets/...      embedded assets (web/)
//   GET /.well-known/apple-app-site-association, /.well-known/assetlinks.json   when configured
//   /api/...                     SiteApi        GET /health
//
// Rendered pages come from a render cache keyed by path, each with a strong ETag (If-None-Match
// → 304) and a gzip copy made once (served when the client accepts gzip). Every response carries
// a strict Content-Security-Policy and the usual hardening headers; pages are "no-cache" (always
// revalidated: news changes), versioned assets immutable for a year.
//
// It listens to content-changed events (news/content_events.h): a changed article drops the
// rendered pages, a live update drops its event's page and is streamed to the event's readers.
//
// Thread safety: handle(), the stream calls, the content events and the invalidate calls may be
// called from several threads at once (the HTTP server's threads, a cluster listener), given a
// store that may be (store/serialized_site_store.h) and a thread-safe LiveStream. The render
// cache is read-mostly: readers share a lock and each holds the page it answers with; a page
// rendered while the content changed is answered with but not kept. set_live_stream and
// set_clock are for before the server runs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "common/clock.h"
#include "http/live_stream.h"
#include "http/server.h"
#include "news/content_events.h"
#include "site/api.h"
#include "site/pages.h"
#include "store/site_store.h"

namespace flashwire::site {

// A live event's readers are held by the HTTP layer's Server-Sent Events streams, keyed by the
// event's article id (the newsroom keys its alert streams the same way, by alert id).
using http::format_live_event;
using http::LiveEvent;
using http::LiveStream;
using http::LiveStreamOptions;

struct WellKnownFiles {
  std::string apple_app_site_association;  // JSON; empty: 404
  std::string assetlinks;                  // JSON; empty: 404
};

// The headers every response of the site carries: a strict Content-Security-Policy,
// nosniff, a referrer policy and no framing. `flashwire serve` sets them on the newsroom API's
// responses too.
std::span<const std::pair<std::string_view, std::string_view>> security_headers();

class SiteHandler final : public http::Handler, public news::ContentEvents {
 public:
  SiteHandler(store::SiteStore& store, SiteApi& api, SiteInfo info, WellKnownFiles well_known);

  http::Response handle(const http::Request& request, const http::RequestContext& context) override;

  // Live events. set_live_stream attaches the streams for GET /live/<slug>/events (nullptr
  // detaches: that path then answers 204, which tells EventSource not to reconnect). Not owned;
  // must outlive the handler's use. The stream endpoint answers 404 (JSON) for anything but a
  // published live event, 503 when the LiveStream is full or stopped, 400 for a Last-Event-ID or
  // ?after= that is not a number; else it replays the updates after the larger of the two.
  void set_live_stream(LiveStream* live) { live_ = live; }
  bool accepts_stream(const http::Request& request) const override;
  void start_stream(boost::beast::tcp_stream stream, http::Request request,
                    const http::RequestContext& context) override;
  void stop_streams() override;

  // news::ContentEvents. article_changed drops every cached page (lists and the feed show the
  // article too). live_update_posted drops the event's cached page and streams the update to
  // the event's readers.
  void article_changed(const news::Article& article) override;
  void live_update_posted(const news::Article& event, const news::LiveUpdate& update) override;
  // Drops the event's cached page (and the home page) and streams the change (live_stream.h).
  void live_update_changed(const news::Article& event, const news::LiveUpdate& update,
                           LiveChange change) override;

  // After content events were missed (a cluster listener that lost its connection and is back):
  // for each live event whose streams this handler opened and that has readers now, reads from
  // the store what changed after the highest revision (news::LiveUpdate::revision) its streams
  // are known to have had — from when its first stream opened, raised by every update streamed
  // since — and streams it: each update changed as an `update` (a reader who shows it skips it),
  // a correction also as `changed`, a deletion as `deleted`, then the pinned update as it is now
  // (`pinned`, or `unpinned` with id 0). At most 100 changes per event; a reader sent more than
  // its outbox holds is disconnected and catches up when its EventSource reconnects. A store
  // call that fails leaves that event's streams as they are (readers catch up on reload). Any
  // thread; it reads the store, so the server's thread (not a listener's) is the place.
  void refill_live_streams();

  // The clock the news sitemap's 48-hour window is measured with (default: the system's). Not
  // owned; must outlive the handler's use.
  void set_clock(const Clock& clock) { clock_ = &clock; }

  // Drops every cached page, e.g. after an article is published or edited here or on another
  // node. Any thread.
  void invalidate_all();
  void invalidate_pages() { invalidate_all(); }
  std::size_t cached_pages() const;
  // Drops the cached page at `path` ("/live/<slug>"), if any. Any thread.
  void invalidate_page(const std::string& path);

 private:
  struct Cached {
    int status = 200;
    std::string content_type;
    std::string cache_control;
    std::string body;
    std::string gzip_body;  // empty when gzip does not make it smaller
    std::string etag;
    // The origin of a video the page plays ("https://video.example"), which its
    // Content-Security-Policy allows as media-src; "" when none (or one on this site).
    std::string media_origin;
  };
  // Raises the revision `event_id`'s streams are known to have had to at least `revision`.
  void raise_live_mark(std::int64_t event_id, std::int64_t revision);
  // Renders (or fetches from the cache) what `path` shows; nullptr when storage failed.
  std::shared_ptr<const Cached> page(const std::string& path);
  std::optional<Cached> render(const std::string& path);
  http::Response respond(const http::Request& request, const Cached& cached) const;
  // /search and /news-sitemap.xml: rendered for each request; nullopt when storage failed.
  std::optional<Cached> render_uncached(const std::string& path, std::string_view query);

  store::SiteStore& store_;
  SiteApi& api_;
  LiveStream* live_ = nullptr;
  // Live event id → the highest revision its streams are known to have had (refill_live_streams).
  // Set when the event's first stream opens; events are never removed (one entry per live event
  // ever streamed here).
  std::mutex live_marks_mutex_;
  std::map<std::int64_t, std::int64_t> live_marks_;
  const Clock* clock_ = &system_clock();
  SiteInfo info_;
  WellKnownFiles well_known_;
  mutable std::shared_mutex cache_mutex_;  // guards cache_ and generation_
  std::map<std::string, std::shared_ptr<const Cached>, std::less<>> cache_;
  // Bumped by every invalidation: a page rendered across one is not kept.
  std::uint64_t generation_ = 0;
  // Embedded asset path → its gzip copy ("" when gzip does not make it smaller). Made in the
  // constructor; read-only afterwards.
  std::map<std::string_view, std::string> asset_gzip_;
  static constexpr std::size_t kMaxCachedPages = 4096;
};

// gzip (RFC 1952) of `data` at the default level. Exposed for tests.
std::string gzip_compress(std::string_view data);

}  // namespace flashwire::site
