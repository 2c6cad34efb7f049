#include "site/site_handler.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "site/assets.h"
#include "site/markdown.h"

namespace flashwire::site {
namespace {

namespace bhttp = boost::beast::http;

constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action "
    "'self'";
constexpr std::string_view kPageCacheControl = "no-cache";  // always revalidate: news changes
constexpr std::string_view kHtml = "text/html; charset=utf-8";

// FNV-1a, 64 bit: a stable content hash for ETags (not a security boundary).
std::string content_tag(std::string_view data) {
  char text[19];
  std::snprintf(text, sizeof text, "\"%016llx\"", static_cast<unsigned long long>(fnv1a_64(data)));
  return text;
}

constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kSecurityHeaders = {{
    {"Content-Security-Policy", kContentSecurityPolicy},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "strict-origin-when-cross-origin"},
    {"X-Frame-Options", "DENY"},
}};

// `media_origin`: one more origin a page's <video> may load from (media-src), else none: the
// policy then allows videos from this site only (default-src 'self').
void add_security_headers(http::Response& response, std::string_view media_origin = {}) {
  for (const auto& [name, value] : kSecurityHeaders) response.set(name, value);
  if (!media_origin.empty()) {
    response.set("Content-Security-Policy", std::string(kContentSecurityPolicy) +
                                                "; media-src 'self' " + std::string(media_origin));
  }
}

// A live page shows this many updates at most (and then leaves the opening entry out).
constexpr std::size_t kMaxRenderedUpdates = 200;
// A reconnecting reader is sent at most this many missed updates: the newest ones. One who
// missed more reloads the page to see the rest.
constexpr std::size_t kMaxReplayedUpdates = 100;

// "/live/<slug>/events" → "<slug>"; empty when `path` is not that.
std::string_view live_events_slug(std::string_view path) {
  constexpr std::string_view kPrefix = "/live/", kSuffix = "/events";
  if (!path.starts_with(kPrefix) || !path.ends_with(kSuffix) ||
      path.size() <= kPrefix.size() + kSuffix.size())
    return {};
  return path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
}

// A non-negative event id as sent in Last-Event-ID or ?after=: empty is 0; nullopt if invalid.
std::optional<std::int64_t> parse_event_id(std::string_view text) {
  if (text.empty()) return 0;
  if (text.size() > 18 || text.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  std::int64_t id = 0;
  for (const char c : text) id = id * 10 + (c - '0');
  return id;
}

// The value of `name` in a query string ("a=1&after=42"); empty when absent.
std::string_view query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

// Decodes a query-string value: "+" is a space, %XX a byte (an invalid escape stays as is).
std::string form_decode(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '+') {
      out += ' ';
    } else if (value[i] == '%' && i + 2 < value.size() && hex(value[i + 1]) >= 0 &&
               hex(value[i + 2]) >= 0) {
      out += static_cast<char>(hex(value[i + 1]) * 16 + hex(value[i + 2]));
      i += 2;
    } else {
      out += value[i];
    }
  }
  return out;
}

static_assert(store::kMarkStart == kSearchMarkStart && store::kMarkEnd == kSearchMarkEnd,
              "the store marks search matches as the search page reads them");

// A search query is at most this long (SiteStore::search_articles refuses longer ones); a
// longer one is cut, at a UTF-8 character boundary.
constexpr std::size_t kMaxSearchQuery = 256;
constexpr std::size_t kMaxSearchResults = 30;
// Related stories under an article: the newest of its category, itself left out.
constexpr std::size_t kRelatedStories = 4;
// Sitemaps list at most this many articles (the sitemaps.org limit is 50,000 URLs).
constexpr std::size_t kMaxSitemapArticles = 5000;
// Google News sitemaps allow 1,000 entries.
constexpr std::size_t kMaxNewsSitemapArticles = 1000;

LiveEvent live_event(const store::LiveUpdate& update,
                     LiveEvent::Type type = LiveEvent::Type::kUpdate) {
  return LiveEvent{update.id, update.created_at, render_markdown(update.body_markdown), type,
                   update.edited_at};
}

