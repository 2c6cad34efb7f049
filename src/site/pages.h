// The reader-facing pages of the news site, as complete HTML documents, and the Atom feed.
//
// Contract:
// - Pure functions: no I/O, no store, no clock. Times come from the records passed in (Unix
//   seconds, shown in UTC), so the same input always renders the same bytes (cacheable, ETag
//   from a hash of the output).
// - Every interpolated value is escaped (site/html.h). The only HTML taken as is: an article's
//   `body_html` and a live update's `text_html`, which must come from render_markdown
//   (site/markdown.h). Image URLs that are not safe by is_safe_url are left out.
// - Pages are compatible with a strict Content-Security-Policy: no inline scripts, styles or
//   event handlers. They load /assets/site.css and /assets/site.js (`<script defer>`); data for
//   the script travels in data-* attributes. The newsroom page loads /assets/newsroom.css too,
//   and /assets/newsroom.js instead of site.js.
// - Routes the pages link to (the HTTP layer serves them): "/", article_path(slug),
//   live_path(slug) and its "/events" stream, "/preferences", "/search", "/feed.atom",
//   "/manifest.webmanifest", "/newsroom", "/sw.js", "/assets/…", and the JSON API
//   "/api/subscriptions", "/api/events", "/api/vapid-public-key" (and, from the newsroom,
//   "/api/newsroom/…").
// - Times are rendered in UTC inside <time datetime="…Z" data-local="…">; site.js rewrites
//   the text in the reader's own time zone ("data-local" says which form: date-time, short,
//   relative), so the cached bytes stay the same for every reader.
// - Structured data: pages carry Open Graph and Twitter card tags and, on articles and live
//   pages, one JSON-LD block (NewsArticle, LiveBlogPosting) in <script type="application/ld+json">,
//   which browsers never execute (a strict CSP allows it); "<", ">" and "&" are written as \u
//   escapes so its text cannot end the element.
// Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "news/article.h"
#include "news/category.h"