bool accepts_gzip(std::string_view accept_encoding) {
  // Good enough for real clients: "gzip" listed and not explicitly refused with q=0.
  const std::size_t at = accept_encoding.find("gzip");
  if (at == std::string_view::npos) return false;
  const std::string_view rest = accept_encoding.substr(at + 4, 8);
  return rest.find("q=0") == std::string_view::npos || rest.find("q=0.") != std::string_view::npos;
}

}  // namespace

std::span<const std::pair<std::string_view, std::string_view>> security_headers() {
  return kSecurityHeaders;
}

std::string gzip_compress(std::string_view data) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK)
    return {};
  std::string out(deflateBound(&stream, static_cast<uLong>(data.size())) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return rc == Z_STREAM_END ? out : std::string();
}

SiteHandler::SiteHandler(store::SiteStore& store, SiteApi& api, SiteInfo info,
                         WellKnownFiles well_known)
    : store_(store), api_(api), info_(std::move(info)), well_known_(std::move(well_known)) {
  // Scripts, style sheets and SVG shrink to a third; compressed once, here, so that serving
  // them changes nothing shared. PNGs are compressed already.
  for (const Asset& asset : assets()) {
    const std::string_view type = asset.content_type;
    const bool text = type.starts_with("text/") || type.find("json") != std::string_view::npos ||
                      type.find("svg") != std::string_view::npos;
    std::string& gz = asset_gzip_[asset.path];
    if (!text) continue;
    std::string compressed = gzip_compress(asset.body);
    if (!compressed.empty() && compressed.size() < asset.body.size()) gz = std::move(compressed);
  }
}

void SiteHandler::invalidate_all() {
  const std::unique_lock lock(cache_mutex_);
  cache_.clear();
  ++generation_;
}

void SiteHandler::invalidate_page(const std::string& path) {
  const std::unique_lock lock(cache_mutex_);
  cache_.erase(path);
  ++generation_;
}

std::size_t SiteHandler::cached_pages() const {
  const std::shared_lock lock(cache_mutex_);
  return cache_.size();
}

std::optional<SiteHandler::Cached> SiteHandler::render(const std::string& path) {
  Cached out;
  out.content_type = kHtml;
  out.cache_control = kPageCacheControl;
  if (path == "/") {
    std::vector<CategorySection> sections;
    for (const auto category :
         {store::Category::kBreaking, store::Category::kLive, store::Category::kExclusive}) {
      auto latest = store_.latest_articles(static_cast<store::CategorySet>(category), 6);
      if (!latest) return std::nullopt;
      sections.push_back({category, std::move(*latest)});
    }
    // Live events show when they were last updated; the newest update also runs as a ticker.
    std::vector<LiveSignal> signals;
    for (const CategorySection& section : sections) {
      for (const store::Article& article : section.articles) {
        if (article.category != store::Category::kLive) continue;
        auto newest = store_.recent_live_updates(article.id, 1);
        if (!newest) return std::nullopt;
        if (newest->empty()) continue;
        const store::LiveUpdate& update = newest->front();
        signals.push_back({article.id, update.id, update.created_at,
                           plain_text(render_markdown(update.body_markdown))});
      }
    }
    out.body = render_home(info_, sections, signals);
  } else if (path.starts_with("/articles/")) {
    auto article = store_.find_article_by_slug(path.substr(10));
    if (!article) return std::nullopt;
    if (!article->has_value() || !(*article)->published) {
      out.status = 404;
      out.body = render_not_found(info_);
    } else {
      const store::Article& story = **article;
      auto related = store_.latest_articles(static_cast<store::CategorySet>(story.category),
                                            kRelatedStories + 1);
      if (!related) return std::nullopt;
      if (related->size() > kRelatedStories) {
        std::erase_if(*related, [&](const store::Article& a) { return a.id == story.id; });
        related->resize(std::min(related->size(), kRelatedStories));
      }
      out.body = render_article(info_, story, render_markdown(story.body_markdown), *related);
      out.media_origin = news::video_origin(story.video_url);
    }
  } else if (path.starts_with("/live/")) {
    // A live event is a live-category article: its updates, newest first, then its body. New
    // updates stream from /live/<slug>/events (see start_stream).
    auto article = store_.find_article_by_slug(path.substr(6));
    if (!article) return std::nullopt;
    if (!article->has_value() || !(*article)->published ||
        (*article)->category != store::Category::kLive) {
      out.status = 404;
      out.body = render_not_found(info_);
    } else {
      const store::Article& event = **article;
      auto stored = store_.recent_live_updates(event.id, kMaxRenderedUpdates);
      if (!stored) return std::nullopt;
      // The pinned update may be older than the ones shown; it is shown first all the same.
      auto pinned = store_.pinned_live_update(event.id);
      if (!pinned) return std::nullopt;
      std::vector<LiveUpdate> updates;
      const auto page_update = [](const store::LiveUpdate& update) {
        return LiveUpdate{update.id, update.created_at, render_markdown(update.body_markdown),
                          update.edited_at, update.pinned};
      };
      bool pinned_listed = false;
      for (const store::LiveUpdate& update : *stored) {
        pinned_listed = pinned_listed || update.pinned;
        updates.push_back(page_update(update));
      }
      // The article's body opens the event (id 0: never streamed), below every update.
      if (stored->size() < kMaxRenderedUpdates && !event.body_markdown.empty()) {
        updates.push_back({0, event.published_at, render_markdown(event.body_markdown)});
      }
      if (*pinned && !pinned_listed) updates.push_back(page_update(**pinned));
      out.body = render_live(info_, event, updates);
      out.media_origin = news::video_origin(event.video_url);
    }
  } else if (path == "/preferences") {
    out.body = render_preferences(info_);
  } else if (path == "/newsroom") {
    out.body = render_newsroom(info_);  // a static shell: the data comes from /api/newsroom/
  } else if (path == "/manifest.webmanifest") {
    out.content_type = "application/manifest+json";
    out.body = render_manifest(info_);
  } else if (path == "/robots.txt") {
    out.content_type = "text/plain; charset=utf-8";
    out.body = render_robots(info_);
  } else if (path == "/sitemap.xml") {
    auto latest = store_.latest_articles(0, kMaxSitemapArticles);
    if (!latest) return std::nullopt;
    out.content_type = "application/xml; charset=utf-8";
    out.body = render_sitemap(info_, *latest);
  } else if (path == "/feed.atom") {
    auto latest = store_.latest_articles(0, 30);
    if (!latest) return std::nullopt;
    const std::int64_t updated = latest->empty() ? 0 : latest->front().updated_at;
    out.content_type = "application/atom+xml; charset=utf-8";
    out.body = render_atom_feed(info_, *latest, updated);
  } else {
    out.status = 404;
    out.body = render_not_found(info_);
  }
  return out;
}

std::optional<SiteHandler::Cached> SiteHandler::render_uncached(const std::string& path,
                                                                std::string_view query) {
  Cached out;
  out.cache_control = kPageCacheControl;
  if (path == "/news-sitemap.xml") {
    auto latest = store_.latest_articles(0, kMaxNewsSitemapArticles);
    if (!latest) return std::nullopt;
    out.content_type = "application/xml; charset=utf-8";
    out.body = render_news_sitemap(info_, *latest, clock_->now_seconds());
  } else {  // "/search"
    std::string q = form_decode(query_value(query, "q"));
    if (q.size() > kMaxSearchQuery) {
      std::size_t cut = kMaxSearchQuery;
      while (cut > 0 && (static_cast<unsigned char>(q[cut]) & 0xc0) == 0x80) --cut;
      q.resize(cut);
    }
    std::vector<SearchResult> results;
    if (!q.empty()) {
      auto matches = store_.search_articles(q, kMaxSearchResults);
      if (!matches) return std::nullopt;
      for (store::ArticleMatch& match : *matches) {
        results.push_back(
            {std::move(match.article), std::move(match.headline), std::move(match.snippet)});
      }
    }
    out.content_type = kHtml;
    out.body = render_search(info_, q, results);
  }
  out.etag = content_tag(out.body);
  std::string gz = gzip_compress(out.body);
  if (!gz.empty() && gz.size() < out.body.size()) out.gzip_body = std::move(gz);
  return out;
}