namespace flashwire::site {

// A native app readers may be offered on mobile. All fields are shown or linked as given.
struct AppInfo {
  std::string name;               // shown as "Open in <name>"; required
  std::string scheme;             // deep-link scheme without "://", e.g. "flashwire"; required
  std::string ios_app_id;         // numeric App Store id; empty: no apple-itunes-app meta tag
  std::string ios_store_url;      // App Store page, opened on iOS when the app is not installed
  std::string android_package;    // e.g. "com.example.flashwire"; with it, Android opens the
                                  // app through an intent: URL that falls back to the store
  std::string android_store_url;  // Play Store page; the fallback on Android
};

struct SiteInfo {
  std::string name = "Flashwire";  // site name: masthead, titles, feed title
  std::string description;         // one sentence for <meta name="description"> and the feed
  // Public origin plus optional path prefix, no trailing slash ("https://news.example"). Used
  // for canonical links and the feed, which need absolute URLs; page links stay relative.
  std::string base_url;
  // The VAPID public key (base64url, 65-byte uncompressed P-256 point) browsers subscribe with.
  // Carried in <body data-vapid-public-key>; empty disables the notification opt-in.
  std::string vapid_public_key;
  // Appended as "?v=<asset_version>" to /assets/ URLs so they can be cached as immutable; empty
  // for none. A hash of the embedded assets is a good value.
  std::string asset_version;
  std::optional<AppInfo> app;  // nullopt: no app meta tag, no app sheet
};

// Most recent articles of one category, newest first, for the home page.
struct CategorySection {
  news::Category category = news::Category::kBreaking;
  std::vector<news::Article> articles;
};

// What lists show about a live event besides its headline: when it was last updated and what
// the newest update says. Events without updates have no LiveSignal.
struct LiveSignal {
  std::int64_t article_id = 0;  // the live event
  std::int64_t update_id = 0;   // its newest update (the ticker links to "#update-<id>")
  std::int64_t updated_at = 0;  // Unix seconds, the newest update's time
  std::string latest_text;      // the newest update as plain text (no markup), may be long
};

// Search highlighting as the page reads it: the matched words of a SearchResult sit between
// these (the values SiteStore::search_articles uses; site_handler.cc checks that they agree).
inline constexpr char kSearchMarkStart = '\x02';
inline constexpr char kSearchMarkEnd = '\x03';

// One search result. `headline` and `snippet` carry the matched words between kSearchMarkStart
// and kSearchMarkEnd; the page escapes everything and turns the markers (only those) into
// <mark> elements.
struct SearchResult {
  news::Article article;
  std::string headline;
  std::string snippet;
};

// One entry of a live event. `text_html` must come from render_markdown.
struct LiveUpdate {
  std::int64_t id = 0;    // the stored update's id, also its SSE event id; 0: the event's opening
                          // text (the article body), which is never streamed
  std::int64_t time = 0;  // Unix seconds
  std::string text_html;
  std::int64_t edited_at = 0;  // Unix seconds of the last correction; 0 if never corrected
  bool pinned = false;         // the event's key update: shown first, marked "Pinned"
};

// "breaking", "live", "exclusive": the names the JSON API and the scripts use.
std::string_view category_slug(news::Category category);
// "Breaking news", "Live events", "Exclusive reporting".
std::string_view category_label(news::Category category);

// The text of an HTML fragment from render_markdown: tags dropped, the entities it writes
// decoded, white space collapsed. For structured data and one-line summaries.
std::string plain_text(std::string_view html);

// "/articles/<slug>" and "/live/<slug>": the site's addresses, whose rules are the domain's
// (news/article.h).
using news::article_path;
using news::live_path;

// Home: one section per entry of `sections`, in that order (the first story of each leads).
// A section without articles says so rather than disappearing. Live events link to their live
// page with a LIVE badge and, when `live` has a signal for them, "Updated <time>"; the newest
// signal of all runs as a ticker at the top. The opt-in card follows the sections.
std::string render_home(const SiteInfo& site, std::span<const CategorySection> sections,
                        std::span<const LiveSignal> live = {});

// An article page: headline, standfirst, byline, dateline, time, category, image, share
// buttons, body, the notification opt-in card and `related` stories (the caller picks them,
// normally the newest of the same category; the article itself is skipped if present).
// `body_html` must come from render_markdown(article.body_markdown).
std::string render_article(const SiteInfo& site, const news::Article& article,
                           std::string_view body_html, std::span<const news::Article> related = {});

// Notification settings: choose categories or turn alerts off (works in the browser, via
// site.js; without JavaScript the page explains that it needs it).
std::string render_preferences(const SiteInfo& site);

// A live event: title and the updates so far, newest first; site.js inserts new ones from the
// EventSource at live_path(slug) + "/events" (data-update-id tells it which it has) and applies
// corrections, deletions and pins from it. The pinned update (pinned in `updates`) is shown
// again above the others, marked "Pinned"; corrected ones say "Corrected <time>".
// `event` is the live-category article (headline, standfirst, image and times feed the
// structured data); the other overload is the same page for an event known only by slug and
// title. Mobile readers get the app sheet here too ("<scheme>://live/<slug>").
std::string render_live(const SiteInfo& site, std::string_view slug, std::string_view title,
                        std::span<const LiveUpdate> updates);
std::string render_live(const SiteInfo& site, const news::Article& event,
                        std::span<const LiveUpdate> updates);

// Search results for `query` at "/search?q=…" (query as the reader typed it, shown escaped):
// a search form, the results in the order given, or a no-results message. An empty query
// shows only the form. Its canonical link is "/search" whatever the query.
std::string render_search(const SiteInfo& site, std::string_view query,
                          std::span<const SearchResult> results);

// The 404 page.
std::string render_not_found(const SiteInfo& site);

// The editors' newsroom at "/newsroom": a shell that newsroom.js brings to life with the
// newsroom JSON API (newsroom/newsroom_api.h) — sign in with an editor token, write and publish
// articles, compose an alert, see its audience, confirm or cancel it, follow its delivery and
// engagement. The same bytes for every editor (nothing about a session is in the page), so it
// is cached like the other pages. Not for readers: robots noindex/nofollow, no opt-in card, no
// app banner or sheet, no VAPID key; `site.base_url` travels in data-base-url (alert links are
// absolute URLs on the site).
std::string render_newsroom(const SiteInfo& site);

// Atom 1.0 (RFC 4287) feed of `articles` (newest first), served at "/feed.atom" as
// application/atom+xml. `updated_at`: the feed's <updated>, Unix seconds (normally the newest
// article's updated_at). Entries carry the standfirst as summary, not the body.
std::string render_atom_feed(const SiteInfo& site, std::span<const news::Article> articles,
                             std::int64_t updated_at);

// The web app manifest at "/manifest.webmanifest" (application/manifest+json): name, start
// URL, display "standalone", theme colour and the icons (SVG and PNG), so the site can be
// installed — on iOS/iPadOS 16.4+ only an installed site may ask for notifications.
std::string render_manifest(const SiteInfo& site);

// "/robots.txt": everything but the newsroom and the API may be crawled; names both sitemaps.
std::string render_robots(const SiteInfo& site);

// "/sitemap.xml" (sitemaps.org 0.9): the home page, then every article in `articles` (and the
// live page of each live event) with its lastmod.
std::string render_sitemap(const SiteInfo& site, std::span<const news::Article> articles);

// "/news-sitemap.xml": a Google News sitemap, one <news:news> entry per article in `articles`
// published in the 48 hours before `now` (Unix seconds) — older ones are left out, as Google
// News asks. Live events point at their live page.
std::string render_news_sitemap(const SiteInfo& site, std::span<const news::Article> articles,
                                std::int64_t now);

}  // namespace flashwire::site