std::shared_ptr<const SiteHandler::Cached> SiteHandler::page(const std::string& path) {
  std::uint64_t generation = 0;
  {
    const std::shared_lock lock(cache_mutex_);
    if (auto hit = cache_.find(path); hit != cache_.end()) return hit->second;
    generation = generation_;
  }
  // Rendered without the lock: other readers go on being served meanwhile.
  auto rendered = render(path);
  if (!rendered) return nullptr;
  rendered->etag = content_tag(rendered->body);
  std::string gz = gzip_compress(rendered->body);
  if (!gz.empty() && gz.size() < rendered->body.size()) rendered->gzip_body = std::move(gz);
  const bool not_found = rendered->status == 404;
  auto entry = std::make_shared<const Cached>(std::move(*rendered));
  const std::unique_lock lock(cache_mutex_);
  // Content changed while this was rendered: it may show the old content; answer, do not keep.
  if (generation != generation_) return entry;
  // Unknown paths are not cached: anyone could fill the cache with them.
  if (not_found) {
    cache_.insert_or_assign("\x01not-found", entry);
    return entry;
  }
  if (cache_.size() >= kMaxCachedPages) cache_.clear();
  cache_.insert_or_assign(path, entry);
  return entry;
}

http::Response SiteHandler::respond(const http::Request& request, const Cached& cached) const {
  http::Response response(static_cast<bhttp::status>(cached.status), request.version());
  response.set(bhttp::field::content_type, cached.content_type);
  response.set(bhttp::field::cache_control, cached.cache_control);
  response.set(bhttp::field::etag, cached.etag);
  response.set(bhttp::field::vary, "Accept-Encoding");
  if (cached.status == 200 && request[bhttp::field::if_none_match] == cached.etag) {
    response.result(bhttp::status::not_modified);
    return response;
  }
  const bool gzip =
      !cached.gzip_body.empty() && accepts_gzip(request[bhttp::field::accept_encoding]);
  if (gzip) response.set(bhttp::field::content_encoding, "gzip");
  if (request.method() == bhttp::verb::head) {
    response.content_length(gzip ? cached.gzip_body.size() : cached.body.size());
    return response;
  }
  response.body() = gzip ? cached.gzip_body : cached.body;
  return response;
}

http::Response SiteHandler::handle(const http::Request& request,
                                   const http::RequestContext& context) {
  const std::string_view target = request.target();
  const std::string path(target.substr(0, target.find('?')));

  http::Response response;
  std::string media_origin;
  if (path.starts_with("/api/")) {
    std::optional<http::Response> answer = api_.handle(request, context.remote_address);
    response = answer ? std::move(*answer)
                      : http::json_error(http::Status::not_found, "not_found", "no such API");
  } else if (path.starts_with("/live/") && path.ends_with("/events")) {
    if (live_ != nullptr) {  // a GET was handed over as a stream (accepts_stream)
      response = http::json_error(http::Status::method_not_allowed, "method_not_allowed",
                                  "the event stream is read with GET");
      response.set(bhttp::field::allow, "GET");
    } else {
      // 204 tells an EventSource not to reconnect: nothing streams updates here.
      response = http::Response(http::Status::no_content, request.version());
      response.set(bhttp::field::cache_control, "no-store");
    }
  } else if (path == "/health") {
    response = http::json_response(http::Status::ok, R"({"status":"ok"})");
  } else if (request.method() != bhttp::verb::get && request.method() != bhttp::verb::head) {
    response = http::json_error(http::Status::method_not_allowed, "method_not_allowed",
                                "pages are read with GET");
    response.set(bhttp::field::allow, "GET, HEAD");
  } else if (const Asset* asset = find_asset(path)) {
    Cached cached;
    cached.content_type = asset->content_type;
    // The service worker must be re-checked by browsers; versioned assets never change.
    cached.cache_control = path == "/sw.js" || target.find("?v=") == std::string_view::npos
                               ? "no-cache"
                               : "public, max-age=31536000, immutable";
    cached.body = asset->body;
    cached.etag = content_tag(asset->body);
    if (const auto gz = asset_gzip_.find(asset->path); gz != asset_gzip_.end())
      cached.gzip_body = gz->second;
    response = respond(request, cached);
  } else if (path == "/.well-known/apple-app-site-association" ||
             path == "/.well-known/assetlinks.json") {
    const std::string& body = path.ends_with("assetlinks.json")
                                  ? well_known_.assetlinks
                                  : well_known_.apple_app_site_association;
    if (body.empty()) {
      response = http::json_error(http::Status::not_found, "not_found", "no app is configured");
    } else {
      response = http::json_response(http::Status::ok, body);
      response.set(bhttp::field::cache_control, "public, max-age=3600");
    }
  } else if (path == "/search" || path == "/news-sitemap.xml") {
    const std::size_t question = target.find('?');
    auto fresh =
        render_uncached(path, question == std::string_view::npos ? std::string_view()
                                                                 : target.substr(question + 1));
    if (!fresh) {
      response = http::error_answer(ErrorCode::kUnavailable, "site store");
    } else {
      response = respond(request, *fresh);
    }
  } else {
    const auto cached = page(path);
    if (!cached) {
      response = http::error_answer(ErrorCode::kUnavailable, "site store");
    } else {
      response = respond(request, *cached);
      media_origin = cached->media_origin;
    }
  }
  add_security_headers(response, media_origin);
  return response;
}

// --- live events ---

bool SiteHandler::accepts_stream(const http::Request& request) const {
  if (live_ == nullptr || request.method() != bhttp::verb::get) return false;
  const std::string_view target = request.target();
  return !live_events_slug(target.substr(0, target.find('?'))).empty();
}

void SiteHandler::start_stream(boost::beast::tcp_stream stream, http::Request request,
                               const http::RequestContext&) {
  const auto send_refusal = [&](http::Response response) {
    response.version(request.version());
    if (response.result() == http::Status::service_unavailable)
      response.set(bhttp::field::retry_after, "30");
    add_security_headers(response);
    live_->refuse(std::move(stream), std::move(response));
  };
  const auto refuse = [&](http::Status status, std::string_view code, std::string_view message) {
    send_refusal(http::json_error(status, code, message));
  };
  const auto refuse_unavailable = [&] {
    send_refusal(http::error_answer(ErrorCode::kUnavailable, "site store"));
  };
  if (!live_->accepting()) {
    return refuse(http::Status::service_unavailable, "too_many_streams",
                  "too many live readers right now; reload the page later");
  }
  const std::string_view target = request.target();
  const std::size_t question = target.find('?');
  const std::string slug(live_events_slug(target.substr(0, question)));
  auto article = store_.find_article_by_slug(slug);
  if (!article) return refuse_unavailable();
  if (!article->has_value() || !(*article)->published ||
      (*article)->category != store::Category::kLive) {
    return refuse(http::Status::not_found, "not_found", "no live event at this address");
  }
  // EventSource sends the last id it saw when it reconnects; site.js opens the stream with
  // ?after=<newest id on the page>. Either way the reader has everything up to the larger one.
  const auto last_event_id = parse_event_id(request["Last-Event-ID"]);
  const auto after = parse_event_id(
      question == std::string_view::npos ? "" : query_value(target.substr(question + 1), "after"));
  if (!last_event_id || !after) {
    return refuse(http::Status::bad_request, "invalid_event_id",
                  "Last-Event-ID and after must be update ids");
  }
  const std::int64_t event_id = (*article)->id;
  std::vector<LiveEvent> backlog;
  if (const std::int64_t seen = std::max(*last_event_id, *after); seen > 0) {
    auto missed = store_.live_updates_after(event_id, seen, kMaxReplayedUpdates + 1);
    if (missed && missed->size() > kMaxReplayedUpdates) {
      missed = store_.recent_live_updates(event_id, kMaxReplayedUpdates);
      if (missed) std::reverse(missed->begin(), missed->end());
    }
    if (!missed) return refuse_unavailable();
    for (const store::LiveUpdate& update : *missed) backlog.push_back(live_event(update));
  }
  if (*last_event_id > 0) {
    // A reader coming back (EventSource reconnecting) may have missed a pin or an unpin: it gets
    // the state as it is now. Corrections and deletions made meanwhile show on the next load.
    auto pinned = store_.pinned_live_update(event_id);
    if (!pinned) return refuse_unavailable();
    if (*pinned) {
      backlog.push_back(live_event(**pinned, LiveEvent::Type::kPinned));
    } else {
      backlog.push_back(LiveEvent{0, 0, {}, LiveEvent::Type::kUnpinned, 0});
    }
  }
  bool marked = false;
  {
    std::lock_guard lock(live_marks_mutex_);
    marked = live_marks_.contains(event_id);
  }
  if (!marked) {
    // The event's first stream here: what it is up to now, for refill_live_streams. The newest
    // update's revision is at most the event's latest (a correction since may be later), so a
    // refill may send a change again, never miss one.
    auto newest = store_.recent_live_updates(event_id, 1);
    if (!newest) return refuse_unavailable();
    std::lock_guard lock(live_marks_mutex_);
    live_marks_.try_emplace(event_id, newest->empty() ? 0 : newest->front().revision);
  }
  http::Response head(http::Status::ok, request.version());
  head.set(bhttp::field::content_type, "text/event-stream; charset=utf-8");
  head.set(bhttp::field::cache_control, "no-store");
  head.set("X-Accel-Buffering", "no");  // proxies that buffer responses must pass events on
  add_security_headers(head);
  live_->add_reader(std::move(stream), std::move(head), event_id, backlog);
}

void SiteHandler::stop_streams() {
  if (live_ != nullptr) live_->stop();
}

void SiteHandler::article_changed(const news::Article&) { invalidate_pages(); }

void SiteHandler::live_update_posted(const news::Article& event, const news::LiveUpdate& update) {
  invalidate_page(live_path(event.slug));
  invalidate_page("/");  // the home page shows the newest update and its time
  if (live_ == nullptr) return;
  live_->publish(event.id, live_event(update));
  raise_live_mark(event.id, update.revision);
}

void SiteHandler::live_update_changed(const news::Article& event, const news::LiveUpdate& update,
                                      LiveChange change) {
  invalidate_page(live_path(event.slug));
  invalidate_page("/");  // the ticker may show the update
  if (live_ == nullptr) return;
  using Type = LiveEvent::Type;
  const Type type = change == LiveChange::kEdited    ? Type::kChanged
                    : change == LiveChange::kDeleted ? Type::kDeleted
                    : change == LiveChange::kPinned  ? Type::kPinned
                                                     : Type::kUnpinned;
  live_->publish(event.id, live_event(update, type));
  raise_live_mark(event.id, update.revision);
}

void SiteHandler::raise_live_mark(std::int64_t event_id, std::int64_t revision) {
  // An update not read back from the store has no revision: it tells nothing (and must not make
  // the event look marked before its first stream sets where its readers are).
  if (revision <= 0) return;
  std::lock_guard lock(live_marks_mutex_);
  std::int64_t& mark = live_marks_[event_id];
  mark = std::max(mark, revision);
}

void SiteHandler::refill_live_streams() {
  if (live_ == nullptr) return;
  std::vector<std::pair<std::int64_t, std::int64_t>> marks;
  {
    std::lock_guard lock(live_marks_mutex_);
    marks.assign(live_marks_.begin(), live_marks_.end());
  }
  using Type = LiveEvent::Type;
  for (const auto& [event_id, mark] : marks) {
    if (live_->readers_of(event_id) == 0) continue;
    auto changed = store_.live_updates_changed(event_id, mark, kMaxReplayedUpdates);
    if (!changed || changed->empty()) continue;
    auto pinned = store_.pinned_live_update(event_id);
    if (!pinned) continue;
    // New updates first, oldest first, so that EventSource's last event id ends on the newest;
    // then corrections and deletions (events without an id), then the pin as it is now.
    std::vector<const store::LiveUpdate*> shown;
    for (const store::LiveUpdate& update : *changed) {
      if (!update.deleted) shown.push_back(&update);
    }
    std::sort(shown.begin(), shown.end(), [](auto* a, auto* b) { return a->id < b->id; });
    for (const store::LiveUpdate* update : shown) live_->publish(event_id, live_event(*update));
    for (const store::LiveUpdate& update : *changed) {
      if (update.deleted) {
        live_->publish(event_id, LiveEvent{update.id, 0, {}, Type::kDeleted, 0});
      } else if (update.edited_at > 0) {
        live_->publish(event_id, live_event(update, Type::kChanged));
      }
    }
    live_->publish(event_id, *pinned ? live_event(**pinned, Type::kPinned)
                                     : LiveEvent{0, 0, {}, Type::kUnpinned, 0});
    raise_live_mark(event_id, changed->back().revision);
  }
}

}  // namespace flashwire::site
